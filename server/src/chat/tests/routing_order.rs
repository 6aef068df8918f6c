//! Queue order, the choice of agent, the estimate as citizens see it, and the desk's invariants under any
//! sequence of commands.

use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::chat::ChatStatus;

const SECOND: u64 = 1000;

fn loads(w: &World) -> BTreeMap<String, u32> {
    w.desk.agents.values().map(|a| (a.sub.clone(), a.load())).collect()
}

fn waiting(w: &World, lang: ChatLang) -> Vec<ChatId> {
    w.desk.queues.get(lang).iter().map(|q| q.chat).collect()
}

/// `p × median(w / k)` over `samples` of (k, w), computed here independently of `estimate.rs`.
fn expected_estimate(samples: &VecDeque<(u32, u64)>, p: u32) -> Option<u64> {
    let mut rates: Vec<f64> = samples.iter().map(|&(k, w)| w as f64 / f64::from(k)).collect();
    rates.sort_by(f64::total_cmp);
    let n = rates.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => rates[n / 2],
        _ => (rates[n / 2 - 1] + rates[n / 2]) / 2.0,
    };
    Some((median * f64::from(p)).round() as u64)
}

#[test]
fn twenty_chats_four_agents_cap_three_nobody_over_the_cap_and_the_least_busy_first() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 3, wait_samples: 4, ..ChatPolicy::default() });
    let agents: Vec<User> = ["Amina", "Badr", "Huda", "Yusuf"].into_iter().map(agent).collect();
    for a in &agents {
        w.available(a, &[ChatLang::Ar]);
        w.tick(SECOND);
    }
    let mut entered: BTreeMap<ChatId, (u64, u32)> = BTreeMap::new();
    for n in 1..=20u32 {
        w.tick(10 * SECOND);
        let before = loads(&w);
        let started = w.start(&citizen(n), ChatLang::Ar).unwrap();
        let id = ChatId::from(n);
        if n <= 12 {
            let got = w.agent_of(id).expect("assigned at once");
            let least = *before.values().min().unwrap();
            assert_eq!(before[&got], least, "chat {n} went to {got}, who was not among the least busy");
            // Equally busy: the one who has waited longest for a chat, so the agents take turns.
            assert_eq!(got, agents[(n as usize - 1) % 4].sub, "chat {n}");
            assert_eq!(started.position, None);
        } else {
            assert_eq!(started.position, Some(n - 12), "chat {n} queues behind the others");
            entered.insert(id, (w.now, n - 12));
        }
        assert!(loads(&w).values().all(|&l| l <= 3), "over the cap after chat {n}");
    }
    assert_eq!(waiting(&w, ChatLang::Ar), (13..=20).collect::<Vec<_>>());
    // Every instant assignment was a wait of 0 at position 1; the window keeps the last 4.
    let mut samples: VecDeque<(u32, u64)> = VecDeque::from([(1, 0); 4]);
    for (i, id) in (13..=20).enumerate() {
        assert_eq!(w.desk.position(id), Some(i as u32 + 1));
        assert_eq!(w.desk.estimate(id, &w.policy, w.now), Some(0));
    }

    // Every minute the agent holding the oldest chat finishes it; the queue's head goes to them.
    for round in 0..8u64 {
        w.tick(60 * SECOND);
        let oldest = w.chats.values().filter(|s| s.chat.status == ChatStatus::Active).map(|s| s.chat.id).min();
        let oldest = oldest.unwrap();
        let freed = w.agent_of(oldest).unwrap();
        let agent = agents.iter().find(|a| a.sub == freed).unwrap().clone();
        w.end(oldest, &agent).unwrap();
        let head = 13 + round;
        assert_eq!(w.agent_of(head).as_deref(), Some(freed.as_str()), "round {round}: the head goes to the free agent");
        let (at, k) = entered[&head];
        samples.push_back((k, w.now - at));
        samples.pop_front();
        assert!(loads(&w).values().all(|&l| l <= 3));
        for (i, id) in waiting(&w, ChatLang::Ar).into_iter().enumerate() {
            let p = i as u32 + 1;
            assert_eq!(w.desk.position(id), Some(p), "round {round}: chat {id} moved up");
            assert_eq!(
                w.desk.estimate(id, &w.policy, w.now),
                expected_estimate(&samples, p),
                "round {round}, chat {id}"
            );
            assert!(w.changes.contains(&Change::Position(id)), "round {round}: chat {id} is told");
        }
    }
    assert!(waiting(&w, ChatLang::Ar).is_empty());
    // Real waits made the estimate real: chat 20 waited 8 rounds at position 8, about one minute a place.
    let per_place = w.desk.waits.ar.per_place_ms(w.now, w.policy.wait_sample_max_age_ms).unwrap();
    assert!((55_000.0..=75_000.0).contains(&per_place), "{per_place}");
}

#[test]
fn the_queue_is_first_come_first_served_within_a_language() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let (amina, john) = (agent("Amina"), agent("John"));
    w.available(&amina, &[ChatLang::Ar]);
    w.available(&john, &[ChatLang::En]);
    for (n, lang) in [(1, ChatLang::Ar), (2, ChatLang::En), (3, ChatLang::Ar), (4, ChatLang::En), (5, ChatLang::Ar)] {
        w.start(&citizen(n), lang).unwrap();
    }
    assert_eq!((waiting(&w, ChatLang::Ar), waiting(&w, ChatLang::En)), (vec![3, 5], vec![4]));
    // An Arabic agent never takes an English chat, however long it waits.
    w.end(1, &amina).unwrap();
    assert_eq!(w.agent_of(3).as_deref(), Some("g-amina"));
    assert_eq!(w.desk.position(4), Some(1));
    assert_eq!(w.desk.position(5), Some(1));
}

#[test]
fn an_agent_of_both_languages_takes_the_chat_that_has_waited_longest() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let (amina, john) = (agent("Amina"), agent("John"));
    w.available(&amina, &[ChatLang::Ar]);
    w.available(&john, &[ChatLang::En]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.start(&citizen(2), ChatLang::En).unwrap();
    w.tick(SECOND);
    w.start(&citizen(3), ChatLang::En).unwrap();
    w.tick(SECOND);
    w.start(&citizen(4), ChatLang::Ar).unwrap();
    w.available(&agent("Sara"), &[ChatLang::Ar, ChatLang::En]);
    assert_eq!(w.agent_of(3).as_deref(), Some("g-sara"));
    assert_eq!(w.desk.position(4), Some(1));
}

#[test]
fn equally_busy_agents_take_turns_by_who_has_waited_longest() {
    let mut w = World::new();
    let (amina, badr) = (agent("Amina"), agent("Badr"));
    w.available(&badr, &[ChatLang::En]);
    w.tick(SECOND);
    w.available(&amina, &[ChatLang::En]);
    w.start(&citizen(1), ChatLang::En).unwrap();
    assert_eq!(w.agent_of(1).as_deref(), Some("g-badr"), "Badr became available first");
    w.tick(SECOND);
    w.end(1, &badr).unwrap();
    w.start(&citizen(2), ChatLang::En).unwrap();
    assert_eq!(w.agent_of(2).as_deref(), Some("g-amina"), "Badr's last assignment was after Amina became available");
    // Least busy beats waiting longest.
    w.tick(SECOND);
    w.start(&citizen(3), ChatLang::En).unwrap();
    assert_eq!(w.agent_of(3).as_deref(), Some("g-badr"));
    w.end(2, &amina).unwrap();
    w.start(&citizen(4), ChatLang::En).unwrap();
    assert_eq!(w.agent_of(4).as_deref(), Some("g-amina"), "Amina holds none, Badr one");
}

#[test]
fn a_disconnected_or_away_agent_is_not_routed_chats() {
    let mut w = World::new();
    let (amina, badr) = (agent("Amina"), agent("Badr"));
    w.available(&amina, &[ChatLang::En]);
    w.available(&badr, &[ChatLang::En]);
    w.on_desk(|d, _, now| Ok(d.agent_disconnected(&amina.sub, now))).unwrap();
    w.on_desk(|d, p, now| d.set_status(&badr, Availability::Away, None, p, now)).unwrap();
    // Nobody available any more: no start.
    assert_eq!(refused(&mut w, |w| w.start(&citizen(1), ChatLang::En)), ErrorCode::Conflict);
    w.on_desk(|d, p, now| Ok(d.agent_connected(&amina, p, now))).unwrap();
    w.start(&citizen(1), ChatLang::En).unwrap();
    assert_eq!(w.agent_of(1).as_deref(), Some("g-amina"));
}

/// A small deterministic generator (xorshift), so the test needs no dependency and replays the same way.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn any_sequence_of_commands_keeps_one_agent_per_chat_and_every_agent_within_their_cap() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 2, max_queue_per_lang: 6, ..ChatPolicy::default() });
    let agents: Vec<User> = ["Amina", "Badr", "Huda", "John"].into_iter().map(agent).collect();
    let citizens: Vec<User> = (1..=12).map(citizen).collect();
    let langs = [ChatLang::Ar, ChatLang::En];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for a in &agents {
        w.available(a, &langs);
    }
    for step in 0..3000 {
        let (desk, chats) = (w.desk.clone(), w.chats.clone());
        // Mostly an open chat: commands on ended chats are refused, which tests little.
        let open: Vec<ChatId> = w.desk.open.keys().copied().collect();
        let all: Vec<ChatId> = w.chats.keys().copied().collect();
        let pool = if open.is_empty() || rng.below(5) == 0 { &all } else { &open };
        let some_chat = pool.get(rng.below(pool.len().max(1) as u64) as usize).copied();
        let a = agents[rng.below(4) as usize].clone();
        let c = citizens[rng.below(12) as usize].clone();
        let lang = langs[rng.below(2) as usize];
        let kind = rng.below(11);
        let outcome: Result<()> = match (kind, some_chat) {
            (0 | 1, _) => w.start(&c, lang).map(drop),
            (2, Some(id)) => {
                let citizen = User { sub: w.header(id).citizen.sub.clone(), ..c };
                w.end(id, &citizen)
            }
            (3, Some(id)) => w.end(id, &a),
            (4, Some(id)) => w.take(id, &a),
            (5, Some(id)) => {
                let to = agents[rng.below(4) as usize].sub.clone();
                w.on_chat(id, |d, ch, p, now| d.transfer(ch, &admin("Noor"), &to, None, p, now))
            }
            (6, Some(id)) => w.on_chat(id, |d, ch, p, now| d.requeue(ch, &a, Some("n".into()), p, now)),
            (7, _) => {
                let choices =
                    [Availability::Available, Availability::Available, Availability::Away, Availability::Offline];
                let availability = choices[rng.below(4) as usize];
                w.on_desk(|d, p, now| d.set_status(&a, availability, None, p, now)).map(drop)
            }
            (8, _) => w.on_desk(|d, _, now| Ok(d.agent_disconnected(&a.sub, now))),
            (9, _) => w.on_desk(|d, p, now| Ok(d.agent_connected(&a, p, now))),
            (_, Some(id)) if w.desk.open.contains_key(&id) => {
                let sub = w.header(id).citizen.sub.clone();
                let present = rng.below(2) == 0;
                w.on_desk(|d, p, now| d.citizen_presence(id, &sub, present, p, now))
            }
            _ => {
                w.sweep();
                Ok(())
            }
        };
        if outcome.is_err() {
            assert_eq!((&w.desk, &w.chats), (&desk, &chats), "step {step}: a refused command changed something");
        }
        w.tick(rng.below(40) * SECOND);
        for agent in w.desk.agents.values() {
            assert!(agent.load() <= 2, "step {step}: {} holds {} chats", agent.sub, agent.load());
        }
        for (id, state) in &w.chats {
            let open = w.desk.open.get(id);
            match state.chat.status {
                ChatStatus::Ended => assert!(open.is_none(), "step {step}: ended chat {id} is still on the desk"),
                ChatStatus::Waiting => assert!(w.desk.position(*id).is_some(), "step {step}: chat {id} waits nowhere"),
                ChatStatus::Active => {
                    let agent = state.chat.agent.as_ref().map(|a| &a.sub);
                    assert_eq!(open.and_then(|o| o.agent.as_ref()), agent, "step {step}: chat {id}'s agent");
                }
            }
            let seqs: Vec<u64> = state.messages.keys().copied().collect();
            assert_eq!(seqs, (1..=state.chat.last_seq).collect::<Vec<_>>(), "step {step}: chat {id}'s seqs");
        }
    }
    assert!(w.chats.len() > 20, "the sequence exercised few chats: {}", w.chats.len());
}

//! The end-of-run reconciliation: every message one side had acked must have reached the other side exactly
//! once, and each side's view of a chat's messages must have no gap in `seq`.

use std::collections::HashMap;

use super::side::ChatSide;

/// What the two sides of every chat add up to.
#[derive(Debug, Default)]
pub struct Tally {
    pub chats: u64,
    /// Chats an agent held (joined the staff room of).
    pub assigned: u64,
    pub citizen_sent: u64,
    pub agent_sent: u64,
    /// Acked messages the other side never saw, though it was connected and caught up at the end.
    pub lost_to_agent: u64,
    pub lost_to_citizen: u64,
    /// Acked messages the other side had not seen because the run ended while it was away (reconnecting after
    /// a close): not offered to it yet, so not counted as lost; the server's stored chat still has them if its
    /// rejoin would replay them (a real client's next rejoin does).
    pub unseen_while_away: u64,
    /// Messages seen twice (the same `seq` in two events, or one `client_msg_id` under two seqs).
    pub duplicated: u64,
    /// Re-sends the server recognised (`duplicate: true`): the idempotency at work, not a fault.
    pub duplicate_acks: u64,
    /// Message seqs missing below the highest one a side saw.
    pub gaps: u64,
    /// Sends never answered.
    pub unacked: u64,
    /// Room events missing or repeated (gaps in the rooms' `seq`).
    pub events_missing: u64,
    pub events_duplicated: u64,
    /// The first chats with messages lost to their citizen, described for a look in the server's store.
    pub described: Vec<String>,
}

impl Tally {
    pub fn lost(&self) -> u64 {
        self.lost_to_agent + self.lost_to_citizen
    }
}

/// At most this many lost chats are described in the report (the first ones, by chat id).
const DESCRIBED: usize = 10;

/// Matches every citizen's side of a chat with the agents': every agent that held the chat (a chat passes
/// from one agent to another after a grace period or a transfer) keeps its own side, and together they are
/// the staff's side.
pub fn reconcile(citizens: &[ChatSide], agents: &[ChatSide]) -> Tally {
    let mut by_chat: HashMap<u64, Vec<&ChatSide>> = HashMap::new();
    for agent in agents {
        by_chat.entry(agent.chat).or_default().push(agent);
    }
    let mut t = Tally { chats: citizens.len() as u64, ..Tally::default() };
    for side in citizens.iter().chain(agents) {
        t.duplicated += side.duplicates;
        t.duplicate_acks += side.duplicate_acks;
        t.gaps += side.gaps();
        t.unacked += side.unacked.len() as u64;
        t.events_missing += side.events.missing;
        t.events_duplicated += side.events.duplicates;
    }
    let mut citizens: Vec<&ChatSide> = citizens.iter().collect();
    citizens.sort_by_key(|c| c.chat);
    for citizen in citizens {
        t.citizen_sent += citizen.sent.len() as u64;
        let Some(staff) = by_chat.get(&citizen.chat) else {
            continue;
        };
        t.assigned += 1;
        let to_agent = citizen.sent.iter().filter(|m| !staff.iter().any(|a| saw(a, m))).count() as u64;
        let lost: Vec<u64> =
            staff.iter().flat_map(|a| &a.sent).filter(|m| !saw(citizen, m)).map(|(seq, _)| *seq).collect();
        match holder(staff).away_at_end {
            true => t.unseen_while_away += to_agent,
            false => t.lost_to_agent += to_agent,
        }
        match citizen.away_at_end {
            true => t.unseen_while_away += lost.len() as u64,
            false => {
                t.lost_to_citizen += lost.len() as u64;
                if !lost.is_empty() && t.described.len() < DESCRIBED {
                    t.described.push(describe(citizen, staff, &lost));
                }
            }
        }
    }
    t.agent_sent = agents.iter().map(|a| a.sent.len() as u64).sum();
    t
}

/// Whether `to` saw the other side's acked message `(seq, client_msg_id)`.
fn saw(to: &ChatSide, (seq, id): &(u64, String)) -> bool {
    to.seen.contains(seq) && to.from_other.contains(id)
}

/// The agent holding the chat at the end (the one whose chat is still active), else the last one.
fn holder<'a>(staff: &[&'a ChatSide]) -> &'a ChatSide {
    let last = staff.last().expect("BUG: a chat's staff side is made of at least one agent side");
    staff.iter().find(|a| a.active && !a.ended).unwrap_or(last)
}

/// One lost-to-citizen chat, as an operator would look it up: which seqs, what the citizen had seen, and how
/// it last (re)joined.
fn describe(citizen: &ChatSide, staff: &[&ChatSide], lost: &[u64]) -> String {
    let shown: Vec<String> = lost.iter().take(8).map(u64::to_string).collect();
    format!(
        "chat {}: {} agent message(s) never seen by its citizen (seqs {}{}); the citizen saw message seqs up to \
         {} and room events up to {:?}, took {} snapshot(s), rejoined {} time(s), last joined by {}, has {} \
         send(s) of its own never acked, ends {}; {} agent side(s)",
        citizen.chat,
        lost.len(),
        shown.join(", "),
        if lost.len() > shown.len() { ", …" } else { "" },
        citizen.seen.last().copied().unwrap_or(0),
        citizen.events.last,
        citizen.snapshots,
        citizen.rejoins,
        if citizen.recovered_last { "a replay" } else { "a snapshot" },
        citizen.unacked.len(),
        match (citizen.ended, citizen.active) {
            (true, _) => "ended",
            (false, true) => "active",
            (false, false) => "waiting as far as it knows",
        },
        staff.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::shared::Who;
    use super::*;

    #[test]
    fn a_message_the_other_side_never_saw_is_lost() {
        let mut citizen = ChatSide::new(1, Who::Citizen);
        let mut agent = ChatSide::new(1, Who::Agent);
        citizen.sent = vec![(2, "c0-1".into()), (4, "c0-2".into())];
        agent.sent = vec![(3, "a5-1".into())];
        for seq in [1, 2, 3] {
            agent.seen.insert(seq);
            citizen.seen.insert(seq);
        }
        agent.from_other.insert("c0-1".into());
        citizen.from_other.insert("a5-1".into());
        let t = reconcile(&[citizen], &[agent]);
        assert_eq!((t.assigned, t.citizen_sent, t.agent_sent), (1, 2, 1));
        assert_eq!((t.lost_to_agent, t.lost_to_citizen, t.gaps), (1, 0, 0));
    }

    #[test]
    fn a_message_unseen_by_a_side_that_was_away_at_the_end_is_not_called_lost() {
        let mut citizen = ChatSide::new(1, Who::Citizen);
        let mut agent = ChatSide::new(1, Who::Agent);
        citizen.sent = vec![(2, "c0-1".into())];
        agent.away_at_end = true;
        let t = reconcile(&[citizen], &[agent]);
        assert_eq!((t.lost(), t.unseen_while_away), (0, 1));
    }

    #[test]
    fn a_chat_passed_between_agents_is_checked_against_every_agent_that_held_it() {
        let mut citizen = ChatSide::new(1, Who::Citizen);
        let (mut first, mut second) = (ChatSide::new(1, Who::Agent), ChatSide::new(1, Who::Agent));
        citizen.sent = vec![(1, "c0-1".into()), (4, "c0-2".into())];
        first.sent = vec![(2, "a5-1".into())];
        second.sent = vec![(5, "a6-1".into()), (6, "a6-2".into())];
        // The first agent saw the citizen's first message and was released; the second saw the other.
        first.seen.extend([1, 2]);
        first.from_other.insert("c0-1".into());
        second.seen.extend([1, 2, 3, 4, 5, 6]);
        second.from_other.insert("c0-2".into());
        second.active = true;
        // The citizen never saw the second agent's last message.
        citizen.seen.extend([1, 2, 3, 4, 5]);
        citizen.from_other.extend(["a5-1".to_string(), "a6-1".to_string()]);
        let t = reconcile(&[citizen], &[first, second]);
        assert_eq!((t.assigned, t.citizen_sent, t.agent_sent), (1, 2, 3));
        assert_eq!((t.lost_to_agent, t.lost_to_citizen), (0, 1));
        assert_eq!(t.described.len(), 1);
        assert!(t.described[0].starts_with("chat 1: 1 agent message(s) never seen by its citizen (seqs 6)"));
    }
}

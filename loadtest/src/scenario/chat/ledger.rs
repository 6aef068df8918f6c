//! The end-of-run reconciliation: every message one side had acked must have reached the other side exactly
//! once, and each side's view of a chat's messages must have no gap in `seq`.

use std::collections::HashMap;

use super::side::ChatSide;

/// What the two sides of every chat add up to.
#[derive(Debug, Default, PartialEq, Eq)]
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
}

impl Tally {
    pub fn lost(&self) -> u64 {
        self.lost_to_agent + self.lost_to_citizen
    }
}

/// Matches every citizen's side of a chat with the agent's.
pub fn reconcile(citizens: &[ChatSide], agents: &[ChatSide]) -> Tally {
    let by_chat: HashMap<u64, &ChatSide> = agents.iter().map(|a| (a.chat, a)).collect();
    let mut t = Tally { chats: citizens.len() as u64, ..Tally::default() };
    for side in citizens.iter().chain(agents) {
        t.duplicated += side.duplicates;
        t.duplicate_acks += side.duplicate_acks;
        t.gaps += side.gaps();
        t.unacked += side.unacked.len() as u64;
        t.events_missing += side.events.missing;
        t.events_duplicated += side.events.duplicates;
    }
    for citizen in citizens {
        t.citizen_sent += citizen.sent.len() as u64;
        let Some(agent) = by_chat.get(&citizen.chat) else {
            continue;
        };
        t.assigned += 1;
        let (to_agent, to_citizen) = (unseen(citizen, agent), unseen(agent, citizen));
        match agent.away_at_end {
            true => t.unseen_while_away += to_agent,
            false => t.lost_to_agent += to_agent,
        }
        match citizen.away_at_end {
            true => t.unseen_while_away += to_citizen,
            false => t.lost_to_citizen += to_citizen,
        }
    }
    t.agent_sent = agents.iter().map(|a| a.sent.len() as u64).sum();
    t
}

/// `from`'s acked messages that `to` never saw (by seq or by client id).
fn unseen(from: &ChatSide, to: &ChatSide) -> u64 {
    from.sent.iter().filter(|(seq, id)| !to.seen.contains(seq) || !to.from_other.contains(id)).count() as u64
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
}

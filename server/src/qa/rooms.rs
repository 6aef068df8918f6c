//! Which room sees what. This is where the privacy rule lives.
//!
//! **Invariant:** the public room of a broadcast receives a question only while `question.public` is true; a
//! question that stops being public, or is settled without ever being public (hidden, merged or withdrawn
//! while pending), is announced there as `question_removed`, which carries only its id: that is how the
//! author's page learns that their pending question won't be published. Pending and hidden questions' text
//! exists only in the moderation room and in their author's own `mine` list.

use super::rules::{Change, QaState};
use super::{Broadcast, BroadcastId, Question, QuestionId};
use crate::auth::User;

/// A room of a broadcast, parsed from its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomRef {
    pub broadcast: BroadcastId,
    pub audience: Audience,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Public,
    Moderation,
}

impl RoomRef {
    pub fn public(broadcast: BroadcastId) -> Self {
        RoomRef { broadcast, audience: Audience::Public }
    }

    pub fn moderation(broadcast: BroadcastId) -> Self {
        RoomRef { broadcast, audience: Audience::Moderation }
    }

    /// `broadcast:<id>` or `broadcast:<id>:moderation`, exactly as [`RoomRef::key`] writes them (so one room has
    /// one name: no leading zeros or signs).
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("broadcast:")?;
        let (id, audience) = match rest.strip_suffix(":moderation") {
            Some(id) => (id, Audience::Moderation),
            None => (rest, Audience::Public),
        };
        let broadcast: BroadcastId = id.parse().ok()?;
        (broadcast.to_string() == id).then_some(RoomRef { broadcast, audience })
    }

    pub fn key(&self) -> String {
        match self.audience {
            Audience::Public => format!("broadcast:{}", self.broadcast),
            Audience::Moderation => format!("broadcast:{}:moderation", self.broadcast),
        }
    }
}

/// Who gets an event: one of the broadcast's rooms, or one person's own stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Room(Audience),
    /// The author (by `sub`) of the question the event is about.
    Author(String),
}

/// One event for one room, in domain terms; the protocol module encodes it.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    Question(Question),
    /// One of the recipient's own questions as its author sees it, and whether it is on screen now.
    Own {
        question: Question,
        pinned: bool,
    },
    QuestionRemoved(QuestionId),
    Votes {
        id: QuestionId,
        votes: u32,
    },
    Pinned(Option<QuestionId>),
    Broadcast(Broadcast),
    Muted {
        user: String,
        muted: bool,
    },
}

/// Turns the changes of one command into the events each room of the broadcast, and each author concerned,
/// gets, in order.
pub fn route(state: &QaState, changes: &[Change]) -> Vec<(Recipient, RoomEvent)> {
    use Audience::{Moderation, Public};
    let mut out = Vec::with_capacity(changes.len() * 3);
    let room = |audience, event| (Recipient::Room(audience), event);
    for change in changes {
        match change {
            Change::Question { id, was_public } => {
                let Some(q) = state.questions.get(id) else { continue };
                out.push(room(Moderation, RoomEvent::Question(q.clone())));
                if q.public {
                    out.push(room(Public, RoomEvent::Question(q.clone())));
                } else if *was_public || q.status.is_settled_unpublished() {
                    out.push(room(Public, RoomEvent::QuestionRemoved(*id)));
                }
                out.extend(to_author(state, *id));
            }
            Change::Votes { id } => {
                let Some(q) = state.questions.get(id) else { continue };
                let event = RoomEvent::Votes { id: *id, votes: q.votes };
                if q.public {
                    out.push(room(Public, event.clone()));
                }
                out.push(room(Moderation, event));
            }
            Change::Pinned { previous } => {
                out.push(room(Public, RoomEvent::Pinned(state.pinned)));
                out.push(room(Moderation, RoomEvent::Pinned(state.pinned)));
                for id in [*previous, state.pinned].into_iter().flatten() {
                    out.extend(to_author(state, id));
                }
            }
            Change::Broadcast => {
                out.push(room(Public, RoomEvent::Broadcast(state.broadcast.clone())));
                out.push(room(Moderation, RoomEvent::Broadcast(state.broadcast.clone())));
            }
            Change::Muted { user, muted } => {
                out.push(room(Moderation, RoomEvent::Muted { user: user.clone(), muted: *muted }));
            }
        }
    }
    out
}

/// The question, as its author sees it, for the author's own stream.
fn to_author(state: &QaState, id: QuestionId) -> Option<(Recipient, RoomEvent)> {
    let q = state.questions.get(&id)?;
    let event = RoomEvent::Own { question: q.clone(), pinned: state.pinned == Some(id) };
    Some((Recipient::Author(q.author_sub.clone()), event))
}

/// A room's state as one viewer may see it.
#[derive(Debug, Clone)]
pub struct SnapshotData {
    pub audience: Audience,
    pub broadcast: Broadcast,
    pub questions: Vec<Question>,
    pub pinned: Option<QuestionId>,
    pub participants: u32,
    pub mine: Vec<Question>,
    pub my_votes: Vec<QuestionId>,
    pub muted: Vec<String>,
}

pub fn snapshot(state: &QaState, audience: Audience, viewer: &User) -> SnapshotData {
    let questions =
        state.questions.values().filter(|q| audience == Audience::Moderation || q.public).cloned().collect();
    SnapshotData {
        audience,
        broadcast: state.broadcast.clone(),
        questions,
        pinned: state.pinned,
        participants: state.current_participants,
        mine: state.questions.values().filter(|q| q.author_sub == viewer.sub).cloned().collect(),
        my_votes: state.votes_of(&viewer.sub),
        muted: match audience {
            Audience::Moderation => state.muted.iter().cloned().collect(),
            Audience::Public => vec![],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_round_trip() {
        for room in [RoomRef::public(7), RoomRef::moderation(7)] {
            assert_eq!(RoomRef::parse(&room.key()), Some(room));
        }
        assert_eq!(RoomRef::parse("broadcast:x"), None);
        assert_eq!(RoomRef::parse("broadcast:07"), None);
        assert_eq!(RoomRef::parse("broadcast:+7"), None);
        assert_eq!(RoomRef::parse("chat:1"), None);
    }
}

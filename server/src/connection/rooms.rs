//! Joining and leaving rooms: who may join which room, and the baseline a joiner starts from (the missed
//! events if the room's history still has them, else a snapshot), whichever domain the room belongs to.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::Connection;
use crate::auth::User;
use crate::chat::rooms::{self as chat_rooms, ChatRoom};
use crate::error::{Error, Result};
use crate::hub::{Outbound, RoomId, Subscriber, WireFrame};
use crate::protocol::{self, Position, Room};
use crate::qa::rooms::Audience;
use crate::store::{Replay, Snapshot};

pub(super) struct JoinedRoom {
    pub key: String,
    pub room: Room,
    pub id: RoomId,
}

/// A room's wire name, or `bad_request` if it names no room at all (an unknown broadcast is `not_found` later).
fn parse_room(name: &str) -> Result<Room> {
    Room::parse(name).ok_or_else(|| {
        Error::bad_request(
            "Rooms are named broadcast:<id>, broadcast:<id>:moderation, chat:<id>, chat:<id>:staff, desk or \
             user:<sub>.",
        )
    })
}

impl Connection {
    /// Whether `user` may be in `room` (checked at join, and again when a connection changes identity). A
    /// chat's rooms are the chat's citizen's, its agent's and supervisors' (`chat::rooms::may_join`); a chat
    /// that does not exist is `not_found`.
    async fn may_join(&self, user: &User, room: &Room) -> Result<()> {
        match room {
            Room::Broadcast(r) if r.audience == Audience::Moderation && !user.role.is_moderator() => {
                Err(Error::forbidden("Only moderators may join the moderation room."))
            }
            Room::Person(sub) if *sub != user.sub => {
                Err(Error::forbidden("Only its owner may join a personal stream."))
            }
            Room::Chat(room) => {
                let chat = match room.chat() {
                    Some(id) => Some(self.app.chat.chat(id).await?),
                    None => None,
                };
                if chat_rooms::may_join(user, room, chat.as_ref()) {
                    Ok(())
                } else if *room == ChatRoom::Desk {
                    Err(Error::forbidden("Only agents and admins may join the desk."))
                } else {
                    Err(Error::forbidden("This is not your chat."))
                }
            }
            _ => Ok(()),
        }
    }

    pub(super) async fn join(
        &mut self,
        user: &User,
        name: &str,
        since: Option<Position>,
        observer: bool,
    ) -> Result<Value> {
        let room = parse_room(name)?;
        self.may_join(user, &room).await?;
        if let Room::Broadcast(r) = &room {
            self.app.qa.broadcast(r.broadcast).await?;
        }
        let key = room.key();
        // Joining again is how a client asks for a fresh start: leave, then join as new.
        self.leave_room(&key);
        // Rooms the server took this connection out of (an agent who handed a chat on) no longer count.
        let (hub, id) = (&self.app.hub, self.id);
        self.rooms.retain(|r| hub.is_member(&r.key, id));
        if self.rooms.len() >= self.app.config.max_rooms_per_connection {
            return Err(Error::conflict("This connection has joined too many rooms."));
        }
        let subscriber = Subscriber {
            conn_id: self.id,
            tx: self.tx.clone(),
            control: Arc::clone(&self.control),
            participant: !observer,
            person: Arc::from(user.sub.as_str()),
        };
        // Refused only once the connection is ending.
        let id = self.app.hub.subscribe(&key, subscriber).map_err(|_closed| Error::unavailable())?;
        self.rooms.push(JoinedRoom { key: key.clone(), room: room.clone(), id });
        if !self.listening(&key).await {
            self.leave_room(&key);
            return Err(Error::unavailable());
        }
        let result = match self.send_baseline(user, &room, id, since).await {
            Ok(result) => result,
            Err(error) => {
                self.leave_room(&key);
                return Err(error);
            }
        };
        if let Room::Broadcast(r) = room {
            if r.audience == Audience::Public && !observer {
                let concurrent = self.app.hub.participant_count(&key) as u32;
                self.app.qa.record_participant(r.broadcast, user, concurrent).await?;
            }
        }
        Ok(result)
    }

    /// Waits (bounded) until the room's live events reach this node, so the baseline read next can't miss any.
    async fn listening(&self, key: &str) -> bool {
        let wait = Duration::from_millis(self.app.config.redis_timeout_ms.max(1));
        tokio::time::timeout(wait, self.app.hub.until_listening(key)).await.unwrap_or(false)
    }

    /// Sends what the client starts from: the missed events if the history still has them, else a snapshot
    /// (also when `since` names a position the room never reached: it was not this server's).
    async fn send_baseline(&self, user: &User, room: &Room, id: RoomId, since: Option<Position>) -> Result<Value> {
        if let Some(since) = since {
            if let Some(replay) = self.replay(room, &since).await? {
                let frames = replay.frames.iter().map(|f| WireFrame::text(f.as_str())).collect();
                self.enqueue(Outbound::Baseline { room: id, seq: replay.seq, frames });
                return Ok(json!({ "room": room.key(), "seq": replay.seq, "recovered": true }));
            }
        }
        let snapshot = self.snapshot(room, user).await?;
        let frames = vec![WireFrame::text(snapshot.frame.as_str())];
        self.enqueue(Outbound::Baseline { room: id, seq: snapshot.seq, frames });
        Ok(json!({ "room": room.key(), "seq": snapshot.seq, "recovered": false }))
    }

    async fn replay(&self, room: &Room, since: &Position) -> Result<Option<Replay>> {
        match room {
            Room::Broadcast(r) => self.app.qa.replay(*r, since).await,
            Room::Chat(r) => self.app.chat.replay(r, since).await,
            Room::Person(sub) => self.app.personal.replay(sub, since).await,
        }
    }

    async fn snapshot(&self, room: &Room, user: &User) -> Result<Snapshot> {
        match room {
            Room::Broadcast(r) => self.app.qa.snapshot(*r, user).await,
            Room::Chat(r) => self.app.chat.snapshot(r, user).await,
            Room::Person(sub) => {
                // The position first, then the parts: see `PersonalStore::position`.
                let at = self.app.personal.position(sub).await?;
                let questions = self.app.qa.own_questions(sub).await?;
                let chats = self.app.chat.user_part(user).await?;
                let chat = protocol::chat::user_part(&chats);
                let frame = protocol::personal::snapshot(&room.key(), &at.epoch, at.seq, &questions, chat);
                Ok(Snapshot { epoch: at.epoch, seq: at.seq, frame })
            }
        }
    }

    pub(super) fn leave(&mut self, name: &str) -> Result<Value> {
        let key = parse_room(name)?.key();
        // A room the server took this connection out of is no longer one it is in.
        let (hub, id) = (&self.app.hub, self.id);
        self.rooms.retain(|r| hub.is_member(&r.key, id));
        if !self.leave_room(&key) {
            return Err(Error::not_found("You are not in this room."));
        }
        Ok(json!({}))
    }

    fn leave_room(&mut self, key: &str) -> bool {
        let Some(pos) = self.rooms.iter().position(|r| r.key == key) else { return false };
        let joined = self.rooms.swap_remove(pos);
        self.app.hub.unsubscribe(&joined.key, self.id);
        self.enqueue(Outbound::Unwatch { room: joined.id });
        true
    }

    /// Leaves the rooms `user` may not be in (after a change of identity).
    pub(super) async fn leave_rooms_not_allowed(&mut self, user: &User) {
        let mut barred = vec![];
        for joined in &self.rooms {
            if self.may_join(user, &joined.room).await.is_err() {
                barred.push(joined.key.clone());
            }
        }
        for key in barred {
            self.leave_room(key.as_str());
        }
    }

    pub(super) fn leave_all(&mut self) {
        for joined in self.rooms.drain(..) {
            self.app.hub.unsubscribe(&joined.key, self.id);
        }
    }
}

//! What each connection command does: sign in, join and leave rooms, and hand domain commands to their store.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::reader::{Connection, JoinedRoom};
use crate::auth::{unix_millis, User};
use crate::error::{Error, Result};
use crate::hub::{Outbound, RoomId, Subscriber, WireFrame};
use crate::protocol::{self, Command, Position, UserView};
use crate::qa::rooms::{Audience, RoomRef};
use crate::qa::{BroadcastId, QaCommand, QaReply};

impl Connection {
    pub(super) async fn handle(&mut self, command: Command) -> Result<Value> {
        // Measuring the round trip costs nothing worth limiting, and must work when other commands are refused.
        if !matches!(command, Command::Ping) {
            self.limit_commands()?;
        }
        match command {
            Command::Auth { token } => self.auth(&token),
            Command::Ping => Ok(json!({ "time": unix_millis() })),
            Command::Join { room, since, observer } => self.join(&self.signed_in()?, &room, since, observer).await,
            Command::Leave { room } => {
                self.signed_in()?;
                self.leave(&room)
            }
            Command::Qa { broadcast, command } => self.qa(&self.signed_in()?, broadcast, command).await,
        }
    }

    /// The limit on commands of any kind (`--commands-per-second`), per user once signed in.
    fn limit_commands(&self) -> Result<()> {
        let key = match &self.user {
            Some(user) => user.sub.clone(),
            // Per connection, not per address: many citizens share one address behind NAT, and the number of
            // connections per address is limited on its own.
            None => format!("conn:{}", self.id),
        };
        self.app.limits.command(&key)
    }

    /// Who this connection acts for: every command but `auth` and `ping` needs a prior `auth`.
    fn signed_in(&self) -> Result<User> {
        self.user.clone().ok_or_else(Error::unauthorized)
    }

    fn auth(&mut self, token: &str) -> Result<Value> {
        let user = self.app.tokens.verify(token)?;
        if !user.role.is_moderator() {
            // A new identity keeps only the rooms it may see.
            let moderation: Vec<String> =
                self.rooms.iter().filter(|r| r.room.audience == Audience::Moderation).map(|r| r.key.clone()).collect();
            for key in moderation {
                self.leave_room(&key);
            }
        }
        let result = json!({ "user": UserView::from(&user) });
        self.user = Some(user);
        Ok(result)
    }

    async fn join(&mut self, user: &User, name: &str, since: Option<Position>, observer: bool) -> Result<Value> {
        let room = parse_room(name)?;
        if room.audience == Audience::Moderation && !user.role.is_moderator() {
            return Err(Error::forbidden("Only moderators may join the moderation room."));
        }
        self.app.qa.broadcast(room.broadcast).await?;
        let key = room.key();
        // Joining again is how a client asks for a fresh start: leave, then join as new.
        self.leave_room(&key);
        if self.rooms.len() >= self.app.config.max_rooms_per_connection {
            return Err(Error::conflict("This connection has joined too many rooms."));
        }
        let subscriber = Subscriber {
            conn_id: self.id,
            tx: self.tx.clone(),
            control: Arc::clone(&self.control),
            participant: !observer,
        };
        // Refused only once the connection is ending.
        let id = self.app.hub.subscribe(&key, subscriber).map_err(|_closed| Error::unavailable())?;
        self.rooms.push(JoinedRoom { key: key.clone(), room, id });
        if !self.listening(&key).await {
            self.leave_room(&key);
            return Err(Error::unavailable());
        }
        match self.send_baseline(user, room, id, since).await {
            Ok(result) => {
                if room.audience == Audience::Public && !observer {
                    let concurrent = self.app.hub.participant_count(&key) as u32;
                    self.app.qa.record_participant(room.broadcast, user, concurrent).await?;
                }
                Ok(result)
            }
            Err(error) => {
                self.leave_room(&key);
                Err(error)
            }
        }
    }

    /// Waits (bounded) until the room's live events reach this node, so the baseline read next can't miss any.
    async fn listening(&self, key: &str) -> bool {
        let wait = Duration::from_millis(self.app.config.redis_timeout_ms.max(1));
        tokio::time::timeout(wait, self.app.hub.until_listening(key)).await.unwrap_or(false)
    }

    /// Sends what the client starts from: the missed events if the history still has them, else a snapshot
    /// (also when `since` names a position the room never reached: it was not this server's).
    async fn send_baseline(&self, user: &User, room: RoomRef, id: RoomId, since: Option<Position>) -> Result<Value> {
        if let Some(since) = since {
            if let Some(replay) = self.app.qa.replay(room, &since).await? {
                let frames = replay.frames.iter().map(|f| WireFrame::text(f.as_str())).collect();
                self.enqueue(Outbound::Baseline { room: id, seq: replay.seq, frames });
                return Ok(json!({ "room": room.key(), "seq": replay.seq, "recovered": true }));
            }
        }
        let snapshot = self.app.qa.snapshot(room, user).await?;
        let frames = vec![WireFrame::text(snapshot.frame.as_str())];
        self.enqueue(Outbound::Baseline { room: id, seq: snapshot.seq, frames });
        Ok(json!({ "room": room.key(), "seq": snapshot.seq, "recovered": false }))
    }

    fn leave(&mut self, name: &str) -> Result<Value> {
        let key = parse_room(name)?.key();
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

    async fn qa(&self, user: &User, broadcast: BroadcastId, command: QaCommand) -> Result<Value> {
        if command.needs_moderator() && !user.role.is_moderator() {
            return Err(Error::forbidden("Only moderators may do this."));
        }
        let audience = if user.role.is_moderator() { Audience::Moderation } else { Audience::Public };
        // The question and vote limits are charged by the store, once the rules decided the command changes
        // something: a retried ask, a refused one or a vote that changes nothing costs nothing.
        let gate = self.app.limits.gate(&user.sub);
        Ok(match self.app.qa.execute(broadcast, user, command, &gate).await? {
            QaReply::Asked { question, duplicate } => {
                json!({ "question": protocol::qa::question_result(&question, Audience::Public), "duplicate": duplicate })
            }
            QaReply::Question(question) => json!({ "question": protocol::qa::question_result(&question, audience) }),
            QaReply::Voted { question, votes, voted } => {
                json!({ "question": question, "votes": votes, "voted": voted })
            }
            QaReply::Done => json!({}),
        })
    }
}

/// A room's wire name, or `bad_request` if it names no room at all (an unknown broadcast is `not_found` later).
fn parse_room(name: &str) -> Result<RoomRef> {
    RoomRef::parse(name)
        .ok_or_else(|| Error::bad_request("Rooms are named broadcast:<id> or broadcast:<id>:moderation."))
}

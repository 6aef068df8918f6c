//! What each connection command does: sign in, join and leave rooms, and hand domain commands to their store.

use serde_json::{json, Value};

use super::reader::Connection;
use crate::auth::{unix_millis, User};
use crate::error::{Error, Result};
use crate::protocol::{self, Command, UserView};
use crate::qa::rooms::Audience;
use crate::qa::{BroadcastId, QaCommand, QaReply};

impl Connection {
    pub(super) async fn handle(&mut self, command: Command) -> Result<Value> {
        // Measuring the round trip costs nothing worth limiting, and must work when other commands are refused.
        if !matches!(command, Command::Ping) {
            self.limit_commands()?;
        }
        match command {
            Command::Auth { token } => self.auth(&token).await,
            Command::Ping => Ok(json!({ "time": unix_millis() })),
            Command::Join { room, since, observer } => self.join(&self.signed_in()?, &room, since, observer).await,
            Command::Leave { room } => {
                self.signed_in()?;
                self.leave(&room)
            }
            Command::Qa { broadcast, command } => self.qa(&self.signed_in()?, broadcast, command).await,
            Command::ChatStart(form) => self.chat_start(&self.signed_in()?, form).await,
            Command::Chat { chat, command } => self.chat(&self.signed_in()?, chat, command).await,
            Command::Desk(command) => self.chat_desk(&self.signed_in()?, command).await,
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
    pub(super) fn signed_in(&self) -> Result<User> {
        self.user.clone().ok_or_else(Error::unauthorized)
    }

    async fn auth(&mut self, token: &str) -> Result<Value> {
        let user = self.app.tokens.verify(token)?;
        // A new identity keeps only the rooms it may see.
        self.leave_rooms_not_allowed(&user).await;
        let result = json!({ "user": UserView::from(&user) });
        // The new identity's connection counts before the old one's ends, so that the same person signing in
        // again is never taken for gone.
        super::people::opened(&self.app, &user).await;
        if let Some(old) = self.user.replace(user) {
            super::people::closed(&self.app, &old).await;
        }
        Ok(result)
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

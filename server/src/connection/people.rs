//! Who is connected to this node: how many authenticated connections each person has, so that the chat hears
//! of a person's first connection and of their last one closing (§10.8): a member of staff's grace period, a
//! citizen's resume window.
//!
//! A close and an open of the same person may race (a quick reconnect): whoever changes the count from or to
//! zero tells the store, and a close re-reads the count once the store has heard it, telling it of the
//! connection that came meanwhile, so the store's last word is always the count's.

use dashmap::DashMap;

use crate::app::App;
use crate::auth::{Role, User};
use crate::chat::is_desk_staff;

#[derive(Default)]
pub struct People {
    connections: DashMap<String, usize>,
}

impl People {
    fn count(&self, sub: &str) -> usize {
        self.connections.get(sub).map_or(0, |n| *n)
    }

    /// One more connection of `sub`; true if it is their first here.
    fn open(&self, sub: &str) -> bool {
        let mut n = self.connections.entry(sub.to_string()).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// One connection of `sub` fewer; true if it was their last here.
    fn close(&self, sub: &str) -> bool {
        let mut last = false;
        self.connections.remove_if_mut(sub, |_, n| {
            *n = n.saturating_sub(1);
            last = *n == 0;
            last
        });
        last
    }
}

/// Whether the chat cares about `user`'s connections.
fn counted(user: &User) -> bool {
    is_desk_staff(user.role) || user.role == Role::Citizen
}

async fn tell(app: &App, user: &User, present: bool) {
    let told = if is_desk_staff(user.role) {
        if present {
            app.chat.agent_connected(user).await
        } else {
            app.chat.agent_disconnected(&user.sub).await
        }
    } else {
        app.chat.citizen_presence(&user.sub, present).await
    };
    if let Err(error) = told {
        tracing::debug!(code = ?error.code, present, "could not record a connection for the chat");
    }
}

/// A connection authenticated as `user`.
pub async fn opened(app: &App, user: &User) {
    if counted(user) && app.people.open(&user.sub) {
        tell(app, user, true).await;
    }
}

/// A connection authenticated as `user` closed (or changed identity).
pub async fn closed(app: &App, user: &User) {
    if counted(user) && app.people.close(&user.sub) {
        tell(app, user, false).await;
        if app.people.count(&user.sub) > 0 {
            tell(app, user, true).await;
        }
    }
}

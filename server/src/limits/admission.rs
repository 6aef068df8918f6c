//! The admission gate: a sender's question and vote limits as the rules see them.
//!
//! Why the rules ask, and not the connection before the command: only the rules know whether a command really
//! creates or changes something. A retried ask (same `client_msg_id`), an ask refused as empty or too long, a
//! vote that changes nothing: none of them may use up the sender's allowance, or a client that re-sends its
//! un-acked asks after a reconnect, as the protocol tells it to, would be refused for doing so.

use crate::error::{Error, Result};

/// Longest `client_msg_id`, in bytes. It names a command from the sender's side (a question, a chat start, a
/// message, a note, an offline message), so that the command sent again is answered as before and costs nothing.
pub const MAX_CLIENT_MSG_ID: usize = 64;

/// A `client_msg_id`, if there is one, is 1 to [`MAX_CLIENT_MSG_ID`] bytes.
pub fn check_client_msg_id(id: Option<&str>) -> Result<()> {
    match id {
        Some(id) if id.is_empty() || id.len() > MAX_CLIENT_MSG_ID => {
            Err(Error::bad_request(format!("The \"client_msg_id\" field must be 1 to {MAX_CLIENT_MSG_ID} bytes.")))
        }
        _ => Ok(()),
    }
}

/// What a command costs its sender, once the rules decided it creates or changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// A new question.
    Question,
    /// A vote that adds or removes the sender's upvote.
    Vote,
    /// A citizen's chat that really starts.
    ChatStart,
    /// A citizen's new chat message (not a retried `client_msg_id`).
    ChatMessage,
    /// A citizen's offline message that is really left.
    OfflineMessage,
}

/// A sender's limits. The rules call [`Admission::admit`] at the one point where a command is certain to
/// change something and has not changed anything yet, so a refusal leaves the state as it was.
pub trait Admission: Send + Sync {
    /// Whether one more `what` would pass now (`rate_limited` with the wait if not); takes nothing.
    fn check(&self, what: Charge) -> Result<()>;
    /// Takes one `what` whatever the limit says: after a change that a [`Admission::check`] allowed.
    fn charge(&self, what: Charge);
    /// Checks and takes in one step.
    fn admit(&self, what: Charge) -> Result<()> {
        self.check(what)?;
        self.charge(what);
        Ok(())
    }
}

/// No limits: for changes the server makes itself, and for tests and benchmarks of the rules.
pub struct Unlimited;

impl Admission for Unlimited {
    fn check(&self, _: Charge) -> Result<()> {
        Ok(())
    }
    fn charge(&self, _: Charge) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_msg_ids_are_bounded() {
        assert!(check_client_msg_id(None).is_ok());
        assert!(check_client_msg_id(Some("a")).is_ok());
        assert!(check_client_msg_id(Some(&"x".repeat(64))).is_ok());
        assert!(check_client_msg_id(Some("")).is_err());
        assert!(check_client_msg_id(Some(&"x".repeat(65))).is_err());
    }
}

//! The admission gate: a sender's question and vote limits as the rules see them.
//!
//! Why the rules ask, and not the connection before the command: only the rules know whether a command really
//! creates or changes something. A retried ask (same `client_msg_id`), an ask refused as empty or too long, a
//! vote that changes nothing: none of them may use up the sender's allowance, or a client that re-sends its
//! un-acked asks after a reconnect, as the protocol tells it to, would be refused for doing so.

use crate::error::Result;

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

//! Every limit the chat rules enforce, as named values the application fills from its configuration, and the
//! operator's consent line.
//!
//! Lengths count Unicode scalar values (characters), like the rest of the protocol. Rate limits are not here:
//! the connection enforces them before a command reaches the rules.

use serde::{Deserialize, Serialize};

use crate::qa::Localized;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Limits of the live chat. [`ChatPolicy::default`] holds the defaults the configuration should offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPolicy {
    /// Longest message (citizen or agent), in characters.
    pub max_message_len: usize,
    /// Most text messages in one chat, both sides together.
    pub max_messages: u64,
    /// Most internal notes in one chat.
    pub max_notes: u32,
    /// Longest internal note (also the note that goes with a transfer), in characters.
    pub max_note_len: usize,
    /// Most chats one citizen may have open (waiting or active) at once.
    pub max_open_chats_per_citizen: usize,
    /// Longest name in the pre-chat form or the offline-message form, in characters.
    pub max_name_len: usize,
    /// Longest contact (e-mail address or phone number), in characters.
    pub max_contact_len: usize,
    /// Longest rating comment, in characters.
    pub max_comment_len: usize,
    /// Most tags on one chat.
    pub max_tags: usize,
    /// Longest tag, in characters.
    pub max_tag_len: usize,
    /// How long a citizen may be gone (every tab closed) and come back to the same chat; after it the chat ends
    /// as abandoned. In ms.
    pub resume_window_ms: u64,
    /// How long a citizen must have been away before the desk is told (`citizen_away_since` shown, an `open`
    /// event): a dropped connection that comes back sooner, or a storm of reconnects, stirs nobody. 0: at once.
    /// In ms.
    pub away_notice_ms: u64,
    /// How long an agent whose connection dropped keeps their chats; after it they go back to the front of the
    /// queue. In ms.
    pub agent_grace_ms: u64,
    /// Concurrent chats an agent holds unless an admin set their own cap.
    pub default_agent_cap: u32,
    /// The highest cap an admin may give one agent.
    pub max_agent_cap: u32,
    /// Most chats waiting in one language's queue; further starts are refused.
    pub max_queue_per_lang: usize,
    /// Most members of staff on the desk (agents and admins who ever set an availability).
    pub max_agents: usize,
    /// Recent waits kept per language for the estimate.
    pub wait_samples: usize,
    /// Waits older than this no longer count in the estimate, in ms.
    pub wait_sample_max_age_ms: u64,
    /// Longest offline message and longest answer to one, in characters.
    pub max_offline_len: usize,
    /// Most offline messages one citizen may have open (not yet answered or closed).
    pub max_open_offline_per_citizen: usize,
    /// Most canned responses.
    pub max_canned: usize,
    /// How long an ended chat (its messages, notes, rating and room histories) and a settled offline message
    /// (answered or closed) are kept after they ended or were settled, in ms; then the store forgets them and
    /// they are `not_found`. Open chats and open offline messages are never forgotten.
    pub retention_ms: u64,
    /// How long an ended chat is kept at the least, in ms, even when a store's count cap would forget it
    /// sooner: the citizen's window to rate it and download its transcript. At most [`Self::retention_ms`].
    pub min_retention_ms: u64,
}

impl Default for ChatPolicy {
    fn default() -> Self {
        ChatPolicy {
            max_message_len: 2000,
            max_messages: 500,
            max_notes: 100,
            max_note_len: 2000,
            max_open_chats_per_citizen: 1,
            max_name_len: 80,
            max_contact_len: 120,
            max_comment_len: 1000,
            max_tags: 10,
            max_tag_len: 40,
            resume_window_ms: 10 * 60 * 1000,
            away_notice_ms: 5000,
            agent_grace_ms: 2 * 60 * 1000,
            default_agent_cap: 3,
            max_agent_cap: 20,
            max_queue_per_lang: 200,
            max_agents: 500,
            wait_samples: 50,
            wait_sample_max_age_ms: 2 * 60 * 60 * 1000,
            max_offline_len: 4000,
            max_open_offline_per_citizen: 3,
            max_canned: 200,
            retention_ms: 30 * DAY_MS,
            min_retention_ms: DAY_MS,
        }
    }
}

impl ChatPolicy {
    /// The cap of an agent with `own` (an admin's override) or the default.
    pub fn cap(&self, own: Option<u32>) -> u32 {
        own.unwrap_or(self.default_agent_cap)
    }

    /// Whether something that ended (a chat) or was settled (an offline message) at `at` is past the retention
    /// at `now`, and is to be forgotten.
    pub fn expired(&self, at: u64, now: u64) -> bool {
        now.saturating_sub(at) >= self.retention_ms
    }

    /// Whether a chat that ended at `at` may be forgotten before its retention ends, to keep a store under its
    /// count cap: only once it is past [`Self::min_retention_ms`] (or the retention, if that is shorter).
    pub fn may_forget_early(&self, at: u64, now: u64) -> bool {
        now.saturating_sub(at) >= self.min_retention_ms.min(self.retention_ms)
    }
}

/// The consent line the operator configures, shown in the pre-chat form, and its version.
///
/// The version is a fingerprint of the text (FNV-1a, 64 bits, in hex) unless the operator names one: a chat
/// records the version its citizen agreed to, and a start that quotes another version (the page showed an older
/// text) is refused so the citizen reads the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentLine {
    pub text: Localized,
    pub version: String,
}

impl ConsentLine {
    pub fn new(text: Localized, version: Option<String>) -> Self {
        let version = version.filter(|v| !v.trim().is_empty()).unwrap_or_else(|| fingerprint(&text));
        ConsentLine { text, version }
    }
}

/// FNV-1a over both languages' texts: stable across builds and nodes (unlike std's hasher).
fn fingerprint(text: &Localized) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [text.ar.as_deref().unwrap_or(""), "\u{0}", text.en.as_deref().unwrap_or("")];
    for byte in parts.iter().flat_map(|p| p.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ar: &str, en: &str) -> Localized {
        Localized { ar: Some(ar.into()), en: Some(en.into()) }
    }

    #[test]
    fn retention_counts_from_the_end_and_the_floor_never_exceeds_it() {
        let policy = ChatPolicy { retention_ms: 1000, min_retention_ms: 100, ..ChatPolicy::default() };
        assert!(!policy.expired(5000, 5999));
        assert!(policy.expired(5000, 6000));
        assert!(!policy.may_forget_early(5000, 5099));
        assert!(policy.may_forget_early(5000, 5100));
        let short = ChatPolicy { retention_ms: 50, min_retention_ms: 100, ..ChatPolicy::default() };
        assert!(short.may_forget_early(5000, 5050));
        // A clock that went back forgets nothing.
        assert!(!policy.expired(5000, 10) && !policy.may_forget_early(5000, 10));
    }

    #[test]
    fn the_consent_version_follows_the_text() {
        let a = ConsentLine::new(line("أوافق", "I agree"), None);
        assert_eq!(a.version, ConsentLine::new(line("أوافق", "I agree"), None).version);
        assert_ne!(a.version, ConsentLine::new(line("أوافق", "I agree."), None).version);
        assert_eq!(a.version.len(), 16);
        assert_eq!(ConsentLine::new(line("x", "y"), Some("2026-01".into())).version, "2026-01");
        let blank = ConsentLine::new(line("x", "y"), Some(" ".into()));
        assert_eq!(blank.version, ConsentLine::new(line("x", "y"), None).version);
    }
}

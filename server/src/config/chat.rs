//! The live chat's options: every limit of [`ChatPolicy`], the citizens' rate limits, the housekeeping pace,
//! the consent line (docs/protocol.md §10.9) and, in Redis mode, the presence leases (§10.8).

use std::time::Duration;

use crate::chat::policy::{ChatPolicy, ConsentLine};
use crate::qa::Localized;

/// Default consent line, shown in the pre-chat form until the operator sets their own.
const CONSENT_AR: &str = "أوافق على حفظ هذه المحادثة واستخدامها لتحسين الخدمات.";
const CONSENT_EN: &str = "I agree that this chat is kept and used to improve the ministry's services.";

#[derive(Debug, Clone, clap::Args)]
pub struct ChatConfig {
    /// Longest chat message (citizen or agent), in characters.
    #[arg(long = "chat-max-message-len", env = "MAJLIS_CHAT_MAX_MESSAGE_LEN", default_value_t = 2000)]
    pub max_message_len: usize,

    /// Most text messages in one chat, both sides together (system messages have a headroom of 100 more).
    #[arg(long = "chat-max-messages", env = "MAJLIS_CHAT_MAX_MESSAGES", default_value_t = 500)]
    pub max_messages: u64,

    /// Most internal notes in one chat.
    #[arg(long = "chat-max-notes", env = "MAJLIS_CHAT_MAX_NOTES", default_value_t = 100)]
    pub max_notes: u32,

    /// Longest internal note, in characters.
    #[arg(long = "chat-max-note-len", env = "MAJLIS_CHAT_MAX_NOTE_LEN", default_value_t = 2000)]
    pub max_note_len: usize,

    /// Most chats one citizen may have open (waiting or active) at once.
    #[arg(long = "chat-max-open-per-citizen", env = "MAJLIS_CHAT_MAX_OPEN_PER_CITIZEN", default_value_t = 1)]
    pub max_open_per_citizen: usize,

    /// Longest name in the pre-chat and offline-message forms, in characters.
    #[arg(long = "chat-max-name-len", env = "MAJLIS_CHAT_MAX_NAME_LEN", default_value_t = 80)]
    pub max_name_len: usize,

    /// Longest contact (e-mail address or phone number), in characters.
    #[arg(long = "chat-max-contact-len", env = "MAJLIS_CHAT_MAX_CONTACT_LEN", default_value_t = 120)]
    pub max_contact_len: usize,

    /// Longest rating comment, in characters.
    #[arg(long = "chat-max-comment-len", env = "MAJLIS_CHAT_MAX_COMMENT_LEN", default_value_t = 1000)]
    pub max_comment_len: usize,

    /// Most tags on one chat.
    #[arg(id = "chat_max_tags", long = "chat-max-tags", env = "MAJLIS_CHAT_MAX_TAGS", default_value_t = 10)]
    pub max_tags: usize,

    /// Longest chat tag, in characters.
    #[arg(long = "chat-max-tag-len", env = "MAJLIS_CHAT_MAX_TAG_LEN", default_value_t = 40)]
    pub max_tag_len: usize,

    /// How long a citizen may be gone (every connection closed) and come back to the same chat, in seconds;
    /// after it the chat ends as abandoned.
    #[arg(long = "chat-resume-window-secs", env = "MAJLIS_CHAT_RESUME_WINDOW_SECS", default_value_t = 600)]
    pub resume_window_secs: u64,

    /// How long a citizen must have been away before the desk shows it (`citizen_away_since`), in seconds: a
    /// connection that drops and comes back sooner, or every citizen reconnecting at once after a network
    /// blip, sends nothing to the agents. 0: at once. The resume window still runs from the moment they left.
    #[arg(long = "chat-away-notice-secs", env = "MAJLIS_CHAT_AWAY_NOTICE_SECS", default_value_t = 5)]
    pub away_notice_secs: u64,

    /// How long a member of staff whose last connection closed keeps their chats, in seconds; after it they go
    /// offline and their chats go back to the front of the queue.
    #[arg(long = "chat-agent-grace-secs", env = "MAJLIS_CHAT_AGENT_GRACE_SECS", default_value_t = 120)]
    pub agent_grace_secs: u64,

    /// Concurrent chats an agent holds unless an admin set their own cap.
    #[arg(long = "chat-agent-cap", env = "MAJLIS_CHAT_AGENT_CAP", default_value_t = 3)]
    pub agent_cap: u32,

    /// The highest cap an admin may give one agent.
    #[arg(long = "chat-max-agent-cap", env = "MAJLIS_CHAT_MAX_AGENT_CAP", default_value_t = 20)]
    pub max_agent_cap: u32,

    /// Most chats waiting in one language's queue; further starts are refused (the page offers an offline
    /// message).
    #[arg(long = "chat-max-queue", env = "MAJLIS_CHAT_MAX_QUEUE", default_value_t = 200)]
    pub max_queue: usize,

    /// Most members of staff on the desk (agents and admins who ever set an availability).
    #[arg(long = "chat-max-agents", env = "MAJLIS_CHAT_MAX_AGENTS", default_value_t = 500)]
    pub max_agents: usize,

    /// Recent real waits kept per language for the wait estimate.
    #[arg(long = "chat-wait-samples", env = "MAJLIS_CHAT_WAIT_SAMPLES", default_value_t = 50)]
    pub wait_samples: usize,

    /// Waits older than this many seconds no longer count in the estimate.
    #[arg(
        long = "chat-wait-sample-max-age-secs",
        env = "MAJLIS_CHAT_WAIT_SAMPLE_MAX_AGE_SECS",
        default_value_t = 7200
    )]
    pub wait_sample_max_age_secs: u64,

    /// Longest offline message and longest answer to one, in characters.
    #[arg(long = "chat-max-offline-len", env = "MAJLIS_CHAT_MAX_OFFLINE_LEN", default_value_t = 4000)]
    pub max_offline_len: usize,

    /// Most offline messages one citizen may have open (not yet answered or closed).
    #[arg(
        long = "chat-max-open-offline-per-citizen",
        env = "MAJLIS_CHAT_MAX_OPEN_OFFLINE_PER_CITIZEN",
        default_value_t = 3
    )]
    pub max_open_offline_per_citizen: usize,

    /// Most canned responses.
    #[arg(long = "chat-max-canned", env = "MAJLIS_CHAT_MAX_CANNED", default_value_t = 200)]
    pub max_canned: usize,

    /// How long an ended chat (messages, notes, rating, transcript) and an answered or closed offline message are
    /// kept, in seconds from the end (or the last answer or close); then they are forgotten and answer
    /// `not_found`, and the report no longer counts them. Default 30 days, the report's default period. Open
    /// chats and open offline messages are never forgotten. At least 1.
    #[arg(long = "chat-retention-secs", env = "MAJLIS_CHAT_RETENTION_SECS", default_value_t = 30 * 24 * 3600)]
    pub retention_secs: u64,

    /// How long an ended chat is kept at the least, in seconds, even past `--chat-max-ended-chats`: the
    /// citizen's window to rate it and download its transcript. Default 1 day; never more than the retention.
    #[arg(
        long = "chat-min-retention-secs",
        env = "MAJLIS_CHAT_MIN_RETENTION_SECS",
        default_value_t = 24 * 3600
    )]
    pub min_retention_secs: u64,

    /// Most ended chats the in-memory store keeps; past it the oldest-ended are forgotten before their
    /// retention, once past `--chat-min-retention-secs` (so a very busy day may briefly keep more). A chat of a
    /// few dozen messages with its two rooms' histories is some tens of KB, so the default is several hundred
    /// MB. (The Redis store expires each ended chat after the retention instead.)
    #[arg(long = "chat-max-ended-chats", env = "MAJLIS_CHAT_MAX_ENDED_CHATS", default_value_t = 20_000)]
    pub max_ended_chats: usize,

    /// Chats one citizen may start per hour (sustained); only chats that really start count.
    #[arg(long = "chat-starts-per-hour", env = "MAJLIS_CHAT_STARTS_PER_HOUR", default_value_t = 5)]
    pub starts_per_hour: u32,

    /// Chats one citizen may start in a burst.
    #[arg(long = "chat-starts-burst", env = "MAJLIS_CHAT_STARTS_BURST", default_value_t = 2)]
    pub starts_burst: u32,

    /// Chat messages one citizen may send per minute (sustained); a retried `client_msg_id` and a refused
    /// message cost nothing.
    #[arg(long = "chat-messages-per-minute", env = "MAJLIS_CHAT_MESSAGES_PER_MINUTE", default_value_t = 30)]
    pub messages_per_minute: u32,

    /// Chat messages one citizen may send in a burst.
    #[arg(long = "chat-messages-burst", env = "MAJLIS_CHAT_MESSAGES_BURST", default_value_t = 10)]
    pub messages_burst: u32,

    /// Offline messages one citizen may leave per hour (sustained).
    #[arg(long = "chat-offline-per-hour", env = "MAJLIS_CHAT_OFFLINE_PER_HOUR", default_value_t = 5)]
    pub offline_per_hour: u32,

    /// Offline messages one citizen may leave in a burst.
    #[arg(long = "chat-offline-burst", env = "MAJLIS_CHAT_OFFLINE_BURST", default_value_t = 2)]
    pub offline_burst: u32,

    /// Least milliseconds between two typing indicators forwarded for one person in one chat; those sent
    /// sooner are acknowledged and dropped (a "stopped typing" is always forwarded).
    #[arg(long = "chat-typing-interval-ms", env = "MAJLIS_CHAT_TYPING_INTERVAL_MS", default_value_t = 1000)]
    pub typing_interval_ms: u64,

    /// Milliseconds between two runs of the chat's housekeeping (agents past their grace period, citizens gone
    /// past the resume window, chats and offline messages past their retention).
    #[arg(long = "chat-sweep-ms", env = "MAJLIS_CHAT_SWEEP_MS", default_value_t = 1000)]
    pub sweep_ms: u64,

    /// In Redis mode, how long a node's count of its people's connections holds without a renewal, in
    /// milliseconds. A node that dies (killed, cut off) goes on counting them this long, plus
    /// `--chat-presence-reap-ms`, before their grace period or resume window starts. At least three times
    /// `--chat-presence-refresh-ms`; at most an hour.
    #[arg(long = "chat-presence-lease-ms", env = "MAJLIS_CHAT_PRESENCE_LEASE_MS", default_value_t = 10_000)]
    pub presence_lease_ms: u64,

    /// In Redis mode, how often a node renews that lease, in milliseconds: well below the lease (a third of it
    /// at most), so that a slow renewal or two (each may take up to `--redis-timeout-ms`) don't make a live node
    /// count as dead. At least 100.
    #[arg(long = "chat-presence-refresh-ms", env = "MAJLIS_CHAT_PRESENCE_REFRESH_MS", default_value_t = 2000)]
    pub presence_refresh_ms: u64,

    /// In Redis mode, how long past a lapsed lease another node's sweep takes its counts out, in milliseconds
    /// (a node only slow to renew gets this much more before its people count as gone). At most an hour.
    #[arg(long = "chat-presence-reap-ms", env = "MAJLIS_CHAT_PRESENCE_REAP_MS", default_value_t = 5000)]
    pub presence_reap_ms: u64,

    /// The consent line of the pre-chat form, in Arabic.
    #[arg(long = "chat-consent-ar", env = "MAJLIS_CHAT_CONSENT_AR", default_value = CONSENT_AR)]
    pub consent_ar: String,

    /// The consent line of the pre-chat form, in English.
    #[arg(long = "chat-consent-en", env = "MAJLIS_CHAT_CONSENT_EN", default_value = CONSENT_EN)]
    pub consent_en: String,

    /// The consent line's version, recorded with every chat; unset, a fingerprint of its two texts, so that
    /// changing the text changes it.
    #[arg(long = "chat-consent-version", env = "MAJLIS_CHAT_CONSENT_VERSION")]
    pub consent_version: Option<String>,

    /// Largest request body the chat's REST API reads, in bytes; a longer one is answered `too_large` (413)
    /// before it is parsed. The largest a client needs is a schedule with every holiday or an offline message
    /// of the longest length in escaped JSON, both well under the default.
    #[arg(long = "chat-max-body-bytes", env = "MAJLIS_CHAT_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
}

impl ChatConfig {
    /// The chat rules' limits as configured.
    pub fn policy(&self) -> ChatPolicy {
        ChatPolicy {
            max_message_len: self.max_message_len,
            max_messages: self.max_messages,
            max_notes: self.max_notes,
            max_note_len: self.max_note_len,
            max_open_chats_per_citizen: self.max_open_per_citizen,
            max_name_len: self.max_name_len,
            max_contact_len: self.max_contact_len,
            max_comment_len: self.max_comment_len,
            max_tags: self.max_tags,
            max_tag_len: self.max_tag_len,
            resume_window_ms: self.resume_window_secs.saturating_mul(1000),
            away_notice_ms: self.away_notice_secs.saturating_mul(1000),
            agent_grace_ms: self.agent_grace_secs.saturating_mul(1000),
            default_agent_cap: self.agent_cap.max(1),
            max_agent_cap: self.max_agent_cap.max(1),
            max_queue_per_lang: self.max_queue,
            max_agents: self.max_agents,
            wait_samples: self.wait_samples,
            wait_sample_max_age_ms: self.wait_sample_max_age_secs.saturating_mul(1000),
            max_offline_len: self.max_offline_len,
            max_open_offline_per_citizen: self.max_open_offline_per_citizen,
            max_canned: self.max_canned,
            retention_ms: self.retention_secs.max(1).saturating_mul(1000),
            min_retention_ms: self.min_retention_secs.saturating_mul(1000),
        }
    }

    /// The presence leases as configured, if they can work: the refresh well below the lease, nothing
    /// longer than [`MAX_PRESENCE_MS`].
    pub fn presence(&self) -> Result<PresenceLeases, PresenceError> {
        let (lease_ms, refresh_ms, reap_ms) = (self.presence_lease_ms, self.presence_refresh_ms, self.presence_reap_ms);
        if refresh_ms < MIN_PRESENCE_REFRESH_MS {
            return Err(PresenceError::RefreshTooShort(refresh_ms));
        }
        if lease_ms < refresh_ms.saturating_mul(3) {
            return Err(PresenceError::LeaseTooShort { lease_ms, refresh_ms });
        }
        if let Some((flag, ms)) =
            [("lease", lease_ms), ("reap", reap_ms)].into_iter().find(|(_, ms)| *ms > MAX_PRESENCE_MS)
        {
            return Err(PresenceError::TooLong { flag, ms });
        }
        Ok(PresenceLeases { lease_ms, refresh: Duration::from_millis(refresh_ms), reap_ms })
    }

    pub fn consent(&self) -> ConsentLine {
        let text = Localized { ar: Some(self.consent_ar.clone()), en: Some(self.consent_en.clone()) };
        ConsentLine::new(text, self.consent_version.clone())
    }
}

/// The shortest lease renewal allowed: faster is only load on Redis.
pub const MIN_PRESENCE_REFRESH_MS: u64 = 100;
/// The longest lease, or wait before a reap: a dead node's people would count as connected that long.
pub const MAX_PRESENCE_MS: u64 = 3_600_000;

/// How the nodes of Redis mode count one another's connections (`redis_mode::chat::presence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceLeases {
    /// How long a node's counts hold without a renewal.
    pub lease_ms: u64,
    /// How often a node renews its lease.
    pub refresh: Duration,
    /// How long past a lapsed lease its counts are taken out.
    pub reap_ms: u64,
}

impl Default for PresenceLeases {
    fn default() -> Self {
        PresenceLeases { lease_ms: 10_000, refresh: Duration::from_secs(2), reap_ms: 5_000 }
    }
}

/// Presence options that can't work (see [`ChatConfig::presence`]): the node refuses to start in Redis mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    #[error("--chat-presence-refresh-ms is {0}; it must be at least {MIN_PRESENCE_REFRESH_MS}")]
    RefreshTooShort(u64),
    #[error(
        "--chat-presence-lease-ms ({lease_ms}) must be at least three times --chat-presence-refresh-ms \
         ({refresh_ms}), so that a slow renewal or two don't make a live node count as dead"
    )]
    LeaseTooShort { lease_ms: u64, refresh_ms: u64 },
    #[error("--chat-presence-{flag}-ms is {ms}; it must be at most {MAX_PRESENCE_MS} (an hour)")]
    TooLong { flag: &'static str, ms: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_domains() {
        assert_eq!(crate::Config::defaults().chat.policy(), ChatPolicy::default());
        assert_eq!(crate::Config::defaults().chat.presence(), Ok(PresenceLeases::default()));
    }

    #[test]
    fn presence_leases_that_cannot_work_are_refused() {
        let with = |lease, refresh, reap| {
            let mut chat = crate::Config::defaults().chat;
            (chat.presence_lease_ms, chat.presence_refresh_ms, chat.presence_reap_ms) = (lease, refresh, reap);
            chat.presence()
        };
        assert!(with(300, 100, 0).is_ok());
        assert_eq!(with(10_000, 50, 5_000), Err(PresenceError::RefreshTooShort(50)));
        assert_eq!(with(5_000, 2_000, 5_000), Err(PresenceError::LeaseTooShort { lease_ms: 5_000, refresh_ms: 2_000 }));
        assert_eq!(
            with(MAX_PRESENCE_MS + 1, 2_000, 5_000),
            Err(PresenceError::TooLong { flag: "lease", ms: MAX_PRESENCE_MS + 1 })
        );
        assert_eq!(with(10_000, 2_000, u64::MAX), Err(PresenceError::TooLong { flag: "reap", ms: u64::MAX }));
        let message = with(5_000, 2_000, 5_000).expect_err("refused").to_string();
        assert!(message.contains("--chat-presence-lease-ms (5000)") && message.contains("(2000)"), "{message}");
    }
}

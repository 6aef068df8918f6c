//! The live chat's REST bodies that have no WebSocket twin (docs/protocol.md §10.7): the start info, and what a
//! citizen is told of the offline message they left. The records staff read (offline messages, canned
//! responses, agents, chat summaries) have the same views as in the desk's events (`views.rs`); transcripts,
//! schedules and reports have the domain's own shape (`chat::transcript`, `chat::hours`, `chat::report`).

use serde::Serialize;

use super::views::SummaryView;
use crate::chat::offline::{OfflineStatus, Submitted};
use crate::chat::policy::ConsentLine;
use crate::chat::rooms::{LangInfo, StartInfo, Unavailable};
use crate::chat::{OfflineId, PerLang};

/// `GET /api/chat/start-info`. Without a valid token (an expired or bad one counts as none) `my_chats` and
/// `may_start` are `null`.
#[derive(Serialize)]
pub struct StartInfoView<'a> {
    open: bool,
    next_open: Option<u64>,
    time_zone: &'static str,
    langs: PerLang<LangView>,
    consent: &'a ConsentLine,
    my_chats: Option<Vec<SummaryView<'a>>>,
    may_start: Option<bool>,
}

impl<'a> StartInfoView<'a> {
    /// `may_start` is `None` without a token.
    pub fn of(info: &'a StartInfo, may_start: Option<bool>) -> Self {
        StartInfoView {
            open: info.open,
            next_open: info.next_open,
            time_zone: info.time_zone.name(),
            langs: PerLang { ar: LangView::of(&info.langs.ar), en: LangView::of(&info.langs.en) },
            consent: &info.consent,
            my_chats: may_start.map(|_| info.my_chats.iter().map(SummaryView::from).collect()),
            may_start,
        }
    }
}

#[derive(Serialize)]
struct LangView {
    unavailable: Option<&'static str>,
    waiting: u32,
    estimate_ms: Option<u64>,
}

impl LangView {
    fn of(info: &LangInfo) -> Self {
        let unavailable = info.unavailable.map(|u| match u {
            Unavailable::Closed => "closed",
            Unavailable::NoAgents => "no_agents",
            Unavailable::QueueFull => "queue_full",
        });
        LangView { unavailable, waiting: info.waiting, estimate_ms: info.estimate_ms }
    }
}

/// What the citizen who left an offline message is told: its id, status and time, nothing of the inbox.
#[derive(Serialize)]
pub struct OfflineReceipt {
    id: OfflineId,
    status: OfflineStatus,
    created_at: u64,
    duplicate: bool,
}

impl OfflineReceipt {
    pub fn of(s: &Submitted) -> Self {
        let m = &s.message;
        OfflineReceipt { id: m.id, status: m.status, created_at: m.created_at, duplicate: s.duplicate }
    }
}

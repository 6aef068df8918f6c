//! The live chat's objects on the wire (docs/protocol.md §10.4.3), one struct per audience where audiences
//! differ: a citizen's view has no field for notes, tags, the contact, the consent record or staff `sub`s.

use serde::Serialize;

use crate::chat::canned::Canned;
use crate::chat::offline::{OfflineMessage, OfflineStatus};
use crate::chat::rooms::{AgentView, ChatSummary, CitizenChat, OpenView, QueueItem};
use crate::chat::{
    AgentRef, Availability, Body, Category, Chat, ChatId, ChatLang, ChatStatus, EndReason, Message, Note, Notice,
    Rating, Receipt, Receipts, RequeueReason, Seq, Side,
};
use crate::qa::Localized;

#[derive(Serialize)]
pub struct NameView<'a> {
    pub name: &'a str,
}

#[derive(Serialize)]
pub struct StaffRef<'a> {
    pub sub: &'a str,
    pub name: &'a str,
}

impl<'a> From<&'a AgentRef> for StaffRef<'a> {
    fn from(a: &'a AgentRef) -> Self {
        StaffRef { sub: &a.sub, name: &a.name }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NoticeView<'a> {
    Joined { agent: &'a str },
    Transferred { from: &'a str, to: &'a str },
    Requeued { reason: RequeueReason },
    Ended { reason: EndReason },
}

impl<'a> From<&'a Notice> for NoticeView<'a> {
    fn from(n: &'a Notice) -> Self {
        match n {
            Notice::Joined { agent } => NoticeView::Joined { agent },
            Notice::Transferred { from, to } => NoticeView::Transferred { from, to },
            Notice::Requeued { reason } => NoticeView::Requeued { reason: *reason },
            Notice::Ended { reason } => NoticeView::Ended { reason: *reason },
        }
    }
}

/// A message: the citizen's view, or with `staff` the author's `sub` too.
#[derive(Serialize)]
pub struct MessageView<'a> {
    seq: Seq,
    at: u64,
    #[serde(flatten)]
    body: BodyView<'a>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BodyView<'a> {
    Text {
        from: Side,
        #[serde(skip_serializing_if = "Option::is_none")]
        sub: Option<&'a str>,
        name: Option<&'a str>,
        text: &'a str,
        client_msg_id: Option<&'a str>,
    },
    System {
        notice: NoticeView<'a>,
    },
}

impl<'a> MessageView<'a> {
    pub fn new(m: &'a Message, staff: bool) -> Self {
        let body = match &m.body {
            Body::Text { from, sub, name, text, client_msg_id } => BodyView::Text {
                from: *from,
                sub: staff.then_some(sub.as_str()),
                name: name.as_deref(),
                text,
                client_msg_id: client_msg_id.as_deref(),
            },
            Body::System { notice } => BodyView::System { notice: notice.into() },
        };
        MessageView { seq: m.seq, at: m.at, body }
    }
}

#[derive(Serialize)]
pub struct NoteView<'a> {
    id: u32,
    after: Seq,
    at: u64,
    author: StaffRef<'a>,
    text: &'a str,
    client_msg_id: Option<&'a str>,
}

impl<'a> From<&'a Note> for NoteView<'a> {
    fn from(n: &'a Note) -> Self {
        NoteView {
            id: n.id,
            after: n.after,
            at: n.at,
            author: (&n.author).into(),
            text: &n.text,
            client_msg_id: n.client_msg_id.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub struct ReceiptView {
    delivered: Seq,
    read: Seq,
}

#[derive(Serialize)]
pub struct ReceiptsView {
    citizen: ReceiptView,
    agent: ReceiptView,
}

impl From<&Receipts> for ReceiptsView {
    fn from(r: &Receipts) -> Self {
        let one = |r: &Receipt| ReceiptView { delivered: r.delivered, read: r.read };
        ReceiptsView { citizen: one(&r.citizen), agent: one(&r.agent) }
    }
}

#[derive(Serialize)]
pub struct RatingView<'a> {
    score: u8,
    comment: Option<&'a str>,
    at: u64,
}

impl<'a> From<&'a Rating> for RatingView<'a> {
    fn from(r: &'a Rating) -> Self {
        RatingView { score: r.score, comment: r.comment.as_deref(), at: r.at }
    }
}

/// ChatView: the citizen's view of their chat.
#[derive(Serialize)]
pub struct ChatView<'a> {
    id: ChatId,
    category: Category,
    lang: ChatLang,
    status: ChatStatus,
    name: Option<&'a str>,
    agent: Option<NameView<'a>>,
    created_at: u64,
    ended_at: Option<u64>,
    end_reason: Option<EndReason>,
    rating: Option<RatingView<'a>>,
}

impl<'a> From<&'a CitizenChat> for ChatView<'a> {
    fn from(c: &'a CitizenChat) -> Self {
        ChatView {
            id: c.id,
            category: c.category,
            lang: c.lang,
            status: c.status,
            name: c.name.as_deref(),
            agent: c.agent_name.as_deref().map(|name| NameView { name }),
            created_at: c.created_at,
            ended_at: c.ended_at,
            end_reason: c.end_reason,
            rating: c.rating.as_ref().map(Into::into),
        }
    }
}

#[derive(Serialize)]
struct CitizenRef<'a> {
    sub: &'a str,
    name: Option<&'a str>,
    contact: Option<&'a str>,
}

#[derive(Serialize)]
struct ConsentView<'a> {
    version: &'a str,
    at: u64,
}

/// StaffChat: everything staff may know of a chat.
#[derive(Serialize)]
pub struct StaffChatView<'a> {
    id: ChatId,
    category: Category,
    lang: ChatLang,
    status: ChatStatus,
    name: Option<&'a str>,
    agent: Option<StaffRef<'a>>,
    created_at: u64,
    ended_at: Option<u64>,
    end_reason: Option<EndReason>,
    rating: Option<RatingView<'a>>,
    citizen: CitizenRef<'a>,
    consent: ConsentView<'a>,
    tags: &'a [String],
    first_assigned_at: Option<u64>,
    last_seq: Seq,
    texts: u64,
    notes: u32,
    receipts: ReceiptsView,
    transfers: u32,
}

impl<'a> From<&'a Chat> for StaffChatView<'a> {
    fn from(c: &'a Chat) -> Self {
        StaffChatView {
            id: c.id,
            category: c.category,
            lang: c.lang,
            status: c.status,
            name: c.citizen.name.as_deref(),
            agent: c.agent.as_ref().map(Into::into),
            created_at: c.created_at,
            ended_at: c.ended_at,
            end_reason: c.end_reason,
            rating: c.rating.as_ref().map(Into::into),
            citizen: CitizenRef {
                sub: &c.citizen.sub,
                name: c.citizen.name.as_deref(),
                contact: c.citizen.contact.as_deref(),
            },
            consent: ConsentView { version: &c.consent.version, at: c.consent.at },
            tags: &c.tags,
            first_assigned_at: c.first_assigned_at,
            last_seq: c.last_seq,
            texts: c.texts,
            notes: c.notes,
            receipts: (&c.receipts).into(),
            transfers: c.transfers,
        }
    }
}

#[derive(Serialize)]
pub struct AgentWire<'a> {
    sub: &'a str,
    name: &'a str,
    availability: Availability,
    languages: &'a [ChatLang],
    load: u32,
    cap: u32,
    max_chats: Option<u32>,
    connected: bool,
    idle_since: u64,
    chats: &'a [ChatId],
}

impl<'a> From<&'a AgentView> for AgentWire<'a> {
    fn from(a: &'a AgentView) -> Self {
        AgentWire {
            sub: &a.sub,
            name: &a.name,
            availability: a.availability,
            languages: &a.languages,
            load: a.load,
            cap: a.cap,
            max_chats: a.max_chats,
            connected: a.connected,
            idle_since: a.idle_since,
            chats: &a.chats,
        }
    }
}

#[derive(Serialize)]
pub struct QueueItemView<'a> {
    chat: ChatId,
    category: Category,
    citizen_name: Option<&'a str>,
    since: u64,
    created_at: u64,
    position: u32,
    estimate_ms: Option<u64>,
    citizen_away_since: Option<u64>,
    not_agent: Option<&'a str>,
}

impl<'a> From<&'a QueueItem> for QueueItemView<'a> {
    fn from(q: &'a QueueItem) -> Self {
        QueueItemView {
            chat: q.chat,
            category: q.category,
            citizen_name: q.citizen_name.as_deref(),
            since: q.since,
            created_at: q.created_at,
            position: q.position,
            estimate_ms: q.estimate_ms,
            citizen_away_since: q.citizen_away_since,
            not_agent: q.not_agent.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub struct SummaryView<'a> {
    id: ChatId,
    status: ChatStatus,
    category: Category,
    lang: ChatLang,
    citizen_name: Option<&'a str>,
    agent_name: Option<&'a str>,
    created_at: u64,
}

impl<'a> From<&'a ChatSummary> for SummaryView<'a> {
    fn from(s: &'a ChatSummary) -> Self {
        SummaryView {
            id: s.id,
            status: s.status,
            category: s.category,
            lang: s.lang,
            citizen_name: s.citizen_name.as_deref(),
            agent_name: s.agent_name.as_deref(),
            created_at: s.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct OpenChatView<'a> {
    #[serde(flatten)]
    summary: SummaryView<'a>,
    agent_sub: Option<&'a str>,
    citizen_away_since: Option<u64>,
}

impl<'a> From<&'a OpenView> for OpenChatView<'a> {
    fn from(o: &'a OpenView) -> Self {
        OpenChatView {
            summary: (&o.summary).into(),
            agent_sub: o.agent.as_deref(),
            citizen_away_since: o.citizen_away_since,
        }
    }
}

#[derive(Serialize)]
struct AnswerView<'a> {
    text: &'a str,
    by: StaffRef<'a>,
    at: u64,
    sent_to: &'a str,
}

/// OfflineMessage, as staff see it.
#[derive(Serialize)]
pub struct OfflineView<'a> {
    id: u64,
    citizen: &'a str,
    name: Option<&'a str>,
    contact: &'a str,
    category: Category,
    lang: ChatLang,
    text: &'a str,
    created_at: u64,
    status: OfflineStatus,
    answer: Option<AnswerView<'a>>,
    closed_by: Option<StaffRef<'a>>,
    closed_at: Option<u64>,
}

impl<'a> From<&'a OfflineMessage> for OfflineView<'a> {
    fn from(m: &'a OfflineMessage) -> Self {
        OfflineView {
            id: m.id,
            citizen: &m.citizen_sub,
            name: m.name.as_deref(),
            contact: &m.contact,
            category: m.category,
            lang: m.lang,
            text: &m.text,
            created_at: m.created_at,
            status: m.status,
            answer: m.answer.as_ref().map(|a| AnswerView {
                text: &a.text,
                by: (&a.by).into(),
                at: a.at,
                sent_to: &a.sent_to,
            }),
            closed_by: m.closed_by.as_ref().map(Into::into),
            closed_at: m.closed_at,
        }
    }
}

#[derive(Serialize)]
pub struct CannedView<'a> {
    id: u64,
    shortcut: &'a str,
    text: &'a Localized,
    updated_at: u64,
}

impl<'a> From<&'a Canned> for CannedView<'a> {
    fn from(c: &'a Canned) -> Self {
        CannedView { id: c.id, shortcut: &c.shortcut, text: &c.text, updated_at: c.updated_at }
    }
}

//! Per-broadcast statistics and the public FAQ, computed from a broadcast's state.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rules::QaState;
use super::{Answer, Broadcast, BroadcastId, BroadcastState, QuestionId, Status};

/// How many top questions the statistics list.
const TOP_QUESTIONS: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub broadcast: BroadcastId,
    pub unique_participants: u64,
    pub peak_participants: u32,
    pub current_participants: u32,
    pub questions: QuestionCounts,
    pub votes: u64,
    pub top_questions: Vec<TopQuestion>,
    pub by_tag: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct QuestionCounts {
    pub asked: u64,
    pub approved: u64,
    pub answered: u64,
    pub hidden: u64,
    pub merged: u64,
    pub withdrawn: u64,
    pub pending: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopQuestion {
    pub id: QuestionId,
    pub text: String,
    pub votes: u32,
    pub status: Status,
}

pub fn stats(state: &QaState) -> Stats {
    let mut counts = QuestionCounts::default();
    let mut by_tag = BTreeMap::new();
    let mut votes = 0u64;
    for q in state.questions.values() {
        counts.asked += 1;
        match q.status {
            Status::Pending => counts.pending += 1,
            Status::Approved => counts.approved += 1,
            Status::Answered => counts.answered += 1,
            Status::Hidden => counts.hidden += 1,
            Status::Withdrawn => counts.withdrawn += 1,
            Status::Merged => counts.merged += 1,
        }
        votes += u64::from(q.votes);
        for tag in &q.tags {
            *by_tag.entry(tag.clone()).or_insert(0) += 1;
        }
    }
    // An answered question was approved too (or went straight to answered): count it as approved, so that
    // `asked` = `approved` + `hidden` + `merged` + `withdrawn` + `pending` (docs/protocol.md §8).
    counts.approved += counts.answered;
    let mut top: Vec<_> = state.questions.values().filter(|q| q.public && q.status != Status::Merged).collect();
    top.sort_by(|a, b| b.votes.cmp(&a.votes).then(a.id.cmp(&b.id)));
    Stats {
        broadcast: state.broadcast.id,
        unique_participants: state.participants.len() as u64,
        peak_participants: state.peak_participants,
        current_participants: state.current_participants,
        questions: counts,
        votes,
        top_questions: top
            .into_iter()
            .take(TOP_QUESTIONS)
            .map(|q| TopQuestion { id: q.id, text: q.text.clone(), votes: q.votes, status: q.status })
            .collect(),
        by_tag,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FaqGroup {
    pub broadcast: Broadcast,
    pub items: Vec<FaqItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaqItem {
    pub id: QuestionId,
    pub question: String,
    pub lang: &'static str,
    pub answer: Answer,
    pub votes: u32,
    pub tags: Vec<String>,
}

/// The FAQ entries of one broadcast: its answered questions, most wanted first; `None` while it is not over.
pub fn faq_group(state: &QaState) -> Option<FaqGroup> {
    if !matches!(state.broadcast.state, BroadcastState::Ended | BroadcastState::Archived) {
        return None;
    }
    let mut items: Vec<FaqItem> = state
        .questions
        .values()
        .filter(|q| q.status == Status::Answered && q.public)
        .filter_map(|q| {
            Some(FaqItem {
                id: q.id,
                question: q.text.clone(),
                lang: q.lang,
                answer: q.answer.clone()?,
                votes: q.votes,
                tags: q.tags.clone(),
            })
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    items.sort_by(|a, b| b.votes.cmp(&a.votes).then(a.id.cmp(&b.id)));
    Some(FaqGroup { broadcast: state.broadcast.clone(), items })
}

/// Statistics as CSV (docs/protocol.md §8 has the exact layout): `metric,value` rows, one per tag, a blank
/// line, then the top questions.
pub fn stats_csv(stats: &Stats) -> String {
    let q = &stats.questions;
    let rows: [(&str, u64); 12] = [
        ("unique_participants", stats.unique_participants),
        ("peak_participants", u64::from(stats.peak_participants)),
        ("current_participants", u64::from(stats.current_participants)),
        ("questions_asked", q.asked),
        ("questions_approved", q.approved),
        ("questions_answered", q.answered),
        ("questions_hidden", q.hidden),
        ("questions_merged", q.merged),
        ("questions_withdrawn", q.withdrawn),
        ("questions_pending", q.pending),
        ("votes", stats.votes),
        ("broadcast", stats.broadcast),
    ];
    let mut out = String::from("metric,value\n");
    for (name, value) in rows {
        out.push_str(&format!("{name},{value}\n"));
    }
    for (tag, count) in &stats.by_tag {
        // The whole cell quoted (`"tag:x"`), so every CSV reader takes it as one field.
        out.push_str(&format!("{},{count}\n", csv_field(&format!("tag:{tag}"))));
    }
    out.push_str("\nrank,question_id,votes,status,text\n");
    for (rank, t) in stats.top_questions.iter().enumerate() {
        let status =
            serde_json::to_value(t.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        out.push_str(&format!("{},{},{},{},{}\n", rank + 1, t.id, t.votes, status, csv_field(&t.text)));
    }
    out
}

/// Quotes a CSV field, and defuses spreadsheet formulas (a cell starting with = + - @ is prefixed with ').
pub(crate) fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    format!("\"{}\"", text.replace('"', "\"\""))
}

//! Figures for the ministry over a period: chats by category, language and ending, first waits, ratings, tags,
//! and offline messages. Computed from chat headers (no messages needed) and offline messages.

use std::collections::BTreeMap;

use serde::Serialize;

use super::offline::{OfflineMessage, OfflineStatus};
use super::{Category, Chat, ChatLang, ChatStatus, EndReason};
use crate::qa::stats::csv_field;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatReport {
    /// The period, `[from, to)` in Unix ms, over creation times.
    pub from: u64,
    pub to: u64,
    pub chats: u64,
    /// Every category, language and ending appears, with 0 where there were none.
    pub by_category: BTreeMap<Category, u64>,
    pub by_lang: BTreeMap<ChatLang, u64>,
    pub by_end_reason: BTreeMap<EndReason, u64>,
    /// Still waiting or active.
    pub open: u64,
    /// Reached an agent at least once.
    pub answered: u64,
    pub transferred: u64,
    /// First waits of the chats that reached an agent.
    pub waits: WaitFigures,
    pub ratings: RatingFigures,
    pub by_tag: BTreeMap<String, u64>,
    pub offline: OfflineFigures,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WaitFigures {
    pub count: u64,
    pub median_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RatingFigures {
    pub count: u64,
    /// Mean score, 1 to 5; `None` without ratings.
    pub average: Option<f64>,
    /// How many chats got 1, 2, 3, 4 and 5.
    pub by_score: [u64; 5],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfflineFigures {
    pub total: u64,
    pub open: u64,
    pub answered: u64,
    pub closed: u64,
    pub by_category: BTreeMap<Category, u64>,
}

/// The report over the chats and offline messages created in `[from, to)`.
pub fn report<'a>(
    chats: impl IntoIterator<Item = &'a Chat>,
    offline: impl IntoIterator<Item = &'a OfflineMessage>,
    from: u64,
    to: u64,
) -> ChatReport {
    let zero_categories: BTreeMap<Category, u64> = Category::ALL.into_iter().map(|c| (c, 0)).collect();
    let mut r = ChatReport {
        from,
        to,
        chats: 0,
        by_category: zero_categories.clone(),
        by_lang: ChatLang::ALL.into_iter().map(|l| (l, 0)).collect(),
        by_end_reason: END_REASONS.into_iter().map(|e| (e, 0)).collect(),
        open: 0,
        answered: 0,
        transferred: 0,
        waits: WaitFigures::default(),
        ratings: RatingFigures::default(),
        by_tag: BTreeMap::new(),
        offline: OfflineFigures { total: 0, open: 0, answered: 0, closed: 0, by_category: zero_categories },
    };
    let mut waits = Vec::new();
    let mut scores = 0u64;
    for chat in chats.into_iter().filter(|c| (from..to).contains(&c.created_at)) {
        r.chats += 1;
        *r.by_category.entry(chat.category).or_default() += 1;
        *r.by_lang.entry(chat.lang).or_default() += 1;
        if let Some(reason) = chat.end_reason {
            *r.by_end_reason.entry(reason).or_default() += 1;
        }
        r.open += u64::from(chat.status != ChatStatus::Ended);
        r.transferred += u64::from(chat.transfers > 0);
        if let Some(wait) = chat.first_wait_ms() {
            r.answered += 1;
            waits.push(wait);
        }
        if let Some(rating) = &chat.rating {
            r.ratings.count += 1;
            scores += u64::from(rating.score);
            if let Some(n) = r.ratings.by_score.get_mut(usize::from(rating.score).wrapping_sub(1)) {
                *n += 1;
            }
        }
        for tag in &chat.tags {
            *r.by_tag.entry(tag.clone()).or_default() += 1;
        }
    }
    r.waits = wait_figures(waits);
    r.ratings.average = (r.ratings.count > 0).then(|| scores as f64 / r.ratings.count as f64);
    for m in offline.into_iter().filter(|m| (from..to).contains(&m.created_at)) {
        r.offline.total += 1;
        *r.offline.by_category.entry(m.category).or_default() += 1;
        match m.status {
            OfflineStatus::Open => r.offline.open += 1,
            OfflineStatus::Answered => r.offline.answered += 1,
            OfflineStatus::Closed => r.offline.closed += 1,
        }
    }
    r
}

const END_REASONS: [EndReason; 5] =
    [EndReason::LeftQueue, EndReason::Citizen, EndReason::Agent, EndReason::Supervisor, EndReason::Abandoned];

fn wait_figures(mut waits: Vec<u64>) -> WaitFigures {
    waits.sort_unstable();
    // Nearest rank: the smallest wait at or above which `p` of the waits lie.
    let rank = |p: f64| waits.get(((p * waits.len() as f64).ceil() as usize).saturating_sub(1)).copied();
    WaitFigures { count: waits.len() as u64, median_ms: rank(0.5), p90_ms: rank(0.9), max_ms: waits.last().copied() }
}

/// The report as CSV: `metric,value` rows.
pub fn report_csv(r: &ChatReport) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("from".into(), r.from.to_string()),
        ("to".into(), r.to.to_string()),
        ("chats".into(), r.chats.to_string()),
        ("open".into(), r.open.to_string()),
        ("answered".into(), r.answered.to_string()),
        ("transferred".into(), r.transferred.to_string()),
    ];
    rows.extend(r.by_category.iter().map(|(c, n)| (format!("category:{}", c.as_str()), n.to_string())));
    rows.extend(r.by_lang.iter().map(|(l, n)| (format!("lang:{}", l.as_str()), n.to_string())));
    rows.extend(r.by_end_reason.iter().map(|(e, n)| (format!("ended:{}", end_name(*e)), n.to_string())));
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    rows.extend([
        ("wait_count".into(), r.waits.count.to_string()),
        ("wait_median_ms".into(), opt(r.waits.median_ms)),
        ("wait_p90_ms".into(), opt(r.waits.p90_ms)),
        ("wait_max_ms".into(), opt(r.waits.max_ms)),
        ("ratings".into(), r.ratings.count.to_string()),
        ("rating_average".into(), r.ratings.average.map(|a| format!("{a:.2}")).unwrap_or_default()),
    ]);
    rows.extend(r.ratings.by_score.iter().enumerate().map(|(i, n)| (format!("rating:{}", i + 1), n.to_string())));
    rows.extend([
        ("offline_total".into(), r.offline.total.to_string()),
        ("offline_open".into(), r.offline.open.to_string()),
        ("offline_answered".into(), r.offline.answered.to_string()),
        ("offline_closed".into(), r.offline.closed.to_string()),
    ]);
    rows.extend(r.offline.by_category.iter().map(|(c, n)| (format!("offline_category:{}", c.as_str()), n.to_string())));
    let mut out = String::from("metric,value\n");
    for (name, value) in rows {
        out.push_str(&format!("{name},{value}\n"));
    }
    for (tag, n) in &r.by_tag {
        // The whole cell quoted (`"tag:x"`), as in the broadcast statistics, so every CSV reader takes it as one
        // field whatever the tag holds.
        out.push_str(&format!("{},{n}\n", csv_field(&format!("tag:{tag}"))));
    }
    out
}

fn end_name(reason: EndReason) -> &'static str {
    match reason {
        EndReason::LeftQueue => "left_queue",
        EndReason::Citizen => "citizen",
        EndReason::Agent => "agent",
        EndReason::Supervisor => "supervisor",
        EndReason::Abandoned => "abandoned",
    }
}

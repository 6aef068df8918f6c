//! Between Redis replies and the domain: reading a broadcast's state out of script replies, and turning what a
//! command changed into the write operations of the commit script.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use redis::Value;
use serde::de::DeserializeOwned;
use serde_json::{json, Value as Json};

use super::conn::text;
use super::keys;
use crate::auth::unix_millis;
use crate::error::{Error, Result};
use crate::qa::rules::QaState;
use crate::qa::{Broadcast, Question, QuestionId};

/// A node's presence count older than this no longer counts (the node stopped refreshing it: it died).
pub const CONCURRENT_STALE_MS: u64 = 15_000;

/// The items of an array reply, read in order.
pub struct Items(std::vec::IntoIter<Value>);

impl Items {
    pub fn new(value: Value) -> Result<Self> {
        match value {
            Value::Array(items) => Ok(Items(items.into_iter())),
            other => Err(Error::internal(format_args!("a redis script replied {other:.200?}, not an array"))),
        }
    }

    pub fn value(&mut self) -> Result<Value> {
        self.0.next().ok_or_else(malformed)
    }

    pub fn text(&mut self) -> Result<String> {
        text(self.value()?).ok_or_else(malformed)
    }

    pub fn number<T: std::str::FromStr>(&mut self) -> Result<T> {
        self.text()?.parse().map_err(|_| malformed())
    }

    pub fn json<T: DeserializeOwned>(&mut self) -> Result<T> {
        serde_json::from_str(&self.text()?).map_err(|e| Error::internal(format_args!("stored JSON: {e}")))
    }

    pub fn items(&mut self) -> Result<Items> {
        Items::new(self.value()?)
    }

    /// The next item as an array, or `None` after the last item.
    pub fn next_items(&mut self) -> Result<Option<Items>> {
        self.0.next().map(Items::new).transpose()
    }

    pub fn texts(&mut self) -> Result<Vec<String>> {
        self.items()?.0.map(|v| text(v).ok_or_else(malformed)).collect()
    }

    /// A flat `[k, v, k, v, ...]` reply (HGETALL) as pairs.
    pub fn pairs(&mut self) -> Result<Vec<(String, String)>> {
        let flat = self.texts()?;
        let mut pairs = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(pairs)
    }
}

fn malformed() -> Error {
    Error::internal("malformed reply from a redis script")
}

fn pinned(text: String) -> Option<QuestionId> {
    text.parse().ok()
}

/// What the LOAD script returned, as a state the rules can run on.
pub struct Loaded {
    pub state: QaState,
    pub version: String,
    /// The vote version of each loaded question, if the command depends on who voted (a merge moves voters):
    /// the commit then checks they are unchanged. Other commands don't: their events take the vote count
    /// current at commit (see `store::VOTES_PLACEHOLDER`), so a stream of votes can't starve a moderator.
    pub vote_versions: Vec<(QuestionId, String)>,
    pub question_count: usize,
    pub asked: Option<QuestionId>,
    /// The settings version (`:sver`): what a new question is checked against (see the COMMIT script).
    pub settings_version: String,
}

impl Loaded {
    /// `asker` is the `(sub, client_msg_id)` of an ask the LOAD looked up.
    pub fn parse(reply: Value, asker: Option<(&str, &str)>, voters_matter: bool) -> Result<Option<Loaded>> {
        if reply == Value::Nil {
            return Ok(None);
        }
        let mut items = Items::new(reply)?;
        let broadcast: Broadcast = items.json()?;
        let version = items.text()?;
        let pinned = pinned(items.text()?);
        let muted: BTreeSet<String> = items.texts()?.into_iter().collect();
        let question_count = items.number()?;
        let asked: Option<QuestionId> = items.text()?.parse().ok();
        let mut questions = BTreeMap::new();
        let mut voters = HashMap::new();
        let mut vote_versions = vec![];
        let mut loaded = items.items()?;
        // Not `while let Ok(..) = loaded.items()`: reading past the end builds an internal error, which logs.
        while let Some(mut q) = loaded.next_items()? {
            let mut question: Question = q.json()?;
            question.votes = q.number()?;
            let vote_version = q.text()?;
            if voters_matter {
                vote_versions.push((question.id, vote_version));
            }
            voters.insert(question.id, q.texts()?.into_iter().collect::<HashSet<String>>());
            questions.insert(question.id, question);
        }
        let settings_version = items.text()?;
        let mut index = HashMap::new();
        if let (Some(id), Some((sub, cmid))) = (asked, asker) {
            // Only with its question: the rules take an index entry as proof the question is there.
            if questions.contains_key(&id) {
                index.insert((sub.to_string(), cmid.to_string()), id);
            }
        }
        let state = QaState::from_parts(broadcast, questions, voters, pinned, muted, index);
        Ok(Some(Loaded { state, version, vote_versions, question_count, asked, settings_version }))
    }
}

/// What the READ_ALL script returned.
pub struct Full {
    pub state: QaState,
    /// The generation it was read under: the room's epoch.
    pub generation: String,
    pub seq: u64,
    pub unique_participants: u64,
}

impl Full {
    /// `viewer` is the sub whose votes the read looked up.
    pub fn parse(reply: Value, viewer: &str) -> Result<Option<Full>> {
        if reply == Value::Nil {
            return Ok(None);
        }
        let mut items = Items::new(reply)?;
        let generation = items.text()?;
        let broadcast: Broadcast = items.json()?;
        let seq = items.number()?;
        let pinned = pinned(items.text()?);
        let mut questions = BTreeMap::new();
        for (_, json) in items.pairs()? {
            let q: Question =
                serde_json::from_str(&json).map_err(|e| Error::internal(format_args!("question: {e}")))?;
            questions.insert(q.id, q);
        }
        for (id, votes) in items.pairs()? {
            if let (Ok(id), Ok(votes)) = (id.parse::<QuestionId>(), votes.parse()) {
                if let Some(q) = questions.get_mut(&id) {
                    q.votes = votes;
                }
            }
        }
        let muted = items.texts()?.into_iter().collect();
        let voters = items
            .texts()?
            .into_iter()
            .filter_map(|id| id.parse().ok())
            .map(|id| (id, HashSet::from([viewer.to_string()])))
            .collect();
        let current = current_participants(items.pairs()?);
        let unique_participants = items.number()?;
        let peak: u32 = items.number()?;
        let mut state = QaState::from_parts(broadcast, questions, voters, pinned, muted, HashMap::new());
        state.current_participants = current;
        state.peak_participants = peak.max(current);
        Ok(Some(Full { state, generation, seq, unique_participants }))
    }
}

/// The sum of the fresh per-node counts (`count:at_ms`).
fn current_participants(counts: Vec<(String, String)>) -> u32 {
    let now = unix_millis();
    counts
        .iter()
        .filter_map(|(_, v)| v.split_once(':'))
        .filter_map(|(count, at)| Some((count.parse::<u32>().ok()?, at.parse::<u64>().ok()?)))
        .filter(|(_, at)| at + CONCURRENT_STALE_MS >= now)
        .map(|(count, _)| count)
        .sum()
}

/// The commit script's write operations for the difference between `before` and `after` (see `scripts`).
pub fn diff_ops(before: &Before, after: &QaState, asker: &str) -> Result<Vec<Json>> {
    let mut ops = vec![];
    for (id, q) in &after.questions {
        let old = before.questions.get(id);
        if old == Some(q) {
            continue;
        }
        if q.merged_into.is_some() && old.is_some_and(|o| o.merged_into.is_none()) {
            ops.push(json!(["merge", id.to_string(), q.merged_into.unwrap_or_default().to_string()]));
        }
        let stored = serde_json::to_string(q).map_err(Error::internal)?;
        ops.push(json!(["hset", ":q", id.to_string(), stored]));
        ops.push(json!(["hset", ":meta", id.to_string(), keys::vote_gate(q)]));
        if let (None, Some(cmid)) = (old, &q.client_msg_id) {
            ops.push(json!(["hset", ":asked", keys::asked(asker, cmid), id.to_string()]));
        }
        if old.is_none() {
            let member = format!("{}:{}", q.broadcast, q.id);
            ops.push(json!(["own", keys::person_prefix(&q.author_sub), id.to_string(), member]));
        }
    }
    if before.pinned != after.pinned {
        ops.push(match after.pinned {
            Some(id) => json!(["set", ":pinned", id.to_string()]),
            None => json!(["del", ":pinned"]),
        });
    }
    for user in after.muted.difference(&before.muted) {
        ops.push(json!(["sadd", ":muted", user]));
    }
    for user in before.muted.difference(&after.muted) {
        ops.push(json!(["srem", ":muted", user]));
    }
    if before.broadcast != after.broadcast {
        ops.push(json!(["set", ":bc", serde_json::to_string(&after.broadcast).map_err(Error::internal)?]));
        ops.push(json!(["hset", ":meta", "open", if after.broadcast.state.accepts_questions() { "1" } else { "0" }]));
    }
    Ok(ops)
}

/// The parts of a state a command may change, as loaded.
pub struct Before {
    pub broadcast: Broadcast,
    pub questions: BTreeMap<QuestionId, Question>,
    pub pinned: Option<QuestionId>,
    pub muted: BTreeSet<String>,
}

impl Before {
    pub fn of(state: &QaState) -> Self {
        Before {
            broadcast: state.broadcast.clone(),
            questions: state.questions.clone(),
            pinned: state.pinned,
            muted: state.muted.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    use super::*;
    use crate::qa::{BroadcastState, Localized};

    /// Counts the error events logged while it is the default subscriber.
    struct CountErrors(Arc<AtomicUsize>);

    impl<S: Subscriber> Layer<S> for CountErrors {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            if *event.metadata().level() == Level::ERROR {
                self.0.fetch_add(1, Relaxed);
            }
        }
    }

    fn text(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn json<T: serde::Serialize>(value: &T) -> Value {
        text(&serde_json::to_string(value).expect("BUG: test values serialize"))
    }

    fn question(id: QuestionId) -> Question {
        Question::sample(id, &format!("question {id}"))
    }

    /// A LOAD reply as the script builds it: broadcast, version, pinned, muted, count, asked, questions, settings
    /// version.
    fn load_reply(ids: &[QuestionId]) -> Value {
        let broadcast = Broadcast {
            id: 1,
            code: "b".into(),
            title: Localized::default(),
            description: Localized::default(),
            starts_at: 0,
            state: BroadcastState::Live,
            premoderation: false,
            allow_anonymous: false,
            max_question_len: 280,
            paused: false,
            created_at: 0,
            live_at: None,
            ended_at: None,
        };
        let questions = ids
            .iter()
            .map(|id| Value::Array(vec![json(&question(*id)), text("3"), text("1"), Value::Array(vec![text("v")])]))
            .collect();
        Value::Array(vec![
            json(&broadcast),
            text("9"),
            text(""),
            Value::Array(vec![]),
            text(&ids.len().to_string()),
            text(""),
            Value::Array(questions),
            text("2"),
        ])
    }

    /// Every Redis-mode command loads its state: reading the questions to their end once logged an internal
    /// error per command (and the logging alone starved a busy node).
    #[test]
    fn a_well_formed_load_reply_parses_without_logging_an_error() {
        let errors = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(CountErrors(Arc::clone(&errors)));
        let loaded = tracing::subscriber::with_default(subscriber, || {
            Loaded::parse(load_reply(&[4, 5]), None, true).expect("parses").expect("a broadcast")
        });
        assert_eq!(errors.load(Relaxed), 0, "errors logged");
        assert_eq!(loaded.question_count, 2);
        assert_eq!(loaded.vote_versions.len(), 2);
    }

    #[test]
    fn a_load_reply_that_is_not_an_array_is_an_internal_error() {
        assert!(Loaded::parse(text("oops"), None, false).is_err());
        assert!(matches!(Loaded::parse(Value::Nil, None, false), Ok(None)));
    }
}

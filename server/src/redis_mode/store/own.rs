//! A person's own questions, for their personal stream's snapshot: the index `mj:{u:<sub>}:qs` (written by the
//! commit of each new question) and the questions it names, as they are now.

use redis::Value;

use super::RedisStore;
use crate::error::{Error, Result};
use crate::qa::{BroadcastId, Question, QuestionId};
use crate::redis_mode::conn::text;
use crate::redis_mode::keys;
use crate::store::OWN_QUESTIONS;

impl RedisStore {
    /// `sub`'s latest questions, newest first, each with whether it is pinned now. A question whose broadcast
    /// is gone is left out.
    pub(super) async fn read_own_questions(&self, sub: &str) -> Result<Vec<(Question, bool)>> {
        let mut conn = self.redis.conn();
        let index = format!("{}:qs", keys::person_prefix(sub));
        let cmd = redis::cmd("ZREVRANGE").arg(index).arg(0).arg(OWN_QUESTIONS as i64 - 1).clone();
        let members: Vec<String> = self.redis.run("own questions", cmd.query_async(&mut conn)).await?;
        let ids: Vec<(BroadcastId, QuestionId)> = members.iter().filter_map(|m| parse_member(m)).collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut pipe = redis::pipe();
        for (broadcast, id) in &ids {
            let prefix = keys::prefix(*broadcast);
            pipe.cmd("HGET").arg(format!("{prefix}:q")).arg(*id);
            pipe.cmd("HGET").arg(format!("{prefix}:votes")).arg(*id);
            pipe.cmd("GET").arg(format!("{prefix}:pinned"));
        }
        let replies: Vec<Value> = self.redis.run("own questions", pipe.query_async(&mut conn)).await?;
        let mut own = Vec::with_capacity(ids.len());
        for (chunk, (_, id)) in replies.chunks(3).zip(&ids) {
            let [question, votes, pinned] = chunk else { continue };
            let Some(json) = text(question.clone()) else { continue };
            let mut q: Question =
                serde_json::from_str(&json).map_err(|e| Error::internal(format_args!("question: {e}")))?;
            q.votes = text(votes.clone()).and_then(|v| v.parse().ok()).unwrap_or(q.votes);
            let pinned = text(pinned.clone()).and_then(|p| p.parse::<QuestionId>().ok()) == Some(*id);
            own.push((q, pinned));
        }
        Ok(own)
    }
}

/// `<broadcast>:<question>`.
fn parse_member(member: &str) -> Option<(BroadcastId, QuestionId)> {
    let (broadcast, id) = member.split_once(':')?;
    Some((broadcast.parse().ok()?, id.parse().ok()?))
}

//! Desk commands: load the desk (and the command's chat), run the command, load the chats its effects name,
//! settle them, and commit everything with one version check on the desk and on each chat.

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use super::keys;
use super::plan::Plan;
use super::scripts::{LOAD_CHATS_SCRIPT, LOAD_DESK_SCRIPT};
use super::state::{parse_chats, LoadedDesk, Versioned};
use super::{backoff, gave_up, present, Committed, RedisChat, CHAT_IDS, MAX_ATTEMPTS};
use crate::auth::unix_millis;
use crate::chat::desk::Desk;
use crate::chat::rooms::{self, Scope};
use crate::chat::rules::{settle, unique, Change, ChatState, DeskApplied, Effect};
use crate::chat::{Chat, ChatId, EndReason};
use crate::error::{Error, ErrorCode, Result};

/// Which open chats a desk command loads beyond the queued ones (see LOAD_DESK).
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Every open chat (the desk room's snapshot).
    pub all: bool,
    /// The sweep's: chats of away citizens and of agents whose connection is down.
    pub sweep: bool,
    /// Citizens whose open chats it needs (a start's, or a batch of starts').
    pub citizens: Vec<String>,
    /// The command's chat: its open entry, and its header and version.
    pub chat: Option<ChatId>,
    /// Agents whose chats the command may hand back.
    pub agents: Vec<String>,
    /// Housekeeping: refused by the fence, it skips its round instead of adopting the new generation. Whoever
    /// adopts jumps the id counters past the ids it knows of; a node that only sweeps may know fewer than the
    /// node that wrote them, so adopting is left to the health checks and to commands.
    pub passive: bool,
}

impl Reach {
    pub fn agent(sub: &str) -> Self {
        Reach { agents: vec![sub.to_string()], ..Reach::default() }
    }

    pub fn citizen(sub: &str) -> Self {
        Reach { citizens: vec![sub.to_string()], ..Reach::default() }
    }
}

/// Between the citizens of a reach in LOAD_DESK's argument (a unit separator: never in a token's `sub`).
const CITIZEN_SEPARATOR: &str = "\u{1f}";

/// What a desk command gets: the desk, its chat's header (if it named one that exists), and the time.
pub struct DeskInput<'a> {
    pub desk: &'a mut Desk,
    pub chat: Option<&'a Chat>,
    pub now: u64,
    /// A fresh chat id, for a start (see [`RedisChat::on_desk`]).
    pub new_id: ChatId,
}

/// What a desk command returns: maybe a new chat (a start), and what it did.
pub type DeskOutcome<R> = (Option<ChatState>, DeskApplied<R>);

/// A desk command as `on_desk_turn` runs it.
pub type DeskRun<'r, R> = dyn FnMut(DeskInput<'_>) -> Result<DeskOutcome<R>> + Send + 'r;

impl RedisChat {
    /// Loads the desk as `reach` says, under `generation`; `None` if fenced.
    pub(super) async fn load_desk(&self, generation: &str, reach: &Reach) -> Result<Option<LoadedDesk>> {
        let mut call = LOAD_DESK_SCRIPT.prepare_invoke();
        let flags = format!("{}{}", if reach.all { "a" } else { "" }, if reach.sweep { "s" } else { "" });
        call.arg(generation)
            .arg(flags)
            .arg(reach.citizens.join(CITIZEN_SEPARATOR))
            .arg(reach.chat.map(|c| c.to_string()).unwrap_or_default());
        for agent in &reach.agents {
            call.arg(agent);
        }
        let mut conn = self.redis.conn();
        match self.redis.attempt::<Value>("load desk", call.invoke_async(&mut conn)).await? {
            None => Ok(None),
            Some(reply) => LoadedDesk::parse(reply, &self.agents).map(Some),
        }
    }

    /// Loads the desk under the current generation, adopting a new one as often as needed.
    pub(super) async fn read_desk(&self, reach: &Reach) -> Result<LoadedDesk> {
        for _ in 0..3 {
            let generation = self.redis.generation().await?;
            match self.load_desk(&generation, reach).await? {
                Some(loaded) => return Ok(loaded),
                None => {
                    self.redis.adopt_after(&generation).await?;
                }
            }
        }
        Err(Error::unavailable())
    }

    async fn load_chats(&self, generation: &str, ids: &[ChatId]) -> Result<Option<BTreeMap<ChatId, Versioned<Chat>>>> {
        if ids.is_empty() {
            return Ok(Some(BTreeMap::new()));
        }
        let mut call = LOAD_CHATS_SCRIPT.prepare_invoke();
        call.arg(generation);
        for id in ids {
            call.arg(*id);
        }
        let mut conn = self.redis.conn();
        match self.redis.attempt::<Value>("load chats", call.invoke_async(&mut conn)).await? {
            None => Ok(None),
            Some(reply) => parse_chats(reply, ids).map(Some),
        }
    }

    /// Runs one desk command to its commit, retrying on conflicts. `absent` are connection hashes that must have
    /// no live connection when it commits (else it fails with `present()`: the person is back, and the command
    /// no longer applies). `new_id`: the command starts a chat and takes an id.
    pub(super) async fn on_desk<R>(
        &self,
        reach: &Reach,
        absent: &[String],
        new_id: bool,
        mut run: impl FnMut(DeskInput<'_>) -> Result<DeskOutcome<R>> + Send,
    ) -> Result<R> {
        let turn = self.desk_turn.lock().await;
        let mut runs: [&mut DeskRun<'_, R>; 1] = [&mut run];
        let mut replies = self.on_desk_turn(&turn, reach, absent, new_id, &mut runs).await?;
        drop(turn);
        replies.pop().expect("BUG: one reply per command")
    }

    /// Runs several desk commands of one kind in one commit, in order, each on the desk the ones before it
    /// left (a batch of starts: see `lifecycle`), with this node's desk turn held. A command's own refusal is
    /// its reply and changes nothing; an error of the whole (Redis, too many conflicts) is everyone's.
    pub(super) async fn on_desk_turn<R>(
        &self,
        _turn: &tokio::sync::MutexGuard<'_, ()>,
        reach: &Reach,
        absent: &[String],
        new_ids: bool,
        runs: &mut [&mut DeskRun<'_, R>],
    ) -> Result<Vec<Result<R>>> {
        let mut ids: Vec<Option<ChatId>> = vec![None; if new_ids { runs.len() } else { 0 }];
        for attempt in 0..MAX_ATTEMPTS {
            let generation = self.redis.generation().await?;
            match self.desk_attempt(&generation, reach, absent, &mut ids, runs).await {
                Ok(Some(replies)) => return Ok(replies),
                Ok(None) => {}
                // A chat read after the desk that no longer fits it: another command moved both meanwhile.
                Err(e) if e.code == ErrorCode::Conflict && e.message == MOVED => {}
                Err(e) => return Err(e),
            }
            backoff(attempt).await;
        }
        Err(gave_up("desk"))
    }

    /// One attempt: `Ok(None)` to retry. A lone command's refusal is returned as the attempt's error, before
    /// anything else is loaded.
    async fn desk_attempt<R>(
        &self,
        generation: &str,
        reach: &Reach,
        absent: &[String],
        ids: &mut [Option<ChatId>],
        runs: &mut [&mut DeskRun<'_, R>],
    ) -> Result<Option<Vec<Result<R>>>> {
        let Some(mut loaded) = self.load_desk(generation, reach).await? else {
            return self.fenced(generation, ids, reach.passive).await;
        };
        for id in ids.iter_mut().filter(|id| id.is_none()) {
            match self.next_id(generation, CHAT_IDS).await? {
                Some(new) => *id = Some(new),
                None => return self.fenced(generation, ids, reach.passive).await,
            }
        }
        let before = loaded.desk.clone();
        let now = unix_millis();
        // The chats to settle: the command's (loaded with the desk), the new ones, and those the effects name.
        let mut chats: BTreeMap<ChatId, ChatState> = BTreeMap::new();
        let mut versions: BTreeMap<ChatId, (Option<Chat>, String)> = BTreeMap::new();
        if let Some(chat) = &loaded.chat {
            chats.insert(chat.value.id, ChatState::new(chat.value.clone()));
            versions.insert(chat.value.id, (Some(chat.value.clone()), chat.version.clone()));
        }
        let lone = runs.len() == 1;
        let mut outcomes = Vec::with_capacity(runs.len());
        for (i, run) in runs.iter_mut().enumerate() {
            let input = DeskInput {
                desk: &mut loaded.desk,
                chat: loaded.chat.as_ref().map(|c| &c.value),
                now,
                new_id: ids.get(i).copied().flatten().unwrap_or(0),
            };
            match run(input) {
                Ok((created, applied)) => {
                    if let Some(state) = created {
                        versions.insert(state.chat.id, (None, "0".into()));
                        chats.insert(state.chat.id, state);
                    }
                    outcomes.push(Ok(applied));
                }
                Err(e) if lone => return Err(e),
                Err(e) => outcomes.push(Err(e)),
            }
        }
        let missing: Vec<ChatId> = outcomes
            .iter()
            .flatten()
            .flat_map(DeskApplied::chats)
            .filter(|c| !chats.contains_key(c))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let Some(found) = self.load_chats(generation, &missing).await? else {
            return self.fenced(generation, ids, reach.passive).await;
        };
        for (chat_id, chat) in found {
            chats.insert(chat_id, ChatState::new(chat.value.clone()));
            versions.insert(chat_id, (Some(chat.value), chat.version));
        }
        if missing.iter().any(|c| !chats.contains_key(c)) {
            return Err(Error::internal("a desk command named a chat that is not stored"));
        }
        let known: BTreeSet<ChatId> =
            loaded.loaded.iter().chain(loaded.desk.open.keys()).chain(chats.keys()).copied().collect();
        let mut abandoned = Vec::new();
        for applied in outcomes.iter().flatten() {
            check_reach(applied, &known)?;
            abandoned.extend(
                applied
                    .effects
                    .iter()
                    .filter(|(_, e)| matches!(e, Effect::Ended { reason: EndReason::Abandoned }))
                    .map(|(id, _)| *id),
            );
        }
        let mut changes = Vec::new();
        let mut replies = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            replies.push(match outcome {
                Ok(applied) => match settle(applied, &mut chats, &self.policy, now) {
                    Ok(settled) => {
                        changes.extend(settled.changes);
                        Ok(settled.reply)
                    }
                    Err(e) if e.code == ErrorCode::Conflict => return Err(Error::conflict(MOVED)),
                    Err(e) => return Err(e),
                },
                Err(e) => Err(e),
            });
        }
        let changes = unique(changes);
        let mut plan = Plan::default();
        plan.desk(&before, &loaded.desk, &loaded.loaded, &loaded.version)?;
        for (chat_id, (header, version)) in &versions {
            plan.chat(header.as_ref(), version, &chats[chat_id], self.policy.retention_ms)?;
        }
        for key in absent {
            plan.absent(key.clone());
        }
        // A chat ends as abandoned only if its citizen is still without a connection, on every node: the away
        // mark is written apart from the desk's version (see `presence`), so the commit checks the connections.
        for chat_id in &abandoned {
            if let Some(open) = before.open.get(chat_id) {
                plan.absent(keys::conns(&open.citizen));
            }
        }
        let scope = Scope { desk: Some(&loaded.desk), chats: &chats, policy: &self.policy, now };
        plan.route(rooms::route(&changes, &scope), self.bounds)?;
        for (person, room) in rooms::revoked(&changes) {
            plan.revoke(room.key(), person);
        }
        match self.commit(generation, &plan).await? {
            Committed::Done => Ok(Some(replies)),
            Committed::Moved => Ok(None),
            Committed::Present => Err(present()),
            Committed::Fenced => self.fenced(generation, ids, reach.passive).await,
        }
    }

    /// A step was refused by the fence: adopt the current generation and start over (with a new id, if one);
    /// `passive` housekeeping gives up instead (see [`Reach::passive`]).
    async fn fenced<R>(&self, generation: &str, ids: &mut [Option<ChatId>], passive: bool) -> Result<Option<R>> {
        if passive {
            return Err(Error::unavailable());
        }
        self.redis.adopt_after(generation).await?;
        ids.fill(None);
        Ok(None)
    }
}

/// What `settle` says when a chat no longer fits the desk it was read after (see `rules::Effect`).
const MOVED: &str = "This chat changed meanwhile; try again.";

/// A desk command acts only on the open chats it loaded: anything else would write over what it never read.
/// The reach of each command is chosen so this holds; this makes sure of it.
fn check_reach<R>(applied: &DeskApplied<R>, known: &BTreeSet<ChatId>) -> Result<()> {
    let named = applied.changes.iter().filter_map(|c| match c {
        Change::Open(id) | Change::Position(id) => Some(*id),
        Change::Assigned { chat, .. } | Change::Released { chat, .. } => Some(*chat),
        _ => None,
    });
    match named.chain(applied.effects.iter().map(|(id, _)| *id)).find(|id| !known.contains(id)) {
        Some(id) => Err(Error::internal(format_args!("a desk command reached chat {id}, which it did not load"))),
        None => Ok(()),
    }
}

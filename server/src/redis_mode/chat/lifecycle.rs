//! The desk commands a chat's life goes through, each run by `desk::on_desk` with the reach it needs: start,
//! end, take, transfer, hand back, agents' availability and caps, and the sweep.

use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::{oneshot, MutexGuard};

use super::desk::{DeskInput, DeskRun, Reach};
use super::RedisChat;
use crate::auth::User;
use crate::chat::hours::Schedule;
use crate::chat::rules::{DeskApplied, DeskCommand, DeskReply, StartContext, Started};
use crate::chat::StartForm;
use crate::error::{Error, Result};

/// Most starts one desk commit takes (a batch's commit grows with it; the rest go with the next turn).
pub const MAX_START_BATCH: usize = 32;

/// A start waiting for this node's desk turn (see [`RedisChat::start`]).
pub struct PendingStart {
    actor: User,
    form: StartForm,
    /// The citizen's start limit, looked at as the start came in: the desk's refusals still come first.
    admitted: Result<()>,
    reply: oneshot::Sender<Result<Started>>,
}

impl PendingStart {
    fn answer(self, reply: Result<Started>) {
        // Its caller may be gone (a closed connection): nobody is left to tell.
        let _ = self.reply.send(reply);
    }
}

impl RedisChat {
    /// A citizen starts a chat. What the desk would refuse anyway is said first; then `admit` (the citizen's
    /// start limit, which looks without taking) may refuse it. Starts wait for this node's desk turn together:
    /// whoever gets the turn takes every waiting start with it (at most [`MAX_START_BATCH`]) into one load and
    /// one commit of the desk, so a burst of citizens costs a few desk commits, not one each, and conflicts
    /// across nodes no more often.
    pub async fn start(
        &self,
        actor: &User,
        form: StartForm,
        admit: &(dyn Fn() -> Result<()> + Send + Sync),
    ) -> Result<Started> {
        let (reply, mut answer) = oneshot::channel();
        let waiting = PendingStart { actor: actor.clone(), form, admitted: admit(), reply };
        self.starts.lock().expect("BUG: pending starts lock poisoned").push_back(waiting);
        loop {
            tokio::select! {
                biased;
                // A leader that was cancelled dropped the batch: nothing is known of its commit.
                answer = &mut answer => return answer.unwrap_or_else(|_| Err(Error::unavailable())),
                turn = self.desk_turn.lock() => {
                    let batch: Vec<PendingStart> = {
                        let mut starts = self.starts.lock().expect("BUG: pending starts lock poisoned");
                        let n = starts.len().min(MAX_START_BATCH);
                        starts.drain(..n).collect()
                    };
                    // Empty: ours went with an earlier turn, and its answer is in.
                    if !batch.is_empty() {
                        self.start_batch(&turn, batch).await;
                    }
                }
            }
        }
    }

    /// Runs a batch of starts in order on one desk, and answers each.
    async fn start_batch(&self, turn: &MutexGuard<'_, ()>, batch: Vec<PendingStart>) {
        self.metrics.chat_start_batches.fetch_add(1, Relaxed);
        self.metrics.chat_starts.fetch_add(batch.len() as u64, Relaxed);
        let schedule = match self.schedule().await {
            Ok(schedule) => schedule,
            Err(e) => return batch.into_iter().for_each(|start| start.answer(Err(e.clone()))),
        };
        let ctx = StartContext { schedule: &schedule, consent: &self.consent };
        let mut citizens: Vec<String> = batch.iter().map(|s| s.actor.sub.clone()).collect();
        citizens.sort_unstable();
        citizens.dedup();
        let reach = Reach { citizens, ..Reach::default() };
        let replies = {
            let mut runs: Vec<Box<DeskRun<'_, Started>>> = batch
                .iter()
                .map(|start| {
                    let run = |input: DeskInput<'_>| {
                        if let Some(started) =
                            input.desk.started_before(&start.actor, &start.form, &self.policy, input.now)
                        {
                            return Ok((None, DeskApplied::nothing(started)));
                        }
                        input.desk.admits_start(&start.actor, start.form.lang, &schedule, &self.policy, input.now)?;
                        start.admitted.clone()?;
                        let (state, applied) = input.desk.start(
                            &start.actor,
                            start.form.clone(),
                            input.new_id,
                            &ctx,
                            &self.policy,
                            input.now,
                        )?;
                        Ok((Some(state), applied))
                    };
                    Box::new(run) as Box<DeskRun<'_, Started>>
                })
                .collect();
            let mut runs: Vec<&mut DeskRun<'_, Started>> = runs.iter_mut().map(|run| &mut **run).collect();
            self.on_desk_turn(turn, &reach, &[], true, &mut runs).await
        };
        match replies {
            Ok(replies) => batch.into_iter().zip(replies).for_each(|(start, reply)| start.answer(reply)),
            Err(e) => batch.into_iter().for_each(|start| start.answer(Err(e.clone()))),
        }
    }

    /// A desk command (`Desk::apply`): end, take, transfer, requeue, an agent's status or cap. It reaches the
    /// command's chat and the chats of the actor (and of the agent whose cap it sets), besides the queued ones.
    pub async fn desk_command(&self, actor: &User, command: DeskCommand) -> Result<DeskReply> {
        let mut reach = Reach { chat: command.chat(), agents: vec![actor.sub.clone()], ..Reach::default() };
        if let DeskCommand::Cap { agent, .. } = &command {
            reach.agents.push(agent.clone());
        }
        self.on_desk(&reach, &[], false, |input| {
            Ok((None, input.desk.apply(actor, command.clone(), input.chat, &self.policy, input.now)?))
        })
        .await
    }

    /// Housekeeping, every second or so on every node: dead nodes' connections taken out, then the desk's sweep
    /// (grace periods, resume windows). Several nodes sweeping at once conflict on the desk's version, and only
    /// one commits each change; a sweep that changes nothing commits nothing.
    pub async fn sweep(&self) -> Result<()> {
        self.reap().await?;
        let reach = Reach { sweep: true, passive: true, ..Reach::default() };
        let swept = self.on_desk(&reach, &[], false, |input| Ok((None, input.desk.sweep(&self.policy, input.now))));
        match swept.await {
            // A citizen it would have ended as abandoned came back meanwhile: the next sweep sees them back.
            Err(e) if super::is_present(&e) => Ok(()),
            other => other,
        }
    }

    /// The business hours as they are now.
    pub async fn schedule(&self) -> Result<Schedule> {
        self.read_schedule().await
    }
}

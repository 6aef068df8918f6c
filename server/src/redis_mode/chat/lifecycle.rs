//! The desk commands a chat's life goes through, each run by `desk::on_desk` with the reach it needs: start,
//! end, take, transfer, hand back, agents' availability and caps, and the sweep.

use super::desk::Reach;
use super::RedisChat;
use crate::auth::User;
use crate::chat::hours::Schedule;
use crate::chat::rules::{DeskCommand, DeskReply, StartContext, Started};
use crate::chat::StartForm;
use crate::error::Result;

impl RedisChat {
    /// A citizen starts a chat. What the desk would refuse anyway is said first; then `admit` (the citizen's
    /// start limit, which looks without taking) may refuse it.
    pub async fn start(
        &self,
        actor: &User,
        form: StartForm,
        admit: &(dyn Fn() -> Result<()> + Send + Sync),
    ) -> Result<Started> {
        let schedule = self.schedule().await?;
        let ctx = StartContext { schedule: &schedule, consent: &self.consent };
        self.on_desk(&Reach::citizen(&actor.sub), &[], true, |input| {
            input.desk.admits_start(actor, form.lang, &schedule, &self.policy, input.now)?;
            admit()?;
            let (state, applied) =
                input.desk.start(actor, form.clone(), input.new_id, &ctx, &self.policy, input.now)?;
            Ok((Some(state), applied))
        })
        .await
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

//! The desk commands a chat's life goes through, each run by `desk::on_desk` with the reach it needs: start,
//! end, take, transfer, hand back, agents' availability and caps, and the sweep.

use super::desk::Reach;
use super::RedisChat;
use crate::auth::User;
use crate::chat::desk::Agent;
use crate::chat::hours::Schedule;
use crate::chat::rules::{StartContext, Started};
use crate::chat::{Availability, ChatId, ChatLang, StartForm};
use crate::error::Result;

impl RedisChat {
    pub async fn start(&self, actor: &User, form: StartForm) -> Result<Started> {
        let schedule = self.schedule().await?;
        let ctx = StartContext { schedule: &schedule, consent: &self.consent };
        self.on_desk(&Reach::citizen(&actor.sub), &[], true, |input| {
            let (state, applied) =
                input.desk.start(actor, form.clone(), input.new_id, &ctx, &self.policy, input.now)?;
            Ok((Some(state), applied))
        })
        .await
    }

    pub async fn end(&self, chat: ChatId, actor: &User) -> Result<()> {
        self.on_chat_desk(chat, actor, |desk, c, now| desk.end(c, actor, &self.policy, now)).await
    }

    pub async fn take(&self, chat: ChatId, actor: &User) -> Result<()> {
        self.on_chat_desk(chat, actor, |desk, c, now| desk.take(c, actor, &self.policy, now)).await
    }

    pub async fn transfer(&self, chat: ChatId, actor: &User, to: &str, note: Option<String>) -> Result<()> {
        self.on_chat_desk(chat, actor, |desk, c, now| desk.transfer(c, actor, to, note.clone(), &self.policy, now))
            .await
    }

    pub async fn requeue(&self, chat: ChatId, actor: &User, note: Option<String>) -> Result<()> {
        self.on_chat_desk(chat, actor, |desk, c, now| desk.requeue(c, actor, note.clone(), &self.policy, now)).await
    }

    /// A desk command on one existing chat.
    async fn on_chat_desk(
        &self,
        chat: ChatId,
        actor: &User,
        mut run: impl FnMut(
            &mut crate::chat::desk::Desk,
            &crate::chat::Chat,
            u64,
        ) -> Result<crate::chat::rules::DeskApplied<()>>,
    ) -> Result<()> {
        // The agents whose chats a command on this chat may hand on: the actor's (for its own load).
        let reach = Reach { chat: Some(chat), agents: vec![actor.sub.clone()], ..Reach::default() };
        self.on_desk(&reach, &[], false, |input| {
            let c = input.chat.ok_or_else(super::no_chat)?;
            Ok((None, run(input.desk, c, input.now)?))
        })
        .await
    }

    pub async fn set_status(
        &self,
        actor: &User,
        availability: Availability,
        languages: Option<Vec<ChatLang>>,
    ) -> Result<Agent> {
        self.on_desk(&Reach::agent(&actor.sub), &[], false, |input| {
            Ok((None, input.desk.set_status(actor, availability, languages.clone(), &self.policy, input.now)?))
        })
        .await
    }

    pub async fn set_cap(&self, actor: &User, agent: &str, cap: Option<u32>) -> Result<Agent> {
        self.on_desk(&Reach::agent(agent), &[], false, |input| {
            Ok((None, input.desk.set_cap(actor, agent, cap, &self.policy, input.now)?))
        })
        .await
    }

    /// Housekeeping, every second or so on every node: dead nodes' connections taken out, then the desk's sweep
    /// (grace periods, resume windows). Several nodes sweeping at once conflict on the desk's version, and only
    /// one commits each change; a sweep that changes nothing commits nothing.
    pub async fn sweep(&self) -> Result<()> {
        self.reap().await?;
        let reach = Reach { sweep: true, ..Reach::default() };
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

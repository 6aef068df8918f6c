//! The desk commands about people rather than one chat: agents' availability, caps and connections, citizens'
//! presence, and the periodic sweep that acts on what those started (grace periods and resume windows).

use std::collections::BTreeSet;

use super::desk::Work;
use super::{Change, DeskApplied, Effect};
use crate::auth::User;
use crate::chat::desk::{Agent, Desk, OpenChat};
use crate::chat::policy::ChatPolicy;
use crate::chat::{is_desk_staff, is_supervisor, Availability, ChatId, ChatLang, EndReason, RequeueReason};
use crate::error::{Error, Result};

impl Desk {
    /// An agent or admin sets their availability and, optionally, the languages they serve (kept otherwise).
    /// Going offline hands their chats back to the front of the queue.
    pub fn set_status(
        &mut self,
        actor: &User,
        availability: Availability,
        languages: Option<Vec<ChatLang>>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<DeskApplied<Agent>> {
        if !is_desk_staff(actor.role) {
            return Err(Error::forbidden("Only agents and admins work the desk."));
        }
        let known = self.agents.get(&actor.sub);
        if known.is_none() && self.agents.len() >= policy.max_agents {
            return Err(Error::conflict("The desk has no room for another agent."));
        }
        let languages: BTreeSet<ChatLang> = match languages {
            Some(languages) => languages.into_iter().collect(),
            None => known.map(|a| a.languages.clone()).unwrap_or_default(),
        };
        if availability == Availability::Available && languages.is_empty() {
            return Err(Error::bad_request("Choose the languages you serve."));
        }
        let agent = self
            .agents
            .entry(actor.sub.clone())
            .or_insert_with(|| Agent::new(actor.sub.clone(), actor.name.clone(), now));
        agent.name = actor.name.clone();
        agent.languages = languages;
        // The command came over a live connection.
        agent.disconnected_at = None;
        if availability == Availability::Available && agent.availability != Availability::Available {
            agent.idle_since = now;
        }
        agent.availability = availability;
        let mut work = Work::default();
        work.changes.push(Change::Agent(actor.sub.clone()));
        if availability == Availability::Offline {
            self.hand_back_all(&actor.sub, RequeueReason::AgentOffline, &mut work, now);
        }
        let work = self.finish(work, policy, now);
        Ok(work.into_applied(self.agents[&actor.sub].clone()))
    }

    /// An admin sets an agent's own cap (`None`: back to the default). A cap below the agent's load takes nothing
    /// from them; they get no new chat until they are under it.
    pub fn set_cap(
        &mut self,
        actor: &User,
        agent: &str,
        cap: Option<u32>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<DeskApplied<Agent>> {
        if !is_supervisor(actor.role) {
            return Err(Error::forbidden("Only admins set an agent's cap."));
        }
        if cap.is_some_and(|cap| cap == 0 || cap > policy.max_agent_cap) {
            return Err(Error::bad_request(format!("A cap is 1 to {}.", policy.max_agent_cap)));
        }
        let entry = self.agents.get_mut(agent).ok_or_else(|| Error::not_found("No such agent on the desk."))?;
        entry.max_chats = cap;
        let mut work = Work::default();
        work.changes.push(Change::Agent(agent.to_string()));
        let work = self.finish(work, policy, now);
        Ok(work.into_applied(self.agents[agent].clone()))
    }

    /// A member of staff's connection is up again: their grace period stops, they may be routed chats again.
    pub fn agent_connected(&mut self, actor: &User, policy: &ChatPolicy, now: u64) -> DeskApplied<()> {
        let mut work = Work::default();
        if let Some(agent) = self.agents.get_mut(&actor.sub) {
            if agent.disconnected_at.take().is_some() {
                work.changes.push(Change::Agent(actor.sub.clone()));
            }
        }
        self.finish(work, policy, now).into_applied(())
    }

    /// A member of staff's last connection dropped: they keep their chats for the grace period ([`Desk::sweep`])
    /// but are routed none meanwhile.
    pub fn agent_disconnected(&mut self, sub: &str, now: u64) -> DeskApplied<()> {
        let mut work = Work::default();
        if let Some(agent) = self.agents.get_mut(sub) {
            if agent.disconnected_at.is_none() {
                agent.disconnected_at = Some(now);
                work.changes.push(Change::Agent(sub.to_string()));
            }
        }
        work.into_applied(())
    }

    /// A citizen's last connection to their chat dropped (`present: false`) or one came back: the resume window
    /// runs while they are away ([`Desk::sweep`]). The desk hears of it only once they have been away
    /// `away_notice_ms` (the sweep tells it), and of their return only if it heard they were away: a blip, or
    /// every citizen reconnecting at once, sends nothing to the desk.
    pub fn citizen_presence(
        &mut self,
        chat: ChatId,
        citizen: &str,
        present: bool,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<DeskApplied<()>> {
        let mut work = Work::default();
        let Some(open) = self.open.get_mut(&chat) else { return Ok(work.into_applied(())) };
        if open.citizen != citizen {
            return Err(Error::forbidden("This is not your chat."));
        }
        let away = if present { None } else { open.citizen_away_since.or(Some(now)) };
        if away == open.citizen_away_since {
            return Ok(work.into_applied(()));
        }
        open.citizen_away_since = away;
        let shown = away.is_some() && policy.away_notice_ms == 0;
        if shown != open.citizen_away_shown {
            open.citizen_away_shown = shown;
            work.changes.push(Change::Open(chat));
        }
        Ok(work.into_applied(()))
    }

    /// The sweep's share of presence: citizens away for `away_notice_ms` are shown away on the desk.
    fn show_away(&mut self, policy: &ChatPolicy, now: u64, work: &mut Work) {
        let noticed = |c: &OpenChat| {
            !c.citizen_away_shown
                && c.citizen_away_since.is_some_and(|at| now.saturating_sub(at) >= policy.away_notice_ms)
        };
        for (id, open) in self.open.iter_mut().filter(|(_, c)| noticed(c)) {
            open.citizen_away_shown = true;
            work.changes.push(Change::Open(*id));
        }
    }

    /// Housekeeping, run every second or so: chats whose citizen was away past the resume window end as
    /// abandoned; agents whose connection stayed down past the grace period go offline and their chats go back
    /// to the front of the queue, where other agents pick them up.
    pub fn sweep(&mut self, policy: &ChatPolicy, now: u64) -> DeskApplied<()> {
        let mut work = Work::default();
        self.show_away(policy, now, &mut work);
        let abandoned: Vec<ChatId> = self
            .open
            .iter()
            .filter(|(_, c)| c.citizen_away_since.is_some_and(|at| now.saturating_sub(at) >= policy.resume_window_ms))
            .map(|(id, _)| *id)
            .collect();
        for id in abandoned {
            self.close(id, &mut work);
            work.effects.push((id, Effect::Ended { reason: EndReason::Abandoned }));
        }
        let gone: Vec<String> = self
            .agents
            .values()
            .filter(|a| a.disconnected_at.is_some_and(|at| now.saturating_sub(at) >= policy.agent_grace_ms))
            .filter(|a| a.availability != Availability::Offline || !a.chats.is_empty())
            .map(|a| a.sub.clone())
            .collect();
        for sub in gone {
            self.hand_back_all(&sub, RequeueReason::AgentDisconnected, &mut work, now);
            if let Some(agent) = self.agents.get_mut(&sub) {
                agent.availability = Availability::Offline;
            }
            work.changes.push(Change::Agent(sub));
        }
        self.finish(work, policy, now).into_applied(())
    }
}

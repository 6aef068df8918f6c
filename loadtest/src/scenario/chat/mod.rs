//! `chat`: live chats with agents (docs/protocol.md §10). `--agents` agents join the desk and go available in
//! the run's languages (an admin sets each one's cap over REST); `--chats` citizens each start a chat and join
//! `chat:<id>`; the server routes the chats and each agent joins the staff room of every chat it is assigned.
//! Then both sides write every `--message-every-secs`, typing first, and acknowledge the other side's messages
//! with receipts. Optionally, at `--storm-at-secs`, every citizen drops at once and comes back with `since`.
//!
//! Measured: message latency (send to the message event at the other side), typing and receipt latency, the
//! time from a chat's start to its agent's `assigned`, routing throughput; checked: every chat assigned, every
//! acked message seen exactly once by the other side, no gap in any side's message or event `seq`.
//!
//! One process holds both sides of every chat (the checks match them), so the run is bounded by one process's
//! open files: about 19,800 connections.

mod agent;
mod citizen;
mod conn;
mod frames;
mod ledger;
mod setup;
mod shared;
mod side;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::agent::{Agent, AgentEnd};
use self::citizen::{Citizen, CitizenEnd};
use self::shared::Shared;
use super::{drain, failures_warning, join_all, sleep_until};
use crate::ctx::Ctx;
use crate::report::{Merge, Report};

#[derive(clap::Args, Debug, Clone, Serialize)]
#[group(skip)]
pub struct Chat {
    /// Concurrent chats: one citizen (one connection) each.
    #[arg(long, env = "MAJLIS_LOADTEST_CHATS", default_value_t = 100)]
    pub chats: u64,

    /// Agents on the desk (one connection each; the server holds at most --chat-max-agents, 500 by default).
    #[arg(long, env = "MAJLIS_LOADTEST_AGENTS", default_value_t = 10)]
    pub agents: u64,

    /// Each agent's cap, set by an admin over REST as the agent joins the desk (default: chats / agents,
    /// rounded up, so that every chat finds an agent at once). Agents × cap must hold every chat.
    #[arg(long, env = "MAJLIS_LOADTEST_AGENT_CAP")]
    pub agent_cap: Option<u32>,

    /// Leave the caps alone (the server's --chat-agent-cap then decides).
    #[arg(long, env = "MAJLIS_LOADTEST_NO_SET_CAPS")]
    pub no_set_caps: bool,

    /// Leave the server's business hours alone (by default the run opens the desk around the clock with
    /// PUT /api/chat/hours, so it does not depend on the time of day).
    #[arg(long, env = "MAJLIS_LOADTEST_KEEP_HOURS")]
    pub keep_hours: bool,

    /// Languages of the chats (citizens take them in turn; agents serve all of them).
    #[arg(long, env = "MAJLIS_LOADTEST_CHAT_LANGS", value_delimiter = ',', default_value = "ar,en")]
    pub langs: Vec<String>,

    /// Each side of each chat writes a message this often (from a random phase).
    #[arg(long, env = "MAJLIS_LOADTEST_MESSAGE_EVERY_SECS", default_value_t = 10.0)]
    pub message_every_secs: f64,

    /// A typing indicator goes this long before each message (0: none).
    #[arg(long, env = "MAJLIS_LOADTEST_TYPING_LEAD_MS", default_value_t = 1000)]
    pub typing_lead_ms: u64,

    /// Send no receipts.
    #[arg(long, env = "MAJLIS_LOADTEST_NO_RECEIPTS")]
    pub no_receipts: bool,

    /// Agents don't join the desk room (only their own stream and their chats' staff rooms).
    #[arg(long, env = "MAJLIS_LOADTEST_NO_DESK")]
    pub no_desk: bool,

    /// Seconds into the steady phase at which every citizen drops its connection at once (a reset) and comes
    /// back with the documented backoff, rejoining with `since` (default: no storm).
    #[arg(long, env = "MAJLIS_LOADTEST_STORM_AT_SECS")]
    pub storm_at_secs: Option<f64>,

    #[command(flatten)]
    #[serde(flatten)]
    pub backoff: crate::clock::Backoff,

    /// The consent line's version the pre-chat form names (the server's --chat-consent-version); by default it
    /// is read from GET /api/chat/start-info.
    #[arg(long, env = "MAJLIS_LOADTEST_CONSENT_VERSION")]
    pub consent_version: Option<String>,
}

/// What every client of the run needs to know.
pub struct Plan {
    pub langs: Vec<String>,
    pub consent_version: String,
    pub period: Duration,
    pub typing_lead: Duration,
    pub receipts: bool,
    pub desk: bool,
    /// The cap to set over REST, if any.
    pub cap: Option<u32>,
    pub backoff: (Duration, Duration),
}

/// The next thing a side does on its own for a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    Typing,
    Send,
}

impl Plan {
    /// What comes first for a message due at `send_at`: its typing indicator, unless there is none or its time
    /// has passed.
    pub fn first_due(&self, send_at: Instant) -> (Instant, Due) {
        match send_at.checked_sub(self.typing_lead) {
            Some(at) if !self.typing_lead.is_zero() && at > Instant::now() => (at, Due::Typing),
            _ => (send_at, Due::Send),
        }
    }
}

/// The run's turning points, as every client sees them.
#[derive(Clone)]
pub struct Phases {
    /// The end of the steady phase: nobody writes after it.
    pub stop_writing: CancellationToken,
    /// After the drain: every client ends.
    pub stop: CancellationToken,
    /// When every citizen drops (a storm), if any.
    pub storm: Option<Instant>,
}

impl Chat {
    fn cap(&self) -> u32 {
        self.agent_cap.unwrap_or_else(|| self.chats.div_ceil(self.agents.max(1)).max(1) as u32)
    }

    fn plan(&self) -> Plan {
        Plan {
            langs: self.langs.clone(),
            consent_version: self.consent_version.clone().unwrap_or_default(),
            period: Duration::from_secs_f64(self.message_every_secs.max(0.01)),
            typing_lead: Duration::from_millis(self.typing_lead_ms),
            receipts: !self.no_receipts,
            desk: !self.no_desk,
            cap: (!self.no_set_caps).then(|| self.cap()),
            backoff: self.backoff.durations(),
        }
    }
}

impl super::Scenario for Chat {
    const NAME: &'static str = "chat";

    fn planned_connections(&self) -> u64 {
        self.chats + self.agents
    }

    async fn prepare(&mut self, ctx: &Ctx) -> Result<()> {
        if ctx.common.processes > 1 {
            bail!("the chat scenario runs in one process (it matches both sides of every chat): drop --processes");
        }
        if self.agents == 0 || self.langs.is_empty() {
            bail!("the chat scenario needs at least one agent and one language");
        }
        if self.agents * u64::from(self.cap()) < self.chats {
            bail!(
                "{} agents with a cap of {} hold {} chats, fewer than --chats {}: raise --agent-cap or --agents",
                self.agents,
                self.cap(),
                self.agents * u64::from(self.cap()),
                self.chats
            );
        }
        if !self.keep_hours {
            setup::open_around_the_clock(ctx).await?;
        }
        if self.consent_version.is_none() {
            self.consent_version = Some(setup::consent_version(ctx.node(0)).await?);
        }
        Ok(())
    }

    async fn run(&self, ctx: Arc<Ctx>, report: &mut Report) -> Result<()> {
        let shared = Arc::new(Shared::new(self.chats, self.agents));
        let plan = Arc::new(self.plan());
        let storm = self.storm_at_secs.map(|s| ctx.schedule.ramp_end() + Duration::from_secs_f64(s.max(0.0)));
        let phases = Phases { stop_writing: ctx.deadline.child_token(), stop: ctx.deadline.child_token(), storm };
        let mut agents = JoinSet::new();
        for k in 0..self.agents {
            let agent = Agent {
                ctx: Arc::clone(&ctx),
                plan: Arc::clone(&plan),
                shared: Arc::clone(&shared),
                phases: phases.clone(),
                i: self.chats + k,
            };
            agents.spawn(agent.run());
        }
        let mut citizens = JoinSet::new();
        for i in 0..self.chats {
            let citizen = Citizen {
                ctx: Arc::clone(&ctx),
                plan: Arc::clone(&plan),
                shared: Arc::clone(&shared),
                phases: phases.clone(),
                i,
                n: i,
                of: self.chats,
            };
            citizens.spawn(citizen.run());
        }
        sleep_until(ctx.schedule.steady_end(), &ctx.deadline).await;
        phases.stop_writing.cancel();
        drain(&ctx, report).await;
        phases.stop.cancel();
        let (citizens, failed) = join_all(citizens).await;
        report.warnings.extend(failures_warning("citizens", &failed));
        let (agents, failed) = join_all(agents).await;
        report.warnings.extend(failures_warning("agents", &failed));
        self.account(&ctx, &shared, citizens, agents, report);
        Ok(())
    }

    fn finish(&self, report: &mut Report) {
        let figures = report.figures.clone();
        let f = |name: &str| figures.get(name).map(|f| f.value).unwrap_or(0.0);
        let (chats, assigned) = (f("chats started"), f("chats assigned"));
        report.check(
            "every chat started and was assigned",
            chats == self.chats as f64 && assigned == chats,
            format!("{assigned} of {chats} started ({} planned)", self.chats),
        );
        let lost = f("messages lost");
        report.check("no message lost", lost == 0.0, format!("{lost} lost"));
        let away = f("messages unseen: receiver away at the end");
        report.check(
            "every receiver back and caught up at the end",
            away == 0.0,
            format!("{away} messages not yet offered to a side still reconnecting (raise --drain-secs)"),
        );
        let duplicated = f("messages duplicated");
        report.check("no message duplicated", duplicated == 0.0, format!("{duplicated} duplicated"));
        let gaps = f("message seq gaps");
        report.check("no gap in any chat's message seq", gaps == 0.0, format!("{gaps} missing"));
        let c = report.counters;
        report.check(
            "no gap in any room's event seq",
            c.missing == 0 && c.duplicates == 0,
            format!("{} missing, {} repeated", c.missing, c.duplicates),
        );
        let unacked = f("sends never acked");
        report.check("every send acked", unacked == 0.0, format!("{unacked} unacked"));
        if self.storm_at_secs.is_some() {
            if let Some(r) = report.latency.get("reconnect") {
                let all_back = r.max_us as f64 / 1000.0;
                report.set("time until all back", all_back, "ms", Merge::Max);
            }
            let (dropped, back) = (f("citizens dropped"), f("citizens back"));
            report.check("every citizen came back", dropped == back, format!("{back} of {dropped}"));
        }
        if report.errors.contains_key("join:conflict") {
            report.warnings.push(format!(
                "joins were refused with conflict: an agent needs its own stream, the desk and one staff room per \
                 chat, so start the server with --max-rooms-per-connection {} or more",
                self.cap() + 2
            ));
        }
        // In a storm, refused reconnects are part of it (clients back off and retry): they are in the error
        // table, not a failed check.
        let storm = self.storm_at_secs.is_some();
        let refused = |code: &str| ["http_", "connect_", "handshake_", "auth_"].iter().any(|p| code.starts_with(p));
        let errors: u64 = report.errors.iter().filter(|(code, _)| !(storm && refused(code))).map(|(_, n)| n).sum();
        report.check("no errors", errors == 0, format!("{errors} errors"));
    }
}

impl Chat {
    fn account(
        &self,
        ctx: &Ctx,
        shared: &Shared,
        citizens: Vec<CitizenEnd>,
        agents: Vec<AgentEnd>,
        report: &mut Report,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut sides = Vec::new();
        let (mut queued, mut dropped, mut back, mut recovered, mut attempts) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for end in citizens {
            queued += u64::from(end.queued);
            dropped += u64::from(end.dropped);
            back += u64::from(end.back);
            recovered += u64::from(end.back && end.recovered);
            attempts += end.attempts;
            sides.extend(end.side);
        }
        let (mut staff, mut desk_events, mut released, mut agent_reconnects) = (Vec::new(), 0, 0, 0);
        for end in agents {
            desk_events += end.desk_events;
            released += end.released;
            agent_reconnects += end.reconnects;
            staff.extend(end.chats);
        }
        let t = ledger::reconcile(&sides, &staff);
        report.warnings.extend(t.described.iter().map(|chat| format!("lost to its citizen: {chat}")));
        ctx.stats.missing.fetch_add(t.events_missing, Relaxed);
        ctx.stats.duplicates.fetch_add(t.events_duplicated, Relaxed);
        let n = |v: u64| v as f64;
        report.set("chats started", n(t.chats), "", Merge::Sum);
        report.set("chats assigned", n(t.assigned), "", Merge::Sum);
        report.set("chats queued at start", n(queued), "", Merge::Sum);
        report.set("chats released", n(released), "", Merge::Sum);
        report.set("messages sent by citizens", n(t.citizen_sent), "", Merge::Sum);
        report.set("messages sent by agents", n(t.agent_sent), "", Merge::Sum);
        report.set("messages lost", n(t.lost()), "", Merge::Sum);
        report.set("messages lost (to agents)", n(t.lost_to_agent), "", Merge::Sum);
        report.set("messages lost (to citizens)", n(t.lost_to_citizen), "", Merge::Sum);
        report.set("messages unseen: receiver away at the end", n(t.unseen_while_away), "", Merge::Sum);
        report.set("messages duplicated", n(t.duplicated), "", Merge::Sum);
        report.set("re-sends recognised (duplicate: true)", n(t.duplicate_acks), "", Merge::Sum);
        report.set("message seq gaps", n(t.gaps), "", Merge::Sum);
        report.set("sends never acked", n(t.unacked), "", Merge::Sum);
        report.set("desk events", n(desk_events), "", Merge::Sum);
        report.set("agent reconnects", n(agent_reconnects), "", Merge::Sum);
        let first = shared.first_start.load(Relaxed);
        let last = shared.last_assigned.load(Relaxed);
        if last > first {
            let secs = (last - first) as f64 / 1e6;
            report.set("routing: first start to last assigned", secs, "s", Merge::Max);
            report.set("routing throughput", shared.assigned.load(Relaxed) as f64 / secs, "chats/s", Merge::Sum);
        }
        let steady = ctx.schedule.steady.as_secs_f64();
        if steady > 0.0 {
            let per_sec = shared.window_sends.load(Relaxed) as f64 / steady;
            report.set("messages per second in the window (both sides)", per_sec, "/s", Merge::Sum);
        }
        if self.storm_at_secs.is_some() {
            report.set("citizens dropped", n(dropped), "", Merge::Sum);
            report.set("citizens back", n(back), "", Merge::Sum);
            report.set("recovered their gap (replay)", n(recovered), "", Merge::Sum);
            report.set("needed a snapshot", n(back - recovered), "", Merge::Sum);
            report.set("reconnect attempts", n(attempts), "", Merge::Sum);
        }
    }
}

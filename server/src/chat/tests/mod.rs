//! Unit tests of the chat rules, driven through a small in-memory "store" ([`World`]) that applies commands the
//! way a real store must: run the rules, settle the effects on the chats, route the changes.

mod conversation;
mod desk_commands;
mod reports;
mod routing_order;
mod storage;
mod transcripts;
mod visibility;

use std::collections::BTreeMap;

use super::desk::Desk;
use super::hours::{Clock, Schedule, Span, Week};
use super::policy::{ChatPolicy, ConsentLine};
use super::rooms::{self, Routed, Scope};
use super::rules::{settle, Change, ChatCommand, ChatReply, ChatState, DeskApplied, StartContext, Started};
use super::{Availability, Category, Chat, ChatId, ChatLang, StartForm};
use crate::auth::{Role, User};
use crate::error::{ErrorCode, Result};
use crate::qa::Localized;

pub const MINUTE: u64 = 60_000;

pub fn citizen(n: u32) -> User {
    User { sub: format!("c-{n}"), name: format!("Citizen {n}"), role: Role::Citizen }
}

pub fn agent(name: &str) -> User {
    User { sub: format!("g-{}", name.to_lowercase()), name: name.into(), role: Role::Agent }
}

pub fn admin(name: &str) -> User {
    User { sub: format!("a-{}", name.to_lowercase()), name: name.into(), role: Role::Admin }
}

pub fn moderator(name: &str) -> User {
    User { sub: format!("m-{}", name.to_lowercase()), name: name.into(), role: Role::Moderator }
}

pub fn send(text: &str) -> ChatCommand {
    ChatCommand::Send { text: text.into(), client_msg_id: None }
}

pub fn always_open() -> Schedule {
    let day = vec![Span { open: Clock::hm(0, 0), close: Clock::hm(24, 0) }];
    let week = Week {
        sun: day.clone(),
        mon: day.clone(),
        tue: day.clone(),
        wed: day.clone(),
        thu: day.clone(),
        fri: day.clone(),
        sat: day,
    };
    Schedule { time_zone: chrono_tz::UTC, week, holidays: Default::default() }
}

/// A desk, its chats and a clock, applying commands as a store does.
pub struct World {
    pub desk: Desk,
    pub chats: BTreeMap<ChatId, ChatState>,
    pub policy: ChatPolicy,
    pub schedule: Schedule,
    pub consent: ConsentLine,
    pub now: u64,
    /// The changes of the last command that succeeded.
    pub changes: Vec<Change>,
    next_id: ChatId,
}

impl World {
    pub fn new() -> Self {
        World::with(ChatPolicy::default())
    }

    pub fn with(policy: ChatPolicy) -> Self {
        let text = Localized {
            ar: Some("أوافق على حفظ المحادثة.".into()),
            en: Some("I agree the chat is kept.".into()),
        };
        World {
            desk: Desk::default(),
            chats: BTreeMap::new(),
            policy,
            schedule: always_open(),
            consent: ConsentLine::new(text, None),
            // Some real time, so that waits and ages are not measured from 0.
            now: 1_780_000_000_000,
            changes: vec![],
            next_id: 1,
        }
    }

    pub fn tick(&mut self, ms: u64) {
        self.now += ms;
    }

    pub fn form(&self, lang: ChatLang) -> StartForm {
        StartForm {
            category: Category::Inquiry,
            lang,
            name: Some("Fatima".into()),
            contact: Some("fatima@example.bh".into()),
            consent: true,
            consent_version: self.consent.version.clone(),
            client_msg_id: None,
        }
    }

    pub fn start(&mut self, who: &User, lang: ChatLang) -> Result<Started> {
        let form = self.form(lang);
        self.start_with(who, form)
    }

    pub fn start_with(&mut self, who: &User, form: StartForm) -> Result<Started> {
        let ctx = StartContext { schedule: &self.schedule, consent: &self.consent };
        let (state, applied) = self.desk.start(who, form, self.next_id, &ctx, &self.policy, self.now)?;
        self.next_id += 1;
        self.chats.insert(state.chat.id, state);
        self.settled(applied)
    }

    /// Runs a desk command on the desk and the header of chat `id`.
    pub fn on_chat<R>(
        &mut self,
        id: ChatId,
        command: impl FnOnce(&mut Desk, &Chat, &ChatPolicy, u64) -> Result<DeskApplied<R>>,
    ) -> Result<R> {
        let chat = self.header(id);
        let applied = command(&mut self.desk, &chat, &self.policy, self.now)?;
        self.settled(applied)
    }

    /// Runs a desk command that names no chat.
    pub fn on_desk<R>(
        &mut self,
        command: impl FnOnce(&mut Desk, &ChatPolicy, u64) -> Result<DeskApplied<R>>,
    ) -> Result<R> {
        let applied = command(&mut self.desk, &self.policy, self.now)?;
        self.settled(applied)
    }

    fn settled<R>(&mut self, applied: DeskApplied<R>) -> Result<R> {
        let applied = settle(applied, &mut self.chats, &self.policy, self.now)?;
        self.desk.check().expect("desk invariants");
        self.changes = applied.changes;
        Ok(applied.reply)
    }

    pub fn available(&mut self, who: &User, languages: &[ChatLang]) {
        let languages = Some(languages.to_vec());
        self.on_desk(|d, p, now| d.set_status(who, Availability::Available, languages, p, now)).expect("available");
    }

    pub fn end(&mut self, id: ChatId, who: &User) -> Result<()> {
        self.on_chat(id, |d, c, p, now| d.end(c, who, p, now))
    }

    pub fn take(&mut self, id: ChatId, who: &User) -> Result<()> {
        self.on_chat(id, |d, c, p, now| d.take(c, who, p, now))
    }

    pub fn sweep(&mut self) {
        self.on_desk(|d, p, now| Ok(d.sweep(p, now))).expect("sweep");
    }

    pub fn chat(&mut self, id: ChatId, who: &User, command: ChatCommand) -> Result<ChatReply> {
        let state = self.chats.get_mut(&id).expect("a chat of the test");
        let applied = state.apply(who, command, None, &self.policy, self.now)?;
        self.changes = applied.changes;
        Ok(applied.reply)
    }

    pub fn header(&self, id: ChatId) -> Chat {
        self.chats[&id].chat.clone()
    }

    pub fn agent_of(&self, id: ChatId) -> Option<String> {
        self.chats[&id].chat.agent.as_ref().map(|a| a.sub.clone())
    }

    /// The events the last command's changes give.
    pub fn routed(&self) -> Vec<Routed> {
        let scope = Scope { desk: Some(&self.desk), chats: &self.chats, policy: &self.policy, now: self.now };
        rooms::route(&self.changes, &scope)
    }
}

/// Runs a command that must be refused, and checks it changed nothing; returns its error code.
pub fn refused<T: std::fmt::Debug>(w: &mut World, command: impl FnOnce(&mut World) -> Result<T>) -> ErrorCode {
    let (desk, chats) = (w.desk.clone(), w.chats.clone());
    let code = command(w).expect_err("the command should be refused").code;
    assert_eq!(w.desk, desk, "a refused command changed the desk");
    assert_eq!(w.chats, chats, "a refused command changed a chat");
    code
}

//! Every Q&A state transition, as plain functions over one broadcast's state.
//!
//! A store applies these under whatever makes them atomic for it (a lock in memory), then routes the returned
//! [`Change`]s to rooms. Nothing here does I/O, so the rules are the same whatever the store.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::filter::KeywordFilter;
use super::{
    detect_lang, Answer, Broadcast, BroadcastId, BroadcastPatch, BroadcastState, Held, NewBroadcast, QaCommand,
    QaReply, Question, QuestionId, Status,
};
use crate::auth::{Pseudonyms, User};
use crate::error::{Error, Result};
use crate::limits::{check_client_msg_id, Admission, Charge};

/// Server-wide settings the rules enforce.
pub struct Policy {
    pub filter: KeywordFilter,
    /// Handles for anonymous authors, per broadcast.
    pub pseudonyms: Pseudonyms,
    pub max_tags: usize,
    pub max_questions: usize,
    pub max_question_len_limit: usize,
    pub default_max_question_len: usize,
}

/// Longest tag, in characters.
const MAX_TAG_LEN: usize = 40;
/// Longest hide reason or written answer, in characters.
const MAX_NOTE_LEN: usize = 4000;

/// What changed, for routing to rooms. `was_public` tells the public room whether a question left its view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Question {
        id: QuestionId,
        was_public: bool,
    },
    Votes {
        id: QuestionId,
    },
    /// The pinned question changed; `previous` was pinned before (its author learns it no longer is).
    Pinned {
        previous: Option<QuestionId>,
    },
    Broadcast,
    Muted {
        user: String,
        muted: bool,
    },
}

pub struct Applied {
    pub reply: QaReply,
    pub changes: Vec<Change>,
}

/// One broadcast's complete Q&A state.
pub struct QaState {
    pub broadcast: Broadcast,
    pub questions: BTreeMap<QuestionId, Question>,
    voters: HashMap<QuestionId, HashSet<String>>,
    pub pinned: Option<QuestionId>,
    pub muted: BTreeSet<String>,
    asked: HashMap<(String, String), QuestionId>,
    /// Distinct citizens who joined the broadcast's room.
    pub participants: HashSet<String>,
    pub peak_participants: u32,
    pub current_participants: u32,
}

impl QaState {
    pub fn new(broadcast: Broadcast) -> Self {
        QaState {
            broadcast,
            questions: BTreeMap::new(),
            voters: HashMap::new(),
            pinned: None,
            muted: BTreeSet::new(),
            asked: HashMap::new(),
            participants: HashSet::new(),
            peak_participants: 0,
            current_participants: 0,
        }
    }

    /// A state assembled by a store that keeps it elsewhere (Redis) and loads, per command, only what the
    /// command can touch: the broadcast, the questions involved, the voters a merge moves, the `asked` entries
    /// an `ask` may look up. The rules read nothing else, so they decide exactly as on the full state.
    pub fn from_parts(
        broadcast: Broadcast,
        questions: BTreeMap<QuestionId, Question>,
        voters: HashMap<QuestionId, HashSet<String>>,
        pinned: Option<QuestionId>,
        muted: BTreeSet<String>,
        asked: HashMap<(String, String), QuestionId>,
    ) -> Self {
        QaState { questions, voters, pinned, muted, asked, ..QaState::new(broadcast) }
    }

    pub fn has_voted(&self, question: QuestionId, sub: &str) -> bool {
        self.voters.get(&question).is_some_and(|v| v.contains(sub))
    }

    /// The questions `sub` has upvoted.
    pub fn votes_of(&self, sub: &str) -> Vec<QuestionId> {
        self.voters.iter().filter(|(_, v)| v.contains(sub)).map(|(id, _)| *id).collect()
    }

    /// Applies one command by `actor`. On error nothing has changed. `gate` holds the actor's question and vote
    /// limits: it is asked only when the command is about to create a question or change a vote, so retries and
    /// refused commands cost the actor nothing.
    pub fn apply(
        &mut self,
        actor: &User,
        command: QaCommand,
        policy: &Policy,
        gate: &dyn Admission,
        new_id: impl FnOnce() -> QuestionId,
        now: u64,
    ) -> Result<Applied> {
        if command.needs_moderator() {
            if !actor.role.is_moderator() {
                return Err(Error::forbidden("Only moderators may do this."));
            }
            if self.broadcast.state == BroadcastState::Archived {
                return Err(Error::conflict("This broadcast is archived."));
            }
        } else if !self.broadcast.state.accepts_questions() {
            return Err(Error::conflict("This broadcast is closed for questions."));
        }
        match command {
            QaCommand::Ask { text, anonymous, client_msg_id } => {
                self.ask(actor, text, anonymous, client_msg_id, policy, gate, new_id, now)
            }
            QaCommand::Edit { question, text } => self.edit(actor, question, text, policy),
            QaCommand::Withdraw { question } => self.withdraw(actor, question),
            QaCommand::Vote { question, value } => self.vote(actor, question, value, gate),
            QaCommand::Approve { question } => self.approve(question),
            QaCommand::Hide { question, reason } => self.hide(question, reason),
            QaCommand::Pin { question } => self.pin(question),
            QaCommand::Unpin => Ok(self.unpin()),
            QaCommand::Answer { question, text, live } => self.answer(question, text, live, now),
            QaCommand::Merge { question, into } => self.merge(question, into),
            QaCommand::ModEdit { question, text } => self.mod_edit(question, text, policy),
            QaCommand::Tag { question, tags } => self.tag(question, tags, policy),
            QaCommand::Mute { user, muted } => Ok(self.mute(user, muted)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ask(
        &mut self,
        actor: &User,
        text: String,
        anonymous: bool,
        client_msg_id: Option<String>,
        policy: &Policy,
        gate: &dyn Admission,
        new_id: impl FnOnce() -> QuestionId,
        now: u64,
    ) -> Result<Applied> {
        check_client_msg_id(client_msg_id.as_deref())?;
        if let Some(cmid) = &client_msg_id {
            // A retry of an ask we already took: answer as before, create nothing.
            if let Some(id) = self.asked.get(&(actor.sub.clone(), cmid.clone())) {
                let question = self.questions.get(id).cloned().expect("BUG: asked index points at a question");
                return Ok(Applied { reply: QaReply::Asked { question, duplicate: true }, changes: vec![] });
            }
        }
        if self.broadcast.paused {
            return Err(Error::conflict("Questions are paused."));
        }
        let text = self.checked_text(text, self.broadcast.max_question_len)?;
        if anonymous && !self.broadcast.allow_anonymous {
            return Err(Error::bad_request("This broadcast does not take anonymous questions."));
        }
        if self.questions.len() >= policy.max_questions {
            return Err(Error::conflict("This broadcast takes no more questions."));
        }
        // Everything that could refuse it has passed: only now does it count against the asker's limit.
        gate.admit(Charge::Question)?;
        let pseudonym = anonymous.then(|| policy.pseudonyms.handle(&self.pseudonym_scope(), &actor.sub));
        let (held, matched) = self.hold_for(&actor.sub, pseudonym.as_deref(), &text, policy);
        let id = new_id();
        let question = Question {
            id,
            broadcast: self.broadcast.id,
            lang: detect_lang(&text),
            text,
            author_sub: actor.sub.clone(),
            author_name: actor.name.clone(),
            anonymous,
            author_pseudonym: pseudonym,
            votes: 0,
            status: if held.is_some() { Status::Pending } else { Status::Approved },
            public: held.is_none(),
            held,
            matched_keywords: matched,
            hidden_reason: None,
            original_text: None,
            moderated: false,
            answer: None,
            tags: vec![],
            merged_into: None,
            created_at: now,
            edited: false,
            client_msg_id: client_msg_id.clone(),
        };
        if let Some(cmid) = client_msg_id {
            self.asked.insert((actor.sub.clone(), cmid), id);
        }
        self.questions.insert(id, question.clone());
        Ok(Applied {
            reply: QaReply::Asked { question, duplicate: false },
            changes: vec![Change::Question { id, was_public: false }],
        })
    }

    /// Pseudonyms are per broadcast: the same person asking anonymously in two broadcasts can't be linked.
    fn pseudonym_scope(&self) -> String {
        format!("broadcast:{}", self.broadcast.id)
    }

    /// Why a question from `sub` (asking as `pseudonym` if anonymous) with `text` must wait for a moderator, if
    /// it must. A muted person stays muted when they turn anonymous (staff then see that some muted person
    /// asked, not who); muting a pseudonym holds only that person's anonymous questions, since holding their
    /// named ones too would show staff who is behind it.
    fn hold_for(&self, sub: &str, pseudonym: Option<&str>, text: &str, policy: &Policy) -> (Option<Held>, Vec<String>) {
        let matched = policy.filter.matches(text);
        let muted = self.muted.contains(sub) || pseudonym.is_some_and(|handle| self.muted.contains(handle));
        let held = if muted {
            Some(Held::Muted)
        } else if !matched.is_empty() {
            Some(Held::Keyword)
        } else if self.broadcast.premoderation {
            Some(Held::Premoderation)
        } else {
            None
        };
        (held, matched)
    }

    fn checked_text(&self, text: String, max_len: usize) -> Result<String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::bad_request("The text is empty."));
        }
        if text.chars().count() > max_len {
            return Err(Error::bad_request(format!("The text is longer than {max_len} characters.")));
        }
        Ok(text.to_string())
    }

    fn question(&self, id: QuestionId) -> Result<&Question> {
        self.questions.get(&id).ok_or_else(|| Error::not_found("No such question."))
    }

    fn question_mut(&mut self, id: QuestionId) -> Result<&mut Question> {
        self.questions.get_mut(&id).ok_or_else(|| Error::not_found("No such question."))
    }

    /// The author's own question, still theirs to change.
    fn own_unmoderated(&self, actor: &User, id: QuestionId) -> Result<&Question> {
        let q = self.question(id)?;
        if q.author_sub != actor.sub {
            return Err(Error::forbidden("This is not your question."));
        }
        if q.moderated || !matches!(q.status, Status::Pending | Status::Approved) {
            return Err(Error::conflict("A moderator has already acted on this question."));
        }
        Ok(q)
    }

    fn edit(&mut self, actor: &User, id: QuestionId, text: String, policy: &Policy) -> Result<Applied> {
        let pseudonym = self.own_unmoderated(actor, id)?.author_pseudonym.clone();
        let text = self.checked_text(text, self.broadcast.max_question_len)?;
        let (held, matched) = self.hold_for(&actor.sub, pseudonym.as_deref(), &text, policy);
        let q = self.question_mut(id)?;
        let was_public = q.public;
        q.lang = detect_lang(&text);
        q.text = text;
        q.edited = true;
        q.held = held;
        q.matched_keywords = matched;
        q.status = if held.is_some() { Status::Pending } else { Status::Approved };
        q.public = held.is_none();
        let question = q.clone();
        let mut changes = vec![Change::Question { id, was_public }];
        changes.extend(self.unpin_if_hidden(id));
        Ok(Applied { reply: QaReply::Question(question), changes })
    }

    fn withdraw(&mut self, actor: &User, id: QuestionId) -> Result<Applied> {
        self.own_unmoderated(actor, id)?;
        let q = self.question_mut(id)?;
        let was_public = q.public;
        q.status = Status::Withdrawn;
        q.public = false;
        let mut changes = vec![Change::Question { id, was_public }];
        changes.extend(self.unpin_if_hidden(id));
        Ok(Applied { reply: QaReply::Done, changes })
    }

    /// Follows merges to the question that now carries the votes.
    fn resolve_merged(&self, mut id: QuestionId) -> QuestionId {
        // Merges never form a cycle (a merged question cannot be a merge target), so this ends.
        while let Some(next) = self.questions.get(&id).and_then(|q| q.merged_into) {
            id = next;
        }
        id
    }

    fn vote(&mut self, actor: &User, id: QuestionId, value: bool, gate: &dyn Admission) -> Result<Applied> {
        let id = self.resolve_merged(id);
        let q = self.question(id)?;
        // A citizen may not learn that a pending question exists.
        if !q.public && !actor.role.is_moderator() {
            return Err(Error::not_found("No such question."));
        }
        if !matches!(q.status, Status::Approved | Status::Answered | Status::Pending) {
            return Err(Error::conflict("This question takes no votes."));
        }
        // A vote that changes nothing (a retry) is answered, not counted.
        if value != self.has_voted(id, &actor.sub) {
            gate.admit(Charge::Vote)?;
        }
        let voters = self.voters.entry(id).or_default();
        let changed = if value { voters.insert(actor.sub.clone()) } else { voters.remove(&actor.sub) };
        let votes = voters.len() as u32;
        let q = self.question_mut(id)?;
        q.votes = votes;
        let changes = if changed { vec![Change::Votes { id }] } else { vec![] };
        Ok(Applied { reply: QaReply::Voted { question: id, votes, voted: value }, changes })
    }

    /// Makes a question visible (pending or hidden → approved). Approving an approved one changes nothing.
    fn approve(&mut self, id: QuestionId) -> Result<Applied> {
        let q = self.question_mut(id)?;
        let was_public = q.public;
        match q.status {
            Status::Pending | Status::Hidden => {
                q.status = Status::Approved;
                q.public = true;
                q.held = None;
                q.hidden_reason = None;
                q.moderated = true;
            }
            Status::Approved | Status::Answered => {}
            Status::Withdrawn | Status::Merged => return Err(Error::conflict("This question can't be approved.")),
        }
        let question = q.clone();
        let changes = if was_public { vec![] } else { vec![Change::Question { id, was_public }] };
        Ok(Applied { reply: QaReply::Question(question), changes })
    }

    fn hide(&mut self, id: QuestionId, reason: String) -> Result<Applied> {
        let reason = limit_note(reason)?;
        let q = self.question_mut(id)?;
        if !matches!(q.status, Status::Pending | Status::Approved | Status::Answered | Status::Hidden) {
            return Err(Error::conflict("This question can't be hidden."));
        }
        let was_public = q.public;
        q.status = Status::Hidden;
        q.public = false;
        q.hidden_reason = Some(reason);
        q.moderated = true;
        let question = q.clone();
        let mut changes = vec![Change::Question { id, was_public }];
        changes.extend(self.unpin_if_hidden(id));
        Ok(Applied { reply: QaReply::Question(question), changes })
    }

    fn unpin_if_hidden(&mut self, id: QuestionId) -> Option<Change> {
        let visible = self.questions.get(&id).is_some_and(|q| q.public && q.status != Status::Merged);
        if self.pinned == Some(id) && !visible {
            self.pinned = None;
            return Some(Change::Pinned { previous: Some(id) });
        }
        None
    }

    /// Pins a question as "now answering"; a pending one is approved on the way.
    fn pin(&mut self, id: QuestionId) -> Result<Applied> {
        let mut changes = vec![];
        if self.question(id)?.status == Status::Pending {
            changes.extend(self.approve(id)?.changes);
        }
        let q = self.question_mut(id)?;
        if !matches!(q.status, Status::Approved | Status::Answered) {
            return Err(Error::conflict("Only visible questions can be pinned."));
        }
        q.moderated = true;
        if self.pinned != Some(id) {
            let previous = self.pinned.replace(id);
            changes.push(Change::Pinned { previous });
        }
        Ok(Applied { reply: QaReply::Done, changes })
    }

    fn unpin(&mut self) -> Applied {
        let changes = match self.pinned.take() {
            Some(previous) => vec![Change::Pinned { previous: Some(previous) }],
            None => vec![],
        };
        Applied { reply: QaReply::Done, changes }
    }

    fn answer(&mut self, id: QuestionId, text: Option<String>, live: bool, now: u64) -> Result<Applied> {
        let text = match text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
            Some(t) => Some(limit_note(t)?),
            None if live => None,
            None => return Err(Error::bad_request("Give a written answer or mark it answered live.")),
        };
        let q = self.question_mut(id)?;
        if !matches!(q.status, Status::Pending | Status::Approved | Status::Answered) {
            return Err(Error::conflict("This question can't be answered."));
        }
        let was_public = q.public;
        q.status = Status::Answered;
        q.public = true;
        q.held = None;
        q.moderated = true;
        q.answer = Some(Answer { live: text.is_none(), text, at: now });
        let question = q.clone();
        Ok(Applied { reply: QaReply::Question(question), changes: vec![Change::Question { id, was_public }] })
    }

    /// Merges a duplicate into a target: the duplicate's voters join the target's (each person once).
    fn merge(&mut self, id: QuestionId, into: QuestionId) -> Result<Applied> {
        if id == into {
            return Err(Error::conflict("A question can't be merged into itself."));
        }
        let dup = self.question(id)?;
        let target = self.question(into)?;
        if matches!(dup.status, Status::Merged | Status::Withdrawn) {
            return Err(Error::conflict("This question can't be merged."));
        }
        if matches!(target.status, Status::Merged | Status::Withdrawn | Status::Hidden) {
            return Err(Error::conflict("That question can't take a merge."));
        }
        let moved = self.voters.remove(&id).unwrap_or_default();
        let target_voters = self.voters.entry(into).or_default();
        target_voters.extend(moved);
        let votes = target_voters.len() as u32;
        let dup = self.question_mut(id)?;
        let dup_was_public = dup.public;
        dup.status = Status::Merged;
        dup.merged_into = Some(into);
        dup.votes = 0;
        dup.moderated = true;
        let target = self.question_mut(into)?;
        let target_was_public = target.public;
        target.votes = votes;
        target.moderated = true;
        let question = target.clone();
        let mut changes = vec![
            Change::Question { id, was_public: dup_was_public },
            Change::Question { id: into, was_public: target_was_public },
        ];
        if self.pinned == Some(id) {
            self.pinned = None;
            changes.push(Change::Pinned { previous: Some(id) });
        }
        Ok(Applied { reply: QaReply::Question(question), changes })
    }

    fn mod_edit(&mut self, id: QuestionId, text: String, policy: &Policy) -> Result<Applied> {
        let text = self.checked_text(text, policy.max_question_len_limit)?;
        let q = self.question_mut(id)?;
        let was_public = q.public;
        if q.original_text.is_none() {
            q.original_text = Some(q.text.clone());
        }
        q.lang = detect_lang(&text);
        q.text = text;
        q.moderated = true;
        let question = q.clone();
        Ok(Applied { reply: QaReply::Question(question), changes: vec![Change::Question { id, was_public }] })
    }

    fn tag(&mut self, id: QuestionId, tags: Vec<String>, policy: &Policy) -> Result<Applied> {
        let mut clean: Vec<String> = Vec::new();
        for tag in tags {
            let tag = tag.trim().to_lowercase();
            if tag.is_empty() || clean.contains(&tag) {
                continue;
            }
            if tag.chars().count() > MAX_TAG_LEN {
                return Err(Error::bad_request(format!("A tag is at most {MAX_TAG_LEN} characters.")));
            }
            clean.push(tag);
        }
        if clean.len() > policy.max_tags {
            return Err(Error::bad_request(format!("At most {} tags.", policy.max_tags)));
        }
        let q = self.question_mut(id)?;
        let was_public = q.public;
        q.tags = clean;
        q.moderated = true;
        let question = q.clone();
        Ok(Applied { reply: QaReply::Question(question), changes: vec![Change::Question { id, was_public }] })
    }

    fn mute(&mut self, user: String, muted: bool) -> Applied {
        let changed = if muted { self.muted.insert(user.clone()) } else { self.muted.remove(&user) };
        let changes = if changed { vec![Change::Muted { user, muted }] } else { vec![] };
        Applied { reply: QaReply::Done, changes }
    }

    /// Changes settings and/or moves the broadcast along its lifecycle.
    pub fn update_broadcast(&mut self, patch: BroadcastPatch, policy: &Policy, now: u64) -> Result<Vec<Change>> {
        let b = &mut self.broadcast;
        if let Some(next) = patch.state {
            if next != b.state && !b.state.can_become(next) {
                return Err(Error::conflict(format!("A {:?} broadcast can't become {:?}.", b.state, next)));
            }
        }
        if let Some(len) = patch.max_question_len {
            b.max_question_len = checked_max_len(len, policy)?;
        }
        if let Some(title) = patch.title {
            if title.is_empty() {
                return Err(Error::bad_request("A broadcast needs a title."));
            }
            b.title = title;
        }
        if let Some(description) = patch.description {
            b.description = description;
        }
        if let Some(starts_at) = patch.starts_at {
            b.starts_at = starts_at;
        }
        if let Some(premoderation) = patch.premoderation {
            b.premoderation = premoderation;
        }
        if let Some(allow) = patch.allow_anonymous {
            b.allow_anonymous = allow;
        }
        if let Some(paused) = patch.paused {
            b.paused = paused;
        }
        if let Some(next) = patch.state.filter(|n| *n != b.state) {
            b.state = next;
            match next {
                BroadcastState::Live => b.live_at = Some(now),
                BroadcastState::Ended => b.ended_at = Some(now),
                _ => {}
            }
        }
        Ok(vec![Change::Broadcast])
    }

    /// Counts a participant joining the public room; staff are not participants.
    pub fn record_participant(&mut self, user: &User, concurrent: u32) {
        if !user.role.is_staff() && !self.participants.contains(&user.sub) {
            self.participants.insert(user.sub.clone());
        }
        self.record_concurrent(concurrent);
    }

    pub fn record_concurrent(&mut self, concurrent: u32) {
        self.current_participants = concurrent;
        self.peak_participants = self.peak_participants.max(concurrent);
    }
}

/// A new broadcast as `new` describes it: scheduled, with `code` as its join code.
pub fn new_broadcast(id: BroadcastId, code: String, new: NewBroadcast, policy: &Policy, now: u64) -> Result<Broadcast> {
    if new.title.is_empty() {
        return Err(Error::bad_request("A broadcast needs a title (Arabic or English)."));
    }
    let max_question_len = checked_max_len(new.max_question_len.unwrap_or(policy.default_max_question_len), policy)?;
    Ok(Broadcast {
        id,
        code,
        title: new.title,
        description: new.description,
        starts_at: new.starts_at.unwrap_or(now),
        state: BroadcastState::Scheduled,
        premoderation: new.premoderation,
        allow_anonymous: new.allow_anonymous,
        max_question_len,
        paused: false,
        created_at: now,
        live_at: None,
        ended_at: None,
    })
}

pub fn checked_max_len(len: usize, policy: &Policy) -> Result<usize> {
    if len == 0 || len > policy.max_question_len_limit {
        return Err(Error::bad_request(format!(
            "max_question_len must be between 1 and {}.",
            policy.max_question_len_limit
        )));
    }
    Ok(len)
}

fn limit_note(note: String) -> Result<String> {
    let note = note.trim().to_string();
    if note.chars().count() > MAX_NOTE_LEN {
        return Err(Error::bad_request(format!("The text is longer than {MAX_NOTE_LEN} characters.")));
    }
    Ok(note)
}

//! Charging a command to its actor's limits in Redis mode: after the rules decided the command really creates
//! or changes something, before its commit, and once per command however many optimistic attempts it takes;
//! a question also against the cluster-wide limit every node shares.

use std::sync::Mutex;

use super::RedisStore;
use crate::auth::User;
use crate::error::{Error, Result};
use crate::limits::{Admission, Charge};
use crate::qa::QuestionId;
use crate::redis_mode::keys;
use crate::redis_mode::scripts::GCRA_SCRIPT;

/// What one command carries from one optimistic attempt to the next.
#[derive(Default)]
pub(super) struct Attempt {
    /// The id an ask took in this generation: ids need not be dense, but one ask is one question.
    pub new_id: Option<QuestionId>,
    /// The actor's limits were charged for this command.
    pub charged: bool,
}

/// The gate as the rules see it in one attempt: it checks without taking and remembers what the command would
/// cost, so that the charge is taken once, after the rules decided and before the commit, not once per retry.
pub(super) struct Deferred<'a> {
    gate: &'a dyn Admission,
    charged: bool,
    wanted: Mutex<Option<Charge>>,
}

impl<'a> Deferred<'a> {
    pub fn new(gate: &'a dyn Admission, attempt: &Attempt) -> Self {
        Deferred { gate, charged: attempt.charged, wanted: Mutex::new(None) }
    }

    pub fn wanted(&self) -> Option<Charge> {
        *self.wanted.lock().expect("BUG: deferred charge lock poisoned")
    }
}

impl Admission for Deferred<'_> {
    fn check(&self, what: Charge) -> Result<()> {
        if self.charged {
            return Ok(());
        }
        self.gate.check(what)
    }

    fn charge(&self, what: Charge) {
        *self.wanted.lock().expect("BUG: deferred charge lock poisoned") = Some(what);
    }
}

impl RedisStore {
    /// Takes what the rules asked to charge, if this command has not paid yet.
    pub(super) async fn charge_once(
        &self,
        actor: &User,
        gate: &dyn Admission,
        deferred: &Deferred<'_>,
        attempt: &mut Attempt,
    ) -> Result<()> {
        if let Some(what) = deferred.wanted() {
            if !attempt.charged {
                self.admit(actor, gate, what).await?;
                attempt.charged = true;
            }
        }
        Ok(())
    }

    /// Charges `what` to the actor: the node's limit, then for a question the cluster-wide one, which only
    /// takes when it allows (so a refusal there leaves the node's limit untouched too).
    async fn admit(&self, actor: &User, gate: &dyn Admission, what: Charge) -> Result<()> {
        gate.check(what)?;
        if what == Charge::Question {
            self.limit_question(&actor.sub).await?;
        }
        gate.charge(what);
        Ok(())
    }

    /// The cluster-wide question limit of `sub`, on top of the node's own.
    async fn limit_question(&self, sub: &str) -> Result<()> {
        let mut call = GCRA_SCRIPT.prepare_invoke();
        call.key(keys::question_rate(sub)).arg(self.question_interval_ms).arg(self.question_burst);
        let mut conn = self.redis.conn();
        let wait: u64 = self.redis.run("rate limit", call.invoke_async(&mut conn)).await?;
        if wait > 0 {
            return Err(Error::rate_limited(wait, "Too many questions; wait a moment."));
        }
        Ok(())
    }
}

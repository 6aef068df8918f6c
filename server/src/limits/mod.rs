//! Rate limits and connection limits.
//!
//! Per-user limits are GCRA limiters keyed by the token's subject: governor's for commands and sessions, which
//! are checked and taken in one step as they arrive, and our own ([`gcra`]) for questions and votes, which
//! are charged only once the rules decided that the command creates or changes something ([`admission`]).
//! Their memory stays bounded because `evict_idle` (run periodically) forgets keys whose limit has fully
//! recovered.

mod admission;
mod gcra;

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::Config;
use crate::error::{Error, Result};
pub use admission::{check_client_msg_id, Admission, Charge, Unlimited};
use gcra::Gcra;

type Keyed<K> = RateLimiter<K, DashMapStateStore<K>, DefaultClock>;

pub struct Limits {
    questions: Gcra,
    votes: Gcra,
    chat_starts: Gcra,
    chat_messages: Gcra,
    offline_messages: Gcra,
    /// When each person's typing in each chat was last forwarded (`"<sub> <chat>"`): at most one a second.
    typing: Gcra,
    commands: Keyed<String>,
    sessions: Keyed<IpAddr>,
    connections: Arc<Connections>,
    clock: DefaultClock,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("BUG: max(1) is never zero")
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let chat = &config.chat;
        Limits {
            questions: Gcra::new(Duration::from_secs(60) / config.questions_per_minute.max(1), config.questions_burst),
            votes: Gcra::new(Duration::from_secs(1) / config.votes_per_second.max(1), config.votes_burst),
            chat_starts: Gcra::new(Duration::from_secs(3600) / chat.starts_per_hour.max(1), chat.starts_burst),
            chat_messages: Gcra::new(Duration::from_secs(60) / chat.messages_per_minute.max(1), chat.messages_burst),
            offline_messages: Gcra::new(Duration::from_secs(3600) / chat.offline_per_hour.max(1), chat.offline_burst),
            typing: Gcra::new(Duration::from_millis(chat.typing_interval_ms.max(1)), 1),
            commands: RateLimiter::dashmap(
                Quota::per_second(nz(config.commands_per_second)).allow_burst(nz(config.commands_burst)),
            ),
            sessions: RateLimiter::dashmap(Quota::per_minute(nz(config.sessions_per_minute))),
            connections: Arc::new(Connections {
                per_ip: DashMap::new(),
                total: AtomicUsize::new(0),
                max_per_ip: config.max_connections_per_ip as usize,
                max_total: config.max_connections,
            }),
            clock: DefaultClock::default(),
        }
    }

    fn check<K: Clone + Hash + Eq>(&self, limiter: &Keyed<K>, key: &K, what: &str) -> Result<()> {
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Error::rate_limited((wait.as_millis() as u64).max(1), format!("Too many {what}; wait a moment."))
        })
    }

    pub fn command(&self, sub: &String) -> Result<()> {
        self.check(&self.commands, sub, "commands")
    }
    pub fn session(&self, ip: &IpAddr) -> Result<()> {
        self.check(&self.sessions, ip, "new sessions from your address")
    }

    /// `sub`'s question and vote limits, for a store to charge once the rules decided (see [`Admission`]).
    pub fn gate<'a>(&'a self, sub: &'a str) -> UserGate<'a> {
        UserGate { limits: self, sub }
    }
    /// Whether `sub`'s typing indicator in `chat` may be forwarded now (at most one per
    /// `--chat-typing-interval-ms`); takes nothing (see [`Limits::typed`]). A `false` (stopped typing) always
    /// may, so an indicator never stays on for want of its end.
    pub fn may_type(&self, sub: &str, chat: u64, typing: bool) -> bool {
        !typing || self.typing.check(&format!("{sub} {chat}")).is_ok()
    }

    /// A typing indicator of `sub` in `chat` was forwarded.
    pub fn typed(&self, sub: &str, chat: u64, typing: bool) {
        if typing {
            self.typing.charge(&format!("{sub} {chat}"));
        }
    }

    /// Forgets limiter keys that are back to a full allowance.
    pub fn evict_idle(&self) {
        self.questions.evict_idle();
        self.votes.evict_idle();
        self.chat_starts.evict_idle();
        self.chat_messages.evict_idle();
        self.offline_messages.evict_idle();
        self.typing.evict_idle();
        self.commands.retain_recent();
        self.commands.shrink_to_fit();
        self.sessions.retain_recent();
        self.sessions.shrink_to_fit();
    }

    /// Keys currently held by the limiters (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.questions.len()
            + self.votes.len()
            + self.chat_starts.len()
            + self.chat_messages.len()
            + self.offline_messages.len()
            + self.typing.len()
            + self.commands.len()
            + self.sessions.len()
    }

    /// Takes a connection slot for `ip`, or says why not.
    pub fn connect(&self, ip: IpAddr) -> Result<ConnectionSlot, ConnectionRefused> {
        self.connections.take(ip)
    }
}

/// One user's question and vote limits on this node.
pub struct UserGate<'a> {
    limits: &'a Limits,
    sub: &'a str,
}

impl UserGate<'_> {
    fn limiter(&self, what: Charge) -> (&Gcra, &'static str) {
        match what {
            Charge::Question => (&self.limits.questions, "Too many questions; wait a moment."),
            Charge::Vote => (&self.limits.votes, "Too many votes; wait a moment."),
            Charge::ChatStart => (&self.limits.chat_starts, "Too many chats started; wait a while."),
            Charge::ChatMessage => (&self.limits.chat_messages, "Too many messages; wait a moment."),
            Charge::OfflineMessage => (&self.limits.offline_messages, "Too many offline messages; wait a while."),
        }
    }
}

fn refused(wait: Duration, message: &str) -> Error {
    Error::rate_limited((wait.as_millis() as u64).max(1), message)
}

impl Admission for UserGate<'_> {
    fn check(&self, what: Charge) -> Result<()> {
        let (limiter, message) = self.limiter(what);
        limiter.check(self.sub).map_err(|wait| refused(wait, message))
    }

    fn charge(&self, what: Charge) {
        self.limiter(what).0.charge(self.sub);
    }

    fn admit(&self, what: Charge) -> Result<()> {
        let (limiter, message) = self.limiter(what);
        limiter.admit(self.sub).map_err(|wait| refused(wait, message))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefused {
    TooManyFromAddress,
    ServerFull,
}

struct Connections {
    per_ip: DashMap<IpAddr, usize>,
    total: AtomicUsize,
    max_per_ip: usize,
    max_total: usize,
}

impl Connections {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, ConnectionRefused> {
        if self.total.fetch_add(1, Relaxed) >= self.max_total {
            self.total.fetch_sub(1, Relaxed);
            return Err(ConnectionRefused::ServerFull);
        }
        let mut count = self.per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            drop(count);
            self.total.fetch_sub(1, Relaxed);
            return Err(ConnectionRefused::TooManyFromAddress);
        }
        *count += 1;
        Ok(ConnectionSlot { connections: Arc::clone(self), ip })
    }
}

/// Held for a connection's lifetime; gives the slot back when dropped.
pub struct ConnectionSlot {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Relaxed);
        // Remove the address's entry with its last connection, so the map stays as small as the live set.
        self.connections.per_ip.remove_if_mut(&self.ip, |_, count| {
            *count -= 1;
            *count == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_limiter_keys_are_forgotten() {
        let mut config = Config::defaults();
        config.commands_per_second = 1000;
        config.commands_burst = 1;
        let limits = Limits::new(&config);
        for n in 0..100 {
            limits.command(&format!("user-{n}")).expect("first command passes");
        }
        assert_eq!(limits.tracked_keys(), 100);
        // One command at 1000/s is fully paid back after a millisecond.
        std::thread::sleep(std::time::Duration::from_millis(20));
        limits.evict_idle();
        assert_eq!(limits.tracked_keys(), 0);
    }

    #[test]
    fn connection_slots_are_counted_per_address_and_returned() {
        let mut config = Config::defaults();
        config.max_connections_per_ip = 1;
        let limits = Limits::new(&config);
        let ip: IpAddr = "10.0.0.1".parse().expect("literal");
        let slot = limits.connect(ip).expect("first");
        assert_eq!(limits.connect(ip).err(), Some(ConnectionRefused::TooManyFromAddress));
        drop(slot);
        assert!(limits.connect(ip).is_ok());
    }
}

//! The application: everything a request or connection needs, built once at start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Pseudonyms, TokenKeys};
use crate::bus::LocalBus;
use crate::config::Config;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::qa::filter::KeywordFilter;
use crate::qa::rules::Policy;
use crate::store::{Backend, ChatStore, MemoryChat, MemoryPersonal, MemoryStore, PersonalStore, QaStore};

pub struct App {
    pub config: Config,
    /// Base URL for links shown to people (QR codes, printed links).
    pub public_url: String,
    pub tokens: TokenKeys,
    /// The live-broadcast Q&A's storage.
    pub qa: Arc<dyn QaStore>,
    /// The live chat's storage.
    pub chat: Arc<dyn ChatStore>,
    /// Each person's own stream.
    pub personal: Arc<dyn PersonalStore>,
    /// The storage as a whole (health).
    pub backend: Arc<dyn Backend>,
    pub hub: Arc<Hub>,
    /// How many connections each person has on this node (the chat's presence).
    pub people: crate::connection::People,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// Cancelled when shutdown begins: every connection says `server_shutdown` and closes.
    pub shutdown: CancellationToken,
    /// Tracks connection tasks so shutdown can wait for them to drain.
    pub connections: TaskTracker,
    ready: AtomicBool,
    next_connection: AtomicU64,
}

impl App {
    /// Builds the application: in memory, or in Redis mode when `config.redis_url` is set (then it must be called
    /// inside a Tokio runtime: it starts the Redis background tasks, which stop when `shutdown` is cancelled).
    /// `config.jwt_secret` must be set (the binary fills in a random one).
    pub fn new(config: Config, public_url: String) -> std::io::Result<Arc<Self>> {
        let filter = match &config.keyword_file {
            Some(path) => KeywordFilter::from_file(path)?,
            None => KeywordFilter::from_list(crate::qa::filter::DEFAULT_KEYWORDS),
        };
        let secret = config.jwt_secret.clone().unwrap_or_else(TokenKeys::random_secret);
        let policy = Arc::new(Policy {
            filter,
            pseudonyms: Pseudonyms::new(secret.as_bytes()),
            max_tags: config.max_tags,
            max_questions: config.max_questions_per_broadcast,
            max_question_len_limit: config.max_question_len_limit,
            default_max_question_len: config.default_max_question_len,
        });
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(Arc::clone(&metrics)));
        let shutdown = CancellationToken::new();
        #[allow(clippy::type_complexity)]
        let (qa, chat, personal, backend): (
            Arc<dyn QaStore>,
            Arc<dyn ChatStore>,
            Arc<dyn PersonalStore>,
            Arc<dyn Backend>,
        ) = match &config.redis_url {
            // Redis mode: the store publishes through Redis, and the hub hears its rooms through Redis alone.
            Some(url) => {
                let store = crate::redis_mode::start(
                    url,
                    &config,
                    policy,
                    Arc::clone(&hub),
                    Arc::clone(&metrics),
                    shutdown.clone(),
                )
                .map_err(std::io::Error::other)?;
                (store.clone(), store.clone(), store.clone(), store)
            }
            None => {
                let bus = Arc::new(LocalBus::new(Arc::clone(&hub), Arc::clone(&metrics)));
                let personal = Arc::new(MemoryPersonal::new(bus.clone(), &config));
                let chat = Arc::new(MemoryChat::new(bus.clone(), personal.clone(), &config));
                let store =
                    Arc::new(MemoryStore::new(policy, bus, personal.clone(), config.history_len.max(1), &config));
                (store.clone(), chat, personal, store)
            }
        };
        Ok(Arc::new(App {
            tokens: TokenKeys::new(secret.as_bytes()),
            limits: Limits::new(&config),
            public_url,
            qa,
            chat,
            personal,
            backend,
            hub,
            people: Default::default(),
            metrics,
            shutdown,
            connections: TaskTracker::new(),
            ready: AtomicBool::new(false),
            next_connection: AtomicU64::new(1),
            config,
        }))
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Relaxed)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Relaxed) && !self.shutdown.is_cancelled() && self.backend.is_healthy()
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }
}

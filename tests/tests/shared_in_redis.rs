//! The shared behaviour tests once more, in Redis mode: the issue asks both modes to pass the same suite. The
//! test servers see this binary's name and each start with a private `redis-server` (see `majlis_tests`).
//! A new shared test file belongs here too.

#[path = "broadcast_qa.rs"]
mod broadcast_qa;
#[path = "chat_conversation.rs"]
mod chat_conversation;
#[path = "chat_queue.rs"]
mod chat_queue;
#[path = "chat_rest.rs"]
mod chat_rest;
#[path = "identity.rs"]
mod identity;
#[path = "personal_stream.rs"]
mod personal_stream;
#[path = "privacy.rs"]
mod privacy;
#[path = "protocol_errors.rs"]
mod protocol_errors;
#[path = "resilience.rs"]
mod resilience;
#[path = "web_pages.rs"]
mod web_pages;
// The chat's behaviour files (chat_conversation, chat_queue, chat_resume, chat_privacy, chat_handover,
// chat_limits) are written to run here too; they join this list with the Redis chat store.

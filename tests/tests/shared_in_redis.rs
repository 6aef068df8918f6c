//! The shared behaviour tests once more, in Redis mode: the issue asks both modes to pass the same suite. The
//! test servers see this binary's name and each start with a private `redis-server` (see `majlis_tests`).
//! A new shared test file belongs here too.

#[path = "broadcast_qa.rs"]
mod broadcast_qa;
#[path = "chat_conversation.rs"]
mod chat_conversation;
#[path = "chat_handover.rs"]
mod chat_handover;
#[path = "chat_limits.rs"]
mod chat_limits;
#[path = "chat_privacy.rs"]
mod chat_privacy;
#[path = "chat_queue.rs"]
mod chat_queue;
#[path = "chat_rest.rs"]
mod chat_rest;
#[path = "chat_resume.rs"]
mod chat_resume;
#[path = "chat_retention.rs"]
mod chat_retention;
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
// Not here: chat_pages (the browser flows are one mode's worth of page logic; the pages' server is covered
// above).

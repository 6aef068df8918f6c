//! What the citizen and the agent loops share: commands in flight and what each was, reading a frame into an
//! owned [`Frame`], and sending a command with its bookkeeping.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Result;
use serde_json::Value;

use super::frames::Frame;
use crate::ctx::Ctx;
use crate::wire::Incoming;
use crate::ws::{close_code, Session};

/// What a command in flight was, for when its reply comes.
#[derive(Debug, Clone)]
pub enum Pending {
    Send {
        chat: u64,
        client_msg_id: String,
    },
    Join {
        chat: u64,
    },
    /// Typing and receipts: only counted.
    Signal,
}

/// Commands sent and not yet answered, by id.
#[derive(Default)]
pub struct InFlight(HashMap<u64, (Pending, String)>);

impl InFlight {
    pub async fn send(&mut self, ctx: &Ctx, session: &mut Session, command: Value, what: Pending) -> Result<()> {
        let kind = command["type"].as_str().unwrap_or("command").to_string();
        let id = session.send(command).await?;
        ctx.stats.commands.fetch_add(1, Relaxed);
        self.0.insert(id, (what, kind));
        Ok(())
    }

    /// The command `frame` answers, if it is a reply to one of ours; counts the ack or the error (under the
    /// command's type and the code: `chat_send:conflict`).
    pub fn answered(&mut self, ctx: &Ctx, frame: &Frame) -> Option<(Pending, bool)> {
        let (what, kind) = self.0.remove(&frame.reply_id()?)?;
        let ok = frame.r#type == "ack";
        if ok {
            ctx.stats.acks.fetch_add(1, Relaxed);
        } else {
            ctx.stats.error(&format!("{kind}:{}", frame.code));
        }
        Some((what, ok))
    }

    /// Forgets every command in flight (the connection they were sent on is gone).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// How the server starts every event of the desk room: agents count those without parsing them (every chat's
/// start, assignment and end is one to each of hundreds of agents).
pub const DESK_EVENT: &str = r#"{"type":"event","room":"desk","#;

/// What one read brought.
pub enum Read {
    Frame(Box<Frame>),
    /// A text frame that is not JSON the harness understands.
    Garbled,
    /// A frame that starts with the prefix the caller skips (not parsed).
    Skipped,
    /// The connection ended: its close code (`close_4008`), `eof` or `transport_error`.
    Lost(String),
}

/// Reads one message into a [`Read`]; a text frame starting with `skip` is only recognised, not parsed.
pub fn read(message: Option<std::io::Result<Incoming<'_>>>, skip: Option<&str>) -> Read {
    match message {
        Some(Ok(Incoming::Text(text))) if skip.is_some_and(|p| text.starts_with(p)) => Read::Skipped,
        Some(Ok(Incoming::Text(text))) => Frame::parse(text).map(|f| Read::Frame(Box::new(f))).unwrap_or(Read::Garbled),
        Some(Ok(Incoming::Close(code))) => Read::Lost(close_code(code)),
        Some(Err(_)) => Read::Lost("transport_error".into()),
        None => Read::Lost("eof".into()),
    }
}

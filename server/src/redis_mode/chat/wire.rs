//! The chat's frames as the commit script takes them: `protocol::chat` encodes each event (only it knows the
//! wire JSON) as a template, head and tail around the seq that the script fills in.

use axum::extract::ws::Utf8Bytes;

use crate::chat::rooms::Routed;
use crate::error::{Error, Result};

/// `(head, tail)`: the frame is `head + seq + tail`.
pub fn template(event: &Routed) -> Result<(String, String)> {
    Ok(crate::protocol::chat::event_template(&event.room().key(), event))
}

/// An unsequenced frame (typing).
pub fn typing(event: &Routed) -> Result<Utf8Bytes> {
    crate::protocol::chat::typing(&event.room().key(), event).ok_or_else(|| Error::internal("not a typing event"))
}

//! The chat's frames as the commit script takes them: the protocol module encodes each event (only it knows the
//! wire JSON), with a marker in place of the seq that the script fills in.

use crate::chat::rooms::Routed;
use crate::error::{Error, Result};

/// Stands for the seq while the frame is a template. Room names hold no digits run this long before `"seq":`.
const SEQ_MARK: u64 = 987_654_321_987_654_321;

/// `(head, tail)`: the frame is `head + seq + tail`.
pub fn template(event: &Routed) -> Result<(String, String)> {
    let frame = encode(event, SEQ_MARK)?;
    let marker = format!("\"seq\":{SEQ_MARK}");
    let at = frame.as_str().find(&marker).ok_or_else(|| Error::internal("a chat event without its seq"))?;
    let head = &frame.as_str()[..at + "\"seq\":".len()];
    let tail = &frame.as_str()[at + marker.len()..];
    Ok((head.to_string(), tail.to_string()))
}

/// An unsequenced frame (typing).
pub fn typing(event: &Routed) -> Result<axum::extract::ws::Utf8Bytes> {
    let _ = event;
    Err(Error::internal("chat protocol not wired yet"))
}

// TEMPORARY until the chat seam lands with `protocol::chat`: a bare frame naming the room.
fn encode(event: &Routed, seq: u64) -> Result<axum::extract::ws::Utf8Bytes> {
    let room = event.room().key();
    Ok(format!(r#"{{"type":"event","room":"{room}","seq":{seq},"kind":"chat","data":{{}}}}"#).into())
}

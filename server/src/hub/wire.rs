//! Server-to-client WebSocket frames, encoded once and written as they are.
//!
//! Why not hand each message to the WebSocket library: it formats and copies every message into each
//! connection's buffer, so one event fanned out to 10,000 viewers was framed 10,000 times and its shared bytes'
//! reference count touched from every writer. A server's frames are not masked (RFC 6455 §5.1), so the same
//! bytes are right for every client: the hub encodes an event once and every writer passes a borrowed slice of
//! them to one vectored write.

use std::sync::{Arc, LazyLock};

/// A complete, encoded WebSocket frame (header and payload), cheap to clone and share.
///
/// An `Arc<[u8]>`, not `Bytes`: every queued item carries one, and at 16 bytes instead of 32 a connection's
/// queue holds 40-byte items instead of 56, which is what bounds memory while slow consumers are shed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame(Arc<[u8]>);

/// Pings go to every connection every `--ping-interval-secs`: one shared frame.
static PING: LazyLock<WireFrame> = LazyLock::new(|| WireFrame(Arc::from(&[FIN | OP_PING, 0][..])));

const FIN: u8 = 0x80;
const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
/// Control frames carry at most this much payload (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

impl WireFrame {
    /// A text frame; `text` must be UTF-8 (it is: the caller has a `str`).
    pub fn text(text: &str) -> Self {
        Self::encode(OP_TEXT, text.as_bytes())
    }

    /// A close frame with a status code and a short reason.
    pub fn close(code: u16, reason: &str) -> Self {
        let mut payload = Vec::with_capacity(2 + reason.len());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(reason.as_bytes());
        payload.truncate(MAX_CONTROL_PAYLOAD);
        Self::encode(OP_CLOSE, &payload)
    }

    pub fn ping() -> Self {
        PING.clone()
    }

    /// The answer to a client's ping, echoing its payload.
    pub fn pong(payload: &[u8]) -> Self {
        Self::encode(OP_PONG, &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)])
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn encode(opcode: u8, payload: &[u8]) -> Self {
        let mut out = Vec::with_capacity(10 + payload.len());
        out.push(FIN | opcode);
        match payload.len() {
            len @ 0..=125 => out.push(len as u8),
            len @ 126..=0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        WireFrame(Arc::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_has_a_two_byte_header() {
        assert_eq!(WireFrame::text("hi").as_bytes(), &[0x81, 2, b'h', b'i']);
    }

    #[test]
    fn lengths_past_125_use_the_extended_forms() {
        let medium = WireFrame::text(&"x".repeat(300));
        assert_eq!(&medium.as_bytes()[..4], &[0x81, 126, 0x01, 0x2C]);
        assert_eq!(medium.as_bytes().len(), 4 + 300);
        let large = WireFrame::text(&"x".repeat(70_000));
        assert_eq!(&large.as_bytes()[..10], &[0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn close_carries_code_and_reason() {
        assert_eq!(WireFrame::close(4008, "slow").as_bytes(), &[0x88, 6, 0x0F, 0xA8, b's', b'l', b'o', b'w']);
    }

    /// A queued item's size is what bounds memory while slow consumers are shed (`--outbound-queue` items per
    /// connection): keep it small.
    #[test]
    fn a_queued_item_takes_at_most_40_bytes() {
        let size = std::mem::size_of::<crate::hub::Outbound>();
        assert!(size <= 40, "{size} bytes");
    }
}

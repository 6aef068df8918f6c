//! A minimal WebSocket client (RFC 6455) for the harness's own connections.
//!
//! Why not tokio-tungstenite here: a generator must cost less per delivered event than the server, and with a
//! general-purpose client most of the harness's CPU went to per-message work (a waker registration per poll, a
//! zeroed read chunk, an owned buffer split off per frame, a compatibility layer) rather than to reading.
//! This client reads into one buffer and hands out each text frame as a `&str` borrowed from it, with no copy
//! and no allocation. It speaks exactly what the server needs: the upgrade, masked text frames out, unmasked
//! unfragmented frames in, pings answered, close codes read.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The RFC's sample key and its accept value: a load generator needs no fresh nonce (the server checks only
/// that a key is there), and a fixed pair lets the client check the accept without SHA-1.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The longest upgrade response read.
const MAX_RESPONSE_HEAD: usize = 8192;
/// The largest frame accepted (a big snapshot is a few MiB); a longer length is a broken stream, not a reason
/// to allocate it.
const MAX_FRAME: usize = 64 << 20;

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const FIN: u8 = 0x80;
const MASKED: u8 = 0x80;

/// What the server sent.
pub enum Incoming<'a> {
    Text(&'a str),
    /// A close frame and its code, if it had one.
    Close(Option<u16>),
}

pub struct Client {
    stream: TcpStream,
    /// Bytes read; `buf[start..end]` is not yet handed out.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The frame handed out by the last `next`, consumed at the next call.
    consumed: usize,
    mask: [u8; 4],
    out: Vec<u8>,
    /// Pongs not yet written whole, and how much of them was. `next` is polled in `select!`s and may be
    /// dropped in the middle of a write: the rest is written before anything else goes out, so a frame is
    /// never left half on the wire for the next one to follow.
    pongs: Vec<u8>,
    pongs_sent: usize,
}

/// Why the upgrade failed, as a short code for the error table (`http_429`, `handshake_eof`, ...).
pub type HandshakeError = String;

impl Client {
    /// Upgrades `stream` to a WebSocket at `host` and `path`. `buffer` is the initial read buffer (it grows for
    /// a larger frame, such as a big snapshot).
    pub async fn handshake(
        mut stream: TcpStream,
        host: &str,
        path: &str,
        buffer: usize,
        mask_seed: u64,
    ) -> Result<Client, HandshakeError> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(|_| "handshake_write".to_string())?;
        let mut head = vec![0u8; MAX_RESPONSE_HEAD];
        let mut end = 0;
        let head_len = loop {
            if let Some(pos) = find(&head[..end], b"\r\n\r\n") {
                break pos + 4;
            }
            if end == MAX_RESPONSE_HEAD {
                return Err("handshake_too_long".into());
            }
            let n = stream.read(&mut head[end..]).await.map_err(|_| "handshake_read".to_string())?;
            if n == 0 {
                return Err("handshake_eof".into());
            }
            end += n;
        };
        check_response(&head[..head_len])?;
        // Frames that came with the response stay: they are the first things `next` hands out.
        let early = &head[head_len..end];
        let mut buf = vec![0u8; buffer.max(early.len()).max(16)];
        buf[..early.len()].copy_from_slice(early);
        let end = early.len();
        let bytes = mask_seed.to_le_bytes();
        let mask = [bytes[0] | 1, bytes[1], bytes[2], bytes[3]];
        Ok(Client { stream, buf, start: 0, end, consumed: 0, mask, out: Vec::new(), pongs: Vec::new(), pongs_sent: 0 })
    }

    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends one masked text frame.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.write_pongs().await?;
        self.out.clear();
        frame_header(&mut self.out, OP_TEXT, text.len(), self.mask);
        self.out.extend(text.bytes().zip(self.mask.iter().cycle()).map(|(b, m)| b ^ m));
        self.stream.write_all(&self.out).await
    }

    /// The next text or close frame (pings are answered on the way), or `None` at the end of the stream.
    ///
    /// Cancel-safe: what was read stays in the buffer for the next call, and a pong cut off mid-write is
    /// finished first.
    pub async fn next(&mut self) -> Option<io::Result<Incoming<'_>>> {
        self.start += std::mem::take(&mut self.consumed);
        if let Err(e) = self.write_pongs().await {
            return Some(Err(e));
        }
        loop {
            match parse(&self.buf[self.start..self.end]) {
                Parsed::Frame { opcode, header, len } => {
                    let payload = self.start + header..self.start + header + len;
                    match opcode {
                        OP_TEXT => {
                            self.consumed = header + len;
                            return Some(
                                std::str::from_utf8(&self.buf[payload])
                                    .map(Incoming::Text)
                                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
                            );
                        }
                        OP_CLOSE => {
                            let code = (len >= 2)
                                .then(|| u16::from_be_bytes([self.buf[payload.start], self.buf[payload.start + 1]]));
                            self.consumed = header + len;
                            return Some(Ok(Incoming::Close(code)));
                        }
                        OP_PING => {
                            let payload = self.buf[payload].to_vec();
                            self.start += header + len;
                            if let Err(e) = self.pong(&payload).await {
                                return Some(Err(e));
                            }
                        }
                        // Pongs and binary frames: nothing the harness needs.
                        _ => self.start += header + len,
                    }
                }
                Parsed::Invalid(what) => return Some(Err(io::Error::new(io::ErrorKind::InvalidData, what))),
                Parsed::Need(total) => match self.fill(total).await {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => return Some(Err(e)),
                },
            }
        }
    }

    /// Reads more, making room for a frame of `total` bytes from `start`.
    async fn fill(&mut self, total: usize) -> io::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.start + total > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if total > self.buf.len() {
            self.buf.resize(total, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn pong(&mut self, payload: &[u8]) -> io::Result<()> {
        frame_header(&mut self.pongs, 0xA, payload.len(), self.mask);
        self.pongs.extend(payload.iter().zip(self.mask.iter().cycle()).map(|(b, m)| b ^ m));
        self.write_pongs().await
    }

    /// Writes what is left of the pongs, noting progress after every write (each write is cancel-safe).
    async fn write_pongs(&mut self) -> io::Result<()> {
        while self.pongs_sent < self.pongs.len() {
            let n = self.stream.write(&self.pongs[self.pongs_sent..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.pongs_sent += n;
        }
        self.pongs.clear();
        self.pongs_sent = 0;
        Ok(())
    }
}

fn check_response(head: &[u8]) -> Result<(), HandshakeError> {
    let head = std::str::from_utf8(head).map_err(|_| "handshake_garbled".to_string())?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
    if status != 101 {
        return Err(format!("http_{status}"));
    }
    let accepted = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(k, v)| k.eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == ACCEPT)
    });
    if accepted {
        Ok(())
    } else {
        Err("handshake_bad_accept".into())
    }
}

fn frame_header(out: &mut Vec<u8>, opcode: u8, len: usize, mask: [u8; 4]) {
    out.push(FIN | opcode);
    match len {
        0..=125 => out.push(MASKED | len as u8),
        126..=0xFFFF => {
            out.push(MASKED | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(MASKED | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
}

enum Parsed {
    /// A whole frame: its opcode, header length and payload length.
    Frame {
        opcode: u8,
        header: usize,
        len: usize,
    },
    /// Not whole yet: at least this many bytes are needed from the frame's start.
    Need(usize),
    Invalid(&'static str),
}

/// Reads a server frame's header from the start of `bytes`.
fn parse(bytes: &[u8]) -> Parsed {
    if bytes.len() < 2 {
        return Parsed::Need(2);
    }
    if bytes[0] & FIN == 0 {
        return Parsed::Invalid("fragmented frame (the server sends whole frames)");
    }
    if bytes[1] & MASKED != 0 {
        return Parsed::Invalid("masked frame from the server");
    }
    let (header, len): (usize, usize) = match bytes[1] & 0x7F {
        126 if bytes.len() < 4 => return Parsed::Need(4),
        126 => (4, u16::from_be_bytes([bytes[2], bytes[3]]) as usize),
        127 if bytes.len() < 10 => return Parsed::Need(10),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&bytes[2..10]);
            (10, usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX))
        }
        n => (2, n as usize),
    };
    if len > MAX_FRAME {
        return Parsed::Invalid("frame too large");
    }
    let total = header + len;
    if bytes.len() < total {
        return Parsed::Need(total);
    }
    Parsed::Frame { opcode: bytes[0] & 0x0F, header, len }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_are_read_whole_or_asked_for() {
        let mut frame = vec![FIN | OP_TEXT, 5];
        frame.extend_from_slice(b"hello");
        assert!(matches!(parse(&frame), Parsed::Frame { opcode: OP_TEXT, header: 2, len: 5 }));
        assert!(matches!(parse(&frame[..4]), Parsed::Need(7)));
        let mut long = vec![FIN | OP_TEXT, 126, 0x01, 0x00];
        long.resize(4 + 256, b'x');
        assert!(matches!(parse(&long), Parsed::Frame { header: 4, len: 256, .. }));
        assert!(matches!(parse(&long[..3]), Parsed::Need(4)));
        assert!(matches!(parse(&[OP_TEXT, 1, b'x']), Parsed::Invalid(_)));
    }

    #[test]
    fn client_frames_are_masked() {
        let mut out = vec![];
        frame_header(&mut out, OP_TEXT, 300, [1, 2, 3, 4]);
        assert_eq!(out, vec![FIN | OP_TEXT, MASKED | 126, 0x01, 0x2C, 1, 2, 3, 4]);
    }

    /// A ping is answered with its payload, masked, before the next frame the client sends.
    #[tokio::test]
    async fn a_ping_is_answered_before_anything_else_goes_out() {
        use std::time::Duration;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 1024];
            let mut n = 0;
            while find(&request[..n], b"\r\n\r\n").is_none() {
                let read = socket.read(&mut request[n..]).await.expect("request");
                assert!(read > 0, "the client hung up before its upgrade request ended");
                n += read;
            }
            let mut reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
            )
            .into_bytes();
            reply.extend_from_slice(&[FIN | OP_PING, 2, b'h', b'i', FIN | OP_TEXT, 5]);
            reply.extend_from_slice(b"hello");
            socket.write_all(&reply).await.expect("reply");
            let mut got = vec![0u8; 8 + 7];
            socket.read_exact(&mut got).await.expect("pong, then the text");
            got
        });
        let stream = TcpStream::connect(addr).await.expect("connect");
        let upgrade = Client::handshake(stream, "localhost", "/ws", 64, 7);
        let mut client =
            tokio::time::timeout(Duration::from_secs(5), upgrade).await.expect("in time").expect("upgrade");
        let next = tokio::time::timeout(Duration::from_secs(5), client.next()).await.expect("in time");
        assert!(matches!(next, Some(Ok(Incoming::Text("hello")))));
        client.send_text("x").await.expect("send");
        let got = tokio::time::timeout(Duration::from_secs(5), server).await.expect("in time").expect("server");
        let unmask = |frame: &[u8]| -> Vec<u8> {
            frame[6..].iter().zip(frame[2..6].iter().cycle()).map(|(b, m)| b ^ m).collect()
        };
        assert_eq!(&got[..2], &[FIN | 0xA, MASKED | 2], "a pong first");
        assert_eq!(unmask(&got[..8]), b"hi", "with the ping's payload");
        assert_eq!(&got[8..10], &[FIN | OP_TEXT, MASKED | 1], "then the text");
        assert_eq!(unmask(&got[8..]), b"x");
    }

    #[test]
    fn the_upgrade_response_is_checked() {
        let ok =
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n");
        assert!(check_response(ok.as_bytes()).is_ok());
        assert_eq!(check_response(b"HTTP/1.1 429 Too Many Requests\r\n\r\n"), Err("http_429".to_string()));
        assert_eq!(
            check_response(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n\r\n"),
            Err("handshake_bad_accept".to_string())
        );
    }
}

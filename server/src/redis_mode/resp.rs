//! A small RESP2 client for the node's one pub/sub connection.
//!
//! Why not the `redis` crate's pub/sub: it has no sharded SSUBSCRIBE outside its cluster client, and the bus
//! wants the raw subscription confirmations (a room is live only once Redis confirmed it). Pub/sub needs
//! nothing but a TCP stream, AUTH, and the reading of arrays of bulk strings.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::SetupError;

/// Longest bulk string read (a frame is at most a few KiB; this only stops a corrupt length).
const MAX_BULK: usize = 64 * 1024 * 1024;

/// Where the pub/sub connection goes, from the same URL as the command connection.
#[derive(Clone, Debug)]
pub struct Endpoint {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

impl Endpoint {
    pub fn from_info(info: &ConnectionInfo) -> Result<Self, SetupError> {
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return Err(SetupError::Unsupported("only redis:// (plain TCP) URLs are supported"));
        };
        let redis = info.redis_settings();
        Ok(Endpoint {
            host: host.clone(),
            port: *port,
            username: redis.username().map(str::to_string),
            password: redis.password().map(str::to_string),
        })
    }
}

/// One RESP2 reply or push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Frame>>),
}

/// Bytes read from the socket at once: a node that fell behind reads its backlog in few system calls, and the
/// bus then takes every push already read in one batch.
const READ_BUFFER: usize = 64 * 1024;

/// Connects (and authenticates) within `timeout`.
pub async fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<(OwnedWriteHalf, Reader)> {
    let connect = async {
        let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await?;
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        let mut reader = Reader { inner: BufReader::with_capacity(READ_BUFFER, read), line: Vec::new() };
        if let Some(password) = &endpoint.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &endpoint.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            write.write_all(&encode(&args)).await?;
            if let Frame::Error(e) = reader.frame().await? {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, e));
            }
        }
        Ok((write, reader))
    };
    tokio::time::timeout(timeout, connect).await.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// A command as RESP: an array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The reading half of the connection. Not cancel-safe: read from one task that owns it.
pub struct Reader {
    inner: BufReader<OwnedReadHalf>,
    /// The header line being read, reused.
    line: Vec<u8>,
}

/// A frame's first line.
enum Head {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(i64),
    Array(i64),
}

impl Reader {
    /// Whether bytes of a next frame are already read (taking it costs no system call, unless it is partial).
    pub fn has_buffered(&self) -> bool {
        !self.inner.buffer().is_empty()
    }

    /// Reads one frame. Arrays of scalars (every pub/sub push) are read without recursion or boxing.
    pub async fn frame(&mut self) -> io::Result<Frame> {
        match self.head().await? {
            Head::Array(n) => self.array(n).await,
            head => self.scalar(head).await,
        }
    }

    async fn array(&mut self, n: i64) -> io::Result<Frame> {
        if n < 0 {
            return Ok(Frame::Array(None));
        }
        let mut items = Vec::with_capacity(n.min(1024) as usize);
        for _ in 0..n {
            let item = match self.head().await? {
                Head::Array(m) => self.nested(m).await?,
                head => self.scalar(head).await?,
            };
            items.push(item);
        }
        Ok(Frame::Array(Some(items)))
    }

    /// An array inside an array (no pub/sub push has one): boxed, as async recursion must be.
    fn nested(&mut self, n: i64) -> Pin<Box<dyn Future<Output = io::Result<Frame>> + Send + '_>> {
        Box::pin(self.array(n))
    }

    async fn head(&mut self) -> io::Result<Head> {
        self.line.clear();
        if self.inner.read_until(b'\n', &mut self.line).await? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let line = std::str::from_utf8(&self.line).map_err(|_| invalid("line"))?.trim_end_matches(['\r', '\n']);
        let (kind, rest) = line.split_at_checked(1).ok_or_else(|| invalid("empty line"))?;
        let number = |what| rest.parse::<i64>().map_err(|_| invalid(what));
        Ok(match kind {
            "+" => Head::Simple(rest.to_string()),
            "-" => Head::Error(rest.to_string()),
            ":" => Head::Int(number("integer")?),
            "$" => Head::Bulk(number("bulk length")?),
            "*" => Head::Array(number("array length")?),
            _ => return Err(invalid("unknown frame type")),
        })
    }

    async fn scalar(&mut self, head: Head) -> io::Result<Frame> {
        Ok(match head {
            Head::Simple(s) => Frame::Simple(s),
            Head::Error(e) => Frame::Error(e),
            Head::Int(n) => Frame::Int(n),
            Head::Bulk(len) => self.bulk(len).await?,
            Head::Array(_) => return Err(invalid("array where a scalar was expected")),
        })
    }

    async fn bulk(&mut self, len: i64) -> io::Result<Frame> {
        if len < 0 {
            return Ok(Frame::Bulk(None));
        }
        let len = usize::try_from(len).map_err(|_| invalid("bulk length"))?;
        if len > MAX_BULK {
            return Err(invalid("bulk too long"));
        }
        let mut data = vec![0; len + 2];
        self.inner.read_exact(&mut data).await?;
        data.truncate(len);
        Ok(Frame::Bulk(Some(data)))
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("RESP: bad {what}"))
}

/// What a pub/sub connection tells: a confirmed (un)subscription or a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    Subscribed(String),
    Message {
        channel: String,
        payload: Vec<u8>,
    },
    /// Redis refused a command (e.g. a sharded subscription to a channel another shard owns).
    Refused(String),
    Other,
}

impl Push {
    pub fn from_frame(frame: Frame) -> Push {
        let items = match frame {
            Frame::Array(Some(items)) => items,
            Frame::Error(e) => return Push::Refused(e),
            _ => return Push::Other,
        };
        let mut items = items.into_iter().map(|f| match f {
            Frame::Bulk(Some(b)) => Some(b),
            _ => None,
        });
        let (Some(Some(kind)), Some(Some(channel))) = (items.next(), items.next()) else { return Push::Other };
        let Ok(channel) = String::from_utf8(channel) else { return Push::Other };
        match kind.as_slice() {
            b"subscribe" | b"ssubscribe" => Push::Subscribed(channel),
            b"message" | b"smessage" => match items.next() {
                Some(Some(payload)) => Push::Message { channel, payload },
                _ => Push::Other,
            },
            _ => Push::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_as_arrays_of_bulk_strings() {
        assert_eq!(encode(&[b"SUBSCRIBE", b"a:b"]), b"*2\r\n$9\r\nSUBSCRIBE\r\n$3\r\na:b\r\n".to_vec());
    }

    #[test]
    fn pushes_are_recognised() {
        let bulk = |s: &str| Frame::Bulk(Some(s.as_bytes().to_vec()));
        let msg = Frame::Array(Some(vec![bulk("smessage"), bulk("ch"), bulk("{}")]));
        assert_eq!(Push::from_frame(msg), Push::Message { channel: "ch".into(), payload: b"{}".to_vec() });
        let sub = Frame::Array(Some(vec![bulk("subscribe"), bulk("ch"), Frame::Int(1)]));
        assert_eq!(Push::from_frame(sub), Push::Subscribed("ch".into()));
        assert_eq!(Push::from_frame(Frame::Simple("PONG".into())), Push::Other);
    }
}

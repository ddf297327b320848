//! A minimal HTTP/1.1 client for the timing hot path: one request per connection at a time,
//! keep-alive connections in a small pool, `TCP_NODELAY`, and a response body read straight
//! from the socket by the request's own task.
//!
//! Why not a general HTTP client: hyper's client runs each connection as a separate task and
//! hands body frames to the caller through a channel, which costs two task wake-ups per token
//! and lets the arrival timestamp slip behind the socket read under load. Here the bytes are
//! timestamped right after `read` returns and decoded in place (chunked framing, then SSE).

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read buffer per request.
const READ_BUF: usize = 16 * 1024;
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Idle keep-alive connections to one server.
pub struct Pool {
    addrs: Vec<SocketAddr>,
    idle: Mutex<Vec<TcpStream>>,
    max_idle: usize,
}

impl Pool {
    /// A pool for `host:port` (resolved once) keeping at most `max_idle` idle connections.
    pub async fn new(host: &str, port: u16, max_idle: usize) -> io::Result<Pool> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}:{port} resolves to no address"),
            ));
        }
        Ok(Pool {
            addrs,
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle.max(1),
        })
    }

    /// An idle connection (`true` = reused) or a new one.
    pub async fn get(&self) -> io::Result<(TcpStream, bool)> {
        if let Some(stream) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok((stream, true));
        }
        let stream = TcpStream::connect(&self.addrs[..]).await?;
        stream.set_nodelay(true)?;
        Ok((stream, false))
    }

    /// Return a connection whose response was read to the end.
    pub fn put(&self, stream: TcpStream) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(stream);
        }
    }
}

/// Status line and the headers that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// e.g. 200.
    pub status: u16,
    /// The server's reason phrase.
    pub reason: String,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// `Content-Length`.
    pub content_length: Option<usize>,
    /// `Connection: close` (or HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// Parse a response head (everything before the blank line, without it).
pub fn parse_head(head: &[u8]) -> Result<ResponseHead, String> {
    let text =
        std::str::from_utf8(head).map_err(|_| "the response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!(
            "not an HTTP/1.x response: {:?}",
            &status_line[..status_line.len().min(100)]
        ));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut out = ResponseHead {
        status,
        reason,
        chunked: false,
        content_length: None,
        close: version == "HTTP/1.0",
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked = value
                .to_ascii_lowercase()
                .split(',')
                .any(|v| v.trim() == "chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            out.content_length = Some(
                value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                out.close = true;
            } else if v.contains("keep-alive") {
                out.close = false;
            }
        }
    }
    Ok(out)
}

/// Where the body decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Reading a chunk-size line (hex digits, optional `;ext`), `size` so far.
    Size {
        size: usize,
        digits: usize,
        in_ext: bool,
        saw_cr: bool,
    },
    /// Inside a chunk, `left` bytes to go.
    Data { left: usize },
    /// Expecting the CRLF after a chunk's data (`saw_cr` once the CR is seen).
    DataEnd { saw_cr: bool },
    /// After the last chunk: trailer lines until an empty one (`line_len` of the current one).
    Trailer { line_len: usize, saw_cr: bool },
    /// `Content-Length` body, `left` bytes to go.
    Length { left: usize },
    /// A body that ends when the server closes.
    UntilClose,
    /// The body is complete.
    Done,
}

/// Incremental body decoder: raw socket bytes in, body data slices out.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    framing: Framing,
}

impl BodyDecoder {
    /// The decoder for a response with this head.
    pub fn new(head: &ResponseHead) -> BodyDecoder {
        let framing = if head.chunked {
            Framing::Size {
                size: 0,
                digits: 0,
                in_ext: false,
                saw_cr: false,
            }
        } else if let Some(n) = head.content_length {
            if n == 0 {
                Framing::Done
            } else {
                Framing::Length { left: n }
            }
        } else {
            Framing::UntilClose
        };
        BodyDecoder { framing }
    }

    /// Is the whole body read?
    pub fn is_done(&self) -> bool {
        self.framing == Framing::Done
    }

    /// Does the body end only when the connection closes?
    pub fn until_close(&self) -> bool {
        self.framing == Framing::UntilClose
    }

    /// Decode `input`, calling `on_data` for each body slice; returns how many input bytes
    /// belong to this body (the rest would be a pipelined next response).
    pub fn decode(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<usize, String> {
        let mut i = 0;
        while i < input.len() {
            match &mut self.framing {
                Framing::Done => break,
                Framing::UntilClose => {
                    on_data(&input[i..]);
                    i = input.len();
                }
                Framing::Length { left } => {
                    let take = (*left).min(input.len() - i);
                    on_data(&input[i..i + take]);
                    i += take;
                    *left -= take;
                    if *left == 0 {
                        self.framing = Framing::Done;
                    }
                }
                Framing::Data { left } => {
                    let take = (*left).min(input.len() - i);
                    on_data(&input[i..i + take]);
                    i += take;
                    *left -= take;
                    if *left == 0 {
                        self.framing = Framing::DataEnd { saw_cr: false };
                    }
                }
                Framing::DataEnd { saw_cr } => {
                    let b = input[i];
                    i += 1;
                    match (b, *saw_cr) {
                        (b'\r', false) => *saw_cr = true,
                        (b'\n', _) => {
                            self.framing = Framing::Size {
                                size: 0,
                                digits: 0,
                                in_ext: false,
                                saw_cr: false,
                            }
                        }
                        _ => {
                            return Err(format!(
                                "malformed chunked body: expected CRLF after chunk data, got byte {b:#04x}"
                            ));
                        }
                    }
                }
                Framing::Size {
                    size,
                    digits,
                    in_ext,
                    saw_cr,
                } => {
                    let b = input[i];
                    i += 1;
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                return Err("malformed chunked body: empty chunk size".into());
                            }
                            self.framing = if *size == 0 {
                                Framing::Trailer {
                                    line_len: 0,
                                    saw_cr: false,
                                }
                            } else {
                                Framing::Data { left: *size }
                            };
                        }
                        b'\r' => *saw_cr = true,
                        _ if *saw_cr => {
                            return Err(
                                "malformed chunked body: CR without LF in chunk size".into()
                            );
                        }
                        _ if *in_ext => {}
                        b';' | b' ' | b'\t' => *in_ext = true,
                        _ => {
                            let d = (b as char).to_digit(16).ok_or_else(|| {
                                format!("malformed chunked body: bad chunk size byte {b:#04x}")
                            })?;
                            *size = size
                                .checked_mul(16)
                                .and_then(|s| s.checked_add(d as usize))
                                .ok_or("malformed chunked body: chunk size overflows")?;
                            *digits += 1;
                        }
                    }
                }
                Framing::Trailer { line_len, saw_cr } => {
                    let b = input[i];
                    i += 1;
                    match b {
                        b'\n' if *line_len == 0 => self.framing = Framing::Done,
                        b'\n' => {
                            *line_len = 0;
                            *saw_cr = false;
                        }
                        b'\r' => *saw_cr = true,
                        _ => *line_len += 1,
                    }
                }
            }
        }
        Ok(i)
    }
}

/// One exchange on one connection.
pub struct Exchange {
    stream: TcpStream,
    buf: Box<[u8]>,
    /// Bytes in `buf[pos..end]` not consumed yet.
    pos: usize,
    end: usize,
    reused: bool,
}

/// What went wrong on the wire.
#[derive(Debug)]
pub enum WireError {
    /// A reused connection that the server had closed: safe to retry on a new one.
    StaleConnection(io::Error),
    /// Anything else.
    Io(io::Error),
    /// The server's bytes are not valid HTTP.
    Protocol(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::StaleConnection(e) | WireError::Io(e) => write!(f, "{e}"),
            WireError::Protocol(m) => f.write_str(m),
        }
    }
}

impl Exchange {
    /// Send a request on `stream` (`reused` = it came from the pool).
    pub async fn send(
        mut stream: TcpStream,
        reused: bool,
        request: &[u8],
    ) -> Result<Exchange, WireError> {
        match stream.write_all(request).await {
            Ok(()) => Ok(Exchange {
                stream,
                buf: vec![0u8; READ_BUF].into_boxed_slice(),
                pos: 0,
                end: 0,
                reused,
            }),
            Err(e) if reused => Err(WireError::StaleConnection(e)),
            Err(e) => Err(WireError::Io(e)),
        }
    }

    /// Read the response head.
    pub async fn read_head(&mut self) -> Result<ResponseHead, WireError> {
        let mut head: Vec<u8> = Vec::new();
        loop {
            let n = match self.stream.read(&mut self.buf).await {
                Ok(0) if head.is_empty() && self.reused => {
                    return Err(WireError::StaleConnection(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed",
                    )));
                }
                Ok(0) => {
                    return Err(WireError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection before its response head ended",
                    )));
                }
                Ok(n) => n,
                Err(e) if head.is_empty() && self.reused => {
                    return Err(WireError::StaleConnection(e));
                }
                Err(e) => return Err(WireError::Io(e)),
            };
            let start = head.len().saturating_sub(3);
            head.extend_from_slice(&self.buf[..n]);
            if let Some(at) = head[start..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + start)
            {
                let parsed = parse_head(&head[..at]).map_err(WireError::Protocol)?;
                // Body bytes that came with the head go back into the buffer.
                let extra = head.len() - (at + 4);
                self.buf[..extra].copy_from_slice(&head[at + 4..]);
                self.pos = 0;
                self.end = extra;
                return Ok(parsed);
            }
            if head.len() > MAX_HEAD {
                return Err(WireError::Protocol(format!(
                    "response head longer than {MAX_HEAD} bytes"
                )));
            }
        }
    }

    /// Feed body bytes to `on_data(bytes, arrival_time)` until the body ends or `on_data`
    /// returns `false`. Returns `true` when the body was read to its end.
    pub async fn read_body(
        &mut self,
        decoder: &mut BodyDecoder,
        mut on_data: impl FnMut(&[u8], Instant) -> bool,
    ) -> Result<bool, WireError> {
        let mut keep_going = true;
        if self.end > self.pos {
            let now = Instant::now();
            let used = decoder
                .decode(&self.buf[self.pos..self.end], |d| {
                    if keep_going {
                        keep_going = on_data(d, now);
                    }
                })
                .map_err(WireError::Protocol)?;
            self.pos += used;
        }
        while keep_going && !decoder.is_done() {
            let n = self
                .stream
                .read(&mut self.buf)
                .await
                .map_err(WireError::Io)?;
            let now = Instant::now();
            if n == 0 {
                if decoder.until_close() {
                    decoder.framing = Framing::Done;
                    return Ok(true);
                }
                return Err(WireError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection mid-body",
                )));
            }
            self.pos = 0;
            self.end = n;
            let used = decoder
                .decode(&self.buf[..n], |d| {
                    if keep_going {
                        keep_going = on_data(d, now);
                    }
                })
                .map_err(WireError::Protocol)?;
            self.pos = used;
        }
        Ok(decoder.is_done())
    }

    /// The connection, if it can serve another request (body complete, nothing left over).
    pub fn into_reusable(self, head: &ResponseHead, body_done: bool) -> Option<TcpStream> {
        (body_done && !head.close && self.pos == self.end).then_some(self.stream)
    }
}

/// The request bytes: head and body in one buffer, so one write sends them.
pub fn request_bytes(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n").as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(chunked: bool, len: Option<usize>) -> ResponseHead {
        ResponseHead {
            status: 200,
            reason: "OK".into(),
            chunked,
            content_length: len,
            close: false,
        }
    }

    fn decode_all(dec: &mut BodyDecoder, parts: &[&[u8]]) -> Result<(String, usize), String> {
        let mut out = Vec::new();
        let mut used = 0;
        for p in parts {
            used = dec.decode(p, |d| out.extend_from_slice(d))?;
        }
        Ok((String::from_utf8(out).unwrap(), used))
    }

    #[test]
    fn parses_status_and_framing_headers() {
        let h = parse_head(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close").unwrap();
        assert_eq!(
            (h.status, h.reason.as_str(), h.chunked, h.close),
            (500, "Internal Server Error", true, true)
        );
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12").unwrap();
        assert_eq!((h.content_length, h.close), (Some(12), false));
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_head(b"HTTP/1.1 abc OK").is_err());
    }

    #[test]
    fn chunked_body_split_anywhere() {
        let wire: &[u8] = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for split in 0..wire.len() {
            let mut dec = BodyDecoder::new(&head(true, None));
            let (text, _) = decode_all(&mut dec, &[&wire[..split], &wire[split..]]).unwrap();
            assert_eq!(text, "hello, world", "split at {split}");
            assert!(dec.is_done());
        }
    }

    #[test]
    fn chunked_body_stops_at_its_end() {
        let mut dec = BodyDecoder::new(&head(true, None));
        let used = dec.decode(b"1\r\na\r\n0\r\n\r\nHTTP/1.1", |_| {}).unwrap();
        assert_eq!(used, 11);
        assert!(dec.is_done());
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for bad in [&b"zz\r\n"[..], b"\r\n", b"3\r\nabcX"] {
            let mut dec = BodyDecoder::new(&head(true, None));
            assert!(dec.decode(bad, |_| {}).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn length_and_close_delimited_bodies() {
        let mut dec = BodyDecoder::new(&head(false, Some(3)));
        assert_eq!(
            decode_all(&mut dec, &[b"ab", b"cdef"]).unwrap(),
            ("abc".into(), 1)
        );
        assert!(dec.is_done());
        let mut dec = BodyDecoder::new(&head(false, None));
        assert_eq!(decode_all(&mut dec, &[b"ab", b"cd"]).unwrap().0, "abcd");
        assert!(dec.until_close() && !dec.is_done());
        assert!(BodyDecoder::new(&head(false, Some(0))).is_done());
    }

    #[test]
    fn request_bytes_layout() {
        let req = request_bytes(
            "POST",
            "/v1/completions",
            "127.0.0.1:8000",
            &[("x-a".into(), "1".into())],
            b"{}",
        );
        assert_eq!(req, b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nx-a: 1\r\nContent-Length: 2\r\n\r\n{}");
    }
}

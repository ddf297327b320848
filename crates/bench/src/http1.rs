//! A minimal HTTP/1.1 client for the timing hot path: one request per connection at a time,
//! keep-alive connections in a small pool, `TCP_NODELAY`, and a response body read straight
//! from the socket by the request's own task.
//!
//! Why not a general HTTP client: hyper's client runs each connection as a separate task and
//! hands body frames to the caller through a channel, which costs two task wake-ups per token
//! and lets the arrival timestamp slip behind the socket read under load. Here the bytes are
//! timestamped by the read that returns them and decoded in place (chunked framing, then SSE).
//!
//! Arrival times come from the kernel where it can give them ([`Clock::Kernel`], Linux): every
//! socket has `SO_TIMESTAMPNS` on, and `recvmsg` returns with the data the time the kernel
//! queued its last byte on the socket. A client that gets to a socket late (1,000 streams on
//! two shared cores) still stamps each read with when the bytes arrived, not when it read
//! them; only bytes of two events that wait in the socket together share a timestamp (the
//! later one's). Elsewhere, or with `LLMSWEEP_BENCH_CLOCK=user`, the time is taken right after
//! the read returns ([`Clock::User`], what `vllm bench serve` does from Python).
//!
//! With `LLMSWEEP_BENCH_READ_DELAY=1`, [`diagnostics`] records how long each read's bytes
//! waited in the socket (read time minus kernel time): the error the user clock would add.

use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read buffer per request.
const READ_BUF: usize = 4 * 1024;
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Where arrival timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The kernel's receive time of the data (`SO_TIMESTAMPNS`), mapped onto [`Instant`].
    Kernel,
    /// [`Instant::now`] right after the read returned.
    User,
}

impl Clock {
    /// The clock in use: [`Clock::Kernel`] on Linux unless the environment variable
    /// `LLMSWEEP_BENCH_CLOCK` is `user` (read once, for comparison runs).
    pub fn current() -> Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        *CLOCK.get_or_init(|| {
            let user = std::env::var("LLMSWEEP_BENCH_CLOCK").is_ok_and(|v| v == "user");
            if user || !cfg!(target_os = "linux") {
                Clock::User
            } else {
                Clock::Kernel
            }
        })
    }
}

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
        if Clock::current() == Clock::Kernel {
            // Without it the reads simply carry no kernel time and fall back to `Instant::now`.
            let _ = stamp::enable(&stream);
        }
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
    /// `Content-Type: application/json` (a whole JSON body, not an SSE stream).
    pub json_body: bool,
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
        json_body: false,
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
        } else if name.eq_ignore_ascii_case("content-type") {
            out.json_body = value.to_ascii_lowercase().starts_with("application/json");
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
    /// When the bytes in `buf` arrived.
    buf_time: Instant,
    /// The latest arrival time handed out: arrival times never go backwards, nor before the
    /// request was written.
    last_arrival: Instant,
    /// Just before the request was written.
    written: Instant,
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
        let writing = Instant::now();
        match stream.write_all(request).await {
            Ok(()) => Ok(Exchange {
                stream,
                buf: vec![0u8; READ_BUF].into_boxed_slice(),
                pos: 0,
                end: 0,
                buf_time: writing,
                last_arrival: writing,
                written: writing,
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
            let n = match self.read().await {
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
                if diagnostics::enabled() {
                    diagnostics::HEAD_DELAY
                        .record(self.buf_time.saturating_duration_since(self.written));
                }
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
            let now = self.buf_time;
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
            let n = self.read().await.map_err(WireError::Io)?;
            let now = self.buf_time;
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

    /// Read into `buf` from its start; sets `buf_time` to when the bytes arrived.
    async fn read(&mut self) -> io::Result<usize> {
        let (n, kernel_time) = match Clock::current() {
            Clock::Kernel => stamp::read(&mut self.stream, &mut self.buf).await?,
            Clock::User => (self.stream.read(&mut self.buf).await?, None),
        };
        let now = Instant::now();
        let arrived = kernel_time.map_or(now, |t| stamp::to_instant(t, now, SystemTime::now()));
        if kernel_time.is_some() && n > 0 && diagnostics::enabled() {
            diagnostics::READ_DELAY.record(now.saturating_duration_since(arrived));
        }
        self.buf_time = arrived.max(self.last_arrival);
        self.last_arrival = self.buf_time;
        Ok(n)
    }

    /// The connection, if it can serve another request (body complete, nothing left over).
    pub fn into_reusable(self, head: &ResponseHead, body_done: bool) -> Option<TcpStream> {
        (body_done && !head.close && self.pos == self.end).then_some(self.stream)
    }
}

/// Diagnostics, collected only with `LLMSWEEP_BENCH_READ_DELAY=1` (lock-free, 10 µs buckets up
/// to 200 ms), since the last [`diagnostics::reset`]:
/// - [`diagnostics::READ_DELAY`]: how long bytes waited in the socket before the client read
///   them (read time minus kernel time, reads with a kernel timestamp): the error the user
///   clock would add, and how late the client is.
/// - [`diagnostics::FIRST_TOKEN_DELAY`]: the same for the read that held each request's first
///   token: what the user clock would add to TTFT.
/// - [`diagnostics::TTFT_KERNEL`] / [`diagnostics::TTFT_USER`], [`diagnostics::ITL_KERNEL`] /
///   [`diagnostics::ITL_USER`]: TTFT and ITL of the same token chunks timed by arrival (the
///   clock in use) and by the time they were read: the two clocks compared within one run.
/// - [`diagnostics::HEAD_DELAY`]: from writing a request to its response head's arrival. A
///   server that sends the head before the first token (vLLM, `llmsweep sim`) shows here how
///   long it took to take the request in.
pub mod diagnostics {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
    use std::time::Duration;

    const BUCKET_US: u64 = 10;
    const BUCKETS: usize = 20_000;

    /// A histogram of durations.
    pub struct Delays {
        counts: [AtomicU32; BUCKETS],
        total_ns: AtomicU64,
        max_ns: AtomicU64,
    }

    /// Socket arrival to read.
    pub static READ_DELAY: Delays = Delays::new();
    /// Socket arrival to read, for the first token of each request.
    pub static FIRST_TOKEN_DELAY: Delays = Delays::new();
    /// Request written to response head arrived.
    pub static HEAD_DELAY: Delays = Delays::new();
    /// TTFT of successful requests by the arrival time of the first token chunk.
    pub static TTFT_KERNEL: Delays = Delays::new();
    /// TTFT of the same requests by the time the first token chunk was read.
    pub static TTFT_USER: Delays = Delays::new();
    /// Gaps between token chunks by arrival time.
    pub static ITL_KERNEL: Delays = Delays::new();
    /// The same gaps by read time.
    pub static ITL_USER: Delays = Delays::new();

    /// Is the diagnostic on (`LLMSWEEP_BENCH_READ_DELAY=1`)?
    pub fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| std::env::var("LLMSWEEP_BENCH_READ_DELAY").is_ok_and(|v| v == "1"))
    }

    /// Forget what was recorded.
    pub fn reset() {
        for d in [
            &READ_DELAY,
            &FIRST_TOKEN_DELAY,
            &HEAD_DELAY,
            &TTFT_KERNEL,
            &TTFT_USER,
            &ITL_KERNEL,
            &ITL_USER,
        ] {
            d.reset();
        }
    }

    impl Delays {
        const fn new() -> Delays {
            Delays {
                counts: [const { AtomicU32::new(0) }; BUCKETS],
                total_ns: AtomicU64::new(0),
                max_ns: AtomicU64::new(0),
            }
        }

        /// Count one duration.
        pub fn record(&self, delay: Duration) {
            let ns = delay.as_nanos().min(u64::MAX as u128) as u64;
            let i = ((ns / 1000 / BUCKET_US) as usize).min(BUCKETS - 1);
            self.counts[i].fetch_add(1, Relaxed);
            self.total_ns.fetch_add(ns, Relaxed);
            self.max_ns.fetch_max(ns, Relaxed);
        }

        fn reset(&self) {
            for c in &self.counts {
                c.store(0, Relaxed);
            }
            self.total_ns.store(0, Relaxed);
            self.max_ns.store(0, Relaxed);
        }

        /// `n=N mean=… p50=… p90=… p99=… p99.9=… max=… ms`, or `None` if nothing was recorded.
        pub fn summary(&self) -> Option<String> {
            let counts: Vec<u64> = self
                .counts
                .iter()
                .map(|c| u64::from(c.load(Relaxed)))
                .collect();
            let n: u64 = counts.iter().sum();
            if n == 0 {
                return None;
            }
            // The upper edge of the bucket holding the q-quantile (at most the maximum).
            let max_ms = self.max_ns.load(Relaxed) as f64 / 1e6;
            let quantile = |q: f64| {
                let rank = ((q * n as f64).ceil() as u64).max(1);
                let mut seen = 0;
                for (i, &c) in counts.iter().enumerate() {
                    seen += c;
                    if seen >= rank {
                        return (((i as u64 + 1) * BUCKET_US) as f64 / 1e3).min(max_ms);
                    }
                }
                max_ms
            };
            Some(format!(
                "n={n} mean={:.3} p50={:.3} p90={:.3} p99={:.3} p99.9={:.3} max={:.3} ms",
                self.total_ns.load(Relaxed) as f64 / n as f64 / 1e6,
                quantile(0.5),
                quantile(0.9),
                quantile(0.99),
                quantile(0.999),
                max_ms
            ))
        }
    }
}

/// Kernel receive timestamps.
mod stamp {
    use super::*;

    /// Turn on receive timestamps for a socket.
    #[cfg(target_os = "linux")]
    pub fn enable(stream: &TcpStream) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and a pointer to a c_int of the given length.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn enable(_: &TcpStream) -> io::Result<()> {
        Ok(())
    }

    /// Wait for data and read it with the kernel's receive time of its last byte (wall clock),
    /// if the kernel gave one.
    #[cfg(target_os = "linux")]
    pub async fn read(
        stream: &mut TcpStream,
        buf: &mut [u8],
    ) -> io::Result<(usize, Option<SystemTime>)> {
        use std::os::fd::AsRawFd;
        use tokio::io::Interest;
        let fd = stream.as_raw_fd();
        loop {
            stream.readable().await?;
            let mut got = None;
            let res = stream.try_io(Interest::READABLE, || {
                let (n, t) = recvmsg(fd, buf)?;
                got = Some((n, t));
                // A short read emptied the socket: report "would block" so tokio forgets the
                // readiness now (as its own `read` does) instead of after one more `EAGAIN`
                // read. Data that arrives meanwhile raises a new readiness event.
                if n > 0 && n < buf.len() {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            if let Some(got) = got {
                return Ok(got);
            }
            match res {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(()) => unreachable!("a successful read sets `got`"),
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub async fn read(
        stream: &mut TcpStream,
        buf: &mut [u8],
    ) -> io::Result<(usize, Option<SystemTime>)> {
        Ok((stream.read(buf).await?, None))
    }

    /// One non-blocking `recvmsg` with room for an `SCM_TIMESTAMPNS` control message.
    #[cfg(target_os = "linux")]
    fn recvmsg(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<SystemTime>)> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // 64 bytes, 8-aligned: one cmsghdr (16) + one timespec (16), with room to spare.
        let mut control = [0u64; 8];
        // SAFETY: msghdr is a plain C struct for which all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` points at `iov` (into `buf`) and `control`, both alive and writable
        // for the lengths given.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut time = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel just filled, within
        // `msg_controllen`; the timestamp payload is read unaligned.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    time = SystemTime::UNIX_EPOCH.checked_add(Duration::new(
                        ts.tv_sec.max(0) as u64,
                        ts.tv_nsec.clamp(0, 999_999_999) as u32,
                    ));
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok((n as usize, time))
    }

    /// Map a wall-clock arrival time onto the monotonic clock: `now` minus its age, where
    /// `wall_now` was read right after `now`. A time in the future (the wall clock stepped
    /// back) is `now`; the caller keeps arrivals monotonic.
    pub fn to_instant(arrived: SystemTime, now: Instant, wall_now: SystemTime) -> Instant {
        let age = wall_now.duration_since(arrived).unwrap_or(Duration::ZERO);
        now.checked_sub(age).unwrap_or(now)
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
            json_body: false,
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
        assert!(!h.json_body);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12").unwrap();
        assert_eq!((h.content_length, h.close), (Some(12), false));
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: Application/JSON; charset=utf-8")
            .unwrap();
        assert!(h.json_body);
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

    #[test]
    fn wall_clock_arrival_maps_onto_the_monotonic_clock() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let ms = Duration::from_millis;
        assert_eq!(stamp::to_instant(wall - ms(5), now, wall), now - ms(5));
        // A kernel time after the wall clock's now (the clock stepped back) is now.
        assert_eq!(stamp::to_instant(wall + ms(5), now, wall), now);
    }

    #[test]
    fn delay_summary_counts_and_ranks() {
        diagnostics::reset();
        for us in [100u64, 200, 300, 5_000] {
            diagnostics::READ_DELAY.record(Duration::from_micros(us));
        }
        let text = diagnostics::READ_DELAY.summary().unwrap();
        assert!(text.starts_with("n=4 mean=1.400 p50=0.210 "), "{text}");
        assert!(
            text.ends_with("p99=5.000 p99.9=5.000 max=5.000 ms"),
            "{text}"
        );
        assert!(diagnostics::HEAD_DELAY.summary().is_none());
        diagnostics::reset();
        assert!(diagnostics::READ_DELAY.summary().is_none());
    }

    /// Bytes that wait in the socket keep the time they arrived, not the time they were read.
    #[tokio::test]
    async fn arrival_time_is_when_the_bytes_arrived() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut req)
                .await
                .unwrap();
            sock.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let first = Instant::now();
            sock.write_all(b"1\r\na\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
            let second = Instant::now();
            sock.write_all(b"1\r\nb\r\n0\r\n\r\n").await.unwrap();
            (first, second)
        });
        let pool = Pool::new("127.0.0.1", port, 1).await.unwrap();
        let (stream, reused) = pool.get().await.unwrap();
        let mut x = Exchange::send(stream, reused, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let head = x.read_head().await.unwrap();
        // Let both chunks wait in the socket.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (first, second) = server.await.unwrap();
        let mut body = BodyDecoder::new(&head);
        let mut seen = Vec::new();
        let done = x
            .read_body(&mut body, |d, at| {
                seen.push((d.to_vec(), at));
                true
            })
            .await
            .unwrap();
        let read_at = Instant::now();
        assert!(done);
        let text: Vec<u8> = seen.iter().flat_map(|(d, _)| d.clone()).collect();
        assert_eq!(text, b"ab");
        let (_, at) = seen.last().unwrap();
        if Clock::current() == Clock::Kernel {
            // Both chunks came in one read, stamped with the arrival of its last byte.
            assert!(*at >= second, "stamped before the bytes were sent");
            assert!(
                at.duration_since(second) < Duration::from_millis(20),
                "stamped {:?} after the last write, read {:?} after it",
                at.duration_since(second),
                read_at.duration_since(second)
            );
            assert!(*at > first);
        } else {
            assert!(at.duration_since(second) >= Duration::from_millis(60));
        }
    }
}

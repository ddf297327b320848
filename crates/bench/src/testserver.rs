//! A small OpenAI-compatible streaming server with exact timing and fault injection, for
//! tests and for the client's speed benchmark (`examples/fixed_server.rs`).
//!
//! It speaks just enough HTTP/1.1 (keep-alive, `Content-Length` request bodies, chunked
//! responses) to control every byte on the wire: TTFT and inter-token gaps on absolute
//! deadlines, HTTP errors with a body, malformed SSE lines, invalid JSON chunks, connection
//! resets mid-stream, streams that never finish, streams without usage, and events written one
//! byte per TCP segment. It is not a vLLM simulator (`llmsweep sim` is); it only makes the
//! client's inputs reproducible. `GET /stats` returns (and resets) how late the server itself
//! sent its tokens, so a benchmark can separate server delay from client delay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// What goes wrong, and for which requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Nothing.
    None,
    /// Answer with this status and body instead of a stream.
    Status(u16, String),
    /// Send a line that is not SSE after this many tokens.
    MalformedLine(usize),
    /// Send `data: {not json` after this many tokens.
    InvalidJson(usize),
    /// Reset the connection (RST) after this many tokens.
    ResetAfter(usize),
    /// Send the tokens, then neither `[DONE]` nor the end of the body: hang.
    NeverFinish,
    /// Send `[DONE]` and end the body without any token chunk.
    NoTokens,
    /// Send one `{"error": {"message": …}}` event, then `[DONE]`, without any token chunk.
    ErrorEvent(String),
}

/// Server settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Delay from the end of the request to the first token.
    pub ttft: Duration,
    /// Delay between tokens.
    pub itl: Duration,
    /// Tokens per response; `None` honours the request's `max_tokens`.
    pub tokens: Option<usize>,
    /// Send the usage chunk.
    pub usage: bool,
    /// Write every response byte separately (flushed), so events straddle TCP reads.
    pub split_writes: bool,
    /// The fault.
    pub fault: Fault,
    /// Apply the fault only to the first N requests (then behave); `None`: to every request.
    pub fault_first: Option<usize>,
    /// Apply the fault to every Nth request (index % N == 0); overrides `fault_first`.
    pub fault_every: Option<usize>,
    /// `(id, root)` listed by `/v1/models`.
    pub model: (String, String),
    /// Close each connection after its response without saying so (no `Connection: close`),
    /// like a server whose keep-alive timer fired: the client's pooled connection goes stale.
    pub close_silently: bool,
    /// Keep every request for [`TestServer::received`] (off for long benchmark runs).
    pub record_requests: bool,
    /// Serve vLLM's speculative-decoding counters on `/metrics`: per completion request served,
    /// 2 drafts of 3 tokens, 4 accepted (2 at position 0, 1 each at positions 1 and 2).
    pub spec_decode_metrics: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            ttft: Duration::from_millis(5),
            itl: Duration::from_millis(1),
            tokens: None,
            usage: true,
            split_writes: false,
            fault: Fault::None,
            fault_first: None,
            fault_every: None,
            model: ("test-model".into(), "org/test-model".into()),
            close_silently: false,
            record_requests: true,
            spec_decode_metrics: false,
        }
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Method and path, e.g. `POST /v1/completions`.
    pub line: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (null when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A running server; it stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Start on `127.0.0.1:port` (0 = an ephemeral port) inside the current tokio runtime.
    pub async fn start(behaviour: Behaviour, port: u16) -> std::io::Result<TestServer> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        let listener: TcpListener = socket.listen(4096)?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            behaviour,
            received: received.clone(),
            counter: Mutex::new(0),
            lateness: Mutex::new(Lateness::default()),
        });
        let accepted = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, shared.clone()));
            }
        });
        Ok(TestServer {
            addr,
            received,
            connections,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// The completion requests (`POST …completions`) received so far.
    pub fn completions(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.line.starts_with("POST ") && r.line.contains("completions"))
            .collect()
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

struct Shared {
    behaviour: Behaviour,
    received: Arc<Mutex<Vec<Received>>>,
    counter: Mutex<usize>,
    lateness: Mutex<Lateness>,
}

/// How late the server itself sent tokens (after its timer fired), so a benchmark can tell
/// server delay from client delay. Served and reset by `GET /stats`.
#[derive(Default)]
struct Lateness {
    first: Vec<f32>,
    all: Vec<f32>,
}

impl Lateness {
    fn record(&mut self, late: &[f32]) {
        if let Some(&first) = late.first() {
            self.first.push(first);
        }
        self.all.extend_from_slice(late);
    }

    fn take_json(&mut self) -> String {
        let summary = |v: &mut Vec<f32>| {
            let mut ms: Vec<f64> = v.drain(..).map(|x| x as f64 * 1000.0).collect();
            ms.sort_by(f64::total_cmp);
            let s = crate::stats::Summary::of(&ms, &[99.0]);
            serde_json::json!({"count": ms.len(), "mean": s.mean, "median": s.median, "p99": s.percentiles[0].1,
                               "max": ms.last().copied().unwrap_or(0.0)})
        };
        serde_json::json!({"first_token_late_ms": summary(&mut self.first), "token_late_ms": summary(&mut self.all)}).to_string()
    }
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(8192);
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        if shared.behaviour.record_requests
            && let Ok(mut r) = shared.received.lock()
        {
            r.push(request.clone());
        }
        let keep_going = if request.line.starts_with("GET /stats") {
            let body = shared
                .lateness
                .lock()
                .map(|mut l| l.take_json())
                .unwrap_or_default();
            write_plain(&mut stream, 200, &body).await
        } else if request.line.starts_with("GET /metrics") && shared.behaviour.spec_decode_metrics {
            let n = shared.counter.lock().map(|c| *c).unwrap_or(0);
            let body = format!(
                "# TYPE vllm:spec_decode_num_drafts_total counter\n\
                 vllm:spec_decode_num_drafts_total{{model_name=\"m\"}} {}\n\
                 vllm:spec_decode_num_draft_tokens_total{{model_name=\"m\"}} {}\n\
                 vllm:spec_decode_num_accepted_tokens_total{{model_name=\"m\"}} {}\n\
                 vllm:spec_decode_num_accepted_tokens_per_pos_total{{model_name=\"m\",position=\"0\"}} {}\n\
                 vllm:spec_decode_num_accepted_tokens_per_pos_total{{model_name=\"m\",position=\"1\"}} {}\n\
                 vllm:spec_decode_num_accepted_tokens_per_pos_total{{model_name=\"m\",position=\"2\"}} {}\n",
                2 * n,
                6 * n,
                4 * n,
                2 * n,
                n,
                n
            );
            write_plain(&mut stream, 200, &body).await
        } else if request.line.starts_with("GET /v1/models") {
            let (id, root) = &shared.behaviour.model;
            let body = serde_json::json!({"object": "list", "data": [{"id": id, "object": "model", "root": root}]}).to_string();
            write_plain(&mut stream, 200, &body).await
        } else if request.line.starts_with("POST ") && request.line.contains("completions") {
            let index = shared.counter.lock().map(|mut c| {
                *c += 1;
                *c - 1
            });
            stream_completion(&mut stream, &shared, &request, index.unwrap_or(0)).await
        } else {
            write_plain(&mut stream, 404, "{\"error\": \"not found\"}").await
        };
        let client_closes = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !keep_going || client_closes || shared.behaviour.close_silently {
            return;
        }
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Received> {
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[header_end..header_end + length].to_vec();
    buf.drain(..header_end + length);
    let line = request_line
        .rsplit_once(' ')
        .map_or(request_line.clone(), |(l, _)| l.to_string());
    Some(Received {
        line,
        headers,
        body,
    })
}

async fn write_plain(stream: &mut TcpStream, status: u16, body: &str) -> bool {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await.is_ok()
}

/// Writes SSE events as HTTP chunks, optionally one byte at a time.
struct ChunkWriter<'a> {
    stream: &'a mut TcpStream,
    split: bool,
}

impl ChunkWriter<'_> {
    async fn send(&mut self, payload: &str) -> bool {
        let framed = format!("{:x}\r\n{payload}\r\n", payload.len());
        if self.split {
            for byte in framed.as_bytes() {
                if self
                    .stream
                    .write_all(std::slice::from_ref(byte))
                    .await
                    .is_err()
                    || self.stream.flush().await.is_err()
                {
                    return false;
                }
            }
            true
        } else {
            self.stream.write_all(framed.as_bytes()).await.is_ok()
        }
    }
}

async fn stream_completion(
    stream: &mut TcpStream,
    shared: &Shared,
    request: &Received,
    index: usize,
) -> bool {
    let start = Instant::now();
    let b = &shared.behaviour;
    let body = request.json();
    let chat = request.line.contains("chat/completions");
    let faulty = match (b.fault_every, b.fault_first) {
        (Some(n), _) => index.is_multiple_of(n.max(1)),
        (None, Some(n)) => index < n,
        (None, None) => true,
    };
    let fault = if faulty { b.fault.clone() } else { Fault::None };
    if let Fault::Status(code, text) = &fault {
        return write_plain(stream, *code, text).await;
    }
    let max_tokens = body
        .get(if chat {
            "max_completion_tokens"
        } else {
            "max_tokens"
        })
        .and_then(|v| v.as_u64())
        .unwrap_or(16) as usize;
    let tokens = b.tokens.unwrap_or(max_tokens);
    let prompt_tokens = match body.get("prompt") {
        Some(serde_json::Value::Array(ids)) => ids.len(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().count(),
        _ => 1,
    };
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let split = b.split_writes;
    let mut w = ChunkWriter { stream, split };
    if let Fault::ErrorEvent(message) = &fault {
        let event = format!(
            "data: {}\n\n",
            serde_json::json!({"error": {"message": message, "code": 500}})
        );
        return w.send(&event).await
            && w.send("data: [DONE]\n\n").await
            && end_body(w.stream).await;
    }
    if chat && fault != Fault::NoTokens && !w.send("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n").await {
        return false;
    }
    let n_tokens = if fault == Fault::NoTokens { 0 } else { tokens };
    let mut late: Vec<f32> = Vec::with_capacity(n_tokens);
    for k in 0..n_tokens {
        match fault {
            Fault::MalformedLine(after) if after == k => {
                return w.send("this line is not server-sent events\n\n").await
                    && end_body(w.stream).await;
            }
            Fault::InvalidJson(after) if after == k => {
                return w.send("data: {\"choices\": [\n\n").await && end_body(w.stream).await;
            }
            Fault::ResetAfter(after) if after == k => {
                let _ = w.stream.set_zero_linger();
                return false;
            }
            _ => {}
        }
        let deadline = start + b.ttft + b.itl * k as u32;
        tokio::time::sleep_until(deadline.into()).await;
        late.push(
            Instant::now()
                .saturating_duration_since(deadline)
                .as_secs_f32(),
        );
        let finish = if k + 1 == n_tokens {
            "\"length\""
        } else {
            "null"
        };
        let event = if chat {
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" t{k}\"}},\"finish_reason\":{finish}}}]}}\n\n"
            )
        } else {
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"text\":\" t{k}\",\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
            )
        };
        if !w.send(&event).await {
            return false;
        }
    }
    if let Ok(mut stats) = shared.lateness.lock() {
        stats.record(&late);
    }
    if fault == Fault::NeverFinish {
        std::future::pending::<()>().await;
    }
    if b.usage && fault != Fault::NoTokens {
        let usage = format!(
            "data: {{\"id\":\"c\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{prompt_tokens},\"total_tokens\":{},\"completion_tokens\":{n_tokens}}}}}\n\n",
            prompt_tokens + n_tokens
        );
        if !w.send(&usage).await {
            return false;
        }
    }
    w.send("data: [DONE]\n\n").await && end_body(w.stream).await
}

async fn end_body(stream: &mut TcpStream) -> bool {
    stream.write_all(b"0\r\n\r\n").await.is_ok()
}

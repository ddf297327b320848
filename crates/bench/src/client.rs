//! The hot path: one streaming HTTP request, timed as its bytes arrive.
//!
//! The arrival time of every body frame is the time its read's bytes arrived (the kernel's
//! receive timestamp on Linux, else the time the read returned; see [`crate::http1`]), taken
//! before any parsing; SSE events inherit the time their data line completed (see
//! [`crate::sse`]).
//! JSON is parsed only after that timestamp, by a borrowing scanner that looks at the first
//! choice and the usage object. Inter-token gaps go into a vector reserved up front for the
//! expected number of tokens. Connections come from a keep-alive pool with `TCP_NODELAY`
//! ([`crate::http1`]), and the request's own task reads its socket.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};

use crate::chunk::{ChunkApi, ChunkKind, classify};
use crate::http1::{BodyDecoder, Exchange, Pool, WireError, request_bytes};
use crate::sse::{SseDecoder, SseEvent};

/// vLLM's error text for a 200 response without a single token chunk.
pub const NO_TOKEN_ERROR: &str =
    "Never received a valid chunk to calculate TTFT.This response will be marked as failed!";

/// How long to keep reading after `[DONE]` for the end of the body, so the connection can go
/// back to the pool. A server that never ends the body after `[DONE]` only loses the connection.
const DRAIN_AFTER_DONE: Duration = Duration::from_secs(1);

/// Largest error body kept in the error message.
const MAX_ERROR_BODY: usize = 2000;

/// Where and how to send requests.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full URL of the completions endpoint (`http://host:port/v1/completions`).
    pub url: Uri,
    /// Completions or chat parsing.
    pub api: ChunkApi,
    /// Headers sent with every request (authorization, `--header` pairs), already validated.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Give up on a request after this long (connect + whole stream).
    pub timeout: Duration,
    /// Keep the generated text (for `--save-detailed` or a tokenizer fallback count).
    pub collect_text: bool,
}

/// What happened to one request, with times as `Instant`s.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    /// The moment just before the request was handed to the connection.
    pub start: Instant,
    /// HTTP 200 and at least one token chunk.
    pub success: bool,
    /// Arrival time of the first token chunk.
    pub first_token: Option<Instant>,
    /// Arrival time of the last token chunk.
    pub last_token: Option<Instant>,
    /// Gaps between consecutive token chunks, seconds.
    pub itl_s: Vec<f64>,
    /// `usage.completion_tokens` from the server.
    pub completion_tokens: Option<u64>,
    /// `usage.prompt_tokens` from the server.
    pub prompt_tokens: Option<u64>,
    /// Concatenated streamed text (only with `collect_text`).
    pub generated_text: String,
    /// Empty on success; otherwise what went wrong.
    pub error: String,
}

impl StreamOutcome {
    /// The outcome of a request whose task died (a bug, not a server fault): failed, with why.
    pub fn crashed(at: Instant, error: String) -> StreamOutcome {
        StreamOutcome {
            start: at,
            success: false,
            first_token: None,
            last_token: None,
            itl_s: Vec::new(),
            completion_tokens: None,
            prompt_tokens: None,
            generated_text: String::new(),
            error,
        }
    }
}

/// A pooled HTTP/1.1 client for one endpoint.
#[derive(Clone)]
pub struct StreamClient {
    pool: std::sync::Arc<Pool>,
    endpoint: std::sync::Arc<Endpoint>,
    host_header: std::sync::Arc<str>,
    path: std::sync::Arc<str>,
    headers: std::sync::Arc<Vec<(String, String)>>,
}

impl StreamClient {
    /// A client whose pool keeps up to `pool_size` idle connections; resolves the host now.
    pub async fn connect(endpoint: Endpoint, pool_size: usize) -> Result<StreamClient, String> {
        let url = &endpoint.url;
        let host = url.host().ok_or_else(|| format!("{url} has no host"))?;
        let port = url.port_u16().unwrap_or(80);
        let pool = Pool::new(host, port, pool_size)
            .await
            .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?;
        let host_header = url
            .authority()
            .map_or_else(|| format!("{host}:{port}"), |a| a.as_str().to_string());
        let path = url.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("User-Agent".to_string(), "llmsweep-bench".to_string()),
        ];
        for (name, value) in &endpoint.headers {
            headers.push((
                name.as_str().to_string(),
                value
                    .to_str()
                    .map_err(|_| format!("header {name} is not printable ASCII"))?
                    .to_string(),
            ));
        }
        Ok(StreamClient {
            pool: std::sync::Arc::new(pool),
            endpoint: std::sync::Arc::new(endpoint),
            host_header: host_header.into(),
            path: path.into(),
            headers: std::sync::Arc::new(headers),
        })
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Send one request body and time its stream. Never panics and never returns an error:
    /// every failure is recorded in the outcome.
    pub async fn send(
        &self,
        body: Bytes,
        request_id: Option<&str>,
        expected_tokens: usize,
    ) -> StreamOutcome {
        let mut state = StreamState::new(
            self.endpoint.api,
            self.endpoint.collect_text,
            expected_tokens,
        );
        let request = match request_id {
            Some(id) => {
                let mut headers = (*self.headers).clone();
                headers.push(("x-request-id".to_string(), id.to_string()));
                request_bytes("POST", &self.path, &self.host_header, &headers, &body)
            }
            None => request_bytes("POST", &self.path, &self.host_header, &self.headers, &body),
        };
        let start = Instant::now();
        let timeout = self.endpoint.timeout;
        let result = tokio::time::timeout(timeout, self.exchange(&request, &mut state)).await;
        if result.is_err() {
            let got = if state.first_token.is_some() {
                format!("after {} token chunks", state.itl_s.len() + 1)
            } else {
                "before any token".into()
            };
            state.error = Some(format!(
                "request timed out after {:.3} s (--request-timeout), {got}",
                timeout.as_secs_f64()
            ));
        }
        state.finish(start)
    }

    async fn exchange(&self, request: &[u8], state: &mut StreamState) {
        // A pooled connection the server closed while idle fails before any response byte;
        // such a request is sent again once, on a fresh connection.
        for attempt in 0..2 {
            let (stream, reused) = match self.pool.get().await {
                Ok(s) => s,
                Err(e) => {
                    return state.fail(format!(
                        "connection error: cannot connect to {}: {e}",
                        self.host_header
                    ));
                }
            };
            let mut exchange = match Exchange::send(stream, reused, request).await {
                Ok(x) => x,
                Err(WireError::StaleConnection(_)) if attempt == 0 => continue,
                Err(e) => return state.fail(format!("connection error: {e}")),
            };
            let head = match exchange.read_head().await {
                Ok(h) => h,
                Err(WireError::StaleConnection(_)) if attempt == 0 => continue,
                Err(e) => return state.fail(format!("connection error: {e}")),
            };
            let mut body = BodyDecoder::new(&head);
            if head.status != 200 {
                let mut text = Vec::new();
                let _ = exchange
                    .read_body(&mut body, |data, _| {
                        text.extend_from_slice(data);
                        text.len() <= MAX_ERROR_BODY
                    })
                    .await;
                text.truncate(MAX_ERROR_BODY);
                return state.fail(format!(
                    "HTTP {} {}: {}",
                    head.status,
                    head.reason,
                    String::from_utf8_lossy(&text).trim()
                ));
            }
            let mut sse: SseDecoder<Instant> = SseDecoder::new();
            let mut done = false;
            let read = exchange
                .read_body(&mut body, |data, now| {
                    match sse.feed(data, now, |ev, at| state.on_event(ev, at)) {
                        Ok(true) => true,
                        Ok(false) => {
                            done = true;
                            false
                        }
                        Err(e) => {
                            state.fail(sse_error_text(&e, head.json_body));
                            false
                        }
                    }
                })
                .await;
            let body_done = match read {
                Err(e) => {
                    return state.fail(format!(
                        "stream broke after {} token chunks: {e}",
                        state.token_chunks()
                    ));
                }
                Ok(_) if state.error.is_some() => return,
                Ok(body_done) if !done => {
                    if let Err(e) = sse.finish(Instant::now(), |ev, at| state.on_event(ev, at)) {
                        state.fail(sse_error_text(&e, head.json_body));
                    }
                    body_done
                }
                // [DONE]: read the end of the body so the connection can be reused.
                Ok(_) => matches!(
                    tokio::time::timeout(
                        DRAIN_AFTER_DONE,
                        exchange.read_body(&mut body, |_, _| true)
                    )
                    .await,
                    Ok(Ok(true))
                ),
            };
            if let Some(stream) = exchange.into_reusable(&head, body_done) {
                self.pool.put(stream);
            }
            return;
        }
    }
}

/// An SSE decoding error, explained when the server sent a whole JSON body instead.
fn sse_error_text(e: &crate::sse::SseError, json_body: bool) -> String {
    if json_body {
        format!(
            "{e}: the server answered with one JSON body (application/json), not an SSE \
             stream; does it ignore \"stream\": true?"
        )
    } else {
        e.to_string()
    }
}

/// Per-request parsing state, fed by the SSE decoder.
struct StreamState {
    api: ChunkApi,
    collect_text: bool,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    itl_s: Vec<f64>,
    completion_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
    text: String,
    error: Option<String>,
    /// The first `error` event's message (vLLM ignores such events; kept to explain a
    /// stream that never sends a token).
    server_error: Option<String>,
    /// Diagnostics only: when the first and the latest token chunk were read (user clock).
    first_read: Option<Instant>,
    last_read: Option<Instant>,
}

impl StreamState {
    fn new(api: ChunkApi, collect_text: bool, expected_tokens: usize) -> StreamState {
        StreamState {
            api,
            collect_text,
            first_token: None,
            last_token: None,
            itl_s: Vec::with_capacity(expected_tokens.clamp(1, 1 << 16)),
            completion_tokens: None,
            prompt_tokens: None,
            text: String::new(),
            error: None,
            server_error: None,
            first_read: None,
            last_read: None,
        }
    }

    /// `LLMSWEEP_BENCH_READ_DELAY=1`: the same token chunk timed by both clocks, the arrival
    /// time `at` and the time it was read (now, right after the read and this chunk's parse).
    fn diagnose(&mut self, at: Instant) {
        use crate::http1::diagnostics as d;
        let read = Instant::now();
        match (self.last_token, self.last_read) {
            (Some(prev), Some(prev_read)) => {
                d::ITL_KERNEL.record(at.saturating_duration_since(prev));
                d::ITL_USER.record(read.saturating_duration_since(prev_read));
            }
            _ => {
                d::FIRST_TOKEN_DELAY.record(read.saturating_duration_since(at));
                self.first_read = Some(read);
            }
        }
        self.last_read = Some(read);
    }

    fn token_chunks(&self) -> usize {
        if self.first_token.is_some() {
            self.itl_s.len() + 1
        } else {
            0
        }
    }

    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    /// Handle one SSE event; `false` stops reading.
    fn on_event(&mut self, event: SseEvent<'_>, at: Instant) -> bool {
        let data = match event {
            SseEvent::Done => return false,
            SseEvent::Data(d) => d,
        };
        match classify(data, self.api) {
            Ok(ChunkKind::Token(text)) => {
                if crate::http1::diagnostics::enabled() {
                    self.diagnose(at);
                }
                match self.last_token {
                    None => self.first_token = Some(at),
                    Some(prev) => self.itl_s.push(at.duration_since(prev).as_secs_f64()),
                }
                self.last_token = Some(at);
                if self.collect_text {
                    self.text.push_str(&text);
                }
                true
            }
            Ok(ChunkKind::Usage {
                completion_tokens,
                prompt_tokens,
            }) => {
                self.completion_tokens = completion_tokens;
                if prompt_tokens.is_some() {
                    self.prompt_tokens = prompt_tokens;
                }
                true
            }
            Ok(ChunkKind::ServerError(message)) => {
                if self.server_error.is_none() {
                    self.server_error = Some(message);
                }
                true
            }
            Ok(ChunkKind::Other) => true,
            Err(e) => {
                let shown = String::from_utf8_lossy(&data[..data.len().min(200)]).into_owned();
                self.fail(format!(
                    "invalid JSON chunk after {} token chunks: {e}: {shown:?}",
                    self.token_chunks()
                ));
                false
            }
        }
    }

    fn finish(self, start: Instant) -> StreamOutcome {
        let error = match (self.error, self.first_token) {
            (Some(e), _) => e,
            (None, None) => match self.server_error {
                Some(message) => format!("{NO_TOKEN_ERROR} The stream carried an error: {message}"),
                None => NO_TOKEN_ERROR.to_string(),
            },
            (None, Some(_)) => String::new(),
        };
        if let (true, Some(first), Some(first_read)) = (
            error.is_empty() && crate::http1::diagnostics::enabled(),
            self.first_token,
            self.first_read,
        ) {
            use crate::http1::diagnostics as d;
            d::TTFT_KERNEL.record(first.saturating_duration_since(start));
            d::TTFT_USER.record(first_read.saturating_duration_since(start));
        }
        StreamOutcome {
            start,
            success: error.is_empty(),
            first_token: self.first_token,
            last_token: self.last_token,
            itl_s: self.itl_s,
            completion_tokens: self.completion_tokens,
            prompt_tokens: self.prompt_tokens,
            generated_text: self.text,
            error,
        }
    }
}

/// `outer: inner: …` for an error and its sources.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn data(s: &str) -> SseEvent<'_> {
        SseEvent::Data(s.as_bytes())
    }

    #[test]
    fn ttft_itl_and_e2el_come_from_token_chunks_only() {
        let t0 = Instant::now();
        let mut s = StreamState::new(ChunkApi::Completions, true, 4);
        assert!(s.on_event(data(r#"{"choices":[{"text":"a"}]}"#), at(t0, 50)));
        assert!(s.on_event(data(r#"{"choices":[{"text":"b"}]}"#), at(t0, 60)));
        assert!(s.on_event(data(r#"{"choices":[{"text":""}]}"#), at(t0, 75)));
        assert!(s.on_event(
            data(r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#),
            at(t0, 90)
        ));
        assert!(
            !s.on_event(SseEvent::Done, at(t0, 95)),
            "[DONE] stops reading"
        );
        let o = s.finish(t0);
        assert!(o.success && o.error.is_empty());
        assert_eq!(o.first_token, Some(at(t0, 50)));
        assert_eq!(
            o.last_token,
            Some(at(t0, 75)),
            "the usage chunk does not move the end"
        );
        assert_eq!(o.itl_s, vec![0.01, 0.015]);
        assert_eq!((o.completion_tokens, o.prompt_tokens), (Some(3), Some(9)));
        assert_eq!(o.generated_text, "ab");
    }

    #[test]
    fn chat_role_chunk_is_not_the_first_token() {
        let t0 = Instant::now();
        let mut s = StreamState::new(ChunkApi::Chat, false, 2);
        s.on_event(
            data(r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#),
            at(t0, 5),
        );
        s.on_event(
            data(r#"{"choices":[{"delta":{"content":"x"}}]}"#),
            at(t0, 50),
        );
        let o = s.finish(t0);
        assert_eq!(o.first_token, Some(at(t0, 50)));
        assert!(o.itl_s.is_empty());
        assert!(o.generated_text.is_empty(), "text is kept only when asked");
    }

    #[test]
    fn invalid_json_fails_and_stops() {
        let t0 = Instant::now();
        let mut s = StreamState::new(ChunkApi::Completions, false, 2);
        s.on_event(data(r#"{"choices":[{"text":"a"}]}"#), at(t0, 1));
        assert!(!s.on_event(data("{oops"), at(t0, 2)));
        let o = s.finish(t0);
        assert!(!o.success);
        assert!(
            o.error
                .starts_with("invalid JSON chunk after 1 token chunks"),
            "{}",
            o.error
        );
    }

    #[test]
    fn no_token_chunk_is_vllms_failure() {
        let o = StreamState::new(ChunkApi::Completions, false, 1).finish(Instant::now());
        assert!(!o.success);
        assert_eq!(o.error, NO_TOKEN_ERROR);
    }

    #[test]
    fn an_error_event_without_tokens_keeps_the_servers_message() {
        let base = Instant::now();
        let mut s = StreamState::new(ChunkApi::Completions, false, 1);
        assert!(s.on_event(data(r#"{"error":{"message":"engine died"}}"#), at(base, 1)));
        let o = s.finish(base);
        assert!(!o.success);
        assert_eq!(
            o.error,
            format!("{NO_TOKEN_ERROR} The stream carried an error: engine died")
        );
        // After a token the request counts as vLLM counts it: a success.
        let mut s = StreamState::new(ChunkApi::Completions, false, 1);
        s.on_event(data(r#"{"choices":[{"text":"a"}]}"#), at(base, 1));
        s.on_event(data(r#"{"error":{"message":"aborted"}}"#), at(base, 2));
        assert!(s.finish(base).success);
    }

    #[test]
    fn error_chain_joins_sources_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(error_chain(&outer), "refused");
    }
}

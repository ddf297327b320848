//! The hot path: one streaming HTTP request, timed as its bytes arrive.
//!
//! The arrival time of every body frame is taken right after the socket read returns, before
//! any parsing; SSE events inherit the time their data line completed (see [`crate::sse`]).
//! JSON is parsed only after that timestamp, by a borrowing scanner that looks at the first
//! choice and the usage object. Inter-token gaps go into a vector reserved up front for the
//! expected number of tokens. Connections come from a keep-alive pool with `TCP_NODELAY`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::chunk::{ChunkApi, ChunkKind, classify};
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
    client: Client<HttpConnector, Full<Bytes>>,
    endpoint: std::sync::Arc<Endpoint>,
}

impl StreamClient {
    /// A client whose pool keeps up to `pool_size` idle connections.
    pub fn new(endpoint: Endpoint, pool_size: usize) -> StreamClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        connector.set_connect_timeout(Some(endpoint.timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool_size.max(1))
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        StreamClient {
            client,
            endpoint: std::sync::Arc::new(endpoint),
        }
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
        let mut builder = Request::post(self.endpoint.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        for (name, value) in &self.endpoint.headers {
            builder = builder.header(name, value);
        }
        if let Some(id) = request_id {
            builder = builder.header("x-request-id", id);
        }
        let mut state = StreamState::new(
            self.endpoint.api,
            self.endpoint.collect_text,
            expected_tokens,
        );
        let request = match builder.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => {
                state.error = Some(format!("cannot build the HTTP request: {e}"));
                return state.finish(Instant::now());
            }
        };
        let start = Instant::now();
        let timeout = self.endpoint.timeout;
        let result = tokio::time::timeout(timeout, self.exchange(request, &mut state)).await;
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

    async fn exchange(&self, request: Request<Full<Bytes>>, state: &mut StreamState) {
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => {
                state.error = Some(format!("connection error: {}", error_chain(&e)));
                return;
            }
        };
        let status = response.status();
        let mut body = response.into_body();
        if status != StatusCode::OK {
            let mut text = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    text.extend_from_slice(&data);
                }
                if text.len() > MAX_ERROR_BODY {
                    break;
                }
            }
            text.truncate(MAX_ERROR_BODY);
            let reason = status.canonical_reason().unwrap_or("");
            state.error = Some(format!(
                "HTTP {} {reason}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&text).trim()
            ));
            return;
        }
        let mut decoder: SseDecoder<Instant> = SseDecoder::new();
        loop {
            match body.frame().await {
                None => {
                    let now = Instant::now();
                    if let Err(e) = decoder.finish(now, |ev, at| state.on_event(ev, at)) {
                        state.fail(e.to_string());
                    }
                    return;
                }
                Some(Err(e)) => {
                    state.fail(format!(
                        "stream broke after {} token chunks: {}",
                        state.token_chunks(),
                        error_chain(&e)
                    ));
                    return;
                }
                Some(Ok(frame)) => {
                    let now = Instant::now();
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match decoder.feed(&data, now, |ev, at| state.on_event(ev, at)) {
                        Err(e) => return state.fail(e.to_string()),
                        Ok(true) => {}
                        Ok(false) => {
                            if state.error.is_none() {
                                // [DONE]: read the end of the body so the connection is reusable.
                                let _ = tokio::time::timeout(DRAIN_AFTER_DONE, async {
                                    while let Some(Ok(_)) = body.frame().await {}
                                })
                                .await;
                            }
                            return;
                        }
                    }
                }
            }
        }
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
        }
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
            (None, None) => NO_TOKEN_ERROR.to_string(),
            (None, Some(_)) => String::new(),
        };
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

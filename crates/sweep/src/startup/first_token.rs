//! The first request a freshly started server answers: the model it serves
//! (`GET /v1/models`, `data[0].id`), then one short streamed completion
//! (`POST /v1/completions`, `"stream": true`, one token). The instant the first token
//! arrives is taken as the bytes come off the socket, before any JSON is parsed.
//!
//! A small blocking HTTP/1.1 client, enough for OpenAI-compatible servers (uvicorn's
//! chunked transfer encoding, or a body delimited by the connection's end). Plain HTTP only.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::http::BaseUrl;

/// The prompt of the first request.
pub const PROMPT: &str = "Hello";
/// Tokens asked for: one is all the measurement needs.
pub const MAX_TOKENS: u32 = 1;
/// Longest error body quoted in messages.
const QUOTE_LIMIT: usize = 500;

/// The model a server serves: `data[0].id` of `GET /v1/models`, as `vllm bench serve` finds
/// it when `--model` is not given.
pub fn served_model(base: &BaseUrl, timeout: Duration) -> Result<String> {
    let url = base.url("/v1/models");
    let deadline = Instant::now() + timeout;
    let (mut stream, mut response) = send(base, "GET", "/v1/models", None, deadline)
        .with_context(|| format!("GET {url} failed"))?;
    let mut body = std::mem::take(&mut response.body);
    read_to_end(&mut stream, &response, &mut body, deadline)
        .with_context(|| format!("reading the answer of GET {url}"))?;
    let text = String::from_utf8_lossy(&body);
    if response.status != 200 {
        bail!(
            "GET {url} answered HTTP {}: {}",
            response.status,
            quote(&text)
        );
    }
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("GET {url} did not answer JSON ({e}): {}", quote(&text)))?;
    doc.pointer("/data/0/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            anyhow!(
                "GET {url} lists no model (expected {{\"data\": [{{\"id\": …}}]}}): {}",
                quote(&text)
            )
        })
}

/// Send one streamed completion for `model` and return the instant its first token
/// arrived.
pub fn first_token(base: &BaseUrl, model: &str, timeout: Duration) -> Result<Instant> {
    let url = base.url("/v1/completions");
    let body = json!({
        "model": model,
        "prompt": PROMPT,
        "max_tokens": MAX_TOKENS,
        "stream": true,
    })
    .to_string();
    let deadline = Instant::now() + timeout;
    let (mut stream, mut response) = send(base, "POST", "/v1/completions", Some(&body), deadline)
        .with_context(|| {
        format!(
            "POST {url} failed (the first request, model {model:?}, within {} s)",
            timeout.as_secs()
        )
    })?;
    if response.status != 200 {
        let mut body = std::mem::take(&mut response.body);
        let _ = read_to_end(&mut stream, &response, &mut body, deadline);
        bail!(
            "POST {url} answered HTTP {} to the first request (model {model:?}): {}",
            response.status,
            quote(&String::from_utf8_lossy(&body))
        );
    }
    let mut scanner = StreamScanner::new(response.chunked);
    if scanner.feed(&response.body)? {
        return Ok(response.received_at);
    }
    let mut buf = [0u8; 8192];
    loop {
        set_timeout(&stream, deadline)
            .with_context(|| format!("no token from POST {url} within {} s", timeout.as_secs()))?;
        let n = stream.read(&mut buf).map_err(|e| {
            anyhow!(
                "reading the stream of POST {url}: {e} (no token within {} s)",
                timeout.as_secs()
            )
        })?;
        let now = Instant::now();
        if n == 0 {
            bail!(
                "the stream of POST {url} ended without a token; last event: {}",
                scanner.last_event().unwrap_or("(none)")
            );
        }
        if scanner.feed(&buf[..n])? {
            return Ok(now);
        }
    }
}

/// An answer's status line and headers, with the body bytes read along with them.
#[derive(Debug)]
struct Response {
    status: u16,
    chunked: bool,
    content_length: Option<usize>,
    body: Vec<u8>,
    /// When the read that completed the headers returned.
    received_at: Instant,
}

fn send(
    base: &BaseUrl,
    method: &str,
    path: &str,
    body: Option<&str>,
    deadline: Instant,
) -> Result<(TcpStream, Response)> {
    let mut stream = connect(base, deadline)?;
    let host = if base.host.contains(':') {
        format!("[{}]", base.host)
    } else {
        base.host.clone()
    };
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: llmsweep\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        base.prefix,
        base.port,
        body.len()
    );
    set_timeout(&stream, deadline)?;
    stream.write_all(request.as_bytes())?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        set_timeout(&stream, deadline)?;
        let n = stream.read(&mut buf)?;
        let received_at = Instant::now();
        if n == 0 {
            bail!("the server closed the connection before answering");
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = find(&head, b"\r\n\r\n") {
            let mut response = parse_head(&head[..end])?;
            response.body = head[end + 4..].to_vec();
            response.received_at = received_at;
            return Ok((stream, response));
        }
        if head.len() > 64 * 1024 {
            bail!("the answer's headers are longer than 64 KiB");
        }
    }
}

fn connect(base: &BaseUrl, deadline: Instant) -> Result<TcpStream> {
    let addrs: Vec<_> = (base.host.as_str(), base.port).to_socket_addrs()?.collect();
    let mut last = anyhow!("{} resolves to no address", base.host);
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

fn remaining(deadline: Instant) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        bail!("timed out");
    }
    Ok(left)
}

fn set_timeout(stream: &TcpStream, deadline: Instant) -> Result<()> {
    let left = remaining(deadline)?;
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;
    Ok(())
}

fn read_to_end(
    stream: &mut TcpStream,
    response: &Response,
    body: &mut Vec<u8>,
    deadline: Instant,
) -> Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        if response.content_length.is_some_and(|n| body.len() >= n)
            || (response.chunked && body.ends_with(b"0\r\n\r\n"))
        {
            break;
        }
        set_timeout(stream, deadline)?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    if response.chunked {
        let mut decoded = Vec::new();
        ChunkedDecoder::default()
            .feed(body, &mut decoded)
            .map_err(anyhow::Error::msg)?;
        *body = decoded;
    }
    Ok(())
}

fn parse_head(head: &[u8]) -> Result<Response> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("not an HTTP answer: {}", quote(status_line)))?;
    let mut chunked = false;
    let mut content_length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok();
        }
    }
    Ok(Response {
        status,
        chunked,
        content_length,
        body: Vec::new(),
        received_at: Instant::now(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn quote(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "(empty body)".into();
    }
    match t.char_indices().nth(QUOTE_LIMIT) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

/// Decodes `Transfer-Encoding: chunked` as bytes arrive.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

#[derive(Debug)]
enum ChunkState {
    /// Reading a size line (hex, maybe `;extensions`).
    Size(Vec<u8>),
    /// This many data bytes to pass on.
    Data(usize),
    /// This many bytes of the CRLF after a chunk's data to skip.
    DataEnd(usize),
    /// The last chunk was read; trailers are ignored.
    Done,
}

impl Default for ChunkState {
    fn default() -> Self {
        ChunkState::Size(Vec::new())
    }
}

impl ChunkedDecoder {
    /// Decode `input`, appending the data to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() {
            match &mut self.state {
                ChunkState::Size(line) => {
                    let Some(nl) = input.iter().position(|b| *b == b'\n') else {
                        line.extend_from_slice(input);
                        return Ok(());
                    };
                    line.extend_from_slice(&input[..nl]);
                    input = &input[nl + 1..];
                    let text = String::from_utf8_lossy(line);
                    let hex = text.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(hex, 16)
                        .map_err(|_| format!("bad chunk size {hex:?} in a chunked answer"))?;
                    self.state = if size == 0 {
                        ChunkState::Done
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let n = (*left).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    *left -= n;
                    if *left == 0 {
                        self.state = ChunkState::DataEnd(2);
                    }
                }
                ChunkState::DataEnd(left) => {
                    let n = (*left).min(input.len());
                    input = &input[n..];
                    *left -= n;
                    if *left == 0 {
                        self.state = ChunkState::Size(Vec::new());
                    }
                }
                ChunkState::Done => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Finds the first token in a server-sent event stream: the first `data:` event whose
/// JSON has a non-empty `choices` list (vLLM's rule for TTFT).
#[derive(Debug)]
pub struct StreamScanner {
    chunked: Option<ChunkedDecoder>,
    line: Vec<u8>,
    last_event: Option<String>,
}

impl StreamScanner {
    /// A scanner for a body that is chunked or not.
    pub fn new(chunked: bool) -> Self {
        Self {
            chunked: chunked.then(ChunkedDecoder::default),
            line: Vec::new(),
            last_event: None,
        }
    }

    /// Feed body bytes as they arrive; true once a token has been seen. An error event or
    /// `[DONE]` before any token is an error.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool> {
        let mut decoded;
        let data = match &mut self.chunked {
            Some(decoder) => {
                decoded = Vec::with_capacity(bytes.len());
                decoder
                    .feed(bytes, &mut decoded)
                    .map_err(anyhow::Error::msg)?;
                &decoded[..]
            }
            None => bytes,
        };
        for &b in data {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let line = String::from_utf8_lossy(&self.line).trim_end().to_string();
            self.line.clear();
            let Some(payload) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            self.last_event = Some(quote(payload));
            if payload == "[DONE]" {
                bail!("the stream ended ([DONE]) without a token");
            }
            let event: Value = serde_json::from_str(payload)
                .map_err(|e| anyhow!("a stream event is not JSON ({e}): {}", quote(payload)))?;
            if event
                .get("choices")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
            {
                return Ok(true);
            }
            if let Some(err) = event.get("error") {
                bail!("the server sent an error instead of a token: {err}");
            }
        }
        Ok(false)
    }

    /// The last event seen, for messages.
    pub fn last_event(&self) -> Option<&str> {
        self.last_event.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn chunk(data: &str) -> String {
        format!("{:x}\r\n{data}\r\n", data.len())
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_split() {
        let body = format!(
            "{}{}0\r\n\r\n",
            chunk("data: {\"a\": 1}\n\n"),
            chunk("data: [DONE]\n\n")
        );
        for split in 0..body.len() {
            let mut d = ChunkedDecoder::default();
            let mut out = Vec::new();
            d.feed(&body.as_bytes()[..split], &mut out).unwrap();
            d.feed(&body.as_bytes()[split..], &mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "data: {\"a\": 1}\n\ndata: [DONE]\n\n",
                "split at {split}"
            );
        }
        let mut out = Vec::new();
        assert!(
            ChunkedDecoder::default()
                .feed(b"zz\r\n", &mut out)
                .unwrap_err()
                .contains("chunk size")
        );
    }

    #[test]
    fn the_first_event_with_choices_is_the_token() {
        let mut s = StreamScanner::new(false);
        assert!(!s.feed(b": keep-alive\n\nevent: x\n").unwrap());
        assert!(!s.feed(b"data: {\"choices\": []}\n\ndata: {\"cho").unwrap());
        assert!(
            s.feed(b"ices\":[{\"text\":\"x\",\"index\":0}]}\r\n\r\n")
                .unwrap()
        );
        let mut s = StreamScanner::new(true);
        let body = chunk("data: {\"choices\":[{\"text\":\"x\",\"index\":0}]}\n\n");
        assert!(s.feed(body.as_bytes()).unwrap());
    }

    #[test]
    fn streams_without_a_token_are_errors() {
        let e = StreamScanner::new(false)
            .feed(b"data: [DONE]\n\n")
            .unwrap_err();
        assert!(e.to_string().contains("without a token"), "{e}");
        let e = StreamScanner::new(false)
            .feed(b"data: {\"error\": {\"message\": \"model not found\"}}\n\n")
            .unwrap_err();
        assert!(e.to_string().contains("model not found"), "{e}");
        let e = StreamScanner::new(false)
            .feed(b"data: not json\n\n")
            .unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
    }

    /// A one-shot server answering `reply` to the first connection; returns what it read.
    fn serve_once(reply: impl Into<Vec<u8>>) -> (BaseUrl, std::thread::JoinHandle<String>) {
        let reply = reply.into();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(&reply).unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (BaseUrl::from_host_port("127.0.0.1", port), t)
    }

    #[test]
    fn the_model_comes_from_v1_models() {
        let body = r#"{"data": [{"id": "m1"}, {"id": "m2"}]}"#;
        let (base, t) = serve_once(format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!(served_model(&base, Duration::from_secs(5)).unwrap(), "m1");
        assert!(t.join().unwrap().starts_with("GET /v1/models HTTP/1.1"));
        let (base, _t) = serve_once("HTTP/1.1 200 OK\r\n\r\n{\"data\": []}");
        let e = served_model(&base, Duration::from_secs(5)).unwrap_err();
        assert!(format!("{e:#}").contains("lists no model"), "{e:#}");
    }

    #[test]
    fn a_streamed_completion_yields_the_first_token() {
        let (base, t) = serve_once(format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{}",
            chunk("data: {\"choices\":[{\"text\":\"x\",\"index\":0}]}\n\n")
        ));
        let before = Instant::now();
        let at = first_token(&base, "m1", Duration::from_secs(5)).unwrap();
        assert!(at >= before);
        let request = t.join().unwrap();
        assert!(request.starts_with("POST /v1/completions HTTP/1.1"));
    }

    #[test]
    fn an_http_error_is_quoted() {
        let body = r#"{"error": "model m9 does not exist"}"#;
        let (base, _t) = serve_once(format!(
            "HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ));
        let e = first_token(&base, "m9", Duration::from_secs(5)).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("HTTP 404") && msg.contains("does not exist") && msg.contains("m9"),
            "{msg}"
        );
    }
}

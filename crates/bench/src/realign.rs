//! Re-align text prompts to the server's tokenizer before the timed run, as vLLM 0.33.0 does
//! for the `random` and `prefix_repetition` datasets (`_align_prompts_to_server_tokenizer`).
//!
//! The prompts were built to be `prompt_len` tokens long with the local `--tokenizer`; a server
//! with another tokenizer counts them differently. The first prompt is sent to `POST /tokenize`
//! (`add_special_tokens: false`); when the server's count equals its `prompt_len`, nothing
//! changes. Otherwise every prompt is tokenized on the server, and one longer than its
//! `prompt_len` is cut to `prompt_len` server tokens and turned back into text with
//! `POST /detokenize`. Shorter prompts stay as they are, `prompt_len` is not changed, and a
//! prompt whose own calls fail keeps its original text. At most [`MAX_IN_FLIGHT`] calls run
//! at once. When `/tokenize` cannot be used at all (no route, unknown model, no server), the
//! step is skipped with a warning. Prompts sent as token ids are never touched.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::dataset::{Prompt, SampleRequest};
use crate::discovery::{self, HttpError};

/// Most `/tokenize` + `/detokenize` calls in flight at once (vLLM's semaphore).
pub const MAX_IN_FLIGHT: usize = 64;

/// The server's tokenizer, as far as re-alignment needs it.
pub trait ServerTokens: Send + Sync + 'static {
    /// Token ids of `prompt` without special tokens.
    fn tokenize(&self, prompt: &str) -> impl Future<Output = Result<Vec<u64>, HttpError>> + Send;
    /// The text of `tokens`.
    fn detokenize(&self, tokens: &[u64]) -> impl Future<Output = Result<String, HttpError>> + Send;
}

/// What [`align`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No prompts, or prompts sent as token ids: nothing to align.
    NotText,
    /// The server counts the first prompt as the client does.
    Matched,
    /// `/tokenize` could not be used; the prompts are unchanged. The warning to print.
    Skipped(String),
    /// The server's count differed: the warning printed before re-aligning, and how many
    /// prompts were shortened.
    Realigned {
        /// `tokenizer mismatch (server=N, expected=M), re-aligning prompts.`
        warning: String,
        /// Prompts whose text was replaced.
        shortened: usize,
    },
}

/// `/tokenize` and `/detokenize` of the server at `base_url`, for `model`.
pub struct HttpServerTokens {
    tokenize_url: String,
    detokenize_url: String,
    model: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

impl HttpServerTokens {
    /// Calls go to `{base_url}/tokenize` and `{base_url}/detokenize` with `headers` (the API
    /// key and `--header` pairs); each call gives up after `timeout`.
    pub fn new(
        base_url: &str,
        model: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        timeout: Duration,
    ) -> HttpServerTokens {
        let base = base_url.trim_end_matches('/');
        HttpServerTokens {
            tokenize_url: format!("{base}/tokenize"),
            detokenize_url: format!("{base}/detokenize"),
            model: model.to_string(),
            headers,
            timeout,
        }
    }
}

fn field_error(url: &str, what: &str) -> HttpError {
    HttpError {
        status: None,
        message: format!("POST {url}: the response has no {what}"),
    }
}

impl ServerTokens for HttpServerTokens {
    fn tokenize(&self, prompt: &str) -> impl Future<Output = Result<Vec<u64>, HttpError>> + Send {
        let body = json!({"model": self.model, "prompt": prompt, "add_special_tokens": false});
        async move {
            let answer =
                discovery::post_json(&self.tokenize_url, &self.headers, &body, self.timeout)
                    .await?;
            answer
                .get("tokens")
                .and_then(Value::as_array)
                .and_then(|ids| ids.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
                .ok_or_else(|| field_error(&self.tokenize_url, "\"tokens\" list of token ids"))
        }
    }

    fn detokenize(&self, tokens: &[u64]) -> impl Future<Output = Result<String, HttpError>> + Send {
        let body = json!({"model": self.model, "tokens": tokens});
        async move {
            let answer =
                discovery::post_json(&self.detokenize_url, &self.headers, &body, self.timeout)
                    .await?;
            answer
                .get("prompt")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| field_error(&self.detokenize_url, "string \"prompt\""))
        }
    }
}

/// Re-align `samples` to `server`'s tokenizer (see the module documentation). `model` only
/// names the model in the warning when `/tokenize` answers 404.
pub async fn align<T: ServerTokens>(
    server: Arc<T>,
    model: &str,
    samples: &mut [SampleRequest],
) -> Outcome {
    let Some(Prompt::Text(first_text)) = samples.first().map(|s| &s.prompt) else {
        return Outcome::NotText;
    };
    let first = match server.tokenize(first_text).await {
        Ok(tokens) => tokens,
        Err(e) => {
            let hint = match e.status {
                Some(404) => format!(
                    "404 Not Found: either this server has no /tokenize route, or it does not serve a model named `{model}` (its served names are listed by GET /v1/models)"
                ),
                Some(status) => format!("HTTP {status}"),
                None => e.message,
            };
            return Outcome::Skipped(format!(
                "/tokenize unavailable ({hint}), skipping alignment."
            ));
        }
    };
    let expected = samples[0].prompt_len;
    if first.len() as u64 == expected {
        return Outcome::Matched;
    }
    let warning = format!(
        "tokenizer mismatch (server={}, expected={expected}), re-aligning prompts.",
        first.len()
    );

    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, sample) in samples.iter().enumerate() {
        let Prompt::Text(text) = &sample.prompt else {
            continue;
        };
        let (text, prompt_len) = (text.clone(), sample.prompt_len as usize);
        let (server, permits) = (server.clone(), permits.clone());
        tasks.spawn(async move {
            let tokens = {
                let _permit = permits.acquire().await.ok()?;
                server.tokenize(&text).await.ok()?
            };
            if tokens.len() <= prompt_len {
                return None;
            }
            let _permit = permits.acquire().await.ok()?;
            let corrected = server.detokenize(&tokens[..prompt_len]).await.ok()?;
            Some((index, corrected))
        });
    }
    let mut shortened = 0;
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some((index, corrected))) = done {
            samples[index].prompt = Prompt::Text(corrected);
            shortened += 1;
        }
    }
    Outcome::Realigned { warning, shortened }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A server whose tokenizer splits on characters: one token per char, ids are the code
    /// points. Prompts in `fail_tokenize` answer 500; `tokenize_status` fails every call.
    #[derive(Default)]
    struct CharServer {
        tokenize_status: Option<Option<u16>>,
        fail_tokenize: Vec<String>,
        fail_detokenize: bool,
        in_flight: AtomicUsize,
        peak: AtomicUsize,
        calls: Mutex<HashMap<&'static str, usize>>,
    }

    impl CharServer {
        async fn call<R>(&self, name: &'static str, f: impl FnOnce() -> R) -> R {
            *self.calls.lock().unwrap().entry(name).or_default() += 1;
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            f()
        }

        fn calls(&self, name: &str) -> usize {
            self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
        }
    }

    fn error(status: Option<u16>) -> HttpError {
        HttpError {
            status,
            message: "POST http://x/tokenize: connection refused".into(),
        }
    }

    impl ServerTokens for CharServer {
        fn tokenize(
            &self,
            prompt: &str,
        ) -> impl Future<Output = Result<Vec<u64>, HttpError>> + Send {
            let prompt = prompt.to_string();
            async move {
                self.call("tokenize", || {
                    if let Some(status) = self.tokenize_status {
                        return Err(error(status));
                    }
                    if self.fail_tokenize.contains(&prompt) {
                        return Err(error(Some(500)));
                    }
                    Ok(prompt.chars().map(|c| c as u64).collect())
                })
                .await
            }
        }

        fn detokenize(
            &self,
            tokens: &[u64],
        ) -> impl Future<Output = Result<String, HttpError>> + Send {
            let tokens = tokens.to_vec();
            async move {
                self.call("detokenize", || {
                    if self.fail_detokenize {
                        return Err(error(Some(500)));
                    }
                    Ok(tokens
                        .iter()
                        .map(|&t| char::from_u32(t as u32).unwrap())
                        .collect())
                })
                .await
            }
        }
    }

    fn text(prompt: &str, prompt_len: u64) -> SampleRequest {
        SampleRequest {
            prompt: Prompt::Text(prompt.into()),
            prompt_len,
            expected_output_len: 8,
            request_id: None,
        }
    }

    fn prompts(samples: &[SampleRequest]) -> Vec<String> {
        samples
            .iter()
            .map(|s| match &s.prompt {
                Prompt::Text(t) => t.clone(),
                Prompt::TokenIds(ids) => format!("{ids:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn longer_prompts_are_cut_shorter_ones_kept_prompt_len_unchanged() {
        let server = Arc::new(CharServer::default());
        let mut samples = vec![text("abcdef", 4), text("xy", 4), text("0123456", 3)];
        let outcome = align(server.clone(), "m", &mut samples).await;
        assert_eq!(
            outcome,
            Outcome::Realigned {
                warning: "tokenizer mismatch (server=6, expected=4), re-aligning prompts.".into(),
                shortened: 2
            }
        );
        assert_eq!(prompts(&samples), ["abcd", "xy", "012"]);
        assert_eq!(
            samples.iter().map(|s| s.prompt_len).collect::<Vec<_>>(),
            [4, 4, 3]
        );
        assert_eq!(
            server.calls("detokenize"),
            2,
            "the short prompt is not sent"
        );
    }

    #[tokio::test]
    async fn matching_first_prompt_changes_nothing() {
        let server = Arc::new(CharServer::default());
        let mut samples = vec![text("abcd", 4), text("much too long", 4)];
        assert_eq!(
            align(server.clone(), "m", &mut samples).await,
            Outcome::Matched
        );
        assert_eq!(prompts(&samples), ["abcd", "much too long"]);
        assert_eq!(
            server.calls("tokenize"),
            1,
            "only the first prompt is probed"
        );
    }

    #[tokio::test]
    async fn unusable_tokenize_skips_with_the_reason() {
        for (status, reason) in [
            (Some(404), "does not serve a model named `my-model`"),
            (Some(401), "(HTTP 401)"),
            (None, "connection refused"),
        ] {
            let server = Arc::new(CharServer {
                tokenize_status: Some(status),
                ..CharServer::default()
            });
            let mut samples = vec![text("abcdef", 4)];
            let Outcome::Skipped(warning) = align(server, "my-model", &mut samples).await else {
                panic!("expected a skip for {status:?}");
            };
            assert!(
                warning.contains(reason) && warning.ends_with("skipping alignment."),
                "{warning}"
            );
            assert_eq!(prompts(&samples), ["abcdef"]);
        }
    }

    #[tokio::test]
    async fn a_failing_prompt_keeps_its_text() {
        let server = Arc::new(CharServer {
            fail_tokenize: vec!["second one".into()],
            ..CharServer::default()
        });
        let mut samples = vec![text("first one", 5), text("second one", 5)];
        let outcome = align(server, "m", &mut samples).await;
        assert!(matches!(outcome, Outcome::Realigned { shortened: 1, .. }));
        assert_eq!(prompts(&samples), ["first", "second one"]);

        let server = Arc::new(CharServer {
            fail_detokenize: true,
            ..CharServer::default()
        });
        let mut samples = vec![text("first one", 5)];
        let outcome = align(server, "m", &mut samples).await;
        assert!(matches!(outcome, Outcome::Realigned { shortened: 0, .. }));
        assert_eq!(prompts(&samples), ["first one"]);
    }

    #[tokio::test]
    async fn token_id_prompts_are_not_touched() {
        let server = Arc::new(CharServer::default());
        let mut samples = vec![SampleRequest {
            prompt: Prompt::TokenIds(vec![5, 6, 7]),
            prompt_len: 2,
            expected_output_len: 1,
            request_id: None,
        }];
        assert_eq!(
            align(server.clone(), "m", &mut samples).await,
            Outcome::NotText
        );
        assert_eq!(server.calls("tokenize"), 0);
        assert_eq!(
            align(server, "m", &mut []).await,
            Outcome::NotText,
            "no prompts"
        );
    }

    #[tokio::test]
    async fn at_most_64_calls_in_flight() {
        let server = Arc::new(CharServer::default());
        let mut samples: Vec<SampleRequest> = (0..300).map(|_| text("abcdef", 3)).collect();
        let outcome = align(server.clone(), "m", &mut samples).await;
        assert!(matches!(outcome, Outcome::Realigned { shortened: 300, .. }));
        let peak = server.peak.load(Ordering::SeqCst);
        assert!(
            peak <= MAX_IN_FLIGHT && peak > 1,
            "peak {peak} calls in flight"
        );
    }

    #[tokio::test]
    async fn http_server_tokens_speaks_the_vllm_api() {
        // A one-shot server per call: checks the request body, answers like vLLM.
        async fn serve_once(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let handle = tokio::spawn(async move {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = sock.read(&mut buf).await.unwrap();
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break;
                        }
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                sock.write_all(reply.as_bytes()).await.unwrap();
                String::from_utf8_lossy(&seen).to_string()
            });
            (base, handle)
        }
        let auth = (
            hyper::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer k"),
        );
        let (base, seen) = serve_once(r#"{"count": 3, "tokens": [7, 8, 9]}"#).await;
        let server = HttpServerTokens::new(&base, "m", vec![auth.clone()], Duration::from_secs(5));
        assert_eq!(server.tokenize("hi").await.unwrap(), vec![7, 8, 9]);
        let request = seen.await.unwrap();
        assert!(request.starts_with("POST /tokenize "), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains("authorization: bearer k")
        );
        for field in [
            r#""model":"m""#,
            r#""prompt":"hi""#,
            r#""add_special_tokens":false"#,
        ] {
            assert!(request.contains(field), "{field} missing: {request}");
        }

        let (base, seen) = serve_once(r#"{"prompt": "hey"}"#).await;
        let server = HttpServerTokens::new(&base, "m", vec![], Duration::from_secs(5));
        assert_eq!(server.detokenize(&[7, 8]).await.unwrap(), "hey");
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("POST /detokenize ") && request.contains(r#""tokens":[7,8]"#),
            "{request}"
        );

        let (base, _seen) = serve_once(r#"{"oops": 1}"#).await;
        let server = HttpServerTokens::new(&base, "m", vec![], Duration::from_secs(5));
        let err = server.tokenize("hi").await.unwrap_err();
        assert!(err.message.contains("\"tokens\""), "{err}");
    }
}

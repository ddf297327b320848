//! Before the run: reach the server and learn the model name from `GET /v1/models`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::client::error_chain;

/// The first model the server lists: `(id, root)`; `root` falls back to `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedModel {
    /// `data[0].id`: the name to send in requests.
    pub id: String,
    /// `data[0].root`, else `id`: the model id written to the result.
    pub root: String,
}

/// Read `data[0]` from a `/v1/models` response body.
pub fn parse_models(body: &[u8]) -> Result<ServedModel, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the response is not JSON ({e})"))?;
    let first = value
        .get("data")
        .and_then(|d| d.as_array())
        .and_then(|d| d.first())
        .ok_or("the response has no models (expected {\"data\": [{\"id\": …}, …]})")?;
    let id = first
        .get("id")
        .and_then(|v| v.as_str())
        .ok_or("data[0] has no string \"id\"")?
        .to_string();
    let root = first
        .get("root")
        .and_then(|v| v.as_str())
        .map_or_else(|| id.clone(), str::to_owned);
    Ok(ServedModel { id, root })
}

/// Why a `GET` or `POST` before the run failed: the HTTP status when the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status of a non-2xx answer; `None` when there was no answer (connection, timeout).
    pub status: Option<u16>,
    /// One line naming the method, the URL and the cause.
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl HttpError {
    fn other(message: String) -> HttpError {
        HttpError {
            status: None,
            message,
        }
    }

    /// The server refused the credentials (HTTP 401 or 403).
    pub fn is_auth_refusal(&self) -> bool {
        matches!(self.status, Some(401 | 403))
    }
}

/// One request with an optional JSON body: the body of a 2xx answer, else an error naming the
/// method and the URL.
async fn exchange(
    method: hyper::Method,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Option<Bytes>,
    timeout: Duration,
) -> Result<Bytes, HttpError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| HttpError::other(format!("{url} is not a valid URL ({e})")))?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    if body.is_some() {
        builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(Full::new(body.unwrap_or_default()))
        .map_err(|e| HttpError::other(format!("cannot build {method} {url}: {e}")))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| HttpError::other(format!("{method} {url}: {}", error_chain(&e))))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| HttpError::other(format!("{method} {url}: {}", error_chain(&e))))?
            .to_bytes();
        if !status.is_success() {
            return Err(HttpError {
                status: Some(status.as_u16()),
                message: format!(
                    "{method} {url}: HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(500)])
                ),
            });
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(HttpError::other(format!(
                "{method} {url}: no answer within {} s",
                timeout.as_secs_f64()
            )))
        })
}

/// `GET {url}` once: the body of a 2xx answer, else an error naming the URL.
pub async fn get(
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<Bytes, HttpError> {
    exchange(hyper::Method::GET, url, headers, None, timeout).await
}

/// `POST {url}` with a JSON body once: the answer parsed as JSON, else an error naming the URL.
pub async fn post_json(
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<serde_json::Value, HttpError> {
    let bytes = Bytes::from(body.to_string());
    let answer = exchange(hyper::Method::POST, url, headers, Some(bytes), timeout).await?;
    serde_json::from_slice(&answer)
        .map_err(|e| HttpError::other(format!("POST {url}: the response is not JSON ({e})")))
}

/// `GET {base_url}/v1/models` once.
pub async fn fetch_first_model(
    base_url: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<ServedModel, HttpError> {
    let url = format!("{}/v1/models", base_url.trim_end_matches('/'));
    let body = get(&url, headers, timeout).await?;
    parse_models(&body).map_err(|e| HttpError::other(format!("GET {url}: {e}")))
}

/// Can a TCP connection to the URL's host and port be opened?
pub async fn probe_tcp(uri: &Uri, timeout: Duration) -> Result<(), String> {
    let host = uri.host().ok_or_else(|| format!("{uri} has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot connect to {host}:{port}: {e}")),
        Err(_) => Err(format!(
            "cannot connect to {host}:{port}: no answer within {} s",
            timeout.as_secs_f64()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_model_id_and_root() {
        let body = br#"{"object":"list","data":[{"id":"smollm2","root":"HuggingFaceTB/SmolLM2-135M-Instruct"},{"id":"other"}]}"#;
        assert_eq!(
            parse_models(body),
            Ok(ServedModel {
                id: "smollm2".into(),
                root: "HuggingFaceTB/SmolLM2-135M-Instruct".into()
            })
        );
        assert_eq!(parse_models(br#"{"data":[{"id":"m"}]}"#).unwrap().root, "m");
        assert!(
            parse_models(br#"{"data":[]}"#)
                .unwrap_err()
                .contains("no models")
        );
        assert!(parse_models(b"<html>").unwrap_err().contains("not JSON"));
    }
}

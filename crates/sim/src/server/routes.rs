//! The HTTP routes. Handlers parse, validate, hand the request to the engine thread and
//! turn its progress into bytes; they never wait on the simulated clock themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::oneshot;

use crate::api::error::ApiError;
use crate::api::render::{ChunkTemplate, Usage, answer_text, full_response};
use crate::api::request::{Endpoint, parse, plan_output};
use crate::api::tokenize::{PieceTable, RequestedModel};
use crate::engine::{FinishReason, NewRequest, prompt_blocks};
use crate::hashing::mix;
use crate::metrics::escape_label;
use crate::server::driver::EngineMsg;
use crate::server::sink::{
    Framing, LagStats, ResponseContext, Sink, SseStream, streams_open, wait_finished,
};
use crate::tokenizer::SimTokenizer;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Set once start-up is over.
    pub ready: AtomicBool,
    /// The engine thread's inbox.
    pub engine: Sender<EngineMsg>,
    /// Names requests may use; the first is the default.
    pub served_model_names: Vec<String>,
    /// The model id (`root`).
    pub root: String,
    /// `--max-model-len`.
    pub max_model_len: u32,
    /// `--block-size`.
    pub block_size: u32,
    /// `--seed`.
    pub seed: u64,
    /// The simulated tokenizer.
    pub tokenizer: SimTokenizer,
    /// `--api-key` keys (or `VLLM_API_KEY`); any one of them is accepted. Empty: no auth.
    pub api_keys: Vec<String>,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
    /// Unix time the server started (`created`).
    pub created: u64,
    /// Emission lag statistics.
    pub lag: Arc<LagStats>,
    /// Wall time of virtual 0.
    pub t0: Instant,
    /// Counter behind generated request ids.
    pub next_id: AtomicU64,
    /// How tokens that are ready together are framed.
    pub framing: Framing,
    /// Pieces behind the ids `/tokenize` handed out.
    pub pieces: std::sync::Mutex<PieceTable>,
}

type Shared = Arc<AppState>;

/// All routes.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(health))
        .route("/ping", get(health))
        .route("/version", get(version))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/reset_prefix_cache", post(reset_prefix_cache))
        .route("/reset_mm_cache", post(reset_mm_cache))
        .route("/reset_encoder_cache", post(reset_encoder_cache))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ))
        .with_state(state)
}

/// Path prefixes vLLM's `AuthenticationMiddleware` guards; `/health`, `/metrics`,
/// `/tokenize`, … stay open.
const GUARDED_PREFIXES: [&str; 4] = ["/v1", "/v2", "/inference", "/cohere"];

/// Does the `Authorization` header carry one of `keys`, as vLLM checks it: scheme `Bearer`
/// in any case, then a space, then the key exactly.
pub fn key_accepted(keys: &[String], authorization: Option<&HeaderValue>) -> bool {
    let Some(value) = authorization.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let (scheme, param) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    // Every key is compared, so the time taken does not say which one nearly matched.
    keys.iter()
        .fold(false, |hit, key| hit | (key.as_bytes() == param.as_bytes()))
}

/// vLLM's API-key middleware: with keys set, a request under a guarded prefix (any method
/// but OPTIONS, known route or not) without one of them gets 401 `{"error":"Unauthorized"}`.
async fn authenticate(State(st): State<Shared>, request: Request, next: Next) -> Response {
    let guarded = GUARDED_PREFIXES
        .iter()
        .any(|p| request.uri().path().starts_with(p));
    if st.api_keys.is_empty()
        || request.method() == Method::OPTIONS
        || !guarded
        || key_accepted(&st.api_keys, request.headers().get(header::AUTHORIZATION))
    {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"error":"Unauthorized"}"#,
    )
        .into_response()
}

fn error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        err.body(),
    )
        .into_response()
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn check_ready(st: &AppState) -> Result<(), ApiError> {
    if st.ready.load(Ordering::Acquire) {
        Ok(())
    } else {
        Err(ApiError::starting())
    }
}

async fn health(State(st): State<Shared>) -> Response {
    match check_ready(&st) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => error_response(&e),
    }
}

async fn version() -> Response {
    json_response(json!({ "version": env!("CARGO_PKG_VERSION") }).to_string())
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"detail":"Not Found"}"#,
    )
        .into_response()
}

/// FastAPI's answer to a known path with another method.
async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"detail":"Method Not Allowed"}"#,
    )
        .into_response()
}

async fn models(State(st): State<Shared>) -> Response {
    if let Err(e) = check_ready(&st) {
        return error_response(&e);
    }
    let data: Vec<_> = st
        .served_model_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "id": name,
                "object": "model",
                "created": st.created,
                "owned_by": "llmsweep-sim",
                "root": st.root,
                "parent": null,
                "max_model_len": st.max_model_len,
                // vLLM's one default ModelPermission per card.
                "permission": [{
                    "id": format!("modelperm-{:016x}{:016x}", mix(st.created, i as u64), mix(st.seed, i as u64)),
                    "object": "model_permission",
                    "created": st.created,
                    "allow_create_engine": false,
                    "allow_sampling": true,
                    "allow_logprobs": true,
                    "allow_search_indices": false,
                    "allow_view": true,
                    "allow_fine_tuning": false,
                    "organization": "*",
                    "group": null,
                    "is_blocking": false,
                }],
            })
        })
        .collect();
    json_response(json!({"object": "list", "data": data}).to_string())
}

async fn metrics(State(st): State<Shared>) -> Response {
    let (tx, rx) = oneshot::channel();
    let model = st.served_model_names[0].clone();
    if st
        .engine
        .send(EngineMsg::Metrics(model.clone(), tx))
        .is_err()
    {
        return error_response(&ApiError::internal("the engine thread has stopped"));
    }
    let Ok(mut text) = rx.await else {
        return error_response(&ApiError::internal("the engine thread has stopped"));
    };
    let labels = format!("engine=\"0\",model_name=\"{}\"", escape_label(&model));
    st.lag.render(&mut text, &labels);
    text.push_str("# HELP llmsweep_sim:open_streams Streaming responses currently open.\n");
    text.push_str("# TYPE llmsweep_sim:open_streams gauge\n");
    text.push_str(&format!(
        "llmsweep_sim:open_streams{{{labels}}} {:?}\n",
        streams_open() as f64
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn reset(st: &AppState, msg: EngineMsg) -> Response {
    match st.engine.send(msg) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => error_response(&ApiError::internal("the engine thread has stopped")),
    }
}

/// vLLM 0.33: `{"success": bool}`; false while requests hold KV blocks.
/// `reset_external` is a no-op, as in vLLM without a KV connector; `reset_running_requests`
/// (preempt everything, then reset) is refused rather than ignored.
async fn reset_prefix_cache(State(st): State<Shared>, uri: axum::http::Uri) -> Response {
    for pair in uri.query().unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let on = matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        );
        if key == "reset_running_requests" && on {
            return error_response(
                &ApiError::bad_request(
                    "reset_running_requests=true is not supported by llmsweep sim: it does not \
                     preempt running requests to reset the prefix cache; retry once they end",
                )
                .with_param("reset_running_requests"),
            );
        }
    }
    let (tx, rx) = oneshot::channel();
    if st.engine.send(EngineMsg::ResetPrefixCache(tx)).is_err() {
        return error_response(&ApiError::internal("the engine thread has stopped"));
    }
    match rx.await {
        Ok(success) => json_response(json!({ "success": success }).to_string()),
        Err(_) => error_response(&ApiError::internal("the engine thread has stopped")),
    }
}

async fn reset_mm_cache(State(st): State<Shared>) -> Response {
    reset(&st, EngineMsg::ResetMmCache)
}

async fn reset_encoder_cache(State(st): State<Shared>) -> Response {
    reset(&st, EngineMsg::ResetEncoderCache)
}

/// vLLM's `validate_json_request` on the generation routes: the media type must be
/// `application/json` (any case, parameters allowed), or 400 before the body is read.
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = value.split(';').next().unwrap_or("");
    if media_type.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::validation(
            &["Unsupported Media Type: Only 'application/json' is allowed".to_string()],
            None,
        ))
    }
}

/// The body of a request to a ready server, within the size limit.
async fn read_body(st: &AppState, body: Body) -> Result<bytes::Bytes, ApiError> {
    check_ready(st)?;
    axum::body::to_bytes(body, st.max_body_bytes)
        .await
        .map_err(|_| ApiError::body_too_large(st.max_body_bytes))
}

fn served_model(st: &AppState, requested: &RequestedModel) -> Result<String, ApiError> {
    match requested {
        Some(m) if st.served_model_names.iter().any(|n| n == m) => Ok(m.clone()),
        Some(m) => Err(ApiError::unknown_model(m, &st.served_model_names)),
        None => Ok(st.served_model_names[0].clone()),
    }
}

// Like vLLM, only /v1 routes ask for the API key.
async fn tokenize(State(st): State<Shared>, body: Body) -> Response {
    let answer = async {
        let bytes = read_body(&st, body).await?;
        let mut table = st.pieces.lock().unwrap_or_else(|p| p.into_inner());
        let (model, body) = table.tokenize(&bytes, &st.tokenizer, st.max_model_len)?;
        served_model(&st, &model)?;
        Ok::<_, ApiError>(body)
    };
    answer
        .await
        .map_or_else(|e| error_response(&e), json_response)
}

async fn detokenize(State(st): State<Shared>, body: Body) -> Response {
    let answer = async {
        let bytes = read_body(&st, body).await?;
        let table = st.pieces.lock().unwrap_or_else(|p| p.into_inner());
        let (model, body) = table.detokenize(&bytes, &st.tokenizer)?;
        served_model(&st, &model)?;
        Ok::<_, ApiError>(body)
    };
    answer
        .await
        .map_or_else(|e| error_response(&e), json_response)
}

async fn completions(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    generate(st, Endpoint::Completions, headers, body).await
}

async fn chat_completions(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    generate(st, Endpoint::Chat, headers, body).await
}

async fn generate(st: Shared, endpoint: Endpoint, headers: HeaderMap, body: Body) -> Response {
    let arrived = Instant::now();
    match start_generation(&st, endpoint, &headers, body, arrived).await {
        Ok(response) => response,
        Err(e) => error_response(&e),
    }
}

async fn start_generation(
    st: &Shared,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Body,
    arrived: Instant,
) -> Result<Response, ApiError> {
    check_ready(st)?;
    check_json_content_type(headers)?;
    let bytes = read_body(st, body).await?;
    let req = parse(endpoint, &bytes, &st.tokenizer)?;
    let model = served_model(st, &req.model)?;
    let plan = plan_output(&req, st.max_model_len, st.seed)?;

    let n = st.next_id.fetch_add(1, Ordering::Relaxed);
    let prefix = match endpoint {
        Endpoint::Completions => "cmpl",
        Endpoint::Chat => "chatcmpl",
    };
    let response_id = match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(given) => format!("{prefix}-{given}"),
        None => format!(
            "{prefix}-{:016x}{:016x}",
            mix(st.created, n),
            mix(n, st.seed)
        ),
    };
    let (block_hashes, prompt_tail) = prompt_blocks(&req.prompt, st.block_size);
    let sink = Arc::new(Sink::default());
    let prompt_tokens = req.prompt.len() as u32;
    st.engine
        .send(EngineMsg::Submit {
            request: NewRequest {
                id: n,
                arrival_ns: 0,
                prompt_len: prompt_tokens,
                block_hashes,
                prompt_tail,
                text_key: plan.text_key,
                output_len: plan.output_len,
                finish: plan.finish,
            },
            arrived,
            sink: Arc::clone(&sink),
        })
        .map_err(|_| ApiError::internal("the engine thread has stopped"))?;
    let ctx = ResponseContext {
        id: n,
        text_key: plan.text_key,
        prompt_tokens,
        sink,
        engine: st.engine.clone(),
        lag: Arc::clone(&st.lag),
        t0: st.t0,
    };
    if req.stream {
        let template = ChunkTemplate::new(endpoint, &response_id, st.created, &model);
        let stream = SseStream::new(
            ctx,
            template,
            (req.include_usage, req.continuous_usage),
            st.framing,
        );
        let mut response = Body::from_stream(stream).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        return Ok(response);
    }
    let progress = wait_finished(ctx)
        .await
        .ok_or_else(|| ApiError::internal("the server is shutting down"))?;
    let finish = progress.finish.unwrap_or(FinishReason::Abort);
    let body = full_response(
        endpoint,
        &response_id,
        st.created,
        &model,
        &answer_text(plan.text_key, progress.generated),
        finish,
        Usage {
            prompt_tokens,
            completion_tokens: progress.generated,
            cached_tokens: progress.cached_tokens,
        },
    );
    Ok(json_response(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_listed_key_is_accepted_with_a_bearer_scheme_in_any_case() {
        let keys = vec!["k1".to_string(), "k 2".to_string()];
        let ok = |h: &str| key_accepted(&keys, Some(&HeaderValue::from_str(h).unwrap()));
        assert!(ok("Bearer k1"));
        assert!(ok("bearer k1"));
        assert!(
            ok("BEARER k 2"),
            "the key is everything after the first space"
        );
        assert!(!ok("Bearer k3"));
        assert!(!ok("Bearer  k1"), "no trimming, as vLLM");
        assert!(!ok("Basic k1"));
        assert!(!ok("Bearer"));
        assert!(!ok("k1"));
        assert!(!key_accepted(&keys, None));
        assert!(!key_accepted(
            &[],
            Some(&HeaderValue::from_static("Bearer "))
        ));
    }

    #[test]
    fn generation_bodies_must_be_declared_json() {
        let with = |ct: Option<&'static str>| {
            let mut h = HeaderMap::new();
            if let Some(ct) = ct {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            check_json_content_type(&h)
        };
        assert!(with(Some("application/json")).is_ok());
        assert!(with(Some("Application/JSON; charset=utf-8")).is_ok());
        for bad in [None, Some("text/plain"), Some("application/jsonl")] {
            let err = with(bad).unwrap_err();
            assert_eq!((err.status, err.kind()), (400, "Bad Request"));
            assert!(
                err.message.contains("Unsupported Media Type"),
                "{}",
                err.message
            );
        }
    }
}

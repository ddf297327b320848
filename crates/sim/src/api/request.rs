//! Parsing and validating `/v1/completions` and `/v1/chat/completions` bodies, with vLLM's
//! checks and error wording. Sampling parameters (temperature, top_p, penalties, stop, …)
//! are accepted and have no effect, as every answer is a deterministic function of the
//! seed and the prompt (a stop string is simply never produced). Options that would add
//! to or reshape the response (n ≠ 1, echo, logprobs, beam search, token ids) are refused
//! with a 400 naming the field, rather than answered without what they ask for.

use serde_json::{Map, Value};

use crate::api::error::ApiError;
use crate::engine::FinishReason;
use crate::hashing::mix;
use crate::text::{natural_output_len, text_key};
use crate::tokenizer::{ChatTurn, SimTokenizer};

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/chat/completions`.
    Chat,
}

/// A validated generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `model`, if given.
    pub model: Option<String>,
    /// Prompt token ids (chat template and BOS included).
    pub prompt: Vec<u32>,
    /// `max_tokens` (chat: `max_completion_tokens` first). Completions default to 16, as
    /// vLLM's (and OpenAI's) `/v1/completions`; chat has no default (up to
    /// `max_model_len`).
    pub max_tokens: Option<u32>,
    /// The field `max_tokens` came from, for error messages.
    pub max_tokens_param: &'static str,
    /// The prompt was text (tokenized here), not token ids.
    pub prompt_is_text: bool,
    /// `min_tokens`.
    pub min_tokens: u32,
    /// `ignore_eos`.
    pub ignore_eos: bool,
    /// `stream`.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// `stream_options.continuous_usage_stats` (only with `include_usage`, as vLLM).
    pub continuous_usage: bool,
    /// `seed`, if given (changes the answer text).
    pub seed: Option<u64>,
}

/// How long the answer will be and why it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputPlan {
    /// Tokens to generate.
    pub output_len: u32,
    /// `length` when a limit ends it, `stop` when the model does.
    pub finish: FinishReason,
    /// Fixes the answer text.
    pub text_key: u64,
}

/// A field of the wrong type, as pydantic reports it through vLLM (400 `Bad Request`).
fn type_error(key: &str, kind: &str, msg: &str, v: &Value) -> ApiError {
    ApiError::validation(
        &[format!(
            "{{'type': '{kind}', 'loc': 'body.{key}', 'msg': '{msg}', 'input': {v}}}"
        )],
        Some(format!("body.{key}")),
    )
}

/// An integer field read as pydantic's lax mode reads it: an integer, a float with no
/// fractional part, or a string holding an integer.
fn field_int(obj: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    let v = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let parsed = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| type_error(key, "int_parsing", "Input should be a valid integer", v))
}

/// A token-count field: negative values get vLLM's `SamplingParams` wording.
fn field_u32(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
    let Some(n) = field_int(obj, key)? else {
        return Ok(None);
    };
    let floor = match key {
        "min_tokens" => 0,
        _ => 1,
    };
    if n < floor {
        let message = match key {
            "min_tokens" => format!("min_tokens must be greater than or equal to 0, got {n}."),
            "n" => format!("n must be at least 1, got {n}."),
            // vLLM checks the sampling parameter, whichever field set it.
            _ => format!("max_tokens must be at least 1, got {n}."),
        };
        let param = if key == "max_completion_tokens" {
            "max_tokens"
        } else {
            key
        };
        return Err(ApiError::bad_request(message).with_param(param));
    }
    Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)))
}

/// Is `value` something other than absent, `null`, `false` or 0 (or, for `best_of`, 1)?
fn is_set(value: Option<&Value>, neutral_int: u64) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_u64() != Some(neutral_int),
        Some(_) => true,
    }
}

/// Refuse the options whose answer the simulator cannot give (see the module doc).
fn refuse_reshaping_options(obj: &Map<String, Value>) -> Result<(), ApiError> {
    // (field, the one number that asks for nothing; u64::MAX: none does — a completions
    // `logprobs` of 0 still returns a logprobs object).
    let checks: [(&str, u64); 7] = [
        ("echo", u64::MAX),
        ("logprobs", u64::MAX),
        ("top_logprobs", 0),
        ("prompt_logprobs", u64::MAX),
        ("use_beam_search", u64::MAX),
        ("best_of", 1),
        ("return_token_ids", u64::MAX),
    ];
    for (key, neutral) in checks {
        if is_set(obj.get(key), neutral) {
            return Err(ApiError::bad_request(format!(
                "{key}={} is not supported by llmsweep sim: its simulated model returns only \
                 the generated text and usage.",
                obj[key]
            ))
            .with_param(key));
        }
    }
    if obj.get("suffix").is_some_and(|v| !v.is_null()) {
        // vLLM's own answer.
        return Err(ApiError::bad_request("suffix is not currently supported").with_param("suffix"));
    }
    Ok(())
}

/// A boolean field read as pydantic's lax mode reads it (`true`, 1, `"yes"`, `"off"`, …).
fn field_bool(obj: &Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    let v = match obj.get(key) {
        None | Some(Value::Null) => return Ok(false),
        Some(v) => v,
    };
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| {
        type_error(
            key,
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
            v,
        )
    })
}

/// vLLM's `/v1/completions` default for `max_tokens` (also when it is `null`).
pub const COMPLETIONS_DEFAULT_MAX_TOKENS: u32 = 16;

/// Byte offset of a serde_json error in `body` (Python's `JSONDecodeError.pos` for ASCII).
fn error_offset(body: &[u8], e: &serde_json::Error) -> usize {
    let line_start: usize = body
        .split(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    (line_start + e.column().saturating_sub(1)).min(body.len())
}

/// Parse and validate a request body.
pub fn parse(
    endpoint: Endpoint,
    body: &[u8],
    tokenizer: &SimTokenizer,
) -> Result<GenerationRequest, ApiError> {
    // As FastAPI reports it to vLLM's validation handler: 400 `Bad Request`.
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let pos = error_offset(body, &e);
        let detail = e.to_string().replace('\'', "\"");
        ApiError::validation(
            &[format!(
                "{{'type': 'json_invalid', 'loc': 'body.{pos}', 'msg': 'JSON decode error', \
                 'input': {{}}, 'ctx': {{'error': '{detail}'}}}}"
            )],
            Some(format!("body.{pos}")),
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::validation(
            &[
                "{'type': 'model_attributes_type', 'loc': 'body', 'msg': 'Input should be a \
               valid dictionary or object to extract fields from'}"
                    .to_string(),
            ],
            Some("body".into()),
        ));
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "'model' must be a string, got {v}"
            )));
        }
    };
    if let Some(n) = field_u32(&obj, "n")?.filter(|&n| n > 1) {
        return Err(ApiError::bad_request(format!(
            "n={n} is not supported: llmsweep sim generates exactly one choice per request (n=1)."
        )));
    }
    refuse_reshaping_options(&obj)?;
    let stream = field_bool(&obj, "stream")?;
    let (include_usage, continuous_usage) = match obj.get("stream_options") {
        None | Some(Value::Null) => (false, false),
        Some(Value::Object(opts)) => {
            // vLLM tests the options' truthiness: `{}` is allowed without streaming.
            if !stream && !opts.is_empty() {
                return Err(ApiError::value_error(
                    "Stream options can only be defined when `stream=True`.",
                    "stream_options",
                ));
            }
            let include = field_bool(opts, "include_usage")?;
            (
                include,
                include && field_bool(opts, "continuous_usage_stats")?,
            )
        }
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "'stream_options' must be an object, got {v}"
            )));
        }
    };
    let (prompt, prompt_is_text) = match endpoint {
        Endpoint::Completions => completion_prompt(&obj, tokenizer)?,
        Endpoint::Chat => (chat_prompt(&obj, tokenizer)?, true),
    };
    let (max_tokens, max_tokens_param) = match endpoint {
        Endpoint::Chat => match field_u32(&obj, "max_completion_tokens")? {
            Some(n) => (Some(n), "max_completion_tokens"),
            None => (field_u32(&obj, "max_tokens")?, "max_tokens"),
        },
        Endpoint::Completions => (
            Some(field_u32(&obj, "max_tokens")?.unwrap_or(COMPLETIONS_DEFAULT_MAX_TOKENS)),
            "max_tokens",
        ),
    };
    let min_tokens = field_u32(&obj, "min_tokens")?.unwrap_or(0);
    let seed =
        match obj.get("seed") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().map(|s| s as u64).ok_or_else(|| {
                ApiError::bad_request(format!("'seed' must be an integer, got {v}"))
            })?),
        };
    Ok(GenerationRequest {
        endpoint,
        model,
        prompt,
        max_tokens,
        max_tokens_param,
        prompt_is_text,
        min_tokens,
        ignore_eos: field_bool(&obj, "ignore_eos")?,
        stream,
        include_usage,
        continuous_usage,
        seed,
    })
}

/// The prompt's token ids, and whether it was text.
fn completion_prompt(
    obj: &Map<String, Value>,
    tokenizer: &SimTokenizer,
) -> Result<(Vec<u32>, bool), ApiError> {
    match obj.get("prompt") {
        None | Some(Value::Null) => Err(ApiError::bad_request("'prompt' is required.")),
        Some(Value::String(text)) => Ok((tokenizer.encode_prompt(text), true)),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            if items.is_empty() {
                return Err(ApiError::bad_request("The prompt cannot be empty."));
            }
            items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .filter(|&id| id < u64::from(tokenizer.vocab_size()))
                        .map(|id| id as u32)
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "Token id {v} is out of vocabulary (0..{}).",
                                tokenizer.vocab_size()
                            ))
                        })
                })
                .collect::<Result<_, _>>()
                .map(|ids| (ids, false))
        }
        Some(Value::Array(_)) => Err(ApiError::bad_request(
            "Batched prompts (a list of strings or of token lists) are not supported by \
             llmsweep sim: send one prompt per request.",
        )),
        Some(v) => Err(ApiError::bad_request(format!(
            "'prompt' must be a string or a list of token ids, got {v}"
        ))),
    }
}

fn chat_prompt(obj: &Map<String, Value>, tokenizer: &SimTokenizer) -> Result<Vec<u32>, ApiError> {
    let Some(Value::Array(messages)) = obj.get("messages") else {
        return Err(ApiError::bad_request(
            "'messages' must be a list of messages.",
        ));
    };
    let mut texts: Vec<(String, String)> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("messages[{i}].role must be a string")))?;
        let content = match m.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for (j, part) in parts.iter().enumerate() {
                    match part.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            if !text.is_empty() {
                                text.push('\n');
                            }
                            text.push_str(part.get("text").and_then(Value::as_str).unwrap_or(""));
                        }
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "messages[{i}].content[{j}]: part type {} is not supported: \
                                 llmsweep sim serves a text-only model",
                                other.unwrap_or("(missing)")
                            )));
                        }
                    }
                }
                text
            }
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "messages[{i}].content must be a string or a list of parts, got {v}"
                )));
            }
        };
        texts.push((role.to_string(), content));
    }
    let turns: Vec<ChatTurn<'_>> = texts
        .iter()
        .map(|(role, content)| ChatTurn { role, content })
        .collect();
    Ok(tokenizer.encode_chat(&turns))
}

/// Check the lengths against `max_model_len` as vLLM 0.33 does and decide the answer's
/// length. A `max_tokens` above `max_model_len` is refused; a prompt longer than
/// `max_model_len` is refused; otherwise `max_tokens` is cut to what the context has
/// left (`max_model_len − prompt`), so a prompt filling the whole context leaves 0 and is
/// refused as `max_tokens` 0 would be. `min_tokens` is checked against the cut value.
pub fn plan_output(
    req: &GenerationRequest,
    max_model_len: u32,
    server_seed: u64,
) -> Result<OutputPlan, ApiError> {
    let prompt_len = req.prompt.len() as u32;
    if let Some(max) = req.max_tokens.filter(|&max| max > max_model_len) {
        return Err(ApiError::bad_request(format!(
            "{}={max} cannot be greater than max_model_len={max_model_len}. Please request \
             fewer output tokens.",
            req.max_tokens_param
        ))
        .with_param(req.max_tokens_param));
    }
    if prompt_len > max_model_len {
        // vLLM tokenizes text with truncation to max_model_len + 1 tokens, so it can only
        // say "at least" that many.
        let count = if req.prompt_is_text {
            format!("at least {}", max_model_len + 1)
        } else {
            prompt_len.to_string()
        };
        return Err(ApiError::bad_request(format!(
            "This model's maximum context length is {max_model_len} tokens. However, your \
             prompt contains {count} input tokens, which exceeds this limit even without any \
             output tokens. Please reduce the length of the input prompt."
        ))
        .with_param("input_tokens"));
    }
    let room = max_model_len - prompt_len;
    let limit = req.max_tokens.map_or(room, |max| max.min(room));
    if limit == 0 {
        return Err(
            ApiError::bad_request(format!("max_tokens must be at least 1, got {limit}."))
                .with_param("max_tokens"),
        );
    }
    if req.min_tokens > limit {
        return Err(ApiError::bad_request(format!(
            "min_tokens must be less than or equal to max_tokens={limit}, got {}.",
            req.min_tokens
        )));
    }
    let seed = req.seed.map_or(server_seed, |s| mix(server_seed, s));
    let key = text_key(seed, &req.prompt);
    let (output_len, finish) = if req.ignore_eos {
        (limit, FinishReason::Length)
    } else {
        let natural = natural_output_len(key).max(req.min_tokens).max(1);
        if natural >= limit {
            (limit, FinishReason::Length)
        } else {
            (natural, FinishReason::Stop)
        }
    };
    Ok(OutputPlan {
        output_len,
        finish,
        text_key: key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> SimTokenizer {
        SimTokenizer::new(128_256)
    }

    fn completion(body: &str) -> Result<GenerationRequest, ApiError> {
        parse(Endpoint::Completions, body.as_bytes(), &tok())
    }

    fn chat(body: &str) -> Result<GenerationRequest, ApiError> {
        parse(Endpoint::Chat, body.as_bytes(), &tok())
    }

    #[test]
    fn text_and_token_prompts() {
        let r = completion(r#"{"model":"m","prompt":"hello world","max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}"#).unwrap();
        assert_eq!(r.prompt[0], tok().bos());
        assert_eq!(r.prompt.len(), 5, "BOS, hell, o, \" worl\", d");
        assert_eq!(
            (r.max_tokens, r.stream, r.include_usage, r.continuous_usage),
            (Some(5), true, true, false)
        );
        let r = completion(r#"{"prompt":"x","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#).unwrap();
        assert!(r.include_usage && r.continuous_usage);
        let r = completion(
            r#"{"prompt":"x","stream":true,"stream_options":{"continuous_usage_stats":true}}"#,
        )
        .unwrap();
        assert!(
            !r.include_usage && !r.continuous_usage,
            "continuous needs include_usage"
        );
        let r = completion(r#"{"prompt":[1,2,3],"ignore_eos":true,"min_tokens":2,"max_tokens":4}"#)
            .unwrap();
        assert_eq!(r.prompt, [1, 2, 3]);
        assert!(r.ignore_eos && r.model.is_none());
        assert_eq!(r.min_tokens, 2);
    }

    #[test]
    fn chat_uses_the_template_and_max_completion_tokens() {
        let r = chat(r#"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_completion_tokens":7,"max_tokens":99}"#).unwrap();
        assert_eq!(r.max_tokens, Some(7));
        assert_eq!(
            r.prompt,
            tok().encode_chat(&[ChatTurn {
                role: "user",
                content: "hi"
            }])
        );
        let r = chat(r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}"#).unwrap();
        assert_eq!(r.max_tokens, Some(3));
    }

    #[test]
    fn rejects_what_vllm_rejects() {
        let msg = |r: Result<GenerationRequest, ApiError>| r.unwrap_err().message;
        let err = completion("{not json").unwrap_err();
        assert_eq!((err.status, err.kind()), (400, "Bad Request"));
        assert_eq!(err.param.as_deref(), Some("body.1"));
        assert!(
            err.message.contains("'type': 'json_invalid'"),
            "{}",
            err.message
        );
        assert_eq!(completion("[1]").unwrap_err().kind(), "Bad Request");
        assert!(msg(completion(r#"{"prompt":"x","n":2}"#)).contains("n=2"));
        let err =
            completion(r#"{"prompt":"x","stream_options":{"include_usage":true}}"#).unwrap_err();
        assert!(err.message.contains("stream=True"), "{}", err.message);
        assert_eq!(err.param.as_deref(), Some("stream_options"));
        // An empty (falsy) stream_options is fine without streaming, as in vLLM.
        assert!(completion(r#"{"prompt":"x","stream_options":{}}"#).is_ok());

        assert!(msg(completion(r#"{"prompt":[1,999999999]}"#)).contains("out of vocabulary"));
        assert!(msg(completion(r#"{"prompt":["a","b"]}"#)).contains("Batched prompts"));
        assert!(msg(completion(r#"{"max_tokens":3}"#)).contains("'prompt' is required"));

        assert!(
            msg(chat(
                r#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#
            ))
            .contains("text-only")
        );
        assert!(msg(chat(r#"{"messages":"hi"}"#)).contains("'messages'"));
        // Wrong types are pydantic's errors; what pydantic's lax mode reads passes.
        let err = completion(r#"{"prompt":"x","max_tokens":"lots"}"#).unwrap_err();
        assert_eq!(
            (err.kind(), err.param.as_deref()),
            ("Bad Request", Some("body.max_tokens"))
        );
        assert!(err.message.contains("valid integer"), "{}", err.message);
        let err = completion(r#"{"prompt":"x","stream":"maybe"}"#).unwrap_err();
        assert_eq!(
            (err.kind(), err.param.as_deref()),
            ("Bad Request", Some("body.stream"))
        );
        let r = completion(r#"{"prompt":"x","max_tokens":"7","stream":"true","ignore_eos":1}"#)
            .unwrap();
        assert_eq!(
            (r.max_tokens, r.stream, r.ignore_eos),
            (Some(7), true, true)
        );
        assert_eq!(
            completion(r#"{"prompt":"x","max_tokens":7.0}"#)
                .unwrap()
                .max_tokens,
            Some(7)
        );
        assert!(completion(r#"{"prompt":"x","max_tokens":7.5}"#).is_err());
        // Out-of-range values in vLLM's SamplingParams words.
        assert_eq!(
            msg(completion(r#"{"prompt":"x","max_tokens":-1}"#)),
            "max_tokens must be at least 1, got -1."
        );
        assert_eq!(
            msg(completion(r#"{"prompt":"x","min_tokens":-2}"#)),
            "min_tokens must be greater than or equal to 0, got -2."
        );
        assert_eq!(
            msg(completion(r#"{"prompt":"x","n":0}"#)),
            "n must be at least 1, got 0."
        );
        // Options that would reshape the answer are refused, naming the field …
        for (body, field) in [
            (r#"{"prompt":"x","echo":true}"#, "echo"),
            (r#"{"prompt":"x","logprobs":0}"#, "logprobs"),
            (r#"{"prompt":"x","logprobs":5}"#, "logprobs"),
            (r#"{"prompt":"x","prompt_logprobs":1}"#, "prompt_logprobs"),
            (
                r#"{"prompt":"x","use_beam_search":true}"#,
                "use_beam_search",
            ),
            (r#"{"prompt":"x","best_of":2}"#, "best_of"),
            (
                r#"{"prompt":"x","return_token_ids":true}"#,
                "return_token_ids",
            ),
            (r#"{"prompt":"x","suffix":"!"}"#, "suffix"),
        ] {
            let err = completion(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(field), "{body}");
        }
        let err = chat(
            r#"{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2}"#,
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("logprobs"));
        // … while their neutral values, as clients send them by default, pass.
        assert!(completion(r#"{"prompt":"x","echo":false,"logprobs":null,"best_of":1,"use_beam_search":false,"suffix":null}"#).is_ok());
        assert!(
            chat(
                r#"{"messages":[{"role":"user","content":"hi"}],"logprobs":false,"top_logprobs":0}"#
            )
            .is_ok()
        );
    }

    #[test]
    fn lengths_are_checked_against_max_model_len_as_vllm_0_33_does() {
        let plan_err = |body: &str, max_model_len: u32| {
            let r = completion(body).unwrap();
            plan_output(&r, max_model_len, 0).unwrap_err()
        };
        // Prompt + max_tokens over the context: max_tokens is cut to what is left.
        let r = completion(r#"{"prompt":[1,2,3,4],"max_tokens":10,"ignore_eos":true}"#).unwrap();
        let plan = plan_output(&r, 12, 0).unwrap();
        assert_eq!((plan.output_len, plan.finish), (8, FinishReason::Length));
        let plan = plan_output(&r, 100, 0).unwrap();
        assert_eq!((plan.output_len, plan.finish), (10, FinishReason::Length));
        // max_tokens alone over the context: refused, naming the field.
        let err = plan_err(r#"{"prompt":[1],"max_tokens":13}"#, 12);
        assert_eq!(err.status, 400);
        assert_eq!(
            err.message,
            "max_tokens=13 cannot be greater than max_model_len=12. Please request fewer \
             output tokens."
        );
        assert_eq!(err.param.as_deref(), Some("max_tokens"));
        let r = chat(r#"{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":99}"#)
            .unwrap();
        let err = plan_output(&r, 50, 0).unwrap_err();
        assert!(
            err.message.starts_with("max_completion_tokens=99 cannot"),
            "{}",
            err.message
        );
        // A prompt over the context, as token ids and as text.
        let err = plan_err(r#"{"prompt":[1,2,3,4,5],"max_tokens":1}"#, 4);
        assert!(
            err.message.starts_with(
                "This model's maximum context length is 4 tokens. However, your prompt \
                 contains 5 input tokens"
            ),
            "{}",
            err.message
        );
        assert_eq!(err.param.as_deref(), Some("input_tokens"));
        let err = plan_err(
            r#"{"prompt":"one two three four five six","max_tokens":1}"#,
            4,
        );
        assert!(
            err.message.contains("contains at least 5 input tokens"),
            "{}",
            err.message
        );
        // A prompt filling the context leaves no room for output.
        let err = plan_err(r#"{"prompt":[1,2,3,4],"max_tokens":1}"#, 4);
        assert_eq!(err.message, "max_tokens must be at least 1, got 0.");
        let err = completion(r#"{"prompt":"x","max_tokens":0}"#).unwrap_err();
        assert_eq!(err.message, "max_tokens must be at least 1, got 0.");
        // min_tokens is checked against the cut max_tokens.
        let err = plan_err(r#"{"prompt":[1,2,3],"max_tokens":9,"min_tokens":8}"#, 10);
        assert_eq!(
            err.message,
            "min_tokens must be less than or equal to max_tokens=7, got 8."
        );
        let err = plan_err(r#"{"prompt":"x","max_tokens":2,"min_tokens":3}"#, 100);
        assert!(
            err.message.contains("max_tokens=2, got 3"),
            "{}",
            err.message
        );
    }

    #[test]
    fn completions_default_to_16_tokens_and_chat_to_the_context() {
        let r = completion(r#"{"prompt":[1,2,3],"ignore_eos":true}"#).unwrap();
        assert_eq!(r.max_tokens, Some(COMPLETIONS_DEFAULT_MAX_TOKENS));
        assert_eq!(plan_output(&r, 1000, 0).unwrap().output_len, 16);
        let r = completion(r#"{"prompt":[1,2,3],"max_tokens":null,"ignore_eos":true}"#).unwrap();
        assert_eq!(plan_output(&r, 1000, 0).unwrap().output_len, 16);
        let r = chat(r#"{"messages":[{"role":"user","content":"hi"}],"ignore_eos":true}"#).unwrap();
        assert_eq!(r.max_tokens, None);
        let plan = plan_output(&r, 1000, 0).unwrap();
        assert_eq!(plan.output_len as usize, 1000 - r.prompt.len());
    }

    #[test]
    fn natural_length_ends_with_stop_unless_ignore_eos() {
        let r = completion(r#"{"prompt":[1,2,3],"max_tokens":100000}"#).unwrap();
        let plan = plan_output(&r, 100_000, 0).unwrap();
        assert_eq!(plan.finish, FinishReason::Stop);
        assert!(plan.output_len >= crate::text::NATURAL_MIN_TOKENS);
        let r = completion(r#"{"prompt":[1,2,3],"max_tokens":10000,"ignore_eos":true}"#).unwrap();
        assert_eq!(plan_output(&r, 100_000, 0).unwrap().output_len, 10_000);
        let r = completion(r#"{"prompt":[1,2,3],"max_tokens":90000,"min_tokens":80000}"#).unwrap();
        let plan = plan_output(&r, 100_000, 0).unwrap();
        assert_eq!((plan.output_len, plan.finish), (80_000, FinishReason::Stop));
        // The request seed changes the text.
        let seeded = completion(r#"{"prompt":[1,2,3],"seed":1}"#).unwrap();
        let plain = completion(r#"{"prompt":[1,2,3]}"#).unwrap();
        let key = |r: &GenerationRequest| plan_output(r, 100, 0).unwrap().text_key;
        assert_ne!(key(&seeded), key(&plain));
    }
}

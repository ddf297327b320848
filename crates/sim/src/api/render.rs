//! Response bytes exactly like vLLM's OpenAI server: SSE chunks (`data: {json}\n\n`), the
//! usage chunk, `data: [DONE]`, and the non-streaming JSON.
//!
//! A stream's fixed parts (id, created, model) are rendered once per request into
//! [`ChunkTemplate`]; each chunk is then the prefix, the tokens' text (which never needs
//! escaping) and a suffix.

use serde_json::{Value, json};

use crate::api::request::Endpoint;
use crate::engine::FinishReason;
use crate::text::push_text;

/// The per-request parts of every SSE chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkTemplate {
    endpoint: Endpoint,
    /// `data: {"id":…,"choices":[{"index":0,"text":"` (or `"delta":{"content":"`).
    prefix: Vec<u8>,
    /// `data: {"id":…,"model":…,` shared by the usage chunk.
    head: Vec<u8>,
}

/// Token counts for `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u32,
}

impl Usage {
    fn to_json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "completion_tokens": self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
        })
    }
}

/// `stream_options.continuous_usage_stats`: the running `usage` on every chunk
/// (prompt tokens, tokens so far), as vLLM writes it.
fn push_running_usage(out: &mut Vec<u8>, running: Option<(u32, u32)>) {
    if let Some((prompt, generated)) = running {
        out.extend_from_slice(
            format!(
                ",\"usage\":{{\"prompt_tokens\":{prompt},\"total_tokens\":{},\"completion_tokens\":{generated}}}",
                prompt + generated
            )
            .as_bytes(),
        );
    }
}

/// The `object` field of stream chunks.
fn chunk_object(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Completions => "text_completion",
        Endpoint::Chat => "chat.completion.chunk",
    }
}

impl ChunkTemplate {
    /// Render the fixed parts for one request.
    pub fn new(endpoint: Endpoint, id: &str, created: u64, model: &str) -> Self {
        let head = format!(
            "data: {{\"id\":{},\"object\":\"{}\",\"created\":{created},\"model\":{},",
            Value::from(id),
            chunk_object(endpoint),
            Value::from(model),
        );
        let opening = match endpoint {
            Endpoint::Completions => "\"choices\":[{\"index\":0,\"text\":\"",
            Endpoint::Chat => "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"",
        };
        let mut prefix = head.clone().into_bytes();
        prefix.extend_from_slice(opening.as_bytes());
        Self {
            endpoint,
            prefix,
            head: head.into_bytes(),
        }
    }

    /// Append chat's opening chunk, `delta: {"role":"assistant","content":""}`, with
    /// `running` usage (prompt tokens, 0) under `continuous_usage_stats`.
    pub fn push_role(&self, out: &mut Vec<u8>, running: Option<(u32, u32)>) {
        if self.endpoint == Endpoint::Chat {
            out.extend_from_slice(&self.head);
            out.extend_from_slice(
                b"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]",
            );
            push_running_usage(out, running);
            out.extend_from_slice(b"}\n\n");
        }
    }

    /// Append one chunk holding answer tokens `from..to` (merged, as vLLM merges deltas
    /// a slow client has not read yet), with `finish_reason` when it is the last, and
    /// with the running usage (prompt tokens, tokens so far) under
    /// `continuous_usage_stats`.
    pub fn push_tokens(
        &self,
        out: &mut Vec<u8>,
        text_key: u64,
        (from, to): (u32, u32),
        finish: Option<FinishReason>,
        running: Option<(u32, u32)>,
    ) {
        out.extend_from_slice(&self.prefix);
        push_text(out, text_key, from, to);
        let reason = match finish {
            None => "null",
            Some(FinishReason::Length) => "\"length\"",
            Some(FinishReason::Stop) => "\"stop\"",
            Some(FinishReason::Abort) => "\"abort\"",
        };
        let close = match self.endpoint {
            Endpoint::Completions => "\",\"logprobs\":null,\"finish_reason\":",
            Endpoint::Chat => "\"},\"logprobs\":null,\"finish_reason\":",
        };
        out.extend_from_slice(close.as_bytes());
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b",\"stop_reason\":null}]");
        push_running_usage(out, running);
        out.extend_from_slice(b"}\n\n");
    }

    /// Append the usage chunk (`"choices": []`).
    pub fn push_usage(&self, out: &mut Vec<u8>, usage: Usage) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"\"choices\":[],\"usage\":");
        out.extend_from_slice(usage.to_json().to_string().as_bytes());
        out.extend_from_slice(b"}\n\n");
    }
}

/// The stream's terminator.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// The whole answer text of tokens `0..n`.
pub fn answer_text(text_key: u64, n: u32) -> String {
    let mut out = Vec::with_capacity(n as usize * 5);
    push_text(&mut out, text_key, 0, n);
    String::from_utf8(out).unwrap_or_else(|e| unreachable!("vocabulary is ASCII: {e}"))
}

/// A non-streaming response body.
pub fn full_response(
    endpoint: Endpoint,
    id: &str,
    created: u64,
    model: &str,
    text: &str,
    finish: FinishReason,
    usage: Usage,
) -> String {
    let choice = match endpoint {
        Endpoint::Completions => json!({
            "index": 0,
            "text": text,
            "logprobs": null,
            "finish_reason": finish.as_str(),
            "stop_reason": null,
            "prompt_logprobs": null,
        }),
        Endpoint::Chat => json!({
            "index": 0,
            // vLLM 0.33's ChatMessage: `reasoning` (no longer `reasoning_content`), and
            // `tool_calls` left out when empty.
            "message": {"role": "assistant", "content": text, "refusal": null,
                "annotations": null, "audio": null, "function_call": null, "reasoning": null},
            "logprobs": null,
            "finish_reason": finish.as_str(),
            "stop_reason": null,
        }),
    };
    let object = match endpoint {
        Endpoint::Completions => "text_completion",
        Endpoint::Chat => "chat.completion",
    };
    json!({
        "id": id,
        "object": object,
        "created": created,
        "model": model,
        "choices": [choice],
        "service_tier": null,
        "system_fingerprint": null,
        "usage": usage.to_json(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::token_text;

    fn events(bytes: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.ends_with("\n\n"));
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn completion_chunks_are_valid_json_with_text() {
        let t = ChunkTemplate::new(Endpoint::Completions, "cmpl-1", 7, "m\"x");
        let mut out = Vec::new();
        t.push_tokens(&mut out, 42, (0, 2), None, None);
        t.push_tokens(
            &mut out,
            42,
            (2, 3),
            Some(FinishReason::Length),
            Some((7, 3)),
        );
        t.push_usage(
            &mut out,
            Usage {
                prompt_tokens: 5,
                completion_tokens: 3,
                cached_tokens: 0,
            },
        );
        let ev = events(&out);
        assert_eq!(ev[0]["object"], "text_completion");
        assert_eq!(ev[0]["model"], "m\"x");
        let expected = format!("{}{}", token_text(42, 0), token_text(42, 1));
        assert_eq!(ev[0]["choices"][0]["text"], expected.as_str());
        assert_eq!(ev[0]["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(ev[1]["choices"][0]["finish_reason"], "length");
        assert_eq!(ev[2]["choices"], json!([]));
        assert_eq!(ev[2]["usage"]["total_tokens"], 8);
        // continuous_usage_stats: the running count rides on the chunk.
        assert!(ev[0].get("usage").is_none());
        assert_eq!(
            ev[1]["usage"],
            json!({"prompt_tokens": 7, "total_tokens": 10, "completion_tokens": 3})
        );
    }

    #[test]
    fn chat_chunks_open_with_the_role() {
        let t = ChunkTemplate::new(Endpoint::Chat, "chatcmpl-1", 7, "m");
        let mut out = Vec::new();
        t.push_role(&mut out, Some((4, 0)));
        t.push_tokens(&mut out, 1, (0, 1), Some(FinishReason::Stop), None);
        let ev = events(&out);
        assert_eq!(ev[0]["usage"]["completion_tokens"], 0);
        assert_eq!(ev[0]["usage"]["total_tokens"], 4);
        assert_eq!(ev[0]["object"], "chat.completion.chunk");
        assert_eq!(
            ev[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": ""})
        );
        assert_eq!(ev[1]["choices"][0]["delta"]["content"], token_text(1, 0));
        assert_eq!(ev[1]["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn full_responses_have_usage() {
        let u = Usage {
            prompt_tokens: 2,
            completion_tokens: 1,
            cached_tokens: 0,
        };
        let v: Value = serde_json::from_str(&full_response(
            Endpoint::Chat,
            "c",
            1,
            "m",
            "hi",
            FinishReason::Length,
            u,
        ))
        .unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "hi");
        assert_eq!(v["usage"]["completion_tokens"], 1);
        // vLLM 0.33's message: `reasoning`, and no empty `tool_calls`.
        let message = v["choices"][0]["message"].as_object().unwrap();
        assert!(message.contains_key("reasoning") && !message.contains_key("reasoning_content"));
        assert!(!message.contains_key("tool_calls"));
        let v: Value = serde_json::from_str(&full_response(
            Endpoint::Completions,
            "c",
            1,
            "m",
            "hi",
            FinishReason::Stop,
            u,
        ))
        .unwrap();
        assert_eq!(v["choices"][0]["text"], "hi");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            answer_text(3, 2),
            format!("{}{}", token_text(3, 0), token_text(3, 1))
        );
    }
}

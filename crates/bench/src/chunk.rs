//! Reading one streamed JSON chunk the way `vllm bench serve` does, without building a DOM.
//!
//! Completions (`vllm`, `openai`): a chunk with a non-empty `choices` list is a token chunk
//! (its text may be empty, e.g. a special token); otherwise a `usage` object gives the token
//! counts. Chat (`openai-chat`, vLLM ≥ 0.33 `_choice_has_streamed_output`): a chunk is a token
//! chunk when `choices[0].delta` carries content, reasoning, tool calls or a function call, or
//! an empty `content` without a `role` (a special token); the opening `{"role": "assistant"}`
//! chunk is not a token. Only the first choice is looked at, borrowed from the input buffer.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

/// Which response shape to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkApi {
    /// `/v1/completions`: text in `choices[0].text`.
    Completions,
    /// `/v1/chat/completions`: text in `choices[0].delta.content`.
    Chat,
}

/// What one chunk means for the timing.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkKind<'a> {
    /// A token chunk with its (possibly empty) text.
    Token(Cow<'a, str>),
    /// A usage report (normally the last chunk).
    Usage {
        /// `usage.completion_tokens`.
        completion_tokens: Option<u64>,
        /// `usage.prompt_tokens`.
        prompt_tokens: Option<u64>,
    },
    /// An `error` object (or string) with neither a token nor usage: ignored for the timing
    /// as vLLM does, but its message explains a stream that then has no token.
    ServerError(String),
    /// Anything else (e.g. the chat role chunk): ignored.
    Other,
}

/// Classify one `data:` payload; an error means the payload was not a JSON object.
pub fn classify(data: &[u8], api: ChunkApi) -> Result<ChunkKind<'_>, serde_json::Error> {
    let raw: RawChunk<'_> = serde_json::from_slice(data)?;
    if let Some(choice) = raw.choices.and_then(|c| c.0) {
        match api {
            ChunkApi::Completions => {
                return Ok(ChunkKind::Token(choice.text.unwrap_or(Cow::Borrowed(""))));
            }
            ChunkApi::Chat => {
                if let Some(delta) = choice.delta
                    && delta.is_streamed_output()
                {
                    return Ok(ChunkKind::Token(delta.content.unwrap_or(Cow::Borrowed(""))));
                }
            }
        }
    }
    match (raw.usage, raw.error) {
        (Some(u), _) => Ok(ChunkKind::Usage {
            completion_tokens: u.completion_tokens,
            prompt_tokens: u.prompt_tokens,
        }),
        (None, Some(e)) => Ok(ChunkKind::ServerError(error_message(&e))),
        (None, None) => Ok(ChunkKind::Other),
    }
}

/// `error.message` when the error is an object with one, else the error as JSON text; at
/// most 300 characters.
fn error_message(error: &serde_json::Value) -> String {
    let text = match error {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => match o.get("message") {
            Some(serde_json::Value::String(m)) => m.clone(),
            _ => error.to_string(),
        },
        other => other.to_string(),
    };
    text.chars().take(300).collect()
}

#[derive(Deserialize)]
struct RawChunk<'a> {
    #[serde(default, borrow)]
    choices: Option<FirstChoice<'a>>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<RawDelta<'a>>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default)]
    role: Option<IgnoredAny>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Truthy>,
    #[serde(default)]
    function_call: Option<Truthy>,
}

impl RawDelta<'_> {
    fn is_streamed_output(&self) -> bool {
        let non_empty = |s: &Option<Cow<'_, str>>| s.as_deref().is_some_and(|s| !s.is_empty());
        non_empty(&self.content)
            || non_empty(&self.reasoning)
            || non_empty(&self.reasoning_content)
            || self.tool_calls.as_ref().is_some_and(|t| t.0)
            || self.function_call.as_ref().is_some_and(|t| t.0)
            || (self.content.as_deref() == Some("") && self.role.is_none())
    }
}

/// Python truthiness of an arbitrary JSON value.
struct Truthy(bool);

impl<'de> Deserialize<'de> for Truthy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let truthy = match &v {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
        };
        Ok(Truthy(truthy))
    }
}

/// The first element of `choices`, if any; the rest are skipped without allocating.
struct FirstChoice<'a>(Option<RawChoice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first: Option<RawChoice<'a>> = seq.next_element()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChunkApi::*;

    fn kind(s: &str, api: ChunkApi) -> ChunkKind<'_> {
        classify(s.as_bytes(), api).unwrap()
    }

    #[test]
    fn completion_token_chunks() {
        assert_eq!(
            kind(r#"{"choices":[{"text":"hi","index":0}]}"#, Completions),
            ChunkKind::Token("hi".into())
        );
        assert_eq!(
            kind(r#"{"choices":[{"text":null}],"usage":null}"#, Completions),
            ChunkKind::Token("".into())
        );
        assert_eq!(
            kind(r#"{"choices":[{"text":"a\nb"},{"text":"x"}]}"#, Completions),
            ChunkKind::Token("a\nb".into())
        );
    }

    #[test]
    fn usage_chunk_with_empty_choices() {
        assert_eq!(
            kind(
                r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#,
                Completions
            ),
            ChunkKind::Usage {
                completion_tokens: Some(5),
                prompt_tokens: Some(12)
            }
        );
        assert_eq!(
            kind(r#"{"id":"x","choices":[]}"#, Completions),
            ChunkKind::Other
        );
    }

    #[test]
    fn chat_role_chunk_is_not_a_token_but_content_is() {
        assert_eq!(
            kind(
                r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
                Chat
            ),
            ChunkKind::Other
        );
        assert_eq!(
            kind(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#, Chat),
            ChunkKind::Token("Hi".into())
        );
        assert_eq!(
            kind(r#"{"choices":[{"delta":{"content":""}}]}"#, Chat),
            ChunkKind::Token("".into())
        );
        assert_eq!(
            kind(r#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#, Chat),
            ChunkKind::Token("".into())
        );
        assert_eq!(
            kind(
                r#"{"choices":[{"delta":{"tool_calls":[{"id":"1"}]}}]}"#,
                Chat
            ),
            ChunkKind::Token("".into())
        );
        assert_eq!(
            kind(r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#, Chat),
            ChunkKind::Other
        );
    }

    #[test]
    fn an_error_object_keeps_its_message() {
        assert_eq!(
            kind(
                r#"{"error":{"message":"engine died","code":500}}"#,
                Completions
            ),
            ChunkKind::ServerError("engine died".into())
        );
        assert_eq!(
            kind(r#"{"error":"overloaded"}"#, Chat),
            ChunkKind::ServerError("overloaded".into())
        );
        assert_eq!(
            kind(r#"{"error":{"code":503}}"#, Chat),
            ChunkKind::ServerError(r#"{"code":503}"#.into())
        );
        // A token or usage wins over an error field, and null is no error.
        assert_eq!(
            kind(r#"{"choices":[{"text":"a"}],"error":"x"}"#, Completions),
            ChunkKind::Token("a".into())
        );
        assert_eq!(kind(r#"{"error":null}"#, Completions), ChunkKind::Other);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(classify(b"{\"choices\": [", Completions).is_err());
        assert!(classify(b"not json", Chat).is_err());
    }
}

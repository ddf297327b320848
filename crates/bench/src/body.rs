//! Request bodies exactly as `vllm bench serve` sends them (vllm-bench.md §5.2).

use serde_json::{Map, Value, json};

use crate::chunk::ChunkApi;
use crate::dataset::{Prompt, SampleRequest};

/// The parts of a body that are the same for every request.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyTemplate {
    /// Completions or chat.
    pub api: ChunkApi,
    /// The `model` field (`--served-model-name`, else the model name).
    pub model: String,
    /// `--logprobs` (completions only; `null` when absent).
    pub logprobs: Option<i64>,
    /// `--ignore-eos` (forced on by the random dataset).
    pub ignore_eos: bool,
    /// Sampling flags then `--extra-body`, merged in that order; applied last, so they may
    /// override any field.
    pub extra_body: Map<String, Value>,
}

impl BodyTemplate {
    /// The JSON body for one request.
    pub fn build(&self, req: &SampleRequest) -> Result<Vec<u8>, String> {
        let prompt =
            match &req.prompt {
                Prompt::Text(text) => Value::String(text.clone()),
                Prompt::TokenIds(ids) => match self.api {
                    ChunkApi::Completions => Value::from(ids.clone()),
                    ChunkApi::Chat => return Err(
                        "chat requests need text prompts; pass --tokenizer to build text prompts"
                            .into(),
                    ),
                },
            };
        let mut body = match self.api {
            ChunkApi::Completions => json!({
                "model": self.model,
                "prompt": prompt,
                "repetition_penalty": 1.0,
                "max_tokens": req.expected_output_len,
                "logprobs": self.logprobs,
                "stream": true,
                "stream_options": {"include_usage": true},
            }),
            ChunkApi::Chat => json!({
                "model": self.model,
                "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
                "max_completion_tokens": req.expected_output_len,
                "stream": true,
                "stream_options": {"include_usage": true},
            }),
        };
        if let Value::Object(map) = &mut body {
            if self.ignore_eos {
                map.insert("ignore_eos".into(), Value::Bool(true));
            }
            for (k, v) in &self.extra_body {
                map.insert(k.clone(), v.clone());
            }
        }
        serde_json::to_vec(&body).map_err(|e| format!("cannot serialize request body: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prompt: Prompt) -> SampleRequest {
        SampleRequest {
            prompt,
            prompt_len: 3,
            expected_output_len: 7,
            request_id: Some("r-0".into()),
        }
    }

    fn template(api: ChunkApi) -> BodyTemplate {
        BodyTemplate {
            api,
            model: "m".into(),
            logprobs: None,
            ignore_eos: false,
            extra_body: Map::new(),
        }
    }

    #[test]
    fn completions_body_has_vllm_fields_in_order() {
        let body = template(ChunkApi::Completions)
            .build(&req(Prompt::Text("hi".into())))
            .unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"model":"m","prompt":"hi","repetition_penalty":1.0,"max_tokens":7,"logprobs":null,"stream":true,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn token_ids_ignore_eos_and_extra_body_override() {
        let mut t = template(ChunkApi::Completions);
        t.ignore_eos = true;
        t.logprobs = Some(2);
        t.extra_body =
            serde_json::from_str(r#"{"temperature":0.0,"repetition_penalty":1.2,"max_tokens":3}"#)
                .unwrap();
        let body: Value =
            serde_json::from_slice(&t.build(&req(Prompt::TokenIds(vec![5, 6, 7]))).unwrap())
                .unwrap();
        assert_eq!(body["prompt"], json!([5, 6, 7]));
        assert_eq!(body["ignore_eos"], json!(true));
        assert_eq!(body["logprobs"], json!(2));
        assert_eq!(body["repetition_penalty"], json!(1.2));
        assert_eq!(
            body["max_tokens"],
            json!(3),
            "--extra-body wins over the dataset's length, as in vLLM"
        );
        assert_eq!(body["temperature"], json!(0.0));
    }

    #[test]
    fn chat_body_uses_content_parts() {
        let body = template(ChunkApi::Chat)
            .build(&req(Prompt::Text("hi".into())))
            .unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_completion_tokens":7,"stream":true,"stream_options":{"include_usage":true}}"#
        );
        assert!(
            template(ChunkApi::Chat)
                .build(&req(Prompt::TokenIds(vec![1])))
                .is_err()
        );
    }
}

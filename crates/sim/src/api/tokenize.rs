//! `POST /tokenize` and `POST /detokenize`, as vLLM serves them. `vllm bench serve` uses
//! them to cut its random prompts to exactly `--random-input-len` server tokens.
//!
//! Simulated token ids are hashes of text pieces, so they cannot be decoded in general:
//! the server remembers the piece behind every id it has handed out through `/tokenize`
//! (and the special tokens), and detokenizes those.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::tokenizer::{ChatTurn, SimTokenizer};

/// Pieces remembered before the table starts over (bounds memory).
const MAX_REMEMBERED: usize = 1 << 21;

/// The text behind ids handed out by `/tokenize`.
#[derive(Debug, Default)]
pub struct PieceTable {
    pieces: HashMap<u32, Box<str>>,
}

/// A parsed `/tokenize` or `/detokenize` body's `model`, for the caller to check.
pub type RequestedModel = Option<String>;

fn object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "Invalid JSON in request body: {e}"
        ))),
    }
}

fn model_of(o: &serde_json::Map<String, Value>) -> RequestedModel {
    o.get("model").and_then(Value::as_str).map(str::to_string)
}

impl PieceTable {
    fn remember(&mut self, id: u32, piece: &str) {
        if self.pieces.len() >= MAX_REMEMBERED {
            self.pieces.clear();
        }
        self.pieces.entry(id).or_insert_with(|| piece.into());
    }

    /// Answer `/tokenize`: `{"count", "max_model_len", "tokens", "token_strs"}`.
    pub fn tokenize(
        &mut self,
        body: &[u8],
        tokenizer: &SimTokenizer,
        max_model_len: u32,
    ) -> Result<(RequestedModel, String), ApiError> {
        let o = object(body)?;
        let flag =
            |key: &str, default: bool| o.get(key).and_then(Value::as_bool).unwrap_or(default);
        let mut tokens = Vec::new();
        let mut strs = Vec::new();
        if let Some(text) = o.get("prompt") {
            let text = text
                .as_str()
                .ok_or_else(|| ApiError::bad_request("'prompt' must be a string"))?;
            if flag("add_special_tokens", true) {
                tokens.push(tokenizer.bos());
                strs.push("<|begin_of_text|>".to_string());
            }
            tokenizer.for_each_piece(text, |id, piece| {
                self.remember(id, piece);
                tokens.push(id);
                strs.push(piece.to_string());
            });
        } else if let Some(Value::Array(messages)) = o.get("messages") {
            let mut turns = Vec::with_capacity(messages.len());
            for (i, m) in messages.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str);
                let content = m.get("content").and_then(Value::as_str);
                match (role, content) {
                    (Some(role), Some(content)) => turns.push(ChatTurn { role, content }),
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "messages[{i}] needs a string role and string content"
                        )));
                    }
                }
            }
            for turn in &turns {
                tokenizer.for_each_piece(turn.content, |id, piece| self.remember(id, piece));
                tokenizer.for_each_piece(turn.role, |id, piece| self.remember(id, piece));
            }
            tokenizer.for_each_piece("\n\n", |id, piece| self.remember(id, piece));
            tokenizer.for_each_piece("assistant", |id, piece| self.remember(id, piece));
            tokens = tokenizer.encode_chat(&turns);
        } else {
            return Err(ApiError::bad_request("'prompt' or 'messages' is required."));
        }
        let token_strs = if flag("return_token_strs", false) {
            json!(strs)
        } else {
            Value::Null
        };
        let body = json!({
            "count": tokens.len(),
            "max_model_len": max_model_len,
            "tokens": tokens,
            "token_strs": token_strs,
        });
        Ok((model_of(&o), body.to_string()))
    }

    /// Answer `/detokenize`: `{"prompt": text}`.
    pub fn detokenize(
        &self,
        body: &[u8],
        tokenizer: &SimTokenizer,
    ) -> Result<(RequestedModel, String), ApiError> {
        let o = object(body)?;
        let Some(Value::Array(ids)) = o.get("tokens") else {
            return Err(ApiError::bad_request(
                "'tokens' must be a list of token ids.",
            ));
        };
        let mut text = String::new();
        for v in ids {
            let id = v
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| ApiError::bad_request(format!("token id {v} is not a u32")))?;
            match self
                .pieces
                .get(&id)
                .map(|p| &**p)
                .or(tokenizer.special_text(id))
            {
                Some(piece) => text.push_str(piece),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "Token id {id} cannot be detokenized: simulated ids are hashes, and \
                         this server only decodes ids it returned from /tokenize."
                    )));
                }
            }
        }
        Ok((model_of(&o), json!({ "prompt": text }).to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_then_detokenize_round_trips() {
        let tok = SimTokenizer::new(128_256);
        let mut table = PieceTable::default();
        let (model, body) = table
            .tokenize(
                br#"{"model":"m","prompt":"hello brave world","add_special_tokens":false}"#,
                &tok,
                100,
            )
            .unwrap();
        assert_eq!(model.as_deref(), Some("m"));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["count"], 6, "hell, o, brav, e, worl, d");
        assert_eq!(v["max_model_len"], 100);
        let cut: Vec<Value> = v["tokens"].as_array().unwrap()[..3].to_vec();
        let (_, text) = table
            .detokenize(json!({ "tokens": cut }).to_string().as_bytes(), &tok)
            .unwrap();
        let text: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text["prompt"], "hello brav");
        // The cut text re-tokenizes to the cut ids.
        assert_eq!(tok.encode("hello brav").len(), 3);
        let (_, with_bos) = table.tokenize(br#"{"prompt":"hi"}"#, &tok, 100).unwrap();
        assert!(with_bos.contains("\"count\":2"));
        let err = table.detokenize(br#"{"tokens":[7]}"#, &tok).unwrap_err();
        assert!(err.message.contains("cannot be detokenized"));
        let (_, bos) = table.detokenize(br#"{"tokens":[128000]}"#, &tok).unwrap();
        assert!(bos.contains("<|begin_of_text|>"));
    }
}

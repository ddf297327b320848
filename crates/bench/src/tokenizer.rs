//! A Hugging Face `tokenizer.json` loaded from disk (no hub downloads), with the handful of
//! operations the datasets need: encode, decode, vocabulary size and special token ids.

use std::path::{Path, PathBuf};

use crate::chat_template::ChatTemplate;

/// A local tokenizer and the facts about it that vLLM's datasets use.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    vocab_size: usize,
    special_ids: Vec<u32>,
    num_special_to_add: usize,
    chat_template: Option<ChatTemplate>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("vocab_size", &self.vocab_size)
            .finish()
    }
}

/// Where a `--tokenizer` value points to a loadable file, if anywhere: the file itself, or
/// `tokenizer.json` inside the folder.
pub fn local_tokenizer_file(spec: &str) -> Option<PathBuf> {
    let path = Path::new(spec);
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let inside = path.join("tokenizer.json");
    inside.is_file().then_some(inside)
}

impl TextTokenizer {
    /// Load `tokenizer.json` (or a folder holding one).
    pub fn load(spec: &str) -> anyhow::Result<TextTokenizer> {
        let path = local_tokenizer_file(spec).ok_or_else(|| {
            anyhow::anyhow!(
                "--tokenizer {spec:?}: no tokenizer.json there (expected a tokenizer.json file or a folder \
                 containing one; llmsweep reads tokenizers from disk and never downloads them)"
            )
        })?;
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| anyhow::anyhow!("cannot load tokenizer {}: {e}", path.display()))?;
        let vocab_size = inner.get_vocab_size(false);
        let mut special_ids: Vec<u32> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, tok)| tok.special)
            .map(|(id, _)| id)
            .collect();
        special_ids.sort_unstable();
        let num_special_to_add =
            inner
                .encode("", true)
                .map(|e| e.get_ids().len())
                .map_err(|e| {
                    anyhow::anyhow!(
                        "tokenizer {}: cannot encode an empty string: {e}",
                        path.display()
                    )
                })?;
        let chat_template = ChatTemplate::beside(&path)?;
        Ok(TextTokenizer {
            inner,
            path,
            vocab_size,
            special_ids,
            num_special_to_add,
            chat_template,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `tokenizer.vocab_size`: the base vocabulary without added tokens.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// `tokenizer.all_special_ids`, ascending.
    pub fn special_ids(&self) -> &[u32] {
        &self.special_ids
    }

    /// `tokenizer.num_special_tokens_to_add()`: e.g. 1 for a tokenizer that adds a BOS.
    pub fn num_special_tokens_to_add(&self) -> usize {
        self.num_special_to_add
    }

    /// Token ids of `text`, with or without the special tokens the post-processor adds.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> anyhow::Result<Vec<u32>> {
        self.inner
            .encode(text, add_special_tokens)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| anyhow::anyhow!("tokenizer {}: encode failed: {e}", self.path.display()))
    }

    /// The prompt wrapped in the model's chat template as one user message, with the
    /// generation prompt (vLLM's custom dataset). An error when the tokenizer folder has no
    /// `tokenizer_config.json` with a `chat_template`.
    pub fn apply_chat_template(&self, prompt: &str) -> anyhow::Result<String> {
        let template = self.chat_template.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no chat_template in the tokenizer_config.json beside it (pass --skip-chat-template to send prompts as they are)",
                self.path.display()
            )
        })?;
        template
            .render_user_prompt(prompt)
            .map_err(|e| anyhow::anyhow!("chat template of {}: {e}", self.path.display()))
    }

    /// Text of `ids`, special tokens kept (`tokenizer.decode(ids)`).
    pub fn decode(&self, ids: &[u32]) -> anyhow::Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| anyhow::anyhow!("tokenizer {}: decode failed: {e}", self.path.display()))
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::TextTokenizer;

    /// The offline SmolLM2 tokenizer shared with the other rooms.
    pub const SMOLLM2: &str = "/work/shared/data/tokenizers/smollm2";

    /// Its tokenizer.json, when the shared data folder is there.
    pub fn smollm2_file() -> Option<std::path::PathBuf> {
        smollm2().map(|t| t.path().to_path_buf())
    }

    /// Load it, or `None` when the shared data folder is missing (tests then skip that case
    /// with a message rather than fail on a machine without it).
    pub fn smollm2() -> Option<TextTokenizer> {
        let candidates = [
            SMOLLM2.to_string(),
            format!(
                "{}/../../../shared/data/tokenizers/smollm2",
                env!("CARGO_MANIFEST_DIR")
            ),
        ];
        candidates.iter().find_map(|c| TextTokenizer::load(c).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::smollm2;
    use super::*;

    #[test]
    fn smollm2_facts() {
        let Some(tok) = smollm2() else {
            return eprintln!("skipped: smollm2 tokenizer not found");
        };
        assert_eq!(tok.vocab_size(), 49152);
        assert_eq!(&tok.special_ids()[..3], &[0, 1, 2]);
        assert_eq!(tok.num_special_tokens_to_add(), 0);
        let ids = tok.encode("Hello world", false).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), "Hello world");
    }

    #[test]
    fn missing_tokenizer_names_the_path() {
        let err = TextTokenizer::load("/nonexistent/tok")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/tok") && err.contains("tokenizer.json"),
            "{err}"
        );
    }
}

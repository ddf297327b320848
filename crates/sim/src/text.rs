//! The simulated model's output: token text and natural answer length.
//!
//! Token `i` of a request is `VOCAB[H(text_key, i) mod |VOCAB|]`, where `text_key` mixes the
//! seed with the prompt's hash: the same seed and prompt always give the same answer, and
//! nothing about timing or batching can change it (sim-model.md §4). Every vocabulary entry
//! is one piece of the simulated tokenizer, so an answer pasted into the next turn of a chat
//! re-tokenizes to the very ids the engine hashed into its KV blocks. No entry needs JSON
//! escaping, so a streamed chunk is a few `memcpy`s.

use crate::hashing::{mix, splitmix64, unit_f64};
use crate::tokenizer::SimTokenizer;

/// Output vocabulary: short English words with their leading space, and punctuation. Every
/// entry is a single piece for the tokenizer (at most four letters after the space), and no
/// two entries merge into one piece when written side by side.
const VOCAB: &[&str] = &[
    " the", " of", " and", " to", " a", " in", " is", " it", " that", " for", " on", " with",
    " as", " was", " he", " be", " at", " by", " this", " had", " not", " are", " but", " from",
    " or", " have", " an", " they", " one", " you", " were", " her", " all", " she", " can",
    " will", " each", " more", " when", " what", " time", " some", " into", " than", " its",
    " two", " like", " then", " them", " way", " many", " make", " data", " node", " rate",
    " load", " step", " fast", " slow", " long", " test", " plan", " run", " new", " list", " set",
    " map", " key", " cost", " core", " tune", " peak", " knee", " flow", " size", " tick",
    " also", " well", " only", " very", " most", " just", " over", " down", " here", " such",
    " much", " even", " back", " good", " work", " life", " year", " day", " used", " use", " may",
    " any", " must", " same", " both", " few", " next", " last", ",", ".", ",", ".", ":", ";",
];

/// How many tokens the simulated model writes when nothing stops it earlier: between
/// [`NATURAL_MIN_TOKENS`] and [`NATURAL_MAX_TOKENS`], log-uniform, fixed by seed and prompt.
pub const NATURAL_MIN_TOKENS: u32 = 256;
/// Upper end of the natural answer length; see [`NATURAL_MIN_TOKENS`].
pub const NATURAL_MAX_TOKENS: u32 = 4096;

/// The key that fixes a request's answer text, from the server seed and the prompt's ids.
pub fn text_key(seed: u64, prompt: &[u32]) -> u64 {
    let mut h = splitmix64(seed ^ 0x7E47_0000_0000_0001);
    for &t in prompt {
        h = mix(h, u64::from(t));
    }
    h
}

/// Index into the vocabulary of token `i` of the answer with key `key`.
fn vocab_index(key: u64, i: u32) -> usize {
    (mix(key, u64::from(i)) % VOCAB.len() as u64) as usize
}

/// The text (needing no JSON escaping) of token `i` of the answer with key `key`.
pub fn token_text(key: u64, i: u32) -> &'static str {
    VOCAB[vocab_index(key, i)]
}

/// Append the text of answer tokens `from..to` to `out`.
pub fn push_text(out: &mut Vec<u8>, key: u64, from: u32, to: u32) {
    for i in from..to {
        out.extend_from_slice(token_text(key, i).as_bytes());
    }
}

/// Length the simulated model would answer with if `max_tokens` did not stop it.
pub fn natural_output_len(key: u64) -> u32 {
    let u = unit_f64(mix(key, 0x4E41_5455_5241_4C00));
    let (lo, hi) = (f64::from(NATURAL_MIN_TOKENS), f64::from(NATURAL_MAX_TOKENS));
    (lo * (hi / lo).powf(u)).floor() as u32
}

/// Token ids of the vocabulary entries, as the simulated tokenizer reads them back.
#[derive(Debug, Clone)]
pub struct OutputIds {
    ids: Vec<u32>,
}

impl OutputIds {
    /// Ids of every vocabulary entry under `tokenizer`.
    pub fn new(tokenizer: &SimTokenizer) -> Self {
        let ids = VOCAB
            .iter()
            .map(|entry| tokenizer.piece_id(entry))
            .collect();
        Self { ids }
    }

    /// Token id of answer token `i` with key `key`.
    pub fn id(&self, key: u64, i: u32) -> u32 {
        self.ids[vocab_index(key, i)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_one_tokenizer_piece() {
        let tok = SimTokenizer::new(128_256);
        for entry in VOCAB {
            assert_eq!(tok.encode(entry).len(), 1, "{entry:?}");
        }
    }

    #[test]
    fn answer_text_retokenizes_to_the_hashed_ids() {
        let tok = SimTokenizer::new(128_256);
        let ids = OutputIds::new(&tok);
        let key = text_key(7, &[1, 2, 3]);
        let mut text = Vec::new();
        push_text(&mut text, key, 0, 50);
        let raw = String::from_utf8(text).unwrap();
        let expected: Vec<u32> = (0..50).map(|i| ids.id(key, i)).collect();
        assert_eq!(tok.encode(&raw), expected);
    }

    #[test]
    fn text_depends_on_seed_and_prompt_only() {
        let a = text_key(1, &[5, 6]);
        assert_eq!(a, text_key(1, &[5, 6]));
        assert_ne!(a, text_key(2, &[5, 6]));
        assert_ne!(a, text_key(1, &[5, 7]));
        let n = natural_output_len(a);
        assert!((NATURAL_MIN_TOKENS..NATURAL_MAX_TOKENS).contains(&n));
    }
}

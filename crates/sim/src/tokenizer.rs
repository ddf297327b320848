//! The simulated tokenizer: deterministic, prefix-stable, about 1.3 tokens per English word.
//!
//! Text is split into pieces: a word (letters and digits) with its one leading space, cut
//! into pieces of at most four characters; every other character on its own, also with a
//! leading space if it has one; runs of other whitespace in pieces of at most four
//! characters. A piece's id is a hash of its bytes, so the same text always gives the same
//! ids, and a text prefix gives a token prefix except at the cut (as with real BPE). The
//! chat template is rendered into the same token stream (Llama-3 layout), so multi-turn
//! conversations share prefixes and hit the prefix cache (sim-model.md §2.8, §4).

use crate::hashing::hash_bytes;

/// How many ids at the top of the vocabulary are reserved for special tokens.
const NUM_RESERVED: u32 = 256;
/// Longest word piece, in characters.
const MAX_PIECE_CHARS: usize = 4;

/// A deterministic stand-in for a model's tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimTokenizer {
    vocab_size: u32,
}

/// One chat message, as the template sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatTurn<'a> {
    /// `system`, `user`, `assistant`, `tool`, …
    pub role: &'a str,
    /// The message text.
    pub content: &'a str,
}

impl SimTokenizer {
    /// A tokenizer whose ids are below `vocab_size` (at least 512).
    pub fn new(vocab_size: u32) -> Self {
        Self {
            vocab_size: vocab_size.max(2 * NUM_RESERVED),
        }
    }

    /// Number of ids (`0..vocab_size`) this tokenizer can produce or accept.
    pub fn vocab_size(&self) -> u32 {
        self.vocab_size
    }

    /// `<|begin_of_text|>` (128000 for a Llama-3-sized vocabulary).
    pub fn bos(&self) -> u32 {
        self.special(0)
    }

    fn special(&self, offset: u32) -> u32 {
        self.vocab_size - NUM_RESERVED + offset
    }

    /// The id of one piece of text.
    pub fn piece_id(&self, piece: &str) -> u32 {
        (hash_bytes(piece.as_bytes()) % u64::from(self.vocab_size - NUM_RESERVED)) as u32
    }

    /// Token ids of `text`, without special tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_into(text, &mut ids);
        ids
    }

    /// Append the token ids of `text` to `ids`.
    pub fn encode_into(&self, text: &str, ids: &mut Vec<u32>) {
        for piece in Pieces::new(text) {
            ids.push(self.piece_id(piece));
        }
    }

    /// Call `f` with each token id of `text` and the piece of text it stands for.
    pub fn for_each_piece(&self, text: &str, mut f: impl FnMut(u32, &str)) {
        for piece in Pieces::new(text) {
            f(self.piece_id(piece), piece);
        }
    }

    /// The text of a special token id (`<|begin_of_text|>`, …), if it is one.
    pub fn special_text(&self, id: u32) -> Option<&'static str> {
        match id.checked_sub(self.vocab_size - NUM_RESERVED)? {
            0 => Some("<|begin_of_text|>"),
            6 => Some("<|start_header_id|>"),
            7 => Some("<|end_header_id|>"),
            9 => Some("<|eot_id|>"),
            _ => None,
        }
    }

    /// A completion prompt: `<|begin_of_text|>` followed by the text's tokens.
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        ids.push(self.bos());
        self.encode_into(text, &mut ids);
        ids
    }

    /// A chat prompt in the Llama-3 layout, ending with the assistant header
    /// (the generation prompt): 1 token, plus 5 per message, plus 4.
    pub fn encode_chat(&self, turns: &[ChatTurn<'_>]) -> Vec<u32> {
        let mut ids = vec![self.bos()];
        for turn in turns {
            self.push_header(turn.role, &mut ids);
            self.encode_into(turn.content, &mut ids);
            ids.push(self.special(9)); // <|eot_id|>
        }
        self.push_header("assistant", &mut ids);
        ids
    }

    fn push_header(&self, role: &str, ids: &mut Vec<u32>) {
        ids.push(self.special(6)); // <|start_header_id|>
        self.encode_into(role, ids);
        ids.push(self.special(7)); // <|end_header_id|>
        ids.push(self.piece_id("\n\n"));
    }
}

/// Iterator over the pieces of a text (see the module documentation).
struct Pieces<'a> {
    text: &'a str,
    pos: usize,
    /// Characters left in the word being cut, with the byte offset where it ends.
    word_end: Option<usize>,
}

impl<'a> Pieces<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            word_end: None,
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Byte length of the first `max_chars` characters of `s` (or all of it).
fn prefix_bytes(s: &str, max_chars: usize) -> usize {
    s.char_indices()
        .nth(max_chars)
        .map_or(s.len(), |(offset, _)| offset)
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = &self.text[self.pos..];
        let first = rest.chars().next()?;
        // Continue cutting a long word.
        if let Some(end) = self.word_end {
            let len = prefix_bytes(&self.text[self.pos..end], MAX_PIECE_CHARS);
            let piece = &self.text[self.pos..self.pos + len];
            self.pos += len;
            if self.pos >= end {
                self.word_end = None;
            }
            return Some(piece);
        }
        // A single space before a non-space character belongs to that character's piece.
        let (lead, body) = match rest.strip_prefix(' ') {
            Some(after) if after.chars().next().is_some_and(|c| !c.is_whitespace()) => (1, after),
            _ => (0, rest),
        };
        let c = body.chars().next().unwrap_or(first);
        let len = if is_word_char(c) {
            let word_len = body
                .char_indices()
                .find(|&(_, ch)| !is_word_char(ch))
                .map_or(body.len(), |(offset, _)| offset);
            let piece_len = prefix_bytes(&body[..word_len], MAX_PIECE_CHARS);
            if piece_len < word_len {
                self.word_end = Some(self.pos + lead + word_len);
            }
            lead + piece_len
        } else if c.is_whitespace() {
            // A run of whitespace, leaving a final space that leads a following word.
            let run = body
                .char_indices()
                .find(|&(_, ch)| !ch.is_whitespace())
                .map_or(body.len(), |(offset, _)| offset);
            let run = if run < body.len() && run > 1 && body[..run].ends_with(' ') {
                run - 1
            } else {
                run
            };
            prefix_bytes(&body[..run], MAX_PIECE_CHARS)
        } else {
            lead + c.len_utf8()
        };
        let piece = &self.text[self.pos..self.pos + len];
        self.pos += len;
        Some(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        Pieces::new(text).collect()
    }

    #[test]
    fn splits_words_punctuation_and_whitespace() {
        assert_eq!(
            pieces("Hello, world!"),
            ["Hell", "o", ",", " worl", "d", "!"]
        );
        assert_eq!(pieces("a  b\n\nc"), ["a", " ", " b", "\n\n", "c"]);
        assert_eq!(pieces(" the cat"), [" the", " cat"]);
        assert_eq!(pieces("naïve café"), ["naïv", "e", " café"]);
        assert_eq!(pieces(""), Vec::<&str>::new());
    }

    #[test]
    fn pieces_cover_the_text_exactly() {
        let text = "The quick brown fox — jumps over 1234567 lazy dogs.\n\tTabs  and  spaces ";
        assert_eq!(pieces(text).concat(), text);
    }

    #[test]
    fn about_one_and_a_third_tokens_per_english_word() {
        let text = "the model answers every question with a short and friendly reply \
                    while the scheduler keeps many requests running at the same time";
        let words = text.split_whitespace().count() as f64;
        let tokens = SimTokenizer::new(128_256).encode(text).len() as f64;
        let ratio = tokens / words;
        assert!((1.1..1.6).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn same_text_same_ids_and_prefix_stable() {
        let tok = SimTokenizer::new(128_256);
        let a = tok.encode("shared system prompt. question one");
        let b = tok.encode("shared system prompt. question two");
        assert_eq!(a, tok.encode("shared system prompt. question one"));
        assert_eq!(a[..a.len() - 1], b[..b.len() - 1]);
        assert!(a.iter().all(|&id| id < 128_000));
    }

    #[test]
    fn chat_template_counts_llama3_headers() {
        let tok = SimTokenizer::new(128_256);
        let turns = [ChatTurn {
            role: "user",
            content: "hi",
        }];
        // bos + (start, role, end, \n\n, "hi", eot) + (start, assistant→3 pieces, end, \n\n)
        let ids = tok.encode_chat(&turns);
        assert_eq!(ids[0], 128_000);
        assert_eq!(ids[1], 128_006);
        assert_eq!(ids.len(), 1 + 6 + 3 + tok.encode("assistant").len());
        // A longer conversation starts with the shorter one's tokens (minus the generation prompt).
        let two = [
            turns[0],
            ChatTurn {
                role: "assistant",
                content: "hello",
            },
        ];
        let longer = tok.encode_chat(&two);
        assert_eq!(longer[..7], ids[..7]);
    }
}

//! `--dataset-name random`: synthetic prompts of exact token lengths.
//!
//! Lengths are integer-uniform around `--random-input-len` / `--random-output-len` by
//! `--random-range-ratio`; the body of request `i` is consecutive allowed vocabulary ids from a
//! random offset, after a shared random prefix of `--random-prefix-len` tokens (vLLM's rules).
//! With a tokenizer the ids are decoded to text and adjusted until the text re-encodes to the
//! exact length. Without one the ids are sent as they are (`/v1/completions` accepts a list of
//! token ids as `prompt`), from a conservative id range that every common vocabulary has.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{CommonParams, DatasetError, Prompt, SampleRequest, decode_to_target_len};
use crate::tokenizer::TextTokenizer;

/// Token ids used without a tokenizer: `[FIRST, FIRST + COUNT)`. Low ids are special tokens in
/// many vocabularies (SmolLM2 0–16, Llama 2 0–2); 30,000 is below every common vocabulary size.
const NO_TOKENIZER_FIRST_ID: u32 = 1000;
const NO_TOKENIZER_ID_COUNT: u32 = 29_000;

/// `--random-range-ratio`: one float for both, or `{"input": r, "output": r}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeRatio {
    /// Ratio for input lengths, in `[0, 1)`.
    pub input: f64,
    /// Ratio for output lengths, in `[0, 1)`.
    pub output: f64,
}

impl RangeRatio {
    /// Parse the flag value: a float or a JSON object with `input` and/or `output`.
    pub fn parse(text: &str) -> Result<RangeRatio, String> {
        let bad = |why: &str| format!("--random-range-ratio {text:?}: {why}");
        let ratio = if let Ok(r) = text.trim().parse::<f64>() {
            RangeRatio {
                input: r,
                output: r,
            }
        } else {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|_| {
                bad("expected a float or a JSON object like {\"input\": 0.3, \"output\": 0.1}")
            })?;
            let obj = value
                .as_object()
                .ok_or_else(|| bad("expected a float or a JSON object"))?;
            for key in obj.keys() {
                if key != "input" && key != "output" {
                    return Err(bad(&format!(
                        "unknown key {key:?} (expected \"input\" and/or \"output\")"
                    )));
                }
            }
            let get = |k: &str| match obj.get(k) {
                None => Ok(0.0),
                Some(v) => v
                    .as_f64()
                    .ok_or_else(|| bad(&format!("{k:?} must be a number"))),
            };
            RangeRatio {
                input: get("input")?,
                output: get("output")?,
            }
        };
        for r in [ratio.input, ratio.output] {
            if !(0.0..1.0).contains(&r) {
                return Err(bad("each ratio must be in [0, 1)"));
            }
        }
        Ok(ratio)
    }
}

/// Flags of the random dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomParams {
    /// `--random-input-len` (or `--input-len`).
    pub input_len: u64,
    /// `--random-output-len` (or `--output-len`).
    pub output_len: u64,
    /// `--random-range-ratio`.
    pub range_ratio: RangeRatio,
    /// `--random-prefix-len`.
    pub prefix_len: u64,
}

pub(super) fn sample(
    p: &RandomParams,
    common: &CommonParams,
    tok: Option<&TextTokenizer>,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let mut rng = StdRng::seed_from_u64(common.seed);
    let num_special = tok.map_or(0, |t| t.num_special_tokens_to_add()) as u64;
    let real_in = p.input_len.saturating_sub(num_special) as f64;
    let in_lo = (real_in * (1.0 - p.range_ratio.input)).floor() as u64;
    let in_hi = (real_in * (1.0 + p.range_ratio.input)).ceil() as u64;
    let out = p.output_len as f64;
    let out_lo = ((out * (1.0 - p.range_ratio.output)).floor() as u64).max(1);
    let out_hi = ((out * (1.0 + p.range_ratio.output)).ceil() as u64).max(1);
    if p.prefix_len + in_lo < 1 {
        return Err(DatasetError::Invalid(format!(
            "--random-input-len is too small: with {num_special} special tokens and input range ratio {}, \
             the shortest possible prompt (prefix + sampled) has 0 tokens; increase --random-input-len or \
             --random-prefix-len, or decrease the range ratio",
            p.range_ratio.input
        )));
    }
    let n = common.num_prompts;
    let input_lens: Vec<u64> = (0..n).map(|_| rng.random_range(in_lo..=in_hi)).collect();
    let output_lens: Vec<u64> = (0..n).map(|_| rng.random_range(out_lo..=out_hi)).collect();

    let allowed: Vec<u32> = match tok {
        Some(t) => {
            let special = t.special_ids();
            (0..t.vocab_size() as u32)
                .filter(|id| special.binary_search(id).is_err())
                .collect()
        }
        None => (NO_TOKENIZER_FIRST_ID..NO_TOKENIZER_FIRST_ID + NO_TOKENIZER_ID_COUNT).collect(),
    };
    if allowed.is_empty() {
        return Err(DatasetError::Invalid(
            "the tokenizer has no non-special token ids".into(),
        ));
    }
    let offsets: Vec<usize> = (0..n).map(|_| rng.random_range(0..allowed.len())).collect();

    let mut prefix: Vec<u32> = (0..p.prefix_len)
        .map(|_| allowed[rng.random_range(0..allowed.len())])
        .collect();
    if let Some(t) = tok
        && !prefix.is_empty()
    {
        prefix = decode_to_target_len(t, prefix, p.prefix_len as usize, &mut rng)?.1;
    }

    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let len = input_lens[i] as usize;
        let mut ids = prefix.clone();
        ids.extend((0..len).map(|j| allowed[(offsets[i] + i + j) % allowed.len()]));
        let (prompt, prompt_len) = match tok {
            Some(t) => {
                let target = p.prefix_len as usize + len;
                let (text, ids, _) = decode_to_target_len(t, ids, target, &mut rng)?;
                (Prompt::Text(text), ids.len() as u64)
            }
            None => {
                let len = ids.len() as u64;
                (Prompt::TokenIds(ids), len)
            }
        };
        requests.push(SampleRequest {
            prompt,
            prompt_len,
            expected_output_len: output_lens[i],
            request_id: Some(format!("{}{i}", common.request_id_prefix)),
        });
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::common;
    use crate::tokenizer::test_support::smollm2;

    fn params(input_len: u64, output_len: u64, ratio: f64, prefix_len: u64) -> RandomParams {
        RandomParams {
            input_len,
            output_len,
            range_ratio: RangeRatio {
                input: ratio,
                output: ratio,
            },
            prefix_len,
        }
    }

    #[test]
    fn token_ids_have_exact_lengths_without_tokenizer() {
        let reqs = sample(&params(100, 20, 0.0, 10), &common(5), None).unwrap();
        assert_eq!(reqs.len(), 5);
        for (i, r) in reqs.iter().enumerate() {
            let Prompt::TokenIds(ids) = &r.prompt else {
                panic!("expected ids")
            };
            assert_eq!(ids.len(), 110);
            assert_eq!(r.prompt_len, 110);
            assert_eq!(r.expected_output_len, 20);
            assert_eq!(
                r.request_id.as_deref(),
                Some(format!("bench-test-{i}").as_str())
            );
            assert!(ids.iter().all(|&id| (1000..30_000).contains(&id)));
        }
        // The prefix is shared by every request.
        let first: Vec<&[u32]> = reqs
            .iter()
            .map(|r| match &r.prompt {
                Prompt::TokenIds(ids) => &ids[..10],
                _ => unreachable!(),
            })
            .collect();
        assert!(first.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn range_ratio_bounds_lengths() {
        let reqs = sample(&params(100, 50, 0.5, 0), &common(300), None).unwrap();
        let ins: Vec<u64> = reqs.iter().map(|r| r.prompt_len).collect();
        let outs: Vec<u64> = reqs.iter().map(|r| r.expected_output_len).collect();
        assert!(ins.iter().all(|&l| (50..=150).contains(&l)));
        assert!(outs.iter().all(|&l| (25..=75).contains(&l)));
        assert!(
            ins.iter().min() < Some(&60) && ins.iter().max() > Some(&140),
            "spread over the range"
        );
    }

    #[test]
    fn output_length_never_below_one() {
        let reqs = sample(&params(20, 1, 0.9, 0), &common(50), None).unwrap();
        assert!(reqs.iter().all(|r| r.expected_output_len >= 1));
    }

    #[test]
    fn too_short_input_is_an_error() {
        let err = sample(&params(0, 10, 0.0, 0), &common(3), None).unwrap_err();
        assert!(
            err.to_string().contains("--random-input-len is too small"),
            "{err}"
        );
    }

    #[test]
    fn exact_text_lengths_with_smollm2() {
        let Some(tok) = smollm2() else {
            return eprintln!("skipped: smollm2 tokenizer not found");
        };
        let reqs = sample(&params(64, 8, 0.25, 16), &common(8), Some(&tok)).unwrap();
        for r in &reqs {
            let Prompt::Text(text) = &r.prompt else {
                panic!("expected text")
            };
            assert_eq!(tok.encode(text, false).unwrap().len() as u64, r.prompt_len);
            assert!(
                (16 + 48..=16 + 80).contains(&r.prompt_len),
                "{}",
                r.prompt_len
            );
        }
    }

    #[test]
    fn same_seed_same_prompts() {
        let a = sample(&params(20, 5, 0.3, 2), &common(4), None).unwrap();
        assert_eq!(a, sample(&params(20, 5, 0.3, 2), &common(4), None).unwrap());
    }

    #[test]
    fn range_ratio_parsing() {
        assert_eq!(
            RangeRatio::parse("0.25"),
            Ok(RangeRatio {
                input: 0.25,
                output: 0.25
            })
        );
        assert_eq!(
            RangeRatio::parse(r#"{"input": 0.3, "output": 0.1}"#),
            Ok(RangeRatio {
                input: 0.3,
                output: 0.1
            })
        );
        assert_eq!(
            RangeRatio::parse(r#"{"input": 0.3}"#),
            Ok(RangeRatio {
                input: 0.3,
                output: 0.0
            })
        );
        assert!(RangeRatio::parse("1.0").unwrap_err().contains("[0, 1)"));
        assert!(
            RangeRatio::parse(r#"{"in": 0.3}"#)
                .unwrap_err()
                .contains("unknown key")
        );
        assert!(RangeRatio::parse("abc").is_err());
    }
}

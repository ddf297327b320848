//! `--dataset-name prefix_repetition`: a few shared random prefixes, each followed by
//! different random suffixes (a prefix-caching workload).
//!
//! vLLM's rules: `num_prompts / num_prefixes` prompts per prefix (at least one), the first
//! `num_prompts % num_prefixes` prefixes get one more; each prefix and suffix is adjusted to
//! its exact token length; the requests are shuffled unless `--disable-shuffle`; and they carry
//! no request id. Without a tokenizer the ids are sent as they are (completions only).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::{CommonParams, DatasetError, Prompt, SampleRequest, decode_to_target_len};
use crate::tokenizer::TextTokenizer;

/// Flags of the prefix-repetition dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixRepetitionParams {
    /// `--prefix-repetition-prefix-len` (256).
    pub prefix_len: u64,
    /// `--prefix-repetition-suffix-len` (256).
    pub suffix_len: u64,
    /// `--prefix-repetition-num-prefixes` (10).
    pub num_prefixes: u64,
    /// `--prefix-repetition-output-len` (128).
    pub output_len: u64,
}

pub(super) fn sample(
    p: &PrefixRepetitionParams,
    common: &CommonParams,
    tok: Option<&TextTokenizer>,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let n = common.num_prompts as u64;
    if p.num_prefixes == 0 || n / p.num_prefixes == 0 {
        return Err(DatasetError::Invalid(format!(
            "--num-prompts ({n}) must be at least --prefix-repetition-num-prefixes ({})",
            p.num_prefixes
        )));
    }
    let (per_prefix, remainder) = (n / p.num_prefixes, n % p.num_prefixes);
    let mut rng = StdRng::seed_from_u64(common.seed);
    let vocab = tok.map_or(30_000, |t| t.vocab_size() as u32).max(1);
    let first_id = if tok.is_some() { 0 } else { 1000 };
    let exact = |len: u64, rng: &mut StdRng| -> anyhow::Result<Vec<u32>> {
        let ids: Vec<u32> = (0..len)
            .map(|_| rng.random_range(first_id..vocab))
            .collect();
        match tok {
            Some(t) => Ok(decode_to_target_len(t, ids, len as usize, rng)?.1),
            None => Ok(ids),
        }
    };
    let mut requests = Vec::with_capacity(n as usize);
    for k in 0..p.num_prefixes {
        let prefix = exact(p.prefix_len, &mut rng)?;
        for _ in 0..per_prefix + u64::from(k < remainder) {
            let mut ids = prefix.clone();
            ids.extend(exact(p.suffix_len, &mut rng)?);
            let prompt_len = ids.len() as u64;
            let prompt = match tok {
                Some(t) => Prompt::Text(t.decode(&ids)?),
                None => Prompt::TokenIds(ids),
            };
            requests.push(SampleRequest {
                prompt,
                prompt_len,
                expected_output_len: p.output_len,
                request_id: None,
            });
        }
    }
    if !common.disable_shuffle {
        requests.shuffle(&mut rng);
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::common;
    use crate::tokenizer::test_support::smollm2;

    fn params(num_prefixes: u64) -> PrefixRepetitionParams {
        PrefixRepetitionParams {
            prefix_len: 8,
            suffix_len: 4,
            num_prefixes,
            output_len: 16,
        }
    }

    #[test]
    fn prefixes_are_shared_and_remainder_spread() {
        let reqs = sample(
            &params(3),
            &CommonParams {
                disable_shuffle: true,
                ..common(8)
            },
            None,
        )
        .unwrap();
        assert_eq!(reqs.len(), 8);
        let prefixes: Vec<Vec<u32>> = reqs
            .iter()
            .map(|r| match &r.prompt {
                Prompt::TokenIds(ids) => ids[..8].to_vec(),
                _ => unreachable!(),
            })
            .collect();
        // 8 = 3 * 2 + 2: the first two prefixes get 3 prompts, the last one 2.
        assert!(prefixes[0..3].iter().all(|p| *p == prefixes[0]));
        assert!(prefixes[3..6].iter().all(|p| *p == prefixes[3]));
        assert!(prefixes[6..8].iter().all(|p| *p == prefixes[6]));
        assert_ne!(prefixes[0], prefixes[3]);
        assert!(
            reqs.iter().all(|r| r.prompt_len == 12
                && r.expected_output_len == 16
                && r.request_id.is_none())
        );
    }

    #[test]
    fn too_few_prompts_is_an_error() {
        let err = sample(&params(10), &common(5), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--num-prompts (5)"), "{err}");
    }

    #[test]
    fn exact_lengths_with_smollm2() {
        let Some(tok) = smollm2() else {
            return eprintln!("skipped: smollm2 tokenizer not found");
        };
        let reqs = sample(&params(2), &common(4), Some(&tok)).unwrap();
        for r in &reqs {
            assert_eq!(r.prompt_len, 12);
            assert!(matches!(r.prompt, Prompt::Text(_)));
        }
    }
}

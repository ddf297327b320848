//! Datasets: where the prompts come from (vllm-bench.md §6).
//!
//! Each dataset turns its flags (and a tokenizer, when one is given) into a list of
//! [`SampleRequest`]s. Prompts are generated from a seeded ChaCha generator rather than numpy's
//! PCG64/MT19937 streams, so the exact prompts differ from vLLM's while the lengths, filters and
//! distributions follow its rules.

mod custom;
mod prefix_repetition;
mod random;
mod sharegpt;

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

pub use custom::CustomParams;
pub use prefix_repetition::PrefixRepetitionParams;
pub use random::{RandomParams, RangeRatio};
pub use sharegpt::ShareGptParams;

use crate::tokenizer::TextTokenizer;

/// What is sent as the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Text (completions `prompt`, or the chat message's text part).
    Text(String),
    /// Token ids, accepted by `/v1/completions` as `prompt`; exact lengths without a tokenizer.
    TokenIds(Vec<u32>),
}

/// One request of the benchmark, before it is turned into an HTTP body.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// Prompt length in tokens as the client counts it (the server's usage replaces it).
    pub prompt_len: u64,
    /// `max_tokens` to ask for.
    pub expected_output_len: u64,
    /// Sent as `x-request-id` when present.
    pub request_id: Option<String>,
}

/// Which dataset to load, with its flags.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSpec {
    /// `--dataset-name random`.
    Random(RandomParams),
    /// `--dataset-name sharegpt --dataset-path FILE`.
    ShareGpt(ShareGptParams),
    /// `--dataset-name custom --dataset-path FILE.jsonl`.
    Custom(CustomParams),
    /// `--dataset-name prefix_repetition`.
    PrefixRepetition(PrefixRepetitionParams),
}

/// Flags every dataset shares.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonParams {
    /// `--num-prompts`.
    pub num_prompts: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--request-id-prefix`; ids are `prefix + index`.
    pub request_id_prefix: String,
    /// `--disable-shuffle`.
    pub disable_shuffle: bool,
    /// `--no-oversample`.
    pub no_oversample: bool,
}

/// A dataset problem: which file, which line, what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be read. The cause is part of the message and deliberately not a
    /// `source`, so an error chain (`{:#}`) prints it once.
    #[error("cannot read dataset file {}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The content is not what the dataset expects.
    #[error("dataset file {path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line, when the format is line-oriented.
        line: Option<usize>,
        /// What was wrong and what was expected.
        message: String,
    },
    /// Flags that cannot produce a dataset.
    #[error("{0}")]
    Invalid(String),
    /// A tokenizer failure.
    #[error(transparent)]
    Tokenizer(#[from] anyhow::Error),
}

/// Build the requests of `spec`.
pub fn load(
    spec: &DatasetSpec,
    common: &CommonParams,
    tokenizer: Option<&TextTokenizer>,
) -> Result<Vec<SampleRequest>, DatasetError> {
    load_noting(spec, common, tokenizer).map(|(samples, _)| samples)
}

/// [`load`], with vLLM's log line about oversampling (ShareGPT and custom datasets), when it
/// logs one: `Oversampled requests to reach N total samples.` or, with `--no-oversample`,
/// `Skipping oversampling. Total samples: N.`
pub fn load_noting(
    spec: &DatasetSpec,
    common: &CommonParams,
    tokenizer: Option<&TextTokenizer>,
) -> Result<(Vec<SampleRequest>, Option<String>), DatasetError> {
    let mut samples = match spec {
        DatasetSpec::Random(p) => random::sample(p, common, tokenizer)?,
        DatasetSpec::ShareGpt(p) => sharegpt::sample(p, common, tokenizer)?,
        DatasetSpec::Custom(p) => custom::sample(p, common, tokenizer)?,
        DatasetSpec::PrefixRepetition(p) => prefix_repetition::sample(p, common, tokenizer)?,
    };
    let note = match spec {
        DatasetSpec::ShareGpt(_) | DatasetSpec::Custom(_) => oversample(&mut samples, common),
        DatasetSpec::Random(_) | DatasetSpec::PrefixRepetition(_) => None,
    };
    Ok((samples, note))
}

/// vLLM's `gen_prompt_decode_to_target_len`: decode, re-encode, then pad with random ids or
/// truncate until the text re-encodes to exactly `target` tokens (at most 10 retries).
/// Returns the text, its token ids and `len − target` if the retries ran out.
pub(crate) fn decode_to_target_len(
    tok: &TextTokenizer,
    mut seq: Vec<u32>,
    target: usize,
    rng: &mut StdRng,
) -> anyhow::Result<(String, Vec<u32>, i64)> {
    let mut retries_left = 10;
    loop {
        let text = tok.decode(&seq)?;
        seq = tok.encode(&text, false)?;
        if retries_left == 0 {
            return Ok((text, seq.clone(), seq.len() as i64 - target as i64));
        }
        if seq.len() == target {
            return Ok((text, seq, 0));
        }
        if seq.len() < target {
            let vocab = tok.vocab_size().max(1) as u32;
            let extra = target - seq.len();
            seq.extend((0..extra).map(|_| rng.random_range(0..vocab)));
        } else {
            seq.truncate(target);
        }
        retries_left -= 1;
    }
}

/// vLLM's `maybe_oversample_requests`: unless `--no-oversample`, repeat random picks (new
/// ids) until `--num-prompts` are there, from a generator seeded with `--seed` (vLLM re-seeds
/// Python's `random` here). Returns vLLM's log line, if it logs one.
pub(crate) fn oversample(
    samples: &mut Vec<SampleRequest>,
    common: &CommonParams,
) -> Option<String> {
    if common.no_oversample {
        return Some(format!(
            "Skipping oversampling. Total samples: {}.",
            samples.len()
        ));
    }
    let have = samples.len();
    if have == 0 || have >= common.num_prompts {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(common.seed);
    for i in have..common.num_prompts {
        let mut copy = samples[rng.random_range(0..have)].clone();
        copy.request_id = Some(format!("{}{i}", common.request_id_prefix));
        samples.push(copy);
    }
    Some(format!(
        "Oversampled requests to reach {} total samples.",
        common.num_prompts
    ))
}

#[cfg(test)]
pub(crate) fn common(num_prompts: usize) -> CommonParams {
    CommonParams {
        num_prompts,
        seed: 0,
        request_id_prefix: "bench-test-".into(),
        disable_shuffle: false,
        no_oversample: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom_rows(rows: usize) -> (tempfile::NamedTempFile, DatasetSpec) {
        use std::io::Write;
        let mut f = tempfile::Builder::new()
            .suffix(".jsonl")
            .tempfile()
            .unwrap();
        for i in 0..rows {
            writeln!(f, "{{\"prompt\": \"row {i}\"}}").unwrap();
        }
        let spec = DatasetSpec::Custom(CustomParams {
            path: f.path().to_path_buf(),
            output_len: Some(2),
            skip_chat_template: true,
        });
        (f, spec)
    }

    #[test]
    fn oversampling_is_noted_like_vllm_logs_it() {
        let (_f, spec) = custom_rows(2);
        let (samples, note) = load_noting(&spec, &common(5), None).unwrap();
        assert_eq!(samples.len(), 5);
        assert_eq!(
            note.as_deref(),
            Some("Oversampled requests to reach 5 total samples.")
        );
        let (samples, note) = load_noting(&spec, &common(2), None).unwrap();
        assert_eq!((samples.len(), note), (2, None), "enough rows: no note");
        let off = CommonParams {
            no_oversample: true,
            ..common(5)
        };
        let (samples, note) = load_noting(&spec, &off, None).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(
            note.as_deref(),
            Some("Skipping oversampling. Total samples: 2.")
        );
        let random = DatasetSpec::Random(RandomParams {
            input_len: 4,
            output_len: 2,
            range_ratio: RangeRatio {
                input: 0.0,
                output: 0.0,
            },
            prefix_len: 0,
        });
        let (samples, note) = load_noting(&random, &off, None).unwrap();
        assert_eq!(
            (samples.len(), note),
            (5, None),
            "random is never oversampled"
        );
    }

    #[test]
    fn missing_file_names_the_os_error_once() {
        let spec = DatasetSpec::Custom(CustomParams {
            path: "/nonexistent/nope.jsonl".into(),
            output_len: Some(4),
            skip_chat_template: true,
        });
        let err = load(&spec, &common(1), None).unwrap_err();
        let chain = format!(
            "{:#}",
            anyhow::Error::new(err).context("cannot build the dataset")
        );
        assert!(
            chain.starts_with(
                "cannot build the dataset: cannot read dataset file /nonexistent/nope.jsonl: "
            ),
            "{chain}"
        );
        assert_eq!(chain.matches("os error 2").count(), 1, "{chain}");
    }
}

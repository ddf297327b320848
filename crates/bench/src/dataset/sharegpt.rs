//! `--dataset-name sharegpt`: the first two turns of each ShareGPT conversation.
//!
//! vLLM's rules: keep entries with at least two turns, shuffle with the seed (unless
//! `--disable-shuffle`), take turn 0 as the prompt and turn 1's token count as the output
//! length (or `--sharegpt-output-len`), and drop a pair when the prompt has fewer than 4 tokens,
//! the output fewer than 4 (only when not overridden), the prompt more than 1024, or both
//! together more than 2048. Token counts include special tokens (`tokenizer(text)`), so a
//! tokenizer is required. Too few survivors are oversampled by [`super::load`] unless `--no-oversample`.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{CommonParams, DatasetError, Prompt, SampleRequest};
use crate::tokenizer::TextTokenizer;

/// Flags of the ShareGPT dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareGptParams {
    /// `--dataset-path`: a JSON array of `{"conversations": [{"from", "value"}, …]}`.
    pub path: PathBuf,
    /// `--sharegpt-output-len` (or `--output-len`).
    pub output_len: Option<u64>,
}

/// vLLM's `is_valid_sequence` with its defaults (4 / 1024 / 2048).
pub fn is_valid_sequence(
    prompt_len: u64,
    output_len: u64,
    skip_min_output_len_check: bool,
) -> bool {
    let prompt_too_short = prompt_len < 4;
    let output_too_short = !skip_min_output_len_check && output_len < 4;
    let prompt_too_long = prompt_len > 1024;
    let combined_too_long = prompt_len + output_len > 2048;
    !(prompt_too_short || output_too_short || prompt_too_long || combined_too_long)
}

pub(super) fn sample(
    p: &ShareGptParams,
    common: &CommonParams,
    tok: Option<&TextTokenizer>,
) -> Result<Vec<SampleRequest>, DatasetError> {
    // The file first: a missing file is the first thing to fix.
    let text = std::fs::read_to_string(&p.path).map_err(|cause| DatasetError::Io {
        path: p.path.clone(),
        cause,
    })?;
    let tok = tok.ok_or_else(|| {
        DatasetError::Invalid(
            "--dataset-name sharegpt needs --tokenizer (a local tokenizer.json) to count prompt and completion tokens".into(),
        )
    })?;
    let format = |message: String| DatasetError::Format {
        path: p.path.clone(),
        line: None,
        message,
    };
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
        // serde_json's message already ends in "at line L column C".
        format(format!("not a JSON array of conversations: {e}"))
    })?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(turns) = entry.get("conversations").and_then(|c| c.as_array()) else {
            continue;
        };
        if turns.len() < 2 {
            continue;
        }
        let turn = |k: usize| {
            turns[k]
                .get("value")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| {
                    format(format!(
                        "entry {index}: conversations[{k}] has no string \"value\""
                    ))
                })
        };
        pairs.push((turn(0)?, turn(1)?));
    }
    let mut rng = StdRng::seed_from_u64(common.seed);
    if !common.disable_shuffle {
        pairs.shuffle(&mut rng);
    }
    let mut samples = Vec::new();
    for (prompt, completion) in pairs {
        if samples.len() >= common.num_prompts {
            break;
        }
        let prompt_len = tok.encode(&prompt, true)?.len() as u64;
        let output_len = match p.output_len {
            Some(n) => n,
            None => tok.encode(&completion, true)?.len() as u64,
        };
        if !is_valid_sequence(prompt_len, output_len, p.output_len.is_some()) {
            continue;
        }
        let id = format!("{}{}", common.request_id_prefix, samples.len());
        samples.push(SampleRequest {
            prompt: Prompt::Text(prompt),
            prompt_len,
            expected_output_len: output_len,
            request_id: Some(id),
        });
    }
    if samples.is_empty() {
        return Err(format("no conversation passed the filters (at least 2 turns; prompt 4..=1024 tokens; output ≥ 4; total ≤ 2048)".into()));
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::common;
    use crate::tokenizer::test_support::smollm2;
    use std::io::Write;

    #[test]
    fn filters_follow_vllm() {
        assert!(is_valid_sequence(4, 4, false));
        assert!(!is_valid_sequence(3, 100, false));
        assert!(!is_valid_sequence(100, 3, false));
        assert!(
            is_valid_sequence(100, 3, true),
            "an overridden output length skips the minimum"
        );
        assert!(is_valid_sequence(1024, 1024, false));
        assert!(!is_valid_sequence(1025, 10, false));
        assert!(!is_valid_sequence(1024, 1025, false));
    }

    fn write(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    fn conv(human: &str, gpt: &str) -> serde_json::Value {
        serde_json::json!({"id": "x", "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]})
    }

    #[test]
    fn samples_filters_and_oversamples() {
        let Some(tok) = smollm2() else {
            return eprintln!("skipped: smollm2 tokenizer not found");
        };
        let long = "word ".repeat(1100);
        let data = serde_json::json!([
            conv("Tell me a story about a brave little robot.", "Once upon a time there was a robot named Bolt."),
            conv("Hi", "Hello there, how can I help you today?"),
            conv(&long, "Too long a prompt to keep."),
            {"id": "one-turn", "conversations": [{"from": "human", "value": "only one turn here please"}]},
            conv("What is the capital city of France?", "Paris is the capital of France."),
        ]);
        let f = write(&data.to_string());
        let params = ShareGptParams {
            path: f.path().to_path_buf(),
            output_len: None,
        };
        let spec = |p: &ShareGptParams| crate::dataset::DatasetSpec::ShareGpt(p.clone());
        let reqs = crate::dataset::load(&spec(&params), &common(5), Some(&tok)).unwrap();
        assert_eq!(reqs.len(), 5, "two survivors oversampled to five");
        let distinct: std::collections::BTreeSet<String> = reqs
            .iter()
            .map(|r| match &r.prompt {
                Prompt::Text(t) => t.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(distinct.len(), 2);
        for r in &reqs {
            let Prompt::Text(t) = &r.prompt else {
                unreachable!()
            };
            assert_eq!(r.prompt_len, tok.encode(t, true).unwrap().len() as u64);
        }
        let ids: Vec<_> = reqs.iter().map(|r| r.request_id.clone().unwrap()).collect();
        assert_eq!(
            ids,
            (0..5)
                .map(|i| format!("bench-test-{i}"))
                .collect::<Vec<_>>()
        );

        let no_over = CommonParams {
            no_oversample: true,
            ..common(5)
        };
        assert_eq!(
            crate::dataset::load(&spec(&params), &no_over, Some(&tok))
                .unwrap()
                .len(),
            2
        );
        let fixed = ShareGptParams {
            output_len: Some(2),
            ..params
        };
        assert!(
            crate::dataset::load(&spec(&fixed), &common(5), Some(&tok))
                .unwrap()
                .iter()
                .all(|r| r.expected_output_len == 2)
        );
    }

    #[test]
    fn bad_files_name_the_file() {
        let Some(tok) = smollm2() else {
            return eprintln!("skipped: smollm2 tokenizer not found");
        };
        let f = write("{not json");
        let params = ShareGptParams {
            path: f.path().to_path_buf(),
            output_len: None,
        };
        let err = sample(&params, &common(1), Some(&tok))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&f.path().display().to_string()) && err.contains("line 1"),
            "{err}"
        );
        // The position is stated once, not repeated.
        assert_eq!(err.matches("line 1").count(), 1, "{err}");
        let missing = ShareGptParams {
            path: "/nonexistent/sharegpt.json".into(),
            output_len: None,
        };
        assert!(
            sample(&missing, &common(1), Some(&tok))
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/sharegpt.json")
        );
    }

    #[test]
    fn needs_a_tokenizer_but_names_a_missing_file_first() {
        let f = write("[]");
        let params = ShareGptParams {
            path: f.path().to_path_buf(),
            output_len: None,
        };
        assert!(
            sample(&params, &common(1), None)
                .unwrap_err()
                .to_string()
                .contains("--tokenizer")
        );
        let missing = ShareGptParams {
            path: "/nonexistent/x.json".into(),
            output_len: None,
        };
        let err = sample(&missing, &common(1), None).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/x.json"), "{err}");
    }
}

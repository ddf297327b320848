//! `--dataset-name custom`: a JSONL file with one `{"prompt": …, "output_tokens": …}` per line.
//!
//! vLLM's rules: `.jsonl` only, `prompt` required, rows shuffled with the seed unless
//! `--disable-shuffle`, `--num-prompts <= 0` uses every row, the output length is
//! `--custom-output-len` (default 256) or the row's `output_tokens` when that flag is -1.
//! Unless `--skip-chat-template`, each prompt is wrapped in the model's chat template (from the
//! `tokenizer_config.json` beside `--tokenizer`), as vLLM does. Fewer rows than
//! `--num-prompts` are oversampled by [`super::load`] (random rows repeated under new ids)
//! unless `--no-oversample`.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{CommonParams, DatasetError, Prompt, SampleRequest};
use crate::tokenizer::TextTokenizer;

/// Flags of the custom dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomParams {
    /// `--dataset-path` (must end in `.jsonl`).
    pub path: PathBuf,
    /// `--custom-output-len`: `Some(n)`, or `None` for -1 (use each row's `output_tokens`).
    pub output_len: Option<u64>,
    /// `--skip-chat-template`.
    pub skip_chat_template: bool,
}

struct Row {
    line: usize,
    prompt: String,
    output_tokens: Option<Result<u64, String>>,
}

pub(super) fn sample(
    p: &CustomParams,
    common: &CommonParams,
    tok: Option<&TextTokenizer>,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let format = |line: Option<usize>, message: String| DatasetError::Format {
        path: p.path.clone(),
        line,
        message,
    };
    if p.path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
        return Err(format(
            None,
            "the custom dataset must be a JSON Lines file ending in .jsonl".into(),
        ));
    }
    // The file first: a missing file is the first thing to fix.
    let text = std::fs::read_to_string(&p.path).map_err(|cause| DatasetError::Io {
        path: p.path.clone(),
        cause,
    })?;
    let template = match (p.skip_chat_template, tok) {
        (true, _) => None,
        (false, Some(t)) => Some(t),
        (false, None) => {
            return Err(DatasetError::Invalid(
                "--dataset-name custom wraps each prompt in the model's chat template: pass --tokenizer (a folder with \
                 tokenizer.json and tokenizer_config.json), or --skip-chat-template to send the prompts as they are"
                    .into(),
            ));
        }
    };
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
            format(
                Some(line),
                format!("invalid JSON ({e}); expected one object per line"),
            )
        })?;
        let prompt = value
            .get("prompt")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                format(
                    Some(line),
                    "expected an object with a string \"prompt\" field".into(),
                )
            })?
            .to_owned();
        let output_tokens = value.get("output_tokens").map(|v| {
            v.as_u64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .ok_or_else(|| format!("\"output_tokens\" must be a non-negative integer, got {v}"))
        });
        rows.push(Row {
            line,
            prompt,
            output_tokens,
        });
    }
    if !common.disable_shuffle {
        rows.shuffle(&mut StdRng::seed_from_u64(common.seed));
    }
    let wanted = if common.num_prompts == 0 {
        rows.len()
    } else {
        common.num_prompts.min(rows.len())
    };
    let mut samples = Vec::with_capacity(wanted);
    for row in rows.into_iter().take(wanted) {
        let expected_output_len = match (p.output_len, row.output_tokens) {
            (Some(n), _) => n,
            (None, Some(Ok(n))) => n,
            (None, Some(Err(msg))) => return Err(format(Some(row.line), msg)),
            (None, None) => {
                return Err(format(
                    Some(row.line),
                    "no \"output_tokens\" field, which --custom-output-len -1 requires".into(),
                ));
            }
        };
        let prompt = match template {
            Some(t) => t.apply_chat_template(&row.prompt)?,
            None => row.prompt,
        };
        let prompt_len = match tok {
            Some(t) => t.encode(&prompt, true)?.len() as u64,
            None => 0,
        };
        let id = format!("{}{}", common.request_id_prefix, samples.len());
        samples.push(SampleRequest {
            prompt: Prompt::Text(prompt),
            prompt_len,
            expected_output_len,
            request_id: Some(id),
        });
    }
    if samples.is_empty() {
        return Err(format(None, "no rows".into()));
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DatasetSpec, common, load};
    use std::io::Write;

    fn jsonl(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new()
            .suffix(".jsonl")
            .tempfile()
            .unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    fn params(f: &tempfile::NamedTempFile, output_len: Option<u64>) -> CustomParams {
        CustomParams {
            path: f.path().to_path_buf(),
            output_len,
            skip_chat_template: true,
        }
    }

    #[test]
    fn reads_rows_with_fixed_or_per_row_output_len() {
        let f = jsonl(
            "{\"prompt\": \"a\", \"output_tokens\": 3}\n\n{\"prompt\": \"b\", \"output_tokens\": 7}\n",
        );
        let fixed = sample(&params(&f, Some(5)), &common(0), None).unwrap();
        assert_eq!(fixed.len(), 2, "--num-prompts 0 takes every row");
        assert!(fixed.iter().all(|r| r.expected_output_len == 5));
        let per_row = CommonParams {
            disable_shuffle: true,
            ..common(2)
        };
        let got: Vec<u64> = sample(&params(&f, None), &per_row, None)
            .unwrap()
            .iter()
            .map(|r| r.expected_output_len)
            .collect();
        assert_eq!(got, vec![3, 7]);
        assert_eq!(
            sample(&params(&f, Some(5)), &common(1), None)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn fewer_rows_than_num_prompts_are_oversampled_unless_no_oversample() {
        let custom = |f: &tempfile::NamedTempFile| DatasetSpec::Custom(params(f, Some(3)));
        let f = jsonl("{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n");
        let reqs = load(&custom(&f), &common(5), None).unwrap();
        assert_eq!(reqs.len(), 5, "two rows oversampled to five");
        let ids: Vec<String> = reqs.iter().map(|r| r.request_id.clone().unwrap()).collect();
        assert_eq!(
            ids,
            (0..5)
                .map(|i| format!("bench-test-{i}"))
                .collect::<Vec<_>>(),
            "new ids continue the numbering"
        );
        assert!(
            reqs.iter()
                .all(|r| matches!(&r.prompt, Prompt::Text(t) if t == "a" || t == "b"))
        );
        let again = load(&custom(&f), &common(5), None).unwrap();
        assert_eq!(reqs, again, "the same seed picks the same rows");

        let no_oversample = CommonParams {
            no_oversample: true,
            ..common(5)
        };
        assert_eq!(load(&custom(&f), &no_oversample, None).unwrap().len(), 2);
        assert_eq!(
            load(&custom(&f), &common(0), None).unwrap().len(),
            2,
            "--num-prompts 0 takes every row once"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let f = jsonl("{\"prompt\": \"a\"}\n{\"prompt\": 5}\n");
        let err = sample(
            &params(&f, Some(1)),
            &CommonParams {
                disable_shuffle: true,
                ..common(2)
            },
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(", line 2:") && err.contains("\"prompt\""),
            "{err}"
        );
        let f = jsonl("{\"prompt\": \"a\"}\n{oops\n");
        let err = sample(&params(&f, Some(1)), &common(2), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(", line 2:") && err.contains("invalid JSON"),
            "{err}"
        );
        let f = jsonl("{\"prompt\": \"a\"}\n");
        let err = sample(&params(&f, None), &common(1), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("output_tokens"),
            "{err}"
        );
    }

    #[test]
    fn chat_template_wraps_prompts_with_smollm2() {
        let Some(tok) = crate::tokenizer::test_support::smollm2() else {
            return eprintln!("skipped: smollm2 tokenizer not found");
        };
        let f = jsonl("{\"prompt\": \"What is 2+2?\"}\n");
        let p = CustomParams {
            skip_chat_template: false,
            ..params(&f, Some(4))
        };
        let reqs = sample(&p, &common(1), Some(&tok)).unwrap();
        let Prompt::Text(text) = &reqs[0].prompt else {
            unreachable!()
        };
        assert!(
            text.starts_with("<|im_start|>system\n")
                && text
                    .ends_with("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"),
            "{text}"
        );
        assert_eq!(
            reqs[0].prompt_len,
            tok.encode(text, true).unwrap().len() as u64
        );
    }

    #[test]
    fn requires_jsonl_and_a_template_or_skip_chat_template() {
        let f = jsonl("{\"prompt\": \"a\"}\n");
        let with_template = CustomParams {
            skip_chat_template: false,
            ..params(&f, Some(1))
        };
        assert!(
            sample(&with_template, &common(1), None)
                .unwrap_err()
                .to_string()
                .contains("--skip-chat-template")
        );
        let json = CustomParams {
            path: "data.json".into(),
            ..params(&f, Some(1))
        };
        assert!(
            sample(&json, &common(1), None)
                .unwrap_err()
                .to_string()
                .contains(".jsonl")
        );
        // A missing file is named before the missing tokenizer.
        let missing = CustomParams {
            path: "/nonexistent/rows.jsonl".into(),
            ..with_template
        };
        let err = sample(&missing, &common(1), None).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/rows.jsonl"), "{err}");
    }
}

//! The typed options of one benchmark run, and the parsers for flag values whose syntax is
//! vLLM's (`--goodput ttft:500`, `--metadata k=v`, `--metric-percentiles 50,99`, …).
//! Every parser error names the flag, the bad value and what was expected.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::dataset::{CommonParams, DatasetSpec};
use crate::metrics::SloMetric;
use crate::schedule::RateProfile;

/// `--backend`: which API and parsing to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `vllm`: OpenAI completions (same as `openai`).
    Vllm,
    /// `openai`: OpenAI completions.
    Openai,
    /// `openai-chat`: OpenAI chat completions.
    OpenaiChat,
}

impl Backend {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Vllm => "vllm",
            Backend::Openai => "openai",
            Backend::OpenaiChat => "openai-chat",
        }
    }

    /// vLLM's default `--endpoint` for this backend.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Backend::OpenaiChat => "/v1/chat/completions",
            _ => "/v1/completions",
        }
    }
}

/// What to write and where.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputOptions {
    /// `--save-result`.
    pub save_result: bool,
    /// `--append-result` (also saves).
    pub append_result: bool,
    /// `--save-detailed`.
    pub save_detailed: bool,
    /// `--result-dir`.
    pub result_dir: Option<PathBuf>,
    /// `--result-filename`.
    pub result_filename: Option<String>,
    /// `--label`.
    pub label: Option<String>,
    /// `--metadata` pairs.
    pub metadata: Vec<(String, String)>,
}

/// Everything one run needs, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// `--backend`.
    pub backend: Backend,
    /// `--base-url`, else `http://{host}:{port}`.
    pub base_url: String,
    /// `--endpoint`.
    pub endpoint: String,
    /// `--model` (discovered from `/v1/models` when absent).
    pub model: Option<String>,
    /// `--served-model-name`.
    pub served_model_name: Option<String>,
    /// `--tokenizer`.
    pub tokenizer: Option<String>,
    /// `--skip-tokenizer-init`.
    pub skip_tokenizer_init: bool,
    /// The dataset and its flags.
    pub dataset: DatasetSpec,
    /// Flags all datasets share.
    pub common: CommonParams,
    /// `--num-prompts` as given (written to the result).
    pub num_prompts_flag: i64,
    /// `--request-rate` or the ramp-up.
    pub rate: RateProfile,
    /// `--burstiness`.
    pub burstiness: f64,
    /// `--max-concurrency`.
    pub max_concurrency: Option<u64>,
    /// `--ignore-eos` (forced on for the random dataset, as vLLM does).
    pub ignore_eos: bool,
    /// `--logprobs`.
    pub logprobs: Option<i64>,
    /// Sampling flags merged with `--extra-body`.
    pub extra_body: Map<String, Value>,
    /// `--header` pairs.
    pub headers: Vec<(String, String)>,
    /// `--api-key` or `OPENAI_API_KEY`; sent as a bearer token, never written anywhere.
    pub api_key: Option<String>,
    /// `--percentile-metrics`.
    pub percentile_metrics: Vec<String>,
    /// `--metric-percentiles`.
    pub metric_percentiles: Vec<f64>,
    /// `--goodput`.
    pub goodput: Vec<(SloMetric, f64)>,
    /// `--num-warmups`.
    pub num_warmups: u64,
    /// `--ready-check-timeout-sec` (0 skips the check).
    pub ready_check_timeout_s: u64,
    /// `--request-timeout`, seconds.
    pub request_timeout_s: f64,
    /// Result file options.
    pub output: OutputOptions,
}

/// `vllm bench serve`'s `--backend` choices (0.33); llmsweep implements vllm, openai and
/// openai-chat and rejects the others by name.
pub const VLLM_BACKENDS: [&str; 12] = [
    "vllm",
    "openai",
    "openai-chat",
    "openai-audio",
    "openai-embeddings",
    "openai-embeddings-chat",
    "openai-embeddings-clip",
    "openai-embeddings-vlm2vec",
    "infinity-embeddings",
    "infinity-embeddings-clip",
    "vllm-pooling",
    "vllm-rerank",
];

/// `vllm bench serve` (0.33) flags that llmsweep does not implement (without the leading
/// `--`). The CLI accepts them only to reject them by name: a dropped flag would report a
/// benchmark nobody ran.
pub const VLLM_FLAGS_NOT_IMPLEMENTED: &[&str] = &[
    "insecure",
    "use-beam-search",
    "lora-modules",
    "lora-assignment",
    "probe-request-rate",
    "profile",
    "plot-timeline",
    "timeline-itl-thresholds",
    "plot-dataset-stats",
    "no-stream",
    "enable-multimodal-chat",
    "chat-template-kwargs",
    "custom-ensure-client-side-data",
    "random-batch-size",
    "no-reranker",
    "random-mm-base-items-per-request",
    "random-mm-num-mm-items-range-ratio",
    "random-mm-limit-mm-per-prompt",
    "random-mm-bucket-config",
    "hf-subset",
    "hf-split",
    "hf-name",
    "hf-output-len",
    "spec-bench-output-len",
    "spec-bench-category",
    "speed-bench-category",
    "speed-bench-dataset-subset",
    "speed-bench-output-len",
    "timed-trace-chunk-hash-size",
    "timed-trace-sec-multiplier",
    "timed-trace-label-timestamp",
    "timed-trace-label-input-length",
    "timed-trace-label-output-length",
    "timed-trace-label-hash-ids",
    "self-timed",
    "no-self-timed",
    "asr-max-audio-len-sec",
    "asr-min-audio-len-sec",
    "bfcl-categories",
    "blazedit-min-distance",
    "blazedit-max-distance",
    "sonnet-input-len",
    "sonnet-output-len",
    "sonnet-prefix-len",
];

/// vLLM's allowed `--percentile-metrics` names.
pub const PERCENTILE_METRICS: &[&str] = &[
    "ttft",
    "tpot",
    "itl",
    "e2el",
    "client_queue_time",
    "e2el_including_client_queue",
];

/// `--percentile-metrics ttft,tpot,itl`.
pub fn parse_percentile_metrics(text: &str) -> Result<Vec<String>, String> {
    text.split(',')
        .map(|name| {
            let name = name.trim();
            if PERCENTILE_METRICS.contains(&name) {
                Ok(name.to_string())
            } else {
                Err(format!("--percentile-metrics: unknown metric {name:?} (expected a comma-separated list of {})", PERCENTILE_METRICS.join(", ")))
            }
        })
        .collect()
}

/// `--metric-percentiles 50,90,99.9`.
pub fn parse_metric_percentiles(text: &str) -> Result<Vec<f64>, String> {
    text.split(',')
        .map(|p| match p.trim().parse::<f64>() {
            Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
            _ => Err(format!("--metric-percentiles: {p:?} is not a percentile (expected comma-separated numbers in [0, 100])")),
        })
        .collect()
}

/// `--goodput ttft:500 tpot:50` (values in ms, ≥ 0; keys ttft, tpot, e2el).
pub fn parse_goodput(pairs: &[String]) -> Result<Vec<(SloMetric, f64)>, String> {
    let mut out: Vec<(SloMetric, f64)> = Vec::new();
    for pair in pairs {
        let bad = |why: &str| {
            format!(
                "--goodput {pair:?}: {why} (expected KEY:VALUE with KEY in ttft, tpot, e2el and VALUE in ms)"
            )
        };
        let (key, value) = pair.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let metric = match key {
            "ttft" => SloMetric::Ttft,
            "tpot" => SloMetric::Tpot,
            "e2el" => SloMetric::E2el,
            _ => return Err(bad("unknown metric")),
        };
        let value: f64 = value
            .parse()
            .map_err(|_| bad("the value is not a number"))?;
        if value.is_nan() || value < 0.0 {
            return Err(bad("the value must be non-negative"));
        }
        // A repeated key keeps its first position and takes the last value, like a Python dict.
        match out.iter_mut().find(|(m, _)| *m == metric) {
            Some(slot) => slot.1 = value,
            None => out.push((metric, value)),
        }
    }
    Ok(out)
}

/// `--metadata KEY=VALUE …` (keys and values stripped, as vLLM).
pub fn parse_metadata(items: &[String]) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("--metadata {item:?}: expected KEY=VALUE"))
        })
        .collect()
}

/// `--header KEY=VALUE …`.
pub fn parse_headers(items: &[String]) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|item| {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("--header {item:?}: expected KEY=VALUE"))?;
            hyper::header::HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|_| format!("--header {item:?}: {k:?} is not a valid header name"))?;
            hyper::header::HeaderValue::from_str(v.trim())
                .map_err(|_| format!("--header {item:?}: the value is not a valid header value"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// `--extra-body '{"temperature": 0}'`: must be a JSON object.
pub fn parse_extra_body(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("--extra-body {text:?}: expected a JSON object")),
        Err(e) => Err(format!("--extra-body {text:?}: invalid JSON ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn goodput_pairs() {
        assert_eq!(
            parse_goodput(&strings(&["ttft:500", "tpot:50.5"])),
            Ok(vec![(SloMetric::Ttft, 500.0), (SloMetric::Tpot, 50.5)])
        );
        assert_eq!(
            parse_goodput(&strings(&["e2el:1", "e2el:2"])),
            Ok(vec![(SloMetric::E2el, 2.0)])
        );
        for bad in ["ttft", "itl:5", "ttft:x", "ttft:-1"] {
            let err = parse_goodput(&strings(&[bad])).unwrap_err();
            assert!(err.contains(bad) && err.contains("KEY:VALUE"), "{err}");
        }
    }

    #[test]
    fn metadata_pairs() {
        assert_eq!(
            parse_metadata(&strings(&["tp=1", " a = b=c "])),
            Ok(vec![("tp".into(), "1".into()), ("a".into(), "b=c".into())])
        );
        assert!(
            parse_metadata(&strings(&["novalue"]))
                .unwrap_err()
                .contains("KEY=VALUE")
        );
    }

    #[test]
    fn percentiles_and_metrics() {
        assert_eq!(parse_metric_percentiles("50,99.9"), Ok(vec![50.0, 99.9]));
        assert!(parse_metric_percentiles("101").is_err());
        assert!(parse_metric_percentiles("x").is_err());
        assert_eq!(
            parse_percentile_metrics("ttft,e2el"),
            Ok(strings(&["ttft", "e2el"]))
        );
        assert!(
            parse_percentile_metrics("ttft,foo")
                .unwrap_err()
                .contains("\"foo\"")
        );
    }

    #[test]
    fn headers_and_extra_body() {
        assert_eq!(
            parse_headers(&strings(&["x-a=1"])),
            Ok(vec![("x-a".into(), "1".into())])
        );
        assert!(parse_headers(&strings(&["bad header=1"])).is_err());
        assert!(parse_headers(&strings(&["x"])).is_err());
        assert_eq!(parse_extra_body(r#"{"a": 1}"#).unwrap()["a"], 1);
        assert!(parse_extra_body("[1]").unwrap_err().contains("JSON object"));
        assert!(parse_extra_body("{").unwrap_err().contains("invalid JSON"));
    }
}

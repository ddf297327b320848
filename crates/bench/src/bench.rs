//! One benchmark run from start to finish: reach the server, build the requests, check
//! readiness, warm up, run the timed schedule, compute the metrics, write the result.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::body::BodyTemplate;
use crate::chunk::ChunkApi;
use crate::client::{Endpoint, StreamClient};
use crate::config::{Backend, BenchConfig};
use crate::dataset::{self, DatasetSpec};
use crate::discovery;
use crate::metrics;
use crate::realign::{self, HttpServerTokens, Outcome};
use crate::result::{self, ClientHealth, ResultInputs, RunHeader, StatsSelection, percentile_word};
use crate::result_file;
use crate::runner::{self, Observer, PreparedRequest, StopSignal, stopped};
use crate::schedule::{self, RateProfile};
use crate::spec_decode::{self, SpecDecodeCounters};
use crate::summary;
use crate::tokenizer::{TextTokenizer, local_tokenizer_file};

/// How long to wait for a connection or `/v1/models` when no readiness timeout is set.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one `/tokenize` or `/detokenize` call of the prompt re-alignment may take.
const REALIGN_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished run hands back.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The result object, exactly as written to the file.
    pub result: Map<String, Value>,
    /// Where it was written, if it was.
    pub path: Option<PathBuf>,
    /// The console summary.
    pub summary: String,
    /// Things the user should know (failed requests, client-bound runs).
    pub warnings: Vec<String>,
    /// The run was stopped early (Ctrl-C); the result covers the requests sent until then.
    pub interrupted: bool,
}

/// Run one benchmark. Fatal problems (bad flags, unreachable server, unreadable dataset) are
/// errors; failed requests are counted in the result, as in vLLM.
pub async fn run(cfg: &BenchConfig, observer: Arc<dyn Observer>) -> anyhow::Result<RunReport> {
    let (_keep, never) = tokio::sync::watch::channel(false);
    run_until(cfg, observer, never).await
}

/// [`run`], ending early when `stop` is set: before the timed run that is an error; during it,
/// what was measured so far is still computed and written, and the report says `interrupted`.
pub async fn run_until(
    cfg: &BenchConfig,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> anyhow::Result<RunReport> {
    let api = match cfg.backend {
        Backend::OpenaiChat => ChunkApi::Chat,
        Backend::Vllm | Backend::Openai => ChunkApi::Completions,
    };
    let api_url = format!("{}{}", cfg.base_url.trim_end_matches('/'), cfg.endpoint);
    let suffix = if api == ChunkApi::Chat {
        "chat/completions"
    } else {
        "completions"
    };
    if !api_url.ends_with(suffix) {
        bail!(
            "--endpoint {}: the {} backend needs a URL ending in {suffix:?}",
            cfg.endpoint,
            cfg.backend.as_str()
        );
    }
    let url: Uri = api_url
        .parse()
        .with_context(|| format!("{api_url} is not a valid URL"))?;
    match url.scheme_str() {
        Some("http") => {}
        Some(other) => bail!(
            "{api_url}: the {other} scheme is not supported (llmsweep bench serve speaks plain http)"
        ),
        None => bail!("{api_url}: expected an http:// URL"),
    }
    let headers = request_headers(cfg)?;
    if cfg.common.num_prompts == 0 && !matches!(cfg.dataset, DatasetSpec::Custom(_)) {
        bail!(
            "--num-prompts must be at least 1 (got {})",
            cfg.num_prompts_flag
        );
    }

    // A result folder that cannot be made would lose the whole run at its end: make it now.
    if cfg.output.save_result || cfg.output.append_result {
        let dir = match (&cfg.output.result_dir, &cfg.output.result_filename) {
            (dir, Some(file)) => dir
                .clone()
                .unwrap_or_default()
                .join(file)
                .parent()
                .map(std::path::Path::to_path_buf),
            (Some(dir), None) => Some(dir.clone()),
            (None, None) => None,
        };
        if let Some(dir) = dir.filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(&dir).with_context(|| {
                format!(
                    "cannot create result folder {} (--result-dir / --result-filename); nothing was sent",
                    dir.display()
                )
            })?;
        }
    }

    // Local work first, so a bad tokenizer or dataset file is reported before the server is
    // contacted, unless the tokenizer can only come from the discovered model.
    let local_first = cfg.tokenizer.is_some() || cfg.skip_tokenizer_init || cfg.model.is_some();
    let local_data = if local_first {
        Some(tokenizer_and_samples(
            cfg,
            cfg.model.as_deref().unwrap_or(""),
        )?)
    } else {
        None
    };

    // Reach the server; find the model. With a readiness timeout, keep trying until it passes.
    let ready_timeout = Duration::from_secs(cfg.ready_check_timeout_s);
    let reach_started = std::time::Instant::now();
    let reach_deadline = reach_started + ready_timeout;
    // `model_name` goes into requests (`--served-model-name`, else `--model`, else the listed
    // id); `model_id` into the result (`--model`, else the listed root).
    let (model_name, model_id) = loop {
        let attempt = match &cfg.model {
            Some(model) => discovery::probe_tcp(&url, CONNECT_TIMEOUT)
                .await
                .map_err(|message| discovery::HttpError {
                    status: None,
                    message,
                })
                .map(|()| {
                    (
                        cfg.served_model_name
                            .clone()
                            .unwrap_or_else(|| model.clone()),
                        model.clone(),
                    )
                }),
            None => discovery::fetch_first_model(&cfg.base_url, &headers, CONNECT_TIMEOUT)
                .await
                .map(|m| (m.id, m.root)),
        };
        match attempt {
            Ok(found) => break found,
            // A refused key does not fix itself: no point waiting for readiness.
            Err(e) if e.is_auth_refusal() => {
                bail!("{}", auth_refused(&cfg.base_url, cfg.api_key.is_some(), &e))
            }
            Err(e) if std::time::Instant::now() < reach_deadline => {
                observer.message(&format!("Server not reachable yet: {e}"));
                tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped(stop.clone()) => bail!("interrupted while waiting for the server"),
                }
            }
            Err(e) => {
                let hint = if cfg.model.is_none() {
                    " (the model name comes from GET /v1/models unless --model is given)"
                } else {
                    ""
                };
                let waited = if cfg.ready_check_timeout_s > 0 {
                    format!(
                        " after waiting {:.1} s (--ready-check-timeout-sec {})",
                        reach_started.elapsed().as_secs_f64(),
                        cfg.ready_check_timeout_s
                    )
                } else {
                    String::new()
                };
                bail!(
                    "the server at {} is unreachable{waited}: {e}{hint}",
                    cfg.base_url
                );
            }
        }
    };

    let (tokenizer, mut samples, oversample_note) = match local_data {
        Some(data) => data,
        None => tokenizer_and_samples(cfg, &model_id)?,
    };
    if let Some(note) = oversample_note {
        observer.message(&note);
    }
    // vLLM re-aligns text prompts of these two datasets to the server's tokenizer.
    if matches!(
        cfg.dataset,
        DatasetSpec::Random(_) | DatasetSpec::PrefixRepetition(_)
    ) {
        let server = Arc::new(HttpServerTokens::new(
            &cfg.base_url,
            &model_name,
            headers.clone(),
            REALIGN_TIMEOUT,
        ));
        let outcome = tokio::select! {
            outcome = realign::align(server, &model_name, &mut samples) => outcome,
            _ = stopped(stop.clone()) => bail!("interrupted while re-aligning the prompts"),
        };
        match outcome {
            Outcome::Skipped(warning) | Outcome::Realigned { warning, .. } => {
                observer.message(&format!("WARNING: {warning}"))
            }
            Outcome::NotText | Outcome::Matched => {}
        }
    }
    let tokenizer_id = if cfg.skip_tokenizer_init {
        None
    } else {
        Some(cfg.tokenizer.clone().unwrap_or_else(|| model_id.clone()))
    };
    let template = BodyTemplate {
        api,
        model: model_name,
        logprobs: cfg.logprobs,
        ignore_eos: cfg.ignore_eos || matches!(cfg.dataset, DatasetSpec::Random(_)),
        extra_body: cfg.extra_body.clone(),
    };
    let prepared = samples
        .iter()
        .map(|s| {
            Ok(PreparedRequest {
                body: Bytes::from(template.build(s)?),
                request_id: s.request_id.clone(),
                prompt_len: s.prompt_len,
                expected_tokens: s.expected_output_len as usize,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("--backend {}: {e}", cfg.backend.as_str()))?;
    let plan = schedule::build(cfg.rate, cfg.burstiness, prepared.len(), cfg.common.seed)?;

    let endpoint = Endpoint {
        url,
        api,
        headers: headers.clone(),
        timeout: Duration::from_secs_f64(cfg.request_timeout_s),
        collect_text: cfg.output.save_detailed || tokenizer.is_some(),
    };
    let pool = cfg.max_concurrency.map_or(prepared.len(), |n| n as usize);
    let client = StreamClient::connect(endpoint, pool)
        .await
        .map_err(anyhow::Error::msg)?;
    let first = prepared
        .first()
        .context("the dataset produced no requests")?;
    if cfg.ready_check_timeout_s > 0 {
        tokio::select! {
            ready = runner::ready_check(&client, first, reach_started, ready_timeout, observer.as_ref()) => {
                ready.map_err(|e| anyhow::anyhow!("initial test run failed: {e}"))?;
            }
            _ = stopped(stop.clone()) => bail!("interrupted during the readiness check"),
        }
    } else {
        observer.message("Skipping endpoint ready check.");
    }
    if cfg.num_warmups > 0 {
        observer.message(&format!("Warming up with {} requests...", cfg.num_warmups));
        let failed = runner::warmups(
            &client,
            first,
            cfg.num_warmups,
            cfg.max_concurrency,
            observer.clone(),
            stop.clone(),
        )
        .await;
        if *stop.borrow() {
            bail!("interrupted during the warmups");
        }
        observer.message(&format!("Warmup run completed ({failed} failed)."));
    }
    observer.message("Starting main benchmark run...");
    match cfg.rate {
        RateProfile::Constant(rate) => {
            observer.message(&format!("Traffic request rate: {}", rate_text(rate)))
        }
        RateProfile::Ramp {
            strategy,
            start,
            end,
        } => {
            // vLLM's two lines, word for word (logs are grepped for them).
            observer.message(&format!("Traffic ramp-up strategy: {}.", strategy.as_str()));
            observer.message(&format!(
                "Will increase RPS from {start} to {end} RPS over the duration of the benchmark."
            ));
        }
    }
    let distribution = if cfg.burstiness == 1.0 {
        "Poisson process"
    } else {
        "Gamma distribution"
    };
    observer.message(&format!(
        "Burstiness factor: {} ({distribution})",
        if cfg.burstiness.is_infinite() {
            "inf".to_string()
        } else {
            crate::pyjson::python_float_repr(cfg.burstiness)
        }
    ));
    observer.message(&format!(
        "Maximum request concurrency: {}",
        cfg.max_concurrency.map_or("None".into(), |n| n.to_string())
    ));

    let metrics_url = format!("{}/metrics", cfg.base_url.trim_end_matches('/'));
    let spec_before = fetch_spec_decode(&metrics_url, &headers).await;
    crate::http1::diagnostics::reset();
    let run = runner::timed_run(
        &client,
        &prepared,
        &plan.offsets_s,
        cfg.max_concurrency,
        observer.clone(),
        stop.clone(),
    )
    .await;
    if crate::http1::diagnostics::enabled() {
        use crate::http1::diagnostics as d;
        for (name, delays) in [
            ("Read delay (socket arrival to read)", &d::READ_DELAY),
            ("First-token read delay", &d::FIRST_TOKEN_DELAY),
            (
                "Head delay (request written to response head)",
                &d::HEAD_DELAY,
            ),
            ("TTFT by arrival", &d::TTFT_KERNEL),
            ("TTFT by read", &d::TTFT_USER),
            ("ITL by arrival", &d::ITL_KERNEL),
            ("ITL by read", &d::ITL_USER),
        ] {
            if let Some(text) = delays.summary() {
                observer.message(&format!("{name}: {text}"));
            }
        }
    }
    let spec_decode = match (spec_before, fetch_spec_decode(&metrics_url, &headers).await) {
        (Some(before), Some(after)) => spec_decode::delta(&before, &after),
        _ => None,
    };

    let count_tokens = |text: &str| {
        tokenizer
            .as_ref()
            .and_then(|t| t.encode(text, false).ok())
            .map_or(1, |ids| ids.len() as u64)
    };
    let counter: Option<&dyn Fn(&str) -> u64> = if tokenizer.is_some() {
        Some(&count_tokens)
    } else {
        None
    };
    let m = metrics::compute(&run.records, run.duration_s, &cfg.goodput, counter);
    let finite_rate = !matches!(cfg.rate, RateProfile::Constant(r) if r.is_infinite());
    let health = ClientHealth {
        client_bound: metrics::is_client_bound(&m.dispatch_lags, &run.wakeup_lags, finite_rate),
        wakeup_lags: run.wakeup_lags.clone(),
    };
    let rps_change_events = match cfg.rate {
        RateProfile::Ramp { start, .. } => Some(
            schedule::rps_change_events(start, &plan.rates)
                .into_iter()
                .map(|e| {
                    let at = run
                        .records
                        .get(e.at_request)
                        .map_or(0.0, |r| r.dispatched_s);
                    let wall = run.wall_start + chrono::Duration::microseconds((at * 1e6) as i64);
                    (e.rps, wall.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
                })
                .collect(),
        ),
        RateProfile::Constant(_) => None,
    };
    let header = RunHeader {
        date: chrono::Local::now().format("%Y%m%d-%H%M%S").to_string(),
        backend: cfg.backend.as_str().to_string(),
        label: cfg.output.label.clone(),
        model_id,
        tokenizer_id,
        num_prompts: cfg.num_prompts_flag,
        metadata: cfg.output.metadata.clone(),
        request_rate: match cfg.rate {
            RateProfile::Constant(r) => r,
            RateProfile::Ramp { .. } => f64::INFINITY,
        },
        burstiness: cfg.burstiness,
        max_concurrency: cfg.max_concurrency,
        ramp: match cfg.rate {
            RateProfile::Ramp {
                strategy,
                start,
                end,
            } => Some((strategy, start, end)),
            RateProfile::Constant(_) => None,
        },
    };
    let selection = StatsSelection {
        metrics: cfg.percentile_metrics.clone(),
        percentiles: cfg.metric_percentiles.clone(),
        token_metrics: !cfg.skip_tokenizer_init,
    };
    let result = result::build(&ResultInputs {
        header: &header,
        duration_s: run.duration_s,
        records: &run.records,
        metrics: &m,
        selection: &selection,
        save_detailed: cfg.output.save_detailed,
        rps_change_events,
        spec_decode: spec_decode.as_ref(),
        health: &health,
    });

    let mut warnings = Vec::new();
    if run.interrupted {
        warnings.push(format!(
            "interrupted: {} of {} requests were sent; requests cut off count as failed",
            run.records.len(),
            prepared.len()
        ));
    }
    if m.completed == 0 {
        warnings.push("All requests failed. This is likely due to a misconfiguration on the benchmark arguments.".to_string());
    }
    if m.failed > 0 {
        // vLLM's line, word for word; the count is in the summary.
        let mut text =
            String::from("Failed requests during benchmark run detected (capping to 10):");
        for (i, r) in run
            .records
            .iter()
            .filter(|r| !r.success)
            .take(10)
            .enumerate()
        {
            text.push_str(&format!("\nError {i}: {}", r.error));
        }
        warnings.push(text);
    }
    if health.client_bound {
        warnings.push(format!(
            "client_bound: the client fell behind its schedule or its runtime woke timers late (p99 over {} ms); \
             latencies include client delay. Use fewer streams per client, or more cores.",
            metrics::CLIENT_BOUND_LAG_S * 1000.0
        ));
    }
    let words: Vec<String> = cfg
        .metric_percentiles
        .iter()
        .map(|&p| percentile_word(p))
        .collect();
    let summary = summary::render(&result, &words);
    let path = if cfg.output.save_result || cfg.output.append_result {
        let path = result_file::result_path(
            &header,
            cfg.output.result_dir.as_deref(),
            cfg.output.result_filename.as_deref(),
        );
        result_file::write(&path, &result, cfg.output.append_result)?;
        Some(path)
    } else {
        None
    };
    Ok(RunReport {
        result,
        path,
        summary,
        warnings,
        interrupted: run.interrupted,
    })
}

/// The error for a 401/403 from `GET /v1/models`: the server is up and refuses the key.
fn auth_refused(base_url: &str, key_sent: bool, e: &discovery::HttpError) -> String {
    let what = if key_sent {
        "refused the API key"
    } else {
        "requires an API key and none was sent"
    };
    format!(
        "the server at {base_url} {what} ({e}); pass the key it expects with --api-key or the OPENAI_API_KEY environment variable"
    )
}

/// The rate as vLLM prints it (Python's `str(float)`: `inf`, `20.0`, `0.5`).
fn rate_text(rate: f64) -> String {
    result_file::python_str_float(rate)
}

/// Authorization from the API key, then `--header` pairs (which override it, as in vLLM).
fn request_headers(cfg: &BenchConfig) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if let Some(key) = &cfg.api_key {
        let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
            .context("the API key is not a valid header value")?;
        value.set_sensitive(true);
        out.push((hyper::header::AUTHORIZATION, value));
    }
    for (k, v) in &cfg.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .with_context(|| format!("--header {k}: invalid header name"))?;
        let value = HeaderValue::from_str(v)
            .with_context(|| format!("--header {k}: invalid header value"))?;
        out.retain(|(n, _)| *n != name);
        out.push((name, value));
    }
    Ok(out)
}

/// vLLM's spec-decode counters from `/metrics`, or `None` when the server has none (or no
/// `/metrics` at all).
async fn fetch_spec_decode(
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
) -> Option<SpecDecodeCounters> {
    let body = discovery::get(url, headers, CONNECT_TIMEOUT).await.ok()?;
    spec_decode::parse(&String::from_utf8_lossy(&body))
}

/// The tokenizer (for `model_id`, when it names a local folder), the dataset's requests and
/// vLLM's oversampling log line, if any.
fn tokenizer_and_samples(cfg: &BenchConfig, model_id: &str) -> anyhow::Result<LocalData> {
    let tokenizer = load_tokenizer(cfg, model_id)?;
    let (samples, note) = dataset::load_noting(&cfg.dataset, &cfg.common, tokenizer.as_ref())
        .context("cannot build the dataset")?;
    Ok((tokenizer, samples, note))
}

/// What [`tokenizer_and_samples`] builds.
type LocalData = (
    Option<TextTokenizer>,
    Vec<dataset::SampleRequest>,
    Option<String>,
);

/// `--tokenizer` (must load), else the model when it is a local folder with a tokenizer.
fn load_tokenizer(cfg: &BenchConfig, model_id: &str) -> anyhow::Result<Option<TextTokenizer>> {
    if cfg.skip_tokenizer_init {
        return Ok(None);
    }
    match &cfg.tokenizer {
        Some(spec) => Ok(Some(TextTokenizer::load(spec)?)),
        None if local_tokenizer_file(model_id).is_some() => {
            Ok(Some(TextTokenizer::load(model_id)?))
        }
        None => Ok(None),
    }
}

//! The whole client against the fault-injecting test server: every fault gets a clear
//! per-request outcome, and the requests that completed are still counted and written.

use std::sync::Arc;
use std::time::Duration;

use llmsweep_bench::bench::{RunReport, run};
use llmsweep_bench::config::{Backend, BenchConfig, OutputOptions};
use llmsweep_bench::dataset::{CommonParams, DatasetSpec, RandomParams, RangeRatio};
use llmsweep_bench::runner::Silent;
use llmsweep_bench::schedule::{RampStrategy, RateProfile};
use llmsweep_bench::testserver::{Behaviour, Fault, TestServer};
use serde_json::{Value, json};

fn config(server: &TestServer, num_prompts: usize) -> BenchConfig {
    BenchConfig {
        backend: Backend::Openai,
        base_url: server.base_url(),
        endpoint: "/v1/completions".into(),
        model: Some("m".into()),
        served_model_name: None,
        tokenizer: None,
        skip_tokenizer_init: false,
        dataset: DatasetSpec::Random(RandomParams {
            input_len: 16,
            output_len: 4,
            range_ratio: RangeRatio {
                input: 0.0,
                output: 0.0,
            },
            prefix_len: 0,
        }),
        common: CommonParams {
            num_prompts,
            seed: 0,
            request_id_prefix: "t-".into(),
            disable_shuffle: false,
            no_oversample: false,
        },
        num_prompts_flag: num_prompts as i64,
        rate: RateProfile::Constant(f64::INFINITY),
        burstiness: 1.0,
        max_concurrency: Some(4),
        ignore_eos: false,
        logprobs: None,
        extra_body: Default::default(),
        headers: vec![],
        api_key: None,
        percentile_metrics: vec!["ttft".into(), "tpot".into(), "itl".into(), "e2el".into()],
        metric_percentiles: vec![99.0],
        goodput: vec![],
        num_warmups: 0,
        ready_check_timeout_s: 0,
        request_timeout_s: 30.0,
        output: OutputOptions::default(),
    }
}

async fn serve(behaviour: Behaviour) -> TestServer {
    TestServer::start(behaviour, 0)
        .await
        .expect("test server starts")
}

async fn bench(cfg: &BenchConfig) -> RunReport {
    run(cfg, Arc::new(Silent)).await.expect("the run completes")
}

fn errors(report: &RunReport) -> Vec<String> {
    report
        .warnings
        .join("\n")
        .lines()
        .filter(|l| l.starts_with("Error "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn happy_path_counts_tokens_and_sends_vllm_bodies() {
    let server = serve(Behaviour {
        tokens: Some(5),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 6);
    cfg.api_key = Some("sk-secret".into());
    cfg.headers = vec![("x-extra".into(), "1".into())];
    let r = bench(&cfg).await.result;
    assert_eq!(
        (r["completed"].clone(), r["failed"].clone()),
        (json!(6), json!(0))
    );
    assert_eq!(
        r["total_output_tokens"],
        json!(30),
        "usage.completion_tokens counts"
    );
    assert_eq!(
        r["total_input_tokens"],
        json!(96),
        "usage.prompt_tokens replaces the client count"
    );
    assert!(
        r["mean_ttft_ms"].as_f64().unwrap() >= 5.0,
        "the server sleeps 5 ms before the first token"
    );
    assert_eq!(r["latencies"].as_array().unwrap().len(), 6);
    assert!(r["max_concurrent_requests"].as_u64().unwrap() <= 4);
    let received = server.completions();
    assert_eq!(received.len(), 6);
    let body = received[0].json();
    assert_eq!(body["model"], "m");
    assert_eq!(body["max_tokens"], 4);
    assert_eq!(
        body["ignore_eos"], true,
        "the random dataset forces ignore_eos"
    );
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["prompt"].as_array().unwrap().len(), 16);
    assert_eq!(
        received[0].header("authorization"),
        Some("Bearer sk-secret")
    );
    assert_eq!(received[0].header("x-extra"), Some("1"));
    let mut ids: Vec<&str> = received
        .iter()
        .filter_map(|r| r.header("x-request-id"))
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["t-0", "t-1", "t-2", "t-3", "t-4", "t-5"]);
}

#[tokio::test]
async fn http_errors_are_failed_requests_with_their_message() {
    for (code, text) in [
        (500, "engine exploded"),
        (400, "{\"error\": \"model m does not exist\"}"),
    ] {
        let server = serve(Behaviour {
            fault: Fault::Status(code, text.into()),
            fault_every: Some(2),
            ..Default::default()
        })
        .await;
        let report = bench(&config(&server, 4)).await;
        assert_eq!(
            (
                report.result["completed"].clone(),
                report.result["failed"].clone()
            ),
            (json!(2), json!(2))
        );
        let errs = errors(&report);
        assert_eq!(errs.len(), 2);
        assert!(
            errs[0].contains(&format!("HTTP {code}")) && errs[0].contains(text),
            "{errs:?}"
        );
    }
}

async fn single_failure(fault: Fault, timeout_s: f64) -> String {
    let server = serve(Behaviour {
        fault,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 1);
    cfg.request_timeout_s = timeout_s;
    cfg.output.save_detailed = true;
    let report = bench(&cfg).await;
    assert_eq!(
        report.result["failed"],
        json!(1),
        "{:?}",
        report.result["errors"]
    );
    report.result["errors"][0].as_str().unwrap().to_string()
}

#[tokio::test]
async fn malformed_sse_line_fails_the_request() {
    let err = single_failure(Fault::MalformedLine(2), 30.0).await;
    assert!(
        err.contains("malformed SSE line") && err.contains("this line is not server-sent events"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_json_chunk_fails_the_request() {
    let err = single_failure(Fault::InvalidJson(1), 30.0).await;
    assert!(
        err.contains("invalid JSON chunk after 1 token chunks"),
        "{err}"
    );
}

#[tokio::test]
async fn connection_reset_mid_stream_fails_the_request() {
    let err = single_failure(Fault::ResetAfter(2), 30.0).await;
    assert!(
        err.contains("stream broke after 2 token chunks") || err.contains("connection"),
        "{err}"
    );
}

#[tokio::test]
async fn stream_without_done_times_out() {
    let err = single_failure(Fault::NeverFinish, 0.3).await;
    assert!(
        err.contains("timed out after 0.300 s (--request-timeout), after 4 token chunks"),
        "{err}"
    );
}

#[tokio::test]
async fn an_error_event_keeps_the_servers_message() {
    let e = single_failure(Fault::ErrorEvent("engine died".into()), 5.0).await;
    assert!(
        e.starts_with("Never received a valid chunk")
            && e.ends_with("The stream carried an error: engine died"),
        "{e}"
    );
}

#[tokio::test]
async fn a_json_body_instead_of_a_stream_says_so() {
    let body = r#"{"choices":[{"text":"abc","index":0}],"usage":{"prompt_tokens":3,"completion_tokens":3}}"#;
    let e = single_failure(Fault::Status(200, body.into()), 5.0).await;
    assert!(
        e.contains("malformed SSE line") && e.contains("not an SSE stream"),
        "{e}"
    );
}

#[tokio::test]
async fn a_200_without_tokens_is_vllms_failure() {
    let err = single_failure(Fault::NoTokens, 30.0).await;
    assert_eq!(err, llmsweep_bench::client::NO_TOKEN_ERROR);
}

#[tokio::test]
async fn events_split_across_reads_are_parsed() {
    let server = serve(Behaviour {
        tokens: Some(6),
        split_writes: true,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 2);
    cfg.output.save_detailed = true;
    let r = bench(&cfg).await.result;
    assert_eq!(r["completed"], json!(2));
    for itl in r["itls"].as_array().unwrap() {
        assert_eq!(
            itl.as_array().unwrap().len(),
            5,
            "one gap per token chunk after the first"
        );
    }
}

#[tokio::test]
async fn missing_usage_falls_back_to_one_token_without_tokenizer() {
    let server = serve(Behaviour {
        tokens: Some(3),
        usage: false,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 2);
    cfg.output.save_detailed = true;
    let r = bench(&cfg).await.result;
    assert_eq!(r["completed"], json!(2));
    assert_eq!(
        r["output_lens"],
        json!([1, 1]),
        "vLLM counts 1 without usage or tokenizer"
    );
    assert_eq!(
        r["input_lens"],
        json!([16, 16]),
        "the client's prompt length stays"
    );
    assert_eq!(r["generated_texts"], json!([" t0 t1 t2", " t0 t1 t2"]));
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = serve(Behaviour::default()).await;
    let mut cfg = config(&server, 1);
    cfg.base_url = format!("http://127.0.0.1:{port}");
    let err = run(&cfg, Arc::new(Silent)).await.unwrap_err().to_string();
    assert!(
        err.contains("unreachable") && err.contains(&port.to_string()),
        "{err}"
    );
    cfg.model = None;
    let err = run(&cfg, Arc::new(Silent)).await.unwrap_err().to_string();
    assert!(err.contains("/v1/models"), "{err}");
    cfg.model = Some("m".into());
    cfg.ready_check_timeout_s = 1;
    let started = std::time::Instant::now();
    let err = run(&cfg, Arc::new(Silent)).await.unwrap_err().to_string();
    assert!(started.elapsed() >= Duration::from_secs(1), "gave up early");
    assert!(
        err.contains("unreachable") && err.contains("--ready-check-timeout-sec 1"),
        "{err}"
    );
}

#[tokio::test]
async fn ready_check_retries_then_fails_or_passes() {
    let server = serve(Behaviour {
        fault: Fault::Status(503, "loading".into()),
        fault_first: Some(1),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 2);
    cfg.ready_check_timeout_s = 10;
    let r = bench(&cfg).await.result;
    assert_eq!(
        r["completed"],
        json!(2),
        "the readiness attempts are not part of the run"
    );
    assert_eq!(
        server.completions().len(),
        4,
        "one failed and one passed readiness attempt, then two requests"
    );

    let always = serve(Behaviour {
        fault: Fault::Status(503, "loading".into()),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&always, 2);
    cfg.ready_check_timeout_s = 2;
    let err = run(&cfg, Arc::new(Silent)).await.unwrap_err().to_string();
    assert!(
        err.contains(" s (--ready-check-timeout-sec 2)") && err.contains("HTTP 503"),
        "{err}"
    );
    // The time really waited, not the budget left after reaching the server, rounded down.
    let waited: f64 = err
        .split("not ready after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no waited time in {err}"));
    assert!((2.0..10.0).contains(&waited), "{err}");
}

#[tokio::test]
async fn model_discovery_uses_id_for_requests_and_root_for_the_result() {
    let server = serve(Behaviour::default()).await;
    let mut cfg = config(&server, 1);
    cfg.model = None;
    let r = bench(&cfg).await.result;
    assert_eq!(r["model_id"], "org/test-model");
    assert_eq!(r["tokenizer_id"], "org/test-model");
    let posts: Vec<_> = server.completions().into_iter().collect();
    assert_eq!(posts[0].json()["model"], "test-model");
}

#[tokio::test]
async fn warmups_are_sent_but_not_measured() {
    let server = serve(Behaviour::default()).await;
    let mut cfg = config(&server, 3);
    cfg.num_warmups = 2;
    let r = bench(&cfg).await.result;
    assert_eq!(r["completed"], json!(3));
    let received = server.completions();
    assert_eq!(received.len(), 5);
    assert_eq!(
        received
            .iter()
            .filter(|r| r.header("x-request-id").is_none())
            .count(),
        2,
        "warmups carry no request id"
    );
}

#[tokio::test]
async fn ramp_up_writes_rps_change_events() {
    let server = serve(Behaviour {
        tokens: Some(1),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 6);
    cfg.rate = RateProfile::Ramp {
        strategy: RampStrategy::Linear,
        start: 20,
        end: 25,
    };
    let log = Arc::new(Messages::default());
    let r = run(&cfg, log.clone()).await.unwrap().result;
    // vLLM's console lines, word for word.
    let lines = log.0.lock().unwrap().clone();
    assert!(
        lines.contains(&"Traffic ramp-up strategy: linear.".to_string())
            && lines.contains(
                &"Will increase RPS from 20 to 25 RPS over the duration of the benchmark."
                    .to_string()
            ),
        "{lines:?}"
    );
    assert_eq!(r["ramp_up_strategy"], "linear");
    assert_eq!(r["request_rate"], "inf");
    let events = r["rps_change_events"].as_array().unwrap();
    let rps: Vec<u64> = events.iter().map(|e| e["rps"].as_u64().unwrap()).collect();
    assert_eq!(rps, vec![20, 21, 22, 23, 24, 25]);
    assert!(
        events
            .iter()
            .all(|e| e["timestamp"].as_str().unwrap().contains('T'))
    );
}

#[tokio::test]
async fn chat_counts_content_chunks_not_the_role_chunk() {
    let Some(tok) = [
        "/work/shared/data/tokenizers/smollm2".to_string(),
        format!(
            "{}/../../../shared/data/tokenizers/smollm2",
            env!("CARGO_MANIFEST_DIR")
        ),
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).join("tokenizer.json").is_file()) else {
        return eprintln!("skipped: smollm2 tokenizer not found");
    };
    let server = serve(Behaviour {
        tokens: Some(4),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 2);
    cfg.backend = Backend::OpenaiChat;
    cfg.endpoint = "/v1/chat/completions".into();
    cfg.tokenizer = Some(tok);
    cfg.output.save_detailed = true;
    let r = bench(&cfg).await.result;
    assert_eq!(r["completed"], json!(2));
    assert!(
        r["itls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.as_array().unwrap().len() == 3)
    );
    let body = server.completions()[0].json();
    assert_eq!(body["messages"][0]["content"][0]["type"], "text");
    assert_eq!(body["max_completion_tokens"], 4);
    assert_eq!(r["generated_texts"][0], " t0 t1 t2 t3");
}

#[tokio::test]
async fn chat_without_tokenizer_for_random_is_a_clear_error() {
    let server = serve(Behaviour::default()).await;
    let mut cfg = config(&server, 1);
    cfg.backend = Backend::OpenaiChat;
    cfg.endpoint = "/v1/chat/completions".into();
    let err = run(&cfg, Arc::new(Silent)).await.unwrap_err().to_string();
    assert!(err.contains("--tokenizer"), "{err}");
}

#[tokio::test]
async fn results_are_written_even_when_requests_fail() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(Behaviour {
        fault: Fault::ResetAfter(1),
        fault_every: Some(3),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 6);
    cfg.output = OutputOptions {
        save_result: true,
        result_dir: Some(dir.path().join("out")),
        result_filename: Some("run=0.json".into()),
        ..Default::default()
    };
    let report = bench(&cfg).await;
    let text = std::fs::read_to_string(dir.path().join("out/run=0.json")).unwrap();
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written["completed"], json!(4));
    assert_eq!(written["failed"], json!(2));
    // vLLM's heading, then each error.
    let failures = report
        .warnings
        .iter()
        .find(|w| w.starts_with("Failed requests during benchmark run detected (capping to 10):"))
        .expect("the failures are listed");
    assert!(failures.contains("\nError 0: stream broke"), "{failures}");
    assert!(failures.contains("\nError 1: "), "{failures}");
    assert_eq!(written, Value::Object(report.result));
}

#[tokio::test]
async fn an_unusable_result_folder_fails_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let server = serve(Behaviour::default()).await;
    let mut cfg = config(&server, 2);
    cfg.output = OutputOptions {
        save_result: true,
        result_dir: Some(file.join("out")),
        ..Default::default()
    };
    let err = run(&cfg, Arc::new(Silent)).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("cannot create result folder") && text.contains("a-file/out"),
        "{text}"
    );
    assert!(server.completions().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn rate_limited_run_reports_schedule_latency() {
    let server = serve(Behaviour {
        tokens: Some(2),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 5);
    cfg.rate = RateProfile::Constant(50.0);
    cfg.max_concurrency = None;
    let log = Arc::new(Messages::default());
    let r = run(&cfg, log.clone()).await.unwrap().result;
    // Python's str(float), as vLLM prints it.
    let lines = log.0.lock().unwrap().clone();
    assert!(
        lines.contains(&"Traffic request rate: 50.0".to_string()),
        "{lines:?}"
    );
    assert_eq!(r["request_rate"], json!(50.0));
    assert!(
        r["duration"].as_f64().unwrap() >= 0.1,
        "the last request is scheduled at N / rate = 0.1 s"
    );
    for key in [
        "mean_e2el_from_schedule_ms",
        "p99_ttft_from_schedule_ms",
        "mean_send_lag_ms",
        "max_wakeup_lag_ms",
        "client_bound",
    ] {
        assert!(r.contains_key(key), "{key}");
    }
    assert!(
        r["mean_e2el_from_schedule_ms"].as_f64().unwrap() >= r["mean_e2el_ms"].as_f64().unwrap()
    );
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let server = serve(Behaviour {
        tokens: Some(3),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 10);
    cfg.max_concurrency = Some(2);
    cfg.num_warmups = 2;
    assert_eq!(bench(&cfg).await.result["completed"], json!(10));
    assert_eq!(
        server.connections(),
        1 + 2 + 2,
        "the reachability probe, two /metrics snapshots, then one connection per concurrency slot (warmups included)"
    );
}

#[tokio::test]
async fn a_pooled_connection_closed_by_the_server_is_replaced() {
    let server = serve(Behaviour {
        tokens: Some(2),
        close_silently: true,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 4);
    cfg.max_concurrency = Some(1);
    let r = bench(&cfg).await.result;
    assert_eq!(
        (r["completed"].clone(), r["failed"].clone()),
        (json!(4), json!(0))
    );
    assert_eq!(
        server.connections(),
        1 + 2 + 4,
        "the reachability probe, two /metrics snapshots, then a new connection per request"
    );
    let posts = server.completions().len();
    assert_eq!(
        posts, 4,
        "the stale connection carried no request to the server"
    );
}

#[tokio::test]
async fn test_server_reports_its_own_lateness() {
    let server = serve(Behaviour {
        tokens: Some(3),
        ..Default::default()
    })
    .await;
    bench(&config(&server, 2)).await;
    let model = llmsweep_bench::discovery::fetch_first_model(
        &server.base_url(),
        &[],
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(model.id, "test-model");
    let stats = tokio::task::spawn_blocking({
        let addr = server.addr();
        move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            text
        }
    })
    .await
    .unwrap();
    let body: Value = serde_json::from_str(stats.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["first_token_late_ms"]["count"], json!(2));
    assert_eq!(body["token_late_ms"]["count"], json!(6));
}

#[tokio::test]
async fn spec_decode_counters_become_vllms_keys() {
    let server = serve(Behaviour {
        tokens: Some(2),
        spec_decode_metrics: true,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 5);
    cfg.num_warmups = 3;
    let report = bench(&cfg).await;
    let r = &report.result;
    // Only the 5 timed requests count: the snapshots are taken around the timed run.
    assert_eq!(r["spec_decode_num_drafts"], json!(10));
    assert_eq!(r["spec_decode_draft_tokens"], json!(30));
    assert_eq!(r["spec_decode_accepted_tokens"], json!(20));
    assert_eq!(r["spec_decode_acceptance_length"], json!(3.0));
    assert_eq!(
        r["spec_decode_per_position_acceptance_rates"],
        json!([1.0, 0.5, 0.5])
    );
    let rate = r["spec_decode_acceptance_rate"].as_f64().unwrap();
    assert!((rate - 200.0 / 3.0).abs() < 1e-9);
    let keys: Vec<&str> = r.keys().map(String::as_str).collect();
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert!(
        at("rtfx") < at("spec_decode_acceptance_rate")
            && at("spec_decode_per_position_acceptance_rates") < at("mean_ttft_ms")
    );
    assert!(
        report.summary.contains("Speculative Decoding") && report.summary.contains("  Position 2:")
    );

    let plain = serve(Behaviour::default()).await;
    let r = bench(&config(&plain, 2)).await.result;
    assert!(
        !r.contains_key("spec_decode_num_drafts"),
        "no counters, no keys"
    );
}

/// Keeps every console message.
#[derive(Default)]
struct Messages(std::sync::Mutex<Vec<String>>);

impl llmsweep_bench::runner::Observer for Messages {
    fn message(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
    fn phase_started(&self, _: &str, _: usize) {}
    fn request_done(&self, _: bool) {}
    fn phase_finished(&self) {}
}

/// Sets the stop signal when the first request ends.
struct StopAfterFirst(tokio::sync::watch::Sender<bool>);

impl llmsweep_bench::runner::Observer for StopAfterFirst {
    fn message(&self, _: &str) {}
    fn phase_started(&self, _: &str, _: usize) {}
    fn request_done(&self, _: bool) {
        let _ = self.0.send(true);
    }
    fn phase_finished(&self) {}
}

#[tokio::test]
async fn a_stop_keeps_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(Behaviour {
        tokens: Some(3),
        ..Default::default()
    })
    .await;
    // Queued behind a single slot: the first request ends, the other three are never sent.
    let mut cfg = config(&server, 4);
    cfg.max_concurrency = Some(1);
    cfg.output = OutputOptions {
        save_result: true,
        save_detailed: true,
        result_dir: Some(dir.path().to_path_buf()),
        result_filename: Some("r.json".into()),
        ..Default::default()
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let report = llmsweep_bench::bench::run_until(&cfg, Arc::new(StopAfterFirst(tx)), rx)
        .await
        .unwrap();
    assert!(report.interrupted);
    let r = &report.result;
    assert_eq!(
        (r["completed"].clone(), r["failed"].clone()),
        (json!(1), json!(3))
    );
    assert_eq!(r["errors"][3], json!(llmsweep_bench::runner::INTERRUPTED));
    assert!(
        dir.path().join("r.json").is_file(),
        "the partial result is written"
    );
    assert!(report.warnings[0].starts_with("interrupted: 4 of 4 requests were sent"));

    // On a schedule (10 req/s, the last one due at 2 s), nothing is sent after the stop.
    let mut cfg = config(&server, 20);
    cfg.max_concurrency = None;
    cfg.rate = RateProfile::Constant(10.0);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let report = llmsweep_bench::bench::run_until(&cfg, Arc::new(StopAfterFirst(tx)), rx)
        .await
        .unwrap();
    assert!(report.interrupted);
    assert!(report.result["latencies"].as_array().unwrap().len() < 20);
    assert_eq!(report.result["num_prompts"], json!(20));
}

/// Every key vLLM 0.33.0 (or its newest source) may write: the fixed ones and the
/// statistics grammar `{mean,median,std,pP}_{metric}_ms`.
fn is_vllm_key(key: &str) -> bool {
    const FIXED: &[&str] = &[
        "date",
        "endpoint_type",
        "backend",
        "label",
        "model_id",
        "tokenizer_id",
        "num_prompts",
        "request_rate",
        "burstiness",
        "max_concurrency",
        "ramp_up_strategy",
        "ramp_up_start_rps",
        "ramp_up_end_rps",
        "duration",
        "completed",
        "failed",
        "total_input_tokens",
        "total_output_tokens",
        "request_throughput",
        "request_goodput",
        "output_throughput",
        "total_token_throughput",
        "input_lens",
        "output_lens",
        "ttfts",
        "itls",
        "latencies",
        "start_times",
        "queue_times",
        "generated_texts",
        "errors",
        "max_output_tokens_per_s",
        "max_concurrent_requests",
        "rtfx",
        "rps_change_events",
        "server_queue_times",
        "server_ttfts",
        "total_input_sequences",
        "input_sequence_throughput",
    ];
    const PREFIXES: &[&str] = &["probe_", "spec_decode_", "diffusion_"];
    const METRICS: &[&str] = &[
        "ttft",
        "tpot",
        "itl",
        "e2el",
        "client_queue_time",
        "e2el_including_client_queue",
    ];
    if FIXED.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p)) {
        return true;
    }
    let Some(stem) = key.strip_suffix("_ms") else {
        return false;
    };
    METRICS.iter().any(|m| {
        stem.strip_suffix(&format!("_{m}")).is_some_and(|stat| {
            matches!(stat, "mean" | "median" | "std")
                || stat
                    .strip_prefix('p')
                    .is_some_and(|p| !p.is_empty() && p.parse::<f64>().is_ok())
        })
    })
}

#[tokio::test]
async fn llmsweeps_own_keys_never_take_a_vllm_name() {
    let server = serve(Behaviour {
        tokens: Some(3),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&server, 4);
    cfg.max_concurrency = Some(2);
    cfg.rate = RateProfile::Constant(200.0);
    cfg.percentile_metrics = [
        "ttft",
        "tpot",
        "itl",
        "e2el",
        "client_queue_time",
        "e2el_including_client_queue",
    ]
    .map(String::from)
    .to_vec();
    cfg.metric_percentiles = vec![50.0, 99.9];
    cfg.output.save_detailed = true;
    let r = bench(&cfg).await.result;
    let keys: Vec<&String> = r.keys().collect();
    // vLLM's keys come first, then ours, none of which matches vLLM's names or grammar.
    let first_own = keys
        .iter()
        .position(|k| !is_vllm_key(k))
        .expect("llmsweep adds its own keys");
    assert!(
        keys[first_own..].iter().all(|k| !is_vllm_key(k)),
        "{keys:?}"
    );
    assert!(r.contains_key("p99.9_e2el_including_client_queue_ms"));
    assert!(r.contains_key("mean_ttft_from_schedule_ms") && r.contains_key("client_bound"));
    assert!(!is_vllm_key("p99.9_ttft_from_schedule_ms"));
}

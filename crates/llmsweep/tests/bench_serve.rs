//! End to end: the real `llmsweep bench serve` binary against an in-test streaming server.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use llmsweep_bench::testserver::{Behaviour, Fault, TestServer};
use serde_json::{Map, Value};

use common::{free_port, stderr, stdout, text};

/// The keys of a real `vllm bench serve` 0.33.0 result, in its order: `name` in
/// crates/bench/tests/fixtures ("vllm-0.33.0-result.json": `--percentile-metrics
/// ttft,tpot,itl,e2el`, `--max-concurrency`, no `--save-detailed`; "...-detailed.json": with
/// `--save-detailed`).
fn vllm_keys(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench/tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(path).expect("the vLLM fixture");
    let file: Map<String, Value> = serde_json::from_str(&text).expect("valid JSON");
    file.keys().cloned().collect()
}

/// The binary with `args`, without the user's OPENAI_API_KEY.
fn bench_cmd(args: &[String]) -> Command {
    let mut cmd = common::llmsweep();
    cmd.env_remove("OPENAI_API_KEY").args(args);
    cmd
}

/// Run the binary with `args` (plus `env`) off the async runtime, so the server keeps serving.
async fn llmsweep<S: AsRef<str>>(
    args: impl IntoIterator<Item = S>,
    env: Vec<(&'static str, String)>,
) -> Output {
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    tokio::task::spawn_blocking(move || bench_cmd(&args).envs(env).output().expect("binary runs"))
        .await
        .expect("join")
}

fn sweep_args(server: &TestServer, dir: &Path, extra: &[&str]) -> Vec<String> {
    let port = server.addr().port().to_string();
    let mut args: Vec<String> = ["bench", "serve", "--host", "127.0.0.1", "--port", &port]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(
        [
            "--percentile-metrics",
            "ttft,tpot,itl,e2el",
            "--save-result",
            "--result-dir",
            &dir.display().to_string(),
            "--result-filename",
            "run=0.json",
            "--disable-tqdm",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args
}

fn read_result(path: &Path) -> (String, Map<String, Value>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Map<String, Value> = serde_json::from_str(&text).expect("valid JSON");
    (text, value)
}

async fn server(behaviour: Behaviour) -> TestServer {
    TestServer::start(behaviour, 0)
        .await
        .expect("server starts")
}

/// A well-behaved server that answers every request with `n` tokens.
fn tokens(n: usize) -> Behaviour {
    Behaviour {
        tokens: Some(n),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_invocation_writes_vllm_keys_in_order() {
    let srv = server(tokens(4)).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "--max-concurrency",
        "2",
        "--num-prompts",
        "6",
        "--random-input-len",
        "24",
        "--random-output-len",
        "4",
        "--request-rate",
        "200",
    ];
    let out = llmsweep(sweep_args(&srv, dir.path(), &extra), vec![]).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = stdout(&out);
    assert!(
        stdout.contains(" Serving Benchmark Result ") && stdout.contains("Mean TTFT (ms):"),
        "{stdout}"
    );
    let (text, r) = read_result(&dir.path().join("run=0.json"));
    let keys: Vec<&str> = r.keys().map(String::as_str).collect();
    let vllm = vllm_keys("vllm-0.33.0-result.json");
    assert_eq!(keys[..vllm.len()], vllm[..]);
    let ours = &keys[vllm.len()..];
    assert!(
        ours.contains(&"mean_e2el_from_schedule_ms")
            && ours.contains(&"p99_send_lag_ms")
            && ours.last() == Some(&"client_bound"),
        "{ours:?}"
    );
    // Python json.dump layout: one line, ", " and ": " separators.
    assert!(
        !text.contains('\n')
            && text.starts_with("{\"date\": \"")
            && text.contains("\"request_rate\": 200.0, \"burstiness\": 1.0, ")
    );
    assert_eq!(r["completed"], 6);
    assert_eq!(r["failed"], 0);
    assert_eq!(r["num_prompts"], 6);
    assert_eq!(r["max_concurrency"], 2);
    assert_eq!(r["total_output_tokens"], 24);
    assert_eq!(r["total_input_tokens"], 144);
    assert_eq!(
        r["model_id"], "org/test-model",
        "discovered from /v1/models"
    );
    assert_eq!(r["latencies"].as_array().unwrap().len(), 6);
    assert!(r["max_concurrent_requests"].as_u64().unwrap() <= 2);
    assert!(r["p99_ttft_ms"].as_f64().unwrap() >= r["median_ttft_ms"].as_f64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_counted_not_fatal() {
    let srv = server(Behaviour {
        fault: Fault::Status(500, "kaput".into()),
        fault_every: Some(2),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = llmsweep(
        sweep_args(
            &srv,
            dir.path(),
            &[
                "--num-prompts",
                "4",
                "--random-input-len",
                "8",
                "--model",
                "m",
                "--save-detailed",
            ],
        ),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("HTTP 500 Internal Server Error: kaput"),
        "{}",
        stderr(&out)
    );
    let (_, r) = read_result(&dir.path().join("run=0.json"));
    assert_eq!(
        (r["completed"].clone(), r["failed"].clone()),
        (Value::from(2), Value::from(2))
    );
    let errors: Vec<&str> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|e| !e.is_empty())
        .collect();
    assert_eq!(errors.len(), 2);
    for key in [
        "input_lens",
        "output_lens",
        "ttfts",
        "itls",
        "start_times",
        "generated_texts",
        "errors",
    ] {
        assert!(r.contains_key(key), "--save-detailed keeps {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_exits_non_zero_with_a_message() {
    let port = free_port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "serve",
        "--port",
        &port,
        "--num-prompts",
        "2",
        "--save-result",
        "--result-dir",
        &dir.path().display().to_string(),
    ];
    let out = llmsweep(args, vec![]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("unreachable") && err.contains(&port),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no result file for a run that never started"
    );
}

async fn rejected(flags: &[&str]) -> String {
    let out = llmsweep([&["bench", "serve", "--port", "1"], flags].concat(), vec![]).await;
    assert!(!out.status.success(), "{flags:?} must fail");
    stderr(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_fail_with_a_message_naming_them() {
    let cases: &[(&[&str], &str)] = &[
        (&["--request-rate", "0"], "--request-rate must be > 0"),
        (&["--request-rate", "-2"], "--request-rate must be > 0"),
        (&["--num-prompts", "0"], "--num-prompts must be at least 1"),
        (
            &["--max-concurrency", "0"],
            "--max-concurrency must be greater than 0",
        ),
        (
            &["--use-beam-search"],
            "--use-beam-search is a `vllm bench serve` flag that llmsweep bench serve does not implement",
        ),
        (
            &["--lora-modules", "a", "b"],
            "--lora-modules is a `vllm bench serve` flag",
        ),
        (&["--backend", "openai-audio"], "--backend openai-audio"),
        (&["--no-such-flag"], "--no-such-flag"),
        (&["--goodput", "ttft:abc"], "--goodput \"ttft:abc\""),
        (&["--metadata", "novalue"], "--metadata \"novalue\""),
        (&["--random-range-ratio", "2"], "--random-range-ratio"),
        (&["--dataset-name", "sharegpt"], "--dataset-path"),
        (
            &["--ramp-up-strategy", "linear", "--ramp-up-start-rps", "5"],
            "--ramp-up-end-rps",
        ),
    ];
    for (flags, expected) in cases {
        let err = rejected(flags).await;
        assert!(err.contains(expected), "{flags:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_dataset_file_is_reported_before_contacting_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl").display().to_string();
    let args = [
        "bench",
        "serve",
        "--port",
        "1",
        "--model",
        "m",
        "--dataset-name",
        "custom",
        "--dataset-path",
        &missing,
        "--skip-chat-template",
    ];
    let out = llmsweep(args, vec![]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&missing) && !err.contains("unreachable"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_sent_but_never_written() {
    let srv = server(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let args = sweep_args(
        &srv,
        dir.path(),
        &[
            "--num-prompts",
            "2",
            "--random-input-len",
            "8",
            "--save-detailed",
            "--metadata",
            "note=x",
        ],
    );
    let out = llmsweep(args, vec![("OPENAI_API_KEY", "sk-env-secret-123".into())]).await;
    assert!(out.status.success(), "{}", text(&out));
    let (written, _) = read_result(&dir.path().join("run=0.json"));
    assert!(!written.contains("sk-env-secret-123"));
    assert!(!stdout(&out).contains("sk-env-secret-123"));
    let posts: Vec<_> = srv.completions().into_iter().collect();
    assert!(
        posts
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer sk-env-secret-123"))
    );

    let args = sweep_args(
        &srv,
        dir.path(),
        &[
            "--num-prompts",
            "1",
            "--random-input-len",
            "8",
            "--api-key",
            "sk-flag-456",
        ],
    );
    let out = llmsweep(args, vec![]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !std::fs::read_to_string(dir.path().join("run=0.json"))
            .unwrap()
            .contains("sk-flag-456")
    );
    assert_eq!(
        srv.completions().last().unwrap().header("authorization"),
        Some("Bearer sk-flag-456")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_flags_last_wins_and_underscores_are_accepted() {
    let srv = server(tokens(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let args = sweep_args(
        &srv,
        dir.path(),
        &[
            "--num-prompts",
            "9",
            "--num_prompts",
            "3",
            "--random_input_len",
            "12",
            "--max-concurrency",
            "1",
            "--max-concurrency",
            "2",
        ],
    );
    let out = llmsweep(args, vec![]).await;
    assert!(out.status.success(), "{}", text(&out));
    let (_, r) = read_result(&dir.path().join("run=0.json"));
    assert_eq!(r["num_prompts"], 3);
    assert_eq!(r["completed"], 3);
    assert_eq!(r["max_concurrency"], 2);
    assert_eq!(
        srv.completions()
            .iter()
            .map(|r| r.json()["prompt"].as_array().unwrap().len())
            .max(),
        Some(12)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_file_name_and_append() {
    let srv = server(tokens(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let port = srv.addr().port().to_string();
    let dir_s = dir.path().display().to_string();
    let base = [
        "bench",
        "serve",
        "--port",
        port.as_str(),
        "--num-prompts",
        "2",
        "--random-input-len",
        "8",
        "--max-concurrency",
        "2",
        "--result-dir",
        dir_s.as_str(),
        "--disable-tqdm",
    ];
    let out = llmsweep([&base[..], &["--save-result"]].concat(), vec![]).await;
    assert!(out.status.success(), "{}", text(&out));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1);
    let name = &names[0];
    assert!(
        name.starts_with("openai-infqps-concurrency2-test-model-")
            && name.ends_with(".json")
            && name.len() == "openai-infqps-concurrency2-test-model-".len() + 20,
        "{name}"
    );

    let args = [
        &base[..],
        &["--append-result", "--result-filename", "all.jsonl"],
    ]
    .concat();
    for _ in 0..2 {
        let out = llmsweep(&args, vec![]).await;
        assert!(out.status.success(), "{}", text(&out));
    }
    let text = std::fs::read_to_string(dir.path().join("all.jsonl")).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 2, "JSON Lines, no trailing newline: {text:?}");
    for line in lines {
        assert_eq!(serde_json::from_str::<Value>(line).unwrap()["completed"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detailed_goodput_and_skip_tokenizer_init() {
    let srv = server(tokens(3)).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "--max-concurrency",
        "4",
        "--num-prompts",
        "4",
        "--random-input-len",
        "8",
        "--save-detailed",
        "--goodput",
        "ttft:60000",
        "e2el:60000",
    ];
    let out = llmsweep(sweep_args(&srv, dir.path(), &extra), vec![]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("Request goodput (req/s):"));
    let (_, r) = read_result(&dir.path().join("run=0.json"));
    let keys: Vec<String> = r.keys().cloned().collect();
    let vllm = vllm_keys("vllm-0.33.0-result-detailed.json");
    assert_eq!(
        keys[..vllm.len()],
        vllm[..],
        "--save-detailed keys and order"
    );
    assert_eq!(
        r["request_goodput"], r["request_throughput"],
        "every request meets a 60 s SLO"
    );

    let extra = [
        "--num-prompts",
        "2",
        "--random-input-len",
        "8",
        "--skip-tokenizer-init",
    ];
    let out = llmsweep(sweep_args(&srv, dir.path(), &extra), vec![]).await;
    assert!(out.status.success(), "{}", text(&out));
    let (_, r) = read_result(&dir.path().join("run=0.json"));
    assert_eq!(r["tokenizer_id"], Value::Null);
    assert!(
        !r.contains_key("mean_ttft_ms") && r.contains_key("mean_e2el_ms"),
        "vLLM drops TTFT/TPOT/ITL without a tokenizer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_writes_what_was_measured_and_exits_130() {
    let srv = server(tokens(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let args = sweep_args(
        &srv,
        dir.path(),
        &[
            "--num-prompts",
            "200",
            "--request-rate",
            "20",
            "--random-input-len",
            "8",
        ],
    );
    let mut child = bench_cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // The run takes 10 s on its schedule; interrupt it once a few requests went through.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while srv.completions().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait().expect("child exits");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    })
    .await
    .unwrap();
    assert_eq!(out.0.code(), Some(130), "{}", out.1);
    assert!(out.1.contains("interrupted: "), "{}", out.1);
    let (_, r) = read_result(&dir.path().join("run=0.json"));
    let sent = r["latencies"].as_array().unwrap().len();
    assert!(
        (3..200).contains(&sent),
        "{sent} requests in the partial result"
    );
    assert_eq!(r["num_prompts"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_forms_turn_switches_off_the_last_one_winning() {
    // A sweep writes `--no-save-detailed` for {"save_detailed": false}.
    let srv = server(tokens(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let base = ["--num-prompts", "2", "--random-input-len", "8"];
    let run = |last: &'static str| {
        let mut extra = base.to_vec();
        extra.extend(["--save-detailed", "--no-save-detailed", last]);
        extra
    };
    let out = llmsweep(
        sweep_args(&srv, dir.path(), &run("--save-detailed")),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let (_, r) = read_result(&dir.path().join("run=0.json"));
    assert!(
        r.contains_key("ttfts"),
        "--save-detailed last: detailed arrays kept"
    );
    let out = llmsweep(
        sweep_args(&srv, dir.path(), &run("--no-save-detailed")),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let (_, r) = read_result(&dir.path().join("run=0.json"));
    assert!(
        !r.contains_key("ttfts"),
        "--no-save-detailed last: no detailed arrays"
    );
    assert!(
        r.contains_key("latencies"),
        "latencies are kept without --save-detailed"
    );
}

//! End to end: the real `llmsweep bench serve` against the real `llmsweep sim` on an
//! ephemeral port, for what needs the simulator's `/tokenize`, `/detokenize` and API key.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use common::{stderr, stdout, text};

/// A running `llmsweep sim --profile tiny`, killed when dropped.
struct Sim {
    child: Child,
    port: u16,
}

impl Sim {
    fn start(extra: &[&str]) -> Sim {
        let mut child = common::llmsweep()
            .args([
                "sim",
                "--profile",
                "tiny",
                "--port",
                "0",
                "--startup-seconds",
                "0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn llmsweep sim");
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut seen = Vec::new();
        let port = loop {
            let line = match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("the sim never said where it listens: {seen:?}");
                }
            };
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break addr.rsplit(':').next().unwrap().parse().unwrap();
            }
            seen.push(line);
        };
        let sim = Sim { child, port };
        common::wait_for("the sim to be ready", || health_is_ok(sim.port));
        sim
    }
}

/// `GET /health` answers 200 (the sim answers 503 until its start-up is over).
fn health_is_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SmolLM2 tokenizer folder of the shared data, or `None` on a machine without it.
fn smollm2() -> Option<PathBuf> {
    [
        PathBuf::from("/work/shared/data/tokenizers/smollm2"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/tokenizers/smollm2"),
    ]
    .into_iter()
    .find(|p| p.join("tokenizer.json").is_file())
}

fn bench(sim: &Sim, args: &[&str]) -> Output {
    let mut cmd: Command = common::llmsweep();
    cmd.env_remove("OPENAI_API_KEY")
        .args(["bench", "serve", "--port", &sim.port.to_string()])
        .args(args);
    common::run(cmd)
}

#[test]
fn random_prompts_are_realigned_to_the_servers_tokenizer() {
    let Some(tokenizer) = smollm2() else {
        return eprintln!("skipped: smollm2 tokenizer not found");
    };
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("r.json");
    let o = bench(
        &sim,
        &[
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "--num-prompts",
            "20",
            "--input-len",
            "64",
            "--output-len",
            "4",
            "--save-result",
            "--result-filename",
            result.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("WARNING: tokenizer mismatch (server=")
            && stdout(&o).contains(", expected=64), re-aligning prompts."),
        "{}",
        text(&o)
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    let total = r["total_input_tokens"].as_u64().unwrap();
    // 20 × 64 server tokens, plus the BOS the server counts in its usage, minus the odd
    // token lost when a cut prompt is detokenized and tokenized again (vLLM 0.33.0: 1295).
    // Without re-alignment the sim counts about 111 tokens a prompt.
    assert!((20 * 60..=20 * 65).contains(&total), "{total}");
}

#[test]
fn token_id_prompts_are_not_realigned() {
    let sim = Sim::start(&[]);
    let o = bench(
        &sim,
        &[
            "--num-prompts",
            "3",
            "--input-len",
            "16",
            "--output-len",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!stdout(&o).contains("re-aligning"), "{}", text(&o));
}

#[test]
fn refused_api_key_is_named_as_such() {
    let sim = Sim::start(&["--api-key", "secret"]);
    let args = [
        "--num-prompts",
        "1",
        "--input-len",
        "4",
        "--output-len",
        "1",
    ];
    let mut wrong = args.to_vec();
    wrong.extend(["--api-key", "wrong"]);
    let o = bench(&sim, &wrong);
    assert!(!o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("refused the API key")
            && err.contains("HTTP 401")
            && err.contains("--api-key or the OPENAI_API_KEY")
            && !err.contains("unreachable"),
        "{err}"
    );
    let o = bench(&sim, &args);
    assert!(
        stderr(&o).contains("requires an API key and none was sent"),
        "{}",
        text(&o)
    );
    let mut right = args.to_vec();
    right.extend(["--api-key", "secret"]);
    let o = bench(&sim, &right);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn infinite_burstiness_is_written_as_python_writes_it() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("r.json");
    let o = bench(
        &sim,
        &[
            "--num-prompts",
            "3",
            "--input-len",
            "8",
            "--output-len",
            "2",
            "--request-rate",
            "50",
            "--burstiness",
            "inf",
            "--save-result",
            "--result-filename",
            result.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("Burstiness factor: inf (Gamma distribution)"));
    let written = std::fs::read_to_string(&result).unwrap();
    assert!(
        written.contains(r#""request_rate": 50.0, "burstiness": Infinity, "#),
        "{written}"
    );
    // llmsweep's own readers take Python's bare Infinity (as the string "inf").
    let back = llmsweep_core::record::parse_json_lenient(&written).unwrap();
    assert_eq!(back["burstiness"], Value::from("inf"));
    assert_eq!(back["completed"], Value::from(3));
}

#[test]
fn custom_dataset_is_oversampled_to_num_prompts_unless_no_oversample() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let data = common::write(
        dir.path(),
        "rows.jsonl",
        "{\"prompt\": \"hello there\"}\n{\"prompt\": \"how are you\"}\n",
    );
    let args = [
        "--dataset-name",
        "custom",
        "--dataset-path",
        data.to_str().unwrap(),
        "--skip-chat-template",
        "--custom-output-len",
        "2",
        "--num-prompts",
        "7",
    ];
    let o = bench(&sim, &args);
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Oversampled requests to reach 7 total samples.")
            && out.contains("Successful requests:                     7 "),
        "{out}"
    );
    let mut off = args.to_vec();
    off.push("--no-oversample");
    let o = bench(&sim, &off);
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Skipping oversampling. Total samples: 2.")
            && out.contains("Successful requests:                     2 "),
        "{out}"
    );
}

#[test]
fn missing_dataset_file_names_the_os_error_once() {
    let sim = Sim::start(&[]);
    let o = bench(
        &sim,
        &[
            "--dataset-name",
            "custom",
            "--dataset-path",
            "/nonexistent/nope.jsonl",
            "--skip-chat-template",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cannot read dataset file /nonexistent/nope.jsonl: "),
        "{err}"
    );
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

//! End-to-end tests of `llmsweep sim`: the real binary on an ephemeral port, spoken to over
//! HTTP/1.1. No test asserts a wall-clock duration; waits have generous deadlines only so a
//! broken server fails instead of hanging.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("llmsweep")
}

/// A running `llmsweep sim` with its log lines.
struct Sim {
    child: Child,
    addr: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Sim {
    /// Start with `args` (after `sim --port 0`) and `env`, wait for the listening line.
    fn start_with_env(args: &[&str], env: &[(&str, &Path)]) -> Sim {
        let mut cmd = Command::new(bin());
        cmd.args(["sim", "--port", "0"]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn llmsweep sim");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let mut sim = Sim {
            child,
            addr: String::new(),
            stdout,
            stderr,
        };
        sim.addr = sim
            .wait_for_line(|l| l.contains("listening on http://"))
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_string();
        sim
    }

    /// Start a server that is ready at once.
    fn start(args: &[&str]) -> Sim {
        let mut all = vec!["--startup-seconds", "0"];
        all.extend_from_slice(args);
        let sim = Sim::start_with_env(&all, &[]);
        sim.wait_ready();
        sim
    }

    fn wait_for_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.stdout.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sim exited ({status}): {:?}", self.stderr.lock().unwrap());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "log line never came: {:?}",
                self.stdout.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while self.get("/health").status != 200 {
            assert!(start.elapsed() < DEADLINE, "never ready");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        Reply::parse(&raw)
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], b"")
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    /// Start a 3,000-token stream and read its first bytes; the connection stays open.
    fn open_long_stream(&self) -> TcpStream {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        let body = json!({"prompt": "go on", "max_tokens": 3000, "stream": true}).to_string();
        write!(
            stream,
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut first = [0u8; 64];
        stream.read_exact(&mut first).unwrap();
        stream
    }

    fn metrics(&self) -> String {
        String::from_utf8(self.get("/metrics").body).unwrap()
    }

    fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM")
    }

    /// Send a signal (`-TERM`, `-INT`) and wait for the exit.
    fn signal(&mut self, sig: &str) -> ExitStatus {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "no exit after SIGTERM");
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header end");
        let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let status = headers[9..12].parse().unwrap();
        let mut body = raw[split + 4..].to_vec();
        if headers.contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// SSE events: parsed JSON, with `[DONE]` as the string "[DONE]".
    fn events(&self) -> Vec<Value> {
        let text = String::from_utf8(self.body.clone()).unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let data = e
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not SSE: {e}"));
                if data == "[DONE]" {
                    json!("[DONE]")
                } else {
                    serde_json::from_str(data).unwrap()
                }
            })
            .collect()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn text_of(events: &[Value], chat: bool) -> String {
    events
        .iter()
        .filter_map(|e| {
            let c = e.get("choices")?.get(0)?;
            if chat {
                c["delta"]["content"].as_str()
            } else {
                c["text"].as_str()
            }
            .map(str::to_string)
        })
        .collect()
}

#[test]
fn completions_stream_and_plain_agree() {
    let sim = Sim::start(&["--profile", "tiny"]);
    let body = json!({"model": "llmsweep/tiny-sim", "prompt": "The quick brown fox", "max_tokens": 12,
        "stream": true, "stream_options": {"include_usage": true}});
    let reply = sim.post("/v1/completions", &body);
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains("content-type: text/event-stream"));
    let events = reply.events();
    let choices: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e.get("choices")
                .is_some_and(|c| !c.as_array().unwrap().is_empty())
        })
        .collect();
    assert!(
        choices
            .iter()
            .all(|e| e["object"] == "text_completion" && e["model"] == "llmsweep/tiny-sim")
    );
    let last = choices.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert!(
        choices[..choices.len() - 1]
            .iter()
            .all(|e| e["choices"][0]["finish_reason"].is_null())
    );
    let usage = &events[events.len() - 2];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 12);
    assert_eq!(
        usage["usage"]["prompt_tokens"], 7,
        "BOS + The, quic, k, brow, n, fox"
    );
    assert_eq!(events.last().unwrap(), "[DONE]");

    let plain = sim.post(
        "/v1/completions",
        &json!({"prompt": "The quick brown fox", "max_tokens": 12}),
    );
    assert_eq!(plain.status, 200);
    let v = plain.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(
        v["choices"][0]["text"].as_str().unwrap(),
        text_of(&events, false)
    );
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["total_tokens"], 19);
}

#[test]
fn chat_stream_and_plain_agree() {
    let sim = Sim::start(&[
        "--profile",
        "tiny",
        "--served-model-name",
        "chatty",
        "other",
    ]);
    let messages = json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "hello"}]}]);
    let reply = sim.post(
        "/v1/chat/completions",
        &json!({"model": "other", "messages": messages,
        "max_completion_tokens": 5, "stream": true, "stream_options": {"include_usage": true}}),
    );
    assert_eq!(reply.status, 200);
    let events = reply.events();
    assert_eq!(events[0]["object"], "chat.completion.chunk");
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        events[events.len() - 3]["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(events[events.len() - 2]["usage"]["completion_tokens"], 5);

    let plain = sim.post(
        "/v1/chat/completions",
        &json!({"messages": messages, "max_tokens": 5}),
    );
    let v = plain.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "chatty");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["message"]["content"].as_str().unwrap(),
        text_of(&events, true)
    );

    let models = sim.get("/v1/models").json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chatty", "other"]);
    assert_eq!(models["data"][0]["root"], "llmsweep/tiny-sim");
    assert_eq!(models["data"][0]["owned_by"], "llmsweep-sim");
    assert_eq!(models["data"][0]["max_model_len"], 4096);
    let permission = &models["data"][0]["permission"][0];
    assert_eq!(permission["object"], "model_permission");
    assert!(permission["id"].as_str().unwrap().starts_with("modelperm-"));
}

#[test]
fn default_model_token_ids_and_prefix_cache_reset() {
    let sim = Sim::start(&[
        "--profile",
        "tiny",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
    ]);
    let models = sim.get("/v1/models").json();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(models["data"][0]["object"], "model");

    let prompt: Vec<u32> = (0..200).map(|i| (i * 7919) % 30_000).collect();
    let body = json!({"prompt": prompt, "max_tokens": 2, "ignore_eos": true});
    let cached = |reply: Reply| -> u64 {
        let v = reply.json();
        assert_eq!(v["usage"]["prompt_tokens"], 200);
        v["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(cached(sim.post("/v1/completions", &body)), 0);
    assert_eq!(
        cached(sim.post("/v1/completions", &body)),
        192,
        "12 full blocks of 16"
    );
    for path in [
        "/reset_prefix_cache?reset_external=true",
        "/reset_mm_cache",
        "/reset_encoder_cache",
    ] {
        assert_eq!(sim.request("POST", path, &[], b"").status, 200, "{path}");
    }

    assert_eq!(
        cached(sim.post("/v1/completions", &body)),
        0,
        "the reset emptied the cache"
    );

    let m = sim.metrics();
    for name in [
        "vllm:num_requests_running{",
        "vllm:num_requests_waiting{",
        "vllm:kv_cache_usage_perc{",
        "vllm:prompt_tokens_total{",
        "vllm:generation_tokens_total{",
        "vllm:num_preemptions_total{",
        "vllm:prefix_cache_queries_total{",
        "vllm:prefix_cache_hits_total{",
        "vllm:time_to_first_token_seconds_bucket{",
        "vllm:inter_token_latency_seconds_bucket{",
        "vllm:e2e_request_latency_seconds_bucket{",
        "vllm:request_time_per_output_token_seconds_bucket{",
        "vllm:request_queue_time_seconds_bucket{",
        "vllm:request_prefill_time_seconds_bucket{",
        "vllm:request_decode_time_seconds_bucket{",
        "vllm:request_inference_time_seconds_bucket{",
        "vllm:request_prompt_tokens_bucket{",
        "vllm:request_generation_tokens_bucket{",
        "vllm:request_success_total{",
        "vllm:cache_config_info{",
        "llmsweep_sim:emit_lag_seconds_bucket{",
    ] {
        assert!(m.contains(name), "missing {name}");
    }
    let value = |name: &str| -> f64 {
        m.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("vllm:prompt_tokens_total"), 600.0);
    assert_eq!(value("vllm:generation_tokens_total"), 6.0);
    assert_eq!(value("vllm:prefix_cache_hits_total"), 192.0);
    assert_eq!(value("llmsweep_sim:prefix_cache_resets_total"), 1.0);
    assert_eq!(value("llmsweep_sim:mm_cache_resets_total"), 1.0);
    assert_eq!(value("llmsweep_sim:encoder_cache_resets_total"), 1.0);
    assert_eq!(value("vllm:e2e_request_latency_seconds_count"), 3.0);
    for family in [
        "vllm:request_time_per_output_token_seconds",
        "vllm:request_prompt_tokens",
        "vllm:request_generation_tokens",
    ] {
        assert_eq!(value(&format!("{family}_count")), 3.0, "{family}");
    }
    assert_eq!(value("vllm:request_prompt_tokens_sum"), 600.0);
    assert_eq!(value("vllm:request_generation_tokens_sum"), 6.0);
    // Every family is declared once, with # HELP and # TYPE.
    let types: Vec<&str> = m.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "a family is declared twice");
}

#[test]
fn reset_prefix_cache_answers_like_vllm() {
    let sim = Sim::start(&["--profile", "tiny"]);
    let reset = |query: &str| sim.request("POST", &format!("/reset_prefix_cache{query}"), &[], b"");
    assert_eq!(reset("").json(), json!({"success": true}));
    // With a request holding KV blocks, vLLM's KV-cache manager refuses.
    let mut long = sim.open_long_stream();
    // Once its first token is out, the request holds blocks.
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("data: ") {
        let mut buf = [0u8; 256];
        let n = long.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(reset("").json(), json!({"success": false}));
    let refused = reset("?reset_running_requests=true");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["param"], "reset_running_requests");
    drop(long);
    let start = Instant::now();
    while reset("?reset_external=true").json() != json!({"success": true}) {
        assert!(
            start.elapsed() < DEADLINE,
            "the aborted request never let go"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let m = sim.metrics();
    assert!(
        m.contains("llmsweep_sim:prefix_cache_resets_total{engine=\"0\",model_name=\"llmsweep/tiny-sim\"} 2.0"),
        "only the resets that happened count"
    );
}

#[test]
fn errors_look_like_vllm() {
    let sim = Sim::start(&[
        "--profile",
        "tiny",
        "--api-key",
        "sekret",
        "--max-request-body-bytes",
        "2000",
    ]);
    let auth = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer sekret"),
    ];
    let send = |body: &str| sim.request("POST", "/v1/completions", &auth, body.as_bytes());
    let check = |reply: Reply, status: u16, kind: &str, words: &str| {
        assert_eq!(
            reply.status,
            status,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let v = reply.json();
        assert_eq!(v["error"]["code"], status);
        assert_eq!(v["error"]["type"], kind);
        assert!(
            v["error"]["message"].as_str().unwrap().contains(words),
            "{v}"
        );
    };
    // Malformed JSON: FastAPI's validation error, typed with the reason phrase.
    check(
        send("{\"prompt\": "),
        400,
        "Bad Request",
        "'type': 'json_invalid'",
    );
    check(
        send(r#"{"prompt": "hi", "max_tokens": 5000}"#),
        400,
        "BadRequestError",
        "max_tokens=5000 cannot be greater than max_model_len=4096",
    );
    check(
        send(r#"{"prompt": "hi", "max_tokens": 2, "stream_options": {"include_usage": true}}"#),
        400,
        "Bad Request",
        "Stream options can only be defined when `stream=True`.",
    );
    let untyped = sim.request(
        "POST",
        "/v1/completions",
        &[("Authorization", "Bearer sekret")],
        br#"{"prompt": "hi", "max_tokens": 1}"#,
    );
    check(untyped, 400, "Bad Request", "Unsupported Media Type");
    check(
        send(r#"{"prompt": "hi", "n": 2}"#),
        400,
        "BadRequestError",
        "n=2",
    );
    let unknown = send(r#"{"model": "gpt-9", "prompt": "hi"}"#);
    assert_eq!(unknown.json()["error"]["param"], "model");
    check(
        unknown,
        404,
        "NotFoundError",
        "The model `gpt-9` does not exist. Valid aliases: llmsweep/tiny-sim.",
    );
    check(
        send(&format!(r#"{{"prompt": "{}"}}"#, "x ".repeat(2000))),
        413,
        "RequestEntityTooLarge",
        "2000 bytes",
    );
    // A missing or wrong key: vLLM's middleware answers 401 {"error": "Unauthorized"}.
    let no_key = sim.post("/v1/completions", &json!({"prompt": "hi", "max_tokens": 1}));
    assert_eq!(no_key.status, 401);
    assert_eq!(no_key.json(), json!({"error": "Unauthorized"}));
    let wrong = sim.request(
        "GET",
        "/v1/models",
        &[("Authorization", "Bearer nope")],
        b"",
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(send(r#"{"prompt": "hi", "max_tokens": 1}"#).status, 200);
    assert_eq!(sim.get("/health").status, 200, "health needs no key");
    assert_eq!(sim.get("/metrics").status, 200, "metrics need no key");
    assert_eq!(sim.get("/nope").status, 404);
    let wrong_method = sim.request("GET", "/metrics", &[], b"");
    assert_eq!(wrong_method.status, 200);
    let wrong_method = sim.request("POST", "/health", &[], b"");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json(), json!({"detail": "Method Not Allowed"}));
    // Everything under /v1 is guarded, routes or not.
    assert_eq!(sim.get("/v1/nope").status, 401);
    let found = sim.request(
        "GET",
        "/v1/nope",
        &[("Authorization", "Bearer sekret")],
        b"",
    );
    assert_eq!(found.status, 404);
}

#[test]
fn any_of_several_api_keys_is_accepted_and_vllm_api_key_is_the_fallback() {
    let ok = |sim: &Sim, key: &str| {
        let auth = format!("Bearer {key}");
        sim.request("GET", "/v1/models", &[("Authorization", &auth)], b"")
            .status
    };
    // Several keys after one flag; the scheme is case-insensitive, as in vLLM.
    let sim = Sim::start(&["--profile", "tiny", "--api-key", "k1", "k2"]);
    assert_eq!(ok(&sim, "k1"), 200);
    assert_eq!(ok(&sim, "k2"), 200);
    assert_eq!(ok(&sim, "k3"), 401);
    let lower = sim.request("GET", "/v1/models", &[("Authorization", "bearer k2")], b"");
    assert_eq!(lower.status, 200);
    drop(sim);
    // A repeated flag replaces the keys (argparse `store`), and --api-key wins over
    // VLLM_API_KEY.
    let env = [("VLLM_API_KEY", Path::new("from-env"))];
    let mut sim = Sim::start_with_env(
        &[
            "--startup-seconds",
            "0",
            "--profile",
            "tiny",
            "--api-key",
            "k1",
            "k2",
            "--api-key",
            "k3",
        ],
        &env,
    );
    sim.wait_ready();
    assert_eq!(ok(&sim, "k3"), 200);
    assert_eq!(ok(&sim, "k1"), 401);
    assert_eq!(ok(&sim, "from-env"), 401);
    assert!(sim.terminate().success());
    // No --api-key: VLLM_API_KEY alone.
    let sim = Sim::start_with_env(&["--startup-seconds", "0", "--profile", "tiny"], &env);
    sim.wait_ready();
    assert_eq!(ok(&sim, "from-env"), 200);
    assert_eq!(sim.get("/v1/models").status, 401);
    let completion = sim.request(
        "POST",
        "/v1/completions",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer from-env"),
        ],
        br#"{"prompt": "hi", "max_tokens": 2}"#,
    );
    assert_eq!(completion.status, 200);
    drop(sim);
    // `--api-key ""` turns authentication off, even with VLLM_API_KEY set.
    let sim = Sim::start_with_env(
        &[
            "--startup-seconds",
            "0",
            "--profile",
            "tiny",
            "--api-key",
            "",
        ],
        &env,
    );
    sim.wait_ready();
    assert_eq!(sim.get("/v1/models").status, 200);
}

#[test]
fn lengths_and_defaults_follow_vllm() {
    let sim = Sim::start(&["--profile", "tiny", "--max-model-len", "64"]);
    let completion = |body: Value| {
        let reply = sim.post("/v1/completions", &body);
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    };
    // /v1/completions without max_tokens stops at 16 tokens, as vLLM's default.
    let v = completion(json!({"prompt": [1, 2, 3], "ignore_eos": true}));
    assert_eq!(v["usage"]["completion_tokens"], 16);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    // Prompt + max_tokens over max_model_len: max_tokens is cut to what is left.
    let prompt: Vec<u32> = (1..=60).collect();
    let v = completion(json!({"prompt": prompt, "max_tokens": 10, "ignore_eos": true}));
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    // Streaming, with usage, agrees.
    let reply = sim.post(
        "/v1/completions",
        &json!({"prompt": prompt, "max_tokens": 10, "ignore_eos": true, "stream": true,
            "stream_options": {"include_usage": true}}),
    );
    let events = reply.events();
    assert_eq!(events[events.len() - 2]["usage"]["completion_tokens"], 4);
    // continuous_usage_stats: every chunk carries the running usage.
    let reply = sim.post(
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
            "ignore_eos": true, "stream": true,
            "stream_options": {"include_usage": true, "continuous_usage_stats": true}}),
    );
    let events = reply.events();
    let running: Vec<u64> = events
        .iter()
        .filter(|e| {
            e.get("choices")
                .is_some_and(|c| !c.as_array().unwrap().is_empty())
        })
        .map(|e| e["usage"]["completion_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(running.first(), Some(&0), "the role chunk: {running:?}");
    assert_eq!(running.last(), Some(&5));
    assert!(running.windows(2).all(|w| w[0] < w[1]), "{running:?}");
    // min_tokens is honoured even when the model would stop sooner.
    let v = completion(json!({"prompt": [7, 8, 9], "max_tokens": 40, "min_tokens": 40}));
    assert_eq!(v["usage"]["completion_tokens"], 40);
    // Chat without a limit runs to the context's end at most.
    let chat = sim.post(
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "hi"}], "ignore_eos": true}),
    );
    let v = chat.json();
    assert_eq!(
        v["usage"]["prompt_tokens"].as_u64().unwrap()
            + v["usage"]["completion_tokens"].as_u64().unwrap(),
        64
    );
    // What vLLM refuses.
    let refused = |body: Value, words: &str| {
        let reply = sim.post("/v1/completions", &body);
        assert_eq!(reply.status, 400);
        let v = reply.json();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(words),
            "{v}"
        );
    };
    let long: Vec<u32> = (1..=65).collect();
    refused(
        json!({"prompt": long, "max_tokens": 1}),
        "your prompt contains 65 input tokens",
    );
    let full: Vec<u32> = (1..=64).collect();
    refused(
        json!({"prompt": full, "max_tokens": 1}),
        "max_tokens must be at least 1, got 0.",
    );
    refused(
        json!({"prompt": "hi", "max_tokens": 65}),
        "max_tokens=65 cannot be greater than max_model_len=64",
    );
    refused(
        json!({"prompt": prompt, "max_tokens": 10, "min_tokens": 5}),
        "min_tokens must be less than or equal to max_tokens=4, got 5.",
    );
    refused(json!({"prompt": "hi", "n": 3}), "n=3");
}

#[test]
fn health_is_503_until_ready_and_signals_exit_zero() {
    // A long start-up: answers 503, and SIGINT during start-up still exits 0.
    let mut starting = Sim::start_with_env(&["--profile", "tiny", "--startup-seconds", "600"], &[]);
    assert_eq!(starting.get("/health").status, 503);
    assert_eq!(
        starting
            .post("/v1/completions", &json!({"prompt": "x"}))
            .status,
        503
    );
    assert!(starting.signal("-INT").success());

    // A short one: becomes ready, then a SIGTERM mid-stream ends the stream and exits 0.
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::start_with_env(
        &["--profile", "tiny", "--startup-seconds", "0.3"],
        &[("VLLM_CACHE_ROOT", dir.path())],
    );
    sim.wait_ready();
    let mut stream = sim.open_long_stream();
    assert!(sim.terminate().success());
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest); // ends instead of hanging
    assert!(sim.log().contains("Shutdown complete."));
}

fn compile_seconds(log: &str) -> f64 {
    let line = log
        .lines()
        .find(|l| l.contains("torch.compile takes"))
        .expect("compile line");
    line.split("torch.compile takes ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn cold_then_warm_start_via_vllm_cache_root() {
    let root = tempfile::tempdir().unwrap();
    let env = [("VLLM_CACHE_ROOT", root.path())];
    let run = |extra: &[&str]| {
        let mut args = vec!["--startup-scale", "0.002"];
        args.extend_from_slice(extra);
        let mut sim = Sim::start_with_env(&args, &env);
        sim.wait_for_line(|l| l.contains("Application startup complete."));
        assert_eq!(sim.get("/health").status, 200);
        assert!(sim.terminate().success());
        sim.log()
    };
    let cold = run(&[]);
    assert!(cold.contains("cold start"), "{cold}");
    assert!(cold.contains("Compiling a graph for dynamic shape takes"));
    assert!(cold.contains("GPU KV cache size: 438,"));
    assert!(
        root.path()
            .join("torch_compile_cache")
            .read_dir()
            .unwrap()
            .count()
            == 1
    );
    let warm = run(&[]);
    assert!(warm.contains("warm start"), "{warm}");
    assert!(warm.contains("Directly load the compiled graph(s) for dynamic shape from the cache"));
    assert!(compile_seconds(&warm) < 0.5 * compile_seconds(&cold));
    // Another configuration, or another cache root, starts cold.
    assert!(run(&["-tp", "2"]).contains("cold start"));
    let other = tempfile::tempdir().unwrap();
    assert!(run(&["--cache-root", other.path().to_str().unwrap()]).contains("cold start"));
    // Eager mode compiles nothing.
    assert!(!run(&["--enforce-eager"]).contains("torch.compile takes"));
}

#[test]
fn client_disconnect_aborts_the_request() {
    let sim = Sim::start(&["--profile", "tiny"]);
    drop(sim.open_long_stream());
    let start = Instant::now();
    while !sim.metrics().contains("finished_reason=\"abort\"} 1.0") {
        assert!(start.elapsed() < DEADLINE, "the request was never aborted");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        sim.metrics().contains(
            "vllm:num_requests_running{engine=\"0\",model_name=\"llmsweep/tiny-sim\"} 0.0"
        )
    );
}

fn run_to_end(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).arg("sim").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_flags_warn_once_and_strict_refuses() {
    let mut sim = Sim::start(&[
        "--tokenizer-revision",
        "main",
        "--compilation-config",
        r#"{"level": 3}"#,
        "--compilation-config.level=3",
        "--tokenizer_revision",
        "dev",
        "--trust-remote-code",
        "Qwen/Qwen3-0.6B",
        "--profile",
        "fixed",
        "--max-num-batched-tokens",
        "4k",
    ]);
    // The switch before the model leaves the model positional.
    let models = sim.get("/v1/models").json();
    assert_eq!(models["data"][0]["root"], "Qwen/Qwen3-0.6B");
    let reply = sim.post("/v1/completions", &json!({"prompt": "x", "max_tokens": 2}));
    assert_eq!(reply.status, 200);
    assert!(sim.terminate().success());
    let stderr = sim.stderr.lock().unwrap().join("\n");
    for flag in [
        "--tokenizer-revision",
        "--compilation-config",
        "--trust-remote-code",
    ] {
        let needle = format!("ignoring vLLM flag {flag}:");
        assert_eq!(stderr.matches(&needle).count(), 1, "{flag} in {stderr}");
    }

    let (ok, _, err) = run_to_end(&["--strict", "--tokenizer-revision", "4", "--port", "0"]);
    assert!(!ok);
    assert!(
        err.contains("--strict") && err.contains("--tokenizer-revision"),
        "{err}"
    );

    // Neither a simulator flag nor a `vllm serve` flag: a usage error, no panic.
    let out = Command::new(bin())
        .args(["sim", "--max-num-seqz", "8", "--port", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'--max-num-seqz'") && err.contains("'--max-num-seqs'"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn refused_settings_fail_at_start_and_profiles_list() {
    let (ok, _, err) = run_to_end(&["--gpu-memory-utilization", "0.1", "--port", "0"]);
    assert!(!ok);
    assert!(
        err.contains("No available memory for the cache blocks"),
        "{err}"
    );
    let (ok, _, err) = run_to_end(&[
        "meta-llama/Llama-3.1-70B-Instruct",
        "-tp",
        "2",
        "--port",
        "0",
    ]);
    assert!(!ok);
    assert!(
        err.contains("max seq len (131072) is larger than the maximum number of tokens"),
        "{err}"
    );
    let (ok, _, err) = run_to_end(&["--profile", "nope"]);
    assert!(!ok && err.contains("known profiles"), "{err}");
    let (ok, out, _) = run_to_end(&["--list-profiles"]);
    assert!(ok);
    for name in [
        "llama-3-8b-h100",
        "llama-3-70b-h100-tp4",
        "qwen3-0.6b-h100",
        "tiny",
        "fixed",
        "instant",
    ] {
        assert!(out.contains(name), "{out}");
    }
    let (ok, _, err) = run_to_end(&["acme/mystery-7b", "--port", "0", "--max-num-seqs", "0"]);
    assert!(!ok && err.contains("--max-num-seqs 0"), "{err}");
}

#[test]
fn unknown_model_uses_the_default_profile_and_says_so() {
    let sim = Sim::start(&["acme/mystery-7b"]);
    let models = sim.get("/v1/models").json();
    assert_eq!(models["data"][0]["id"], "acme/mystery-7b");
    let stderr = sim.stderr.lock().unwrap().join("\n");
    assert_eq!(stderr.matches("matches no profile").count(), 1, "{stderr}");
    assert!(stderr.contains("llama-3-8b-h100"));
}

#[test]
fn tokenize_and_detokenize_round_trip() {
    let sim = Sim::start(&["--profile", "tiny", "--api-key", "k"]);
    let v = sim
        .post(
            "/tokenize",
            &json!({"prompt": "hello brave new world", "add_special_tokens": false}),
        )
        .json();
    assert_eq!(v["count"], 7, "hell, o, brav, e, new, worl, d");
    assert_eq!(v["max_model_len"], 4096);
    let cut = &v["tokens"].as_array().unwrap()[..5];
    let text = sim.post("/detokenize", &json!({ "tokens": cut })).json();
    assert_eq!(text["prompt"], "hello brave new");
    let with_bos = sim.post("/tokenize", &json!({"prompt": "hello"})).json();
    assert_eq!(with_bos["count"], 3);
    assert_eq!(sim.post("/detokenize", &json!({"tokens": [5]})).status, 400);
    assert_eq!(
        sim.post("/tokenize", &json!({"model": "nope", "prompt": "x"}))
            .status,
        404
    );
}

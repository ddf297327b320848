//! One timed start-up of a server: start it in its own process group, note when its port
//! accepts connections, when `GET /health` answers 200, and when the first token of one
//! short streamed request arrives; then stop it (SIGTERM, grace, SIGKILL to the group),
//! wait until its port is free, and read compilation times from its log.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use crate::http::{BaseUrl, port_open, request_status};
use crate::process::{Output, Supervised, describe_status, quote_cmd, tail_lines};
use crate::server::STOP_GRACE;

use super::compile_log::parse_server_log;
use super::first_token::{first_token, served_model};
use super::result::IterationTimes;

/// How often the port and `/health` are polled while the server starts: the resolution
/// of the measured times.
const POLL: Duration = Duration::from_millis(10);
/// How long a stopped server's port may stay busy.
const PORT_FREE_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the server's log quoted when it fails.
const LOG_TAIL_LINES: usize = 20;

/// What to start and how to judge it.
#[derive(Debug, Clone)]
pub struct StartSpec<'a> {
    /// The server command.
    pub argv: &'a [String],
    /// Where it answers.
    pub base: &'a BaseUrl,
    /// Extra environment (a fresh cache folder for cold starts).
    pub env: &'a [(&'a str, String)],
    /// Its log file (truncated first).
    pub log_path: &'a Path,
    /// Echo its output (`--show-stdout`).
    pub show_stdout: bool,
    /// How long to wait for `/health`, and then again for the first token.
    pub ready_timeout: Duration,
    /// Send the first request and time its first token.
    pub first_token: bool,
}

impl StartSpec<'_> {
    fn fail(&self, what: String) -> anyhow::Error {
        anyhow!(
            "{what}\n  server command: {}\n  last lines of its log {}:\n{}",
            quote_cmd(self.argv),
            self.log_path.display(),
            indent(&tail_lines(self.log_path, LOG_TAIL_LINES))
        )
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Start the server once and time it. The server is stopped and its port free when this
/// returns, whatever happened.
pub fn time_start(spec: &StartSpec) -> Result<IterationTimes> {
    if port_open(spec.base, Duration::from_millis(300)) {
        bail!(
            "something is already listening on {} before the server was started, so its readiness could not be told apart; stop it, or give the server another --port",
            spec.base
        );
    }
    if let Some(dir) = spec.log_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow!("cannot create the log folder '{}': {e}", dir.display()))?;
    }
    std::fs::write(spec.log_path, format!("$ {}\n", quote_cmd(spec.argv)))
        .map_err(|e| anyhow!("cannot write '{}': {e}", spec.log_path.display()))?;
    let output = if spec.show_stdout {
        Output::LogAndEcho(spec.log_path.to_path_buf())
    } else {
        Output::Log(spec.log_path.to_path_buf())
    };
    let started = Instant::now();
    let mut process = Supervised::spawn(spec.argv, spec.env, &output, "--serve-cmd")?;
    let measured = measure(spec, &mut process, started);
    process.stop(STOP_GRACE);
    let port_free = wait_port_free(spec.base);
    let mut times = measured?;
    port_free?;
    let log = std::fs::read(spec.log_path).unwrap_or_default();
    times.compile = parse_server_log(&String::from_utf8_lossy(&log));
    Ok(times)
}

fn measure(spec: &StartSpec, process: &mut Supervised, started: Instant) -> Result<IterationTimes> {
    let health = spec.base.url("/health");
    let mut port_open_at: Option<Instant> = None;
    let mut last = "no answer yet".to_string();
    let ready_at = loop {
        if let Some(status) = process.try_exit() {
            return Err(spec.fail(format!(
                "the server exited with {} {:.1} s after it was started, before it was ready (GET {health} last: {last})",
                describe_status(status),
                started.elapsed().as_secs_f64()
            )));
        }
        if port_open_at.is_none() && port_open(spec.base, Duration::from_millis(100)) {
            port_open_at = Some(Instant::now());
        }
        if port_open_at.is_some() {
            match request_status(spec.base, "GET", "/health", Duration::from_secs(1)) {
                Ok(200) => break Instant::now(),
                Ok(code) => last = format!("answered HTTP {code}"),
                Err(e) => last = format!("failed: {e}"),
            }
        } else {
            last = "the port accepted no connection".into();
        }
        if started.elapsed() >= spec.ready_timeout {
            return Err(spec.fail(format!(
                "the server was not ready within --ready-timeout {} s: GET {health} last {last}; it was stopped (pid {})",
                spec.ready_timeout.as_secs_f64(),
                process.pid()
            )));
        }
        std::thread::sleep(POLL);
    };
    let port_open_at = port_open_at.unwrap_or(ready_at).min(ready_at);
    let first_token_s = if spec.first_token {
        let token_at = served_model(spec.base, spec.ready_timeout)
            .and_then(|model| first_token(spec.base, &model, spec.ready_timeout));
        match token_at {
            Ok(at) => Some(at.duration_since(started).as_secs_f64()),
            Err(e) => {
                let died = process
                    .try_exit()
                    .map(|s| format!(" (the server exited with {})", describe_status(s)))
                    .unwrap_or_default();
                return Err(spec.fail(format!(
                    "the server was ready but its first request failed{died}: {e:#} (use --skip-first-token for servers without /v1/models and /v1/completions)"
                )));
            }
        }
    } else {
        None
    };
    Ok(IterationTimes {
        port_open_s: port_open_at.duration_since(started).as_secs_f64(),
        startup_s: ready_at.duration_since(started).as_secs_f64(),
        first_token_s,
        compile: Default::default(),
    })
}

/// Wait until nothing accepts connections at `base` any more.
fn wait_port_free(base: &BaseUrl) -> Result<()> {
    let deadline = Instant::now() + PORT_FREE_TIMEOUT;
    while port_open(base, Duration::from_millis(100)) {
        if Instant::now() >= deadline {
            bail!(
                "{base} still accepts connections {} s after the server was stopped; another process holds the port",
                PORT_FREE_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

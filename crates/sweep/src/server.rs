//! One inference server under the sweep's control: started in its own process group with
//! `VLLM_SERVER_DEV_MODE=1`, polled on `GET /health` until ready, its caches reset between
//! runs, stopped with SIGTERM then SIGKILL, its output kept in a log file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::http::{BaseUrl, port_open, request_status};
use crate::process::{Output, Supervised, describe_status, quote_cmd, tail_lines};

/// How often `/health` is polled while a server starts.
pub const READY_POLL: Duration = Duration::from_millis(50);
/// How long a server gets to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Lines of a server's log quoted when it fails.
const LOG_TAIL_LINES: usize = 20;

/// Which server a command starts: it decides how caches are reset between runs and the
/// default port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `vllm serve …` (or vLLM's OpenAI entry point module).
    Vllm,
    /// `llmsweep sim …`.
    LlmsweepSim,
    /// SGLang's `python -m sglang.launch_server …` or `sglang serve …`.
    Sglang,
    /// Anything else: caches are reset only by `--after-bench-cmd`.
    Unknown,
}

impl ServerKind {
    /// Recognise the server from its command line.
    pub fn detect(argv: &[String]) -> Self {
        let Some(first) = argv.first() else {
            return ServerKind::Unknown;
        };
        let prog = Path::new(first)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if prog.ends_with("vllm")
            || argv
                .iter()
                .any(|a| a == "vllm.entrypoints.openai.api_server")
        {
            ServerKind::Vllm
        } else if (prog == "llmsweep" || is_current_exe(first))
            && argv.get(1).is_some_and(|a| a == "sim")
        {
            ServerKind::LlmsweepSim
        } else if prog.contains("sglang")
            || argv.iter().any(|a| a.starts_with("sglang.launch_server"))
        {
            ServerKind::Sglang
        } else {
            ServerKind::Unknown
        }
    }

    /// The port the server listens on when its command names none.
    pub fn default_port(self) -> u16 {
        match self {
            ServerKind::Sglang => 30000,
            _ => 8000,
        }
    }

    /// The HTTP routes that reset its caches.
    pub fn reset_routes(self) -> &'static [&'static str] {
        match self {
            ServerKind::Vllm | ServerKind::LlmsweepSim => &[
                "/reset_prefix_cache",
                "/reset_mm_cache",
                "/reset_encoder_cache",
            ],
            ServerKind::Sglang => &["/flush_cache"],
            ServerKind::Unknown => &[],
        }
    }
}

fn is_current_exe(program: &str) -> bool {
    match (std::env::current_exe(), std::fs::canonicalize(program)) {
        (Ok(exe), Ok(p)) => std::fs::canonicalize(exe).is_ok_and(|e| e == p),
        _ => false,
    }
}

/// The value of the last `--name value` or `--name=value` among `names` in `argv`.
pub fn flag_value<'a>(argv: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut found = None;
    let mut i = 0;
    while i < argv.len() {
        let tok = argv[i].as_str();
        for name in names {
            if tok == *name {
                if let Some(v) = argv.get(i + 1) {
                    found = Some(v.as_str());
                }
            } else if let Some(v) = tok.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                found = Some(v);
            }
        }
        i += 1;
    }
    found
}

/// Where a server started by `argv` will answer, as vLLM's sweep finds it: `--host`
/// (default `localhost`; a wildcard address means this machine) and `--port`/`-p`
/// (default: the server kind's).
pub fn server_address(argv: &[String]) -> Result<BaseUrl> {
    let kind = ServerKind::detect(argv);
    let host = match flag_value(argv, &["--host"]) {
        None => "localhost".to_string(),
        Some("0.0.0.0") | Some("") => "127.0.0.1".to_string(),
        Some("::") | Some("[::]") => "::1".to_string(),
        Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
    };
    let port = match flag_value(argv, &["--port", "-p"]) {
        None => kind.default_port(),
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| anyhow!("--serve-cmd: --port '{p}' is not a port number (0-65535)"))?,
    };
    Ok(BaseUrl::from_host_port(&host, port))
}

/// How caches are reset after each benchmark run.
#[derive(Debug, Clone)]
pub enum AfterBench {
    /// Run this command (`--after-bench-cmd`).
    Command(Vec<String>),
    /// POST these routes (each must answer 2xx).
    Routes(&'static [&'static str]),
}

impl AfterBench {
    /// Choose the reset for a server: `--after-bench-cmd` if given, else the server kind's
    /// routes; an unknown server without `--after-bench-cmd` is an error before anything
    /// runs.
    pub fn choose(serve_cmd: &[String], after_bench_cmd: Option<&[String]>) -> Result<Self> {
        if let Some(cmd) = after_bench_cmd {
            return Ok(AfterBench::Command(cmd.to_vec()));
        }
        match ServerKind::detect(serve_cmd) {
            ServerKind::Unknown => bail!(
                "llmsweep does not know how to reset the caches of '{}' between runs (it knows vLLM, SGLang and llmsweep sim); \
                 pass --after-bench-cmd with a command that does it, or --after-bench-cmd true to skip resets",
                serve_cmd.first().map(String::as_str).unwrap_or("")
            ),
            kind => Ok(AfterBench::Routes(kind.reset_routes())),
        }
    }
}

/// A started server.
#[derive(Debug)]
pub struct Server {
    process: Supervised,
    base: BaseUrl,
    log_path: PathBuf,
    after_bench: AfterBench,
    show_stdout: bool,
}

impl Server {
    /// Start `argv` (with `VLLM_SERVER_DEV_MODE=1`), logging to `log_path`, and wait until
    /// `GET {base}/health` answers 200 or `ready_timeout` passes.
    /// `on_spawn` receives the server's process group id as soon as it exists.
    pub fn start(
        argv: &[String],
        base: BaseUrl,
        log_path: &Path,
        after_bench: AfterBench,
        show_stdout: bool,
        ready_timeout: Duration,
        on_spawn: impl FnOnce(i32),
    ) -> Result<Self> {
        if port_open(&base, Duration::from_millis(300)) {
            bail!(
                "something is already listening on {base}, where this server is to answer; stop it, or give the server another --port"
            );
        }
        let output = if show_stdout {
            Output::LogAndEcho(log_path.to_path_buf())
        } else {
            Output::Log(log_path.to_path_buf())
        };
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create '{}'", dir.display()))?;
        }
        // Appended, never truncated: the log of a start that crashed (and that a --resume
        // follows) stays readable above the new one.
        start_log(log_path, argv);
        let process = Supervised::spawn(
            argv,
            &[("VLLM_SERVER_DEV_MODE", "1".to_string())],
            &output,
            "--serve-cmd",
        )?;
        on_spawn(process.pid());
        let mut server = Server {
            process,
            base,
            log_path: log_path.to_path_buf(),
            after_bench,
            show_stdout,
        };
        server.wait_ready(ready_timeout)?;
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let mut last;
        loop {
            if let Some(status) = self.process.try_exit() {
                bail!(
                    "the server exited with {} before it was ready (polled {} for {:.1} s); last lines of its log {}:\n{}",
                    describe_status(status),
                    self.base.url("/health"),
                    started.elapsed().as_secs_f64(),
                    self.log_path.display(),
                    tail_lines(&self.log_path, LOG_TAIL_LINES)
                );
            }
            match request_status(&self.base, "GET", "/health", Duration::from_millis(500)) {
                Ok(200) => return Ok(()),
                Ok(code) => last = format!("answered HTTP {code}"),
                Err(e) => last = e.to_string(),
            }
            if started.elapsed() >= timeout {
                let pid = self.process.pid();
                self.process.stop(STOP_GRACE);
                bail!(
                    "the server was not ready within --server-ready-timeout {} s: GET {} last {} (server pid {pid} stopped); last lines of its log {}:\n{}",
                    timeout.as_secs(),
                    self.base.url("/health"),
                    last,
                    self.log_path.display(),
                    tail_lines(&self.log_path, LOG_TAIL_LINES)
                );
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// The server's process id (and process group id).
    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// The server's base URL.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// An error describing the server's death, if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.process.try_exit() {
            bail!(
                "the server exited with {} during the sweep; last lines of its log {}:\n{}",
                describe_status(status),
                self.log_path.display(),
                tail_lines(&self.log_path, LOG_TAIL_LINES)
            );
        }
        Ok(())
    }

    /// Reset caches after a benchmark run: `--after-bench-cmd`, or the server's reset routes.
    pub fn after_bench(&mut self) -> Result<()> {
        match &self.after_bench {
            AfterBench::Command(cmd) => {
                let output = if self.show_stdout {
                    Output::LogAndEcho(self.log_path.clone())
                } else {
                    Output::Log(self.log_path.clone())
                };
                let mut p = Supervised::spawn(cmd, &[], &output, "--after-bench-cmd")?;
                let status = p.wait()?;
                if !status.success() {
                    bail!(
                        "--after-bench-cmd `{}` failed with {}",
                        quote_cmd(cmd),
                        describe_status(status)
                    );
                }
            }
            AfterBench::Routes(routes) => {
                for route in routes.iter() {
                    let url = self.base.url(route);
                    match request_status(&self.base, "POST", route, Duration::from_secs(30)) {
                        Ok(code) if (200..300).contains(&code) => {}
                        Ok(404) => bail!(
                            "POST {url} answered 404: the server has no cache-reset route (vLLM adds it only with VLLM_SERVER_DEV_MODE=1, which llmsweep sets for servers it starts); pass --after-bench-cmd"
                        ),
                        Ok(code) => bail!("POST {url} answered HTTP {code} while resetting caches"),
                        Err(e) => bail!("POST {url} failed while resetting caches: {e}"),
                    }
                }
            }
        }
        Ok(())
    }

    /// Stop the server and wait until its port is free.
    pub fn stop(mut self) {
        self.process.stop(STOP_GRACE);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && port_open(&self.base, Duration::from_millis(100)) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The line that opens each start's part of a server log.
const START_HEADER: &str = "===== llmsweep: server start";

/// Append a header to a server's log for one start: the time, which start of this log it
/// is, and the command.
fn start_log(log_path: &Path, argv: &[String]) {
    use std::io::Write;
    let attempt = std::fs::read(log_path)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter(|l| l.starts_with(START_HEADER))
                .count()
        })
        .unwrap_or(0)
        + 1;
    let Ok(mut log) = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log_path)
    else {
        return;
    };
    let mut header = String::new();
    if attempt > 1 {
        header.push('\n');
    }
    header.push_str(&format!(
        "{START_HEADER} #{attempt} at {} (llmsweep pid {}) =====\n$ {}\n",
        chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        std::process::id(),
        quote_cmd(argv)
    ));
    let _ = log.write_all(header.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_start_appends_a_header_to_the_log() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("s.log");
        start_log(&log, &argv("srv --port 1"));
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"crash: out of memory\n"))
            .unwrap();
        start_log(&log, &argv("srv --port 1"));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("crash: out of memory"), "{text}");
        assert!(
            text.contains("server start #1 at ") && text.contains("server start #2 at "),
            "{text}"
        );
        assert_eq!(text.matches("$ srv --port 1").count(), 2, "{text}");
        assert!(text.find("#1").unwrap() < text.find("crash").unwrap());
        assert!(text.find("crash").unwrap() < text.find("#2").unwrap());
    }

    fn argv(s: &str) -> Vec<String> {
        shlex::split(s).unwrap()
    }

    #[test]
    fn kinds() {
        assert_eq!(ServerKind::detect(&argv("vllm serve m")), ServerKind::Vllm);
        assert_eq!(
            ServerKind::detect(&argv("/opt/venv/bin/vllm serve m")),
            ServerKind::Vllm
        );
        assert_eq!(
            ServerKind::detect(&argv("python -m vllm.entrypoints.openai.api_server")),
            ServerKind::Vllm
        );
        assert_eq!(
            ServerKind::detect(&argv("llmsweep sim --port 1")),
            ServerKind::LlmsweepSim
        );
        assert_eq!(
            ServerKind::detect(&argv("python3 -m sglang.launch_server --model-path m")),
            ServerKind::Sglang
        );
        assert_eq!(
            ServerKind::detect(&argv("llama-server -m x")),
            ServerKind::Unknown
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            server_address(&argv("vllm serve m")).unwrap().to_string(),
            "http://localhost:8000"
        );
        assert_eq!(
            server_address(&argv("vllm serve m --host 0.0.0.0 -p 9000"))
                .unwrap()
                .to_string(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            server_address(&argv("vllm serve m --port=1 --port 2"))
                .unwrap()
                .port,
            2
        );
        assert_eq!(
            server_address(&argv("python -m sglang.launch_server"))
                .unwrap()
                .port,
            30000
        );
        assert_eq!(
            server_address(&argv("x --host ::1 --port 5"))
                .unwrap()
                .to_string(),
            "http://[::1]:5"
        );
        assert!(
            server_address(&argv("vllm serve --port abc"))
                .unwrap_err()
                .to_string()
                .contains("abc")
        );
    }

    #[test]
    fn unknown_servers_need_an_after_bench_cmd() {
        let e = AfterBench::choose(&argv("llama-server -m x"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--after-bench-cmd") && e.contains("llama-server"),
            "{e}"
        );
        assert!(matches!(
            AfterBench::choose(&argv("llama-server"), Some(&argv("true"))).unwrap(),
            AfterBench::Command(_)
        ));
        assert!(
            matches!(AfterBench::choose(&argv("vllm serve"), None).unwrap(), AfterBench::Routes(r) if r.len() == 3)
        );
    }
}

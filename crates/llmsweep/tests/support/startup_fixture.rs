#![allow(dead_code)] // each test file uses part of these helpers
//! Shared by the start-up end-to-end tests (startup_bench_e2e.rs, startup_sweep_e2e.rs):
//! a temporary folder with a cache root, a free port, an events file written by the
//! stand-in server (tests/support/fake-startup-server), and small assertions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn support(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn events(&self) -> PathBuf {
        self.path("events.log")
    }

    /// The user's cache root (`VLLM_CACHE_ROOT` of every llmsweep run here).
    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// The stand-in server on this fixture's port, with `extra` flags.
    pub fn serve_cmd(&self, extra: &str) -> String {
        format!(
            "{} m --host 127.0.0.1 --port {} --events {} {extra}",
            support("fake-startup-server"),
            self.port,
            self.events().display()
        )
    }

    /// `llmsweep <args>` with the fixture's cache root.
    pub fn llmsweep(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_llmsweep"));
        c.args(args).env("VLLM_CACHE_ROOT", self.cache());
        c
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Lines of the events file starting with `prefix`.
    pub fn event_lines(&self, prefix: &str) -> Vec<String> {
        std::fs::read_to_string(self.events())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }
}

pub fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

pub fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")))
        .collect()
}

/// No process whose command line mentions `needle` is alive (zombies aside).
pub fn assert_no_process_mentions(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = Command::new("ps")
            .args(["-eo", "stat=,args="])
            .output()
            .unwrap();
        let alive: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| {
                l.contains(needle) && !l.trim_start().starts_with('Z') && !l.contains("ps -eo")
            })
            .map(str::to_string)
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "orphans left: {alive:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start `c`, send it `signal` once the stand-in server has started, and return what it
/// printed.
pub fn signal_once_started(
    f: &Fixture,
    mut c: Command,
    signal: nix::sys::signal::Signal,
) -> Output {
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the server to start", || !f.event_lines("start").is_empty());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    child.wait_with_output().unwrap()
}

/// Wait until `f` holds (a few seconds at most).
pub fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The metric keys of `llmsweep bench startup`'s JSON, in order.
pub fn metric_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for phase in ["cold", "warm"] {
        for m in [
            "startup",
            "compilation",
            "port_open",
            "first_token",
            "graph_capture",
        ] {
            keys.push(format!("avg_{phase}_{m}_time"));
            keys.push(format!("{phase}_{m}_times"));
            keys.push(format!("{phase}_{m}_percentiles"));
        }
    }
    keys
}

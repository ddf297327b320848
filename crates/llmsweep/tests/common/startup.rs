//! For the start-up end-to-end tests (startup_bench_e2e.rs, startup_sweep_e2e.rs): the
//! stand-in server of tests/support/fake-startup-server on a fixture's port, a cache root
//! in the fixture's folder, and what `llmsweep bench startup` writes.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use super::{Fixture, llmsweep, signal_when, support};

impl Fixture {
    /// The user's cache root (`VLLM_CACHE_ROOT` of every `llmsweep_with_cache` run).
    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// The stand-in server (fake-startup-server) on this fixture's port, with `extra` flags.
    pub fn fake_startup_server_cmd(&self, extra: &str) -> String {
        format!(
            "{} m --host 127.0.0.1 --port {} --events {} {extra}",
            support("fake-startup-server"),
            self.port,
            self.events().display()
        )
    }

    /// `llmsweep <args>` with the fixture's cache root.
    pub fn llmsweep_with_cache(&self, args: &[&str]) -> Command {
        let mut c = llmsweep();
        c.args(args).env("VLLM_CACHE_ROOT", self.cache());
        c
    }
}

/// Start `c`, send it `signal` once the stand-in server has started, and return what it
/// printed.
pub fn signal_once_started(f: &Fixture, c: Command, signal: nix::sys::signal::Signal) -> Output {
    signal_when(
        c,
        "the server to start",
        || !f.event_lines("start").is_empty(),
        signal,
    )
}

/// A JSON list of numbers.
pub fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")))
        .collect()
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

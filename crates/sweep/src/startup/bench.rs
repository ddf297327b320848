//! `llmsweep bench startup`: time one server's cold and warm start-ups (vLLM's
//! `vllm bench startup`, measured from outside, for any server).
//!
//! Phases, as in vLLM: `--num-iters-cold` cold starts, `--num-iters-warmup` unrecorded
//! starts that fill the caches, then `--num-iters-warm` warm starts. Before each cold start
//! `--cold-cmd` runs, and the server gets fresh, empty cache folders — `VLLM_CACHE_ROOT`,
//! and `TORCHINDUCTOR_CACHE_DIR`/`TRITON_CACHE_DIR` inside it, as torch's `fresh_cache()`
//! does for vLLM's own benchmark — removed afterwards (or, if a signal ended the run, by the
//! next run). Warm-up and warm starts run with the environment as it is, so their caches
//! are the user's (vLLM's "normal caches").

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use llmsweep_core::layout::write_atomic;
use llmsweep_core::record::to_json_pretty;

use crate::commands::split_cmd;
use crate::http::{BaseUrl, free_port};
use crate::process::{Output, Supervised, describe_status, quote_cmd, tail_lines};
use crate::server::{ServerKind, flag_value, server_address};
use crate::signals;

use super::iteration::{StartSpec, time_start};
use super::result::{IterationTimes, console_summary, result_json};

/// Options of `llmsweep bench startup`, as given.
#[derive(Debug, Clone)]
pub struct BenchStartupOptions {
    /// `--serve-cmd`; `None` starts the simulator, `llmsweep sim`.
    pub serve_cmd: Option<String>,
    /// `--server-url`: where to poll instead of the serve command's `--host`/`--port`.
    pub server_url: Option<String>,
    /// `--num-iters-cold`.
    pub num_iters_cold: u32,
    /// `--num-iters-warmup`.
    pub num_iters_warmup: u32,
    /// `--num-iters-warm`.
    pub num_iters_warm: u32,
    /// `--cold-cmd`, run before every cold start.
    pub cold_cmd: Option<String>,
    /// Fresh cache folders for cold starts (off with `--no-fresh-cache`).
    pub fresh_cold_cache: bool,
    /// `--ready-timeout`, seconds.
    pub ready_timeout_s: u64,
    /// Time the first token (off with `--skip-first-token`).
    pub first_token: bool,
    /// `--output-json`.
    pub output_json: Option<PathBuf>,
    /// `--log-dir`: keep every start's server log there.
    pub log_dir: Option<PathBuf>,
    /// `--show-stdout`: echo the server's output.
    pub show_stdout: bool,
    /// llmsweep's own executable (for the default server).
    pub exe: PathBuf,
}

/// What `llmsweep bench startup` measured.
#[derive(Debug, Clone)]
pub struct BenchStartupReport {
    /// The result object (also written to `--output-json`).
    pub result: Map<String, Value>,
    /// vLLM's console summary.
    pub summary: String,
}

/// The server to start, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedServer {
    /// The command, with `--host`/`--port` added where llmsweep chose them.
    pub argv: Vec<String>,
    /// Where it answers.
    pub base: BaseUrl,
    /// What llmsweep added to the command, for the user.
    pub note: Option<String>,
}

/// Resolve the server command: `--serve-cmd` split, or `exe sim`. The simulator with no
/// `--port` gets `pick_port()` (and `--host 127.0.0.1` if it names no host), so that runs
/// never collide on a default port; any other server answers where its flags say
/// (vLLM's sweep: `--host` or localhost, `--port` or 8000), or at `--server-url`.
pub fn resolve_server(
    serve_cmd: Option<&str>,
    server_url: Option<&str>,
    exe: &Path,
    pick_port: impl FnOnce() -> std::io::Result<u16>,
) -> Result<ResolvedServer> {
    let mut argv = match serve_cmd {
        Some(c) => split_cmd("--serve-cmd", c)?,
        None => vec![exe.to_string_lossy().into_owned(), "sim".into()],
    };
    if let Some(url) = server_url {
        let base = BaseUrl::parse(url).map_err(|e| anyhow!("--server-url {e}"))?;
        return Ok(ResolvedServer {
            argv,
            base,
            note: None,
        });
    }
    let mut added = Vec::new();
    if ServerKind::detect(&argv) == ServerKind::LlmsweepSim
        && flag_value(&argv, &["--port", "-p"]).is_none()
    {
        let port = pick_port().map_err(|e| anyhow!("cannot find a free port: {e}"))?;
        if flag_value(&argv, &["--host"]).is_none() {
            added.extend(["--host".to_string(), "127.0.0.1".to_string()]);
        }
        added.extend(["--port".to_string(), port.to_string()]);
        argv.extend(added.iter().cloned());
    }
    let base = server_address(&argv)?;
    let note = (!added.is_empty()).then(|| {
        format!(
            "the simulator's command names no port: llmsweep added `{}`",
            added.join(" ")
        )
    });
    Ok(ResolvedServer { argv, base, note })
}

/// A command starting with a bare `llmsweep` that `PATH` (here `path`) does not hold
/// runs this very program (`exe`), as the default command does: `--serve-cmd "llmsweep
/// sim …"` works from a build folder too.
fn own_program(argv: &mut [String], exe: &Path, path: Option<&std::ffi::OsStr>) {
    let Some(first) = argv.first_mut() else {
        return;
    };
    if first != "llmsweep" {
        return;
    }
    let on_path = path.is_some_and(|p| {
        std::env::split_paths(p).any(|dir| {
            let candidate = dir.join("llmsweep");
            candidate.is_file() && is_executable(&candidate)
        })
    });
    if !on_path {
        *first = exe.to_string_lossy().into_owned();
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    true
}

/// The start of a cold start's cache folder name in the temporary folder; the pid of the
/// process that made it follows.
const COLD_CACHE_PREFIX: &str = "llmsweep_startup_cold_";

/// Remove cold-start cache folders that an interrupted `bench startup` left in `temp_dir`
/// (a signal ends the process before it can remove them): those whose maker is gone.
pub fn clean_stale_cold_caches(temp_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(temp_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(COLD_CACHE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if gone && pid > 0 {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The environment of a cold start: fresh cache folders under `root`.
pub fn cold_cache_env(root: &Path) -> Vec<(&'static str, String)> {
    let inductor = root.join("torchinductor");
    vec![
        ("VLLM_CACHE_ROOT", root.display().to_string()),
        ("TORCHINDUCTOR_CACHE_DIR", inductor.display().to_string()),
        (
            "TRITON_CACHE_DIR",
            inductor.join("triton").display().to_string(),
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Cold,
    Warmup,
    Warm,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Cold => "cold",
            Phase::Warmup => "warmup",
            Phase::Warm => "warm",
        }
    }
}

/// Run `llmsweep bench startup`: every start, then the result (written to
/// `--output-json` if given).
pub fn run_bench_startup(opts: BenchStartupOptions) -> Result<BenchStartupReport> {
    if opts.num_iters_cold == 0 && opts.num_iters_warm == 0 {
        bail!("--num-iters-cold and --num-iters-warm are both 0: there is nothing to measure");
    }
    if opts.ready_timeout_s == 0 {
        bail!("--ready-timeout must be at least 1 second");
    }
    let mut server = resolve_server(
        opts.serve_cmd.as_deref(),
        opts.server_url.as_deref(),
        &opts.exe,
        free_port,
    )?;
    own_program(
        &mut server.argv,
        &opts.exe,
        std::env::var_os("PATH").as_deref(),
    );
    let cold_cmd = opts
        .cold_cmd
        .as_deref()
        .map(|c| split_cmd("--cold-cmd", c))
        .transpose()?;
    if let Some(parent) = opts.output_json.as_deref().and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "--output-json: cannot create the folder '{}'",
                parent.display()
            )
        })?;
    }
    let temp_logs = match &opts.log_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("--log-dir: cannot create '{}'", d.display()))?;
            None
        }
        None => Some(
            tempfile::Builder::new()
                .prefix("llmsweep_startup_logs_")
                .tempdir()
                .context("cannot create a temporary folder for the server's logs")?,
        ),
    };
    let log_dir = match (&temp_logs, &opts.log_dir) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(d)) => d.clone(),
        (None, None) => unreachable!("one of the two is set above"),
    };
    signals::install().context("cannot install signal handlers")?;
    clean_stale_cold_caches(&std::env::temp_dir());
    crate::console::line(&format!(
        "llmsweep bench startup: $ {}\n  ready when GET {} answers 200 (timeout {} s); server logs in {}",
        quote_cmd(&server.argv),
        server.base.url("/health"),
        opts.ready_timeout_s,
        log_dir.display()
    ));
    if let Some(note) = &server.note {
        crate::console::line(&format!("  note: {note}"));
    }
    let (cold, warm) = match measure_all(&opts, &server, cold_cmd.as_deref(), &log_dir) {
        Ok(v) => v,
        Err(_) if signals::interrupted() => signals::wait_for_shutdown(),
        // Keep the logs of a failed benchmark: they explain it.
        Err(e) => match temp_logs {
            Some(t) => {
                let kept = t.keep();
                return Err(e.context(format!("server logs kept in {}", kept.display())));
            }
            None => return Err(e),
        },
    };
    let mut result = result_json(&cold, &warm);
    for (k, v) in description(&opts, &server) {
        result.insert(k, v);
    }
    if let Some(path) = &opts.output_json {
        write_atomic(
            path,
            to_json_pretty(&Value::Object(result.clone())).as_bytes(),
        )
        .with_context(|| format!("--output-json: cannot write '{}'", path.display()))?;
    }
    Ok(BenchStartupReport {
        summary: console_summary(&cold, &warm),
        result,
    })
}

fn measure_all(
    opts: &BenchStartupOptions,
    server: &ResolvedServer,
    cold_cmd: Option<&[String]>,
    log_dir: &Path,
) -> Result<(Vec<IterationTimes>, Vec<IterationTimes>)> {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for (phase, count) in [
        (Phase::Cold, opts.num_iters_cold),
        (Phase::Warmup, opts.num_iters_warmup),
        (Phase::Warm, opts.num_iters_warm),
    ] {
        for i in 1..=count {
            let label = format!("{} {i}/{count}", phase.name());
            let log_path = log_dir.join(format!("{}-{i}.log", phase.name()));
            let cache = if phase == Phase::Cold {
                if let Some(cmd) = cold_cmd {
                    run_cold_cmd(
                        cmd,
                        &log_dir.join(format!("cold-{i}.cold-cmd.log")),
                        opts.show_stdout,
                    )?;
                }
                if opts.fresh_cold_cache {
                    Some(
                        tempfile::Builder::new()
                            .prefix(&format!("{COLD_CACHE_PREFIX}{}_", std::process::id()))
                            .tempdir()
                            .context("cannot create a fresh cache folder for a cold start")?,
                    )
                } else {
                    None
                }
            } else {
                None
            };
            let env = cache
                .as_ref()
                .map(|c| cold_cache_env(c.path()))
                .unwrap_or_default();
            let spec = StartSpec {
                argv: &server.argv,
                base: &server.base,
                env: &env,
                log_path: &log_path,
                show_stdout: opts.show_stdout,
                ready_timeout: Duration::from_secs(opts.ready_timeout_s),
                first_token: opts.first_token,
            };
            let times = time_start(&spec).with_context(|| format!("{label} start-up failed"))?;
            crate::console::line(&format!("  {label}: {}", headline(&times)));
            match phase {
                Phase::Cold => cold.push(times),
                Phase::Warmup => {}
                Phase::Warm => warm.push(times),
            }
        }
    }
    Ok((cold, warm))
}

/// Run `--cold-cmd`; it must succeed.
fn run_cold_cmd(cmd: &[String], log_path: &Path, show_stdout: bool) -> Result<()> {
    let _ = std::fs::remove_file(log_path);
    let output = if show_stdout {
        Output::LogAndEcho(log_path.to_path_buf())
    } else {
        Output::Log(log_path.to_path_buf())
    };
    let status = Supervised::spawn(cmd, &[], &output, "--cold-cmd")?.wait()?;
    if !status.success() {
        bail!(
            "--cold-cmd `{}` failed with {}; its output ({}):\n{}",
            quote_cmd(cmd),
            describe_status(status),
            log_path.display(),
            tail_lines(log_path, 10)
        );
    }
    Ok(())
}

/// One start for the progress log: `port open 0.05 s, ready 0.61 s, first token 0.64 s,
/// torch.compile 12.34 s`.
fn headline(t: &IterationTimes) -> String {
    let mut parts = vec![
        format!("port open {:.2} s", t.port_open_s),
        format!("ready {:.2} s", t.startup_s),
    ];
    if let Some(s) = t.first_token_s {
        parts.push(format!("first token {s:.2} s"));
    }
    if let Some(s) = t.compile.compilation_s {
        parts.push(format!("torch.compile {s:.2} s"));
    }
    if let Some(s) = t.compile.graph_capture_s {
        parts.push(format!("graph capture {s:.0} s"));
    }
    parts.join(", ")
}

/// Descriptive keys appended after the metrics: how the numbers were obtained.
fn description(opts: &BenchStartupOptions, server: &ResolvedServer) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("num_iters_cold".into(), json!(opts.num_iters_cold));
    m.insert("num_iters_warmup".into(), json!(opts.num_iters_warmup));
    m.insert("num_iters_warm".into(), json!(opts.num_iters_warm));
    m.insert("serve_cmd".into(), json!(quote_cmd(&server.argv)));
    m.insert("serve_cmd_note".into(), json!(server.note));
    m.insert("server_url".into(), json!(server.base.to_string()));
    m.insert("cold_cmd".into(), json!(opts.cold_cmd));
    m.insert("fresh_cold_cache".into(), json!(opts.fresh_cold_cache));
    m.insert("ready_timeout".into(), json!(opts.ready_timeout_s));
    m.insert("first_token_measured".into(), json!(opts.first_token));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exe() -> PathBuf {
        PathBuf::from("/opt/bin/llmsweep")
    }

    #[test]
    fn the_simulator_without_a_port_gets_a_free_one() {
        let s = resolve_server(
            Some("llmsweep sim m --startup-scale 0.01"),
            None,
            &exe(),
            || Ok(4321),
        )
        .unwrap();
        assert_eq!(
            quote_cmd(&s.argv),
            "llmsweep sim m --startup-scale 0.01 --host 127.0.0.1 --port 4321"
        );
        assert_eq!(s.base.to_string(), "http://127.0.0.1:4321");
        assert!(s.note.unwrap().contains("--host 127.0.0.1 --port 4321"));
        // No --serve-cmd: the simulator, by llmsweep's own path.
        let s = resolve_server(None, None, &exe(), || Ok(99)).unwrap();
        assert_eq!(s.argv[..2], ["/opt/bin/llmsweep", "sim"]);
        assert_eq!(flag_value(&s.argv, &["--port"]), Some("99"));
        // A host of its own is kept.
        let s = resolve_server(Some("llmsweep sim --host ::1"), None, &exe(), || Ok(7)).unwrap();
        assert_eq!(s.base.to_string(), "http://[::1]:7");
    }

    #[test]
    fn a_bare_llmsweep_off_path_is_this_program() {
        let t = tempfile::tempdir().unwrap();
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let empty = t.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let mut argv = words(&["llmsweep", "sim", "--port", "1"]);
        own_program(&mut argv, &exe(), Some(empty.as_os_str()));
        assert_eq!(argv, ["/opt/bin/llmsweep", "sim", "--port", "1"]);
        let mut argv = words(&["llmsweep", "sim"]);
        own_program(&mut argv, &exe(), None);
        assert_eq!(argv[0], "/opt/bin/llmsweep");
        // On PATH (an executable file): kept, PATH decides.
        let bin = t.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("llmsweep"), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join("llmsweep"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let path = std::env::join_paths([empty.clone(), bin.clone()]).unwrap();
        let mut argv = words(&["llmsweep", "sim"]);
        own_program(&mut argv, &exe(), Some(&path));
        assert_eq!(argv[0], "llmsweep");
        // Other programs and paths are left alone.
        for first in ["vllm", "./llmsweep", "/usr/bin/llmsweep"] {
            let mut argv = words(&[first, "serve"]);
            own_program(&mut argv, &exe(), Some(empty.as_os_str()));
            assert_eq!(argv[0], first);
        }
    }

    #[test]
    fn other_servers_answer_where_their_flags_say() {
        let s = resolve_server(Some("vllm serve m"), None, &exe(), || {
            panic!("no port wanted")
        })
        .unwrap();
        assert_eq!(s.argv, ["vllm", "serve", "m"]);
        assert_eq!(s.base.to_string(), "http://localhost:8000");
        assert_eq!(s.note, None);
        let s = resolve_server(Some("llmsweep sim --port 5"), None, &exe(), || {
            panic!("no port wanted")
        })
        .unwrap();
        assert_eq!(s.base.to_string(), "http://localhost:5");
        let s = resolve_server(
            Some("llama-server -m x.gguf"),
            Some("http://127.0.0.1:8080"),
            &exe(),
            || panic!("no port wanted"),
        )
        .unwrap();
        assert_eq!(s.base.port, 8080);
        let e = resolve_server(Some("vllm 'serve"), None, &exe(), || Ok(1)).unwrap_err();
        assert!(e.to_string().contains("--serve-cmd"), "{e}");
        let e = resolve_server(Some("x"), Some("localhost:1"), &exe(), || Ok(1)).unwrap_err();
        assert!(e.to_string().contains("--server-url"), "{e}");
    }

    #[test]
    fn stale_cold_caches_are_removed() {
        let temp = tempfile::tempdir().unwrap();
        let stale = temp
            .path()
            .join(format!("{COLD_CACHE_PREFIX}2147483646_abc"));
        let ours = temp
            .path()
            .join(format!("{COLD_CACHE_PREFIX}{}_abc", std::process::id()));
        let other = temp.path().join("llmsweep_startup_cold_notapid");
        for d in [&stale, &ours, &other] {
            std::fs::create_dir_all(d.join("torch_compile_cache")).unwrap();
        }
        clean_stale_cold_caches(temp.path());
        assert!(!stale.exists() && ours.exists() && other.exists());
    }

    #[test]
    fn cold_starts_get_fresh_cache_folders() {
        let env = cold_cache_env(Path::new("/tmp/c"));
        assert_eq!(
            env,
            [
                ("VLLM_CACHE_ROOT", "/tmp/c".to_string()),
                (
                    "TORCHINDUCTOR_CACHE_DIR",
                    "/tmp/c/torchinductor".to_string()
                ),
                (
                    "TRITON_CACHE_DIR",
                    "/tmp/c/torchinductor/triton".to_string()
                ),
            ]
        );
    }
}

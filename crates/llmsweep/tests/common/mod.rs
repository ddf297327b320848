// Every test file compiles its own copy of this module (`mod common;`) and uses only part of
// it; what one file leaves unused would otherwise be a dead-code warning in that file.
#![allow(dead_code)]
//! Helpers shared by the end-to-end tests of the `llmsweep` binary: running it and reading
//! what it printed and wrote, the stand-ins of tests/support and a temporary folder for
//! them, orphan checks, and copies of the plot fixtures.

pub mod startup;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The variables a job array sets (Slurm's, Kubernetes' completion index); `llmsweep()`
/// clears them so that only what a test sets chooses a shard.
pub const SHARD_ENV: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "JOB_COMPLETION_INDEX",
];

/// Remove the job-array variables of `SHARD_ENV` from `c`'s environment.
pub fn clear_shard_env(c: &mut Command) -> &mut Command {
    for var in SHARD_ENV {
        c.env_remove(var);
    }
    c
}

/// The `llmsweep` binary under test, with no stdin and no job-array variables.
pub fn llmsweep() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_llmsweep"));
    clear_shard_env(&mut c).stdin(Stdio::null());
    c
}

/// Run `c` to the end with no stdin; what it printed is captured.
pub fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().unwrap()
}

/// Start every command at once, then wait for all; each must succeed. Their outputs, in
/// order.
pub fn run_together(commands: Vec<Command>) -> Vec<Output> {
    let children: Vec<Child> = commands
        .into_iter()
        .map(|mut c| {
            c.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", text(&o));
            o
        })
        .collect()
}

/// Exit status, stdout and stderr of a run, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What a run printed on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What a run printed on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A JSON file's contents; a missing or invalid file panics with its path.
pub fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Write `text` to `dir/name` and return that path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A stand-in of tests/support (fake-vllm, fake-bench, ...), by its full path.
pub fn support(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until `f` holds; fail, naming `what`, after 20 s.
pub fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start `c` (no stdin, stdout and stderr captured), wait for `what` (`ready`, as
/// `wait_for`), send it `signal`, and return what it printed.
pub fn signal_when(
    mut c: Command,
    what: &str,
    ready: impl Fn() -> bool,
    signal: nix::sys::signal::Signal,
) -> Output {
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(what, ready);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    child.wait_with_output().unwrap()
}

/// No process whose command line mentions `needle` is alive (zombies aside), within 5 s.
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

/// A temporary folder and a free port for the stand-ins, which write what they do to the
/// folder's events file; a sweep's results go to `out`, experiment `e`.
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

    /// The file the stand-ins append their events to, one a line.
    pub fn events(&self) -> PathBuf {
        self.path("events.log")
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

    /// No process that was given this fixture's events file (a stand-in, or the llmsweep
    /// that started one) is left running; see `assert_no_process_mentions`.
    pub fn assert_no_stand_in_left(&self) {
        assert_no_process_mentions(&self.events().to_string_lossy());
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        write(self.dir.path(), rel, text)
    }

    /// The experiment folder of a sweep run with `-o <tmp>/out -e e`.
    pub fn exp(&self) -> PathBuf {
        self.path("out/e")
    }

    /// The stand-in vLLM server (fake-vllm) on this fixture's port, with `extra` flags.
    pub fn fake_vllm_cmd(&self, extra: &str) -> String {
        format!(
            "{} serve m --host 127.0.0.1 --port {} --events {} {extra}",
            support("fake-vllm"),
            self.port,
            self.events().display()
        )
    }

    /// The stand-in benchmark (fake-bench) against this fixture's port, with `extra` flags.
    pub fn fake_bench_cmd(&self, extra: &str) -> String {
        format!(
            "{} --port {} --events {} {extra}",
            support("fake-bench"),
            self.port,
            self.events().display()
        )
    }

    /// `llmsweep <sub>` over fake-vllm and fake-bench, results in `<tmp>/out`, experiment
    /// "e".
    pub fn stand_in_sweep(&self, sub: &str, serve_extra: &str, bench_extra: &str) -> Command {
        let mut c = llmsweep();
        c.args([
            sub,
            "--serve-cmd",
            &self.fake_vllm_cmd(serve_extra),
            "--bench-cmd",
            &self.fake_bench_cmd(bench_extra),
            "-o",
        ])
        .arg(self.path("out"))
        .args(["-e", "e"]);
        c
    }
}

/// A fixture folder for plot and report by name: "vllm" (made by vLLM's own sweep), or one
/// of crates/plot/tests/fixtures (made by llmsweep).
pub fn fixture(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match name {
        "vllm" => root.join("tests/fixtures/vllm-sweep/plot-fake-server"),
        other => root.join("crates/plot/tests/fixtures").join(other),
    }
}

/// A scratch copy of a fixture folder, as `<tmp>/exp` (plot and report write into it).
pub fn copy_of(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("exp");
    copy_dir(&fixture(name), &dst);
    (tmp, dst)
}

/// Copy the folder `src`, with everything below it, to `dst`.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

//! Child processes that die with us: each runs in its own process group (so a terminal's
//! Ctrl-C reaches only llmsweep, which then stops the whole group), gets SIGKILL if
//! llmsweep itself dies (`PR_SET_PDEATHSIG`, Linux), and is registered with [`signals`]
//! so that SIGINT/SIGTERM stop it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::signals;

/// Environment variables every child gets (the experiment's owner mark, see
/// [`crate::leftovers::OWNER_ENV`]).
static CHILD_ENV: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Give every child started from now on these environment variables (replacing any set
/// before).
pub fn set_child_env(vars: Vec<(String, String)>) {
    if let Ok(mut env) = CHILD_ENV.lock() {
        *env = vars;
    }
}

/// Where a child's stdout and stderr go.
#[derive(Debug, Clone)]
pub enum Output {
    /// Both appended to a log file.
    Log(PathBuf),
    /// Both appended to a log file and echoed to our stderr (`--show-stdout`).
    LogAndEcho(PathBuf),
}

/// A running child process in its own process group.
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    pgid: i32,
    reaped: Option<ExitStatus>,
    echo_threads: Vec<std::thread::JoinHandle<()>>,
}

/// Shell-quote a command line so that it can be pasted into a shell, as Python's
/// `shlex.join` does: words made only of `[A-Za-z0-9_@%+=:,./-]` stay bare, others are
/// single-quoted.
pub fn quote_cmd(argv: &[String]) -> String {
    argv.iter()
        .map(|a| quote_arg(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One word, quoted for a POSIX shell if it needs it.
pub fn quote_arg(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\"'\"'"))
    }
}

impl Supervised {
    /// Start `argv` with extra environment variables; `what` names the command in errors
    /// (e.g. "--serve-cmd").
    pub fn spawn(
        argv: &[String],
        env: &[(&str, String)],
        output: &Output,
        what: &str,
    ) -> Result<Self> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| anyhow!("{what} is empty"))?;
        let log_path = match output {
            Output::Log(p) | Output::LogAndEcho(p) => p,
        };
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create log folder '{}'", dir.display()))?;
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("cannot open log file '{}'", log_path.display()))?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).process_group(0);
        for (k, v) in CHILD_ENV.lock().map(|e| e.clone()).unwrap_or_default() {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let echo = matches!(output, Output::LogAndEcho(_));
        if echo {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log.try_clone()?));
        }
        let parent = nix::unistd::getpid();
        // SAFETY: only async-signal-safe calls (sigprocmask, prctl, getppid, _exit) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // The sweep blocks SIGINT/SIGTERM in its threads (see `signals`); the mask
                // survives exec, so clear it, or the child could never be stopped politely.
                nix::sys::signal::sigprocmask(
                    nix::sys::signal::SigmaskHow::SIG_SETMASK,
                    Some(&nix::sys::signal::SigSet::empty()),
                    None,
                )?;
                #[cfg(target_os = "linux")]
                {
                    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                    if nix::unistd::getppid() != parent {
                        nix::libc::_exit(1);
                    }
                }
                #[cfg(not(target_os = "linux"))]
                let _ = parent;
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("{what}: command '{program}' was not found; is it installed and on PATH?")
            } else {
                anyhow!("{what}: cannot start '{program}': {e}")
            }
        })?;
        let pgid = child.id() as i32;
        signals::register_group(pgid);
        let mut echo_threads = Vec::new();
        if echo {
            if let Some(out) = child.stdout.take() {
                echo_threads.push(tee(out, log.try_clone()?));
            }
            if let Some(err) = child.stderr.take() {
                echo_threads.push(tee(err, log));
            }
        }
        Ok(Self {
            child,
            pgid,
            reaped: None,
            echo_threads,
        })
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> i32 {
        self.pgid
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.finish(status);
        }
        self.reaped
    }

    /// Wait for the child to exit on its own.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.reaped {
            return Ok(s);
        }
        let status = self.child.wait().context("waiting for a child process")?;
        self.finish(status);
        Ok(status)
    }

    /// Stop the whole group: SIGTERM, up to `grace` for the child to exit, then SIGKILL to
    /// whatever is left of the group. Returns the child's exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline && self.try_exit().is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Members of the group may outlive its leader; none may outlive the stop.
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        if self.reaped.is_none()
            && let Ok(status) = self.child.wait()
        {
            self.finish(status);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && signals::group_alive(self.pgid) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.reaped
    }

    fn finish(&mut self, status: ExitStatus) {
        self.reaped = Some(status);
        // The group may live on (e.g. a shell's children); only forget it once it is gone.
        if !signals::group_alive(self.pgid) {
            signals::unregister_group(self.pgid);
        }
        for t in self.echo_threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        if self.reaped.is_none() {
            let _ = self.child.wait();
        }
        signals::unregister_group(self.pgid);
    }
}

/// Copy a child's pipe to a log file and to our stderr until it closes.
fn tee(mut from: impl Read + Send + 'static, mut log: File) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = log.write_all(&buf[..n]);
                    crate::console::check(std::io::stderr().write_all(&buf[..n]));
                }
            }
        }
    })
}

/// The last `n` lines of a log file (empty if it cannot be read).
pub fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Describe an exit status: "exit code 3" or "signal 9 (SIGKILL)".
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        format!("exit code {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("signal {sig} ({s})"),
            Err(_) => format!("signal {sig}"),
        }
    } else {
        status.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        shlex::split(s).unwrap()
    }

    #[test]
    fn quoting_round_trips() {
        let a = vec![
            "a b".to_string(),
            "--x={\"k\": 1}".into(),
            "plain".into(),
            "it's".into(),
            "".into(),
        ];
        assert_eq!(shlex::split(&quote_cmd(&a)).unwrap(), a);
        assert_eq!(
            quote_cmd(&[
                "--result-filename".into(),
                "run=0.json".into(),
                "ttft,tpot".into()
            ]),
            "--result-filename run=0.json ttft,tpot"
        );
    }

    #[test]
    fn output_goes_to_the_log_and_status_is_described() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        let mut p = Supervised::spawn(
            &argv("sh -c 'echo out; echo err >&2; exit 3'"),
            &[],
            &Output::Log(log.clone()),
            "test",
        )
        .unwrap();
        let status = p.wait().unwrap();
        assert_eq!(describe_status(status), "exit code 3");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("out") && text.contains("err"), "{text}");
        assert_eq!(tail_lines(&log, 1).len(), 3);
    }

    #[test]
    fn stop_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        // A shell that ignores SIGTERM, with a grandchild.
        let mut p = Supervised::spawn(
            &argv("sh -c 'trap \"\" TERM; sleep 30 & sleep 30; wait'"),
            &[],
            &Output::Log(log),
            "test",
        )
        .unwrap();
        let pgid = p.pid();
        std::thread::sleep(Duration::from_millis(100));
        assert!(crate::signals::group_alive(pgid));
        let status = p.stop(Duration::from_millis(200)).unwrap();
        assert!(
            describe_status(status).contains("SIGKILL"),
            "{}",
            describe_status(status)
        );
        assert!(!crate::signals::group_alive(pgid));
    }

    #[test]
    fn missing_program_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Supervised::spawn(
            &argv("no-such-program-xyz --a"),
            &[],
            &Output::Log(dir.path().join("l")),
            "--serve-cmd",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("--serve-cmd")
                && msg.contains("no-such-program-xyz")
                && msg.contains("not found"),
            "{msg}"
        );
    }
}

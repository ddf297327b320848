//! Ctrl-C and SIGTERM: every child dies with us, nothing half-written looks complete, and
//! the exact command to resume is printed.
//!
//! [`install`] blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call it first, from
//! the main thread, before any other thread exists, so every thread inherits the mask) and
//! starts a watcher thread that waits for them. On the first signal the watcher marks the
//! sweep as interrupted, stops every registered child process group (SIGTERM, then SIGKILL
//! after a grace period), prints the resume hint and exits. A second signal kills at once.
//! Children start with an empty signal mask ([`crate::process`] clears it before exec).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal, killpg};
use nix::unistd::Pid;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static OUTPUT_CLOSED: AtomicBool = AtomicBool::new(false);
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static RESUME_HINT: Mutex<Option<String>> = Mutex::new(None);

/// How long children get to exit after SIGTERM before SIGKILL, on interruption.
const GRACE: Duration = Duration::from_secs(5);

/// Start handling SIGINT, SIGTERM and SIGHUP. Call once, from the main thread, before any
/// other thread starts.
pub fn install() -> std::io::Result<()> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGHUP);
    // A write to a closed pipe then fails with EPIPE instead of killing us on the spot
    // (the SIGPIPE stays pending in the writing thread, where nobody waits for it); the
    // writer calls [`output_closed`], which sends SIGPIPE to the process, for the watcher.
    set.add(Signal::SIGPIPE);
    set.thread_block().map_err(std::io::Error::from)?;
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    watch_output()?;
    std::thread::Builder::new()
        .name("llmsweep-signals".into())
        .spawn(move || {
            let Ok(first) = set.wait() else { return };
            INTERRUPTED.store(true, Ordering::SeqCst);
            if first == Signal::SIGPIPE {
                say(
                    "\nllmsweep: the output was closed (SIGPIPE); stopping servers and benchmarks…",
                );
            } else {
                say(&format!(
                    "\nllmsweep: received {first}; stopping servers and benchmarks…"
                ));
            }
            // A second signal while we wait for children: kill everything now.
            let second = set;
            std::thread::spawn(move || {
                if second.wait().is_ok() {
                    kill_all(Signal::SIGKILL);
                    std::process::exit(exit_code(first));
                }
            });
            stop_all(GRACE);
            if let Some(hint) = RESUME_HINT.lock().ok().and_then(|h| h.clone()) {
                say(&format!(
                    "llmsweep: interrupted; nothing that finished is lost. Resume with:\n  {hint}"
                ));
            }
            std::process::exit(exit_code(first));
        })?;
    Ok(())
}

/// Notice a closed stdout or stderr pipe (`| head` exited) while nothing is written, e.g.
/// during a long benchmark: the sweep stops then, not at its next line of output.
fn watch_output() -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fds: Vec<i32> = [std::io::stdout().as_raw_fd(), std::io::stderr().as_raw_fd()]
        .into_iter()
        .filter(|fd| {
            // SAFETY: stdout and stderr stay open for the life of the process.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
            nix::sys::stat::fstat(borrowed).is_ok_and(|st| {
                let kind = st.st_mode & nix::libc::S_IFMT;
                kind == nix::libc::S_IFIFO || kind == nix::libc::S_IFSOCK
            })
        })
        .collect();
    if fds.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("llmsweep-output".into())
        .spawn(move || {
            loop {
                let mut polled: Vec<nix::libc::pollfd> = fds
                    .iter()
                    .map(|fd| nix::libc::pollfd {
                        fd: *fd,
                        events: 0,
                        revents: 0,
                    })
                    .collect();
                // SAFETY: `polled` is a valid array of `polled.len()` pollfd structs.
                let n = unsafe {
                    nix::libc::poll(polled.as_mut_ptr(), polled.len() as nix::libc::nfds_t, 0)
                };
                let closed = nix::libc::POLLERR | nix::libc::POLLHUP;
                if n > 0 && polled.iter().any(|p| p.revents & closed != 0) {
                    output_closed();
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })?;
    Ok(())
}

/// Write a line to stderr, ignoring every error (it may be the closed pipe).
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Called when a write to stdout or stderr found the pipe closed: stop the sweep as a
/// signal does (only the first call counts; a second signal would kill at once). Without
/// [`install`], SIGPIPE has its default action and ends the process, as for `| head`.
pub fn output_closed() {
    if OUTPUT_CLOSED.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGPIPE);
}

fn exit_code(sig: Signal) -> i32 {
    128 + sig as i32
}

/// Called by code that saw a child die because a signal is stopping the sweep: wait for
/// the watcher thread, which ends the process once the children are gone.
pub fn wait_for_shutdown() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// True once a signal asked us to stop. Code that sees a child die checks this before
/// recording a failure: a run we killed did not fail.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The command that continues this sweep, printed if we are interrupted.
pub fn set_resume_hint(hint: String) {
    if let Ok(mut h) = RESUME_HINT.lock() {
        *h = Some(hint);
    }
}

/// Remember a child's process group so that a signal stops it.
pub fn register_group(pgid: i32) {
    if let Ok(mut g) = GROUPS.lock() {
        g.push(pgid);
    }
}

/// Forget a process group that has been stopped and reaped.
pub fn unregister_group(pgid: i32) {
    if let Ok(mut g) = GROUPS.lock() {
        g.retain(|p| *p != pgid);
    }
}

fn registered() -> Vec<i32> {
    GROUPS.lock().map(|g| g.clone()).unwrap_or_default()
}

fn kill_all(sig: Signal) {
    for pgid in registered() {
        let _ = killpg(Pid::from_raw(pgid), sig);
    }
}

/// SIGTERM every registered group, wait up to `grace` for them to go, SIGKILL the rest.
fn stop_all(grace: Duration) {
    kill_all(Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if registered().iter().all(|g| !group_alive(*g)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_all(Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && registered().iter().any(|g| group_alive(*g)) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Does process group `pgid` still have a member that is not a zombie? On Linux this reads
/// `/proc` (a zombie still counts for `kill(2)` but holds no port or memory); elsewhere it
/// asks `kill(-pgid, 0)`.
pub fn group_alive(pgid: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return killpg(Pid::from_raw(pgid), None).is_ok();
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) S ppid pgrp …": comm may hold spaces and parentheses.
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let mut fields = stat[close + 1..].split_whitespace();
            let state = fields.next().unwrap_or("");
            let _ppid = fields.next();
            let pgrp = fields.next().and_then(|s| s.parse::<i32>().ok());
            if pgrp == Some(pgid) && state != "Z" && state != "X" {
                return true;
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        killpg(Pid::from_raw(pgid), None).is_ok()
    }
}

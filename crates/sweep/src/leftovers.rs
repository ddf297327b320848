//! Servers a killed invocation left behind. A server's direct process gets SIGKILL when
//! llmsweep dies (`PR_SET_PDEATHSIG`), but its own children may survive (a `sh -c`
//! wrapper's server, say) and keep the port. Every server's process group is recorded in
//! `<experiment>/.llmsweep/servers`; `--resume` stops any recorded group still alive.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::shard::Shard;
use crate::signals::group_alive;

fn record_file(experiment_dir: &Path, shard: Option<Shard>) -> PathBuf {
    let name = match shard {
        Some(s) => format!("servers-shard-{}", s.index),
        None => "servers".to_string(),
    };
    experiment_dir.join(".llmsweep").join(name)
}

fn read(experiment_dir: &Path, shard: Option<Shard>) -> Vec<(i32, String)> {
    std::fs::read_to_string(record_file(experiment_dir, shard))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (pgid, prog) = l.split_once('\t')?;
            Some((pgid.parse().ok()?, prog.to_string()))
        })
        .collect()
}

fn write(experiment_dir: &Path, shard: Option<Shard>, entries: &[(i32, String)]) {
    let text: String = entries
        .iter()
        .map(|(p, prog)| format!("{p}\t{prog}\n"))
        .collect();
    let _ =
        llmsweep_core::layout::write_atomic(&record_file(experiment_dir, shard), text.as_bytes());
}

/// Record a started server's process group.
pub fn remember(experiment_dir: &Path, shard: Option<Shard>, pgid: i32, program: &str) {
    let mut entries = read(experiment_dir, shard);
    entries.push((pgid, program.to_string()));
    write(experiment_dir, shard, &entries);
}

/// Forget a server that was stopped.
pub fn forget(experiment_dir: &Path, shard: Option<Shard>, pgid: i32) {
    let mut entries = read(experiment_dir, shard);
    entries.retain(|(p, _)| *p != pgid);
    write(experiment_dir, shard, &entries);
}

/// Stop recorded server groups that are still alive and still run the recorded program (a
/// reused pid is left alone). Returns a message per group stopped.
pub fn stop_leftovers(experiment_dir: &Path, shard: Option<Shard>) -> Vec<String> {
    let mut messages = Vec::new();
    for (pgid, program) in read(experiment_dir, shard) {
        if group_alive(pgid) && group_runs(pgid, &program) {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            messages.push(format!("stopped a server left running by an earlier invocation (process group {pgid}, {program})"));
        }
    }
    write(experiment_dir, shard, &[]);
    messages
}

/// Does any live process of group `pgid` have `program`'s file name in its command line?
fn group_runs(pgid: i32, program: &str) -> bool {
    let base = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            return false;
        };
        let Ok(pg) = nix::unistd::getpgid(Some(Pid::from_raw(pid))) else {
            return false;
        };
        pg.as_raw() == pgid
            && std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&base))
    })
}

/// The environment variable that marks every process an invocation starts (servers,
/// benchmarks, cache-reset commands) and, by inheritance, their own children: its value
/// names the experiment folder and a random token kept in the folder (see
/// [`owner_marker`]). A later invocation on the same folder finds whatever a killed one
/// left running by this mark, however deep below a wrapper script it sits.
pub const OWNER_ENV: &str = "LLMSWEEP_OWNER";
/// The llmsweep process (`<pid>:<start time>`) that started a marked process: leftovers of
/// an invocation that is still running are not ours to stop.
pub const OWNER_PID_ENV: &str = "LLMSWEEP_OWNER_PID";

/// How long leftover processes get to exit after SIGTERM before SIGKILL.
pub const LEFTOVER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn owner_file(experiment_dir: &Path, shard: Option<Shard>) -> PathBuf {
    let name = match shard {
        Some(s) => format!("owner-shard-{}", s.index),
        None => "owner".to_string(),
    };
    experiment_dir.join(".llmsweep").join(name)
}

fn random_token() -> String {
    let mut bytes = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mixed = nanos ^ (u128::from(std::process::id()) << 64);
        bytes.copy_from_slice(&mixed.to_le_bytes()[..8]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The mark of this experiment (and shard): `<absolute folder>:<token>[:shard-K]`. The
/// token is created on first use and kept in `<experiment>/.llmsweep/owner[-shard-K]`, so
/// every invocation on the folder uses the same mark.
pub fn owner_marker(experiment_dir: &Path, shard: Option<Shard>) -> std::io::Result<String> {
    let file = owner_file(experiment_dir, shard);
    let token = match std::fs::read_to_string(&file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let t = random_token();
            llmsweep_core::layout::write_atomic(&file, format!("{t}\n").as_bytes())?;
            t
        }
    };
    let dir = std::fs::canonicalize(experiment_dir)?;
    let mut marker = format!("{}:{token}", dir.display());
    if let Some(s) = shard {
        marker.push_str(&format!(":shard-{}", s.index));
    }
    Ok(marker)
}

/// This process, as [`OWNER_PID_ENV`] names it: `<pid>:<start time>` (the start time tells
/// a reused pid apart).
pub fn owner_pid() -> String {
    let pid = std::process::id() as i32;
    format!("{pid}:{}", start_time(pid).unwrap_or_default())
}

/// A process's start time (clock ticks since boot), from `/proc/<pid>/stat`.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    // After "(comm)": state is field 3; starttime is field 22.
    stat[close + 1..].split_whitespace().nth(19)?.parse().ok()
}

/// Is the llmsweep named by an [`OWNER_PID_ENV`] value still running?
fn owner_alive(value: &str) -> bool {
    let Some((pid, start)) = value.split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    // A zombie (killed, not yet reaped) is gone for our purpose.
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|c| stat[c + 1..].split_whitespace().next().map(str::to_string))
            .is_some_and(|state| state == "Z" || state == "X")
    });
    match start_time(pid) {
        Some(now) => !zombie && start.parse::<u64>().is_ok_and(|s| s == now),
        None => false,
    }
}

/// A process found carrying an experiment's mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// Its pid.
    pub pid: i32,
    /// Its process group.
    pub pgid: i32,
    /// Its command line, shortened, for messages.
    pub command: String,
}

/// Live processes of this user that carry `marker` in their environment and whose
/// llmsweep is gone. Empty where `/proc` is missing (not Linux).
pub fn find_marked(marker: &str) -> Vec<Marked> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let me = std::process::id() as i32;
        let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
            return Vec::new();
        };
        let want = format!("{OWNER_ENV}={marker}");
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if pid == me || entry.metadata().map(|m| m.uid()).ok() != Some(uid) {
                continue;
            }
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                continue;
            };
            let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
            if !vars.contains(&want.as_bytes()) {
                continue;
            }
            let owner = vars.iter().find_map(|v| {
                std::str::from_utf8(v)
                    .ok()?
                    .strip_prefix(OWNER_PID_ENV)?
                    .strip_prefix('=')
                    .map(str::to_string)
            });
            if owner.is_some_and(|o| owner_alive(&o)) {
                continue;
            }
            let Ok(pgid) = nix::unistd::getpgid(Some(Pid::from_raw(pid))) else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let command = crate::console::shorten_middle(
                &String::from_utf8_lossy(&cmdline)
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                160,
            );
            found.push(Marked {
                pid,
                pgid: pgid.as_raw(),
                command,
            });
        }
        found
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = marker;
        Vec::new()
    }
}

/// Stop every process [`find_marked`] finds for `marker`: SIGTERM to their process groups
/// (never our own) and to themselves, up to `grace` for them to go, then SIGKILL. Returns
/// one message per process stopped.
pub fn stop_marked(marker: &str, grace: std::time::Duration) -> Vec<String> {
    use std::collections::BTreeSet;
    let found = find_marked(marker);
    if found.is_empty() {
        return Vec::new();
    }
    let own_group = nix::unistd::getpgrp().as_raw();
    let signal_all = |sig: Signal, procs: &[Marked]| {
        let groups: BTreeSet<i32> = procs
            .iter()
            .map(|m| m.pgid)
            .filter(|g| *g > 1 && *g != own_group)
            .collect();
        for g in groups {
            let _ = killpg(Pid::from_raw(g), sig);
        }
        for m in procs {
            let _ = nix::sys::signal::kill(Pid::from_raw(m.pid), sig);
        }
    };
    signal_all(Signal::SIGTERM, &found);
    let deadline = std::time::Instant::now() + grace;
    let mut left = find_marked(marker);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = find_marked(marker);
    }
    if !left.is_empty() {
        signal_all(Signal::SIGKILL, &left);
    }
    found
        .iter()
        .map(|m| {
            format!(
                "stopped a process left running by an earlier invocation: pid {} (process group {}{}): {}",
                m.pid,
                m.pgid,
                if left.iter().any(|l| l.pid == m.pid) {
                    ", killed after ignoring SIGTERM"
                } else {
                    ""
                },
                m.command
            )
        })
        .collect()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    /// Start `sh -c script` in its own group with the mark, owned by `owner`.
    fn marked(script: &str, marker: &str, owner: &str) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        Command::new("sh")
            .args(["-c", script])
            .env(OWNER_ENV, marker)
            .env(OWNER_PID_ENV, owner)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn the_owner_token_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let a = owner_marker(d.path(), None).unwrap();
        assert_eq!(owner_marker(d.path(), None).unwrap(), a);
        let s = owner_marker(d.path(), Some(Shard { index: 1, count: 2 })).unwrap();
        assert!(s.ends_with(":shard-1") && s != a, "{s}");
        assert!(
            a.starts_with(
                &std::fs::canonicalize(d.path())
                    .unwrap()
                    .display()
                    .to_string()
            )
        );
    }

    #[test]
    fn marked_leftovers_of_a_dead_owner_are_stopped_grandchildren_included() {
        let marker = format!("/test/{}:{}", std::process::id(), random_token());
        // A dead owner (pid 0 never runs llmsweep); a wrapper whose grandchild ignores
        // SIGTERM, and another group: both must go.
        let mut a = marked("trap '' TERM; sleep 30 & wait", &marker, "0:1");
        let mut b = marked("sleep 30", &marker, "0:1");
        // A process of a live invocation (ours) is left alone.
        let mut live = marked("exec sleep 30", &marker, &owner_pid());
        std::thread::sleep(Duration::from_millis(200));
        let found = find_marked(&marker);
        assert!(found.len() >= 3, "{found:?}");
        let messages = stop_marked(&marker, Duration::from_millis(300));
        assert!(messages.len() >= 3, "{messages:?}");
        assert!(
            messages.iter().any(|m| m.contains("sleep 30")),
            "{messages:?}"
        );
        assert!(a.wait().is_ok() && b.wait().is_ok());
        std::thread::sleep(Duration::from_millis(100));
        assert!(find_marked(&marker).is_empty());
        assert!(!group_alive(a.id() as i32) && !group_alive(b.id() as i32));
        assert!(
            live.try_wait().unwrap().is_none(),
            "a live owner's process was stopped"
        );
        let _ = killpg(Pid::from_raw(live.id() as i32), Signal::SIGKILL);
        let _ = live.wait();
        // A zombie owner (killed, not yet reaped by its parent) counts as gone.
        let mut owner = Command::new("true").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let zombie = format!("{}:{}", owner.id(), start_time(owner.id() as i32).unwrap());
        assert!(!owner_alive(&zombie), "a zombie is not a running owner");
        let _ = owner.wait();
        assert!(owner_alive(&owner_pid()));
        // Another experiment's mark is not ours.
        assert!(stop_marked("/other:token", Duration::ZERO).is_empty());
    }
}

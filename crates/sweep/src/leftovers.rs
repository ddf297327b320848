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

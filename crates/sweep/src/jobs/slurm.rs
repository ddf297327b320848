//! A sharded sweep as a Slurm job array: one sbatch script, `--array=0-(N-1)`, whose
//! tasks run the same sweep command; each picks its shard from `SLURM_ARRAY_TASK_ID` and
//! `SLURM_ARRAY_TASK_COUNT`. Every word of the command is quoted for the shell.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::{JobSettings, ShardedSweep, comment_block};
use crate::process::{quote_arg, quote_cmd};

/// Slurm-only settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--constraint` (node features).
    pub constraint: Option<String>,
    /// `--time`, Slurm's format (`12:00:00`, `1-00:00:00`, minutes…).
    pub time: Option<String>,
    /// Request GPUs with `--gres=gpu:[type:]G` instead of `--gpus-per-task=[type:]G`.
    pub gres: bool,
    /// `--gpu-type`, e.g. `a100`.
    pub gpu_type: Option<String>,
    /// `--exclusive`: whole nodes (no other job's server on the same ports).
    pub exclusive: bool,
    /// `--log`: the tasks' output files (Slurm's `--output` pattern).
    pub log: Option<String>,
    /// `--workdir`: the shared folder the tasks `cd` into.
    pub workdir: Option<PathBuf>,
    /// `--setup`: shell lines run before the sweep (load modules, activate an
    /// environment), in order, after the `cd` to `workdir` and with `set -u` off.
    pub setup: Vec<String>,
    /// The script's file name, for the submit hint (`-o`).
    pub script_name: Option<String>,
}

/// Slurm's time limits: `minutes`, `minutes:seconds`, `hours:minutes:seconds`,
/// `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds`, or `UNLIMITED`.
pub fn check_time(text: &str) -> Result<()> {
    let numbers = |s: &str, max_parts: usize| {
        let parts: Vec<&str> = s.split(':').collect();
        parts.len() <= max_parts
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    let ok = text.eq_ignore_ascii_case("unlimited")
        || text.eq_ignore_ascii_case("infinite")
        || match text.split_once('-') {
            Some((days, rest)) => {
                !days.is_empty() && days.chars().all(|c| c.is_ascii_digit()) && numbers(rest, 3)
            }
            None => numbers(text, 3),
        };
    if !ok {
        bail!(
            "--time '{text}': expected Slurm's format, e.g. 90 (minutes), 12:00:00 or 2-00:00:00"
        );
    }
    Ok(())
}

/// A value of an `#SBATCH` line: sbatch does not take quotes there, so no spaces.
fn directive_value(flag: &str, value: &str) -> Result<String> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '#') {
        bail!("{flag} '{value}': an #SBATCH value cannot be empty or hold spaces or '#'");
    }
    Ok(value.to_string())
}

/// The GPU request line, if GPUs are asked for.
fn gpu_directive(settings: &JobSettings, opts: &SlurmOptions) -> Result<Option<String>> {
    let Some(gpus) = settings.gpus.filter(|g| *g > 0) else {
        if opts.gpu_type.is_some() || opts.gres {
            bail!("--gpu-type and --gres shape a GPU request: give the count with --gpus");
        }
        return Ok(None);
    };
    let count = match &opts.gpu_type {
        Some(t) => format!("{}:{gpus}", directive_value("--gpu-type", t)?),
        None => gpus.to_string(),
    };
    Ok(Some(if opts.gres {
        format!("--gres=gpu:{count}")
    } else {
        format!("--gpus-per-task={count}")
    }))
}

/// The `#SBATCH` lines.
fn directives(
    job: &ShardedSweep,
    settings: &JobSettings,
    opts: &SlurmOptions,
) -> Result<Vec<String>> {
    let mut lines = vec![
        format!("--job-name={}", job.name),
        if job.parallelism < job.num_shards {
            format!("--array=0-{}%{}", job.num_shards - 1, job.parallelism)
        } else {
            format!("--array=0-{}", job.num_shards - 1)
        },
        "--ntasks=1".to_string(),
    ];
    lines.extend(gpu_directive(settings, opts)?);
    if let Some(c) = settings.cpus {
        lines.push(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = settings.memory {
        lines.push(format!("--mem={}", m.slurm()));
    }
    if let Some(t) = &opts.time {
        check_time(t)?;
        lines.push(format!("--time={t}"));
    }
    for (flag, value) in [
        ("--partition", &opts.partition),
        ("--account", &opts.account),
        ("--qos", &opts.qos),
        ("--constraint", &opts.constraint),
    ] {
        if let Some(v) = value {
            lines.push(format!("{flag}={}", directive_value(flag, v)?));
        }
    }
    if opts.exclusive {
        lines.push("--exclusive".to_string());
    }
    let log = match &opts.log {
        Some(l) => directive_value("--log", l)?,
        None => "%x-%A_%a.out".to_string(),
    };
    lines.push(format!("--output={log}"));
    Ok(lines.into_iter().map(|l| format!("#SBATCH {l}")).collect())
}

/// The command, run after the array, that merges the shards (a dependent job).
fn merge_hint(job: &ShardedSweep, settings: &JobSettings, opts: &SlurmOptions) -> String {
    let mut merge = Vec::new();
    if let Some(w) = &opts.workdir {
        merge.push(format!("cd {} &&", quote_arg(&w.to_string_lossy())));
    }
    merge.push(quote_cmd(&[
        settings.program.clone(),
        "merge".into(),
        job.experiment_dir.to_string_lossy().into_owned(),
    ]));
    let mut sbatch = vec![
        "sbatch".to_string(),
        "--dependency=afterany:$jobid".to_string(),
        format!("--job-name={}-merge", job.name),
        "--ntasks=1".to_string(),
    ];
    for (flag, value) in [
        ("--partition", &opts.partition),
        ("--account", &opts.account),
    ] {
        if let Some(v) = value {
            sbatch.push(format!("{flag}={}", quote_arg(v)));
        }
    }
    sbatch.push(format!("--output={}-merge-%j.out", job.name));
    sbatch.push(format!("--wrap={}", quote_arg(&merge.join(" "))));
    sbatch.join(" ")
}

/// The sbatch script of `job`.
pub fn sbatch_script(
    job: &ShardedSweep,
    settings: &JobSettings,
    opts: &SlurmOptions,
) -> Result<String> {
    let mut s = String::from("#!/bin/bash\n");
    for line in directives(job, settings, opts)? {
        s.push_str(&line);
        s.push('\n');
    }
    let n = job.num_shards;
    let where_ = match &opts.workdir {
        Some(w) if job.experiment_dir.is_relative() => {
            format!("{} (in {})", job.experiment_dir.display(), w.display())
        }
        _ => job.experiment_dir.display().to_string(),
    };
    let script = match &opts.script_name {
        Some(name) => quote_arg(name),
        None => "<this script>".to_string(),
    };
    let mut comments = vec![
        String::new(),
        format!(
            "Generated by `llmsweep plan slurm`: one sweep as {n} shards, one array task each."
        ),
        format!("Task K runs the serve items i with i mod {n} = K (K from SLURM_ARRAY_TASK_ID and"),
        "SLURM_ARRAY_TASK_COUNT); all write into one experiment folder on the shared file".into(),
        format!("system: {where_}"),
        String::new(),
        "Submit, then merge the shards once every task has ended (afterany: even if some".into(),
        "failed; the merge lists what is missing):".into(),
        format!("  jobid=$(sbatch --parsable {script})"),
        format!("  {}", merge_hint(job, settings, opts)),
        "Tasks that failed or were cancelled resume where they stopped when the array is".into(),
        "submitted again; finished shards start no server.".into(),
    ];
    for note in &job.notes {
        comments.push(String::new());
        comments.push(note.clone());
    }
    s.push_str(&comment_block(&comments));
    s.push_str("\nset -euo pipefail\n");
    for (key, value) in &settings.env {
        s.push_str(&format!("export {key}={}\n", quote_arg(value)));
    }
    if let Some(w) = &opts.workdir {
        s.push_str(&format!("cd {}\n", quote_arg(&w.to_string_lossy())));
    }
    if !opts.setup.is_empty() {
        // After the cd, so that a relative `source venv/bin/activate` means the working
        // folder; without -u, which many module and conda activation scripts trip over.
        s.push_str("set +u\n");
        for line in &opts.setup {
            s.push_str(line);
            s.push('\n');
        }
        s.push_str("set -u\n");
    }
    // exec: scancel's SIGTERM reaches llmsweep itself, which stops its servers.
    s.push_str(&format!("exec {}\n", quote_cmd(&job.argv)));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times() {
        for ok in [
            "90",
            "30:00",
            "12:00:00",
            "2-00",
            "2-12:00",
            "1-00:00:00",
            "UNLIMITED",
        ] {
            assert!(check_time(ok).is_ok(), "{ok}");
        }
        for bad in ["", "12h", "1:2:3:4", "-1", "1-", "a-10", "1-2:3:4:5", "12:"] {
            let e = check_time(bad).unwrap_err().to_string();
            assert!(e.contains("--time"), "{bad}: {e}");
        }
    }
}

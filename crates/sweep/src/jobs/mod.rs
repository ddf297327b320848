//! `llmsweep plan slurm|k8s`: a sweep as a job array of the engines users already have —
//! a Slurm sbatch script ([`slurm`]) or a Kubernetes Indexed Job ([`k8s`]) — whose tasks
//! each run one shard of the same sweep command into one experiment folder on a shared
//! file system.
//!
//! Everything here is pure: the caller parses the sweep command and counts its serve
//! items; these functions check the combination and return text.

pub mod k8s;
pub mod slurm;
mod yaml;

use std::path::PathBuf;

use anyhow::{Result, bail};

/// The sweep subcommands a job can run as shards.
pub const SWEEP_SUBCOMMANDS: [&str; 4] = ["serve", "serve-sla", "serve-workload", "startup"];

/// The sweep a job runs: the command line after `--`, and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepCommand {
    /// The subcommand and its flags, as given (without the program).
    pub args: Vec<String>,
    /// `serve`, `serve-sla`, `serve-workload` or `startup`.
    pub subcommand: String,
    /// `-e/--experiment-name`, if given.
    pub experiment_name: Option<String>,
    /// `-o/--output-dir` (its default when not given).
    pub output_dir: PathBuf,
    /// The number of serve items in `--serve-params` (1 without the flag).
    pub serve_items: usize,
    /// `--shard` is given.
    pub has_shard: bool,
    /// `--num-shards`, if given.
    pub num_shards: Option<u32>,
    /// `--dry-run` is given.
    pub dry_run: bool,
}

/// A memory amount in binary units: Slurm spells it `200G`, Kubernetes `200Gi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    amount: u64,
    unit: char,
}

impl Memory {
    /// Parse `200G`, `200Gi`, `200GB`, `512M`, `1T` (any case; a unit is required: Slurm
    /// reads a bare number as megabytes, Kubernetes as bytes).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        let (number, unit) = t.split_at(digits);
        let unit_upper = unit.to_ascii_uppercase();
        let letter = match unit_upper.as_str() {
            "K" | "KI" | "KB" | "KIB" => 'K',
            "M" | "MI" | "MB" | "MIB" => 'M',
            "G" | "GI" | "GB" | "GIB" => 'G',
            "T" | "TI" | "TB" | "TIB" => 'T',
            _ => bail!(
                "--memory '{text}': expected a whole number and a unit K, M, G or T (binary, e.g. 200G or 200Gi)"
            ),
        };
        let amount: u64 = number.parse().map_err(|_| {
            anyhow::anyhow!("--memory '{text}': expected a whole number before the unit, e.g. 200G")
        })?;
        if amount == 0 {
            bail!("--memory '{text}' must be more than nothing");
        }
        Ok(Self {
            amount,
            unit: letter,
        })
    }

    /// Slurm's spelling: `200G`.
    pub fn slurm(&self) -> String {
        format!("{}{}", self.amount, self.unit)
    }

    /// Kubernetes' spelling: `200Gi`.
    pub fn kubernetes(&self) -> String {
        format!("{}{}i", self.amount, self.unit)
    }
}

/// What both kinds of job take from the command line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSettings {
    /// `--job-name`; default: the experiment's name, else `llmsweep-<subcommand>`.
    pub job_name: Option<String>,
    /// `--num-shards`; default: one shard per serve item.
    pub num_shards: Option<u32>,
    /// `--max-parallel`: shards running at once; default: all.
    pub max_parallel: Option<u32>,
    /// `--gpus` per shard.
    pub gpus: Option<u32>,
    /// `--cpus` per shard.
    pub cpus: Option<u32>,
    /// `--memory` per shard.
    pub memory: Option<Memory>,
    /// `--env NAME=VALUE`, in order.
    pub env: Vec<(String, String)>,
    /// `--llmsweep`: the program on the nodes.
    pub program: String,
}

/// The rules of a job engine's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// Slurm: letters, digits, `.`, `_`, `-`.
    Slurm,
    /// Kubernetes: a DNS label — lower-case letters, digits and `-`, starting and ending
    /// with a letter or digit, at most 63 characters.
    Kubernetes,
}

impl NameRule {
    fn allows(self, c: char) -> bool {
        match self {
            NameRule::Slurm => c.is_ascii_alphanumeric() || "._-".contains(c),
            NameRule::Kubernetes => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        }
    }

    /// Is `name` valid? Returns why not.
    pub fn check(self, name: &str) -> std::result::Result<(), String> {
        let what = match self {
            NameRule::Slurm => "letters, digits, '.', '_' and '-'",
            NameRule::Kubernetes => {
                "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
            }
        };
        let ok = name.chars().any(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| self.allows(c))
            && (self == NameRule::Slurm
                || (name.len() <= 63 && !name.starts_with('-') && !name.ends_with('-')));
        if ok {
            Ok(())
        } else {
            Err(format!("'{name}' is not a valid name: use {what}"))
        }
    }

    /// A valid name made from `text`: other characters become `-`.
    pub fn derive(self, text: &str) -> String {
        let lowered = match self {
            NameRule::Slurm => text.to_string(),
            NameRule::Kubernetes => text.to_ascii_lowercase(),
        };
        let mut name = String::new();
        for c in lowered.chars() {
            let c = if self.allows(c) { c } else { '-' };
            if !(c == '-' && name.ends_with('-')) {
                name.push(c);
            }
        }
        if self == NameRule::Kubernetes {
            name.truncate(63);
        }
        let name = name.trim_matches('-').to_string();
        if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
            "llmsweep".into()
        } else {
            name
        }
    }
}

/// A sweep ready to be written as a job array.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardedSweep {
    /// The job's name.
    pub name: String,
    /// Shards: array tasks or completions.
    pub num_shards: u32,
    /// Shards running at once.
    pub parallelism: u32,
    /// The command every task runs: program, subcommand, flags.
    pub argv: Vec<String>,
    /// The experiment folder, as the tasks see it (relative to their working folder when
    /// `-o` is relative).
    pub experiment_dir: PathBuf,
    /// Remarks for the job's comments (e.g. a flag added).
    pub notes: Vec<String>,
}

/// A job runs a sweep: `serve`, `serve-sla`, `serve-workload` or `startup`.
pub fn check_subcommand(subcommand: &str) -> Result<()> {
    if !SWEEP_SUBCOMMANDS.contains(&subcommand) {
        bail!(
            "a job runs a sweep: serve, serve-sla, serve-workload or startup; got '{subcommand}'"
        );
    }
    Ok(())
}

/// The number of shards: `--num-shards` (of the plan or of the sweep command), else one per
/// serve item. More shards than serve items is an error: a shard owns whole servers.
pub fn shard_count(sweep: &SweepCommand, requested: Option<u32>) -> Result<u32> {
    let n = match (requested, sweep.num_shards) {
        (Some(a), Some(b)) if a != b => bail!(
            "--num-shards {a} here, but the sweep command says --num-shards {b}; give it once"
        ),
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => u32::try_from(sweep.serve_items).unwrap_or(u32::MAX),
    };
    if n == 0 {
        bail!("--num-shards must be at least 1");
    }
    if n as usize > sweep.serve_items {
        bail!(
            "--num-shards {n}: the sweep has {} serve item(s) and a shard owns whole servers, so {} shard(s) would have nothing to do; use at most {}",
            sweep.serve_items,
            n as usize - sweep.serve_items,
            sweep.serve_items
        );
    }
    Ok(n)
}

/// Check the sweep command and the settings, and build the command every task runs:
/// `-e <job name>` is added when the sweep names no experiment (every shard must write
/// into the same one); `with_num_shards` adds `--num-shards N` (Kubernetes' index comes
/// without the count).
pub fn shard_sweep(
    sweep: &SweepCommand,
    settings: &JobSettings,
    rule: NameRule,
    with_num_shards: bool,
) -> Result<ShardedSweep> {
    check_subcommand(&sweep.subcommand)?;
    if sweep.has_shard {
        bail!(
            "the sweep command sets --shard, so every task would run that one shard; remove it: each task takes its shard from the job array"
        );
    }
    if sweep.dry_run {
        bail!("the sweep command sets --dry-run: the job would run nothing; remove it");
    }
    if settings.program.trim().is_empty() {
        bail!("--llmsweep must name the program to run on the nodes");
    }
    let num_shards = shard_count(sweep, settings.num_shards)?;
    let parallelism = match settings.max_parallel {
        Some(p) if p == 0 || p > num_shards => {
            bail!("--max-parallel {p} must be between 1 and the number of shards, {num_shards}")
        }
        Some(p) => p,
        None => num_shards,
    };
    let name = match &settings.job_name {
        Some(given) => {
            rule.check(given)
                .map_err(|e| anyhow::anyhow!("--job-name: {e}"))?;
            given.clone()
        }
        None => rule.derive(
            sweep
                .experiment_name
                .as_deref()
                .unwrap_or(&format!("llmsweep-{}", sweep.subcommand)),
        ),
    };
    for (key, _) in &settings.env {
        check_env_name(key)?;
    }
    let mut argv = vec![settings.program.clone()];
    argv.extend(sweep.args.iter().cloned());
    let mut notes = Vec::new();
    let experiment = match &sweep.experiment_name {
        Some(e) => e.clone(),
        None => {
            argv.extend(["-e".to_string(), name.clone()]);
            notes.push(format!(
                "The sweep command names no -e/--experiment-name, and every shard must write\n\
                 into the same experiment: it runs with -e {name}. Another job with that\n\
                 name joins (and resumes) the same experiment."
            ));
            name.clone()
        }
    };
    if with_num_shards && sweep.num_shards.is_none() {
        argv.extend(["--num-shards".to_string(), num_shards.to_string()]);
    }
    Ok(ShardedSweep {
        name,
        num_shards,
        parallelism,
        argv,
        experiment_dir: sweep.output_dir.join(experiment),
        notes,
    })
}

/// Comment lines (`# …`) for a script or manifest: every line of every text gets its `#`,
/// so that no path or name with a line break can end a comment early.
fn comment_block(texts: &[String]) -> String {
    texts
        .iter()
        .flat_map(|t| {
            if t.is_empty() {
                vec![""]
            } else {
                t.lines().collect()
            }
        })
        .map(|line| {
            if line.is_empty() {
                "#\n".to_string()
            } else {
                format!("# {line}\n")
            }
        })
        .collect()
}

/// An environment variable's name: a letter or `_`, then letters, digits or `_`.
fn check_env_name(key: &str) -> Result<()> {
    let mut chars = key.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        bail!(
            "--env {key}=…: '{key}' is not an environment variable name (letters, digits and '_', not starting with a digit)"
        );
    }
    Ok(())
}

/// Parse `NAME=VALUE` (for `--env` and `--node-selector`).
pub fn parse_pair(flag: &str, text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => bail!("{flag} '{text}': expected NAME=VALUE"),
    }
}

#[cfg(test)]
mod tests;

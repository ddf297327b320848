//! `llmsweep plan slurm|k8s [flags] -- <sweep>`: print a ready sbatch script (a Slurm job
//! array) or a Kubernetes Indexed Job manifest that runs the sweep as shards, one per
//! serve item by default. The sweep command is parsed with llmsweep's own command line,
//! so a mistyped flag is caught here rather than on the cluster.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{ArgMatches, CommandFactory};

use llmsweep_core::layout::write_atomic;
use llmsweep_core::params::ParamSweep;
use llmsweep_sweep::jobs::k8s::{K8sOptions, SharedVolume, job_manifest};
use llmsweep_sweep::jobs::slurm::{SlurmOptions, sbatch_script};
use llmsweep_sweep::jobs::{
    JobSettings, Memory, NameRule, SweepCommand, check_subcommand, parse_pair, shard_sweep,
};

/// Flags of `llmsweep plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Target {
    /// An sbatch script: a Slurm job array with one task per shard.
    Slurm(SlurmArgs),
    /// A Kubernetes Job manifest: an Indexed Job with one completion per shard.
    #[command(name = "k8s", alias = "kubernetes")]
    K8s(K8sArgs),
}

/// Flags of both kinds of job.
#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// Shards. Default: one per serve item of the sweep's --serve-params (one server per
    /// shard); more shards than serve items is an error.
    #[arg(long, value_name = "N")]
    num_shards: Option<u32>,
    /// Shards running at once (Slurm's array throttle, Kubernetes' parallelism). Default:
    /// all.
    #[arg(long, value_name = "M")]
    max_parallel: Option<u32>,
    /// The job's name. Default: the sweep's -e/--experiment-name, else
    /// llmsweep-<subcommand> (then also the experiment's name).
    #[arg(long, value_name = "NAME")]
    job_name: Option<String>,
    /// GPUs per shard.
    #[arg(long, value_name = "G")]
    gpus: Option<u32>,
    /// CPUs per shard.
    #[arg(long, value_name = "C")]
    cpus: Option<u32>,
    /// Memory per shard, in binary units: 200G (or 200Gi).
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// An environment variable for the sweep, NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// The llmsweep program on the nodes.
    #[arg(long = "llmsweep", default_value = "llmsweep", value_name = "PROGRAM")]
    program: String,
    /// Write the script or manifest to FILE (atomically) instead of printing it.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The sweep, after `--`: serve, serve-sla, serve-workload or startup, and its flags.
    #[arg(last = true, required = true, value_name = "SWEEP")]
    sweep: Vec<String>,
}

/// Flags of `llmsweep plan slurm`.
#[derive(Debug, clap::Args)]
struct SlurmArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The shared folder the tasks run in (`cd`); the sweep's relative paths start there.
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Slurm partition.
    #[arg(long, value_name = "NAME")]
    partition: Option<String>,
    /// Slurm account.
    #[arg(long, value_name = "NAME")]
    account: Option<String>,
    /// Slurm quality of service.
    #[arg(long, value_name = "NAME")]
    qos: Option<String>,
    /// Node features required (Slurm's --constraint).
    #[arg(long, value_name = "FEATURES")]
    constraint: Option<String>,
    /// Time limit per task, Slurm's format: 90 (minutes), 12:00:00, 2-00:00:00.
    #[arg(long, value_name = "TIME")]
    time: Option<String>,
    /// GPU type, e.g. a100 (with --gpus).
    #[arg(long, value_name = "TYPE")]
    gpu_type: Option<String>,
    /// Request GPUs as --gres=gpu:[TYPE:]G instead of --gpus-per-task (older Slurm).
    #[arg(long)]
    gres: bool,
    /// Whole nodes per task, so that no other job's server takes the ports.
    #[arg(long)]
    exclusive: bool,
    /// The tasks' output files (Slurm's --output pattern). Default: %x-%A_%a.out.
    #[arg(long, value_name = "PATTERN")]
    log: Option<String>,
    /// A shell line to run before the sweep, e.g. 'module load cuda' or 'source
    /// venv/bin/activate' (repeatable, in order). Runs after the cd to --workdir, with
    /// `set -u` off.
    #[arg(long, value_name = "LINE")]
    setup: Vec<String>,
}

/// Flags of `llmsweep plan k8s`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("volume").required(true).args(["pvc", "host_path"]))]
struct K8sArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The container image: llmsweep and the server (e.g. vLLM) inside.
    #[arg(long, value_name = "IMAGE")]
    image: String,
    /// The shared volume: a PersistentVolumeClaim (ReadWriteMany across nodes).
    #[arg(long, value_name = "CLAIM")]
    pvc: Option<String>,
    /// The shared volume: a folder every node has (e.g. an NFS mount).
    #[arg(long, value_name = "DIR")]
    host_path: Option<PathBuf>,
    /// Where the shared volume is mounted in the pods.
    #[arg(long, default_value = "/results", value_name = "DIR")]
    mount: PathBuf,
    /// The pods' working folder; the sweep's relative paths start there. Default: --mount.
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Kubernetes namespace.
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// Service account of the pods.
    #[arg(long, value_name = "NAME")]
    service_account: Option<String>,
    /// A node label the pods require, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    node_selector: Vec<String>,
    /// Pod failures over all shards before the Job gives up (a retried shard resumes).
    /// Default: the number of shards.
    #[arg(long, value_name = "N")]
    backoff_limit: Option<u32>,
    /// Every key of this Secret as an environment variable, e.g. HF_TOKEN (repeatable).
    #[arg(long, value_name = "SECRET")]
    env_from_secret: Vec<String>,
    /// A memory-backed /dev/shm of this size, e.g. 16Gi (vLLM's tensor parallelism needs
    /// more than the default 64 MiB).
    #[arg(long, value_name = "SIZE")]
    shm_size: Option<String>,
}

/// Build the job, then print it or write it to -o.
pub fn run(args: Args) -> Result<ExitCode> {
    let (text, output, submit) = match args.target {
        Target::Slurm(a) => {
            let (sweep, settings) = prepare(&a.common, a.workdir.as_deref())?;
            let job = shard_sweep(&sweep, &settings, NameRule::Slurm, true)?;
            let opts = SlurmOptions {
                partition: a.partition,
                account: a.account,
                qos: a.qos,
                constraint: a.constraint,
                time: a.time,
                gres: a.gres,
                gpu_type: a.gpu_type,
                exclusive: a.exclusive,
                log: a.log,
                workdir: a.workdir,
                setup: a.setup,
                script_name: file_name(&a.common.output),
            };
            (
                sbatch_script(&job, &settings, &opts)?,
                a.common.output,
                "sbatch",
            )
        }
        Target::K8s(a) => {
            let workdir = a.workdir.clone().unwrap_or_else(|| a.mount.clone());
            let (sweep, settings) = prepare(&a.common, Some(&workdir))?;
            let job = shard_sweep(&sweep, &settings, NameRule::Kubernetes, true)?;
            let volume = match (a.pvc, a.host_path) {
                (Some(claim), _) => SharedVolume::Claim(claim),
                (None, Some(path)) => SharedVolume::HostPath(path),
                (None, None) => unreachable!("clap requires --pvc or --host-path"),
            };
            let opts = K8sOptions {
                image: a.image,
                volume,
                mount: a.mount,
                workdir: a.workdir,
                namespace: a.namespace,
                service_account: a.service_account,
                node_selector: a
                    .node_selector
                    .iter()
                    .map(|p| parse_pair("--node-selector", p))
                    .collect::<Result<_>>()?,
                backoff_limit: a.backoff_limit,
                env_secrets: a.env_from_secret,
                shm_size: a.shm_size.as_deref().map(Memory::parse).transpose()?,
                file_name: file_name(&a.common.output),
            };
            (
                job_manifest(&job, &settings, &opts)?,
                a.common.output,
                "kubectl apply -f",
            )
        }
    };
    match output {
        Some(path) => {
            write_atomic(&path, text.as_bytes())
                .with_context(|| format!("cannot write '{}'", path.display()))?;
            eprintln!(
                "Wrote {}. Submit it with: {submit} {}",
                path.display(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn file_name(output: &Option<PathBuf>) -> Option<String> {
    output.as_ref().map(|p| p.display().to_string())
}

/// The sweep command and the settings both jobs share.
fn prepare(common: &CommonArgs, workdir: Option<&Path>) -> Result<(SweepCommand, JobSettings)> {
    let sweep = parse_sweep(&common.sweep, workdir)?;
    let settings = JobSettings {
        job_name: common.job_name.clone(),
        num_shards: common.num_shards,
        max_parallel: common.max_parallel,
        gpus: common.gpus,
        cpus: common.cpus,
        memory: common.memory.as_deref().map(Memory::parse).transpose()?,
        env: common
            .env
            .iter()
            .map(|p| parse_pair("--env", p))
            .collect::<Result<_>>()?,
        program: common.program.clone(),
    };
    Ok((sweep, settings))
}

/// A value of the sweep command, by its flag's id.
fn value<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Result<Option<T>> {
    m.try_get_one::<T>(id)
        .map(|v| v.cloned())
        .map_err(|e| anyhow!("reading {id} of the sweep command: {e}"))
}

/// Parse the sweep command with llmsweep's own command line, and count its serve items.
fn parse_sweep(words: &[String], workdir: Option<&Path>) -> Result<SweepCommand> {
    let argv = super::util::normalize_flag_spelling(
        std::iter::once(OsString::from("llmsweep")).chain(words.iter().map(OsString::from)),
    );
    let matches = crate::with_overrides(crate::Cli::command())
        .try_get_matches_from(argv)
        .map_err(|e| {
            anyhow!(
                "the sweep command after --: {}",
                e.render().to_string().trim()
            )
        })?;
    let (subcommand, m) = matches.subcommand().ok_or_else(|| {
        anyhow!(
            "give the sweep command after --, e.g. -- serve --serve-params serve.json -e my-sweep"
        )
    })?;
    check_subcommand(subcommand)?;
    let serve_params: Option<PathBuf> = value(m, "serve_params")?;
    Ok(SweepCommand {
        args: words.to_vec(),
        subcommand: subcommand.to_string(),
        experiment_name: value(m, "experiment_name")?,
        output_dir: value(m, "output_dir")?.unwrap_or_else(|| PathBuf::from("results")),
        serve_items: count_serve_items(serve_params.as_deref(), workdir)?,
        has_shard: value::<String>(m, "shard")?.is_some(),
        num_shards: value(m, "num_shards")?,
        dry_run: value(m, "dry_run")?.unwrap_or(false),
    })
}

/// The serve items of `--serve-params`, read where the tasks will read it (in the working
/// folder) or else from here.
fn count_serve_items(path: Option<&Path>, workdir: Option<&Path>) -> Result<usize> {
    let Some(path) = path else {
        return Ok(1);
    };
    let in_workdir = workdir
        .filter(|_| path.is_relative())
        .map(|w| w.join(path))
        .filter(|p| p.is_file());
    let file = in_workdir.unwrap_or_else(|| path.to_path_buf());
    let items = ParamSweep::load(Some(&file)).map_err(|e| {
        anyhow!("cannot count the serve items (one shard each): {e}; give --num-shards, or run this where --serve-params can be read")
    })?;
    Ok(items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_sweep_subcommand_parses_and_says_what_a_job_needs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.json"),
            r#"[{"a": 1}, {"a": 2}, {"a": 3}]"#,
        )
        .unwrap();
        for sub in ["serve", "serve-sla", "serve_workload", "startup"] {
            let mut w = words(&[
                sub,
                "--serve_params",
                "s.json",
                "-e",
                "x",
                "-o",
                "/r",
                "--num-shards",
                "3",
            ]);
            if sub == "serve-sla" {
                w.extend(words(&["--sla-params", "sla.json"]));
            }
            let s = parse_sweep(&w, Some(dir.path())).unwrap();
            assert_eq!(s.subcommand, sub.replace('_', "-"));
            assert_eq!(s.experiment_name.as_deref(), Some("x"));
            assert_eq!(s.output_dir, Path::new("/r"));
            assert_eq!(
                (s.serve_items, s.num_shards, s.has_shard, s.dry_run),
                (3, Some(3), false, false)
            );
            assert_eq!(s.args, w);
        }
        let s = parse_sweep(&words(&["serve", "--shard", "0/2", "--dry-run"]), None).unwrap();
        assert_eq!((s.serve_items, s.has_shard, s.dry_run), (1, true, true));
        assert_eq!(s.output_dir, Path::new("results"));
    }

    #[test]
    fn bad_sweep_commands_are_caught_here() {
        let e = parse_sweep(&words(&["serve", "--serve-parms", "x"]), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the sweep command after --") && e.contains("--serve-parms"),
            "{e}"
        );
        let e = parse_sweep(&words(&["plot", "x"]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("got 'plot'"), "{e}");
        let e = parse_sweep(
            &words(&["serve", "--serve-params", "/nonexistent/s.json"]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cannot count the serve items") && e.contains("--num-shards"),
            "{e}"
        );
    }
}

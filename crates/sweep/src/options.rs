//! The options every server sweep shares (vLLM's `SweepServeArgs`), checked and loaded once:
//! commands resolved, parameter files read, `--link-vars` parsed, the experiment folder
//! located.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use llmsweep_core::params::{ParamItem, ParamSweep};
use llmsweep_core::record::read_json;

use crate::commands::Commands;
use crate::experiment::{ExperimentIdentity, check_experiment_dir, default_experiment_name};
use crate::plan::{LinkVar, parse_link_vars};
use crate::process::quote_cmd;
use crate::shard::Shard;

/// Options of `llmsweep serve` (and the base of serve-sla / serve-workload), as given.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// `--serve-cmd`; `None` runs the simulator.
    pub serve_cmd: Option<String>,
    /// `--bench-cmd`; `None` runs the native client.
    pub bench_cmd: Option<String>,
    /// `--after-bench-cmd`.
    pub after_bench_cmd: Option<String>,
    /// `--show-stdout`.
    pub show_stdout: bool,
    /// `--server-ready-timeout`, seconds.
    pub server_ready_timeout_s: u64,
    /// `--server-url`.
    pub server_url: Option<String>,
    /// `--serve-params`.
    pub serve_params: Option<PathBuf>,
    /// `--bench-params`.
    pub bench_params: Option<PathBuf>,
    /// `--link-vars`.
    pub link_vars: String,
    /// `-o/--output-dir`.
    pub output_dir: PathBuf,
    /// `-e/--experiment-name`.
    pub experiment_name: Option<String>,
    /// `--num-runs`.
    pub num_runs: u32,
    /// `--warmup-num-prompts`.
    pub warmup_num_prompts: u32,
    /// `--continue-on-error`.
    pub continue_on_error: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--resume`.
    pub resume: bool,
    /// llmsweep's own executable (for the default commands).
    pub exe: PathBuf,
    /// The command line as typed (for the resume hint and the record).
    pub argv: Vec<String>,
    /// This process's shard of the sweep (`--shard`, or a job array's environment).
    pub shard: Option<Shard>,
}

/// Options checked and loaded.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// As given.
    pub opts: SweepOptions,
    /// Resolved command templates.
    pub cmds: Commands,
    /// Serve items.
    pub serve_params: ParamSweep,
    /// Bench items.
    pub bench_params: ParamSweep,
    /// `--link-vars`.
    pub links: Vec<LinkVar>,
    /// The experiment's name.
    pub experiment_name: String,
    /// `OUTPUT_DIR/EXPERIMENT`.
    pub experiment_dir: PathBuf,
    serve_params_json: Value,
    bench_params_json: Value,
}

fn file_contents(path: Option<&Path>) -> Result<Value> {
    Ok(match path {
        Some(p) => read_json(p)?,
        None => Value::Null,
    })
}

impl Prepared {
    /// Check and load the options. Nothing is created or started.
    pub fn load(opts: SweepOptions) -> Result<Self> {
        if opts.num_runs == 0 {
            bail!("--num-runs must be at least 1");
        }
        let serve_params = ParamSweep::load(opts.serve_params.as_deref())?;
        let bench_params = ParamSweep::load(opts.bench_params.as_deref())?;
        let links = parse_link_vars(&opts.link_vars).map_err(anyhow::Error::msg)?;
        let cmds = Commands::resolve(
            opts.serve_cmd.as_deref(),
            opts.bench_cmd.as_deref(),
            opts.after_bench_cmd.as_deref(),
            opts.server_url.as_deref(),
            &opts.exe,
        )?;
        if let Some(name) = &opts.experiment_name
            && (name.is_empty() || name.contains('/') || name == "." || name == "..")
        {
            bail!(
                "-e/--experiment-name '{name}' must be a plain folder name (no '/', not '.' or '..')"
            );
        }
        let experiment_name = opts
            .experiment_name
            .clone()
            .unwrap_or_else(default_experiment_name);
        if opts.shard.is_some() && opts.experiment_name.is_none() {
            bail!(
                "a shard needs -e/--experiment-name, so that every shard writes into the same experiment"
            );
        }
        // Shards join one experiment: it may exist already, and their runs resume.
        let experiment_dir = if opts.dry_run || opts.shard.is_some() {
            opts.output_dir.join(&experiment_name)
        } else {
            check_experiment_dir(&opts.output_dir, &experiment_name, opts.resume)?
        };
        Ok(Self {
            serve_params_json: file_contents(opts.serve_params.as_deref())?,
            bench_params_json: file_contents(opts.bench_params.as_deref())?,
            opts,
            cmds,
            serve_params,
            bench_params,
            links,
            experiment_name,
            experiment_dir,
        })
    }

    /// The settings a resume must repeat, for `experiment.json`.
    pub fn identity(&self, kind: &str, more: Map<String, Value>) -> ExperimentIdentity {
        let o = &self.opts;
        let mut settings = Map::new();
        settings.insert("serve_cmd_arg".into(), json!(o.serve_cmd));
        settings.insert("bench_cmd_arg".into(), json!(o.bench_cmd));
        settings.insert("after_bench_cmd".into(), json!(o.after_bench_cmd));
        settings.insert("server_url".into(), json!(o.server_url));
        settings.insert("serve_params".into(), self.serve_params_json.clone());
        settings.insert("bench_params".into(), self.bench_params_json.clone());
        settings.insert("link_vars".into(), json!(o.link_vars));
        settings.insert("num_runs".into(), json!(o.num_runs));
        settings.insert("warmup_num_prompts".into(), json!(o.warmup_num_prompts));
        for (k, v) in more {
            settings.insert(k, v);
        }
        ExperimentIdentity {
            kind: kind.to_string(),
            settings,
        }
    }

    /// Descriptive fields for `experiment.json` that may change between invocations.
    pub fn description(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("serve_cmd".into(), json!(self.cmds.serve));
        m.insert("bench_cmd".into(), json!(self.cmds.bench));
        m.insert("serve_params_file".into(), json!(self.opts.serve_params));
        m.insert("bench_params_file".into(), json!(self.opts.bench_params));
        m.insert(
            "server_ready_timeout".into(),
            json!(self.opts.server_ready_timeout_s),
        );
        m.insert(
            "continue_on_error".into(),
            json!(self.opts.continue_on_error),
        );
        m
    }

    /// The command that continues this experiment: the same command line with `--resume`
    /// and the experiment's name.
    pub fn resume_command(&self) -> String {
        let mut argv = self.opts.argv.clone();
        if argv.is_empty() {
            argv.push("llmsweep".into());
        }
        if !argv.iter().any(|a| a == "--resume") {
            argv.push("--resume".into());
        }
        if self.opts.experiment_name.is_none() {
            argv.push("-e".into());
            argv.push(self.experiment_name.clone());
        }
        quote_cmd(&argv)
    }

    /// `summary.csv`, or `summary-shard-K.csv` for a shard.
    pub fn summary_csv_name(&self) -> String {
        match self.opts.shard {
            Some(s) => s.summary_csv(),
            None => llmsweep_core::layout::SUMMARY_CSV.to_string(),
        }
    }

    /// A root-level result file's name, shard-specific for a shard.
    pub fn root_file_name(&self, name: &str) -> String {
        match self.opts.shard {
            Some(s) => s.file(name),
            None => name.to_string(),
        }
    }

    /// True when this invocation continues earlier work (`--resume`, or a shard).
    pub fn resuming(&self) -> bool {
        self.opts.resume || self.opts.shard.is_some()
    }

    /// For a shard, a line saying which serve items it owns in `plan` (already filtered).
    pub fn shard_line(&self, plan: &crate::plan::Plan) -> Option<String> {
        let shard = self.opts.shard?;
        let items: Vec<String> = plan
            .servers
            .iter()
            .map(|s| s.serve_index.to_string())
            .collect();
        Some(format!(
            "Shard {shard}: serve items {} of {} ({} combinations)",
            if items.is_empty() {
                "none".to_string()
            } else {
                items.join(", ")
            },
            self.serve_params.len(),
            plan.num_combinations()
        ))
    }

    /// The server log file for a serve item.
    pub fn server_log(&self, serve: &ParamItem) -> PathBuf {
        let name = if serve.is_empty() {
            "default".to_string()
        } else {
            format!("SERVE--{}", serve.name())
        };
        self.experiment_dir.join("servers").join(format!(
            "{}.log",
            llmsweep_core::layout::sanitize_component(&name)
        ))
    }
}

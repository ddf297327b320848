//! `llmsweep serve-sla`: for every (serve, bench) combination and every set of SLA
//! criteria, the largest `request_rate` or `max_concurrency` that meets the criteria
//! (vLLM's `vllm bench sweep serve_sla`).
//!
//! Layout, as vLLM's: `<combination>/<var>=<value>/run=N.json` and `summary.json` for each
//! value tested, `<combination>/SLA--<criteria>.json` with the runs of each search, and
//! `summary.csv` at the root; plus `sla_results.json` and `sla_results.csv` with each
//! search's answer, the metrics there and its path. Runs at a value are shared by every
//! criteria set of a combination.

pub mod criteria;
mod measure;
mod output;

pub use output::{SLA_RESULTS_CSV, SLA_RESULTS_JSON, write_sla_results};

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use llmsweep_core::layout::sanitize_component;
use llmsweep_core::pyfmt::py_float;
use llmsweep_core::record::{Record, as_number, read_json};

use crate::options::{Prepared, SweepOptions};
use crate::plan::{Combination, Plan, forbid_bench_param};
use crate::progress::Ui;
use crate::runner::{BenchSettings, RunError, completed_runs, display_name};
use crate::serve::{SweepOutcome, prepare_plan, write_summary_csv};
use crate::session::{for_each_server, with_experiment};

use self::criteria::{CriteriaSet, load_sla_params};
use self::measure::search;
use self::output::{print_dry_run, results_table, write_results};

/// The load variable an SLA search tunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaVariable {
    /// Requests per second (a real number; "inf" is the top).
    RequestRate,
    /// Requests in flight (a whole number; the dataset size is the top).
    MaxConcurrency,
}

impl SlaVariable {
    /// The parameter name.
    pub fn key(self) -> &'static str {
        match self {
            SlaVariable::RequestRate => "request_rate",
            SlaVariable::MaxConcurrency => "max_concurrency",
        }
    }

    /// The variable named `key` (`request_rate` or `max_concurrency`), as
    /// `experiment.json` records it.
    pub fn from_key(key: &str) -> Option<Self> {
        [SlaVariable::RequestRate, SlaVariable::MaxConcurrency]
            .into_iter()
            .find(|v| v.key() == key)
    }

    /// A value as a parameter: integers as integers, infinity as `"inf"`.
    pub fn json(self, v: f64) -> Value {
        match self {
            _ if v.is_infinite() => json!("inf"),
            SlaVariable::MaxConcurrency => json!(v as i64),
            SlaVariable::RequestRate => json!(v),
        }
    }

    /// A value as written in folder names: `16`, `12.5`, `inf`.
    pub fn text(self, v: f64) -> String {
        match self {
            SlaVariable::MaxConcurrency if v.is_finite() => format!("{}", v as i64),
            _ => py_float(v),
        }
    }
}

/// Options of `llmsweep serve-sla`.
#[derive(Debug, Clone)]
pub struct SlaOptions {
    /// The options shared with `llmsweep serve`.
    pub sweep: SweepOptions,
    /// `--sla-params`.
    pub sla_params: PathBuf,
    /// `--sla-variable`.
    pub variable: SlaVariable,
    /// `--sla-tolerance`: relative width at which a `request_rate` search stops.
    pub tolerance: f64,
    /// `--max-runs`: runs at a value whose runs disagree (default: `--num-runs` + 2).
    pub max_runs: Option<u32>,
    /// `--sla-min-value` (default 1).
    pub min_value: Option<f64>,
    /// `--sla-max-value` (default: the dataset size for `max_concurrency`, infinite for
    /// `request_rate`).
    pub max_value: Option<f64>,
}

/// One step of a search's path.
#[derive(Debug, Clone)]
struct PathStep {
    value: f64,
    margin: f64,
    verdict: &'static str,
    runs: usize,
}

/// The answer of one search.
#[derive(Debug, Clone)]
struct SearchResult {
    entry: Map<String, Value>,
}

struct Ctx<'a> {
    prepared: &'a Prepared,
    opts: &'a SlaOptions,
    sets: Vec<CriteriaSet>,
    settings: BenchSettings,
    max_runs: u32,
    ui: &'a Ui,
    /// Benchmark runs measured by this invocation (not read back from disk).
    measured: std::cell::Cell<usize>,
}

/// Run `llmsweep serve-sla`.
pub fn run_serve_sla(opts: SlaOptions) -> Result<SweepOutcome> {
    let sets = load_sla_params(&opts.sla_params)?;
    let (prepared, plan) = prepare_plan(opts.sweep.clone())?;
    forbid_bench_param(&prepared.bench_params, opts.variable.key()).map_err(anyhow::Error::msg)?;
    if !(opts.tolerance > 0.0 && opts.tolerance < 1.0) {
        bail!(
            "--sla-tolerance must be between 0 and 1 (a relative width, e.g. 0.01); got {}",
            opts.tolerance
        );
    }
    let num_runs = prepared.opts.num_runs;
    let max_runs = opts.max_runs.unwrap_or(num_runs + 2);
    if max_runs < num_runs {
        bail!("--max-runs ({max_runs}) must be at least --num-runs ({num_runs})");
    }
    if let (Some(lo), Some(hi)) = (opts.min_value, opts.max_value)
        && !(lo > 0.0 && lo < hi)
    {
        bail!("--sla-min-value ({lo}) must be positive and below --sla-max-value ({hi})");
    }
    if prepared.opts.dry_run {
        print_dry_run(&prepared, &plan, &opts, &sets)?;
        return Ok(SweepOutcome::dry_run(&prepared.experiment_dir));
    }
    let mut identity = Map::new();
    identity.insert("sla_params".into(), read_json(&opts.sla_params)?);
    identity.insert("sla_variable".into(), json!(opts.variable.key()));
    identity.insert("sla_tolerance".into(), json!(opts.tolerance));
    identity.insert("max_runs".into(), json!(max_runs));
    identity.insert("sla_min_value".into(), json!(opts.min_value));
    identity.insert("sla_max_value".into(), json!(opts.max_value));
    with_experiment(
        &prepared,
        "serve-sla",
        identity,
        || execute(&prepared, &plan, &opts, sets, max_runs),
        |o: &SweepOutcome| !o.failures.is_empty(),
    )
}

/// The runs of one search: `<combination>/SLA--<criteria>.json`.
pub fn sla_file(comb: &Combination, set: &CriteriaSet) -> PathBuf {
    comb.dir
        .join(sanitize_component(&format!("SLA--{}.json", set.text())))
}

fn execute(
    prepared: &Prepared,
    plan: &Plan,
    opts: &SlaOptions,
    sets: Vec<CriteriaSet>,
    max_runs: u32,
) -> Result<SweepOutcome> {
    let dir = &prepared.experiment_dir;
    let ui = Ui::new_unbounded();
    ui.line(&format!(
        "llmsweep: SLA search of {} over {} combinations × {} criteria sets; results in {}",
        opts.variable.key(),
        plan.num_combinations(),
        sets.len(),
        dir.display()
    ));
    let ctx = Ctx {
        prepared,
        opts,
        sets,
        settings: BenchSettings {
            bench_cmd: prepared.cmds.bench.clone(),
            show_stdout: prepared.opts.show_stdout,
            continue_on_error: prepared.opts.continue_on_error,
        },
        max_runs,
        ui: &ui,
        measured: std::cell::Cell::new(0),
    };
    // Keyed by serve index: a shard's plan holds only some servers.
    let needs: std::collections::HashSet<usize> = plan
        .servers
        .iter()
        .filter(|sp| {
            sp.combinations
                .iter()
                .any(|c| ctx.sets.iter().any(|s| !sla_file(c, s).exists()))
        })
        .map(|sp| sp.serve_index)
        .collect();
    let mut results: HashMap<(usize, usize, usize), SearchResult> = HashMap::new();
    let mut hints: HashMap<(usize, usize), f64> = HashMap::new();
    let mut failures = Vec::new();
    let mut search_failures = Vec::new();
    for_each_server(
        prepared,
        plan,
        &ui,
        &mut failures,
        |sp| needs.contains(&sp.serve_index),
        |server, sp| {
            for comb in &sp.combinations {
                for (k, set) in ctx.sets.iter().enumerate() {
                    let hint = hints.get(&(comb.bench_index, k)).copied();
                    match search(&ctx, Some(&mut *server), &sp.serve, comb, set, hint) {
                        Ok(r) => {
                            if let Some(v) = r.entry.get("value").and_then(as_number) {
                                hints.insert((comb.bench_index, k), v);
                            }
                            results.insert((sp.serve_index, comb.bench_index, k), r);
                        }
                        Err(RunError::Failed(f)) if ctx.settings.continue_on_error => {
                            ui.line(&format!(
                                "  SLA search FAILED: {}",
                                f.message.lines().next().unwrap_or("")
                            ));
                            results.insert(
                                (sp.serve_index, comb.bench_index, k),
                                failed_search(opts.variable, &sp.serve, comb, set, &f),
                            );
                            search_failures.push(format!(
                                "{} × {}: {}",
                                display_name(&comb.dir),
                                set.text(),
                                f.message.lines().next().unwrap_or("")
                            ));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        },
    )?;
    // Searches finished by earlier invocations replay from their results on disk.
    for sp in plan
        .servers
        .iter()
        .filter(|sp| !needs.contains(&sp.serve_index))
    {
        for comb in &sp.combinations {
            for (k, set) in ctx.sets.iter().enumerate() {
                let hint = hints.get(&(comb.bench_index, k)).copied();
                let r = search(&ctx, None, &sp.serve, comb, set, hint).map_err(|e| {
                    anyhow::anyhow!("replaying {} from disk: {e}", display_name(&comb.dir))
                })?;
                if let Some(v) = r.entry.get("value").and_then(as_number) {
                    hints.insert((comb.bench_index, k), v);
                }
                results.insert((sp.serve_index, comb.bench_index, k), r);
            }
        }
    }
    ui.finish();
    failures.extend(search_failures);
    // In plan order; a search that never ran because its server failed (recorded with
    // --continue-on-error) gets a row that says so.
    let mut ordered = Vec::new();
    for sp in &plan.servers {
        for comb in &sp.combinations {
            for (k, set) in ctx.sets.iter().enumerate() {
                match results.remove(&(sp.serve_index, comb.bench_index, k)) {
                    Some(r) => ordered.push(r),
                    None => {
                        let failure = crate::runner::Failure {
                            error_type: "ServerFailed",
                            message: format!(
                                "the search did not run: its server failed (see {})",
                                llmsweep_core::layout::server_failure_file(
                                    &prepared.experiment_dir,
                                    &sp.serve
                                )
                                .display()
                            ),
                        };
                        ordered.push(failed_search(opts.variable, &sp.serve, comb, set, &failure));
                    }
                }
            }
        }
    }
    write_results(prepared, &ordered)?;
    let all_runs = all_value_runs(plan, opts.variable);
    let summary_csv = write_summary_csv(prepared, &all_runs)?;
    let table = results_table(&ordered, all_runs.len(), ctx.measured.get());
    Ok(SweepOutcome {
        experiment_dir: dir.clone(),
        dry_run: false,
        rows: Vec::new(),
        failures,
        summary_csv,
        tables: vec![table],
        shard: prepared.opts.shard,
    })
}

/// The fields every row of sla_results.json starts with: which combination, criteria set
/// and variable it answers for. Shared by found and failed searches.
pub(super) fn entry_head(
    var: SlaVariable,
    serve: &llmsweep_core::params::ParamItem,
    comb: &Combination,
    set: &CriteriaSet,
) -> Map<String, Value> {
    let mut entry = Map::new();
    entry.insert("combination".into(), json!(display_name(&comb.dir)));
    entry.insert("serve".into(), Value::Object(serve.as_map().clone()));
    entry.insert("bench".into(), Value::Object(comb.bench.as_map().clone()));
    entry.insert("criteria".into(), set.as_json());
    entry.insert("criteria_text".into(), json!(set.text()));
    entry.insert("sla_variable".into(), json!(var.key()));
    entry
}

/// The row of a search that failed: no value, verdict "failed", and why.
fn failed_search(
    var: SlaVariable,
    serve: &llmsweep_core::params::ParamItem,
    comb: &Combination,
    set: &CriteriaSet,
    failure: &crate::runner::Failure,
) -> SearchResult {
    let mut entry = entry_head(var, serve, comb, set);
    entry.insert("value".into(), Value::Null);
    entry.insert("verdict".into(), json!("failed"));
    entry.insert("error_type".into(), json!(failure.error_type));
    entry.insert("error".into(), json!(failure.message));
    entry.insert("reached_max".into(), json!(false));
    entry.insert("converged".into(), json!(false));
    entry.insert("metrics".into(), json!({}));
    entry.insert("steps".into(), json!(0));
    entry.insert("runs".into(), json!(0));
    entry.insert("path".into(), json!([]));
    SearchResult { entry }
}

/// Every run of every value folder, each once, in plan order.
fn all_value_runs(plan: &Plan, var: SlaVariable) -> Vec<Record> {
    value_dirs(plan, var)
        .iter()
        .flat_map(|d| completed_runs(d).unwrap_or_default())
        .collect()
}

/// The value folders on disk (`<combination>/<var>=<value>`), in plan order and by value
/// within a combination: the order of `summary.csv`.
pub fn value_dirs(plan: &Plan, var: SlaVariable) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for comb in plan.servers.iter().flat_map(|s| &s.combinations) {
        let Ok(entries) = std::fs::read_dir(&comb.dir) else {
            continue;
        };
        let mut dirs: Vec<(f64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let v = name
                    .strip_prefix(&format!("{}=", var.key()))?
                    .parse::<f64>()
                    .ok()?;
                Some((v, e.path()))
            })
            .collect();
        dirs.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.extend(dirs.into_iter().map(|(_, d)| d));
    }
    out
}

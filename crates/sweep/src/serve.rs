//! `llmsweep serve`: vLLM's `vllm bench sweep serve`. For every serve item, start the
//! server once, run every (linked) bench item `--num-runs` times with cache resets in
//! between, stop the server; write the results in vLLM's layout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use llmsweep_core::layout::{WARMUP_FILE, run_file_name, write_atomic};
use llmsweep_core::record::{Record, summary_csv};

use crate::options::{Prepared, SweepOptions};
use crate::plan::Plan;
use crate::process::quote_cmd;
use crate::progress::{TableRow, Ui};
use crate::runner::{
    BenchSettings, RunError, bench_command, completed_runs, display_name, failed_runs_on_disk,
    pending_runs, run_combination,
};
use crate::session::{
    dry_run_header, dry_run_server, for_each_server, serve_label, with_experiment,
};

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    /// `OUTPUT_DIR/EXPERIMENT`.
    pub experiment_dir: PathBuf,
    /// Nothing ran (`--dry-run`).
    pub dry_run: bool,
    /// One row per combination, for the final table.
    pub rows: Vec<TableRow>,
    /// Failures recorded with `--continue-on-error`, one line each.
    pub failures: Vec<String>,
    /// The experiment's `summary.csv`, if any run succeeded.
    pub summary_csv: Option<PathBuf>,
    /// Further tables to print (e.g. SLA answers), ready to show.
    pub tables: Vec<String>,
    /// The shard this invocation ran, if any (its folder holds only part of the sweep).
    pub shard: Option<crate::shard::Shard>,
}

impl SweepOutcome {
    /// The outcome of a dry run.
    pub fn dry_run(experiment_dir: &Path) -> Self {
        Self {
            experiment_dir: experiment_dir.to_path_buf(),
            dry_run: true,
            rows: Vec::new(),
            failures: Vec::new(),
            summary_csv: None,
            tables: Vec::new(),
            shard: None,
        }
    }
}

/// Load the options and build the plan, refusing plans that cannot run.
pub fn prepare_plan(opts: SweepOptions) -> Result<(Prepared, Plan)> {
    let prepared = Prepared::load(opts)?;
    let plan = Plan::build(
        &prepared.experiment_dir,
        &prepared.serve_params,
        &prepared.bench_params,
        &prepared.links,
    );
    if let Some((who, dir)) = plan.folder_clash() {
        anyhow::bail!(
            "{who} would both write to '{}'; give the items distinct parameters or a _benchmark_name",
            dir.display()
        );
    }
    if plan.num_combinations() == 0 {
        anyhow::bail!(
            "--link-vars '{}' leaves no (serve, bench) combination to run",
            prepared.opts.link_vars
        );
    }
    let mut plan = plan;
    if let Some(shard) = prepared.opts.shard {
        plan.servers.retain(|sp| shard.owns(sp.serve_index));
    }
    Ok((prepared, plan))
}

/// Run `llmsweep serve`.
pub fn run_serve(opts: SweepOptions) -> Result<SweepOutcome> {
    let (prepared, plan) = prepare_plan(opts)?;
    if prepared.opts.dry_run {
        print_dry_run(&prepared, &plan)?;
        return Ok(SweepOutcome::dry_run(&prepared.experiment_dir));
    }
    with_experiment(
        &prepared,
        "serve",
        Map::new(),
        || execute(&prepared, &plan),
        |o: &SweepOutcome| !o.failures.is_empty(),
    )
}

fn execute(prepared: &Prepared, plan: &Plan) -> Result<SweepOutcome> {
    let dir = &prepared.experiment_dir;
    let opts = &prepared.opts;
    let warmup = opts.warmup_num_prompts > 0;
    let total: u64 = plan
        .servers
        .iter()
        .flat_map(|s| &s.combinations)
        .map(|c| pending_runs(&c.dir, opts.num_runs, warmup))
        .sum();
    let ui = Ui::new(total);
    ui.line(&format!(
        "llmsweep: {} combinations, {} runs to do; results in {}",
        plan.num_combinations(),
        total,
        dir.display()
    ));
    let settings = BenchSettings {
        bench_cmd: prepared.cmds.bench.clone(),
        show_stdout: opts.show_stdout,
        continue_on_error: opts.continue_on_error,
    };
    // Rows and records in plan order, whether measured now or earlier.
    let mut done: Vec<Option<TableRow>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for sp in &plan.servers {
        for comb in &sp.combinations {
            index.insert(comb.dir.clone(), done.len());
            done.push(completed_runs(&comb.dir).map(|records| TableRow {
                name: display_name(&comb.dir),
                records,
                failed_runs: failed_runs_on_disk(&comb.dir, opts.num_runs),
            }));
        }
    }
    let mut failures = Vec::new();
    let needs_server = |sp: &crate::plan::ServerPlan| {
        sp.combinations
            .iter()
            .any(|c| done[index[&c.dir]].is_none())
    };
    // Keyed by serve index: a shard's plan holds only some servers.
    let needs: std::collections::HashSet<usize> = plan
        .servers
        .iter()
        .filter(|sp| needs_server(sp))
        .map(|sp| sp.serve_index)
        .collect();
    let mut run_failures = Vec::new();
    for_each_server(
        prepared,
        plan,
        &ui,
        &mut failures,
        |sp| needs.contains(&sp.serve_index),
        |server, sp| {
            for comb in &sp.combinations {
                let slot = index[&comb.dir];
                if done[slot].is_some() {
                    continue;
                }
                ui.line(&format!(
                    "[{}] {}",
                    serve_label(&sp.serve),
                    display_name(&comb.dir)
                ));
                match run_combination(
                    server,
                    &settings,
                    &sp.serve,
                    comb,
                    opts.num_runs,
                    opts.warmup_num_prompts,
                    &ui,
                ) {
                    Ok(outcome) => {
                        if outcome.failed_runs > 0 {
                            run_failures.push(format!(
                                "{}: {} of {} runs failed",
                                display_name(&comb.dir),
                                outcome.failed_runs,
                                opts.num_runs
                            ));
                        }
                        done[slot] = Some(TableRow {
                            name: display_name(&comb.dir),
                            records: outcome.records,
                            failed_runs: outcome.failed_runs,
                        });
                    }
                    Err(RunError::Failed(mut f)) => {
                        f.message = format!("{}: {}", display_name(&comb.dir), f.message);
                        return Err(RunError::Failed(f));
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        },
    )?;
    ui.finish();
    failures.extend(run_failures);
    let rows: Vec<TableRow> = done.into_iter().flatten().collect();
    let all_records: Vec<Record> = rows
        .iter()
        .flat_map(|r| r.records.iter().cloned())
        .collect();
    let summary_csv = write_summary_csv(prepared, &all_records)?;
    Ok(SweepOutcome {
        experiment_dir: dir.clone(),
        dry_run: false,
        rows,
        failures,
        summary_csv,
        tables: Vec::new(),
        shard: prepared.opts.shard,
    })
}

/// Write `summary.csv` (or a shard's `summary-shard-K.csv`) at the experiment root
/// (pandas' layout), if there are runs.
pub fn write_summary_csv(prepared: &Prepared, records: &[Record]) -> Result<Option<PathBuf>> {
    write_summary_csv_at(
        &prepared.experiment_dir,
        &prepared.summary_csv_name(),
        records,
    )
}

/// Write `dir/name` in pandas' `summary.csv` layout, if there are runs.
pub fn write_summary_csv_at(dir: &Path, name: &str, records: &[Record]) -> Result<Option<PathBuf>> {
    if records.is_empty() {
        return Ok(None);
    }
    let path = dir.join(name);
    write_atomic(&path, summary_csv(records).as_bytes())
        .with_context(|| format!("cannot write '{}'", path.display()))?;
    Ok(Some(path))
}

/// Print every command a sweep would run, ready to paste, and where results would go.
fn print_dry_run(prepared: &Prepared, plan: &Plan) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let opts = &prepared.opts;
    dry_run_header(&mut out, prepared, plan)?;
    for (i, sp) in plan.servers.iter().enumerate() {
        dry_run_server(&mut out, prepared, plan, i)?;
        if sp.skipped_by_links > 0 {
            writeln!(
                out,
                "  ({} bench items skipped by --link-vars)",
                sp.skipped_by_links
            )?;
        }
        for comb in &sp.combinations {
            writeln!(out, "  [combination] {}", comb.dir.display())?;
            if opts.warmup_num_prompts > 0 {
                let bench = comb
                    .bench
                    .with("num_prompts", Value::from(opts.warmup_num_prompts));
                writeln!(
                    out,
                    "    warm-up $ {}",
                    quote_cmd(&bench_command(
                        &prepared.cmds.bench,
                        &bench,
                        &comb.dir.join(WARMUP_FILE)
                    ))
                )?;
            }
            for run in 0..opts.num_runs {
                writeln!(
                    out,
                    "    run {run} $ {}",
                    quote_cmd(&bench_command(
                        &prepared.cmds.bench,
                        &comb.bench,
                        &comb.dir.join(run_file_name(run))
                    ))
                )?;
            }
        }
    }
    Ok(())
}

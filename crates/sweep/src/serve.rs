//! `llmsweep serve`: vLLM's `vllm bench sweep serve`. For every serve item, start the
//! server once, run every (linked) bench item `--num-runs` times with cache resets in
//! between, stop the server; write the results in vLLM's layout.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use llmsweep_core::layout::{
    SUMMARY_CSV, WARMUP_FILE, run_file_name, server_failure_file, write_atomic,
};
use llmsweep_core::params::ParamItem;
use llmsweep_core::record::{Record, summary_csv};

use crate::experiment::{clean_stale_temp_files, close_experiment, open_experiment};
use crate::leftovers;
use crate::options::{Prepared, SweepOptions};
use crate::plan::{Plan, ServerPlan};
use crate::process::quote_cmd;
use crate::progress::{TableRow, Ui};
use crate::runner::{
    BenchSettings, Failure, RunError, bench_command, completed_runs, display_name, pending_runs,
    run_combination, write_server_failure,
};
use crate::server::Server;
use crate::signals;

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
}

/// Run `llmsweep serve`.
pub fn run_serve(opts: SweepOptions) -> Result<SweepOutcome> {
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
    if prepared.opts.dry_run {
        print_dry_run(&prepared, &plan)?;
        return Ok(SweepOutcome {
            experiment_dir: prepared.experiment_dir.clone(),
            dry_run: true,
            rows: Vec::new(),
            failures: Vec::new(),
            summary_csv: None,
        });
    }
    let dir = prepared.experiment_dir.clone();
    signals::install().context("cannot install signal handlers")?;
    signals::set_resume_hint(prepared.resume_command());
    open_experiment(
        &dir,
        &prepared.identity("serve", Map::new()),
        prepared.description(),
        &prepared.opts.argv,
    )?;
    match execute(&prepared, &plan) {
        Ok(outcome) => {
            close_experiment(
                &dir,
                if outcome.failures.is_empty() {
                    "completed"
                } else {
                    "completed with failures"
                },
            )?;
            Ok(outcome)
        }
        Err(_) if signals::interrupted() => signals::wait_for_shutdown(),
        Err(e) => {
            let _ = close_experiment(&dir, &format!("stopped: {e:#}"));
            Err(e.context(format!(
                "the sweep stopped early; nothing that finished is lost. Resume with:\n  {}",
                prepared.resume_command()
            )))
        }
    }
}

fn execute(prepared: &Prepared, plan: &Plan) -> Result<SweepOutcome> {
    let dir = &prepared.experiment_dir;
    let opts = &prepared.opts;
    if opts.resume {
        clean_stale_temp_files(dir);
        for msg in leftovers::stop_leftovers(dir) {
            eprintln!("llmsweep: {msg}");
        }
    }
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
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut all_records: Vec<Record> = Vec::new();
    for (i, sp) in plan.servers.iter().enumerate() {
        let server_label = format!("server {}/{}", i + 1, plan.servers.len());
        let mut pending = Vec::new();
        for comb in &sp.combinations {
            match completed_runs(&comb.dir) {
                Some(records) => {
                    all_records.extend(records.iter().cloned());
                    rows.push(TableRow {
                        name: display_name(&comb.dir),
                        records,
                        failed_runs: 0,
                    });
                }
                None => pending.push(comb),
            }
        }
        if pending.is_empty() {
            if !sp.combinations.is_empty() {
                ui.line(&format!(
                    "[{server_label}] {}: every combination is done; not starting it",
                    serve_label(&sp.serve)
                ));
            }
            continue;
        }
        let mut server = match start_server(prepared, sp, &server_label, &ui) {
            Ok(s) => s,
            Err(failure) => {
                record_server_failure(prepared, &sp.serve, &failure, &ui)?;
                failures.push(format!(
                    "{}: {}",
                    serve_label(&sp.serve),
                    first_line(&failure.message)
                ));
                continue;
            }
        };
        for comb in pending {
            ui.line(&format!("[{server_label}] {}", display_name(&comb.dir)));
            match run_combination(
                &mut server,
                &settings,
                &sp.serve,
                comb,
                opts.num_runs,
                opts.warmup_num_prompts,
                &ui,
            ) {
                Ok(outcome) => {
                    if outcome.failed_runs > 0 {
                        failures.push(format!(
                            "{}: {} of {} runs failed",
                            display_name(&comb.dir),
                            outcome.failed_runs,
                            opts.num_runs
                        ));
                    }
                    all_records.extend(outcome.records.iter().cloned());
                    rows.push(TableRow {
                        name: display_name(&comb.dir),
                        records: outcome.records,
                        failed_runs: outcome.failed_runs,
                    });
                }
                Err(RunError::ServerDied(failure)) => {
                    record_server_failure(prepared, &sp.serve, &failure, &ui)?;
                    failures.push(format!(
                        "{}: {}",
                        serve_label(&sp.serve),
                        first_line(&failure.message)
                    ));
                    break;
                }
                Err(RunError::Failed(failure)) => {
                    anyhow::bail!("{}: {}", display_name(&comb.dir), failure.message);
                }
                Err(RunError::Interrupted) => anyhow::bail!("interrupted"),
            }
        }
        let pgid = server.pid();
        server.stop();
        leftovers::forget(dir, pgid);
    }
    ui.finish();
    let summary_csv = write_summary_csv(dir, &all_records)?;
    Ok(SweepOutcome {
        experiment_dir: dir.clone(),
        dry_run: false,
        rows,
        failures,
        summary_csv,
    })
}

/// Start a serve item's server; a failure is returned for the caller to record.
pub fn start_server(
    prepared: &Prepared,
    sp: &ServerPlan,
    label: &str,
    ui: &Ui,
) -> std::result::Result<Server, Failure> {
    let fail = |e: anyhow::Error| Failure {
        error_type: "ServerStartFailed",
        message: format!("{e:#}"),
    };
    let argv = sp.serve.apply_to_cmd(&prepared.cmds.serve);
    let base = prepared.cmds.server_base(&argv).map_err(fail)?;
    let after = prepared.cmds.after_bench_for(&argv).map_err(fail)?;
    let log = prepared.server_log(&sp.serve);
    ui.line(&format!(
        "[{label}] starting {}: {}",
        serve_label(&sp.serve),
        quote_cmd(&argv)
    ));
    ui.set_message(&format!("starting {}", serve_label(&sp.serve)));
    let started = std::time::Instant::now();
    let server = Server::start(
        &argv,
        base,
        &log,
        after,
        prepared.opts.show_stdout,
        Duration::from_secs(prepared.opts.server_ready_timeout_s),
        |pgid| leftovers::remember(&prepared.experiment_dir, pgid, &argv[0]),
    )
    .map_err(fail)?;
    ui.line(&format!(
        "[{label}] ready at {} after {:.1} s (log: {})",
        server.base(),
        started.elapsed().as_secs_f64(),
        log.display()
    ));
    Ok(server)
}

/// Write a server failure file (with `--continue-on-error`), or stop the sweep.
pub fn record_server_failure(
    prepared: &Prepared,
    serve: &ParamItem,
    failure: &Failure,
    ui: &Ui,
) -> Result<()> {
    if signals::interrupted() {
        anyhow::bail!("interrupted");
    }
    if !prepared.opts.continue_on_error {
        anyhow::bail!("{}: {}", serve_label(serve), failure.message);
    }
    let path = server_failure_file(&prepared.experiment_dir, serve);
    ui.line(&format!(
        "{} FAILED: {} (recorded in {})",
        serve_label(serve),
        first_line(&failure.message),
        path.display()
    ));
    write_server_failure(&path, failure, serve)
        .with_context(|| format!("cannot write '{}'", path.display()))
}

/// A serve item for messages.
pub fn serve_label(serve: &ParamItem) -> String {
    if serve.is_empty() {
        "default server".into()
    } else {
        format!("SERVE--{}", serve.name())
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Write `summary.csv` at the experiment root (pandas' layout), if there are runs.
pub fn write_summary_csv(dir: &std::path::Path, records: &[Record]) -> Result<Option<PathBuf>> {
    if records.is_empty() {
        return Ok(None);
    }
    let path = dir.join(SUMMARY_CSV);
    write_atomic(&path, summary_csv(records).as_bytes())
        .with_context(|| format!("cannot write '{}'", path.display()))?;
    Ok(Some(path))
}

/// Print every command a sweep would run, ready to paste, and where results would go.
fn print_dry_run(prepared: &Prepared, plan: &Plan) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let opts = &prepared.opts;
    writeln!(out, "Dry run: nothing is started or written.")?;
    writeln!(
        out,
        "Experiment folder: {}",
        prepared.experiment_dir.display()
    )?;
    for (i, sp) in plan.servers.iter().enumerate() {
        let argv = sp.serve.apply_to_cmd(&prepared.cmds.serve);
        writeln!(
            out,
            "\n[server {}/{}] {}",
            i + 1,
            plan.servers.len(),
            serve_label(&sp.serve)
        )?;
        writeln!(out, "  $ {}", quote_cmd(&argv))?;
        writeln!(
            out,
            "  ready when GET {}/health answers 200 (timeout {} s)",
            prepared.cmds.server_base(&argv)?,
            opts.server_ready_timeout_s
        )?;
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

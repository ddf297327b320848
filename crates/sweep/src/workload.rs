//! `llmsweep serve-workload`: vLLM's `vllm bench sweep serve_workload` ("Workload
//! Explorer"). For every combination, run at `max_concurrency=1` (serial) and at
//! `max_concurrency=<dataset size>` (batch), estimate the workload each reached, then run
//! evenly spaced workload levels between them: the latency–throughput curve.
//!
//! Folders: `<combination>-WL--<var>=<value>`.

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::{Map, json};

use llmsweep_core::layout::combination_dir;
use llmsweep_core::params::ParamItem;
use llmsweep_core::record::Record;

use crate::commands::dataset_size;
use crate::options::{Prepared, SweepOptions};
use crate::plan::{Combination, Plan, forbid_bench_param};
use crate::process::quote_cmd;
use crate::progress::{TableRow, Ui};
use crate::runner::{
    BenchSettings, RunError, bench_command, completed_runs, display_name, failed_runs_on_disk,
    run_combination,
};
use crate::serve::{SweepOutcome, prepare_plan, write_summary_csv};
use crate::session::{
    dry_run_header, dry_run_server, for_each_server, serve_label, with_experiment,
};
use crate::sla::SlaVariable;

/// Options of `llmsweep serve-workload`.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    /// The options shared with `llmsweep serve`.
    pub sweep: SweepOptions,
    /// `--workload-var`.
    pub variable: SlaVariable,
    /// `--workload-iters`: levels in all, serial and batch included (≥ 2).
    pub iters: u32,
}

/// The intermediate levels between the serial and the batch workload:
/// `sorted(set(round(x) for x in linspace(serial, batch, iters)[1:-1]))` with Python's
/// round-half-to-even, without the serial and batch values themselves and without values
/// below 1.
pub fn intermediate_levels(serial: f64, batch: f64, iters: u32) -> Vec<i64> {
    let n = iters.max(2) as usize;
    let mut levels: Vec<i64> = (1..n - 1)
        .map(|i| serial + (batch - serial) * i as f64 / (n - 1) as f64)
        .map(|x| x.round_ties_even() as i64)
        .filter(|v| *v >= 1 && *v as f64 != serial && *v as f64 != batch)
        .collect();
    levels.sort_unstable();
    levels.dedup();
    levels
}

/// The workload a set of runs reached: request throughput for `request_rate`; for
/// `max_concurrency`, Little's law: throughput × mean E2E latency.
pub fn estimate_workload(var: SlaVariable, records: &[Record]) -> Option<f64> {
    let mean = |k: &str| -> Option<f64> {
        let v: Vec<f64> = records
            .iter()
            .filter_map(|r| r.get(k).and_then(llmsweep_core::record::as_number))
            .filter(|x| x.is_finite())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    match var {
        SlaVariable::RequestRate => mean("request_throughput"),
        SlaVariable::MaxConcurrency => {
            Some(mean("request_throughput")? * mean("mean_e2el_ms")? / 1000.0)
        }
    }
}

/// Where one combination's curve lies: its level folders depend on the experiment folder,
/// the serve item, the combination, the variable, the number of levels and the dataset
/// size only (and, for the levels between serial and batch, on the endpoints' results).
#[derive(Debug, Clone, Copy)]
pub struct Curve<'a> {
    /// `OUTPUT_DIR/EXPERIMENT`.
    pub experiment_dir: &'a Path,
    /// The serve item.
    pub serve: &'a ParamItem,
    /// The (serve, bench) combination.
    pub comb: &'a Combination,
    /// `--workload-var`.
    pub variable: SlaVariable,
    /// `--workload-iters`.
    pub iters: u32,
    /// The bench item's dataset size (the batch level).
    pub dataset_size: u64,
}

impl Curve<'_> {
    fn level(&self, bench: ParamItem, value: i64) -> Combination {
        Combination {
            bench_index: self.comb.bench_index,
            dir: combination_dir(
                self.experiment_dir,
                self.serve,
                &self.comb.bench,
                &[("WL-", format!("{}={value}", self.variable.key()))],
            ),
            bench,
        }
    }

    /// The serial and batch runs of the combination.
    pub fn endpoints(&self) -> (Combination, Combination) {
        let var = self.variable;
        let n = self.dataset_size as i64;
        let serial = self
            .comb
            .bench
            .with("max_concurrency", json!(1))
            .with(var.key(), json!(1));
        let batch = self
            .comb
            .bench
            .with("max_concurrency", json!(n))
            .with(var.key(), json!(n));
        (self.level(serial, 1), self.level(batch, n))
    }

    /// The level combinations between the endpoints, once both have results.
    pub fn middle_levels(
        &self,
        serial: &[Record],
        batch: &[Record],
    ) -> Result<Vec<Combination>, String> {
        let var = self.variable;
        let lo = estimate_workload(var, serial)
            .ok_or("the serial runs report no request_throughput (and mean_e2el_ms)")?
            .ceil();
        let hi = estimate_workload(var, batch)
            .ok_or("the batch runs report no request_throughput (and mean_e2el_ms)")?
            .floor();
        Ok(intermediate_levels(lo, hi, self.iters)
            .into_iter()
            .map(|v| self.level(self.comb.bench.with(var.key(), json!(v)), v))
            .collect())
    }

    /// Every level that can be known from disk, in curve order (serial, the levels
    /// between, batch), and whether all of them have results.
    pub fn known_levels(&self) -> (Vec<Combination>, bool) {
        let (serial, batch) = self.endpoints();
        match (completed_runs(&serial.dir), completed_runs(&batch.dir)) {
            (Some(s), Some(b)) => {
                let mids = self.middle_levels(&s, &b).unwrap_or_default();
                let all_done = mids.iter().all(|m| completed_runs(&m.dir).is_some());
                let mut all = vec![serial];
                all.extend(mids);
                all.push(batch);
                (all, all_done)
            }
            _ => (vec![serial, batch], false),
        }
    }
}

/// The curve of a combination in this sweep.
fn curve<'a>(
    prepared: &'a Prepared,
    serve: &'a ParamItem,
    comb: &'a Combination,
    opts: &WorkloadOptions,
) -> Curve<'a> {
    Curve {
        experiment_dir: &prepared.experiment_dir,
        serve,
        comb,
        variable: opts.variable,
        iters: opts.iters,
        dataset_size: dataset_size(&comb.bench, &prepared.cmds.bench),
    }
}

/// Run `llmsweep serve-workload`.
pub fn run_serve_workload(opts: WorkloadOptions) -> Result<SweepOutcome> {
    if opts.iters < 2 {
        bail!(
            "--workload-iters must be at least 2 (it counts the serial and batch levels); got {}",
            opts.iters
        );
    }
    let (prepared, plan) = prepare_plan(opts.sweep.clone())?;
    forbid_bench_param(&prepared.bench_params, opts.variable.key()).map_err(anyhow::Error::msg)?;
    if prepared.opts.dry_run {
        print_dry_run(&prepared, &plan, &opts)?;
        return Ok(SweepOutcome::dry_run(&prepared.experiment_dir));
    }
    let mut identity = Map::new();
    identity.insert("workload_var".into(), json!(opts.variable.key()));
    identity.insert("workload_iters".into(), json!(opts.iters));
    with_experiment(
        &prepared,
        "serve-workload",
        identity,
        || execute(&prepared, &plan, &opts),
        |o: &SweepOutcome| !o.failures.is_empty(),
    )
}

fn execute(prepared: &Prepared, plan: &Plan, opts: &WorkloadOptions) -> Result<SweepOutcome> {
    let dir = &prepared.experiment_dir;
    let ui = Ui::new_unbounded();
    ui.line(&format!(
        "llmsweep: workload sweep of {} ({} levels) over {} combinations; results in {}",
        opts.variable.key(),
        opts.iters,
        plan.num_combinations(),
        dir.display()
    ));
    let settings = BenchSettings {
        bench_cmd: prepared.cmds.bench.clone(),
        show_stdout: prepared.opts.show_stdout,
        continue_on_error: prepared.opts.continue_on_error,
    };
    // Keyed by serve index: a shard's plan holds only some servers.
    let needs: std::collections::HashSet<usize> = plan
        .servers
        .iter()
        .filter(|sp| {
            sp.combinations
                .iter()
                .any(|c| !curve(prepared, &sp.serve, c, opts).known_levels().1)
        })
        .map(|sp| sp.serve_index)
        .collect();
    let mut failures = Vec::new();
    let mut level_failures = Vec::new();
    let num_runs = prepared.opts.num_runs;
    let warmup = prepared.opts.warmup_num_prompts;
    let run_level = |server: &mut crate::server::Server,
                     serve: &ParamItem,
                     c: &Combination,
                     failures: &mut Vec<String>|
     -> Result<Vec<Record>, RunError> {
        if let Some(r) = completed_runs(&c.dir) {
            return Ok(r);
        }
        ui.line(&format!(
            "[{}] {}",
            serve_label(serve),
            display_name(&c.dir)
        ));
        let outcome = run_combination(server, &settings, serve, c, num_runs, warmup, &ui)?;
        if outcome.failed_runs > 0 {
            failures.push(format!(
                "{}: {} of {num_runs} runs failed",
                display_name(&c.dir),
                outcome.failed_runs
            ));
        }
        Ok(outcome.records)
    };
    for_each_server(
        prepared,
        plan,
        &ui,
        &mut failures,
        |sp| needs.contains(&sp.serve_index),
        |server, sp| {
            for comb in &sp.combinations {
                let comb_curve = curve(prepared, &sp.serve, comb, opts);
                let (serial, batch) = comb_curve.endpoints();
                let s = run_level(server, &sp.serve, &serial, &mut level_failures)?;
                let b = run_level(server, &sp.serve, &batch, &mut level_failures)?;
                if s.is_empty() || b.is_empty() {
                    level_failures.push(format!(
                        "{}: no successful serial or batch run; its levels cannot be placed",
                        display_name(&comb.dir)
                    ));
                    continue;
                }
                match comb_curve.middle_levels(&s, &b) {
                    Ok(mids) => {
                        ui.line(&format!(
                            "  workload levels of {}: {}",
                            opts.variable.key(),
                            mids.iter()
                                .map(|m| m
                                    .bench
                                    .get(opts.variable.key())
                                    .map(|v| v.to_string())
                                    .unwrap_or_default())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        for m in &mids {
                            run_level(server, &sp.serve, m, &mut level_failures)?;
                        }
                    }
                    Err(why) => level_failures.push(format!("{}: {why}", display_name(&comb.dir))),
                }
            }
            Ok(())
        },
    )?;
    ui.finish();
    failures.extend(level_failures);
    let mut rows = Vec::new();
    for sp in &plan.servers {
        for comb in &sp.combinations {
            for c in curve(prepared, &sp.serve, comb, opts).known_levels().0 {
                if let Some(records) = completed_runs(&c.dir) {
                    rows.push(TableRow {
                        name: display_name(&c.dir),
                        records,
                        failed_runs: failed_runs_on_disk(&c.dir, num_runs),
                    });
                }
            }
        }
    }
    let all: Vec<Record> = rows
        .iter()
        .flat_map(|r| r.records.iter().cloned())
        .collect();
    let summary_csv = write_summary_csv(prepared, &all)?;
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

fn print_dry_run(prepared: &Prepared, plan: &Plan, opts: &WorkloadOptions) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    dry_run_header(&mut out, prepared, plan)?;
    for (i, sp) in plan.servers.iter().enumerate() {
        dry_run_server(&mut out, prepared, plan, i)?;
        for comb in &sp.combinations {
            let comb_curve = curve(prepared, &sp.serve, comb, opts);
            let (serial, batch) = comb_curve.endpoints();
            for (what, c) in [("serial", &serial), ("batch", &batch)] {
                writeln!(out, "  [{what}] {}", c.dir.display())?;
                for run in 0..prepared.opts.num_runs {
                    writeln!(
                        out,
                        "    run {run} $ {}",
                        quote_cmd(&bench_command(
                            &prepared.cmds.bench,
                            &c.bench,
                            &c.dir.join(llmsweep_core::layout::run_file_name(run))
                        ))
                    )?;
                }
            }
            writeln!(
                out,
                "  then {} levels of {} evenly spaced between the workloads the two reach",
                opts.iters.saturating_sub(2),
                opts.variable.key()
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_follow_numpy_linspace_and_python_round() {
        // np.linspace(1, 20, 10)[1:-1] = 3.11, 5.22, 7.33, 9.44, 11.56, 13.67, 15.78, 17.89
        assert_eq!(
            intermediate_levels(1.0, 20.0, 10),
            vec![3, 5, 7, 9, 12, 14, 16, 18]
        );
        // Halves round to even: linspace(1, 4, 3) = 1, 2.5, 4 → 2.
        assert_eq!(intermediate_levels(1.0, 4.0, 3), vec![2]);
        assert_eq!(intermediate_levels(1.0, 3.0, 10), vec![2]);
        assert!(intermediate_levels(5.0, 9.0, 2).is_empty());
    }

    #[test]
    fn workload_estimates() {
        let r = |t: f64, e: f64| {
            json!({"request_throughput": t, "mean_e2el_ms": e})
                .as_object()
                .unwrap()
                .clone()
        };
        let runs = [r(10.0, 400.0), r(12.0, 600.0)];
        assert_eq!(
            estimate_workload(SlaVariable::RequestRate, &runs),
            Some(11.0)
        );
        assert_eq!(
            estimate_workload(SlaVariable::MaxConcurrency, &runs),
            Some(5.5)
        );
        assert_eq!(
            estimate_workload(
                SlaVariable::MaxConcurrency,
                &[json!({"request_throughput": 1})
                    .as_object()
                    .unwrap()
                    .clone()]
            ),
            None
        );
    }
}

//! One SLA search: measure values as the search asks (reusing runs already on disk),
//! judge them against one criteria set, measure more runs where runs disagree.

use serde_json::{Map, Value, json};

use llmsweep_core::params::ParamItem;
use llmsweep_core::record::{Record, as_number};

use super::criteria::CriteriaSet;
use super::{Ctx, PathStep, SearchResult, SlaVariable, entry_head, sla_file};
use crate::commands::dataset_size;
use crate::plan::Combination;
use crate::runner::{Failure, RunError, completed_runs, display_name, run_combination};
use crate::search::{Domain, Search, Step};
use crate::server::Server;

/// The runs at one value of one combination.
fn value_combination(comb: &Combination, var: SlaVariable, v: f64) -> Combination {
    Combination {
        bench_index: comb.bench_index,
        bench: comb.bench.with(var.key(), var.json(v)),
        dir: comb.dir.join(format!("{}={}", var.key(), var.text(v))),
    }
}

/// The runs at `v`: from disk when at least `runs` are there, else measured (which needs
/// a server).
fn runs_at(
    ctx: &Ctx,
    server: &mut Option<&mut Server>,
    serve: &ParamItem,
    comb: &Combination,
    v: f64,
    runs: u32,
) -> Result<Vec<Record>, RunError> {
    let at = value_combination(comb, ctx.opts.variable, v);
    if let Some(records) = completed_runs(&at.dir)
        && records.len() >= runs as usize
    {
        return Ok(records);
    }
    let Some(server) = server.as_deref_mut() else {
        return Err(RunError::Failed(Failure {
            error_type: "MissingResults",
            message: format!(
                "{} has fewer than {runs} runs on disk and no server is running",
                at.dir.display()
            ),
        }));
    };
    ctx.ui.line(&format!(
        "  {}={} ({} runs)",
        ctx.opts.variable.key(),
        ctx.opts.variable.text(v),
        runs
    ));
    let before = completed_runs(&at.dir).map_or(0, |r| r.len());
    let outcome = run_combination(
        server,
        &ctx.settings,
        serve,
        &at,
        runs,
        ctx.prepared.opts.warmup_num_prompts,
        ctx.ui,
    )?;
    ctx.measured
        .set(ctx.measured.get() + outcome.records.len().saturating_sub(before));
    if outcome.records.is_empty() {
        return Err(RunError::Failed(Failure {
            error_type: "NoSuccessfulRun",
            message: format!(
                "no run succeeded at {}; see its failure files",
                at.dir.display()
            ),
        }));
    }
    Ok(outcome.records)
}

/// Mean of each metric of `set` over `records`, per-run verdicts, and the judgement of the
/// means (which the search follows).
struct Judged {
    means: Vec<f64>,
    margin: f64,
    pass: bool,
    verdict: &'static str,
}

fn judge(set: &CriteriaSet, records: &[Record], source: &str) -> Result<Judged, RunError> {
    let fail = |e: anyhow::Error| {
        RunError::Failed(Failure {
            error_type: "MissingMetric",
            message: format!("{e:#}"),
        })
    };
    let per_run: Vec<Vec<f64>> = records
        .iter()
        .map(|r| set.metric_values(r, source))
        .collect::<anyhow::Result<_>>()
        .map_err(fail)?;
    let n = per_run.len() as f64;
    let means: Vec<f64> = (0..set.criteria.len())
        .map(|i| per_run.iter().map(|v| v[i]).sum::<f64>() / n)
        .collect();
    let passes = per_run.iter().filter(|v| set.judge(v).1).count();
    let (margin, pass) = set.judge(&means);
    let verdict = if passes == per_run.len() {
        "pass"
    } else if passes == 0 {
        "fail"
    } else {
        "inconclusive"
    };
    Ok(Judged {
        means,
        margin,
        pass,
        verdict,
    })
}

/// Run one search for (combination, criteria set). `server` is `None` when replaying a
/// finished search from disk.
pub(super) fn search(
    ctx: &Ctx,
    mut server: Option<&mut Server>,
    serve: &ParamItem,
    comb: &Combination,
    set: &CriteriaSet,
    hint: Option<f64>,
) -> Result<SearchResult, RunError> {
    let var = ctx.opts.variable;
    let num_runs = ctx.prepared.opts.num_runs;
    let (domain, min, max) = match var {
        SlaVariable::MaxConcurrency => (
            Domain::Integer,
            ctx.opts.min_value.unwrap_or(1.0).max(1.0).round(),
            ctx.opts
                .max_value
                .unwrap_or_else(|| dataset_size(&comb.bench, &ctx.prepared.cmds.bench) as f64)
                .round(),
        ),
        SlaVariable::RequestRate => (
            Domain::Real {
                rel_tol: ctx.opts.tolerance,
            },
            ctx.opts.min_value.unwrap_or(1.0),
            ctx.opts.max_value.unwrap_or(f64::INFINITY),
        ),
    };
    if server.is_some() {
        ctx.ui.line(&format!(
            "[SLA] {} · {} · {} in [{}, {}]",
            display_name(&comb.dir),
            set.text(),
            var.key(),
            var.text(min),
            var.text(max)
        ));
    }
    let mut s = Search::new(domain, min, max, hint);
    let mut path: Vec<PathStep> = Vec::new();
    let mut visited: Vec<(f64, Vec<Record>, Judged)> = Vec::new();
    let answer = loop {
        match s.next() {
            Step::Done(a) => break a,
            Step::Measure(v) => {
                let mut records = runs_at(ctx, &mut server, serve, comb, v, num_runs)?;
                let source = value_combination(comb, var, v).dir.display().to_string();
                let mut j = judge(set, &records, &source)?;
                // Runs that disagree: measure more here, near the boundary, rather than
                // trusting the mean of a few.
                if j.verdict == "inconclusive" && (records.len() as u32) < ctx.max_runs {
                    records = runs_at(ctx, &mut server, serve, comb, v, ctx.max_runs)?;
                    j = judge(set, &records, &source)?;
                }
                let throughput = mean_of(&records, "request_throughput");
                s.record(v, j.margin, j.pass, throughput);
                if server.is_some() {
                    ctx.ui.line(&format!(
                        "    {}={}: margin {:+.3} → {}",
                        var.key(),
                        var.text(v),
                        j.margin,
                        j.verdict
                    ));
                }
                path.push(PathStep {
                    value: v,
                    margin: j.margin,
                    verdict: j.verdict,
                    runs: records.len(),
                });
                visited.retain(|(x, _, _)| *x != v);
                visited.push((v, records, j));
            }
        }
    };
    let found = answer
        .value
        .and_then(|v| visited.iter().find(|(x, _, _)| *x == v));
    let mut metrics = Map::new();
    let verdict = match found {
        None => "none",
        Some((_, records, j)) => {
            for (c, m) in set.criteria.iter().zip(&j.means) {
                metrics.insert(c.metric.clone(), json!(m));
            }
            for key in [
                "request_throughput",
                "output_throughput",
                "p99_ttft_ms",
                "p99_tpot_ms",
                "p99_e2el_ms",
            ] {
                if let Some(m) = mean_of(records, key) {
                    metrics.entry(key.to_string()).or_insert(json!(m));
                }
            }
            j.verdict
        }
    };
    let runs: Vec<Record> = visited
        .iter()
        .flat_map(|(_, r, _)| r.iter().cloned())
        .collect();
    let mut entry = entry_head(var, serve, comb, set);
    entry.insert(
        "value".into(),
        answer.value.map(|v| var.json(v)).unwrap_or(Value::Null),
    );
    entry.insert("verdict".into(), json!(verdict));
    entry.insert("reached_max".into(), json!(answer.reached_max));
    entry.insert("converged".into(), json!(!answer.unconverged));
    entry.insert("range".into(), json!([var.json(min), var.json(max)]));
    entry.insert("metrics".into(), Value::Object(metrics));
    entry.insert("steps".into(), json!(path.len()));
    entry.insert("runs".into(), json!(runs.len()));
    entry.insert(
        "path".into(),
        Value::Array(
            path.iter()
                .map(|p| json!({"value": var.json(p.value), "margin": p.margin, "verdict": p.verdict, "runs": p.runs}))
                .collect(),
        ),
    );
    let file = sla_file(comb, set);
    if server.is_some() || !file.exists() {
        let list = Value::Array(runs.iter().cloned().map(Value::Object).collect());
        llmsweep_core::layout::write_atomic(
            &file,
            llmsweep_core::record::to_json_pretty(&list).as_bytes(),
        )
        .map_err(|e| {
            RunError::Failed(Failure {
                error_type: "WriteFailed",
                message: format!("cannot write '{}': {e}", file.display()),
            })
        })?;
    }
    if server.is_some() {
        let shown = answer
            .value
            .map(|v| var.text(v))
            .unwrap_or_else(|| "none".into());
        ctx.ui.line(&format!(
            "  → largest {} meeting {}: {} ({verdict}; {} steps, {} runs)",
            var.key(),
            set.text(),
            shown,
            path.len(),
            runs.len()
        ));
    }
    Ok(SearchResult { entry })
}

/// The mean of a numeric key over the records that have it.
pub(super) fn mean_of(records: &[Record], key: &str) -> Option<f64> {
    let vals: Vec<f64> = records
        .iter()
        .filter_map(|r| r.get(key).and_then(as_number))
        .filter(|v| v.is_finite())
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

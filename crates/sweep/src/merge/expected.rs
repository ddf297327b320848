//! What a complete experiment holds, rebuilt from its `experiment.json` the way the sweep
//! planned it: the combinations in plan order, the folders whose `summary.json` make up
//! `summary.csv` (in the order a one-process sweep writes them), and for `serve-sla` the
//! searches. Each combination notes what it still lacks on disk.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};

use llmsweep_core::layout::server_failure_file;
use llmsweep_core::params::{ParamItem, ParamSweep};

use crate::commands::dataset_size;
use crate::experiment::EXPERIMENT_JSON;
use crate::plan::{Plan, parse_link_vars};
use crate::runner::{completed_runs, display_name, summary_path};
use crate::sla::criteria::parse_sla_params;
use crate::sla::{SlaVariable, sla_file, value_dirs};
use crate::startup::plan::plan as startup_plan;
use crate::workload::Curve;

/// One planned combination.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Planned {
    /// Its folder, relative to the experiment.
    pub name: String,
    /// Where its files live (a workload combination has a folder per level).
    pub dirs: Vec<PathBuf>,
    /// Its server's failure file, where one could be (not for start-up sweeps).
    pub server_failure: Option<PathBuf>,
    /// What it lacks, one phrase each; empty when complete.
    pub missing: Vec<String>,
}

/// One SLA search: a combination and a criteria set.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PlannedSearch {
    /// Index of its combination in [`Expected::combinations`].
    pub combination: usize,
    /// The combination's name in `sla_results.json` (its folder name).
    pub combination_name: String,
    /// The criteria set as `sla_results.json` names it.
    pub criteria_text: String,
    /// Whether its `SLA--<criteria>.json` exists.
    pub searched: bool,
}

/// The experiment as planned.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Expected {
    /// Planned combinations, in plan order.
    pub combinations: Vec<Planned>,
    /// Folders whose `summary.json` make up `summary.csv`, in order.
    pub summary_dirs: Vec<PathBuf>,
    /// `serve-sla`: the searches, in plan order then criteria order.
    pub searches: Vec<PlannedSearch>,
}

/// A folder's name relative to the experiment, for messages.
fn relative_name(dir: &Path, target: &Path) -> String {
    match dir.strip_prefix(target) {
        Ok(rel) if rel.as_os_str().is_empty() => "(the experiment folder)".into(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

/// What a combination folder without results lacks.
fn lacks(dir: &Path, target: &Path) -> Option<&'static str> {
    if summary_path(dir).exists() {
        None
    } else if dir.is_dir() && dir != target {
        Some("unfinished (no summary.json)")
    } else {
        Some("not run")
    }
}

/// Rebuild the plan of the experiment in `target` from its record.
pub(super) fn expected(target: &Path, doc: &Map<String, Value>) -> Result<Expected> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    match kind {
        "serve" => serve(target, doc),
        "serve-sla" => serve_sla(target, doc),
        "serve-workload" => serve_workload(target, doc),
        "startup" => startup(target, doc),
        other => bail!(
            "'{}': unknown kind '{other}'; expected serve, serve-sla, serve-workload or startup (was it written by a newer llmsweep?)",
            target.join(EXPERIMENT_JSON).display()
        ),
    }
}

/// A parameter file's recorded contents (`null`: no file, one empty item).
fn params(target: &Path, doc: &Map<String, Value>, key: &str) -> Result<ParamSweep> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(ParamSweep::single_empty()),
        Some(v) => ParamSweep::from_json_value(v.clone(), &target.join(EXPERIMENT_JSON))
            .with_context(|| format!("reading '{key}'")),
    }
}

fn setting<'a>(target: &Path, doc: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    doc.get(key).ok_or_else(|| {
        anyhow!(
            "'{}' has no '{key}'; was it written by llmsweep?",
            target.join(EXPERIMENT_JSON).display()
        )
    })
}

fn variable(target: &Path, doc: &Map<String, Value>, key: &str) -> Result<SlaVariable> {
    let v = setting(target, doc, key)?;
    v.as_str().and_then(SlaVariable::from_key).ok_or_else(|| {
        anyhow!(
            "'{}': {key} is {v}; expected \"request_rate\" or \"max_concurrency\"",
            target.join(EXPERIMENT_JSON).display()
        )
    })
}

/// The serve × bench plan of a server sweep.
fn server_plan(target: &Path, doc: &Map<String, Value>) -> Result<Plan> {
    let links = doc.get("link_vars").and_then(Value::as_str).unwrap_or("");
    let links = parse_link_vars(links)
        .map_err(|e| anyhow!("'{}': {e}", target.join(EXPERIMENT_JSON).display()))?;
    Ok(Plan::build(
        target,
        &params(target, doc, "serve_params")?,
        &params(target, doc, "bench_params")?,
        &links,
    ))
}

fn planned(target: &Path, serve: &ParamItem, dirs: Vec<PathBuf>, missing: Vec<String>) -> Planned {
    Planned {
        name: relative_name(&dirs[0], target),
        dirs,
        server_failure: Some(server_failure_file(target, serve)),
        missing,
    }
}

fn serve(target: &Path, doc: &Map<String, Value>) -> Result<Expected> {
    let mut out = Expected::default();
    for sp in server_plan(target, doc)?.servers {
        for comb in sp.combinations {
            let missing = lacks(&comb.dir, target)
                .into_iter()
                .map(String::from)
                .collect();
            out.summary_dirs.push(comb.dir.clone());
            out.combinations
                .push(planned(target, &sp.serve, vec![comb.dir], missing));
        }
    }
    Ok(out)
}

fn serve_sla(target: &Path, doc: &Map<String, Value>) -> Result<Expected> {
    let sets = parse_sla_params(
        setting(target, doc, "sla_params")?.clone(),
        &target.join(EXPERIMENT_JSON),
    )?;
    let var = variable(target, doc, "sla_variable")?;
    let plan = server_plan(target, doc)?;
    let mut out = Expected::default();
    for sp in &plan.servers {
        for comb in &sp.combinations {
            let index = out.combinations.len();
            let mut missing = Vec::new();
            for set in &sets {
                let searched = sla_file(comb, set).exists();
                if !searched {
                    missing.push(format!("no search for {} (SLA--….json)", set.text()));
                }
                out.searches.push(PlannedSearch {
                    combination: index,
                    combination_name: display_name(&comb.dir),
                    criteria_text: set.text(),
                    searched,
                });
            }
            out.combinations
                .push(planned(target, &sp.serve, vec![comb.dir.clone()], missing));
        }
    }
    out.summary_dirs = value_dirs(&plan, var);
    Ok(out)
}

fn serve_workload(target: &Path, doc: &Map<String, Value>) -> Result<Expected> {
    let var = variable(target, doc, "workload_var")?;
    let iters = setting(target, doc, "workload_iters")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            anyhow!(
                "'{}': workload_iters is not a whole number",
                target.join(EXPERIMENT_JSON).display()
            )
        })?;
    // The resolved benchmark command gives the dataset size when no bench item does.
    let bench_cmd: Vec<String> = doc
        .get("bench_cmd")
        .and_then(Value::as_array)
        .map(|words| {
            words
                .iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Expected::default();
    for sp in server_plan(target, doc)?.servers {
        for comb in &sp.combinations {
            let curve = Curve {
                experiment_dir: target,
                serve: &sp.serve,
                comb,
                variable: var,
                iters,
                dataset_size: dataset_size(&comb.bench, &bench_cmd),
            };
            let (levels, _) = curve.known_levels();
            let mut missing: Vec<String> = levels
                .iter()
                .filter_map(|l| {
                    lacks(&l.dir, target)
                        .map(|what| format!("{}: {what}", relative_name(&l.dir, target)))
                })
                .collect();
            if let [serial, batch] = levels.as_slice()
                && iters > 2
                && let (Some(s), Some(b)) =
                    (completed_runs(&serial.dir), completed_runs(&batch.dir))
                && let Err(why) = curve.middle_levels(&s, &b)
            {
                missing.push(format!("the levels between serial and batch: {why}"));
            }
            let dirs: Vec<PathBuf> = levels.into_iter().map(|l| l.dir).collect();
            out.summary_dirs.extend(dirs.iter().cloned());
            let mut p = planned(target, &sp.serve, dirs, missing);
            p.name = relative_name(&comb.dir, target);
            out.combinations.push(p);
        }
    }
    Ok(out)
}

fn startup(target: &Path, doc: &Map<String, Value>) -> Result<Expected> {
    // Recorded by the sweep; older records lack it: plan from the items as given (exact
    // unless the startup command dropped keys it does not accept).
    let dirs: Vec<PathBuf> = match doc.get("combinations").and_then(Value::as_array) {
        Some(names) => names
            .iter()
            .map(|n| {
                n.as_str().map(|n| target.join(n)).ok_or_else(|| {
                    anyhow!(
                        "'{}': combinations must list folder names; found {n}",
                        target.join(EXPERIMENT_JSON).display()
                    )
                })
            })
            .collect::<Result<_>>()?,
        None => startup_plan(
            target,
            &params(target, doc, "serve_params")?.into_items(),
            &params(target, doc, "startup_params")?.into_items(),
        )?
        .into_iter()
        .map(|c| c.dir)
        .collect(),
    };
    let mut out = Expected::default();
    for dir in dirs {
        let missing = lacks(&dir, target).into_iter().map(String::from).collect();
        out.summary_dirs.push(dir.clone());
        out.combinations.push(Planned {
            name: relative_name(&dir, target),
            dirs: vec![dir],
            server_failure: None,
            missing,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn names(e: &Expected) -> Vec<&str> {
        e.combinations.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn serve_plan_order_with_links() {
        let t = tempfile::tempdir().unwrap();
        let d = doc(json!({
            "kind": "serve",
            "serve_params": [{"tp": 2}, {"tp": 1}],
            "bench_params": [{"tp": 1, "c": 1}, {"tp": 2, "c": 1}, {"tp": 2, "c": 8}],
            "link_vars": "tp=tp",
        }));
        put(t.path(), "SERVE--tp=1-BENCH--tp=1-c=1/summary.json", "[]");
        std::fs::create_dir_all(t.path().join("SERVE--tp=2-BENCH--tp=2-c=8")).unwrap();
        let e = expected(t.path(), &d).unwrap();
        assert_eq!(
            names(&e),
            [
                "SERVE--tp=2-BENCH--tp=2-c=1",
                "SERVE--tp=2-BENCH--tp=2-c=8",
                "SERVE--tp=1-BENCH--tp=1-c=1"
            ]
        );
        assert_eq!(e.combinations[0].missing, ["not run"]);
        assert_eq!(e.combinations[1].missing, ["unfinished (no summary.json)"]);
        assert!(e.combinations[2].missing.is_empty());
        assert_eq!(
            e.combinations[2].server_failure,
            Some(t.path().join("SERVE-tp=1-failure.json"))
        );
        assert_eq!(
            e.summary_dirs[2],
            t.path().join("SERVE--tp=1-BENCH--tp=1-c=1")
        );
    }

    #[test]
    fn a_sweep_without_parameter_files_is_its_own_folder() {
        let t = tempfile::tempdir().unwrap();
        let e = expected(t.path(), &doc(json!({"kind": "serve"}))).unwrap();
        assert_eq!(names(&e), ["(the experiment folder)"]);
        assert_eq!(e.summary_dirs, [t.path().to_path_buf()]);
        assert_eq!(e.combinations[0].missing, ["not run"]);
    }

    #[test]
    fn sla_searches_in_plan_then_criteria_order() {
        let t = tempfile::tempdir().unwrap();
        let d = doc(json!({
            "kind": "serve-sla",
            "serve_params": [{"a": 1}, {"a": 2}],
            "sla_params": [{"p99_e2el_ms": "<=500"}, {"p99_e2el_ms": "<=200"}],
            "sla_variable": "max_concurrency",
        }));
        put(t.path(), "SERVE--a=1/SLA--p99_e2el_ms<=500.00.json", "[]");
        put(t.path(), "SERVE--a=1/max_concurrency=10/summary.json", "[]");
        put(t.path(), "SERVE--a=1/max_concurrency=2/summary.json", "[]");
        let e = expected(t.path(), &d).unwrap();
        let searches: Vec<(usize, &str, bool)> = e
            .searches
            .iter()
            .map(|s| (s.combination, s.criteria_text.as_str(), s.searched))
            .collect();
        assert_eq!(
            searches,
            [
                (0, "p99_e2el_ms<=500.00", true),
                (0, "p99_e2el_ms<=200.00", false),
                (1, "p99_e2el_ms<=500.00", false),
                (1, "p99_e2el_ms<=200.00", false)
            ]
        );
        assert_eq!(e.searches[0].combination_name, "SERVE--a=1");
        assert_eq!(
            e.combinations[0].missing,
            ["no search for p99_e2el_ms<=200.00 (SLA--….json)"]
        );
        // Value folders by value, not by name.
        assert_eq!(
            e.summary_dirs,
            [
                t.path().join("SERVE--a=1/max_concurrency=2"),
                t.path().join("SERVE--a=1/max_concurrency=10")
            ]
        );
        let mut bad = d.clone();
        bad.insert("sla_variable".into(), json!("qps"));
        let err = expected(t.path(), &bad).unwrap_err().to_string();
        assert!(
            err.contains("sla_variable") && err.contains("\"qps\""),
            "{err}"
        );
    }

    #[test]
    fn workload_levels_follow_the_curve() {
        let t = tempfile::tempdir().unwrap();
        let d = doc(json!({
            "kind": "serve-workload",
            "bench_params": [{"num_prompts": 20}],
            "workload_var": "max_concurrency",
            "workload_iters": 4,
            "bench_cmd": ["b"],
        }));
        let e = expected(t.path(), &d).unwrap();
        assert_eq!(names(&e), ["BENCH--num_prompts=20"]);
        assert_eq!(
            e.combinations[0].missing,
            [
                "BENCH--num_prompts=20-WL--max_concurrency=1: not run",
                "BENCH--num_prompts=20-WL--max_concurrency=20: not run"
            ]
        );
        // Serial reaches a workload of 1, batch of 19: levels 7 and 13 between.
        put(
            t.path(),
            "BENCH--num_prompts=20-WL--max_concurrency=1/summary.json",
            r#"[{"request_throughput": 10, "mean_e2el_ms": 100}]"#,
        );
        put(
            t.path(),
            "BENCH--num_prompts=20-WL--max_concurrency=20/summary.json",
            r#"[{"request_throughput": 19, "mean_e2el_ms": 1000}]"#,
        );
        put(
            t.path(),
            "BENCH--num_prompts=20-WL--max_concurrency=7/summary.json",
            "[]",
        );
        let e = expected(t.path(), &d).unwrap();
        let levels: Vec<String> = e
            .summary_dirs
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            levels,
            [
                "BENCH--num_prompts=20-WL--max_concurrency=1",
                "BENCH--num_prompts=20-WL--max_concurrency=7",
                "BENCH--num_prompts=20-WL--max_concurrency=13",
                "BENCH--num_prompts=20-WL--max_concurrency=20"
            ]
        );
        assert_eq!(
            e.combinations[0].missing,
            ["BENCH--num_prompts=20-WL--max_concurrency=13: not run"]
        );
    }

    #[test]
    fn startup_uses_the_recorded_folders() {
        let t = tempfile::tempdir().unwrap();
        let d = doc(json!({
            "kind": "startup",
            "serve_params": [{"a": 1, "dropped": 1}],
            "startup_params": [{"n": 1}],
            "combinations": ["SERVE--a=1-STARTUP--n=1"],
        }));
        let e = expected(t.path(), &d).unwrap();
        assert_eq!(names(&e), ["SERVE--a=1-STARTUP--n=1"]);
        assert_eq!(e.combinations[0].server_failure, None);
        let mut old = d.clone();
        old.remove("combinations");
        let e = expected(t.path(), &old).unwrap();
        assert_eq!(names(&e), ["SERVE--a=1-dropped=1-STARTUP--n=1"]);
    }

    #[test]
    fn unknown_kinds_are_named() {
        let t = tempfile::tempdir().unwrap();
        let e = expected(t.path(), &doc(json!({"kind": "teleport"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown kind 'teleport'"), "{e}");
    }
}

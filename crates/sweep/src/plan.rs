//! Planning a sweep: the ordered (serve, bench) combinations that will run, a pure function
//! of the parameter items and `--link-vars`. `--dry-run` prints this plan.

use std::path::{Path, PathBuf};

use llmsweep_core::layout::combination_dir;
use llmsweep_core::params::{ParamItem, ParamSweep};
use llmsweep_core::pyfmt::py_repr;

/// One `serve_key=bench_key` pair of `--link-vars`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkVar {
    /// The key in the serve item.
    pub serve_key: String,
    /// The key in the bench item.
    pub bench_key: String,
}

/// Parse `--link-vars serve_key=bench_key,...`; an empty text links nothing.
pub fn parse_link_vars(text: &str) -> Result<Vec<LinkVar>, String> {
    let mut out = Vec::new();
    for (i, entry) in text.split(',').map(str::trim).enumerate() {
        if entry.is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return Err(format!(
                "--link-vars: entry {} is empty in '{text}'; expected serve_key=bench_key,…",
                i + 1
            ));
        }
        let parts: Vec<&str> = entry.split('=').collect();
        match parts.as_slice() {
            [s, b] if !s.trim().is_empty() && !b.trim().is_empty() => out.push(LinkVar {
                serve_key: s.trim().to_string(),
                bench_key: b.trim().to_string(),
            }),
            _ => {
                return Err(format!(
                    "--link-vars: entry '{entry}' must be serve_key=bench_key (e.g. max_num_seqs=max_concurrency)"
                ));
            }
        }
    }
    Ok(out)
}

/// Does the pair run under `links`? As in vLLM: every linked key must be present on both
/// sides with equal values.
pub fn links_allow(serve: &ParamItem, bench: &ParamItem, links: &[LinkVar]) -> bool {
    links.iter().all(
        |l| match (serve.get(&l.serve_key), bench.get(&l.bench_key)) {
            (Some(a), Some(b)) => values_equal(a, b),
            _ => false,
        },
    )
}

/// JSON values equal as Python compares them: `1 == 1.0`.
fn values_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

/// One (serve, bench) combination and its result folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    /// Index of the bench item in its file.
    pub bench_index: usize,
    /// The bench item.
    pub bench: ParamItem,
    /// Where its runs go.
    pub dir: PathBuf,
}

/// One server and the combinations it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPlan {
    /// Index of the serve item in its file.
    pub serve_index: usize,
    /// The serve item.
    pub serve: ParamItem,
    /// Its combinations, in bench-file order.
    pub combinations: Vec<Combination>,
    /// Bench items skipped by `--link-vars` for this server.
    pub skipped_by_links: usize,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One entry per serve item (servers with no combination left are kept, empty).
    pub servers: Vec<ServerPlan>,
}

impl Plan {
    /// Serve × bench, outer loop over servers, filtered by `links`.
    pub fn build(
        experiment_dir: &Path,
        serve: &ParamSweep,
        bench: &ParamSweep,
        links: &[LinkVar],
    ) -> Plan {
        let servers = serve
            .iter()
            .enumerate()
            .map(|(serve_index, s)| {
                let mut combinations = Vec::new();
                let mut skipped = 0;
                for (bench_index, b) in bench.iter().enumerate() {
                    if links_allow(s, b, links) {
                        combinations.push(Combination {
                            bench_index,
                            bench: b.clone(),
                            dir: combination_dir(experiment_dir, s, b, &[]),
                        });
                    } else {
                        skipped += 1;
                    }
                }
                ServerPlan {
                    serve_index,
                    serve: s.clone(),
                    combinations,
                    skipped_by_links: skipped,
                }
            })
            .collect();
        Plan { servers }
    }

    /// Number of combinations over all servers.
    pub fn num_combinations(&self) -> usize {
        self.servers.iter().map(|s| s.combinations.len()).sum()
    }

    /// Two combinations that would write to the same folder (e.g. two unnamed items with
    /// equal parameters), if any.
    pub fn folder_clash(&self) -> Option<(String, PathBuf)> {
        let mut seen = std::collections::HashMap::new();
        for s in &self.servers {
            for c in &s.combinations {
                let who = format!(
                    "serve item {} × bench item {}",
                    s.serve_index, c.bench_index
                );
                if let Some(prev) = seen.insert(c.dir.clone(), who.clone()) {
                    return Some((format!("{prev} and {who}"), c.dir.clone()));
                }
            }
        }
        None
    }
}

/// Check that no bench item sets `key` (the variable a search explores).
pub fn forbid_bench_param(bench: &ParamSweep, key: &str) -> Result<(), String> {
    for (i, b) in bench.iter().enumerate() {
        if let Some(v) = b.get(key) {
            return Err(format!(
                "bench item {i} sets {key}={}; {key} is explored automatically, remove it from --bench-params",
                py_repr(v)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sweep(v: serde_json::Value) -> ParamSweep {
        ParamSweep::from_json_value(v, Path::new("t.json")).unwrap()
    }

    #[test]
    fn link_vars_parse() {
        assert_eq!(parse_link_vars("").unwrap(), vec![]);
        let l = parse_link_vars("max_num_seqs=max_concurrency, a=b").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].bench_key, "max_concurrency");
        for bad in ["a", "a=", "=b", "a=b=c", "a=b,,c=d"] {
            let e = parse_link_vars(bad).unwrap_err();
            assert!(e.contains("--link-vars"), "{bad}: {e}");
        }
    }

    #[test]
    fn cartesian_product_in_order() {
        let s = sweep(json!([{"a": 1}, {"a": 2}]));
        let b = sweep(json!([{"x": 1}, {"x": 2}, {"x": 3}]));
        let plan = Plan::build(Path::new("/e"), &s, &b, &[]);
        assert_eq!(plan.num_combinations(), 6);
        assert_eq!(
            plan.servers[1].combinations[2].dir,
            Path::new("/e/SERVE--a=2-BENCH--x=3")
        );
    }

    #[test]
    fn link_vars_filter_pairs() {
        let s = sweep(json!([{"max_num_seqs": 8}, {"max_num_seqs": 16}]));
        let b = sweep(json!([{"max_concurrency": 8}, {"max_concurrency": 16.0}, {"other": 1}]));
        let links = parse_link_vars("max_num_seqs=max_concurrency").unwrap();
        let plan = Plan::build(Path::new("/e"), &s, &b, &links);
        assert_eq!(plan.servers[0].combinations.len(), 1);
        assert_eq!(plan.servers[0].combinations[0].bench_index, 0);
        assert_eq!(plan.servers[1].combinations[0].bench_index, 1);
        assert_eq!(plan.servers[1].skipped_by_links, 2);
    }

    #[test]
    fn empty_items_use_the_experiment_folder() {
        let plan = Plan::build(
            Path::new("/e"),
            &ParamSweep::single_empty(),
            &ParamSweep::single_empty(),
            &[],
        );
        assert_eq!(plan.servers[0].combinations[0].dir, Path::new("/e"));
    }

    #[test]
    fn clashing_folders_are_found() {
        let s = sweep(json!([{"a": 1}, {"a": 1}]));
        let plan = Plan::build(Path::new("/e"), &s, &ParamSweep::single_empty(), &[]);
        let (who, dir) = plan.folder_clash().unwrap();
        assert!(who.contains("serve item 0") && who.contains("serve item 1"));
        assert_eq!(dir, Path::new("/e/SERVE--a=1"));
    }

    #[test]
    fn forbidden_bench_param() {
        let b = sweep(json!([{"x": 1}, {"request-rate": 5}]));
        let e = forbid_bench_param(&b, "request_rate").unwrap_err();
        assert!(
            e.contains("bench item 1") && e.contains("request_rate"),
            "{e}"
        );
        assert!(forbid_bench_param(&b, "max_concurrency").is_ok());
    }
}

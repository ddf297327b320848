//! Planning `llmsweep startup`: which keys of each parameter item the startup command
//! gets (vLLM's supported-keys rule, `--strict-params`), and the ordered serve × startup
//! combinations with vLLM's folder names (pure, apart from one warning per item).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use llmsweep_core::layout::combination_dir;
use llmsweep_core::params::{ParamItem, ParamSweep};

use super::command::{StartupCommand, sets_output_json};

/// One serve × startup combination.
#[derive(Debug, Clone, PartialEq)]
pub struct Combination {
    /// Index of the serve item in its file (shards own whole serve items).
    pub serve_index: usize,
    /// The serve item (filtered when it rewrites the startup command itself).
    pub serve: ParamItem,
    /// The startup item, filtered.
    pub startup: ParamItem,
    /// Where its runs go.
    pub dir: PathBuf,
}

/// Keep the keys of every item the startup command accepts: a dropped key is one warning
/// per item, or with `--strict-params` an error. A key setting `--output-json` is always an
/// error: the sweep sets it for every run.
pub fn filter_items(
    template: &StartupCommand,
    items: &ParamSweep,
    which: &str,
    file: Option<&Path>,
    program: &str,
    strict: bool,
) -> Result<Vec<ParamItem>> {
    let file = file.map(|p| p.display().to_string()).unwrap_or_default();
    let mut kept = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let label = format!("{which} item {i} ({})", item.name());
        if let Some(key) = sets_output_json(item) {
            bail!(
                "{label} in '{file}' sets {key}; the sweep writes every run's result to its run=N.json itself. Remove the key"
            );
        }
        let filtered = template.filter(item);
        if !filtered.dropped.is_empty() {
            let keys = filtered.dropped.join(", ");
            if strict {
                let accepted: Vec<&str> = template.supported.iter().map(String::as_str).collect();
                bail!(
                    "--strict-params: {label} in '{file}' sets keys that `{program}` does not accept: {keys}. It accepts: {}. Remove them, or leave out --strict-params to drop them with a warning",
                    accepted.join(", ")
                );
            }
            crate::console::line(&format!(
                "llmsweep: warning: ignoring {which} params that `{program}` does not accept, for {label}: {keys} (--strict-params makes this an error)"
            ));
        }
        kept.push(filtered.item);
    }
    Ok(kept)
}

/// Serve × startup, outer loop over serve items, with vLLM's folder names
/// (`SERVE--<name>-STARTUP--<name>`; the experiment folder itself when both are empty).
pub fn plan(
    experiment_dir: &Path,
    serve_items: &[ParamItem],
    startup_items: &[ParamItem],
) -> Result<Vec<Combination>> {
    let mut combinations: Vec<Combination> = Vec::new();
    for (si, serve) in serve_items.iter().enumerate() {
        for (ti, startup) in startup_items.iter().enumerate() {
            let extras = if startup.is_empty() {
                Vec::new()
            } else {
                vec![("STARTUP-", startup.name())]
            };
            let dir = combination_dir(experiment_dir, serve, &ParamItem::default(), &extras);
            if combinations.iter().any(|c| c.dir == dir) {
                bail!(
                    "serve item {si} × startup item {ti} would write to '{}' like an earlier combination; give the items distinct parameters or a _benchmark_name",
                    dir.display()
                );
            }
            combinations.push(Combination {
                serve_index: si,
                serve: serve.clone(),
                startup: startup.clone(),
                dir,
            });
        }
    }
    Ok(combinations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    use super::super::command::StartupKind;

    fn sweep(v: Value) -> Vec<ParamItem> {
        ParamSweep::from_json_value(v, Path::new("t.json"))
            .unwrap()
            .into_items()
    }

    #[test]
    fn folders_follow_vllms_names() {
        let serve = sweep(json!([{"max_num_seqs": 8}, {"max_num_seqs": 16}]));
        let startup = sweep(json!({"quick": {"num_iters_cold": 1}}));
        let plan = plan(Path::new("/e"), &serve, &startup).unwrap();
        let dirs: Vec<&Path> = plan.iter().map(|c| c.dir.as_path()).collect();
        assert_eq!(
            dirs,
            [
                Path::new("/e/SERVE--max_num_seqs=8-STARTUP--quick"),
                Path::new("/e/SERVE--max_num_seqs=16-STARTUP--quick")
            ]
        );
        let plan2 = plan_of(&[json!({})], &[json!({"num_iters_warm": 2})]);
        assert_eq!(plan2[0].dir, Path::new("/e/STARTUP--num_iters_warm=2"));
        let plan3 = plan_of(&[json!({})], &[json!({})]);
        assert_eq!(plan3[0].dir, Path::new("/e"));
    }

    fn plan_of(serve: &[Value], startup: &[Value]) -> Vec<Combination> {
        plan(
            Path::new("/e"),
            &sweep(Value::Array(serve.to_vec())),
            &sweep(Value::Array(startup.to_vec())),
        )
        .unwrap()
    }

    #[test]
    fn clashing_folders_are_refused() {
        // Two items that differ only in dropped keys name the same folder.
        let e = plan(
            Path::new("/e"),
            &sweep(json!([{}])),
            &sweep(json!([{"a": 1}, {"a": 1}])),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("startup item 1") && e.contains("STARTUP--a=1"),
            "{e}"
        );
    }

    fn template() -> StartupCommand {
        StartupCommand {
            argv: vec!["llmsweep".into(), "bench".into(), "startup".into()],
            kind: StartupKind::Llmsweep,
            supported: ["num_iters_cold", "output_json"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    #[test]
    fn unsupported_keys_are_dropped_or_refused() {
        let items = ParamSweep::from_json_value(
            json!([{"num_iters_cold": 1, "max_num_seqs": 4, "bogus": 1}]),
            Path::new("s.json"),
        )
        .unwrap();
        let kept = filter_items(
            &template(),
            &items,
            "startup",
            Some(Path::new("s.json")),
            "llmsweep bench startup",
            false,
        )
        .unwrap();
        assert_eq!(
            kept[0].as_map().keys().collect::<Vec<_>>(),
            ["num_iters_cold"]
        );
        let e = filter_items(
            &template(),
            &items,
            "startup",
            Some(Path::new("s.json")),
            "llmsweep bench startup",
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--strict-params")
                && e.contains("startup item 0")
                && e.contains("s.json")
                && e.contains("bogus, max_num_seqs")
                && e.contains("It accepts: num_iters_cold, output_json"),
            "{e}"
        );
        let items =
            ParamSweep::from_json_value(json!([{"output_json": "x.json"}]), Path::new("s.json"))
                .unwrap();
        let e = filter_items(
            &template(),
            &items,
            "startup",
            Some(Path::new("s.json")),
            "x",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("output_json") && e.contains("run=N.json"), "{e}");
    }
}

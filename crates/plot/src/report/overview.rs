//! The report's first sections: what the experiment is (kind, tool, host, times, counts)
//! and how it was run (commands and parameter files).

use llmsweep_core::pyfmt::py_str;
use llmsweep_core::record::to_json_pretty;
use serde_json::Value;

use super::gather::Experiment;
use super::html::{absent, esc, facts};

/// Keys of `experiment.json` shown in their own places; the others are listed as facts.
const SHOWN: &[&str] = &[
    "llmsweep_version",
    "kind",
    "serve_cmd",
    "bench_cmd",
    "after_bench_cmd",
    "serve_params",
    "bench_params",
    "num_runs",
    "started_at",
    "finished_at",
    "hostname",
];

/// A command as one shell line: a list of arguments is quoted as a shell would need.
pub fn command_line(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let words: Vec<String> = items.iter().map(py_str).collect();
            shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
        }
        Value::Null => String::new(),
        other => py_str(other),
    }
}

/// The overview: a fact table and counts.
pub fn overview(exp: &Experiment) -> String {
    let e = exp.experiment.as_ref();
    let get = |k: &str| {
        e.and_then(|m| m.get(k))
            .filter(|v| !v.is_null())
            .map(py_str)
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    rows.push(("Folder".into(), exp.dir.display().to_string()));
    match e {
        Some(_) => {
            rows.push((
                "Written by".into(),
                format!(
                    "llmsweep {}",
                    get("llmsweep_version").unwrap_or_else(|| "(version not recorded)".into())
                ),
            ));
            rows.push((
                "Kind".into(),
                get("kind").unwrap_or_else(|| "(not recorded)".into()),
            ));
        }
        None => rows.push((
            "Written by".into(),
            "not llmsweep (no experiment.json): e.g. vLLM's `vllm bench sweep`; commands and \
             parameter files are not known"
                .into(),
        )),
    }
    for (key, label) in [
        ("hostname", "Host"),
        ("started_at", "Started"),
        ("finished_at", "Finished"),
        ("num_runs", "Runs per combination"),
    ] {
        if let Some(v) = get(key) {
            rows.push((label.into(), v));
        }
    }
    let combos = exp.table.files.len();
    rows.push((
        "Results".into(),
        format!(
            "{} run{} in {} combination{} (summary.json files)",
            exp.table.runs.len(),
            plural(exp.table.runs.len()),
            combos,
            plural(combos)
        ),
    ));
    let server_failures = exp.failures.iter().filter(|f| f.server).count();
    let run_failures = exp.failures.len() - server_failures;
    rows.push((
        "Failures".into(),
        if exp.failures.is_empty() {
            "none recorded".into()
        } else {
            format!(
                "{run_failures} failed run{}, {server_failures} server{} that did not start",
                plural(run_failures),
                plural(server_failures)
            )
        },
    ));
    let mut out = String::from("<section id=\"overview\"><h2>Overview</h2>\n");
    out.push_str(&facts(&rows));
    if exp.has_summary_csv {
        out.push_str(
            "<p>Every run and every column: <a href=\"summary.csv\">summary.csv</a>.</p>\n",
        );
    }
    out.push_str("</section>\n");
    out
}

/// Commands and parameters from `experiment.json`, or a plain note that they are unknown.
pub fn commands(exp: &Experiment, inferred_params: &[(String, Vec<String>)]) -> String {
    let mut out = String::from("<section id=\"commands\"><h2>Commands and parameters</h2>\n");
    match &exp.experiment {
        Some(e) => {
            for (key, label) in [
                ("serve_cmd", "Server command"),
                ("bench_cmd", "Benchmark command"),
                ("after_bench_cmd", "After each benchmark"),
            ] {
                match e.get(key) {
                    Some(v) if !v.is_null() && !command_line(v).is_empty() => {
                        out.push_str(&format!(
                            "<h3>{label}</h3><pre class=\"cmd\">{}</pre>\n",
                            esc(&command_line(v))
                        ));
                    }
                    _ => out.push_str(&format!("<h3>{label}</h3>{}", absent("none recorded"))),
                }
            }
            for (key, label) in [
                ("serve_params", "Server parameters"),
                ("bench_params", "Benchmark parameters"),
            ] {
                match e.get(key) {
                    Some(v) if !v.is_null() => out.push_str(&format!(
                        "<h3>{label}</h3><pre class=\"json\">{}</pre>\n",
                        esc(&params_text(v))
                    )),
                    _ => out.push_str(&format!(
                        "<h3>{label}</h3>{}",
                        absent("none: the command ran unchanged")
                    )),
                }
            }
            let others: Vec<(String, String)> = e
                .iter()
                .filter(|(k, _)| !SHOWN.contains(&k.as_str()))
                .map(|(k, v)| {
                    let text = match v {
                        Value::Array(_) | Value::Object(_) => {
                            serde_json::to_string(v).unwrap_or_default()
                        }
                        other => py_str(other),
                    };
                    (k.clone(), text)
                })
                .collect();
            if !others.is_empty() {
                out.push_str("<h3>Other settings (experiment.json)</h3>\n");
                out.push_str(&facts(&others));
            }
        }
        None => {
            out.push_str(&absent(
                "No experiment.json in this folder, so the commands and parameter files are \
                 unknown. The parameters below are inferred from the runs: keys that vary \
                 between runs and are named in the combination folders (as max_concurrency in \
                 BENCH--max_concurrency=4) or are not vLLM result keys.",
            ));
        }
    }
    if !inferred_params.is_empty() {
        out.push_str("<h3>Parameters that vary between runs</h3>\n");
        let rows: Vec<(String, String)> = inferred_params
            .iter()
            .map(|(k, vs)| (k.clone(), vs.join(", ")))
            .collect();
        out.push_str(&facts(&rows));
    }
    out.push_str("</section>\n");
    out
}

/// A parameter file's content, one item per line: `[{"a": 1}, …]` or `{name: {…}, …}`.
pub fn params_text(v: &Value) -> String {
    match v {
        Value::Array(items) if !items.is_empty() => format!(
            "[\n{}\n]",
            items
                .iter()
                .map(|i| format!("  {}", inline_json(i)))
                .collect::<Vec<_>>()
                .join(",\n")
        ),
        Value::Object(named) if named.values().all(Value::is_object) && !named.is_empty() => {
            format!(
                "{{\n{}\n}}",
                named
                    .iter()
                    .map(|(k, i)| format!(
                        "  {}: {}",
                        inline_json(&Value::String(k.clone())),
                        inline_json(i)
                    ))
                    .collect::<Vec<_>>()
                    .join(",\n")
            )
        }
        other => to_json_pretty(other),
    }
}

/// JSON on one line with a space after `:` and `,`, as Python's `json.dumps` writes it.
pub fn inline_json(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    inline_json(&Value::String(k.clone())),
                    inline_json(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_are_shell_quoted() {
        assert_eq!(
            command_line(&json!(["vllm", "serve", "m", "--x", "a b", "it's"])),
            "vllm serve m --x 'a b' \"it's\""
        );
        assert_eq!(command_line(&json!("true")), "true");
        assert_eq!(command_line(&json!(null)), "");
    }

    #[test]
    fn parameter_files_one_item_per_line() {
        assert_eq!(
            params_text(&json!([{"max_num_seqs": 8}, {"a": "x", "b": [1, 2]}])),
            "[\n  {\"max_num_seqs\": 8},\n  {\"a\": \"x\", \"b\": [1, 2]}\n]"
        );
        assert_eq!(
            params_text(&json!({"tp1": {"tensor_parallel_size": 1}})),
            "{\n  \"tp1\": {\"tensor_parallel_size\": 1}\n}"
        );
    }
}

//! SLA criteria files (`--sla-params`): a JSON list of objects `{metric: "<op><value>"}`;
//! an object holds when all its criteria hold. Margins normalise each criterion's distance
//! from its target, so that criteria on different scales compare.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use llmsweep_core::expr::{CmpOp, parse_sla_criterion};
use llmsweep_core::params::json_type;
use llmsweep_core::record::{Record, as_number, read_json};

/// One criterion: `metric OP target`.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// A result key, e.g. `p99_e2el_ms`.
    pub metric: String,
    /// `<=`, `>=`, `<` or `>`.
    pub op: CmpOp,
    /// The target.
    pub target: f64,
    /// The criterion as written, e.g. `"<=500"`.
    pub text: String,
}

impl Criterion {
    /// Normalised distance from the target: ≤ 0 when met (for strict operators, 0 itself
    /// fails: see [`Criterion::holds`]).
    pub fn margin(&self, actual: f64) -> f64 {
        let scale = if self.target != 0.0 {
            self.target.abs()
        } else {
            1.0
        };
        match self.op {
            CmpOp::Le | CmpOp::Lt => (actual - self.target) / scale,
            _ => (self.target - actual) / scale,
        }
    }

    /// Is the criterion met by `actual`?
    pub fn holds(&self, actual: f64) -> bool {
        self.op.holds(actual, self.target)
    }

    /// vLLM's spelling in file names: `p99_e2el_ms<=500.00`.
    pub fn cond_text(&self) -> String {
        format!("{}{}{:.2}", self.metric, self.op, self.target)
    }
}

/// One object of the SLA file: criteria that must all hold.
#[derive(Debug, Clone, PartialEq)]
pub struct CriteriaSet {
    /// Its criteria, in file order.
    pub criteria: Vec<Criterion>,
}

impl CriteriaSet {
    /// vLLM's `as_text(sep="-")`, used in `SLA--<text>.json`.
    pub fn text(&self) -> String {
        self.criteria
            .iter()
            .map(Criterion::cond_text)
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The criteria as given, `{metric: "<=500"}`.
    pub fn as_json(&self) -> Value {
        Value::Object(
            self.criteria
                .iter()
                .map(|c| (c.metric.clone(), Value::String(c.text.clone())))
                .collect(),
        )
    }

    /// The metric values a record holds for these criteria; a missing metric is an error
    /// that lists the metrics available.
    pub fn metric_values(&self, record: &Record, source: &str) -> Result<Vec<f64>> {
        self.criteria
            .iter()
            .map(|c| {
                record.get(&c.metric).and_then(as_number).ok_or_else(|| {
                    let mut available: Vec<&str> = record
                        .iter()
                        .filter(|(_, v)| as_number(v).is_some())
                        .map(|(k, _)| k.as_str())
                        .collect();
                    available.sort_unstable();
                    anyhow!(
                        "SLA metric '{}' is not in the results of {source}; available metrics: {}",
                        c.metric,
                        available.join(", ")
                    )
                })
            })
            .collect()
    }

    /// The margin (largest over the criteria) and whether every criterion holds, for
    /// metric values in criteria order.
    pub fn judge(&self, values: &[f64]) -> (f64, bool) {
        let margin = self
            .criteria
            .iter()
            .zip(values)
            .map(|(c, v)| c.margin(*v))
            .fold(f64::NEG_INFINITY, f64::max);
        let pass = self.criteria.iter().zip(values).all(|(c, v)| c.holds(*v));
        (margin, pass)
    }
}

/// Read and check an SLA file before anything runs.
pub fn load_sla_params(path: &Path) -> Result<Vec<CriteriaSet>> {
    let value = read_json(path)?;
    parse_sla_params(value, path)
}

/// Check the parsed contents of an SLA file.
pub fn parse_sla_params(value: Value, path: &Path) -> Result<Vec<CriteriaSet>> {
    let Value::Array(items) = value else {
        bail!(
            "--sla-params '{}' must hold a JSON list of objects like {{\"p99_e2el_ms\": \"<=500\"}}; found {}",
            path.display(),
            json_type(&value)
        );
    };
    if items.is_empty() {
        bail!("--sla-params '{}' holds no criteria", path.display());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(map) = item else {
                bail!("--sla-params '{}': item {i} must be an object like {{\"p99_e2el_ms\": \"<=500\"}}; found {}", path.display(), json_type(&item));
            };
            if map.is_empty() {
                bail!("--sla-params '{}': item {i} holds no criterion", path.display());
            }
            let criteria = map
                .into_iter()
                .map(|(metric, v)| {
                    let text = match &v {
                        Value::String(s) => s.clone(),
                        other => bail!("--sla-params '{}': item {i}: {metric} must be a string like \"<=500\"; found {}", path.display(), json_type(other)),
                    };
                    let (op, target) = parse_sla_criterion(&metric, &text).map_err(|e| anyhow!("--sla-params '{}': item {i}: {e}", path.display()))?;
                    Ok(Criterion { metric, op, target, text })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(CriteriaSet { criteria })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sets(v: Value) -> Result<Vec<CriteriaSet>> {
        parse_sla_params(v, Path::new("sla.json"))
    }

    #[test]
    fn parses_and_names_like_vllm() {
        let s = sets(json!([{"p99_e2el_ms": "<=500"}, {"p99_ttft_ms": "<300", "request_throughput": ">=2.5"}])).unwrap();
        assert_eq!(s[0].text(), "p99_e2el_ms<=500.00");
        assert_eq!(s[1].text(), "p99_ttft_ms<300.00-request_throughput>=2.50");
        assert_eq!(
            s[1].as_json(),
            json!({"p99_ttft_ms": "<300", "request_throughput": ">=2.5"})
        );
    }

    #[test]
    fn margins_normalise_and_strictness_counts() {
        let s = sets(json!([{"lat": "<=100", "tput": ">=10"}])).unwrap();
        let (m, pass) = s[0].judge(&[150.0, 20.0]);
        assert!((m - 0.5).abs() < 1e-12 && !pass);
        let (m, pass) = s[0].judge(&[50.0, 5.0]);
        assert!((m - 0.5).abs() < 1e-12 && !pass);
        let (m, pass) = s[0].judge(&[50.0, 20.0]);
        assert!(m < 0.0 && pass);
        let strict = sets(json!([{"lat": "<100"}])).unwrap();
        assert_eq!(strict[0].judge(&[100.0]), (0.0, false));
    }

    #[test]
    fn bad_files_are_refused_before_anything_runs() {
        for (v, expect) in [
            (json!({"a": "<=1"}), "list of objects"),
            (json!([]), "no criteria"),
            (json!([5]), "item 0"),
            (json!([{}]), "no criterion"),
            (json!([{"p99_ttft_ms": "==5"}]), "must start with one of"),
            (json!([{"p99_ttft_ms": "<=abc"}]), "abc"),
            (json!([{"p99_ttft_ms": 5}]), "must be a string"),
        ] {
            let e = sets(v.clone()).unwrap_err().to_string();
            assert!(e.contains(expect) && e.contains("sla.json"), "{v}: {e}");
        }
    }

    #[test]
    fn missing_metrics_list_what_is_there() {
        let s = sets(json!([{"p99_foo_ms": "<=1"}])).unwrap();
        let rec = json!({"p99_ttft_ms": 3.0, "backend": "vllm", "request_throughput": 2})
            .as_object()
            .unwrap()
            .clone();
        let e = s[0]
            .metric_values(&rec, "run=0.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p99_foo_ms")
                && e.contains("available metrics: p99_ttft_ms, request_throughput"),
            "{e}"
        );
    }
}

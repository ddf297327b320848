//! The runs of a sweep folder as a table: one row per run (a `summary.json` entry), the
//! variables (columns) in first-seen order, numbers read the way vLLM's plot tools read
//! them, and grouping by the values of some variables.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use llmsweep_core::pyfmt::py_str;
use llmsweep_core::record::{Record, as_number, load_summaries};
use serde_json::Value;

use crate::error::PlotError;

/// One run: its record and the index of the `summary.json` it came from.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run's keys and values, in file order.
    pub record: Record,
    /// Index into [`Table::files`].
    pub file: usize,
}

/// Every run found below a folder.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The `summary.json` files read, sorted.
    pub files: Vec<PathBuf>,
    /// The runs, in file order then list order.
    pub runs: Vec<Run>,
}

impl Table {
    /// Read every `summary.json` below `dir` (recursively). A folder with none gives an
    /// empty table; a missing folder or a malformed file is an error.
    pub fn load(dir: &Path) -> Result<Self, PlotError> {
        if !dir.is_dir() {
            return Err(PlotError::NotAFolder {
                dir: dir.to_path_buf(),
            });
        }
        let mut table = Table::default();
        for summary in load_summaries(dir)? {
            let file = table.files.len();
            table.files.push(summary.path);
            table.runs.extend(
                summary
                    .records
                    .into_iter()
                    .map(|record| Run { record, file }),
            );
        }
        Ok(table)
    }

    /// Like [`Table::load`], but an empty result is [`PlotError::NoResults`].
    pub fn load_nonempty(dir: &Path) -> Result<Self, PlotError> {
        let table = Self::load(dir)?;
        if table.runs.is_empty() {
            return Err(PlotError::NoResults {
                dir: dir.to_path_buf(),
            });
        }
        Ok(table)
    }

    /// A table of records that came from one (possibly made-up) file; for tests and for
    /// callers that already hold records.
    pub fn from_records(records: Vec<Record>, source: &Path) -> Self {
        Table {
            files: vec![source.to_path_buf()],
            runs: records
                .into_iter()
                .map(|record| Run { record, file: 0 })
                .collect(),
        }
    }

    /// Every variable present in some run, in first-seen order (pandas' columns).
    pub fn variables(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut vars = Vec::new();
        for run in &self.runs {
            for k in run.record.keys() {
                if seen.insert(k.as_str()) {
                    vars.push(k.clone());
                }
            }
        }
        vars
    }

    /// Is `var` present in some run?
    pub fn has_variable(&self, var: &str) -> bool {
        self.runs.iter().any(|r| r.record.contains_key(var))
    }

    /// Fail with the list of available variables unless `var` is present in some run.
    pub fn require(&self, what: &str, var: &str) -> Result<(), PlotError> {
        if self.has_variable(var) {
            Ok(())
        } else {
            Err(PlotError::MissingVariable {
                what: what.to_string(),
                var: var.to_string(),
                available: self.variables(),
            })
        }
    }

    /// The file a run came from, for messages.
    pub fn source_of(&self, run: &Run) -> &Path {
        &self.files[run.file]
    }
}

/// A run's value of `var` as a number (`"inf"`, `"-inf"`, `"nan"` count); `None` when
/// missing, null or not numeric.
pub fn number(record: &Record, var: &str) -> Option<f64> {
    record.get(var).and_then(as_number)
}

/// How a group's value is spelled: Python's `str()` of the JSON value, `None` when the run
/// lacks the variable (vLLM's folder names and figure names use the same spelling).
pub fn cell_text(record: &Record, var: &str) -> String {
    match record.get(var) {
        Some(v) => py_str(v),
        None => "None".to_string(),
    }
}

/// The values of some variables that identify a group (a figure, a row, a column, a
/// curve): `[(var, value text)]` in the order the variables were named.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GroupKey(pub Vec<(String, String)>);

impl GroupKey {
    /// The key of `record` for `vars`.
    pub fn of(record: &Record, vars: &[String]) -> Self {
        GroupKey(
            vars.iter()
                .map(|v| (v.clone(), cell_text(record, v)))
                .collect(),
        )
    }

    /// `k=v` parts, as vLLM's titles and file names spell them.
    pub fn parts(&self) -> Vec<String> {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// The values alone, joined with `", "` (legend entries under a title of names).
    pub fn values_text(&self) -> String {
        self.0
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `k=v, k2=v2`, or an empty string for no variables.
    pub fn text(&self) -> String {
        self.parts().join(", ")
    }

    /// Python's `repr` of `dict(group)`: `{'k': 'v'}`, as vLLM's dry run prints it.
    pub fn py_dict(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}: {}",
                    llmsweep_core::pyfmt::py_repr(&Value::String(k.clone())),
                    llmsweep_core::pyfmt::py_repr(&Value::String(v.clone()))
                )
            })
            .collect();
        format!("{{{}}}", items.join(", "))
    }

    /// Is this the key of no variables?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Order group keys the way a reader expects: value by value, numbers numerically
/// (`4 < 16`), text alphabetically, numbers before text.
pub fn compare_keys(a: &GroupKey, b: &GroupKey) -> Ordering {
    for ((_, va), (_, vb)) in a.0.iter().zip(&b.0) {
        let ord = compare_values(va, vb);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.0.len().cmp(&b.0.len())
}

fn compare_values(a: &str, b: &str) -> Ordering {
    let na = as_number(&Value::String(a.to_string())).filter(|x| !x.is_nan());
    let nb = as_number(&Value::String(b.to_string())).filter(|x| !x.is_nan());
    match (na, nb) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Group `rows` (indices into `runs`) by their values of `vars`, groups in first-seen
/// order (vLLM's `full_groupby`), rows in their original order.
pub fn group_rows(runs: &[Run], rows: &[usize], vars: &[String]) -> Vec<(GroupKey, Vec<usize>)> {
    let mut index: HashMap<GroupKey, usize> = HashMap::new();
    let mut groups: Vec<(GroupKey, Vec<usize>)> = Vec::new();
    for &i in rows {
        let key = GroupKey::of(&runs[i].record, vars);
        match index.get(&key) {
            Some(&g) => groups[g].1.push(i),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![i]));
            }
        }
    }
    groups
}

/// Like [`group_rows`], with the groups sorted by [`compare_keys`].
pub fn group_rows_sorted(
    runs: &[Run],
    rows: &[usize],
    vars: &[String],
) -> Vec<(GroupKey, Vec<usize>)> {
    let mut groups = group_rows(runs, rows, vars);
    groups.sort_by(|a, b| compare_keys(&a.0, &b.0));
    groups
}

/// Split a comma list flag (`a,b`) into names; empty text gives none.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(rows: Value) -> Table {
        let recs = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect();
        Table::from_records(recs, Path::new("t/summary.json"))
    }

    #[test]
    fn variables_in_first_seen_order_and_missing_ones_listed() {
        let t = table(json!([{"a": 1, "b": 2}, {"c": 3, "a": 4}]));
        assert_eq!(t.variables(), ["a", "b", "c"]);
        let err = t.require("var_y", "p99").unwrap_err().to_string();
        assert_eq!(
            err,
            "cannot find var_y='p99' in the parameter sweep results. Available variables: a, b, c"
        );
        assert!(t.require("var_x", "c").is_ok());
    }

    #[test]
    fn groups_keep_first_seen_order_or_sort_numerically() {
        let t = table(json!([
            {"n": 16, "x": 1}, {"n": 4, "x": 2}, {"n": 16, "x": 3}, {"n": "inf"}, {"x": 5}
        ]));
        let rows: Vec<usize> = (0..t.runs.len()).collect();
        let vars = vec!["n".to_string()];
        let g = group_rows(&t.runs, &rows, &vars);
        let names: Vec<String> = g.iter().map(|(k, _)| k.text()).collect();
        assert_eq!(names, ["n=16", "n=4", "n=inf", "n=None"]);
        assert_eq!(g[0].1, [0, 2]);
        let s = group_rows_sorted(&t.runs, &rows, &vars);
        let names: Vec<String> = s.iter().map(|(k, _)| k.values_text()).collect();
        assert_eq!(names, ["4", "16", "inf", "None"]);
    }

    #[test]
    fn group_text_spellings() {
        let rec = json!({"b": true, "f": 0.5, "s": "x/y"});
        let k = GroupKey::of(
            rec.as_object().unwrap(),
            &["b".into(), "f".into(), "s".into()],
        );
        assert_eq!(k.parts(), ["b=True", "f=0.5", "s=x/y"]);
        assert_eq!(k.py_dict(), "{'b': 'True', 'f': '0.5', 's': 'x/y'}");
        assert_eq!(GroupKey::default().py_dict(), "{}");
    }

    #[test]
    fn numbers_include_python_specials() {
        let rec = json!({"r": "inf", "n": "nan", "x": 2, "s": "fast", "z": null});
        let rec = rec.as_object().unwrap();
        assert_eq!(number(rec, "r"), Some(f64::INFINITY));
        assert!(number(rec, "n").unwrap().is_nan());
        assert_eq!(number(rec, "x"), Some(2.0));
        assert_eq!(number(rec, "s"), None);
        assert_eq!(number(rec, "z"), None);
        assert_eq!(number(rec, "missing"), None);
    }

    #[test]
    fn split_lists() {
        assert_eq!(split_list("a, b,,c"), ["a", "b", "c"]);
        assert!(split_list("").is_empty());
    }
}

//! `--filter-by` (`var OP value`, a comma list) and `--bin-by` (`var%size`), with the
//! meaning vLLM's `vllm bench sweep plot` gives them.
//!
//! - `<`, `<=`, `>`, `>=` compare numbers (the strings `"inf"`, `"nan"` count); a run whose
//!   value is missing or not a number fails them.
//! - `==` and `!=` compare numbers when the value written is a number, booleans when it is
//!   `true`/`false` (any case) and the run's value is a boolean, text otherwise. A run that
//!   lacks the variable fails `==` and passes `!=` (pandas compares NaN that way).
//! - Quotes around a value are dropped: `backend=='vllm'` is `backend==vllm`.
//! - A binner replaces the value `v` with `v // size * size` (Python's floor division).

use llmsweep_core::expr::{CmpOp, Comparison};
use llmsweep_core::pyfmt::py_str;
use llmsweep_core::record::{Record, as_number};
use serde_json::Value;

use crate::error::PlotError;

/// What a filter compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A number (`64`, `0.5`, `inf`).
    Number(f64),
    /// Anything else, compared as text (or as a boolean against a boolean).
    Text(String),
}

/// One `var OP value` item of `--filter-by`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The variable.
    pub var: String,
    /// The comparison.
    pub op: CmpOp,
    /// The value compared with.
    pub target: Target,
    /// The item as written, for messages.
    pub text: String,
}

impl Filter {
    /// Parse one item, e.g. `max_concurrency<1000`.
    pub fn parse(text: &str) -> Result<Self, PlotError> {
        let bad = |reason: String| PlotError::BadSpec {
            flag: "--filter-by",
            text: text.to_string(),
            reason,
        };
        let cmp = Comparison::parse(text).map_err(|e| bad(e.to_string()))?;
        let value = cmp.value.trim().trim_matches('\'').trim_matches('"');
        let number = value.parse::<f64>().ok();
        let target = match (cmp.op, number) {
            (_, Some(n)) => Target::Number(n),
            (CmpOp::Eq | CmpOp::Ne, None) => Target::Text(value.to_string()),
            (op, None) => {
                return Err(bad(format!(
                    "expected a number after {op}, found '{value}'"
                )));
            }
        };
        Ok(Filter {
            var: cmp.var,
            op: cmp.op,
            target,
            text: text.trim().to_string(),
        })
    }

    /// Parse a comma list; empty text gives none.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PlotError> {
        parse_comma_list(text, Self::parse)
    }

    /// Does the run pass this filter?
    pub fn keeps(&self, record: &Record) -> bool {
        let cell = record.get(&self.var).filter(|v| !v.is_null());
        let Some(cell) = cell else {
            return self.op == CmpOp::Ne;
        };
        match self.op {
            CmpOp::Eq => self.equals(cell),
            CmpOp::Ne => !self.equals(cell),
            op => match (&self.target, as_number(cell)) {
                (Target::Number(t), Some(x)) => op.holds(x, *t),
                _ => false,
            },
        }
    }

    fn equals(&self, cell: &Value) -> bool {
        match (&self.target, cell) {
            (_, Value::Bool(b)) => {
                let written = match &self.target {
                    Target::Text(t) => t.to_ascii_lowercase(),
                    Target::Number(_) => return false,
                };
                match written.as_str() {
                    "true" => *b,
                    "false" => !*b,
                    _ => false,
                }
            }
            (Target::Number(t), _) => as_number(cell).is_some_and(|x| x == *t),
            (Target::Text(t), Value::String(s)) => s == t,
            (Target::Text(t), other) => &py_str(other) == t,
        }
    }
}

/// Parse each non-empty item of a comma list.
fn parse_comma_list<T>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, PlotError>,
) -> Result<Vec<T>, PlotError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

/// Keep the runs that pass every filter.
pub fn apply_filters<'a>(
    filters: &[Filter],
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<bool> {
    records
        .into_iter()
        .map(|r| filters.iter().all(|f| f.keeps(r)))
        .collect()
}

/// One `var%size` item of `--bin-by`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binner {
    /// The variable.
    pub var: String,
    /// The bin width (finite, > 0).
    pub size: f64,
}

impl Binner {
    /// Parse one item, e.g. `request_throughput%1`.
    pub fn parse(text: &str) -> Result<Self, PlotError> {
        let bad = |reason: String| PlotError::BadSpec {
            flag: "--bin-by",
            text: text.to_string(),
            reason,
        };
        let (var, size) = text
            .split_once('%')
            .ok_or_else(|| bad("expected VAR%SIZE, e.g. request_throughput%1".into()))?;
        let var = var.trim();
        if var.is_empty() {
            return Err(bad("names no variable before %".into()));
        }
        let size_text = size.trim();
        let size: f64 = size_text
            .parse()
            .map_err(|_| bad(format!("bin size '{size_text}' is not a number")))?;
        if !(size.is_finite() && size > 0.0) {
            return Err(bad(format!(
                "bin size must be a positive number, found {size_text}"
            )));
        }
        Ok(Binner {
            var: var.to_string(),
            size,
        })
    }

    /// Parse a comma list; empty text gives none.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PlotError> {
        parse_comma_list(text, Self::parse)
    }

    /// `value // size * size`, as Python computes it for floats (infinities become NaN).
    pub fn bin(&self, value: f64) -> f64 {
        if !value.is_finite() {
            return f64::NAN;
        }
        (value / self.size).floor() * self.size
    }

    /// Bin the run's value in place. A missing value stays missing; a value that is not a
    /// number is an error naming it.
    pub fn apply(&self, record: &mut Record) -> Result<(), String> {
        let Some(cell) = record.get(&self.var) else {
            return Ok(());
        };
        if cell.is_null() {
            return Ok(());
        }
        let Some(x) = as_number(cell) else {
            return Err(py_str(cell));
        };
        let binned = self.bin(x);
        let value = serde_json::Number::from_f64(binned)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String("nan".into()));
        record.insert(self.var.clone(), value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        v.as_object().unwrap().clone()
    }

    fn keeps(filter: &str, v: Value) -> bool {
        Filter::parse(filter).unwrap().keeps(&rec(v))
    }

    #[test]
    fn ordering_filters_compare_numbers() {
        assert!(keeps(
            "max_concurrency<1000",
            json!({"max_concurrency": 16})
        ));
        assert!(!keeps("max_concurrency<16", json!({"max_concurrency": 16})));
        assert!(keeps("max_concurrency<=16", json!({"max_concurrency": 16})));
        assert!(keeps("r>=100", json!({"r": "inf"})));
        assert!(!keeps("r>1", json!({"r": "nan"})));
        assert!(!keeps("r>1", json!({})));
        assert!(!keeps("r>1", json!({"r": "fast"})));
        assert!(keeps(" r > 1 ", json!({"r": 2.5})));
    }

    #[test]
    fn equality_filters_compare_numbers_text_and_booleans() {
        assert!(keeps("n==16", json!({"n": 16})));
        assert!(keeps("n==16", json!({"n": 16.0})));
        assert!(keeps("rate==inf", json!({"rate": "inf"})));
        assert!(keeps("backend=='vllm'", json!({"backend": "vllm"})));
        assert!(keeps("backend==\"vllm\"", json!({"backend": "vllm"})));
        assert!(!keeps("backend==vllm", json!({"backend": "openai"})));
        assert!(keeps("backend!=vllm", json!({"backend": "openai"})));
        assert!(keeps("epc==false", json!({"epc": false})));
        assert!(keeps("epc==True", json!({"epc": true})));
        assert!(!keeps("epc==True", json!({"epc": false})));
        assert!(!keeps("n==16", json!({"n": "16x"})));
        // pandas: NaN == x is False, NaN != x is True.
        assert!(!keeps("n==16", json!({})));
        assert!(keeps("n!=16", json!({})));
        assert!(keeps("n!=16", json!({"n": null})));
    }

    #[test]
    fn filter_errors_say_what_is_wrong() {
        let e = Filter::parse("max_concurrency<abc")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--filter-by 'max_concurrency<abc'") && e.contains("number"));
        let e = Filter::parse("max_concurrency").unwrap_err().to_string();
        assert!(e.contains("no comparison operator"), "{e}");
        assert_eq!(Filter::parse_list("a<1, b==x,").unwrap().len(), 2);
        assert!(Filter::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn apply_filters_marks_rows() {
        let rows = [rec(json!({"a": 1})), rec(json!({"a": 5})), rec(json!({}))];
        let fs = Filter::parse_list("a>0,a<3").unwrap();
        assert_eq!(apply_filters(&fs, &rows), [true, false, false]);
        assert_eq!(apply_filters(&[], &rows), [true, true, true]);
    }

    #[test]
    fn binners_floor_to_the_bin() {
        let b = Binner::parse("request_throughput%1").unwrap();
        assert_eq!(b.var, "request_throughput");
        assert_eq!(b.bin(3.7), 3.0);
        assert_eq!(b.bin(-0.5), -1.0);
        let b = Binner::parse("x % 0.5").unwrap();
        assert_eq!(b.bin(1.74), 1.5);
        assert!(b.bin(f64::INFINITY).is_nan());
        let b = Binner::parse("x%10").unwrap();
        assert_eq!(b.bin(25.0), 20.0);
    }

    #[test]
    fn binners_rewrite_records_and_reject_text() {
        let b = Binner::parse("x%2").unwrap();
        let mut r = rec(json!({"x": 5, "y": 1}));
        b.apply(&mut r).unwrap();
        assert_eq!(r["x"], json!(4.0));
        let mut r = rec(json!({"y": 1}));
        b.apply(&mut r).unwrap();
        assert!(!r.contains_key("x"));
        let mut r = rec(json!({"x": "inf"}));
        b.apply(&mut r).unwrap();
        assert_eq!(r["x"], json!("nan"));
        let mut r = rec(json!({"x": "fast"}));
        assert_eq!(b.apply(&mut r).unwrap_err(), "fast");
    }

    #[test]
    fn binner_errors() {
        for (text, want) in [
            ("x", "VAR%SIZE"),
            ("%1", "no variable"),
            ("x%abc", "not a number"),
            ("x%0", "positive"),
            ("x%-1", "positive"),
            ("x%inf", "positive"),
        ] {
            let e = Binner::parse(text).unwrap_err().to_string();
            assert!(e.contains("--bin-by") && e.contains(want), "{text}: {e}");
        }
        assert_eq!(Binner::parse_list("a%1,b%2").unwrap().len(), 2);
    }
}

//! Run results as ordered JSON objects, as `vllm bench serve` writes them and
//! `vllm bench sweep` rewrites them.
//!
//! - [`parse_json_lenient`] reads files Python wrote, including its bare `NaN`,
//!   `Infinity` and `-Infinity` tokens (read as the strings `"nan"`, `"inf"`, `"-inf"`);
//! - [`as_number`] treats those strings as numbers, as vLLM's plot tools do;
//! - [`to_json_pretty`] writes `json.dump(indent=4)`'s layout;
//! - [`load_summaries`] reads every `summary.json` below a folder;
//! - [`summary_csv`] writes rows the way `pandas.DataFrame.from_records(rows).to_csv()` does.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::pyfmt::{py_float, py_repr};

/// One run's result: a JSON object whose key order is kept.
pub type Record = Map<String, Value>;

/// Why a result file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file could not be read.
    // The OS error is part of the message, not a `source`: error chains (`{:#}`) would
    // print it twice.
    #[error("cannot read '{path}': {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The file is not JSON.
    #[error("'{path}' is not valid JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file is JSON of the wrong shape.
    #[error("'{path}': expected {expected}, found {found}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What was expected.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
}

/// Parse JSON that Python may have written: bare `NaN`, `Infinity` and `-Infinity` outside
/// strings become the strings `"nan"`, `"inf"` and `"-inf"`.
pub fn parse_json_lenient(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            let fixed = replace_python_specials(text);
            if fixed == text {
                return Err(first);
            }
            serde_json::from_str(&fixed)
        }
    }
}

fn replace_python_specials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == b'\\' && i + 1 < bytes.len() {
                out.push_str(&text[i..i + 2]);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else {
            let rest = &text[i..];
            let hit = [
                ("-Infinity", "\"-inf\""),
                ("Infinity", "\"inf\""),
                ("NaN", "\"nan\""),
            ]
            .into_iter()
            .find(|(tok, _)| rest.starts_with(tok));
            if let Some((tok, rep)) = hit {
                out.push_str(rep);
                i += tok.len();
                continue;
            }
        }
        // Copy one whole UTF-8 character.
        let len = utf8_len(c);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// A value as a number: JSON numbers, and the strings `"inf"`, `"-inf"`, `"nan"` (any
/// case) and other numeric strings, as vLLM's plot tools read them. Booleans are not
/// numbers.
pub fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            match t.to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" => Some(f64::NAN),
                _ => t.parse::<f64>().ok(),
            }
        }
        _ => None,
    }
}

/// Read one JSON object from a file (a `run=N.json`).
pub fn read_record(path: &Path) -> Result<Record, RecordError> {
    match read_json(path)? {
        Value::Object(m) => Ok(m),
        other => Err(RecordError::Shape {
            path: path.to_path_buf(),
            expected: "a JSON object",
            found: crate::params::json_type(&other),
        }),
    }
}

/// Read a JSON list of objects from a file (a `summary.json`).
pub fn read_record_list(path: &Path) -> Result<Vec<Record>, RecordError> {
    match read_json(path)? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => Ok(m),
                other => Err(RecordError::Shape {
                    path: path.to_path_buf(),
                    expected: "a list of JSON objects",
                    found: crate::params::json_type(&other),
                }),
            })
            .collect(),
        other => Err(RecordError::Shape {
            path: path.to_path_buf(),
            expected: "a JSON list of run objects",
            found: crate::params::json_type(&other),
        }),
    }
}

/// Read any JSON value from a file, leniently.
pub fn read_json(path: &Path) -> Result<Value, RecordError> {
    let text = std::fs::read_to_string(path).map_err(|error| RecordError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    parse_json_lenient(&text).map_err(|e| RecordError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `json.dump(value, indent=4)`'s layout (keys in order, `"key": value`, four spaces).
pub fn to_json_pretty(value: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(value, &mut ser).expect("serializing a JSON value cannot fail");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// The runs of one `summary.json`, with the file they came from.
#[derive(Debug, Clone)]
pub struct SummaryFile {
    /// The `summary.json` path.
    pub path: PathBuf,
    /// Its runs.
    pub records: Vec<Record>,
}

/// Every `summary.json` below `dir` (recursively, in sorted path order), as vLLM's plot
/// tools read a sweep folder. Folders whose name starts with `.` are skipped.
pub fn load_summaries(dir: &Path) -> Result<Vec<SummaryFile>, RecordError> {
    let mut paths = Vec::new();
    find_files(dir, "summary.json", &mut paths).map_err(|error| RecordError::Read {
        path: dir.to_path_buf(),
        error,
    })?;
    paths.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    paths
        .into_iter()
        .map(|path| {
            let records = read_record_list(&path)?;
            Ok(SummaryFile { path, records })
        })
        .collect()
}

/// Compare texts as people read numbers in them: `max_num_seqs=16` before
/// `max_num_seqs=256`, `run=2` before `run=10`; otherwise character by character.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..n], &y[..m]);
                // Compare the numbers by value (length without leading zeros, then digits).
                let strip = |d: &[u8]| -> usize {
                    d.iter()
                        .take_while(|c| **c == b'0')
                        .count()
                        .min(d.len().saturating_sub(1))
                };
                let (vx, vy) = (&dx[strip(dx)..], &dy[strip(dy)..]);
                let ord = vx
                    .len()
                    .cmp(&vy.len())
                    .then_with(|| vx.cmp(vy))
                    .then_with(|| n.cmp(&m));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// Every file named `name` below `dir`, recursively.
pub fn find_files(dir: &Path, name: &str, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if !entry.file_name().to_string_lossy().starts_with('.') {
                find_files(&path, name, out)?;
            }
        } else if entry.file_name() == name {
            out.push(path);
        }
    }
    Ok(())
}

/// Column names in first-seen order over all rows (pandas' `from_records`).
pub fn columns(rows: &[Record]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        for k in row.keys() {
            if seen.insert(k.as_str()) {
                cols.push(k.clone());
            }
        }
    }
    cols
}

/// The rows as pandas writes `DataFrame.from_records(rows).to_csv(path)`: a first, unnamed
/// index column; columns in first-seen order; missing cells empty; floats in Python's
/// spelling; an all-numeric column with a missing cell written as floats (pandas turns
/// it into float64); booleans as `True`/`False`; lists and objects as Python's repr.
pub fn summary_csv(rows: &[Record]) -> String {
    let cols = columns(rows);
    let float_cols: Vec<bool> = cols
        .iter()
        .map(|c| {
            let mut any_missing = false;
            let mut all_numbers = true;
            for row in rows {
                match row.get(c) {
                    None | Some(Value::Null) => any_missing = true,
                    Some(Value::Number(_)) => {}
                    Some(_) => all_numbers = false,
                }
            }
            any_missing && all_numbers
        })
        .collect();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let header: Vec<&str> = std::iter::once("")
        .chain(cols.iter().map(String::as_str))
        .collect();
    w.write_record(&header)
        .expect("writing CSV to memory cannot fail");
    for (i, row) in rows.iter().enumerate() {
        let mut cells = vec![i.to_string()];
        for (c, as_float) in cols.iter().zip(&float_cols) {
            cells.push(csv_cell(row.get(c), *as_float));
        }
        w.write_record(&cells)
            .expect("writing CSV to memory cannot fail");
    }
    String::from_utf8(w.into_inner().expect("flushing CSV to memory cannot fail"))
        .expect("CSV of UTF-8 cells is UTF-8")
}

fn csv_cell(value: Option<&Value>, as_float: bool) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::Number(n)) if as_float => py_float(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => s.clone(),
        Some(v) => py_repr(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn natural_order_reads_numbers() {
        let mut v = vec!["s=256", "s=16", "s=64", "run=10", "run=2", "a", "s=016"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["a", "run=2", "run=10", "s=16", "s=016", "s=64", "s=256"]
        );
    }

    #[test]
    fn python_specials_are_read_as_strings() {
        let v = parse_json_lenient(r#"{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN in text"}"#)
            .unwrap();
        assert_eq!(
            v,
            json!({"a": "nan", "b": ["inf", "-inf"], "c": "NaN in text"})
        );
        assert!(parse_json_lenient("{bad").is_err());
    }

    #[test]
    fn numbers_from_strings() {
        assert_eq!(as_number(&json!("inf")), Some(f64::INFINITY));
        assert_eq!(as_number(&json!("-inf")), Some(f64::NEG_INFINITY));
        assert!(as_number(&json!("nan")).unwrap().is_nan());
        assert_eq!(as_number(&json!(5)), Some(5.0));
        assert_eq!(as_number(&json!("2.5")), Some(2.5));
        assert_eq!(as_number(&json!(true)), None);
        assert_eq!(as_number(&json!("fast")), None);
    }

    #[test]
    fn pretty_json_matches_python_indent_4() {
        let v = json!({"a": 1, "b": [1.5, "x"], "c": {}, "d": []});
        assert_eq!(
            to_json_pretty(&v),
            "{\n    \"a\": 1,\n    \"b\": [\n        1.5,\n        \"x\"\n    ],\n    \"c\": {},\n    \"d\": []\n}"
        );
    }

    #[test]
    fn csv_matches_pandas() {
        let rows = vec![
            rec(
                json!({"date": "x", "n": 1, "rate": 0.5, "flag": true, "lat": [0.1, 0.2], "s": "a,b"}),
            ),
            rec(json!({"date": "y", "rate": 1.0, "extra": 3, "flag": false})),
        ];
        let csv = summary_csv(&rows);
        assert_eq!(
            csv,
            ",date,n,rate,flag,lat,s,extra\n\
             0,x,1.0,0.5,True,\"[0.1, 0.2]\",\"a,b\",\n\
             1,y,,1.0,False,,,3.0\n"
        );
    }
}

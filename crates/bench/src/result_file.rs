//! Where the result goes: vLLM's file-name rule (`compute_result_filename`) and writing the
//! object like Python's `json.dump`, including `--append-result`'s JSON Lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::pyjson::{python_float_repr, to_python_json};
use crate::result::RunHeader;

/// Python's `str(float)`: `inf`, `10.0`, `0.5`.
pub fn python_str_float(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else if x.is_nan() {
        "nan".into()
    } else {
        python_float_repr(x)
    }
}

/// vLLM's `compute_result_filename` without the directory.
pub fn default_file_name(header: &RunHeader) -> String {
    let label = header
        .label
        .clone()
        .unwrap_or_else(|| header.backend.clone());
    let base_model = header
        .model_id
        .rsplit('/')
        .next()
        .unwrap_or(&header.model_id);
    let concurrency = header
        .max_concurrency
        .map(|n| format!("-concurrency{n}"))
        .unwrap_or_default();
    match header.ramp {
        Some((strategy, start, end)) => {
            format!(
                "{label}-ramp-up-{}-{start}qps-{end}qps{concurrency}-{base_model}-{}.json",
                strategy.as_str(),
                header.date
            )
        }
        None => format!(
            "{label}-{}qps{concurrency}-{base_model}-{}.json",
            python_str_float(header.request_rate),
            header.date
        ),
    }
}

/// The path to write: `--result-filename` or the default name, under `--result-dir`.
pub fn result_path(
    header: &RunHeader,
    result_dir: Option<&Path>,
    result_filename: Option<&str>,
) -> PathBuf {
    let name = result_filename.map_or_else(|| default_file_name(header), str::to_owned);
    match result_dir {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// Write the object like `json.dump`; with `append`, add a newline first if the file is not
/// empty (JSON Lines, as vLLM's `--append-result`). Creates the folder.
pub fn write(path: &Path, result: &Map<String, Value>, append: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create result folder {}", dir.display()))?;
    }
    let text = to_python_json(&Value::Object(result.clone()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .with_context(|| format!("cannot open result file {}", path.display()))?;
    let non_empty = append && file.metadata().map(|m| m.len() > 0).unwrap_or(false);
    let mut bytes = Vec::with_capacity(text.len() + 1);
    if non_empty {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(text.as_bytes());
    file.write_all(&bytes)
        .with_context(|| format!("cannot write result file {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::RampStrategy;
    use serde_json::json;

    fn header() -> RunHeader {
        crate::result::sample_header()
    }

    #[test]
    fn file_names_follow_vllm() {
        assert_eq!(
            default_file_name(&header()),
            "openai-infqps-concurrency4-SmolLM2-135M-Instruct-20261127-214701.json"
        );
        let h = RunHeader {
            request_rate: 10.0,
            max_concurrency: None,
            label: Some("mine".into()),
            ..header()
        };
        assert_eq!(
            default_file_name(&h),
            "mine-10.0qps-SmolLM2-135M-Instruct-20261127-214701.json"
        );
        let h = RunHeader {
            ramp: Some((RampStrategy::Exponential, 1, 8)),
            ..header()
        };
        assert_eq!(
            default_file_name(&h),
            "openai-ramp-up-exponential-1qps-8qps-concurrency4-SmolLM2-135M-Instruct-20261127-214701.json"
        );
        assert_eq!(
            result_path(&header(), Some(Path::new("out")), Some("run=0.json")),
            PathBuf::from("out/run=0.json")
        );
    }

    #[test]
    fn write_and_append_like_python() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/r.json");
        let mut obj = Map::new();
        obj.insert("a".into(), json!(1.0));
        write(&path, &obj, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r#"{"a": 1.0}"#);
        write(&path, &obj, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\": 1.0}\n{\"a\": 1.0}"
        );
        write(&path, &obj, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r#"{"a": 1.0}"#);
    }
}

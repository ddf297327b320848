//! Parameter sweep files and vLLM's rules for rewriting a command from one item.
//!
//! A parameter file is a JSON list of objects, or an object `{name: {params}}` whose keys
//! become `_benchmark_name`. No file means one empty item: the command runs unmodified.
//! [`ParamItem::apply_to_cmd`] follows `vllm bench sweep`'s `apply_to_cmd`, and goes beyond
//! it where vLLM is plainly wrong (see its documentation).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::pyfmt::{py_number, py_str};

/// The key that names an item instead of being passed to the command.
pub const NAME_KEY: &str = "_benchmark_name";

/// Why a parameter file could not be used. Every message names the file, and the item or
/// key where one is to blame.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// The file could not be read.
    // The OS error is part of the message, not a `source`: error chains (`{:#}`) would
    // print it twice.
    #[error("cannot read parameter file '{path}': {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("parameter file '{path}' is not valid JSON: {message} at line {line}, column {column}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The top level is neither a list nor an object.
    #[error(
        "parameter file '{path}' must hold a JSON list of objects, or an object of {{\"name\": {{params}}}}; found {found}"
    )]
    NotListOrObject {
        /// The file.
        path: PathBuf,
        /// The JSON type found.
        found: &'static str,
    },
    /// A list item is not an object.
    #[error(
        "parameter file '{path}': item {index} must be a JSON object of parameters; found {found}"
    )]
    ItemNotObject {
        /// The file.
        path: PathBuf,
        /// 0-based index in the list.
        index: usize,
        /// The JSON type found.
        found: &'static str,
    },
    /// A named entry is not an object.
    #[error(
        "parameter file '{path}': entry \"{name}\" must be a JSON object of parameters; found {found}"
    )]
    NamedItemNotObject {
        /// The file.
        path: PathBuf,
        /// The entry's name.
        name: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// Two items share a `_benchmark_name`.
    #[error(
        "parameter file '{path}': duplicate _benchmark_name values {names}; every _benchmark_name must be unique"
    )]
    DuplicateNames {
        /// The file.
        path: PathBuf,
        /// The names used more than once, quoted and comma-separated.
        names: String,
    },
    /// The file holds no items.
    #[error(
        "parameter file '{path}' holds no items; give at least one (an empty object {{}} runs the command as it is)"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The JSON type of a value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One item of a parameter sweep: parameter names and their values, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamItem(Map<String, Value>);

impl ParamItem {
    /// An item from an ordered JSON object.
    pub fn new(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// The item's parameters (and `_benchmark_name`, if any), in order.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// True when the item holds nothing at all (not even a name).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters passed to commands: every key but `_benchmark_name`.
    pub fn params(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().filter(|(k, _)| k.as_str() != NAME_KEY)
    }

    /// The item's name: `_benchmark_name` if present, else `k1=v1-k2=v2` with Python's
    /// spelling of values (`True`, `0.5`).
    pub fn name(&self) -> String {
        match self.0.get(NAME_KEY) {
            Some(v) => py_str(v),
            None => self.as_text("-"),
        }
    }

    /// `k=v` pairs joined by `sep`, without `_benchmark_name`.
    pub fn as_text(&self, sep: &str) -> String {
        self.params()
            .map(|(k, v)| format!("{k}={}", py_str(v)))
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// The value of a parameter, looking the key up as written, with `-`→`_` and with
    /// `_`→`-` (vLLM's `has_param` candidates).
    pub fn get(&self, key: &str) -> Option<&Value> {
        param_key_candidates(key).iter().find_map(|k| self.0.get(k))
    }

    /// True when the item sets `key` in any spelling.
    pub fn has_param(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// This item updated by `other` (Python's `self | other`): existing keys keep their
    /// place and take the new value, new keys are appended.
    pub fn merged(&self, other: &ParamItem) -> ParamItem {
        let mut map = self.0.clone();
        for (k, v) in &other.0 {
            map.insert(k.clone(), v.clone());
        }
        ParamItem(map)
    }

    /// This item with one more parameter (or a new value for an existing one).
    pub fn with(&self, key: &str, value: Value) -> ParamItem {
        let mut map = self.0.clone();
        map.insert(key.to_string(), value);
        ParamItem(map)
    }

    /// Rewrite a command with this item's parameters, by vLLM's rules:
    ///
    /// - the flag for key `k` is looked up as `--k` with `_`→`-`, with `-`→`_`, and as
    ///   written (for a dotted key `a.b`, only the part before the first dot is converted);
    /// - found as `--k value`, the value is replaced in place; otherwise `--k value` is
    ///   appended, spelled with `-`;
    /// - a boolean becomes `--k` or `--no-k` (dotted keys: `--a.b=true|false`);
    /// - an object is passed as compact JSON; `_benchmark_name` is never passed.
    ///
    /// Beyond vLLM: an existing `--k=value` is replaced too (vLLM appends a second flag);
    /// every occurrence is replaced (argparse honours the last one, vLLM rewrote the first);
    /// an existing `--no-k` is found for booleans; a list is passed as JSON (vLLM passes
    /// Python's repr); a flag found with no value after it gets one inserted instead of
    /// overwriting the next flag; and `null` removes the flag from the command.
    pub fn apply_to_cmd(&self, cmd: &[String]) -> Vec<String> {
        let mut cmd = cmd.to_vec();
        for (key, value) in self.params() {
            apply_one(&mut cmd, key, value);
        }
        cmd
    }
}

impl fmt::Display for ParamItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text(", "))
    }
}

/// vLLM's key candidates: as written, `-`→`_`, `_`→`-`; a dotted key converts its prefix
/// only. Duplicates are dropped, order kept.
fn param_key_candidates(key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    if let Some((prefix, rest)) = key.split_once('.') {
        for p in [
            prefix.to_string(),
            prefix.replace('-', "_"),
            prefix.replace('_', "-"),
        ] {
            push(format!("{p}.{rest}"));
        }
    } else {
        for k in [
            key.to_string(),
            key.replace('-', "_"),
            key.replace('_', "-"),
        ] {
            push(k);
        }
    }
    out
}

/// The flags a key may appear as in a command, the preferred (`-`) spelling first.
fn cmd_flag_candidates(key: &str) -> Vec<String> {
    let mut c = param_key_candidates(key);
    c.reverse();
    c.into_iter().map(|k| format!("--{k}")).collect()
}

/// The preferred spelling of a key's flag: `--` plus the key with `_`→`-` (before the dot).
fn normalized_flag(key: &str) -> String {
    match key.split_once('.') {
        Some((prefix, rest)) => format!("--{}.{rest}", prefix.replace('_', "-")),
        None => format!("--{}", key.replace('_', "-")),
    }
}

/// How a parameter value is written on a command line.
fn cmd_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => py_number(n),
        Value::Object(_) | Value::Array(_) => value.to_string(),
        other => py_str(other),
    }
}

/// Where a flag for `key` occurs in `cmd`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Occurrence {
    /// `--k` (its value, if any, is the next token).
    Separate(usize),
    /// `--k=value`.
    Joined(usize),
    /// `--no-k` (booleans only).
    Negated(usize),
}

fn find_occurrences(cmd: &[String], key: &str, boolean: bool) -> Vec<Occurrence> {
    let flags = cmd_flag_candidates(key);
    let negated: Vec<String> = if key.contains('.') {
        Vec::new()
    } else {
        flags.iter().map(|f| format!("--no-{}", &f[2..])).collect()
    };
    let mut found = Vec::new();
    for (i, tok) in cmd.iter().enumerate() {
        if flags.iter().any(|f| tok == f) {
            found.push(Occurrence::Separate(i));
        } else if flags.iter().any(|f| {
            tok.len() > f.len() && tok.starts_with(f.as_str()) && tok.as_bytes()[f.len()] == b'='
        }) {
            found.push(Occurrence::Joined(i));
        } else if boolean && negated.iter().any(|f| tok == f) {
            found.push(Occurrence::Negated(i));
        }
    }
    found
}

/// True when the token after a flag at `i` is that flag's value.
fn has_value_after(cmd: &[String], i: usize) -> bool {
    cmd.get(i + 1).is_some_and(|t| !t.starts_with("--"))
}

fn apply_one(cmd: &mut Vec<String>, key: &str, value: &Value) {
    let dotted = key.contains('.');
    let flag = normalized_flag(key);
    match value {
        Value::Null => {
            // Remove every occurrence, last first so indices stay valid.
            let found = find_occurrences(cmd, key, true);
            for occ in found.into_iter().rev() {
                match occ {
                    Occurrence::Separate(i) => {
                        let n = if has_value_after(cmd, i) { 2 } else { 1 };
                        cmd.drain(i..i + n);
                    }
                    Occurrence::Joined(i) | Occurrence::Negated(i) => {
                        cmd.remove(i);
                    }
                }
            }
        }
        Value::Bool(b) => {
            let token = if dotted {
                format!("{flag}={b}")
            } else if *b {
                flag.clone()
            } else {
                format!("--no-{}", &flag[2..])
            };
            let found = find_occurrences(cmd, key, true);
            if found.is_empty() {
                cmd.push(token.clone());
            }
            for occ in found {
                let (Occurrence::Separate(i) | Occurrence::Joined(i) | Occurrence::Negated(i)) =
                    occ;
                cmd[i] = token.clone();
            }
        }
        other => {
            let text = cmd_value(other);
            let found = find_occurrences(cmd, key, false);
            if found.is_empty() {
                cmd.push(flag);
                cmd.push(text);
                return;
            }
            // Rewrite last first, so an inserted value does not shift earlier indices.
            for occ in found.into_iter().rev() {
                match occ {
                    Occurrence::Separate(i) => {
                        cmd[i] = flag.clone();
                        if has_value_after(cmd, i) {
                            cmd[i + 1] = text.clone();
                        } else {
                            cmd.insert(i + 1, text.clone());
                        }
                    }
                    Occurrence::Joined(i) => cmd[i] = format!("{flag}={text}"),
                    Occurrence::Negated(_) => unreachable!("only booleans look for --no-"),
                }
            }
        }
    }
}

/// The items of one parameter file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSweep(Vec<ParamItem>);

impl std::ops::Deref for ParamSweep {
    type Target = [ParamItem];
    fn deref(&self) -> &[ParamItem] {
        &self.0
    }
}

impl ParamSweep {
    /// One empty item: what no parameter file means.
    pub fn single_empty() -> Self {
        Self(vec![ParamItem::default()])
    }

    /// Items given directly.
    pub fn from_items(items: Vec<ParamItem>) -> Self {
        Self(items)
    }

    /// The items, owned.
    pub fn into_items(self) -> Vec<ParamItem> {
        self.0
    }

    /// Read a parameter file; `None` means one empty item.
    pub fn load(path: Option<&Path>) -> Result<Self, ParamsError> {
        let Some(path) = path else {
            return Ok(Self::single_empty());
        };
        let text = std::fs::read_to_string(path).map_err(|error| ParamsError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parse a parameter file's text; `path` is used in messages only.
    pub fn from_json_str(text: &str, path: impl AsRef<Path>) -> Result<Self, ParamsError> {
        let path = path.as_ref().to_path_buf();
        let value: Value = serde_json::from_str(text).map_err(|e| ParamsError::Json {
            path: path.clone(),
            message: strip_serde_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        })?;
        Self::from_json_value(value, &path)
    }

    /// Build the items from a parsed parameter file.
    pub fn from_json_value(value: Value, path: &Path) -> Result<Self, ParamsError> {
        let items: Vec<ParamItem> = match value {
            Value::Array(list) => list
                .into_iter()
                .enumerate()
                .map(|(index, v)| match v {
                    Value::Object(m) => Ok(ParamItem(m)),
                    other => Err(ParamsError::ItemNotObject {
                        path: path.to_path_buf(),
                        index,
                        found: json_type(&other),
                    }),
                })
                .collect::<Result<_, _>>()?,
            Value::Object(named) => named
                .into_iter()
                .map(|(name, v)| match v {
                    Value::Object(params) => {
                        let mut m = Map::new();
                        m.insert(NAME_KEY.to_string(), Value::String(name));
                        for (k, v) in params {
                            m.insert(k, v);
                        }
                        Ok(ParamItem(m))
                    }
                    other => Err(ParamsError::NamedItemNotObject {
                        path: path.to_path_buf(),
                        name,
                        found: json_type(&other),
                    }),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(ParamsError::NotListOrObject {
                    path: path.to_path_buf(),
                    found: json_type(&other),
                });
            }
        };
        if items.is_empty() {
            return Err(ParamsError::Empty {
                path: path.to_path_buf(),
            });
        }
        check_unique_names(&items, path)?;
        Ok(Self(items))
    }
}

fn check_unique_names(items: &[ParamItem], path: &Path) -> Result<(), ParamsError> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in items {
        if let Some(v) = item.0.get(NAME_KEY) {
            *counts.entry(py_str(v)).or_default() += 1;
        }
    }
    let dups: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    if dups.is_empty() {
        Ok(())
    } else {
        Err(ParamsError::DuplicateNames {
            path: path.to_path_buf(),
            names: dups.join(", "),
        })
    }
}

/// serde_json appends " at line L column C" to its messages; we print those ourselves.
fn strip_serde_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;

//! The experiment folder, as `vllm bench sweep` lays it out:
//!
//! ```text
//! OUTPUT_DIR/EXPERIMENT/
//!   summary.csv
//!   SERVE-<name>-failure.json
//!   SERVE--<serve name>-BENCH--<bench name>/
//!     warmup.json  run=0.json  run=1.failure.json  summary.json
//! ```
//!
//! plus safe folder names (nothing can escape the experiment folder) and atomic writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::params::ParamItem;

/// A combination's run result file: `run=N.json`.
pub fn run_file_name(run_number: u32) -> String {
    format!("run={run_number}.json")
}

/// A combination's failed-run file: `run=N.failure.json`.
pub fn run_failure_file_name(run_number: u32) -> String {
    format!("run={run_number}.failure.json")
}

/// The warm-up run's result file.
pub const WARMUP_FILE: &str = "warmup.json";
/// The warm-up run's failure file.
pub const WARMUP_FAILURE_FILE: &str = "warmup.failure.json";
/// The list of a combination's successful runs.
pub const SUMMARY_JSON: &str = "summary.json";
/// Every run of the experiment, one row each.
pub const SUMMARY_CSV: &str = "summary.csv";

/// Longest folder-name component we write; longer names are shortened with a hash suffix
/// (file systems refuse names over 255 bytes).
const MAX_COMPONENT_BYTES: usize = 200;

/// vLLM's `sanitize_filename` (`/`→`_`, `..`→`__`), made safe for any input: control
/// characters and NUL become `_`, a name that is empty or only dots gets a `_`, and a name
/// too long for a file system is cut and given a stable hash suffix.
pub fn sanitize_component(name: &str) -> String {
    let mut s: String = name
        .replace('/', "_")
        .replace("..", "__")
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        s = format!("_{s}");
    }
    if s.len() > MAX_COMPONENT_BYTES {
        let hash = fnv1a64(name.as_bytes());
        let mut cut = MAX_COMPONENT_BYTES - 17;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s = format!("{}-{hash:016x}", &s[..cut]);
    }
    s
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The folder name of a (serve, bench) combination, with optional extra parts such as
/// `("WL-", "request_rate=5")`: `SERVE--<serve>-BENCH--<bench>[-WL--…]`. An empty serve or
/// bench item contributes nothing; `None` when there is nothing at all (the experiment
/// folder itself is the combination's folder, as in vLLM).
pub fn combination_dir_name(
    serve: &ParamItem,
    bench: &ParamItem,
    extras: &[(&str, String)],
) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if !serve.is_empty() {
        parts.push("SERVE-".into());
        parts.push(serve.name());
    }
    if !bench.is_empty() {
        parts.push("BENCH-".into());
        parts.push(bench.name());
    }
    for (tag, value) in extras {
        parts.push((*tag).to_string());
        parts.push(value.clone());
    }
    if parts.is_empty() {
        None
    } else {
        Some(sanitize_component(&parts.join("-")))
    }
}

/// The folder of a combination inside the experiment folder.
pub fn combination_dir(
    experiment_dir: &Path,
    serve: &ParamItem,
    bench: &ParamItem,
    extras: &[(&str, String)],
) -> PathBuf {
    match combination_dir_name(serve, bench, extras) {
        Some(name) => experiment_dir.join(name),
        None => experiment_dir.to_path_buf(),
    }
}

/// The failure file of a serve combination whose server failed: `SERVE-<name>-failure.json`
/// (`default` for an empty item), at the experiment root.
pub fn server_failure_file(experiment_dir: &Path, serve: &ParamItem) -> PathBuf {
    let name = if serve.is_empty() {
        "default".to_string()
    } else {
        serve.name()
    };
    experiment_dir.join(sanitize_component(&format!("SERVE-{name}-failure.json")))
}

/// Write a file atomically: a temporary file in the same folder, flushed to disk, then
/// renamed over the target, so a reader (or a killed sweep) never sees half a file.
///
/// The file gets the mode `File::create` would give it: that of the file it replaces,
/// or for a new file `0o666` less the umask (a temporary file alone would stay `0o600`,
/// unreadable to the rest of a team sharing the results folder).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = filled_temp(path, contents)?;
    if let Ok(existing) = std::fs::metadata(path) {
        // Replacing a file keeps its mode, as writing into it would.
        tmp.as_file().set_permissions(existing.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Create `path` holding `contents` only if it does not exist yet, atomically: a complete
/// temporary file hard-linked into place (a link fails if the target exists, even on
/// shared file systems such as NFS). Returns whether this call created it; when another
/// process won the race, the file is theirs and left as it is.
pub fn create_once(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    let tmp = filled_temp(path, contents)?;
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// A temporary file beside `path` (its folder created if needed) holding `contents`,
/// flushed to disk, with the mode a new file gets (`0o666` less the umask).
fn filled_temp(path: &Path, contents: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    let prefix = format!(
        ".{}.",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created with 0o666: open(2) applies the umask, as for any new file.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: serde_json::Value) -> ParamItem {
        ParamItem::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn folder_names_match_vllm() {
        let serve = item(json!({"max_num_seqs": 32, "max_num_batched_tokens": 1024}));
        let bench = item(json!({"random_input_len": 128, "random_output_len": 32}));
        assert_eq!(
            combination_dir_name(&serve, &bench, &[]).unwrap(),
            "SERVE--max_num_seqs=32-max_num_batched_tokens=1024-BENCH--random_input_len=128-random_output_len=32"
        );
        assert_eq!(
            combination_dir_name(&item(json!({})), &bench, &[]).unwrap(),
            "BENCH--random_input_len=128-random_output_len=32"
        );
        assert_eq!(
            combination_dir_name(&item(json!({})), &item(json!({})), &[]),
            None
        );
        let named = item(json!({"_benchmark_name": "tp1"}));
        assert_eq!(
            combination_dir_name(
                &named,
                &item(json!({})),
                &[("WL-", "max_concurrency=8".into())]
            )
            .unwrap(),
            "SERVE--tp1-WL--max_concurrency=8"
        );
        assert_eq!(
            combination_dir_name(
                &item(json!({"enable_prefix_caching": false})),
                &item(json!({})),
                &[]
            )
            .unwrap(),
            "SERVE--enable_prefix_caching=False"
        );
    }

    #[test]
    fn names_cannot_escape() {
        for evil in ["../../etc", "/abs/path", "..", ".", "", "a\nb\0c", "a/../b"] {
            let s = sanitize_component(evil);
            assert!(
                !s.contains('/') && !s.contains("..") && !s.is_empty() && s != ".",
                "{evil:?} -> {s:?}"
            );
            assert!(!s.chars().any(char::is_control), "{evil:?} -> {s:?}");
        }
        let long = "x".repeat(1000);
        let s = sanitize_component(&long);
        assert!(s.len() <= 200);
        assert_ne!(s, sanitize_component(&"x".repeat(999)));
    }

    #[test]
    fn server_failure_names() {
        let d = Path::new("/e");
        assert_eq!(
            server_failure_file(d, &item(json!({}))),
            Path::new("/e/SERVE-default-failure.json")
        );
        assert_eq!(
            server_failure_file(d, &item(json!({"tp": 2}))),
            Path::new("/e/SERVE-tp=2-failure.json")
        );
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_gives_the_mode_of_a_plain_create() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        // The umask-derived mode, as File::create gives it (0o644 under umask 022).
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let expected = mode(&plain);
        let p = dir.path().join("x.json");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(mode(&p), expected, "{:o} vs {expected:o}", mode(&p));
        // A replaced file keeps its mode, even one the umask would not give.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(mode(&p), 0o640);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604)).unwrap();
        write_atomic(&p, b"three").unwrap();
        assert_eq!(mode(&p), 0o604);
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
    }

    #[test]
    fn create_once_creates_only_once_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/once.json");
        assert!(create_once(&p, b"first").unwrap());
        assert!(!create_once(&p, b"second").unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["once.json"]);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }
}

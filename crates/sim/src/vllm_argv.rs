//! Accepting any `vllm serve` command line: split argv into the flags the simulator knows
//! and the `vllm serve` flags it ignores, so real vLLM parameter files work unchanged,
//! and refuse what `vllm serve` itself would not parse.
//!
//! Flags are read as vLLM's argument parser reads them:
//! - every option string of `vllm serve` is known, with how it takes values, from the
//!   table generated from vLLM's own parser ([`crate::vllm_flags`]), so a switch such as
//!   `--trust-remote-code` never takes the following token (the model) as its value;
//! - `_` and `-` are interchangeable in a `--name` (before any `.`), `--name=value` works,
//!   and so do `--json-flag.key value` and `-O3` / `-O 3` / `-O=3`;
//! - a unique prefix stands for the flag it begins (argparse's abbreviations:
//!   `--max-num-seq` is `--max-num-seqs`); an ambiguous prefix or a flag that neither the
//!   simulator nor `vllm serve` has is an error, with the closest flag as a suggestion;
//! - `-tp`, `-pp`, `-dp` become their long forms.
//!
//! Values follow vLLM: [`human_readable_int`] (`4k`, `4K`, `1.5k`) for the flags that take
//! it, [`human_readable_int_or_auto`] (`auto`, `-1`) for `--max-model-len`.

use std::collections::BTreeSet;
use std::fmt;

use crate::vllm_flags::{VLLM_SERVE_FLAGS, VLLM_VERSION};

/// How a flag takes values (argparse's `nargs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// No value (`store_true`, `store_false`, `BooleanOptionalAction` and its `--no-` form).
    Switch,
    /// Exactly one value.
    One,
    /// At most one value (`nargs='?'`).
    Optional,
    /// Any number of values (`nargs='+'` or `'*'`): every following token up to the next flag.
    Many,
}

/// argv split in two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitArgv {
    /// Tokens to hand to the simulator's own parser, in order, with flags spelt in full.
    pub known: Vec<String>,
    /// Names of ignored `vllm serve` flags (`--compilation-config`), each once, in order of
    /// appearance, spelt in full.
    pub ignored: Vec<String>,
}

/// A command line that `vllm serve` (or the simulator) would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgvError {
    /// Neither a simulator flag nor a `vllm serve` flag.
    Unknown {
        /// The flag as written (without `=value`).
        flag: String,
        /// The closest known flag, when one is close.
        suggestion: Option<String>,
    },
    /// A prefix of several flags.
    Ambiguous {
        /// The flag as written.
        flag: String,
        /// The flags it begins.
        candidates: Vec<String>,
    },
    /// A flag that takes a value is last, or followed by another flag.
    MissingValue {
        /// The flag.
        flag: String,
    },
    /// A switch written `--switch=value`.
    UnexpectedValue {
        /// The flag.
        flag: String,
    },
}

impl fmt::Display for ArgvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgvError::Unknown { flag, suggestion } => {
                write!(
                    f,
                    "unexpected argument '{flag}': neither a simulator flag nor a `vllm serve` \
                     flag of vLLM {VLLM_VERSION}"
                )?;
                if let Some(s) = suggestion {
                    write!(f, "\n\n  tip: a similar argument exists: '{s}'")?;
                }
                Ok(())
            }
            ArgvError::Ambiguous { flag, candidates } => write!(
                f,
                "ambiguous argument '{flag}' could match {}",
                candidates.join(", ")
            ),
            ArgvError::MissingValue { flag } => {
                write!(f, "a value is required for '{flag}' but none was supplied")
            }
            ArgvError::UnexpectedValue { flag } => {
                write!(
                    f,
                    "unexpected value for '{flag}': it is a switch and takes none"
                )
            }
        }
    }
}

impl std::error::Error for ArgvError {}

/// vLLM's short aliases of flags the simulator knows, as the long forms it parses.
const ALIASES: &[(&str, &str)] = &[
    ("-tp", "--tensor-parallel-size"),
    ("-pp", "--pipeline-parallel-size"),
    ("-dp", "--data-parallel-size"),
];

/// How `vllm serve` (vLLM [`VLLM_VERSION`]) takes values for `name` (an option string
/// spelt in full), or `None` when it has no such option.
pub fn vllm_arity(name: &str) -> Option<Arity> {
    VLLM_SERVE_FLAGS
        .binary_search_by(|(option, _)| (*option).cmp(name))
        .ok()
        .map(|i| VLLM_SERVE_FLAGS[i].1)
}

/// Where a resolved flag belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Sim(Arity),
    Vllm(Arity),
}

/// The flags of both parsers, for lookups by full name and by prefix.
struct Flags<'a> {
    sim: &'a [(String, Arity)],
}

impl Flags<'_> {
    fn exact(&self, name: &str) -> Option<Owner> {
        if let Some((_, arity)) = self.sim.iter().find(|(n, _)| n == name) {
            return Some(Owner::Sim(*arity));
        }
        vllm_arity(name).map(Owner::Vllm)
    }

    fn all_long(&self) -> BTreeSet<&str> {
        self.sim
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(VLLM_SERVE_FLAGS.iter().map(|(n, _)| *n))
            .filter(|n| n.starts_with("--"))
            .collect()
    }

    /// `name` spelt in full: itself, its long form, or the one flag it is a prefix of.
    fn resolve(&self, name: &str) -> Result<(String, Owner), ArgvError> {
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, long)| long);
        if let Some(owner) = self.exact(name) {
            return Ok((name.to_string(), owner));
        }
        if name.starts_with("--") && name.len() > 2 {
            let candidates: Vec<&str> = self
                .all_long()
                .into_iter()
                .filter(|n| n.starts_with(name))
                .collect();
            match candidates[..] {
                [one] => {
                    let owner = self.exact(one).expect("listed flags are known");
                    return Ok((one.to_string(), owner));
                }
                [] => {}
                _ => {
                    return Err(ArgvError::Ambiguous {
                        flag: name.to_string(),
                        candidates: candidates.iter().map(|s| s.to_string()).collect(),
                    });
                }
            }
        }
        Err(ArgvError::Unknown {
            flag: name.to_string(),
            suggestion: self.closest(name),
        })
    }

    /// The known long flag closest to `name` in edit distance, when it is close.
    fn closest(&self, name: &str) -> Option<String> {
        let bare = name.trim_start_matches('-');
        if bare.is_empty() {
            return None;
        }
        let limit = if bare.len() >= 12 { 3 } else { 2 };
        self.all_long()
            .into_iter()
            .map(|n| (edit_distance(bare, &n[2..]), n))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, n)| n.to_string())
    }
}

/// Levenshtein distance (adjacent transpositions count as one edit).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// `--a_b.c_d=x` → `--a-b.c_d=x`: vLLM swaps `_` for `-` between `--` and the first `.`.
fn normalize(token: &str) -> String {
    let Some(rest) = token.strip_prefix("--") else {
        return token.to_string();
    };
    let (key, value) = match rest.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (rest, None),
    };
    let (head, tail) = match key.find('.') {
        Some(i) => key.split_at(i),
        None => (key, ""),
    };
    let mut out = format!("--{}{tail}", head.replace('_', "-"));
    if let Some(v) = value {
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Record an ignored flag once.
fn ignore(out: &mut SplitArgv, name: &str) {
    if !out.ignored.iter().any(|n| n == name) {
        out.ignored.push(name.to_string());
    }
}

/// Whether argparse reads `token` as a flag rather than a value: it starts with `-`, is
/// not `-` alone, not a negative number, and has no space.
fn looks_like_flag(token: &str) -> bool {
    token.starts_with('-')
        && token.len() > 1
        && token.parse::<f64>().is_err()
        && !token.contains(' ')
}

/// Split `argv` (without the program and subcommand names). `sim_flags` lists every option
/// string of the simulator's own parser (`--max-num-seqs`, `-h`) with how it takes values.
pub fn split_vllm_argv(
    argv: &[String],
    sim_flags: &[(String, Arity)],
) -> Result<SplitArgv, ArgvError> {
    let flags = Flags { sim: sim_flags };
    let mut out = SplitArgv::default();
    let mut i = 0;
    while i < argv.len() {
        let raw = &argv[i];
        i += 1;
        if raw == "--" {
            out.known.extend(argv[i..].iter().cloned());
            break;
        }
        if !looks_like_flag(raw) {
            out.known.push(raw.clone());
            continue;
        }
        if raw.starts_with("--help=") {
            // vLLM's `--help=all` / `--help=<keyword>`: the simulator has one help page.
            out.known.push("--help".into());
            continue;
        }
        // `-O3`, `-O=3`, `-Odecode`, `-O 3`: vLLM's --optimization-level.
        if let Some(level) = raw.strip_prefix("-O")
            && (!level.is_empty()
                || argv
                    .get(i)
                    .is_some_and(|v| ["0", "1", "2", "3"].contains(&v.as_str())))
        {
            if level.is_empty() {
                i += 1;
            }
            ignore(&mut out, "--optimization-level");
            continue;
        }
        let token = normalize(raw);
        let (name, inline) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (token.as_str(), None),
        };
        // `--json-flag.key value`: one value for a key of a JSON-valued flag.
        if let Some((base, _)) = name.split_once('.') {
            let (full, owner) = flags.resolve(base)?;
            if inline.is_none() {
                if i >= argv.len() {
                    return Err(ArgvError::MissingValue { flag: name.into() });
                }
                i += 1;
            }
            match owner {
                Owner::Vllm(_) => ignore(&mut out, &full),
                Owner::Sim(_) => {
                    return Err(ArgvError::Unknown {
                        flag: name.into(),
                        suggestion: Some(full),
                    });
                }
            }
            continue;
        }
        let (full, owner) = flags.resolve(name)?;
        match owner {
            Owner::Sim(arity) => {
                match inline {
                    Some(v) => out.known.push(format!("{full}={v}")),
                    None => out.known.push(full.clone()),
                }
                if inline.is_none() && arity != Arity::Switch {
                    // Values up to the next flag (several for list-valued flags); a
                    // missing one is left to the simulator's parser to report.
                    while i < argv.len() && !looks_like_flag(&argv[i]) {
                        out.known.push(argv[i].clone());
                        i += 1;
                        if arity != Arity::Many {
                            break;
                        }
                    }
                }
            }
            Owner::Vllm(arity) => {
                ignore(&mut out, &full);
                match (arity, inline) {
                    (Arity::Switch, Some(_)) => {
                        return Err(ArgvError::UnexpectedValue { flag: full });
                    }
                    (Arity::Switch, None) | (_, Some(_)) => {}
                    (Arity::One, None) => {
                        if i < argv.len() && !looks_like_flag(&argv[i]) {
                            i += 1;
                        } else {
                            return Err(ArgvError::MissingValue { flag: full });
                        }
                    }
                    (Arity::Optional, None) => {
                        if i < argv.len() && !looks_like_flag(&argv[i]) {
                            i += 1;
                        }
                    }
                    (Arity::Many, None) => {
                        while i < argv.len() && !looks_like_flag(&argv[i]) {
                            i += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// vLLM's `human_readable_int`: a plain integer, or a number with a suffix: `k`, `m`,
/// `g`, `t` multiply by powers of 1000 (decimals allowed: `1.5k` is 1500, truncated as
/// vLLM does), `K`, `M`, `G`, `T` by powers of 1024 (whole numbers only).
pub fn human_readable_int(value: &str) -> Result<i64, String> {
    let value = value.trim();
    let invalid =
        || format!("invalid human_readable_int value: {value:?} (expected e.g. 8192, 8k or 8K)");
    if let Some(suffix) = value.chars().last().filter(|c| "kKmMgGtT".contains(*c)) {
        let number = &value[..value.len() - 1];
        let is_number = {
            let (whole, frac) = match number.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (number, None),
            };
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            digits(whole) && frac.is_none_or(digits)
        };
        if !is_number {
            return Err(invalid());
        }
        let power = "kmgt".find(suffix.to_ascii_lowercase()).expect("a suffix") as i32 + 1;
        if suffix.is_ascii_lowercase() {
            let n: f64 = number.parse().map_err(|_| invalid())?;
            let product = (n * 1000f64.powi(power)).trunc();
            if product >= i64::MAX as f64 {
                return Err(format!("{value:?} is out of range"));
            }
            return Ok(product as i64);
        }
        let n: i64 = number.parse().map_err(|_| {
            format!(
                "Decimals are not allowed with binary suffixes like {suffix}. Did you mean to \
                 use {number}{} instead?",
                suffix.to_ascii_lowercase()
            )
        })?;
        return n
            .checked_mul(1i64 << (10 * power))
            .ok_or_else(|| format!("{value:?} is out of range"));
    }
    // Python's int(): an optional sign, digits, single underscores between digits.
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    let underscores_ok = !unsigned.starts_with('_')
        && !unsigned.ends_with('_')
        && !unsigned.contains("__")
        && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if unsigned.is_empty() || !underscores_ok {
        return Err(invalid());
    }
    value.replace('_', "").parse().map_err(|_| invalid())
}

/// vLLM's `human_readable_int_or_auto`: [`human_readable_int`], or `None` for `auto` (any
/// case) and `-1`, which ask for the largest length that fits.
pub fn human_readable_int_or_auto(value: &str) -> Result<Option<i64>, String> {
    let value = value.trim();
    if value == "-1" || value.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    human_readable_int(value).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_flags() -> Vec<(String, Arity)> {
        [
            ("--port", Arity::One),
            ("--max-num-seqs", Arity::One),
            ("--max-model-len", Arity::One),
            ("--tensor-parallel-size", Arity::One),
            ("--served-model-name", Arity::Many),
            ("--enforce-eager", Arity::Switch),
            ("--enable-prefix-caching", Arity::Switch),
            ("--no-enable-prefix-caching", Arity::Switch),
            ("--profile", Arity::One),
            ("--strict", Arity::Switch),
            ("--help", Arity::Switch),
            ("-h", Arity::Switch),
        ]
        .iter()
        .map(|(n, a)| (n.to_string(), *a))
        .collect()
    }

    fn try_split(args: &[&str]) -> Result<SplitArgv, ArgvError> {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        split_vllm_argv(&argv, &sim_flags())
    }

    fn split(args: &[&str]) -> SplitArgv {
        try_split(args).unwrap()
    }

    #[test]
    fn keeps_known_flags_and_their_values() {
        let s = split(&[
            "meta-llama/x",
            "--port",
            "0",
            "--enforce-eager",
            "--max-num-seqs=64",
            "-tp",
            "4",
        ]);
        assert_eq!(
            s.known,
            [
                "meta-llama/x",
                "--port",
                "0",
                "--enforce-eager",
                "--max-num-seqs=64",
                "--tensor-parallel-size",
                "4"
            ]
        );
        assert!(s.ignored.is_empty());
    }

    #[test]
    fn ignores_vllm_flags_with_or_without_values() {
        let s = split(&[
            "--compilation-config",
            r#"{"level":3}"#,
            "--compilation-config.level=3",
            "--compilation_config.mode",
            "3",
            "--trust-remote-code",
            "--enable-prefix-caching",
            "--tokenizer",
            "4",
            "--port",
            "9",
            "--trust-remote-code",
            "-O3",
        ]);
        assert_eq!(s.known, ["--enable-prefix-caching", "--port", "9"]);
        assert_eq!(
            s.ignored,
            [
                "--compilation-config",
                "--trust-remote-code",
                "--tokenizer",
                "--optimization-level"
            ]
        );
    }

    #[test]
    fn switches_before_the_model_leave_it_positional() {
        for switch in [
            "--trust-remote-code",
            "--disable-log-stats",
            "--enable-chunked-prefill",
            "--no-enable-chunked-prefill",
            "--disable-log-requests",
            "--disable-chunked-prefill",
        ] {
            let s = split(&[switch, "Qwen/Qwen3-0.6B", "--port", "1"]);
            assert_eq!(s.known, ["Qwen/Qwen3-0.6B", "--port", "1"], "{switch}");
            assert_eq!(s.ignored, [switch]);
        }
        // A flag with a value still takes it, and a list flag takes all of them.
        let s = split(&["--tokenizer", "4", "m"]);
        assert_eq!(s.known, ["m"]);
        let s = split(&["--api-server-count", "2", "--allowed-origins", "[]", "m"]);
        assert_eq!((s.known.len(), s.ignored.len()), (1, 2));
    }

    #[test]
    fn underscores_prefixes_and_optimization_level() {
        let s = split(&["--max_num_seqs", "8", "--trust_remote_code", "m", "-O", "2"]);
        assert_eq!(s.known, ["--max-num-seqs", "8", "m"]);
        assert_eq!(s.ignored, ["--trust-remote-code", "--optimization-level"]);
        // argparse's unique-prefix abbreviations, as `vllm serve` accepts them.
        let s = split(&["--max-num-seq", "8", "--max-num-seq=9", "--stri"]);
        assert_eq!(
            s.known,
            ["--max-num-seqs", "8", "--max-num-seqs=9", "--strict"]
        );
        let s = split(&["--served-model-name", "a", "b", "--port", "-1"]);
        assert_eq!(s.known, ["--served-model-name", "a", "b", "--port", "-1"]);
    }

    #[test]
    fn unknown_and_ambiguous_flags_are_errors() {
        let err = try_split(&["--bogus-flag-xyz", "1"]).unwrap_err();
        assert_eq!(
            err,
            ArgvError::Unknown {
                flag: "--bogus-flag-xyz".into(),
                suggestion: None
            }
        );
        assert!(err.to_string().contains("vLLM 0.33.0"), "{err}");
        let err = try_split(&["--max-nun-seqs", "8"]).unwrap_err();
        assert_eq!(
            err,
            ArgvError::Unknown {
                flag: "--max-nun-seqs".into(),
                suggestion: Some("--max-num-seqs".into())
            }
        );
        assert!(
            err.to_string()
                .contains("tip: a similar argument exists: '--max-num-seqs'")
        );
        let err = try_split(&["--trust-remote-cod3"]).unwrap_err();
        assert!(err.to_string().contains("--trust-remote-code"), "{err}");
        let Err(ArgvError::Ambiguous { candidates, .. }) = try_split(&["--max-num", "8"]) else {
            panic!("--max-num is a prefix of several flags")
        };
        assert!(candidates.contains(&"--max-num-seqs".to_string()));
        assert!(candidates.contains(&"--max-num-batched-tokens".to_string()));
        assert!(matches!(try_split(&["-Z"]), Err(ArgvError::Unknown { .. })));
        assert!(matches!(try_split(&["-O"]), Err(ArgvError::Unknown { .. })));
        assert!(matches!(
            try_split(&["--max-num-seqs.x", "1"]),
            Err(ArgvError::Unknown { .. })
        ));
    }

    #[test]
    fn ignored_flags_missing_or_unwanted_values_are_errors() {
        assert_eq!(
            try_split(&["--tokenizer"]),
            Err(ArgvError::MissingValue {
                flag: "--tokenizer".into()
            })
        );
        assert_eq!(
            try_split(&["--tokenizer", "--port", "1"]),
            Err(ArgvError::MissingValue {
                flag: "--tokenizer".into()
            })
        );
        assert_eq!(
            try_split(&["--trust-remote-code=yes"]),
            Err(ArgvError::UnexpectedValue {
                flag: "--trust-remote-code".into()
            })
        );
        assert!(matches!(
            try_split(&["--compilation-config.level"]),
            Err(ArgvError::MissingValue { .. })
        ));
    }

    #[test]
    fn the_table_is_sorted_and_knows_vllm_arities() {
        assert!(VLLM_SERVE_FLAGS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(vllm_arity("--trust-remote-code"), Some(Arity::Switch));
        assert_eq!(
            vllm_arity("--no-enable-prefix-caching"),
            Some(Arity::Switch)
        );
        assert_eq!(vllm_arity("--max-model-len"), Some(Arity::One));
        assert_eq!(vllm_arity("--served-model-name"), Some(Arity::Many));
        assert_eq!(vllm_arity("--max-num-seq"), None);
        for (alias, long) in ALIASES {
            assert_eq!(vllm_arity(alias), Some(Arity::One), "{alias}");
            assert_eq!(vllm_arity(long), Some(Arity::One), "{long}");
        }
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("max-num-seqs", "max-num-seqs"), 0);
        assert_eq!(edit_distance("max-nmu-seqs", "max-num-seqs"), 1);
        assert_eq!(edit_distance("max-num-seq", "max-num-seqs"), 1);
        assert_eq!(edit_distance("abc", "xyz"), 3);
    }

    #[test]
    fn human_readable_ints_follow_vllm() {
        assert_eq!(human_readable_int("4096"), Ok(4096));
        assert_eq!(human_readable_int(" 4096 "), Ok(4096));
        assert_eq!(human_readable_int("1_000"), Ok(1000));
        assert_eq!(human_readable_int("-5"), Ok(-5));
        assert_eq!(human_readable_int("4k"), Ok(4000));
        assert_eq!(human_readable_int("4K"), Ok(4096));
        assert_eq!(human_readable_int("1.5k"), Ok(1500));
        assert_eq!(human_readable_int("25.6k"), Ok(25_600));
        assert_eq!(human_readable_int("2m"), Ok(2_000_000));
        assert_eq!(human_readable_int("2M"), Ok(2 << 20));
        assert_eq!(human_readable_int("1g"), Ok(1_000_000_000));
        assert_eq!(human_readable_int("1G"), Ok(1 << 30));
        assert_eq!(human_readable_int("1t"), Ok(1_000_000_000_000));
        assert_eq!(human_readable_int("1T"), Ok(1 << 40));
        // Values printed by vLLM 0.33.0's own human_readable_int (float products truncate).
        for (value, vllm) in [
            ("0.3k", 300),
            ("1.1k", 1100),
            ("4.35k", 4350),
            ("2.675k", 2675),
            ("0.1m", 100_000),
            ("0.007g", 7_000_000),
            ("8.2k", 8200),
            ("1.005k", 1004),
            ("+5", 5),
            ("00012k", 12_000),
        ] {
            assert_eq!(human_readable_int(value), Ok(vllm), "{value}");
        }
        assert!(
            human_readable_int("1.5K")
                .unwrap_err()
                .contains("Did you mean to use 1.5k instead?")
        );
        for bad in [
            "", "k", "4 k", "4kb", "4.k", ".5k", "-4k", "4.5", "lots", "1__0", "_1",
        ] {
            assert!(human_readable_int(bad).is_err(), "{bad:?}");
        }
        assert_eq!(human_readable_int_or_auto("auto"), Ok(None));
        assert_eq!(human_readable_int_or_auto("AUTO"), Ok(None));
        assert_eq!(human_readable_int_or_auto("-1"), Ok(None));
        assert_eq!(human_readable_int_or_auto("2k"), Ok(Some(2000)));
        assert!(human_readable_int_or_auto("automatic").is_err());
    }
}

//! Accepting any `vllm serve` command line: split argv into the flags the simulator knows
//! and the ones it ignores, so real vLLM parameter files work unchanged.
//!
//! An unknown flag's value is the following token unless that token is itself a flag
//! (starts with `-` and is not a number), or the flag is written `--name=value`. vLLM's multi-letter short aliases (`-tp`,
//! `-pp`, `-dp`) become their long forms.

/// What a known flag looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// A switch (`--enforce-eager`).
    Switch,
    /// Takes one or more values (`--max-num-seqs 64`, `--served-model-name a b`).
    Value,
}

/// argv split in two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitArgv {
    /// Tokens to hand to the simulator's own parser, in order.
    pub known: Vec<String>,
    /// Names of ignored flags (`--compilation-config`), each once, in order of appearance.
    pub ignored: Vec<String>,
}

/// vLLM's short aliases that are longer than one letter.
const ALIASES: &[(&str, &str)] = &[
    ("-tp", "--tensor-parallel-size"),
    ("-pp", "--pipeline-parallel-size"),
    ("-dp", "--data-parallel-size"),
];

/// Split `argv` (without the program and subcommand names). `kind_of` says whether a flag
/// (`--name` or `-x`, without any `=value`) is known, and how it takes values.
pub fn split_vllm_argv(argv: &[String], kind_of: impl Fn(&str) -> Option<FlagKind>) -> SplitArgv {
    let mut out = SplitArgv::default();
    let mut i = 0;
    while i < argv.len() {
        let token = &argv[i];
        i += 1;
        if token == "--" {
            out.known.extend(argv[i..].iter().cloned());
            break;
        }
        if !token.starts_with('-') || token == "-" || token.parse::<f64>().is_ok() {
            out.known.push(token.clone());
            continue;
        }
        let (name, inline_value) = match token.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (token.as_str(), None),
        };
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, long)| long);
        match kind_of(name) {
            Some(kind) => {
                match inline_value {
                    Some(v) => out.known.push(format!("{name}={v}")),
                    None => out.known.push(name.to_string()),
                }
                if kind == FlagKind::Value && inline_value.is_none() {
                    // Values up to the next flag (several for list-valued flags).
                    while i < argv.len() && !looks_like_flag(&argv[i]) {
                        out.known.push(argv[i].clone());
                        i += 1;
                        if !multi_valued(name) {
                            break;
                        }
                    }
                }
            }
            None => {
                if !out.ignored.iter().any(|n| n == name) {
                    out.ignored.push(name.to_string());
                }
                if inline_value.is_none() && i < argv.len() && !looks_like_flag(&argv[i]) {
                    i += 1; // its value
                }
            }
        }
    }
    out
}

fn looks_like_flag(token: &str) -> bool {
    token.starts_with('-') && token.len() > 1 && token.parse::<f64>().is_err()
}

/// Known flags that take a list of values.
fn multi_valued(name: &str) -> bool {
    name == "--served-model-name"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> Option<FlagKind> {
        match name {
            "--port" | "--max-num-seqs" | "--tensor-parallel-size" | "--served-model-name" => {
                Some(FlagKind::Value)
            }
            "--enforce-eager" | "--enable-prefix-caching" | "--help" | "-h" => {
                Some(FlagKind::Switch)
            }
            _ => None,
        }
    }

    fn split(args: &[&str]) -> SplitArgv {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        split_vllm_argv(&argv, known)
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
    fn ignores_unknown_flags_with_or_without_values() {
        let s = split(&[
            "--compilation-config",
            r#"{"level":3}"#,
            "--compilation-config.level=3",
            "--trust-remote-code",
            "--enable-prefix-caching",
            "--swap-space",
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
                "--compilation-config.level",
                "--trust-remote-code",
                "--swap-space",
                "-O3"
            ]
        );
    }

    #[test]
    fn list_values_and_negative_numbers() {
        let s = split(&["--served-model-name", "a", "b", "--port", "-1"]);
        assert_eq!(s.known, ["--served-model-name", "a", "b", "--port", "-1"]);
    }
}

//! The command of one run of `llmsweep startup`, built from the `--startup-cmd` template,
//! a serve item and a startup item (pure, apart from learning a foreign command's flags).
//!
//! - `llmsweep bench startup` (the default): the startup item rewrites the startup command
//!   (only keys it accepts; see [`StartupCommand::is_supported`]), then the serve item
//!   rewrites the server command *inside* it — the value of `--serve-cmd`, split, rewritten
//!   by vLLM's rules, quoted again. Serve keys are server flags: always applied.
//!   `--log-dir <run>.logs` is added so every server log is kept beside its result.
//! - Any other command (`vllm bench startup …`, which takes the engine's flags itself):
//!   vLLM's rule — the serve item, then the startup item, rewrite the command, keeping only
//!   the keys it accepts, as its `--help` lists them.
//!
//! Then, as vLLM does, any `--output-json` is removed and `--output-json <run path>`
//! appended.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value};

use llmsweep_core::params::{NAME_KEY, ParamItem};

use crate::commands::split_cmd;
use crate::process::{Output, Supervised, quote_cmd};
use crate::server::flag_value;

/// The key every run's result path goes to.
const OUTPUT_JSON_KEY: &str = "output_json";
/// How long a foreign startup command's `--help` may take (vLLM imports torch).
const HELP_TIMEOUT: Duration = Duration::from_secs(300);

/// Which startup command the template runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupKind {
    /// `llmsweep bench startup`: it starts a server given by `--serve-cmd`.
    Llmsweep,
    /// Anything else, e.g. `vllm bench startup`, which takes server flags itself.
    Other,
}

impl StartupKind {
    /// Recognise `<llmsweep> bench startup …` (by file name, or llmsweep's own path).
    pub fn detect(argv: &[String], exe: &Path) -> Self {
        let is_llmsweep = argv.first().is_some_and(|p| {
            Path::new(p).file_name().is_some_and(|n| n == "llmsweep")
                || std::fs::canonicalize(p)
                    .ok()
                    .zip(std::fs::canonicalize(exe).ok())
                    .is_some_and(|(a, b)| a == b)
        });
        if is_llmsweep && argv.get(1..3) == Some(&["bench".to_string(), "startup".to_string()]) {
            StartupKind::Llmsweep
        } else {
            StartupKind::Other
        }
    }
}

/// The `--startup-cmd` template and the keys it accepts.
#[derive(Debug, Clone)]
pub struct StartupCommand {
    /// The template, split.
    pub argv: Vec<String>,
    /// Its kind.
    pub kind: StartupKind,
    /// Keys it accepts: long options with `-` → `_` (and argparse `dest`s).
    pub supported: BTreeSet<String>,
}

/// Which items a key filter applies to, and what was dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Filtered {
    /// The item with only the keys the command accepts (and its name).
    pub item: ParamItem,
    /// The keys dropped, sorted.
    pub dropped: Vec<String>,
}

impl StartupCommand {
    /// Is `key` accepted? vLLM's `_is_supported_param`: `_benchmark_name` always; otherwise
    /// the part before the first dot, with `-` → `_`, must be a supported key.
    pub fn is_supported(&self, key: &str) -> bool {
        if key == NAME_KEY {
            return true;
        }
        let prefix = key.split('.').next().unwrap_or(key).replace('-', "_");
        self.supported.contains(&prefix)
    }

    /// Keep the keys of `item` the command accepts.
    pub fn filter(&self, item: &ParamItem) -> Filtered {
        let mut kept = Map::new();
        let mut dropped = Vec::new();
        for (k, v) in item.as_map() {
            if self.is_supported(k) {
                kept.insert(k.clone(), v.clone());
            } else {
                dropped.push(k.clone());
            }
        }
        dropped.sort();
        Filtered {
            item: ParamItem::new(kept),
            dropped,
        }
    }

    /// Do serve items go through [`Self::filter`]? Only when they rewrite the startup
    /// command itself.
    pub fn filters_serve_items(&self) -> bool {
        self.kind == StartupKind::Other
    }

    /// The command of one run writing to `output_path`. The items are already filtered.
    pub fn build(
        &self,
        serve: &ParamItem,
        startup: &ParamItem,
        output_path: &Path,
    ) -> Result<Vec<String>> {
        let mut argv = match self.kind {
            StartupKind::Llmsweep => {
                let argv = startup.apply_to_cmd(&self.argv);
                let mut argv = with_serve_item(argv, serve)?;
                if flag_value(&argv, &["--log-dir", "--log_dir"]).is_none() {
                    argv.push("--log-dir".into());
                    argv.push(log_dir_for(output_path).display().to_string());
                }
                argv
            }
            StartupKind::Other => startup.apply_to_cmd(&serve.apply_to_cmd(&self.argv)),
        };
        let mut strip = Map::new();
        strip.insert(OUTPUT_JSON_KEY.into(), Value::Null);
        argv = ParamItem::new(strip).apply_to_cmd(&argv);
        argv.push("--output-json".into());
        argv.push(output_path.display().to_string());
        Ok(argv)
    }
}

/// Where `llmsweep bench startup` keeps a run's server logs: `run=N.logs` beside
/// `run=N.json`.
pub fn log_dir_for(output_path: &Path) -> PathBuf {
    output_path.with_extension("logs")
}

/// Apply a serve item to the server command inside `llmsweep bench startup`'s argv: the
/// value of `--serve-cmd`, or the simulator (`<llmsweep> sim`) when there is none.
fn with_serve_item(argv: Vec<String>, serve: &ParamItem) -> Result<Vec<String>> {
    if serve.params().next().is_none() {
        return Ok(argv);
    }
    let serve_argv = match flag_value(&argv, &["--serve-cmd", "--serve_cmd"]) {
        Some(text) => split_cmd("--serve-cmd (inside --startup-cmd)", text)?,
        None => vec![argv[0].clone(), "sim".into()],
    };
    let rewritten = quote_cmd(&serve.apply_to_cmd(&serve_argv));
    let mut set = Map::new();
    set.insert("serve_cmd".into(), Value::String(rewritten));
    Ok(ParamItem::new(set).apply_to_cmd(&argv))
}

/// A key that would set `--output-json`, which the sweep sets for every run.
pub fn sets_output_json(item: &ParamItem) -> Option<&str> {
    item.params()
        .map(|(k, _)| k.as_str())
        .find(|k| k.replace('-', "_") == OUTPUT_JSON_KEY)
}

/// The long options a `--help` text lists, as keys (`--num-iters-cold` → `num_iters_cold`).
/// `help` itself is left out; `config` is added, as vLLM's sweep does (its parser reads a
/// `--config` YAML file without listing it as an option).
pub fn parse_help_keys(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for word in text.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '{') {
        let Some(rest) = word.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            continue;
        }
        let key = name.replace('-', "_");
        if key != "help" {
            keys.insert(key);
        }
    }
    if !keys.is_empty() {
        keys.insert("config".into());
    }
    keys
}

/// Learn which keys a foreign startup command accepts from its `--help=all` (vLLM hides
/// most flags from a bare `--help`), or else its `--help`.
pub fn learn_supported_keys(argv: &[String], scratch_dir: &Path) -> Result<BTreeSet<String>> {
    let mut tried = Vec::new();
    for flag in ["--help=all", "--help"] {
        let mut cmd = argv.to_vec();
        cmd.push(flag.into());
        let log = scratch_dir.join("startup-cmd-help.log");
        let _ = std::fs::remove_file(&log);
        let mut p = Supervised::spawn(&cmd, &[], &Output::Log(log.clone()), "--startup-cmd")?;
        let deadline = Instant::now() + HELP_TIMEOUT;
        while p.try_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = p.stop(Duration::from_secs(1));
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        let keys = parse_help_keys(&text);
        if status.is_some_and(|s| s.success()) && !keys.is_empty() {
            return Ok(keys);
        }
        tried.push(quote_cmd(&cmd));
    }
    Err(anyhow!(
        "cannot learn which flags --startup-cmd accepts: neither `{}` listed any; llmsweep needs them to drop parameters the command does not take",
        tried.join("` nor `")
    ))
}

/// Reject a startup template that cannot work at all.
pub fn check_template(cmd: &StartupCommand) -> Result<()> {
    if cmd.kind == StartupKind::Llmsweep
        && let Some(text) = flag_value(&cmd.argv, &["--serve-cmd", "--serve_cmd"])
    {
        split_cmd("--serve-cmd (inside --startup-cmd)", text)?;
    }
    if cmd.supported.is_empty() {
        bail!(
            "--startup-cmd: no accepted flags are known for `{}`",
            quote_cmd(&cmd.argv)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> ParamItem {
        ParamItem::new(v.as_object().unwrap().clone())
    }

    fn argv(s: &str) -> Vec<String> {
        shlex::split(s).unwrap()
    }

    fn ours(template: &str) -> StartupCommand {
        StartupCommand {
            argv: argv(template),
            kind: StartupKind::Llmsweep,
            supported: [
                "serve_cmd",
                "num_iters_cold",
                "num_iters_warm",
                "output_json",
                "log_dir",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }

    #[test]
    fn kinds() {
        let exe = Path::new("/nonexistent/llmsweep");
        assert_eq!(
            StartupKind::detect(&argv("llmsweep bench startup"), exe),
            StartupKind::Llmsweep
        );
        assert_eq!(
            StartupKind::detect(
                &argv("/usr/local/bin/llmsweep bench startup --num-iters-cold 1"),
                exe
            ),
            StartupKind::Llmsweep
        );
        assert_eq!(
            StartupKind::detect(&argv("vllm bench startup --model m"), exe),
            StartupKind::Other
        );
        assert_eq!(
            StartupKind::detect(&argv("llmsweep bench serve"), exe),
            StartupKind::Other
        );
    }

    #[test]
    fn serve_items_rewrite_the_server_command_inside() {
        let cmd = ours(
            "llmsweep bench startup --serve-cmd 'vllm serve m --max-num-seqs 4' --output-json old.json",
        );
        let run = cmd
            .build(
                &item(json!({"max_num_seqs": 8, "enforce_eager": true})),
                &item(json!({"num_iters_cold": 1})),
                Path::new("/e/SERVE--x/run=0.json"),
            )
            .unwrap();
        assert_eq!(
            run,
            [
                "llmsweep",
                "bench",
                "startup",
                "--serve-cmd",
                "vllm serve m --max-num-seqs 8 --enforce-eager",
                "--num-iters-cold",
                "1",
                "--log-dir",
                "/e/SERVE--x/run=0.logs",
                "--output-json",
                "/e/SERVE--x/run=0.json"
            ]
        );
        // The joined spelling, and a startup item that replaces the whole server command.
        let cmd = ours("llmsweep bench startup --serve-cmd='vllm serve a' --log-dir /keep");
        let run = cmd
            .build(
                &item(json!({"port": 9000})),
                &item(json!({"serve_cmd": "vllm serve b --port 1"})),
                Path::new("/e/run=1.json"),
            )
            .unwrap();
        assert_eq!(
            quote_cmd(&run),
            "llmsweep bench startup '--serve-cmd=vllm serve b --port 9000' --log-dir /keep --output-json /e/run=1.json"
        );
    }

    #[test]
    fn without_a_serve_cmd_serve_items_go_to_the_simulator() {
        let cmd = ours("/bin/llmsweep bench startup");
        let run = cmd
            .build(
                &item(json!({"max_num_seqs": 2})),
                &ParamItem::default(),
                Path::new("r.json"),
            )
            .unwrap();
        assert_eq!(
            quote_cmd(&run),
            "/bin/llmsweep bench startup --serve-cmd '/bin/llmsweep sim --max-num-seqs 2' --log-dir r.logs --output-json r.json"
        );
        let run = cmd
            .build(
                &ParamItem::default(),
                &ParamItem::default(),
                Path::new("r.json"),
            )
            .unwrap();
        assert_eq!(
            quote_cmd(&run),
            "/bin/llmsweep bench startup --log-dir r.logs --output-json r.json"
        );
    }

    #[test]
    fn foreign_commands_take_every_item_themselves() {
        let cmd = StartupCommand {
            argv: argv("vllm bench startup --model m --output_json=x.json"),
            kind: StartupKind::Other,
            supported: parse_help_keys("--model MODEL --max-num-seqs N --num-iters-cold N"),
        };
        assert!(cmd.filters_serve_items());
        let run = cmd
            .build(
                &item(json!({"max_num_seqs": 8})),
                &item(json!({"num_iters_cold": 1})),
                Path::new("/e/run=0.json"),
            )
            .unwrap();
        assert_eq!(
            quote_cmd(&run),
            "vllm bench startup --model m --max-num-seqs 8 --num-iters-cold 1 --output-json /e/run=0.json"
        );
    }

    #[test]
    fn the_supported_keys_rule_is_vllms() {
        let cmd = ours("llmsweep bench startup");
        for (key, ok) in [
            ("num_iters_cold", true),
            ("num-iters-cold", true),
            ("serve_cmd", true),
            ("_benchmark_name", true),
            ("log_dir.sub", true),
            ("max_num_seqs", false),
            ("num_iters", false),
        ] {
            assert_eq!(cmd.is_supported(key), ok, "{key}");
        }
        let f = cmd.filter(&item(
            json!({"_benchmark_name": "a", "zeta": 1, "num_iters_warm": 2, "alpha": 3}),
        ));
        assert_eq!(
            f.item,
            item(json!({"_benchmark_name": "a", "num_iters_warm": 2}))
        );
        assert_eq!(f.dropped, ["alpha", "zeta"]);
        assert!(!cmd.filters_serve_items());
    }

    #[test]
    fn output_json_in_an_item_is_named() {
        assert_eq!(
            sets_output_json(&item(json!({"a": 1, "output-json": "x"}))),
            Some("output-json")
        );
        assert_eq!(sets_output_json(&item(json!({"a": 1}))), None);
    }

    #[test]
    fn help_texts_list_the_keys() {
        let help = "usage: vllm bench startup [-h] [--num-iters-cold NUM_ITERS_COLD]\n\
                    options:\n  -h, --help            show this help message and exit\n\
                    \x20 --model MODEL, -m MODEL\n  --enable-prefix-caching, --no-enable-prefix-caching\n\
                    \x20 --compilation-config COMPILATION_CONFIG, -cc COMPILATION_CONFIG\n\
                    \x20 --hf-overrides={}\n  --output_json OUTPUT_JSON\n  -- 3 dashes --- ignored";
        let keys: Vec<String> = parse_help_keys(help).into_iter().collect();
        assert_eq!(
            keys,
            [
                "compilation_config",
                "config",
                "enable_prefix_caching",
                "hf_overrides",
                "model",
                "no_enable_prefix_caching",
                "num_iters_cold",
                "output_json"
            ]
        );
        assert!(parse_help_keys("no flags here").is_empty());
    }

    #[test]
    fn foreign_keys_are_learned_from_help() {
        let dir = tempfile::tempdir().unwrap();
        let keys = learn_supported_keys(
            &argv("sh -c 'echo \"  --num-iters-cold N  --max-num-seqs N\"' sh"),
            dir.path(),
        )
        .unwrap();
        assert!(
            keys.contains("num_iters_cold") && keys.contains("max_num_seqs"),
            "{keys:?}"
        );
        let e = learn_supported_keys(&argv("sh -c 'exit 2' sh"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("--help=all"), "{e}");
    }
}

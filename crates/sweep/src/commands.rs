//! The commands a sweep runs: the user's `--serve-cmd`, `--bench-cmd` and
//! `--after-bench-cmd`, or llmsweep's own defaults — the simulator (`llmsweep sim`) on a
//! free port and the native client (`llmsweep bench serve`) pointed at it.

use std::path::Path;

use anyhow::{Result, anyhow, bail};

use crate::http::{BaseUrl, free_port};
use crate::server::{AfterBench, flag_value, server_address};

/// The resolved command templates of a sweep (before any parameter item is applied).
#[derive(Debug, Clone)]
pub struct Commands {
    /// The server command.
    pub serve: Vec<String>,
    /// The benchmark command.
    pub bench: Vec<String>,
    /// `--after-bench-cmd`, split.
    pub after_bench: Option<Vec<String>>,
    /// `--server-url`: where to poll `/health` and reset caches, instead of the address in
    /// the serve command.
    pub server_url: Option<BaseUrl>,
    /// True when `serve` is llmsweep's default (the simulator).
    pub serve_is_default: bool,
    /// True when `bench` is llmsweep's default (the native client).
    pub bench_is_default: bool,
}

/// Split a command line like a POSIX shell (vLLM uses `shlex.split`).
pub fn split_cmd(flag: &str, text: &str) -> Result<Vec<String>> {
    let argv = shlex::split(text)
        .ok_or_else(|| anyhow!("{flag}: cannot split '{text}' into words (an unclosed quote?)"))?;
    if argv.is_empty() {
        bail!("{flag} is empty");
    }
    Ok(argv)
}

/// The port a benchmark command targets: `--port`, or the port of `--base-url`, or vLLM's
/// default 8000.
fn bench_target_port(bench: &[String]) -> Result<u16> {
    if let Some(url) = flag_value(bench, &["--base-url"]) {
        return BaseUrl::parse(url)
            .map(|u| u.port)
            .map_err(|e| anyhow!("--bench-cmd: --base-url {e}"));
    }
    match flag_value(bench, &["--port"]) {
        Some(p) => p
            .parse()
            .map_err(|_| anyhow!("--bench-cmd: --port '{p}' is not a port number")),
        None => Ok(8000),
    }
}

impl Commands {
    /// Resolve the commands. `exe` is llmsweep's own executable, used by the defaults.
    ///
    /// - No `--serve-cmd`: `llmsweep sim --host 127.0.0.1 --port P --startup-seconds 0`, with
    ///   P the port the given `--bench-cmd` targets, or a free port.
    /// - No `--bench-cmd`: `llmsweep bench serve` at the server's address (`--server-url`,
    ///   else the serve command's `--host`/`--port`).
    pub fn resolve(
        serve_cmd: Option<&str>,
        bench_cmd: Option<&str>,
        after_bench_cmd: Option<&str>,
        server_url: Option<&str>,
        exe: &Path,
    ) -> Result<Self> {
        let exe = exe.to_string_lossy().into_owned();
        let server_url = server_url
            .map(|u| BaseUrl::parse(u).map_err(|e| anyhow!("--server-url {e}")))
            .transpose()?;
        let bench_given = bench_cmd.map(|c| split_cmd("--bench-cmd", c)).transpose()?;
        let (serve, serve_is_default) = match serve_cmd {
            Some(c) => (split_cmd("--serve-cmd", c)?, false),
            None => {
                let port = match (&bench_given, &server_url) {
                    (_, Some(u)) => u.port,
                    (Some(b), None) => bench_target_port(b)?,
                    (None, None) => free_port()
                        .map_err(|e| anyhow!("cannot find a free port for the simulator: {e}"))?,
                };
                let argv = [
                    &exe,
                    "sim",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--startup-seconds",
                    "0",
                ];
                (argv.iter().map(|s| s.to_string()).collect(), true)
            }
        };
        let (bench, bench_is_default) = match bench_given {
            Some(b) => (b, false),
            None => {
                let target = match &server_url {
                    Some(u) => u.clone(),
                    None => server_address(&serve)?,
                };
                let mut argv: Vec<String> = vec![exe.clone(), "bench".into(), "serve".into()];
                if target.prefix.is_empty() {
                    argv.extend([
                        "--host".into(),
                        target.host.clone(),
                        "--port".into(),
                        target.port.to_string(),
                    ]);
                } else {
                    argv.extend(["--base-url".into(), target.to_string()]);
                }
                (argv, true)
            }
        };
        let after_bench = after_bench_cmd
            .map(|c| split_cmd("--after-bench-cmd", c))
            .transpose()?;
        // An unknown server without --after-bench-cmd is an error now, before anything runs.
        AfterBench::choose(&serve, after_bench.as_deref())?;
        Ok(Self {
            serve,
            bench,
            after_bench,
            server_url,
            serve_is_default,
            bench_is_default,
        })
    }

    /// Where the server started by `serve_argv` (a template with a parameter item applied)
    /// answers.
    pub fn server_base(&self, serve_argv: &[String]) -> Result<BaseUrl> {
        match &self.server_url {
            Some(u) => Ok(u.clone()),
            None => server_address(serve_argv),
        }
    }

    /// How caches are reset for the server started by `serve_argv`.
    pub fn after_bench_for(&self, serve_argv: &[String]) -> Result<AfterBench> {
        AfterBench::choose(serve_argv, self.after_bench.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_simulator_and_the_native_client() {
        let c = Commands::resolve(None, None, None, None, Path::new("/bin/llmsweep")).unwrap();
        assert!(c.serve_is_default && c.bench_is_default);
        assert_eq!(
            &c.serve[..4],
            ["/bin/llmsweep", "sim", "--host", "127.0.0.1"]
        );
        let port = flag_value(&c.serve, &["--port"]).unwrap().to_string();
        assert_eq!(
            c.bench,
            [
                "/bin/llmsweep",
                "bench",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                &port
            ]
        );
    }

    #[test]
    fn default_server_listens_where_the_given_bench_looks() {
        let c = Commands::resolve(
            None,
            Some("vllm bench serve --port 8123"),
            None,
            None,
            Path::new("/x/llmsweep"),
        )
        .unwrap();
        assert_eq!(flag_value(&c.serve, &["--port"]), Some("8123"));
        let c = Commands::resolve(
            None,
            Some("vllm bench serve --base-url http://127.0.0.1:9999"),
            None,
            None,
            Path::new("/x/llmsweep"),
        )
        .unwrap();
        assert_eq!(flag_value(&c.serve, &["--port"]), Some("9999"));
        let c = Commands::resolve(
            None,
            Some("vllm bench serve"),
            None,
            None,
            Path::new("/x/llmsweep"),
        )
        .unwrap();
        assert_eq!(flag_value(&c.serve, &["--port"]), Some("8000"));
    }

    #[test]
    fn default_bench_targets_the_given_server() {
        let c = Commands::resolve(
            Some("vllm serve m --port 8555"),
            None,
            None,
            None,
            Path::new("/x/llmsweep"),
        )
        .unwrap();
        assert_eq!(c.bench[3..], ["--host", "localhost", "--port", "8555"]);
        let c = Commands::resolve(
            Some("vllm serve m"),
            None,
            None,
            Some("http://10.0.0.2:81/api"),
            Path::new("/x/llmsweep"),
        )
        .unwrap();
        assert_eq!(c.bench[3..], ["--base-url", "http://10.0.0.2:81/api"]);
    }

    #[test]
    fn bad_commands_are_named() {
        let e = Commands::resolve(
            Some("vllm 'serve"),
            None,
            None,
            None,
            Path::new("/x/llmsweep"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--serve-cmd"), "{e}");
        let e = Commands::resolve(
            Some("llama-server -m x"),
            None,
            None,
            None,
            Path::new("/x/llmsweep"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--after-bench-cmd"), "{e}");
        let e = Commands::resolve(None, Some(""), None, None, Path::new("/x/llmsweep"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--bench-cmd is empty"), "{e}");
    }
}

/// The dataset size of a benchmark: `num_prompts` from the bench item, else the last
/// `--num-prompts` of the bench command, else vLLM's default 1000.
pub fn dataset_size(bench: &llmsweep_core::params::ParamItem, bench_cmd: &[String]) -> u64 {
    if let Some(n) = bench
        .get("num_prompts")
        .and_then(llmsweep_core::record::as_number)
    {
        return n.max(1.0) as u64;
    }
    flag_value(bench_cmd, &["--num-prompts", "--num_prompts"])
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1000)
        .max(1)
}

#[cfg(test)]
mod dataset_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dataset_size_from_item_command_or_default() {
        let item = |v: serde_json::Value| {
            llmsweep_core::params::ParamItem::new(v.as_object().unwrap().clone())
        };
        let cmd: Vec<String> = "b --num-prompts 50 --num_prompts 60"
            .split(' ')
            .map(String::from)
            .collect();
        assert_eq!(dataset_size(&item(json!({"num_prompts": 7})), &cmd), 7);
        assert_eq!(dataset_size(&item(json!({})), &cmd), 60);
        assert_eq!(dataset_size(&item(json!({})), &["b".to_string()]), 1000);
    }
}

//! The llmsweep orchestrator: plans, runs and resumes sweeps of inference servers and
//! benchmark commands, compatible with vLLM's `vllm bench sweep`.
//!
//! This room talks to servers and benchmark clients only through commands, HTTP and
//! result files: the same code drives `vllm serve`, SGLang, llama.cpp or llmsweep's
//! simulator, and `vllm bench serve` or llmsweep's own client. It never links them.
//!
//! - [`plan`]: serve × bench combinations, `--link-vars` (pure);
//! - [`commands`]: the user's commands or the defaults (simulator + native client);
//! - [`process`], [`signals`], [`leftovers`]: children in their own process groups that
//!   die with us, on error, Ctrl-C, SIGTERM or `kill -9`;
//! - [`server`], [`http`]: start a server, wait for `/health`, reset caches, stop it;
//! - [`runner`]: one benchmark run and one combination's runs, annotated and resumable;
//! - [`experiment`], [`options`]: the experiment folder and `experiment.json`;
//! - [`session`]: the experiment life cycle and the loop over servers shared by sweeps;
//! - [`serve`]: `llmsweep serve`; [`progress`]: the progress bar and the final table;
//! - [`search`], [`pchip`], [`sla`]: `llmsweep serve-sla`, the SLA search;
//! - [`workload`]: `llmsweep serve-workload`, the latency–throughput curve;
//! - [`startup`]: `llmsweep bench startup` and `llmsweep startup` (server start-up time);
//! - [`shard`]: one sweep split over a Slurm array or a Kubernetes Indexed Job;
//! - [`merge`]: `llmsweep merge`, one experiment from its shards (copy, check, summaries);
//! - [`jobs`]: `llmsweep plan slurm|k8s`, the sbatch script or Job manifest of a sharded
//!   sweep.

pub mod commands;
pub mod console;
pub mod experiment;
pub mod http;
pub mod jobs;
pub mod leftovers;
pub mod merge;
pub mod options;
pub mod pchip;
pub mod plan;
pub mod process;
pub mod progress;
pub mod runner;
pub mod search;
pub mod serve;
pub mod server;
pub mod session;
pub mod shard;
pub mod signals;
pub mod sla;
pub mod startup;
pub mod workload;

//! Simulated start-up (sim-model.md §2.10): the phases of a vLLM start, cold or warm, the
//! log lines vLLM prints for them (so start-up benchmarks can parse compile times), and the
//! compile-cache marker that makes the next start warm.
//!
//! | phase | cold | warm |
//! |---|---|---|
//! | process start, imports, workers | 15 s (+3 s with several GPUs) | same |
//! | weight load | W / 1 GB/s | W / 5 GB/s |
//! | torch.compile | Dynamo 8 s + Inductor 32 s | Dynamo 7.5 s + cache load 1.5 s |
//! | memory profiling, KV allocation | 2.5 s | same |
//! | CUDA-graph capture | 25 s | 17 s |
//! | API server up | 1.5 s | same |
//!
//! `--enforce-eager` skips compilation and graph capture. Each phase gets ±5 % seeded
//! jitter. A start is warm when the cache root holds this configuration's marker.

use std::path::{Path, PathBuf};

use crate::hashing::{hash_bytes, mix, unit_f64};

/// One phase of a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// Process start, imports, engine and worker spawn.
    Process,
    /// Weight loading.
    Weights,
    /// Dynamo bytecode transform.
    Dynamo,
    /// Inductor compilation (cold) or loading the compiled graphs (warm).
    Inductor,
    /// Memory profiling and KV-cache allocation.
    Memory,
    /// CUDA-graph capture.
    Graphs,
    /// API server start.
    Api,
}

/// A phase with its simulated duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// Which phase.
    pub kind: PhaseKind,
    /// Seconds it takes (after scaling).
    pub seconds: f64,
}

/// What the start-up time depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartupInputs {
    /// Bytes of all weights.
    pub weight_bytes: f64,
    /// GPUs of one replica (TP × PP).
    pub gpus: u32,
    /// `--enforce-eager`.
    pub enforce_eager: bool,
    /// Whether the compile cache holds this configuration.
    pub warm: bool,
    /// Multiplies every phase (profile factor × `--startup-scale`).
    pub scale: f64,
    /// `--seed`, for the jitter.
    pub seed: u64,
}

/// The phases of one start, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct StartupPlan {
    /// Phases with their durations (skipped phases are absent).
    pub phases: Vec<Phase>,
    /// Whether this start is warm.
    pub warm: bool,
}

impl StartupPlan {
    /// Total seconds.
    pub fn total_seconds(&self) -> f64 {
        self.phases.iter().fold(0.0, |total, p| total + p.seconds)
    }

    /// Seconds of `kind` (0 when skipped).
    pub fn seconds(&self, kind: PhaseKind) -> f64 {
        self.phases
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.seconds)
            .sum()
    }

    /// `torch.compile takes … s in total`: Dynamo plus Inductor.
    pub fn compile_seconds(&self) -> f64 {
        self.seconds(PhaseKind::Dynamo) + self.seconds(PhaseKind::Inductor)
    }

    /// Multiply every phase so the plan lasts `seconds` in total.
    pub fn scaled_to(mut self, seconds: f64) -> Self {
        let total = self.total_seconds();
        let k = if total > 0.0 { seconds / total } else { 0.0 };
        for p in &mut self.phases {
            p.seconds *= k;
        }
        self
    }
}

/// The phases of a start.
pub fn plan_startup(i: &StartupInputs) -> StartupPlan {
    use PhaseKind::*;
    let gb = i.weight_bytes / 1e9;
    let mut raw: Vec<(PhaseKind, f64)> = vec![
        (Process, if i.gpus > 1 { 18.0 } else { 15.0 }),
        (Weights, if i.warm { gb / 5.0 } else { gb }),
    ];
    if !i.enforce_eager {
        raw.push((Dynamo, if i.warm { 7.5 } else { 8.0 }));
        raw.push((Inductor, if i.warm { 1.5 } else { 32.0 }));
    }
    raw.push((Memory, 2.5));
    if !i.enforce_eager {
        raw.push((Graphs, if i.warm { 17.0 } else { 25.0 }));
    }
    raw.push((Api, 1.5));
    let phases = raw
        .into_iter()
        .enumerate()
        .map(|(n, (kind, seconds))| {
            let u = unit_f64(mix(mix(i.seed, n as u64), u64::from(i.warm)));
            let jitter = 1.0 + 0.05 * (2.0 * u - 1.0);
            Phase {
                kind,
                seconds: seconds * jitter * i.scale,
            }
        })
        .collect();
    StartupPlan {
        phases,
        warm: i.warm,
    }
}

/// vLLM's cache root: `$VLLM_CACHE_ROOT`, else `$XDG_CACHE_HOME/vllm`, else `~/.cache/vllm`.
pub fn default_cache_root() -> PathBuf {
    if let Some(root) = std::env::var_os("VLLM_CACHE_ROOT").filter(|v| !v.is_empty()) {
        return PathBuf::from(root);
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("vllm");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("vllm")
}

/// The marker file whose presence makes a start of this configuration warm, under
/// `<root>/torch_compile_cache/` like vLLM's own compile cache.
pub fn compile_cache_marker(root: &Path, config_key: &str) -> PathBuf {
    root.join("torch_compile_cache")
        .join(format!(
            "llmsweep-sim-{:016x}",
            hash_bytes(config_key.as_bytes())
        ))
        .join("compiled.marker")
}

/// Record that this configuration has started once, so the next start is warm.
pub fn write_marker(marker: &Path, config_key: &str) -> std::io::Result<()> {
    if let Some(dir) = marker.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(marker, format!("{config_key}\n"))
}

/// Format an integer with thousands separators, as vLLM's log lines do (`438,352`).
pub fn with_commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(weight_gb: f64, gpus: u32, eager: bool, warm: bool) -> StartupInputs {
        StartupInputs {
            weight_bytes: weight_gb * 1e9,
            gpus,
            enforce_eager: eager,
            warm,
            scale: 1.0,
            seed: 0,
        }
    }

    #[test]
    fn totals_match_the_reference() {
        // 8B cold ≈ 100 s, warm ≈ 50 s; 70B TP4 cold ≈ 230 s, warm ≈ 80 s.
        let near = |a: f64, b: f64| (a - b).abs() < 0.08 * b;
        assert!(near(
            plan_startup(&inputs(16.06, 1, false, false)).total_seconds(),
            100.0
        ));
        assert!(near(
            plan_startup(&inputs(16.06, 1, false, true)).total_seconds(),
            50.0
        ));
        assert!(near(
            plan_startup(&inputs(141.0, 4, false, false)).total_seconds(),
            230.0
        ));
        assert!(near(
            plan_startup(&inputs(141.0, 4, false, true)).total_seconds(),
            78.0
        ));
    }

    #[test]
    fn eager_skips_compile_and_graphs() {
        let eager = plan_startup(&inputs(16.0, 1, true, false));
        let graphs = plan_startup(&inputs(16.0, 1, false, false));
        assert_eq!(eager.compile_seconds(), 0.0);
        assert_eq!(eager.seconds(PhaseKind::Graphs), 0.0);
        assert!(eager.total_seconds() < graphs.total_seconds());
        assert!(graphs.compile_seconds() > 35.0);
    }

    #[test]
    fn scaling_keeps_proportions() {
        let cold = plan_startup(&inputs(16.0, 1, false, false)).scaled_to(2.0);
        assert!((cold.total_seconds() - 2.0).abs() < 1e-9);
        let mut i = inputs(16.0, 1, false, false);
        i.scale = 0.01;
        assert!((plan_startup(&i).total_seconds() - 1.0).abs() < 0.1);
    }

    #[test]
    fn marker_lives_under_the_cache_root() {
        let dir = tempfile::tempdir().unwrap();
        let m = compile_cache_marker(dir.path(), "model=x tp=1");
        assert!(m.starts_with(dir.path().join("torch_compile_cache")));
        assert_ne!(m, compile_cache_marker(dir.path(), "model=x tp=2"));
        assert!(!m.exists());
        write_marker(&m, "model=x tp=1").unwrap();
        assert!(m.exists());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(with_commas(438_352), "438,352");
        assert_eq!(with_commas(131_072), "131,072");
        assert_eq!(with_commas(999), "999");
        assert_eq!(with_commas(1_000_000), "1,000,000");
    }
}

/// Facts the start-up log lines mention.
#[derive(Debug, Clone, PartialEq)]
pub struct LogFacts {
    /// The model id.
    pub model: String,
    /// Weights per GPU, GiB.
    pub weights_gib_per_gpu: f64,
    /// KV-cache memory, GiB (`None` for profiles without a KV model).
    pub available_kv_gib: Option<f64>,
    /// KV-cache size in tokens.
    pub kv_tokens: u64,
    /// `--max-model-len`.
    pub max_model_len: u32,
    /// Model-length requests that fit at once.
    pub max_concurrency: f64,
}

/// The lines vLLM logs when `phase` ends (`compile_seconds` and `init_seconds` are the
/// totals of the whole start).
pub fn phase_log_lines(phase: &Phase, plan: &StartupPlan, facts: &LogFacts) -> Vec<String> {
    let s = phase.seconds;
    let init_engine =
        plan.compile_seconds() + plan.seconds(PhaseKind::Memory) + plan.seconds(PhaseKind::Graphs);
    let init_line = format!(
        "init engine (profile, create kv cache, warmup model) took {init_engine:.2} seconds"
    );
    let has_graphs = plan.phases.iter().any(|p| p.kind == PhaseKind::Graphs);
    match phase.kind {
        PhaseKind::Process => vec![format!("Starting to load model {}...", facts.model)],
        PhaseKind::Weights => vec![
            format!("Loading weights took {s:.2} seconds"),
            format!(
                "Model loading took {:.4} GiB memory and {s:.6} seconds",
                facts.weights_gib_per_gpu
            ),
        ],
        PhaseKind::Dynamo => vec![format!("Dynamo bytecode transform time: {s:.2} s")],
        PhaseKind::Inductor => {
            let first = if plan.warm {
                format!(
                    "Directly load the compiled graph(s) for dynamic shape from the cache, took {s:.3} s"
                )
            } else {
                format!("Compiling a graph for dynamic shape takes {s:.2} s")
            };
            vec![
                first,
                format!(
                    "torch.compile takes {:.2} s in total",
                    plan.compile_seconds()
                ),
            ]
        }
        PhaseKind::Memory => {
            let mut lines = match facts.available_kv_gib {
                Some(gib) => vec![
                    format!("Available KV cache memory: {gib:.2} GiB"),
                    format!("GPU KV cache size: {} tokens", with_commas(facts.kv_tokens)),
                    format!(
                        "Maximum concurrency for {} tokens per request: {:.2}x",
                        with_commas(u64::from(facts.max_model_len)),
                        facts.max_concurrency
                    ),
                ],
                None => vec![
                    "This profile simulates no KV cache: latency does not depend on load".into(),
                ],
            };
            if !has_graphs {
                lines.push(init_line.clone());
            }
            lines
        }
        PhaseKind::Graphs => vec![
            format!("Graph capturing finished in {s:.0} secs, took 0.50 GiB"),
            init_line,
        ],
        PhaseKind::Api => Vec::new(),
    }
}

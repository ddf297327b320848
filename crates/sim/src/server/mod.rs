//! The real-time HTTP server: binds early, plays the simulated start-up (answering 503
//! until it is over), then serves the OpenAI-compatible API until SIGTERM or SIGINT.
//!
//! One engine thread owns the simulator and the clock ([`driver`]); the tokio runtime only
//! parses requests, queues them for the engine and writes SSE bytes ([`routes`], [`sink`]).

pub mod boot;
pub mod driver;
pub mod routes;
pub mod sink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use tokio::net::TcpSocket;
use tokio::sync::watch;

use crate::config::SimConfig;
use crate::log;
use crate::profile::Timing;
use crate::server::driver::{EngineMsg, run_engine};
use crate::server::routes::{AppState, router};
use crate::server::sink::{Framing, LagStats};
use crate::startup::{
    LogFacts, Phase, PhaseKind, StartupInputs, StartupPlan, compile_cache_marker, plan_startup,
    write_marker,
};

/// Listen backlog: room for thousands of clients connecting at once.
const LISTEN_BACKLOG: u32 = 4096;
/// How long a shutdown waits for open connections before leaving anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(700);

/// How and where to serve.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    /// `--host`.
    pub host: String,
    /// `--port` (0 picks a free port; the log names it).
    pub port: u16,
    /// `--api-key` keys (any one is accepted); empty: no authentication.
    pub api_keys: Vec<String>,
    /// `--max-request-body-bytes`.
    pub max_body_bytes: usize,
    /// `--startup-scale`: multiplies every start-up phase.
    pub startup_scale: f64,
    /// `--startup-seconds`: length of a cold start (warm keeps its proportion); 0 skips.
    pub startup_seconds: Option<f64>,
    /// Where the compile-cache marker lives (`--cache-root`, `VLLM_CACHE_ROOT`, …).
    pub cache_root: PathBuf,
    /// Tokio worker threads.
    pub worker_threads: usize,
}

/// Serve until SIGTERM or SIGINT; returns when shut down.
pub fn serve(config: SimConfig, opts: ServeOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.worker_threads.max(1))
        .thread_name("sim-http")
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let outcome = runtime.block_on(serve_async(config, opts));
    // Idle blocking threads (name resolution) must not delay the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    outcome
}

async fn bind(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("--host {host}: cannot resolve"))?
        .next()
        .with_context(|| format!("--host {host}: no address"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .context("cannot create a socket")?;
    socket.set_reuseaddr(true).context("SO_REUSEADDR")?;
    socket
        .bind(addr)
        .with_context(|| format!("cannot listen on {addr} (--host/--port)"))?;
    socket
        .listen(LISTEN_BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Resolves once SIGTERM or SIGINT arrives.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn startup_plan(config: &SimConfig, opts: &ServeOptions, warm: bool) -> StartupPlan {
    let inputs = |warm| StartupInputs {
        weight_bytes: config.profile.arch.weight_bytes(),
        gpus: config.parallelism.tp * config.parallelism.pp,
        enforce_eager: config.enforce_eager,
        warm,
        scale: config.profile.startup_factor * opts.startup_scale,
        seed: config.seed,
    };
    let plan = plan_startup(&inputs(warm));
    match opts.startup_seconds {
        // Skipped: only the (instant) memory phase, whose log lines size the KV cache.
        Some(s) if s <= 0.0 => StartupPlan {
            phases: vec![Phase {
                kind: PhaseKind::Memory,
                seconds: 0.0,
            }],
            warm,
        },
        Some(s) => {
            let cold = plan_startup(&inputs(false)).total_seconds();
            let total = plan.total_seconds() * s / cold.max(f64::MIN_POSITIVE);
            plan.scaled_to(total)
        }
        None => plan,
    }
}

fn log_facts(config: &SimConfig) -> LogFacts {
    let gpus = f64::from(config.parallelism.tp * config.parallelism.pp);
    LogFacts {
        model: config.model.clone(),
        weights_gib_per_gpu: config.profile.arch.weight_bytes() / crate::profile::GIB / gpus,
        available_kv_gib: config.memory.map(|m| m.available_kv_gib),
        kv_tokens: config.memory.map_or(0, |m| m.capacity_tokens),
        max_model_len: config.scheduler.max_model_len,
        max_concurrency: config.memory.map_or(0.0, |m| m.max_concurrency),
    }
}

async fn serve_async(config: SimConfig, opts: ServeOptions) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        termination().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|&stop| stop).await;
    };

    let listener = bind(&opts.host, opts.port).await?;
    let addr = listener.local_addr().context("local address")?;
    log::info(&format!(
        "llmsweep sim {}: profile {} ({}), serving {} as {}",
        env!("CARGO_PKG_VERSION"),
        config.profile.name,
        config.profile.summary,
        config.model,
        config.served_model_names.join(", "),
    ));
    for note in &config.notes {
        log::warn(note);
    }
    for line in &config.info {
        log::info(line);
    }
    // The cache-reset routes are always on; say so when vLLM would have said it.
    if std::env::var("VLLM_SERVER_DEV_MODE").is_ok_and(|v| v.trim() == "1") {
        log::warn(
            "SECURITY WARNING: Development endpoints are enabled! This should NOT be used in production!",
        );
    }
    log::info(&format!(
        "listening on http://{addr} (503 until start-up completes)"
    ));

    let t0 = Instant::now();
    let (engine_tx, engine_rx) = std::sync::mpsc::channel();
    let sim = config.build();
    let engine = std::thread::Builder::new()
        .name("sim-engine".into())
        .spawn(move || run_engine(sim, engine_rx, t0))
        .context("cannot start the engine thread")?;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let state = Arc::new(AppState {
        ready: AtomicBool::new(false),
        engine: engine_tx.clone(),
        served_model_names: config.served_model_names.clone(),
        root: config.model.clone(),
        max_model_len: config.scheduler.max_model_len,
        block_size: config.scheduler.block_size,
        seed: config.seed,
        tokenizer: config.tokenizer(),
        api_keys: opts.api_keys.clone(),
        max_body_bytes: opts.max_body_bytes,
        created,
        lag: Arc::new(LagStats::default()),
        t0,
        next_id: AtomicU64::new(0),
        framing: match config.profile.timing {
            Timing::Instant => Framing::PerToken,
            Timing::Roofline { .. } | Timing::Fixed => Framing::Merge,
        },
        pieces: std::sync::Mutex::default(),
    });
    let app = router(Arc::clone(&state));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );

    let key = config.cache_key();
    let marker = compile_cache_marker(&opts.cache_root, &key);
    let warm = marker.exists();
    let plan = startup_plan(&config, &opts, warm);
    log::info(&format!(
        "{} start: {:.2} s of simulated start-up (compile cache {})",
        if warm { "warm" } else { "cold" },
        plan.total_seconds(),
        marker.display()
    ));
    let completed = boot::play(&plan, &log_facts(&config), stopped(stop_rx.clone())).await;
    if completed {
        // A skipped start-up compiled nothing, so it leaves the cache as it was.
        if plan.total_seconds() > 0.0
            && let Err(e) = write_marker(&marker, &key)
        {
            log::warn(&format!(
                "cannot write the compile-cache marker {}: {e}; the next start will be cold too",
                marker.display()
            ));
        }
        log::info(&format!("Starting vLLM API server 0 on http://{addr}"));
        state.ready.store(true, Ordering::Release);
        log::info("Application startup complete.");
        stopped(stop_rx.clone()).await;
    }

    log::info("Shutting down.");
    let _ = engine_tx.send(EngineMsg::Shutdown);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(Ok(Err(e))) => log::warn(&format!("HTTP server error: {e}")),
        Ok(Err(e)) => log::warn(&format!("HTTP server task failed: {e}")),
        Ok(Ok(Ok(()))) | Err(_) => {}
    }
    drop(state);
    let _ = engine.join();
    log::info("Shutdown complete.");
    Ok(())
}

//! Playing a start-up plan in real time: sleep through each phase and print vLLM's lines.

use std::time::Duration;

use crate::log;
use crate::startup::{LogFacts, StartupPlan, phase_log_lines};

/// Sleep through every phase, logging as vLLM does. Returns early (with `false`) when
/// `cancelled` resolves first.
pub async fn play(
    plan: &StartupPlan,
    facts: &LogFacts,
    cancelled: impl std::future::Future<Output = ()>,
) -> bool {
    tokio::pin!(cancelled);
    for phase in &plan.phases {
        let pause = tokio::time::sleep(Duration::from_secs_f64(phase.seconds.max(0.0)));
        tokio::select! {
            () = pause => {}
            () = &mut cancelled => return false,
        }
        for line in phase_log_lines(phase, plan, facts) {
            log::info(&line);
        }
    }
    true
}

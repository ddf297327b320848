//! What every server sweep does around its own logic: the experiment's life cycle
//! (signals, `experiment.json`, cleaning up after a killed invocation, the resume hint on
//! failure) and the loop over servers (start the ones with work left, hand them to the
//! sweep, stop them, record server failures).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use llmsweep_core::layout::server_failure_file;
use llmsweep_core::params::ParamItem;

use crate::experiment::{Invocation, run_invocation};
use crate::leftovers;
use crate::options::Prepared;
use crate::plan::{Plan, ServerPlan};
use crate::process::quote_cmd;
use crate::progress::Ui;
use crate::runner::{Failure, RunError, write_server_failure};
use crate::server::Server;
use crate::signals;

/// Run `body` as one invocation of an experiment of `kind` (see [`run_invocation`]), with
/// `identity_extra` among the settings a resume must repeat.
pub fn with_experiment<T>(
    prepared: &Prepared,
    kind: &str,
    identity_extra: Map<String, Value>,
    body: impl FnOnce() -> Result<T>,
    failed: impl Fn(&T) -> bool,
) -> Result<T> {
    let invocation = Invocation {
        dir: &prepared.experiment_dir,
        identity: &prepared.identity(kind, identity_extra),
        description: prepared.description(),
        argv: &prepared.opts.argv,
        shard: prepared.opts.shard,
        resuming: prepared.resuming(),
        resume_command: prepared.resume_command(),
    };
    run_invocation(invocation, body, failed)
}

/// For each server of the plan that `needs_server`, start it, run `body`, stop it. A
/// server that fails to start or dies is recorded (`--continue-on-error`) or stops the
/// sweep; failures are appended to `failures`, one line each.
pub fn for_each_server(
    prepared: &Prepared,
    plan: &Plan,
    ui: &Ui,
    failures: &mut Vec<String>,
    needs_server: impl Fn(&ServerPlan) -> bool,
    mut body: impl FnMut(&mut Server, &ServerPlan) -> Result<(), RunError>,
) -> Result<()> {
    for (i, sp) in plan.servers.iter().enumerate() {
        let label = format!("server {}/{}", i + 1, plan.servers.len());
        if !needs_server(sp) {
            if !sp.combinations.is_empty() {
                ui.line(&format!(
                    "[{label}] {}: every combination is done; not starting it",
                    serve_label(&sp.serve)
                ));
            }
            continue;
        }
        let mut server = match start_server(prepared, sp, &label, ui) {
            Ok(s) => s,
            Err(failure) => {
                record_server_failure(prepared, &sp.serve, &failure, ui)?;
                failures.push(format!(
                    "{}: {}",
                    serve_label(&sp.serve),
                    first_line(&failure.message)
                ));
                continue;
            }
        };
        let pgid = server.pid();
        let result = body(&mut server, sp);
        server.stop();
        leftovers::forget(&prepared.experiment_dir, prepared.opts.shard, pgid);
        match result {
            Ok(()) => {}
            Err(RunError::ServerDied(failure)) => {
                record_server_failure(prepared, &sp.serve, &failure, ui)?;
                failures.push(format!(
                    "{}: {}",
                    serve_label(&sp.serve),
                    first_line(&failure.message)
                ));
            }
            Err(RunError::Failed(failure)) => anyhow::bail!("{}", failure.message),
            Err(RunError::Interrupted) => anyhow::bail!("interrupted"),
        }
    }
    Ok(())
}

/// Start a serve item's server; a failure is returned for the caller to record.
pub fn start_server(
    prepared: &Prepared,
    sp: &ServerPlan,
    label: &str,
    ui: &Ui,
) -> std::result::Result<Server, Failure> {
    let fail = |e: anyhow::Error| Failure {
        error_type: "ServerStartFailed",
        message: format!("{e:#}"),
    };
    let argv = sp.serve.apply_to_cmd(&prepared.cmds.serve);
    let base = prepared.cmds.server_base(&argv).map_err(fail)?;
    let after = prepared.cmds.after_bench_for(&argv).map_err(fail)?;
    let log = prepared.server_log(&sp.serve);
    ui.line(&format!(
        "[{label}] starting {}: {}",
        serve_label(&sp.serve),
        quote_cmd(&argv)
    ));
    ui.set_message(&format!("starting {}", serve_label(&sp.serve)));
    let started = std::time::Instant::now();
    let server = Server::start(
        &argv,
        base,
        &log,
        after,
        prepared.opts.show_stdout,
        Duration::from_secs(prepared.opts.server_ready_timeout_s),
        |pgid| {
            leftovers::remember(
                &prepared.experiment_dir,
                prepared.opts.shard,
                pgid,
                &argv[0],
            )
        },
    )
    .map_err(fail)?;
    ui.line(&format!(
        "[{label}] ready at {} after {:.1} s (log: {})",
        server.base(),
        started.elapsed().as_secs_f64(),
        log.display()
    ));
    Ok(server)
}

/// Write a server failure file (with `--continue-on-error`), or stop the sweep.
pub fn record_server_failure(
    prepared: &Prepared,
    serve: &ParamItem,
    failure: &Failure,
    ui: &Ui,
) -> Result<()> {
    if signals::interrupted() {
        anyhow::bail!("interrupted");
    }
    if !prepared.opts.continue_on_error {
        anyhow::bail!("{}: {}", serve_label(serve), failure.message);
    }
    let path = server_failure_file(&prepared.experiment_dir, serve);
    ui.line(&format!(
        "{} FAILED: {} (recorded in {})",
        serve_label(serve),
        first_line(&failure.message),
        path.display()
    ));
    write_server_failure(&path, failure, serve)
        .with_context(|| format!("cannot write '{}'", path.display()))
}

/// A serve item for messages.
pub fn serve_label(serve: &ParamItem) -> String {
    if serve.is_empty() {
        "default server".into()
    } else {
        format!("SERVE--{}", serve.name())
    }
}

/// The first line of a message.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The lines every dry run starts with: nothing runs, where results would go, the shard.
pub fn dry_run_header(
    out: &mut impl std::io::Write,
    prepared: &Prepared,
    plan: &Plan,
) -> Result<()> {
    writeln!(out, "Dry run: nothing is started or written.")?;
    writeln!(
        out,
        "Experiment folder: {}",
        prepared.experiment_dir.display()
    )?;
    if let Some(line) = prepared.shard_line(plan) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A dry run's lines for server `i` of `plan`: its label, its command, where it answers.
pub fn dry_run_server(
    out: &mut impl std::io::Write,
    prepared: &Prepared,
    plan: &Plan,
    i: usize,
) -> Result<()> {
    let sp = &plan.servers[i];
    let argv = sp.serve.apply_to_cmd(&prepared.cmds.serve);
    writeln!(
        out,
        "\n[server {}/{}] {}",
        i + 1,
        plan.servers.len(),
        serve_label(&sp.serve)
    )?;
    writeln!(out, "  $ {}", quote_cmd(&argv))?;
    writeln!(
        out,
        "  ready when GET {}/health answers 200 (timeout {} s)",
        prepared.cmds.server_base(&argv)?,
        prepared.opts.server_ready_timeout_s
    )?;
    Ok(())
}

//! `llmsweep startup`: vLLM's `vllm bench sweep startup`. For every serve item × startup
//! item, run the startup command `--num-runs` times; write vLLM's layout:
//!
//! ```text
//! OUTPUT_DIR/EXPERIMENT/
//!   experiment.json   summary.csv
//!   SERVE--<serve name>-STARTUP--<startup name>/
//!     run=0.json  run=0.log  run=0.logs/  summary.json
//! ```
//!
//! `run=N.json` is the startup command's JSON plus `run_number` and the items' parameters
//! (indent 4, written atomically); `run=N.log` its output; `run=N.logs/` the server logs
//! of `llmsweep bench startup`. `--resume` runs only the runs without a result; a failed
//! run stops the sweep (as vLLM's does) with the command to resume it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Map, Value, json};

use llmsweep_core::layout::{run_file_name, write_atomic};
use llmsweep_core::params::ParamSweep;
use llmsweep_core::record::{Record, parse_json_lenient, read_json, to_json_pretty};

use crate::commands::split_cmd;
use crate::experiment::{
    ExperimentIdentity, Invocation, check_experiment_dir, default_experiment_name, run_invocation,
};
use crate::process::{Output, Supervised, describe_status, quote_cmd, tail_lines};
use crate::progress::{Ui, mean};
use crate::runner::{annotate, completed_runs, display_name, existing_result, summary_path};
use crate::serve::write_summary_csv_at;
use crate::shard::Shard;
use crate::signals;

use super::command::{StartupCommand, StartupKind, check_template, learn_supported_keys};
use super::plan::{Combination, filter_items, plan};

/// Lines of a startup command's output quoted when it fails.
const OUTPUT_TAIL_LINES: usize = 30;

/// Options of `llmsweep startup`, as given.
#[derive(Debug, Clone)]
pub struct StartupSweepOptions {
    /// `--startup-cmd`; `None` runs `llmsweep bench startup`.
    pub startup_cmd: Option<String>,
    /// `--serve-params`.
    pub serve_params: Option<PathBuf>,
    /// `--startup-params`.
    pub startup_params: Option<PathBuf>,
    /// `--strict-params`: an unsupported key is an error, not a warning.
    pub strict_params: bool,
    /// `-o/--output-dir`.
    pub output_dir: PathBuf,
    /// `-e/--experiment-name`.
    pub experiment_name: Option<String>,
    /// `--num-runs`.
    pub num_runs: u32,
    /// `--show-stdout`: echo the startup command's output.
    pub show_stdout: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--resume`.
    pub resume: bool,
    /// llmsweep's own executable.
    pub exe: PathBuf,
    /// The command line as typed.
    pub argv: Vec<String>,
    /// The keys `llmsweep bench startup` accepts (from its command-line definition).
    pub bench_startup_keys: BTreeSet<String>,
    /// This process's shard of the sweep (`--shard`, or a job array's environment).
    pub shard: Option<Shard>,
}

/// One combination's runs, for the final table.
#[derive(Debug, Clone)]
pub struct StartupRow {
    /// The combination's folder name.
    pub name: String,
    /// Its runs.
    pub records: Vec<Record>,
}

/// What a startup sweep did.
#[derive(Debug, Clone)]
pub struct StartupSweepOutcome {
    /// `OUTPUT_DIR/EXPERIMENT`.
    pub experiment_dir: PathBuf,
    /// Nothing ran (`--dry-run`).
    pub dry_run: bool,
    /// One row per combination.
    pub rows: Vec<StartupRow>,
    /// The experiment's `summary.csv`.
    pub summary_csv: Option<PathBuf>,
}

/// Everything checked and loaded before anything runs.
struct Prepared {
    opts: StartupSweepOptions,
    template: StartupCommand,
    combinations: Vec<Combination>,
    /// Every combination's folder, relative to the experiment (`""` for the experiment
    /// folder itself), in plan order, all shards included: recorded so that
    /// `llmsweep merge` knows the plan without learning the startup command's keys.
    planned_dirs: Vec<String>,
    experiment_name: String,
    experiment_dir: PathBuf,
    identity: ExperimentIdentity,
}

/// Run `llmsweep startup`.
pub fn run_startup_sweep(opts: StartupSweepOptions) -> Result<StartupSweepOutcome> {
    let prepared = prepare(opts)?;
    if prepared.opts.dry_run {
        print_dry_run(&prepared)?;
        return Ok(StartupSweepOutcome {
            experiment_dir: prepared.experiment_dir,
            dry_run: true,
            rows: Vec::new(),
            summary_csv: None,
        });
    }
    let mut description = Map::new();
    description.insert("startup_cmd".into(), json!(prepared.template.argv));
    description.insert(
        "serve_params_file".into(),
        json!(prepared.opts.serve_params),
    );
    description.insert(
        "startup_params_file".into(),
        json!(prepared.opts.startup_params),
    );
    description.insert("combinations".into(), json!(prepared.planned_dirs));
    let invocation = Invocation {
        dir: &prepared.experiment_dir,
        identity: &prepared.identity,
        description,
        argv: &prepared.opts.argv,
        shard: prepared.opts.shard,
        resuming: prepared.opts.resume || prepared.opts.shard.is_some(),
        resume_command: resume_command(&prepared),
    };
    run_invocation(invocation, || execute(&prepared), |_| false)
}

fn prepare(opts: StartupSweepOptions) -> Result<Prepared> {
    if opts.num_runs == 0 {
        bail!("--num-runs must be at least 1");
    }
    if let Some(name) = &opts.experiment_name
        && (name.is_empty() || name.contains('/') || name == "." || name == "..")
    {
        bail!(
            "-e/--experiment-name '{name}' must be a plain folder name (no '/', not '.' or '..')"
        );
    }
    let serve_items = ParamSweep::load(opts.serve_params.as_deref())?;
    let startup_items = ParamSweep::load(opts.startup_params.as_deref())?;
    let experiment_name = opts
        .experiment_name
        .clone()
        .unwrap_or_else(default_experiment_name);
    if opts.shard.is_some() && opts.experiment_name.is_none() {
        bail!(
            "a shard needs -e/--experiment-name, so that every shard writes into the same experiment"
        );
    }
    let experiment_dir = if opts.dry_run || opts.shard.is_some() {
        opts.output_dir.join(&experiment_name)
    } else {
        check_experiment_dir(&opts.output_dir, &experiment_name, opts.resume)?
    };
    let argv = match &opts.startup_cmd {
        Some(c) => split_cmd("--startup-cmd", c)?,
        None => vec![
            opts.exe.to_string_lossy().into_owned(),
            "bench".into(),
            "startup".into(),
        ],
    };
    let kind = StartupKind::detect(&argv, &opts.exe);
    let supported = match kind {
        StartupKind::Llmsweep => opts.bench_startup_keys.clone(),
        StartupKind::Other => {
            let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
            learn_supported_keys(&argv, scratch.path())?
        }
    };
    let template = StartupCommand {
        argv,
        kind,
        supported,
    };
    check_template(&template)?;
    // How messages name the command: its words up to the first flag.
    let program = match template.kind {
        StartupKind::Llmsweep => "llmsweep bench startup".to_string(),
        StartupKind::Other => quote_cmd(
            &template
                .argv
                .iter()
                .take_while(|w| !w.starts_with('-'))
                .cloned()
                .collect::<Vec<_>>(),
        ),
    };
    let startup_items = filter_items(
        &template,
        &startup_items,
        "startup",
        opts.startup_params.as_deref(),
        &program,
        opts.strict_params,
    )?;
    let serve_items = if template.filters_serve_items() {
        filter_items(
            &template,
            &serve_items,
            "serve",
            opts.serve_params.as_deref(),
            &program,
            opts.strict_params,
        )?
    } else {
        serve_items.into_items()
    };
    let mut combinations = plan(&experiment_dir, &serve_items, &startup_items)?;
    let planned_dirs = combinations
        .iter()
        .map(|c| {
            c.dir
                .strip_prefix(&experiment_dir)
                .unwrap_or(&c.dir)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if let Some(shard) = opts.shard {
        combinations.retain(|c| shard.owns(c.serve_index));
    }
    let mut settings = Map::new();
    settings.insert("startup_cmd_arg".into(), json!(opts.startup_cmd));
    settings.insert(
        "serve_params".into(),
        file_contents(opts.serve_params.as_deref())?,
    );
    settings.insert(
        "startup_params".into(),
        file_contents(opts.startup_params.as_deref())?,
    );
    settings.insert("strict_params".into(), json!(opts.strict_params));
    settings.insert("num_runs".into(), json!(opts.num_runs));
    Ok(Prepared {
        identity: ExperimentIdentity {
            kind: "startup".into(),
            settings,
        },
        opts,
        template,
        combinations,
        planned_dirs,
        experiment_name,
        experiment_dir,
    })
}

fn file_contents(path: Option<&Path>) -> Result<Value> {
    Ok(match path {
        Some(p) => read_json(p)?,
        None => Value::Null,
    })
}

/// The same command line with `--resume` (and `-e NAME` if the name was generated).
fn resume_command(prepared: &Prepared) -> String {
    let mut argv = prepared.opts.argv.clone();
    if argv.is_empty() {
        argv.push("llmsweep".into());
    }
    if !argv.iter().any(|a| a == "--resume") {
        argv.push("--resume".into());
    }
    if prepared.opts.experiment_name.is_none() {
        argv.push("-e".into());
        argv.push(prepared.experiment_name.clone());
    }
    quote_cmd(&argv)
}

fn print_dry_run(prepared: &Prepared) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Dry run: nothing is started or written.")?;
    writeln!(
        out,
        "Experiment folder: {}",
        prepared.experiment_dir.display()
    )?;
    if let Some(shard) = prepared.opts.shard {
        writeln!(
            out,
            "Shard {shard}: {} combinations",
            prepared.combinations.len()
        )?;
    }
    let n = prepared.combinations.len();
    for (i, comb) in prepared.combinations.iter().enumerate() {
        writeln!(out, "\n[combination {}/{n}] {}", i + 1, comb.dir.display())?;
        for run in 0..prepared.opts.num_runs {
            let path = comb.dir.join(run_file_name(run));
            let argv = prepared.template.build(&comb.serve, &comb.startup, &path)?;
            writeln!(out, "  run {run} $ {}", quote_cmd(&argv))?;
        }
    }
    Ok(())
}

/// Runs of a combination still to do: each run file is checked, as vLLM's startup sweep
/// does, so that a run file deleted after the summary was written is run again.
fn pending(comb: &Combination, num_runs: u32) -> u64 {
    (0..num_runs)
        .filter(|r| existing_result(&comb.dir.join(run_file_name(*r))).is_none())
        .count() as u64
}

/// The runs of a finished combination: its `summary.json`, if every run file is there too.
fn finished_runs(comb: &Combination, num_runs: u32) -> Option<Vec<Record>> {
    completed_runs(&comb.dir).filter(|_| pending(comb, num_runs) == 0)
}

fn execute(prepared: &Prepared) -> Result<StartupSweepOutcome> {
    let dir = &prepared.experiment_dir;
    let num_runs = prepared.opts.num_runs;
    let total: u64 = prepared
        .combinations
        .iter()
        .map(|c| pending(c, num_runs))
        .sum();
    let ui = Ui::new(total);
    ui.line(&format!(
        "llmsweep: {} combinations, {total} runs to do; results in {}",
        prepared.combinations.len(),
        dir.display()
    ));
    let mut rows = Vec::new();
    let mut all_records: Vec<Record> = Vec::new();
    for (i, comb) in prepared.combinations.iter().enumerate() {
        let name = display_name(&comb.dir);
        let label = format!("[{}/{}] {name}", i + 1, prepared.combinations.len());
        if let Some(records) = finished_runs(comb, num_runs) {
            ui.line(&format!("{label}: done earlier"));
            all_records.extend(records.iter().cloned());
            rows.push(StartupRow { name, records });
            continue;
        }
        ui.line(&label);
        std::fs::create_dir_all(&comb.dir)
            .with_context(|| format!("cannot create '{}'", comb.dir.display()))?;
        let mut records = Vec::new();
        for run in 0..num_runs {
            ui.set_message(&format!("{name} · run {}/{num_runs}", run + 1));
            let (record, fresh) = run_once(prepared, comb, run, &ui)?;
            if fresh {
                ui.run_done();
            }
            records.push(record);
        }
        let list = Value::Array(records.iter().cloned().map(Value::Object).collect());
        let summary = summary_path(&comb.dir);
        write_atomic(&summary, to_json_pretty(&list).as_bytes())
            .with_context(|| format!("cannot write '{}'", summary.display()))?;
        all_records.extend(records.iter().cloned());
        rows.push(StartupRow { name, records });
    }
    ui.finish();
    let csv_name = match prepared.opts.shard {
        Some(s) => s.summary_csv(),
        None => llmsweep_core::layout::SUMMARY_CSV.to_string(),
    };
    let summary_csv = write_summary_csv_at(dir, &csv_name, &all_records)?;
    Ok(StartupSweepOutcome {
        experiment_dir: dir.clone(),
        dry_run: false,
        rows,
        summary_csv,
    })
}

/// One run: its existing result (`--resume`), or the startup command run now. Returns the
/// annotated record and whether it ran now.
fn run_once(prepared: &Prepared, comb: &Combination, run: u32, ui: &Ui) -> Result<(Record, bool)> {
    let path = comb.dir.join(run_file_name(run));
    let run_number = i64::from(run);
    if let Some(found) = existing_result(&path) {
        let annotated = found.contains_key("run_number");
        let record = annotate(found, run_number, &comb.serve, &comb.startup);
        if !annotated {
            write_record(&path, &record)?;
        }
        ui.line(&format!(
            "  run {run}: found existing results in {}",
            path.display()
        ));
        return Ok((record, false));
    }
    if path.exists() {
        ui.line(&format!(
            "  {} is incomplete (an interrupted write); running it again",
            path.display()
        ));
        let _ = std::fs::remove_file(&path);
    }
    let argv = prepared.template.build(&comb.serve, &comb.startup, &path)?;
    let log_path = path.with_extension("log");
    std::fs::write(&log_path, format!("$ {}\n", quote_cmd(&argv)))
        .with_context(|| format!("cannot write '{}'", log_path.display()))?;
    let output = if prepared.opts.show_stdout {
        Output::LogAndEcho(log_path.clone())
    } else {
        Output::Log(log_path.clone())
    };
    let started = Instant::now();
    let status = Supervised::spawn(&argv, &[], &output, "--startup-cmd")?.wait()?;
    if signals::interrupted() {
        bail!("interrupted");
    }
    if !status.success() {
        bail!(
            "{} run {run}: the startup command failed with {} after {:.1} s: {}\nlast lines of its output ({}):\n{}",
            display_name(&comb.dir),
            describe_status(status),
            started.elapsed().as_secs_f64(),
            quote_cmd(&argv),
            log_path.display(),
            tail_lines(&log_path, OUTPUT_TAIL_LINES)
        );
    }
    let text = std::fs::read_to_string(&path).map_err(|_| {
        anyhow!(
            "the startup command exited successfully but wrote no result file {}: {}",
            path.display(),
            quote_cmd(&argv)
        )
    })?;
    let record = match parse_json_lenient(&text) {
        Ok(Value::Object(m)) => m,
        _ => bail!(
            "the startup command's result file {} is not a JSON object: {}",
            path.display(),
            quote_cmd(&argv)
        ),
    };
    let record = annotate(record, run_number, &comb.serve, &comb.startup);
    write_record(&path, &record)?;
    ui.line(&format!(
        "  run {}/{} done in {:.1} s: {}",
        run + 1,
        prepared.opts.num_runs,
        started.elapsed().as_secs_f64(),
        headline(&record)
    ));
    Ok((record, true))
}

fn write_record(path: &Path, record: &Record) -> Result<()> {
    write_atomic(
        path,
        to_json_pretty(&Value::Object(record.clone())).as_bytes(),
    )
    .with_context(|| format!("cannot write '{}'", path.display()))
}

/// A run for the log: cold and warm readiness and first token.
fn headline(record: &Record) -> String {
    let get = |k: &str| record.get(k).and_then(Value::as_f64);
    let mut parts = Vec::new();
    for phase in ["cold", "warm"] {
        if let Some(v) = get(&format!("avg_{phase}_startup_time")) {
            let mut text = format!("{phase} ready {v:.2} s");
            if let Some(t) = get(&format!("avg_{phase}_first_token_time")) {
                text.push_str(&format!(", first token {t:.2} s"));
            }
            parts.push(text);
        }
    }
    if parts.is_empty() {
        "no start-up times in the result".into()
    } else {
        parts.join("; ")
    }
}

/// The metrics of the final table: (header, result key).
const COLUMNS: &[(&str, &str)] = &[
    ("cold ready s", "avg_cold_startup_time"),
    ("warm ready s", "avg_warm_startup_time"),
    ("cold 1st token s", "avg_cold_first_token_time"),
    ("warm 1st token s", "avg_warm_first_token_time"),
    ("cold compile s", "avg_cold_compilation_time"),
    ("warm compile s", "avg_warm_compilation_time"),
];

/// The final table: per combination, the mean over its runs of each phase's averages.
pub fn startup_table(rows: &[StartupRow]) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    let mut header = vec![Cell::new("combination"), Cell::new("runs")];
    header.extend(COLUMNS.iter().map(|(h, _)| Cell::new(h)));
    table.set_header(header);
    for row in rows {
        let mut cells = vec![Cell::new(&row.name), Cell::new(row.records.len())];
        for (_, key) in COLUMNS {
            let text = mean(&row.records, key)
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into());
            cells.push(Cell::new(text).set_alignment(CellAlignment::Right));
        }
        table.add_row(cells);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_run_file_is_pending_though_the_summary_exists() {
        let t = tempfile::tempdir().unwrap();
        let comb = Combination {
            serve_index: 0,
            serve: llmsweep_core::params::ParamItem::default(),
            startup: llmsweep_core::params::ParamItem::default(),
            dir: t.path().join("STARTUP--a=1"),
        };
        std::fs::create_dir_all(&comb.dir).unwrap();
        for r in 0..2 {
            std::fs::write(comb.dir.join(run_file_name(r)), "{\"run_number\": 0}").unwrap();
        }
        std::fs::write(summary_path(&comb.dir), "[{}, {}]").unwrap();
        assert_eq!(pending(&comb, 2), 0);
        assert_eq!(finished_runs(&comb, 2).map(|r| r.len()), Some(2));
        std::fs::remove_file(comb.dir.join(run_file_name(0))).unwrap();
        assert_eq!(pending(&comb, 2), 1);
        assert!(finished_runs(&comb, 2).is_none());
        // More runs asked for than done: the summary does not end the combination.
        std::fs::write(comb.dir.join(run_file_name(0)), "{}").unwrap();
        assert_eq!(pending(&comb, 3), 1);
        assert!(finished_runs(&comb, 3).is_none());
    }

    #[test]
    fn the_table_shows_means_over_runs() {
        let rec = |c: f64, w: f64| {
            json!({"avg_cold_startup_time": c, "avg_warm_startup_time": w, "avg_cold_compilation_time": null})
                .as_object()
                .unwrap()
                .clone()
        };
        let t = startup_table(&[StartupRow {
            name: "SERVE--a=1".into(),
            records: vec![rec(2.0, 1.0), rec(4.0, 1.5)],
        }]);
        assert!(
            t.contains("SERVE--a=1") && t.contains("3.00") && t.contains("1.25"),
            "{t}"
        );
        assert!(t.contains(" - "), "{t}");
    }
}

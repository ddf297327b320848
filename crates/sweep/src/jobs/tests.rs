//! The checks of a sharded sweep, the sbatch script's text and quoting, and the Job
//! manifest read back as YAML.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::k8s::{K8sOptions, SharedVolume, job_manifest};
use super::slurm::{SlurmOptions, sbatch_script};
use super::*;

fn words(text: &[&str]) -> Vec<String> {
    text.iter().map(|s| s.to_string()).collect()
}

fn sweep(args: &[&str], experiment: Option<&str>, serve_items: usize) -> SweepCommand {
    SweepCommand {
        args: words(args),
        subcommand: args[0].to_string(),
        experiment_name: experiment.map(str::to_string),
        output_dir: PathBuf::from("results"),
        serve_items,
        has_shard: false,
        num_shards: None,
        dry_run: false,
    }
}

fn settings() -> JobSettings {
    JobSettings {
        program: "llmsweep".into(),
        ..JobSettings::default()
    }
}

/// A serve sweep whose command holds spaces, quotes and a `$`.
fn tricky() -> SweepCommand {
    sweep(
        &[
            "serve",
            "--serve-cmd",
            "vllm serve 'org/My Model' --chat-template \"{{ x }}\"",
            "--serve-params",
            "serve params.json",
            "--bench-cmd",
            "vllm bench serve --extra-body '{\"a\": \"$HOME\"}'",
            "-e",
            "tp-sweep",
        ],
        Some("tp-sweep"),
        4,
    )
}

#[test]
fn shards_default_to_serve_items_and_never_exceed_them() {
    let s = sweep(&["serve"], Some("e"), 3);
    assert_eq!(shard_count(&s, None).unwrap(), 3);
    assert_eq!(shard_count(&s, Some(2)).unwrap(), 2);
    let e = shard_count(&s, Some(5)).unwrap_err().to_string();
    assert!(
        e.contains("3 serve item(s)") && e.contains("2 shard(s) would have nothing to do"),
        "{e}"
    );
    assert!(shard_count(&s, Some(0)).is_err());
    let given = SweepCommand {
        num_shards: Some(2),
        ..s.clone()
    };
    assert_eq!(shard_count(&given, None).unwrap(), 2);
    let e = shard_count(&given, Some(3)).unwrap_err().to_string();
    assert!(
        e.contains("--num-shards 3 here") && e.contains("says --num-shards 2"),
        "{e}"
    );
}

#[test]
fn the_sweep_command_is_checked() {
    let mut s = sweep(&["plot"], Some("e"), 1);
    let e = shard_sweep(&s, &settings(), NameRule::Slurm, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("got 'plot'"), "{e}");
    s = sweep(&["serve", "--shard", "0/2"], Some("e"), 2);
    s.has_shard = true;
    let e = shard_sweep(&s, &settings(), NameRule::Slurm, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--shard"), "{e}");
    s.has_shard = false;
    s.dry_run = true;
    assert!(shard_sweep(&s, &settings(), NameRule::Slurm, false).is_err());
    let s = sweep(&["serve"], Some("e"), 2);
    let bad_parallel = JobSettings {
        max_parallel: Some(3),
        ..settings()
    };
    assert!(shard_sweep(&s, &bad_parallel, NameRule::Slurm, false).is_err());
    let bad_env = JobSettings {
        env: vec![("1X".into(), "v".into())],
        ..settings()
    };
    let e = shard_sweep(&s, &bad_env, NameRule::Slurm, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'1X'"), "{e}");
    let bad_name = JobSettings {
        job_name: Some("Tp Sweep".into()),
        ..settings()
    };
    let e = shard_sweep(&s, &bad_name, NameRule::Kubernetes, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--job-name") && e.contains("'Tp Sweep'"), "{e}");
}

#[test]
fn an_experiment_name_is_added_when_missing() {
    let s = sweep(&["serve-sla", "--sla-params", "sla.json"], None, 2);
    let job = shard_sweep(&s, &settings(), NameRule::Kubernetes, true).unwrap();
    assert_eq!(job.name, "llmsweep-serve-sla");
    assert_eq!(
        job.argv,
        words(&[
            "llmsweep",
            "serve-sla",
            "--sla-params",
            "sla.json",
            "-e",
            "llmsweep-serve-sla",
            "--num-shards",
            "2"
        ])
    );
    assert_eq!(job.experiment_dir, Path::new("results/llmsweep-serve-sla"));
    assert!(job.notes[0].contains("-e llmsweep-serve-sla"));
    let named = sweep(&["serve", "-e", "TP_Sweep.2"], Some("TP_Sweep.2"), 2);
    let job = shard_sweep(&named, &settings(), NameRule::Kubernetes, true).unwrap();
    assert_eq!(job.name, "tp-sweep-2");
    assert!(job.notes.is_empty());
    let job = shard_sweep(&named, &settings(), NameRule::Slurm, false).unwrap();
    assert_eq!(job.name, "TP_Sweep.2");
    assert_eq!(job.argv.last().unwrap(), "TP_Sweep.2");
}

#[test]
fn names_and_memory() {
    assert_eq!(NameRule::Kubernetes.derive("--My Sweep!!--"), "my-sweep");
    assert_eq!(NameRule::Kubernetes.derive("***"), "llmsweep");
    assert_eq!(NameRule::Slurm.derive("..."), "llmsweep");
    assert_eq!(NameRule::Kubernetes.derive(&"a".repeat(80)).len(), 63);
    assert!(NameRule::Kubernetes.check("a-b1").is_ok());
    for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(64)] {
        assert!(NameRule::Kubernetes.check(bad).is_err(), "{bad}");
    }
    assert!(NameRule::Slurm.check("TP_sweep.1-a").is_ok());
    assert!(NameRule::Slurm.check("a b").is_err());
    // A name of dots alone would not name an experiment folder.
    assert!(NameRule::Slurm.check("..").is_err());
    for (text, slurm, k8s) in [
        ("200G", "200G", "200Gi"),
        ("512mi", "512M", "512Mi"),
        ("1TB", "1T", "1Ti"),
    ] {
        let m = Memory::parse(text).unwrap();
        assert_eq!(
            (m.slurm().as_str(), m.kubernetes().as_str()),
            (slurm, k8s),
            "{text}"
        );
    }
    for bad in ["200", "G", "0G", "1.5G", "200X", "-1G"] {
        let e = Memory::parse(bad).unwrap_err().to_string();
        assert!(e.contains("--memory"), "{bad}: {e}");
    }
    assert_eq!(
        parse_pair("--env", "A=b=c").unwrap(),
        ("A".into(), "b=c".into())
    );
    assert!(parse_pair("--env", "novalue").is_err());
}

fn full_settings() -> JobSettings {
    JobSettings {
        gpus: Some(8),
        cpus: Some(16),
        memory: Some(Memory::parse("200G").unwrap()),
        env: vec![("HF_HOME".into(), "/shared/hf cache".into())],
        ..settings()
    }
}

#[test]
fn the_sbatch_script() {
    let job = shard_sweep(&tricky(), &full_settings(), NameRule::Slurm, false).unwrap();
    let opts = SlurmOptions {
        partition: Some("gpu".into()),
        account: Some("ml".into()),
        time: Some("12:00:00".into()),
        workdir: Some(PathBuf::from("/shared/my sweeps")),
        setup: vec!["source /shared/venv/bin/activate".into()],
        script_name: Some("tp sweep.sbatch".into()),
        ..SlurmOptions::default()
    };
    let text = sbatch_script(&job, &full_settings(), &opts).unwrap();
    let directives: Vec<&str> = text.lines().filter(|l| l.starts_with("#SBATCH")).collect();
    assert_eq!(
        directives,
        [
            "#SBATCH --job-name=tp-sweep",
            "#SBATCH --array=0-3",
            "#SBATCH --ntasks=1",
            "#SBATCH --gpus-per-task=8",
            "#SBATCH --cpus-per-task=16",
            "#SBATCH --mem=200G",
            "#SBATCH --time=12:00:00",
            "#SBATCH --partition=gpu",
            "#SBATCH --account=ml",
            "#SBATCH --output=%x-%A_%a.out",
        ]
    );
    assert!(text.starts_with("#!/bin/bash\n#SBATCH"));
    // Directives come before any command, or sbatch ignores them.
    let first_command = text
        .lines()
        .position(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let last_directive = lines
        .iter()
        .rposition(|l| l.starts_with("#SBATCH"))
        .unwrap();
    assert!(last_directive < first_command);
    assert!(
        text.contains("jobid=$(sbatch --parsable 'tp sweep.sbatch')"),
        "{text}"
    );
    assert!(
        text.contains("--dependency=afterany:$jobid --job-name=tp-sweep-merge --ntasks=1 --partition=gpu --account=ml --output=tp-sweep-merge-%j.out --wrap='cd '\"'\"'/shared/my sweeps'\"'\"' && llmsweep merge results/tp-sweep'"),
        "{text}"
    );
    // Setup lines run in the working folder, and not under `set -u`.
    assert!(
        text.contains("set -euo pipefail\nexport HF_HOME='/shared/hf cache'\ncd '/shared/my sweeps'\nset +u\nsource /shared/venv/bin/activate\nset -u\nexec llmsweep serve"),
        "{text}"
    );
    let no_setup = SlurmOptions {
        setup: vec![],
        ..opts.clone()
    };
    let text = sbatch_script(&job, &full_settings(), &no_setup).unwrap();
    assert!(
        text.contains("cd '/shared/my sweeps'\nexec llmsweep serve") && !text.contains("set +u"),
        "{text}"
    );
    // The command line reads back, word for word, as the shell will split it.
    let exec = text.lines().find_map(|l| l.strip_prefix("exec ")).unwrap();
    assert_eq!(shlex::split(exec).unwrap(), job.argv);
}

#[test]
fn sbatch_gpu_requests_and_bad_values() {
    let job = shard_sweep(
        &sweep(&["serve"], Some("e"), 4),
        &settings(),
        NameRule::Slurm,
        false,
    )
    .unwrap();
    let with = |s: &JobSettings, o: SlurmOptions| sbatch_script(&job, s, &o);
    let gres = with(
        &full_settings(),
        SlurmOptions {
            gres: true,
            gpu_type: Some("a100".into()),
            ..SlurmOptions::default()
        },
    )
    .unwrap();
    assert!(gres.contains("#SBATCH --gres=gpu:a100:8\n"), "{gres}");
    let typed = with(
        &full_settings(),
        SlurmOptions {
            gpu_type: Some("h100".into()),
            ..SlurmOptions::default()
        },
    )
    .unwrap();
    assert!(typed.contains("#SBATCH --gpus-per-task=h100:8\n"));
    let none = with(&settings(), SlurmOptions::default()).unwrap();
    assert!(
        !none.contains("gpu") && !none.contains("--mem") && !none.contains("cd "),
        "{none}"
    );
    assert!(
        with(
            &settings(),
            SlurmOptions {
                gres: true,
                ..SlurmOptions::default()
            }
        )
        .is_err()
    );
    let e = with(
        &settings(),
        SlurmOptions {
            partition: Some("gpu a".into()),
            ..SlurmOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--partition 'gpu a'"), "{e}");
    assert!(
        with(
            &settings(),
            SlurmOptions {
                time: Some("12h".into()),
                ..SlurmOptions::default()
            }
        )
        .is_err()
    );
    let throttled = shard_sweep(
        &sweep(&["serve"], Some("e"), 4),
        &JobSettings {
            max_parallel: Some(2),
            ..settings()
        },
        NameRule::Slurm,
        false,
    )
    .unwrap();
    let text = sbatch_script(&throttled, &settings(), &SlurmOptions::default()).unwrap();
    assert!(text.contains("#SBATCH --array=0-3%2\n"));
}

fn k8s_options() -> K8sOptions {
    K8sOptions {
        image: "registry.example/llmsweep-vllm:1.0".into(),
        volume: SharedVolume::Claim("sweeps".into()),
        mount: PathBuf::from("/results"),
        workdir: None,
        namespace: Some("ml".into()),
        service_account: Some("runner".into()),
        node_selector: vec![("nvidia.com/gpu.product".into(), "H100".into())],
        backoff_limit: None,
        env_secrets: vec!["hf-token".into()],
        shm_size: Some(Memory::parse("16G").unwrap()),
        file_name: Some("job.yaml".into()),
    }
}

fn parse_yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_job_manifest_has_what_kubernetes_requires() {
    let job = shard_sweep(&tricky(), &full_settings(), NameRule::Kubernetes, true).unwrap();
    let text = job_manifest(&job, &full_settings(), &k8s_options()).unwrap();
    let m = parse_yaml(&text);
    assert_eq!(m["apiVersion"], "batch/v1");
    assert_eq!(m["kind"], "Job");
    assert_eq!(m["metadata"]["name"], "tp-sweep");
    assert_eq!(m["metadata"]["namespace"], "ml");
    let spec = &m["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    assert_eq!(spec["parallelism"], 4);
    assert_eq!(spec["backoffLimit"], 4);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["serviceAccountName"], "runner");
    assert_eq!(pod["nodeSelector"]["nvidia.com/gpu.product"], "H100");
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["name"], "llmsweep");
    assert_eq!(c["image"], "registry.example/llmsweep-vllm:1.0");
    assert_eq!(c["workingDir"], "/results");
    let command: Vec<String> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command, job.argv);
    assert_eq!(&command[command.len() - 2..], ["--num-shards", "4"]);
    for key in ["requests", "limits"] {
        let r = &c["resources"][key];
        assert_eq!(
            (
                r["nvidia.com/gpu"].as_str(),
                r["cpu"].as_str(),
                r["memory"].as_str()
            ),
            (Some("8"), Some("16"), Some("200Gi"))
        );
    }
    assert_eq!(c["env"][0]["name"], "HF_HOME");
    assert_eq!(c["env"][0]["value"], "/shared/hf cache");
    assert_eq!(c["envFrom"][0]["secretRef"]["name"], "hf-token");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/results");
    assert_eq!(c["volumeMounts"][1]["mountPath"], "/dev/shm");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "sweeps"
    );
    assert_eq!(pod["volumes"][1]["emptyDir"]["sizeLimit"], "16Gi");
    assert_eq!(c["volumeMounts"][0]["name"], pod["volumes"][0]["name"]);
    assert!(
        text.contains("# Submit:  kubectl apply -n ml -f job.yaml\n"),
        "{text}"
    );
    assert!(text.contains("job/tp-sweep"));
    assert!(text.contains("/results/results/tp-sweep"));
}

#[test]
fn the_merge_command_in_the_manifest_runs_a_pod_on_the_same_volume() {
    let job = shard_sweep(&tricky(), &full_settings(), NameRule::Kubernetes, true).unwrap();
    let text = job_manifest(&job, &full_settings(), &k8s_options()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("#   kubectl run"))
        .unwrap();
    let argv = shlex::split(line.trim_start_matches("#   ")).unwrap();
    assert_eq!(&argv[..5], ["kubectl", "run", "tp-sweep-merge", "-n", "ml"]);
    let overrides = argv
        .iter()
        .find_map(|a| a.strip_prefix("--overrides="))
        .unwrap();
    let o: Value = serde_json::from_str(overrides).unwrap();
    let c = &o["spec"]["containers"][0];
    assert_eq!(c["name"], "tp-sweep-merge");
    assert_eq!(
        c["command"],
        serde_json::json!(["llmsweep", "merge", "/results/results/tp-sweep"])
    );
    assert!(c.get("resources").is_none());
    assert_eq!(
        o["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "sweeps"
    );
}

#[test]
fn results_must_land_on_the_shared_volume() {
    let mut s = tricky();
    s.output_dir = PathBuf::from("/tmp/results");
    let job = shard_sweep(&s, &settings(), NameRule::Kubernetes, true).unwrap();
    let e = job_manifest(&job, &settings(), &k8s_options())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/tmp/results/tp-sweep") && e.contains("outside the shared volume"),
        "{e}"
    );
    s.output_dir = PathBuf::from("../elsewhere");
    let job = shard_sweep(&s, &settings(), NameRule::Kubernetes, true).unwrap();
    assert!(job_manifest(&job, &settings(), &k8s_options()).is_err());
    s.output_dir = PathBuf::from("/results/deep/../sweeps");
    let job = shard_sweep(&s, &settings(), NameRule::Kubernetes, true).unwrap();
    let host = K8sOptions {
        volume: SharedVolume::HostPath(PathBuf::from("/mnt/nfs")),
        namespace: None,
        ..k8s_options()
    };
    let m = parse_yaml(&job_manifest(&job, &settings(), &host).unwrap());
    assert_eq!(
        m["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"],
        "/mnt/nfs"
    );
    assert!(m["metadata"].get("namespace").is_none());
    assert!(
        m["spec"]["template"]["spec"]["containers"][0]
            .get("resources")
            .is_none()
    );
    for bad in [
        K8sOptions {
            volume: SharedVolume::Claim("My_Claim".into()),
            ..k8s_options()
        },
        K8sOptions {
            volume: SharedVolume::HostPath("rel".into()),
            ..k8s_options()
        },
        K8sOptions {
            image: "has space".into(),
            ..k8s_options()
        },
        K8sOptions {
            mount: "results".into(),
            ..k8s_options()
        },
        K8sOptions {
            namespace: Some("ML".into()),
            ..k8s_options()
        },
    ] {
        assert!(job_manifest(&job, &settings(), &bad).is_err(), "{bad:?}");
    }
}

#[test]
fn yaml_1_1_words_in_env_and_node_selector_stay_strings() {
    // Kubernetes reads `value: yes` as a boolean and rejects the EnvVar; every such value
    // must be quoted.
    let words_1_1 = [
        "yes", "off", "y", "N", "Yes", "null", "~", "0x1F", "12:30", "#x",
    ];
    let env: Vec<(String, String)> = words_1_1
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("V{i}"), v.to_string()))
        .collect();
    let settings = JobSettings { env, ..settings() };
    let opts = K8sOptions {
        node_selector: vec![("gpu".into(), "yes".into()), ("on".into(), "off".into())],
        ..k8s_options()
    };
    let job = shard_sweep(&tricky(), &settings, NameRule::Kubernetes, true).unwrap();
    let text = job_manifest(&job, &settings, &opts).unwrap();
    for v in words_1_1 {
        assert!(
            text.contains(&format!("value: {}\n", Value::from(v))),
            "{v} unquoted in\n{text}"
        );
    }
    assert!(text.contains("gpu: \"yes\"\n"), "{text}");
    assert!(text.contains("\"on\": \"off\"\n"), "{text}");
    let m = parse_yaml(&text);
    let c = &m["spec"]["template"]["spec"]["containers"][0];
    for (i, v) in words_1_1.iter().enumerate() {
        assert_eq!(c["env"][i]["value"], *v);
    }
    assert_eq!(m["spec"]["template"]["spec"]["nodeSelector"]["on"], "off");
    assert_eq!(m["spec"]["completions"], 4);
}

//! A sharded sweep as a Kubernetes Indexed Job (`batch/v1`, `completionMode: Indexed`,
//! `completions` = N): pod K gets `JOB_COMPLETION_INDEX=K` and runs the sweep command with
//! `--num-shards N`. Every pod mounts one shared volume (a PersistentVolumeClaim, or a
//! host path shared by the nodes) where the experiment folder lies. The manifest is built
//! as data and written by [`super::yaml`], which double-quotes every string so that no
//! value (`yes`, `off`, `N`, `0x1F`, …) reads as a boolean or a number in Kubernetes'
//! YAML 1.1 reader.

use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use super::{JobSettings, Memory, NameRule, ShardedSweep, comment_block};
use crate::process::{quote_arg, quote_cmd};

/// The volume every pod shares.
#[derive(Debug, Clone, PartialEq)]
pub enum SharedVolume {
    /// `--pvc NAME`: a PersistentVolumeClaim (ReadWriteMany when pods run on several nodes).
    Claim(String),
    /// `--host-path DIR`: a folder every node has (e.g. an NFS mount).
    HostPath(PathBuf),
}

/// Kubernetes-only settings.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sOptions {
    /// `--image`: a container image with llmsweep and the server.
    pub image: String,
    /// `--pvc` or `--host-path`.
    pub volume: SharedVolume,
    /// `--mount`: where the volume is mounted in the pods.
    pub mount: PathBuf,
    /// `--workdir`: the pods' working folder (default: the mount).
    pub workdir: Option<PathBuf>,
    /// `--namespace`.
    pub namespace: Option<String>,
    /// `--service-account`.
    pub service_account: Option<String>,
    /// `--node-selector KEY=VALUE`, in order.
    pub node_selector: Vec<(String, String)>,
    /// `--backoff-limit`: pod failures over all shards before the Job fails (default: the
    /// number of shards; a retried shard resumes where it stopped).
    pub backoff_limit: Option<u32>,
    /// `--env-from-secret NAME`: every key of a Secret as environment variables.
    pub env_secrets: Vec<String>,
    /// `--shm-size`: a memory-backed `/dev/shm` of this size (tensor parallelism needs
    /// more than a container's default 64 MiB).
    pub shm_size: Option<Memory>,
    /// The manifest's file name, for the submit hint (`-o`).
    pub file_name: Option<String>,
}

/// The name of the shared volume in the pod spec.
const VOLUME: &str = "results";

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A DNS subdomain (names of claims, secrets, service accounts): lower-case letters,
/// digits, `-` and `.`, at most 253 characters, starting and ending with a letter or digit.
fn check_subdomain(flag: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        bail!(
            "{flag} '{name}' is not a Kubernetes name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
        );
    }
    Ok(())
}

fn check_absolute(flag: &str, path: &Path) -> Result<()> {
    if !path.is_absolute() {
        bail!("{flag} '{}' must be an absolute path", path.display());
    }
    Ok(())
}

/// The pods' working folder and the experiment folder as they see it, checked to be on
/// the shared volume.
fn folders(job: &ShardedSweep, opts: &K8sOptions) -> Result<(PathBuf, PathBuf)> {
    check_absolute("--mount", &opts.mount)?;
    let workdir = opts.workdir.clone().unwrap_or_else(|| opts.mount.clone());
    check_absolute("--workdir", &workdir)?;
    let experiment = normalize(&workdir.join(&job.experiment_dir));
    if !experiment.starts_with(normalize(&opts.mount)) {
        bail!(
            "the experiment folder would be {}, outside the shared volume mounted at {}: each pod would keep its results to itself, and lose them. Give the sweep a relative -o (resolved against --workdir, by default the mount) or one below --mount",
            experiment.display(),
            opts.mount.display()
        );
    }
    Ok((workdir, experiment))
}

/// CPU, memory and GPUs, as both requests and limits (a GPU can only be limited).
fn resources(settings: &JobSettings) -> Option<Value> {
    let mut amounts = Map::new();
    if let Some(c) = settings.cpus {
        amounts.insert("cpu".into(), json!(c.to_string()));
    }
    if let Some(m) = settings.memory {
        amounts.insert("memory".into(), json!(m.kubernetes()));
    }
    if let Some(g) = settings.gpus.filter(|g| *g > 0) {
        amounts.insert("nvidia.com/gpu".into(), json!(g.to_string()));
    }
    (!amounts.is_empty()).then(|| json!({"requests": amounts.clone(), "limits": amounts}))
}

/// The volumes of the pod, and their mounts.
fn volumes(opts: &K8sOptions) -> Result<(Vec<Value>, Vec<Value>)> {
    let source = match &opts.volume {
        SharedVolume::Claim(name) => {
            check_subdomain("--pvc", name)?;
            json!({"name": VOLUME, "persistentVolumeClaim": {"claimName": name}})
        }
        SharedVolume::HostPath(path) => {
            check_absolute("--host-path", path)?;
            json!({"name": VOLUME, "hostPath": {"path": path, "type": "Directory"}})
        }
    };
    let mut vols = vec![source];
    let mut mounts = vec![json!({"name": VOLUME, "mountPath": opts.mount})];
    if let Some(size) = opts.shm_size {
        vols.push(json!({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size.kubernetes()}}));
        mounts.push(json!({"name": "dshm", "mountPath": "/dev/shm"}));
    }
    Ok((vols, mounts))
}

/// A pod spec running `command` in one container `name`; `resources` only for the sweep.
fn pod_spec(
    name: &str,
    command: &[String],
    workdir: &Path,
    settings: &JobSettings,
    opts: &K8sOptions,
    resources: Option<Value>,
) -> Result<Map<String, Value>> {
    let (vols, mounts) = volumes(opts)?;
    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(opts.image));
    container.insert("workingDir".into(), json!(workdir));
    container.insert("command".into(), json!(command));
    if !settings.env.is_empty() {
        let env: Vec<Value> = settings
            .env
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        container.insert("env".into(), json!(env));
    }
    if !opts.env_secrets.is_empty() {
        let from: Vec<Value> = opts
            .env_secrets
            .iter()
            .map(|s| {
                check_subdomain("--env-from-secret", s)?;
                Ok(json!({"secretRef": {"name": s}}))
            })
            .collect::<Result<_>>()?;
        container.insert("envFrom".into(), json!(from));
    }
    if let Some(r) = resources {
        container.insert("resources".into(), r);
    }
    container.insert("volumeMounts".into(), json!(mounts));
    let mut spec = Map::new();
    spec.insert("restartPolicy".into(), json!("Never"));
    if let Some(sa) = &opts.service_account {
        check_subdomain("--service-account", sa)?;
        spec.insert("serviceAccountName".into(), json!(sa));
    }
    if !opts.node_selector.is_empty() {
        let mut selector = Map::new();
        for (k, v) in &opts.node_selector {
            if k.chars().any(char::is_whitespace) || v.chars().any(char::is_whitespace) {
                bail!("--node-selector {k}={v}: a label key and value hold no spaces");
            }
            selector.insert(k.clone(), json!(v));
        }
        spec.insert("nodeSelector".into(), Value::Object(selector));
    }
    spec.insert("containers".into(), json!([container]));
    spec.insert("volumes".into(), json!(vols));
    Ok(spec)
}

/// The command that merges the shards once the Job has ended: a one-off pod like the
/// shards' (image, volume, environment), without their resources (`kubectl run
/// --overrides`).
fn merge_hint(
    job: &ShardedSweep,
    experiment: &Path,
    workdir: &Path,
    settings: &JobSettings,
    opts: &K8sOptions,
) -> Result<String> {
    let mut base = job.name.clone();
    base.truncate(57);
    let name = format!("{}-merge", base.trim_end_matches('-'));
    let command = vec![
        settings.program.clone(),
        "merge".to_string(),
        experiment.to_string_lossy().into_owned(),
    ];
    let spec = pod_spec(&name, &command, workdir, settings, opts, None)?;
    let overrides = json!({"apiVersion": "v1", "spec": spec});
    let mut argv: Vec<String> = vec!["kubectl".into(), "run".into(), name];
    if let Some(ns) = &opts.namespace {
        argv.extend(["-n".into(), ns.clone()]);
    }
    argv.extend([
        "--rm".into(),
        "-i".into(),
        "--restart=Never".into(),
        format!("--image={}", opts.image),
        format!("--overrides={overrides}"),
    ]);
    Ok(quote_cmd(&argv))
}

/// The Job manifest of `job`, as YAML with a comment on how to submit and merge.
pub fn job_manifest(
    job: &ShardedSweep,
    settings: &JobSettings,
    opts: &K8sOptions,
) -> Result<String> {
    if opts.image.trim().is_empty() || opts.image.chars().any(char::is_whitespace) {
        bail!(
            "--image '{}' must name a container image (no spaces)",
            opts.image
        );
    }
    if let Some(ns) = &opts.namespace {
        NameRule::Kubernetes
            .check(ns)
            .map_err(|e| anyhow::anyhow!("--namespace: {e}"))?;
    }
    let (workdir, experiment) = folders(job, opts)?;
    let labels =
        json!({"app.kubernetes.io/name": "llmsweep", "app.kubernetes.io/instance": job.name});
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(job.name));
    if let Some(ns) = &opts.namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    metadata.insert("labels".into(), labels.clone());
    let pod = pod_spec(
        "llmsweep",
        &job.argv,
        &workdir,
        settings,
        opts,
        resources(settings),
    )?;
    let manifest = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": job.num_shards,
            "parallelism": job.parallelism,
            "backoffLimit": opts.backoff_limit.unwrap_or(job.num_shards),
            "template": {
                "metadata": {"labels": labels},
                "spec": pod,
            },
        },
    });
    let yaml = super::yaml::to_string(&manifest);
    let n = job.num_shards;
    let file = opts
        .file_name
        .as_deref()
        .map(quote_arg)
        .unwrap_or_else(|| "<this file>".into());
    let ns = opts
        .namespace
        .as_ref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default();
    let mut comments = vec![
        format!(
            "Generated by `llmsweep plan k8s`: one sweep as {n} shards, an Indexed Job of {n} completions."
        ),
        format!(
            "Pod K runs the serve items i with i mod {n} = K (K from JOB_COMPLETION_INDEX, with"
        ),
        format!("--num-shards {n}); all write into one experiment folder on the shared volume:"),
        format!("  {}", experiment.display()),
        String::new(),
        format!("Submit:  kubectl apply{ns} -f {file}"),
        format!(
            "Wait:    kubectl wait{ns} --for=condition=complete --timeout=24h job/{}",
            job.name
        ),
        "Merge (once every index has ended; it lists what is missing or failed):".into(),
        format!(
            "  {}",
            merge_hint(job, &experiment, &workdir, settings, opts)?
        ),
        "A failed pod is retried (backoffLimit) and its shard resumes where it stopped.".into(),
    ];
    for note in &job.notes {
        comments.push(String::new());
        comments.push(note.clone());
    }
    let mut out = comment_block(&comments);
    out.push_str(&yaml);
    Ok(out)
}

//! Shards: one sweep split over many machines, by serve item (a shard owns whole
//! servers), deterministically and evenly — serve item `i` belongs to shard `i mod N`.
//!
//! The shard comes from `--shard K/N`, else from the job array running us: Slurm's
//! `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` (or `_MIN`/`_MAX`), or Kubernetes'
//! `JOB_COMPLETION_INDEX` with `--num-shards N`. One command line thus serves a whole
//! array.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use llmsweep_core::layout::create_once;
use llmsweep_core::record::read_json;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// A checked shard.
    pub fn new(index: u32, count: u32, source: &str) -> Result<Self> {
        if count == 0 {
            bail!("{source}: the number of shards must be at least 1");
        }
        if index >= count {
            bail!(
                "{source}: shard {index} does not exist among {count} shards (shards are numbered 0 to {})",
                count - 1
            );
        }
        Ok(Self { index, count })
    }

    /// Parse `--shard K/N`.
    pub fn parse(text: &str) -> Result<Self> {
        let (k, n) = text.split_once('/').ok_or_else(|| {
            anyhow!("--shard '{text}' must be K/N, e.g. 0/4 for the first of four shards")
        })?;
        let parse = |s: &str, what: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| anyhow!("--shard '{text}': {what} '{s}' is not a whole number"))
        };
        Self::new(parse(k, "K")?, parse(n, "N")?, "--shard")
    }

    /// Does this shard own serve item `serve_index`?
    pub fn owns(&self, serve_index: usize) -> bool {
        serve_index % self.count as usize == self.index as usize
    }

    /// The shard for this process: `--shard`, else the job array's environment (read
    /// through `env`), else none.
    pub fn resolve(
        flag: Option<&str>,
        num_shards: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>> {
        if let Some(text) = flag {
            let shard = Self::parse(text)?;
            if let Some(n) = num_shards.filter(|n| *n != shard.count) {
                bail!(
                    "--shard {text} says {} shards but --num-shards says {n}: give one of them (--num-shards is for job arrays, where the index comes from the environment)",
                    shard.count
                );
            }
            return Ok(Some(shard));
        }
        let num = |name: &str| -> Result<Option<i64>> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| anyhow!("{name}='{v}' is not a whole number"))
                })
                .transpose()
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            // An explicit --num-shards wins over the array's bounds, so that one index of the
            // array resubmitted alone (`sbatch --array=3`) is still shard 3 of N.
            let (index, count) = match (
                num_shards,
                num("SLURM_ARRAY_TASK_COUNT")?,
                num("SLURM_ARRAY_TASK_MIN")?,
                num("SLURM_ARRAY_TASK_MAX")?,
            ) {
                (Some(n), _, _, _) => (id, i64::from(n)),
                (None, _, Some(min), Some(max)) => (id - min, max - min + 1),
                (None, Some(count), _, _) => (id, count),
                _ => bail!(
                    "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX; pass --num-shards"
                ),
            };
            let as_u32 = |v: i64| {
                u32::try_from(v).map_err(|_| {
                    anyhow!("Slurm array task {id} gives an impossible shard {index}/{count}")
                })
            };
            return Self::new(as_u32(index)?, as_u32(count)?, "SLURM_ARRAY_TASK_ID").map(Some);
        }
        if let Some(idx) = num("JOB_COMPLETION_INDEX")? {
            // A Kubernetes Indexed Job tells each pod its index but not the number of
            // completions: without --num-shards every pod would run the whole sweep.
            let Some(n) = num_shards else {
                bail!(
                    "JOB_COMPLETION_INDEX={idx} is set (a pod of a Kubernetes Indexed Job) but --num-shards is not: pass --num-shards N, N being the Job's completions (as `llmsweep plan k8s` does), or unset JOB_COMPLETION_INDEX to run the whole sweep in this pod"
                );
            };
            let idx = u32::try_from(idx)
                .map_err(|_| anyhow!("JOB_COMPLETION_INDEX={idx} is not a shard number"))?;
            return Self::new(idx, n, "JOB_COMPLETION_INDEX").map(Some);
        }
        if let Some(n) = num_shards {
            bail!(
                "--num-shards {n} needs the shard index: pass --shard K/{n}, or run as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or a Slurm array"
            );
        }
        Ok(None)
    }

    /// Record in experiment folder `dir` how many shards split it, or check that this
    /// shard agrees with the record. The first shard to join creates the record, atomically
    /// and once; a shard of another split (`--shard 2/3` joining shards of `K/2`) would run
    /// combinations that another shard owns, at the same time, into the same folders — it
    /// is refused, naming both counts.
    pub fn claim_count(&self, dir: &Path) -> Result<()> {
        let path = count_record(dir);
        let doc = json!({"num_shards": self.count});
        let created = create_once(&path, format!("{doc}\n").as_bytes())
            .with_context(|| format!("cannot write '{}'", path.display()))?;
        if created {
            return Ok(());
        }
        let recorded = read_json(&path)?;
        let Some(n) = recorded.get("num_shards").and_then(Value::as_u64) else {
            bail!(
                "'{}' does not hold the experiment's number of shards (\"num_shards\"); was it edited? It should read {doc}",
                path.display()
            );
        };
        if n != u64::from(self.count) {
            bail!(
                "shard {self} cannot join '{}': its first shard split it into {n} shards (recorded in '{}'), and this shard says {}. Shards of different splits would run the same combinations at once. Use --shard K/{n} (or --num-shards {n}), or start a new experiment with another -e/--experiment-name",
                dir.display(),
                path.display(),
                self.count
            );
        }
        Ok(())
    }

    /// This shard's `summary.csv`: `summary-shard-K.csv`.
    pub fn summary_csv(&self) -> String {
        format!("summary-shard-{}.csv", self.index)
    }

    /// A shard-specific variant of a file name: `name.ext` → `name-shard-K.ext`.
    pub fn file(&self, name: &str) -> String {
        match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}-shard-{}.{ext}", self.index),
            None => format!("{name}-shard-{}", self.index),
        }
    }
}

/// Where an experiment folder records its number of shards.
pub fn count_record(dir: &Path) -> PathBuf {
    dir.join(".llmsweep").join("shards.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn from_the_flag() {
        assert_eq!(
            Shard::resolve(Some("1/3"), None, env(&[])).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(Shard::resolve(Some(bad), None, env(&[])).is_err(), "{bad}");
        }
    }

    #[test]
    fn from_slurm_and_kubernetes() {
        let s = Shard::resolve(
            None,
            None,
            env(&[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ]),
        )
        .unwrap();
        assert_eq!(s, Some(Shard { index: 2, count: 4 }));
        let s = Shard::resolve(
            None,
            None,
            env(&[
                ("SLURM_ARRAY_TASK_ID", "11"),
                ("SLURM_ARRAY_TASK_MIN", "10"),
                ("SLURM_ARRAY_TASK_MAX", "13"),
            ]),
        )
        .unwrap();
        assert_eq!(s, Some(Shard { index: 1, count: 4 }));
        let s = Shard::resolve(None, Some(5), env(&[("JOB_COMPLETION_INDEX", "4")])).unwrap();
        assert_eq!(s, Some(Shard { index: 4, count: 5 }));
        let e = Shard::resolve(None, None, env(&[("JOB_COMPLETION_INDEX", "4")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("JOB_COMPLETION_INDEX=4") && e.contains("--num-shards N"),
            "{e}"
        );
        assert!(
            Shard::resolve(None, Some(2), env(&[]))
                .unwrap_err()
                .to_string()
                .contains("--shard K/2")
        );
        assert!(Shard::resolve(None, None, env(&[("SLURM_ARRAY_TASK_ID", "x")])).is_err());
        // One index resubmitted alone (`sbatch --array=3`): --num-shards keeps it 3 of 4.
        let alone = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
        ]);
        let s = Shard::resolve(None, Some(4), alone).unwrap();
        assert_eq!(s, Some(Shard { index: 3, count: 4 }));
    }

    #[test]
    fn a_flag_and_num_shards_must_agree() {
        let e = Shard::resolve(Some("1/3"), Some(4), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--shard 1/3") && e.contains("--num-shards says 4"),
            "{e}"
        );
        assert_eq!(
            Shard::resolve(Some("1/3"), Some(3), env(&[])).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
    }

    #[test]
    fn the_first_shard_records_the_count_and_others_must_match() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("exp");
        let s = |index, count| Shard { index, count };
        s(0, 2).claim_count(&dir).unwrap();
        s(1, 2).claim_count(&dir).unwrap();
        s(0, 2).claim_count(&dir).unwrap();
        let e = s(2, 3).claim_count(&dir).unwrap_err().to_string();
        assert!(
            e.contains("shard 2/3") && e.contains("into 2 shards") && e.contains("says 3"),
            "{e}"
        );
        assert!(
            e.contains("shards.json") && e.contains("--shard K/2"),
            "{e}"
        );
        assert_eq!(
            read_json(&count_record(&dir)).unwrap(),
            json!({"num_shards": 2})
        );
        std::fs::write(count_record(&dir), "{}").unwrap();
        let e = s(0, 2).claim_count(&dir).unwrap_err().to_string();
        assert!(e.contains("num_shards") && e.contains("shards.json"), "{e}");
        std::fs::write(count_record(&dir), "not json").unwrap();
        let e = format!("{:#}", s(0, 2).claim_count(&dir).unwrap_err());
        assert!(e.contains("shards.json"), "{e}");
    }

    #[test]
    fn ownership_is_even_and_complete() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        for item in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.owns(item)).count(), 1);
        }
        assert_eq!((0..10).filter(|i| shards[0].owns(*i)).count(), 4);
        assert_eq!(
            shards[2].file("sla_results.json"),
            "sla_results-shard-2.json"
        );
    }
}

//! Shards: one sweep split over many machines, by serve item (a shard owns whole
//! servers), deterministically and evenly — serve item `i` belongs to shard `i mod N`.
//!
//! The shard comes from `--shard K/N`, else from the job array running us: Slurm's
//! `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` (or `_MIN`/`_MAX`), or Kubernetes'
//! `JOB_COMPLETION_INDEX` with `--num-shards N`. One command line thus serves a whole
//! array.

use std::fmt;

use anyhow::{Result, anyhow, bail};

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
            return Self::parse(text).map(Some);
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
        if let (Some(idx), Some(n)) = (num("JOB_COMPLETION_INDEX")?, num_shards) {
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
        assert_eq!(
            Shard::resolve(None, None, env(&[("JOB_COMPLETION_INDEX", "4")])).unwrap(),
            None
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

//! The vocabulary every llmsweep room speaks.
//!
//! `llmsweep-core` holds the pure logic shared by the sweep orchestrator and the plotting
//! room, and compatible with vLLM's `vllm bench sweep`:
//!
//! - [`params`]: parameter sweep files (a list of objects, or `{name: object}`), one item,
//!   and vLLM's rules for rewriting a command line from an item;
//! - [`pyfmt`]: how Python prints values (`str()`, `repr()`), which vLLM's folder names and
//!   CSV cells use;
//! - [`record`]: run results as ordered JSON objects, lenient JSON reading (`NaN`,
//!   `Infinity`), numbers from `"inf"`/`"nan"` strings, loading every `summary.json` below a
//!   folder, and `summary.csv` in pandas' format;
//! - [`layout`]: the experiment folder (`SERVE--…-BENCH--…/run=N.json`, `summary.json`,
//!   failures), safe folder names, atomic writes;
//! - [`expr`]: comparison expressions (`<=`, `>=`, `<`, `>`, `==`, `!=`) for SLA criteria
//!   and plot filters.
//!
//! Nothing here starts a process or opens a socket; the only I/O is reading and writing
//! files.
//!
//! ```
//! use llmsweep_core::params::ParamSweep;
//!
//! let sweep = ParamSweep::from_json_str(r#"[{"max_num_seqs": 32}, {"max_num_seqs": 64}]"#, "serve.json").unwrap();
//! let cmd: Vec<String> = ["vllm", "serve", "m"].iter().map(|s| s.to_string()).collect();
//! assert_eq!(sweep[1].apply_to_cmd(&cmd), ["vllm", "serve", "m", "--max-num-seqs", "64"]);
//! assert_eq!(sweep[1].name(), "max_num_seqs=64");
//! ```

pub mod expr;
pub mod layout;
pub mod params;
pub mod pyfmt;
pub mod record;

//! Small pieces every subcommand shares: error printing, flag spelling, SIGPIPE.

use std::ffi::OsString;

/// Print an error and its causes on stderr, as `error: outer: inner: …`. Control
/// characters (from names in the user's files) are escaped; a closed stderr is ignored
/// (never a panic).
pub fn print_error(err: &anyhow::Error) {
    use std::io::Write;
    let text = format!("error: {err:#}");
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        llmsweep_sweep::console::escape_keep_lines(&text)
    );
}

/// Let `llmsweep … | head` end quietly: Rust ignores SIGPIPE by default, which turns a
/// closed pipe into a panic inside `println!`. Sweeps, which must stop their servers
/// first, block SIGPIPE again once they start (`llmsweep_sweep::signals::install`) and
/// turn a closed pipe into an orderly stop.
pub fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default before any thread exists.
    unsafe {
        libc_sigpipe_default();
    }
}

#[cfg(unix)]
unsafe fn libc_sigpipe_default() {
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

/// vLLM's `FlexibleArgumentParser` accepts `--foo_bar` for `--foo-bar`; so do we. Only the
/// flag name of a `--name` or `--name=value` token is rewritten, never a value, and nothing
/// after a bare `--`.
pub fn normalize_flag_spelling(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        if passthrough {
            out.push(arg);
            continue;
        }
        match arg.to_str() {
            Some("--") => {
                passthrough = true;
                out.push(arg);
            }
            Some(s) if s.starts_with("--") && s.len() > 2 => {
                let (name, rest) = match s.find('=') {
                    Some(i) => s.split_at(i),
                    None => (s, ""),
                };
                out.push(OsString::from(format!("{}{rest}", name.replace('_', "-"))));
            }
            _ => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_flag_spelling(args.iter().map(OsString::from))
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn underscores_in_flag_names_become_dashes() {
        assert_eq!(
            norm(&[
                "x",
                "--random_input_len",
                "5",
                "--extra_body={\"a_b\":1}",
                "-o",
                "a_b"
            ]),
            [
                "x",
                "--random-input-len",
                "5",
                "--extra-body={\"a_b\":1}",
                "-o",
                "a_b"
            ]
        );
    }

    #[test]
    fn nothing_after_double_dash_is_touched() {
        assert_eq!(norm(&["x", "--", "--a_b"]), ["x", "--", "--a_b"]);
    }
}

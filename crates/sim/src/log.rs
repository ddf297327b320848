//! Log lines in vLLM's layout (`INFO 11-27 23:20:01 [llmsweep-sim] …`): information on
//! stdout, warnings and errors on stderr.

use std::io::Write as _;

fn stamp() -> String {
    chrono::Local::now().format("%m-%d %H:%M:%S").to_string()
}

/// An `INFO` line on stdout.
pub fn info(message: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "INFO {} [llmsweep-sim] {message}", stamp());
    let _ = out.flush();
}

/// A `WARNING` line on stderr.
pub fn warn(message: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "WARNING {} [llmsweep-sim] {message}",
        stamp()
    );
}

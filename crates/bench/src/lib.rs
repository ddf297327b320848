//! llmsweep bench (being built).

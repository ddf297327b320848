//! llmsweep sweep (being built).

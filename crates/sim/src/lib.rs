//! llmsweep sim (being built).

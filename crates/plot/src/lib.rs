//! llmsweep plot (being built).

//! llmsweep core (being built).

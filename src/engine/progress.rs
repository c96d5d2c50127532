//! How the engine reports progress without knowing about terminals: the CLI plugs in a progress
//! bar, tests and the plugin plug in nothing. Items are secret names, never values.

/// Progress of a run over a known number of secrets.
pub trait Progress: Send + Sync {
    /// The run will handle `n` secrets.
    fn start(&self, _phase: &str, _n: usize) {}
    /// A listing still arriving found `n` more secrets (a run that fetches while it lists
    /// starts at 0).
    fn more(&self, _n: usize) {}
    /// One secret is done.
    fn advance(&self, _secret: &str) {}
    /// The phase is over.
    fn finish(&self) {}
}

/// No progress reporting.
pub struct Silent;

impl Progress for Silent {}

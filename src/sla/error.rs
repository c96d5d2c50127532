//! The SLA layer's one error type: what a configuration lookup, a cadence, the scheduler's files
//! or our own executable can fail with. The command layer wraps it (anyhow); nothing here knows
//! about exit codes.

/// What can go wrong in `sla`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cadence (`6h`, `cron 0 3 * * *`) that does not parse, with why.
    #[error("{0}")]
    Cadence(String),
    /// The configuration does not say what was asked (an unknown source or repository, two
    /// policies that apply equally).
    #[error("{0}")]
    Config(String),
    /// The state file or a drill or drift record could not be read, parsed or written.
    #[error("{what} {path}: {message}")]
    File {
        what: &'static str,
        path: String,
        message: String,
    },
    /// Our own executable could not be found (scheduled jobs run it).
    #[error("cannot find our executable: {0}")]
    Executable(String),
}

impl Error {
    pub(crate) fn file(
        what: &'static str,
        path: &std::path::Path,
        e: impl std::fmt::Display,
    ) -> Error {
        Error::File {
            what,
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// Results of the SLA layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

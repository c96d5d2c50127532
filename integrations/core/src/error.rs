//! The connector error type and the per-item failure that a run records and keeps going past.
//!
//! The rule (docs/ARCHITECTURE.md, "Errors"): a variant names the kind of cause, and its message
//! is built where the error happens from safe parts — the call, the HTTP status, the provider's
//! error type, the secret and version names — never from a value, and never by forwarding a
//! foreign error whose text we do not control (SDK, serde and HTTP errors can quote the bytes
//! they failed on). Connector errors cross the plugin protocol and JSON reports as text, so the
//! message is the whole of what is kept.

/// Errors that stop a connector operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("permission denied: {0}")]
    Permission(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("rejected by the provider: {0}")]
    Rejected(String),
    #[error("quota exceeded: {0}")]
    Quota(String),
    #[error("still failing after {attempts} attempts: {last}")]
    Exhausted { attempts: u32, last: String },
    #[error("transport: {0}")]
    Transport(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("unexpected response: {0}")]
    Protocol(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One item (secret or version) that failed, with why; never carries a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ItemFailure {
    pub item: String,
    pub reason: String,
}

impl ItemFailure {
    /// What every connector maps its errors through for one item: `item` (its full name) failed
    /// for the error's (safe) text. `map_err(ItemFailure::naming(s.full_name()))`.
    pub fn naming(item: String) -> impl Fn(Error) -> ItemFailure {
        move |e: Error| ItemFailure {
            item: item.clone(),
            reason: e.to_string(),
        }
    }
}

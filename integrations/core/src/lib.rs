//! secretsnap-core: what every connector shares. One model of a secret and its versions
//! (`model`), the two traits a connector implements (`Source`, `Destination` in `connector`), the
//! restore plan (`plan`), the seam a provider crate plugs into (`provider`: explicit keys,
//! opening connectors), what a destination can hold (`capability`), the loops that drive connectors
//! (`fetch`: list then fetch with bounded concurrency; `restore`: plan then apply), checking a
//! target against a snapshot (`verify`), list-only incremental runs (`unchanged`), the politeness layers every HTTP client wraps its calls in
//! (`polite`: rate limiter, retry with jitter, call counter; `pace`: pacing by the server's
//! rate-limit headers), and, with the `testing` feature, the
//! conformance suite every connector's tests run (`conformance`). Connectors depend on this crate
//! only; never on each other.

pub mod capability;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod connector;
mod error;
pub mod face;
pub mod fetch;
pub mod model;
pub mod pace;
pub mod plan;
pub mod polite;
pub mod portable;
pub mod provider;
pub mod restore;
pub mod unchanged;
pub mod verify;

pub use capability::Capabilities;
pub use connector::{Destination, Filter, Known, ListPages, NothingKnown, Source};
pub use error::{Error, ItemFailure, Result};
pub use face::{Face, Opt};
pub use model::{Location, Payload, Secret, Version, VersionStatus};
pub use plan::{Action, ConflictMode, Plan, PlanItem, Report, RestoreOptions, VersionStep};
pub use provider::{Access, Keys, LocationPart, Provider};

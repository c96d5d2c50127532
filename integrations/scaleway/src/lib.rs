//! Scaleway Secret Manager for secretsnap. Today: `emulator`, a faithful local v1beta1 server
//! (checked against recorded live traffic by `tests/cassettes.rs`). The REST client, source and
//! destination connectors build on it next.

pub mod emulator;

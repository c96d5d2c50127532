//! The generated protocol types and gRPC stubs (see `proto/*.proto` and `build.rs`). Module
//! nesting mirrors the proto packages so generated cross-package paths resolve.

#![allow(clippy::all, missing_docs)]

pub mod plakar {
    pub mod connectors {
        include!(concat!(env!("OUT_DIR"), "/plakar.connectors.rs"));
    }
    pub mod exporter {
        include!(concat!(env!("OUT_DIR"), "/plakar.exporter.rs"));
    }
}

pub mod importer {
    include!(concat!(env!("OUT_DIR"), "/importer.rs"));
}

pub use plakar::connectors::{FileInfo, Record, Result as RecordResult};

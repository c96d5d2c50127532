//! The object-access seam: one small trait every repository location implements, and `open_url`
//! which turns `/path`, `file:///path`, `s3://bucket/prefix` or `memory://` into one.
//!
//! Contract (checked by `conformance`, run against every implementation): objects are immutable;
//! `put_if_absent` creates atomically or reports that the name exists and leaves it untouched;
//! `get` of a missing object is `Error::NotFound`; `delete` of a missing object succeeds; `list`
//! returns every complete object under a prefix and never a half-written one.

pub mod conformance;
mod local;
mod metered;
mod objstore;

use std::ops::Range;

use bytes::Bytes;

use crate::error::{Error, Result};

pub use local::LocalBackend;
pub use metered::Metered;
pub use objstore::ObjectStoreBackend;

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Name relative to the repository root, `/`-separated.
    pub name: String,
    pub size: u64,
}

/// Access to the objects of one repository.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Where this is, for messages (never contains credentials).
    fn location(&self) -> String;
    async fn get(&self, name: &str) -> Result<Bytes>;
    async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes>;
    /// Creates `name` if absent; `Ok(false)` when it already existed (nothing written).
    async fn put_if_absent(&self, name: &str, bytes: Bytes) -> Result<bool>;
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    async fn delete(&self, name: &str) -> Result<()>;
    /// Makes the location private to this user where that means something (local folders:
    /// 0700, files 0600); returns how many entries had to be tightened.
    async fn secure(&self) -> Result<usize> {
        Ok(0)
    }
    /// Debris a crash may leave (temporary files, incomplete uploads), for `check` to report.
    async fn leftovers(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// Options for S3 repositories that do not come from the URL.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
}

/// Opens a repository location: a plain path, `file://`, `s3://bucket[/prefix]` or `memory://`.
///
/// S3 credentials, region and endpoint come from the usual AWS environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// `AWS_ENDPOINT_URL`), overridden by `opts`; `SECRETSNAP_S3_PATH_STYLE=1` forces path-style.
pub fn open_url(url: &str, opts: &S3Options) -> Result<std::sync::Arc<dyn Backend>> {
    if let Some(rest) = url.strip_prefix("s3://") {
        #[cfg(feature = "s3")]
        {
            return Ok(std::sync::Arc::new(objstore::s3(rest, opts)?));
        }
        #[cfg(not(feature = "s3"))]
        {
            let _ = (rest, opts);
            return Err(Error::Invalid(
                "this build has no S3 support (feature `s3`)".into(),
            ));
        }
    }
    if url == "memory://" {
        return Ok(std::sync::Arc::new(ObjectStoreBackend::memory()));
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("file://") {
        return Err(Error::Invalid(format!(
            "unsupported repository location {url:?}: use a path, file://, s3:// or memory://"
        )));
    }
    Ok(std::sync::Arc::new(LocalBackend::new(path)))
}

/// Validates an object name: relative, `/`-separated, no empty or dot segments.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("bad object name {name:?}")))
    }
}

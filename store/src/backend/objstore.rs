//! Repositories on any `object_store` implementation: S3-compatible storage (AWS S3, Scaleway
//! Object Storage, moto, MinIO) with create-only writes through `If-None-Match: *`, and an
//! in-memory store for `clone` and tests.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use super::{check_name, Backend, ObjectInfo};
use crate::error::{Error, Result};

/// A repository under `prefix` in an object store.
#[derive(Debug, Clone)]
pub struct ObjectStoreBackend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    location: String,
}

impl ObjectStoreBackend {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, location: String) -> Self {
        ObjectStoreBackend {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            location,
        }
    }

    pub fn memory() -> Self {
        Self::new(
            Arc::new(object_store::memory::InMemory::new()),
            "",
            "memory://".into(),
        )
    }

    fn path(&self, name: &str) -> Result<Path> {
        check_name(name)?;
        Ok(if self.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{}", self.prefix, name))
        })
    }

    fn relative(&self, p: &Path) -> String {
        let s = p.as_ref();
        if self.prefix.is_empty() {
            s.to_string()
        } else {
            s.strip_prefix(&self.prefix)
                .unwrap_or(s)
                .trim_start_matches('/')
                .to_string()
        }
    }
}

fn map_err(name: &str, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound(name.to_string()),
        other => Error::backend(name, other),
    }
}

/// Builds an S3 backend from `bucket[/prefix]`.
#[cfg(feature = "s3")]
pub(super) fn s3(rest: &str, opts: &super::S3Options) -> Result<ObjectStoreBackend> {
    use object_store::aws::AmazonS3Builder;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Invalid(
            "s3:// URL needs a bucket: s3://bucket[/prefix]".into(),
        ));
    }
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = opts
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(ep) = &endpoint {
        b = b
            .with_endpoint(ep)
            .with_allow_http(ep.starts_with("http://"));
    }
    let region = opts
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok());
    if let Some(r) = region {
        b = b.with_region(r);
    }
    let path_style = opts.path_style.unwrap_or_else(|| {
        std::env::var("SECRETSNAP_S3_PATH_STYLE")
            .map(|v| v == "1" || v == "true")
            .unwrap_or(endpoint.is_some())
    });
    b = b.with_virtual_hosted_style_request(!path_style);
    let store = b
        .build()
        .map_err(|e| Error::Invalid(format!("S3 configuration: {e}")))?;
    Ok(ObjectStoreBackend::new(
        Arc::new(store),
        prefix,
        format!("s3://{rest}"),
    ))
}

#[async_trait::async_trait]
impl Backend for ObjectStoreBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn get(&self, name: &str) -> Result<Bytes> {
        let r = self
            .store
            .get(&self.path(name)?)
            .await
            .map_err(|e| map_err(name, e))?;
        r.bytes().await.map_err(|e| map_err(name, e))
    }

    async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.path(name)?, range)
            .await
            .map_err(|e| map_err(name, e))
    }

    async fn put_if_absent(&self, name: &str, bytes: Bytes) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.path(name)?, PutPayload::from_bytes(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(map_err(name, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let p = self.path(prefix.trim_end_matches('/'))?;
        let mut out: Vec<ObjectInfo> = self
            .store
            .list(Some(&p))
            .map_ok(|m| ObjectInfo {
                name: self.relative(&m.location),
                size: m.size,
            })
            .try_collect()
            .await
            .map_err(|e| map_err(prefix, e))?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        match self.store.delete(&self.path(name)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err(name, e)),
        }
    }
}

//! A wrapper that counts the requests made to a repository location and can make each one wait
//! first: how tests prove what a command reads (a dry run reads no value) and how benchmarks
//! stand in for object storage far away without a network in between.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Backend, ObjectInfo};
use crate::error::Result;

/// `inner`, counting requests (all, and blob reads: ranges of packs) and delaying each by
/// `latency`.
#[derive(Debug)]
pub struct Metered {
    inner: Arc<dyn Backend>,
    latency: Duration,
    requests: AtomicU64,
    ranges: AtomicU64,
}

impl Metered {
    pub fn new(inner: Arc<dyn Backend>, latency: Duration) -> Metered {
        Metered {
            inner,
            latency,
            requests: AtomicU64::new(0),
            ranges: AtomicU64::new(0),
        }
    }

    /// Requests of every kind so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Ranged reads so far: one per blob read (a tree, a chunk of a value).
    pub fn ranges(&self) -> u64 {
        self.ranges.load(Ordering::Relaxed)
    }

    async fn wait(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait::async_trait]
impl Backend for Metered {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn get(&self, name: &str) -> Result<Bytes> {
        self.wait().await;
        self.inner.get(name).await
    }
    async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        self.ranges.fetch_add(1, Ordering::Relaxed);
        self.wait().await;
        self.inner.get_range(name, range).await
    }
    async fn put_if_absent(&self, name: &str, bytes: Bytes) -> Result<bool> {
        self.wait().await;
        self.inner.put_if_absent(name, bytes).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.wait().await;
        self.inner.list(prefix).await
    }
    async fn delete(&self, name: &str) -> Result<()> {
        self.wait().await;
        self.inner.delete(name).await
    }
    async fn secure(&self) -> Result<usize> {
        self.inner.secure().await
    }
    async fn leftovers(&self) -> Result<Vec<String>> {
        self.inner.leftovers().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_conformance_suite_and_counts() {
        let m = Arc::new(Metered::new(
            Arc::new(super::super::ObjectStoreBackend::memory()),
            Duration::ZERO,
        ));
        super::super::conformance::run(m.clone(), "metered").await;
        assert!(m.requests() > 0 && m.ranges() > 0);
    }
}

//! A repository location that lets a test run another process's work at an exact point of a
//! command: after a listing returns, or before an object is read. How the races a fleet meets
//! (a backup committing, a forget deleting, between a check's two listings) become deterministic
//! tests instead of flaky ones.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use secretsnap_store::backend::{Backend, ObjectInfo};
use secretsnap_store::Result;

/// Work run at a trigger; it receives the object name or prefix concerned.
pub type Hook = Box<dyn FnOnce(String) -> BoxFuture<'static, ()> + Send>;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum At {
    /// After the n-th (from 1) listing of this prefix has returned, before the caller sees it.
    AfterList(&'static str, usize),
    /// Before the n-th (from 1) `get` of an object under this prefix.
    BeforeGet(&'static str, usize),
}

pub struct Interleave {
    inner: Arc<dyn Backend>,
    /// Calls seen per (is a listing, hook prefix).
    counts: Mutex<HashMap<(bool, &'static str), usize>>,
    hooks: Mutex<Vec<(At, Hook)>>,
}

impl std::fmt::Debug for Interleave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interleave")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Interleave {
    pub fn new(inner: Arc<dyn Backend>) -> Interleave {
        Interleave {
            inner,
            counts: Mutex::new(HashMap::new()),
            hooks: Mutex::new(Vec::new()),
        }
    }

    pub fn at(&self, at: At, hook: Hook) {
        self.hooks.lock().unwrap().push((at, hook));
    }

    /// Hooks not run yet (a test asserts its interleaving really happened).
    pub fn pending(&self) -> usize {
        self.hooks.lock().unwrap().len()
    }

    /// Counts this call against every hooked prefix it falls under and takes the hooks it
    /// triggers.
    fn due(&self, list: bool, name: &str) -> Vec<Hook> {
        let mut counts = self.counts.lock().unwrap();
        let mut hooks = self.hooks.lock().unwrap();
        let key = |at: &At| match *at {
            At::AfterList(p, n) => ((true, p), n),
            At::BeforeGet(p, n) => ((false, p), n),
        };
        let under =
            |(l, p): (bool, &str)| l == list && if l { name == p } else { name.starts_with(p) };
        let mut prefixes: Vec<(bool, &'static str)> = hooks
            .iter()
            .map(|(at, _)| key(at).0)
            .filter(|k| under(*k))
            .collect();
        prefixes.sort();
        prefixes.dedup();
        for k in prefixes {
            *counts.entry(k).or_insert(0) += 1;
        }
        let mut due = Vec::new();
        let mut i = 0;
        while i < hooks.len() {
            let (k, n) = key(&hooks[i].0);
            if under(k) && counts.get(&k) == Some(&n) {
                due.push(hooks.remove(i).1);
            } else {
                i += 1;
            }
        }
        due
    }
}

#[async_trait::async_trait]
impl Backend for Interleave {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn get(&self, name: &str) -> Result<Bytes> {
        for hook in self.due(false, name) {
            hook(name.to_string()).await;
        }
        self.inner.get(name).await
    }
    async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        self.inner.get_range(name, range).await
    }
    async fn put_if_absent(&self, name: &str, bytes: Bytes) -> Result<bool> {
        self.inner.put_if_absent(name, bytes).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let listed = self.inner.list(prefix).await;
        for hook in self.due(true, prefix) {
            hook(prefix.to_string()).await;
        }
        listed
    }
    async fn delete(&self, name: &str) -> Result<()> {
        self.inner.delete(name).await
    }
}

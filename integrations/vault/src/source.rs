//! Reading a KV v2 mount: `LIST metadata/` level by level (one call per folder), then per path
//! one metadata read (every version's number, time and state) and one data read per version the
//! repository does not hold yet. Soft-deleted versions are read only on request
//! (`read_disabled`, "read deleted"), which undeletes each for the read and deletes it again:
//! that writes to the source, and the plan says so. Destroyed versions have no value to read.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use secretsnap_core::{
    Error, Filter, ItemFailure, Known, Location, Opt, Payload, Secret, Source, VersionStatus,
};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::client::{rejected, VaultClient};
use crate::convert;

/// Deepest folder nesting a listing follows.
const MAX_DEPTH: usize = 64;
/// Most keys (paths and folders) a listing takes.
const MAX_KEYS: usize = 1_000_000;

/// `vault://MOUNT[/NAMESPACE]` as a source.
pub struct VaultSource {
    client: VaultClient,
    mount: String,
    location: Location,
}

impl VaultSource {
    pub fn new(client: VaultClient, mount: &str) -> VaultSource {
        let location = crate::config::location(&client, mount);
        VaultSource {
            client,
            mount: mount.trim_matches('/').to_string(),
            location,
        }
    }

    /// The keys of one folder (`""` or `app/`): names, and folders ending in `/`.
    async fn keys(&self, folder: &str) -> Result<Vec<String>, Error> {
        let path = format!("{}/metadata/{folder}?list=true", self.mount);
        let r = self.client.call(Method::GET, &path, None).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !r.status.is_success() {
            return Err(rejected(&Method::GET, &path, &r));
        }
        Ok(r.json()["data"]["keys"]
            .as_array()
            .map(|ks| {
                ks.iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A path's metadata (`data` of `GET metadata/P`); `None` when the path does not exist.
    pub(crate) async fn metadata(
        client: &VaultClient,
        mount: &str,
        kv_path: &str,
    ) -> Result<Option<Value>, Error> {
        let path = format!("{mount}/metadata/{kv_path}");
        let r = client.call(Method::GET, &path, None).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status.is_success() {
            return Err(rejected(&Method::GET, &path, &r));
        }
        Ok(Some(r.json()["data"].take()))
    }

    /// Version `n`'s data, serialized as the JSON object it is (types kept).
    async fn read(&self, kv_path: &str, n: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let path = format!("{}/data/{kv_path}?version={n}", self.mount);
        let r = self.client.call(Method::GET, &path, None).await?;
        if !r.status.is_success() {
            return Err(rejected(&Method::GET, &path, &r));
        }
        let mut body: Value = serde_json::from_slice(&r.body)
            .map_err(|_| Error::Protocol(format!("GET {} data: not JSON", self.mount)))?;
        let data = body["data"]["data"].take();
        if !data.is_object() {
            return Err(Error::Protocol(format!(
                "version {n}: the server returned no data object"
            )));
        }
        Ok(Zeroizing::new(
            serde_json::to_vec(&data).expect("a JSON value serializes"),
        ))
    }

    /// `POST {action}/P` for version `n` (delete, undelete).
    async fn act(&self, action: &str, kv_path: &str, n: &str) -> Result<(), Error> {
        let path = format!("{}/{action}/{kv_path}", self.mount);
        let body = json!({ "versions": [n.parse::<u64>().unwrap_or(0)] }).to_string();
        self.client
            .ok_json(Method::POST, &path, Some(body.as_bytes()))
            .await
            .map(|_| ())
    }

    /// A soft-deleted version's value: undelete, read, delete again. The delete is attempted
    /// even when the read fails, and its own failure is the error (the source must not be left
    /// with a version undeleted).
    async fn read_deleted(&self, kv_path: &str, n: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.act("undelete", kv_path, n).await?;
        let read = self.read(kv_path, n).await;
        if let Err(e) = self.act("delete", kv_path, n).await {
            return Err(Error::Rejected(format!(
                "version {n} was undeleted to be read and could not be deleted again ({e}): \
                 delete it by hand"
            )));
        }
        read
    }
}

#[async_trait::async_trait]
impl Source for VaultSource {
    fn location(&self) -> Location {
        self.location.clone()
    }

    async fn list(&self, filter: &Filter) -> Result<Vec<Secret>, Error> {
        let start = filter
            .path_prefix
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        let mut folders = vec![start];
        let mut out = Vec::new();
        let mut seen = 0usize;
        while let Some(folder) = folders.pop() {
            // A server is not believed without bounds: a folder nested deeper than any real
            // tree, or more keys than any real mount, ends the listing with an error.
            if folder.matches('/').count() > MAX_DEPTH {
                return Err(Error::Protocol(format!(
                    "{}: folders nested deeper than {MAX_DEPTH} levels",
                    self.mount
                )));
            }
            let keys = self.keys(&folder).await?;
            seen += keys.len();
            if seen > MAX_KEYS {
                return Err(Error::Protocol(format!(
                    "{}: more than {MAX_KEYS} keys listed",
                    self.mount
                )));
            }
            for key in keys {
                let full = format!("{folder}{key}");
                if key.ends_with('/') {
                    folders.push(full);
                    continue;
                }
                let mut s = convert::listed(&self.location, &full);
                if !filter.tags.is_empty() {
                    // Tags are custom metadata: read only when a filter needs them.
                    match Self::metadata(&self.client, &self.mount, &full).await? {
                        Some(m) => convert::metadata(&mut s, &m, Utc::now()),
                        None => continue,
                    }
                    s.versions.clear();
                }
                if filter.matches(&s) {
                    out.push(s);
                }
            }
        }
        out.sort_by_key(Secret::full_name);
        Ok(out)
    }

    async fn fetch(
        &self,
        mut secret: Secret,
        filter: &Filter,
        known: &dyn Known,
    ) -> Result<Secret, ItemFailure> {
        let kv = convert::join(&secret.path, &secret.name);
        let fail = |e: Error| ItemFailure {
            item: secret.full_name(),
            reason: e.to_string(),
        };
        let m = Self::metadata(&self.client, &self.mount, &kv)
            .await
            .map_err(fail)?
            .ok_or_else(|| ItemFailure {
                item: secret.full_name(),
                reason: "deleted since it was listed".into(),
            })?;
        convert::metadata(&mut secret, &m, Utc::now());
        let mut versions = std::mem::take(&mut secret.versions);
        for v in &mut versions {
            // A version's value never changes under its number (within one life of the path,
            // which the secret id names).
            if known.reuse(&secret.item_key(v), v) {
                continue;
            }
            let read = match v.status {
                VersionStatus::Enabled => self.read(&kv, &v.id).await,
                VersionStatus::Disabled if filter.read_disabled => {
                    self.read_deleted(&kv, &v.id).await
                }
                VersionStatus::Disabled => {
                    v.not_read_because(format!(
                        "soft-deleted: metadata only (opt in with {}, which undeletes it for the \
                         read and deletes it again)",
                        filter.face.hint(Opt::ReadDisabled, "")
                    ));
                    continue;
                }
                _ => {
                    v.not_read_because("destroyed: its value is gone for good");
                    continue;
                }
            };
            match read {
                Ok(bytes) => v.payload = Payload::Bytes(bytes),
                Err(e) => v.failed(e.to_string()),
            }
        }
        secret.versions = versions;
        Ok(secret)
    }

    fn calls(&self) -> u64 {
        self.client.calls()
    }
}

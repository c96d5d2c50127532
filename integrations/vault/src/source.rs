//! Reading KV mounts. A KV v2 mount: `LIST metadata/` level by level (one call per folder, or
//! per page of 1 000 keys where the server pages listings, as OpenBao does), then per path one
//! metadata read (every version's number, time and state) and one data read per version the
//! repository does not hold yet. Soft-deleted versions are read only on request
//! (`read_disabled`, "read deleted"), which undeletes each for the read and deletes it again:
//! that writes to the source, and the plan says so. Destroyed versions have no value to read.
//! A KV v1 mount has one value per path and no metadata: its paths are listed the same way and
//! each value is read on every run (nothing tells a changed value from an unchanged one without
//! reading it). `vault://` alone reads every KV mount the token can see (`mount`).

use chrono::Utc;
use reqwest::{Method, StatusCode};
use secretsnap_core::{
    Error, Filter, ItemFailure, Known, Location, Opt, Payload, Secret, Source, VersionStatus,
};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::client::{rejected, VaultClient};
use crate::convert::{self, esc};
use crate::mount::{Mount, Mounts};

/// Deepest folder nesting a listing follows.
const MAX_DEPTH: usize = 64;
/// Most keys (paths and folders) a listing takes.
const MAX_KEYS: usize = 1_000_000;

/// `vault://MOUNT[/NAMESPACE]` (or `vault://` for every KV mount) as a source.
pub struct VaultSource {
    client: VaultClient,
    mounts: Mounts,
    location: Location,
}

impl VaultSource {
    /// `mount` empty: every KV mount.
    pub fn new(client: VaultClient, mount: &str) -> VaultSource {
        let location = crate::config::location(&client, mount);
        VaultSource {
            client,
            mounts: Mounts::new(mount),
            location,
        }
    }

    /// The keys of one folder (`""` or `app/`) of `m`: names, and folders ending in `/`, page
    /// by page where the server pages (OpenBao's `after` and `limit`). A server that does not
    /// page (Vault) ignores both and answers the whole folder at once: a page longer than asked,
    /// or one that repeats keys already taken, ends the listing.
    async fn keys(&self, m: &Mount, folder: &str) -> Result<Vec<String>, Error> {
        let base = if m.v1 {
            format!("{}/{}", esc(&m.path), esc(folder))
        } else {
            format!("{}/metadata/{}", esc(&m.path), esc(folder))
        };
        let page = self.client.list_page();
        let mut out: Vec<String> = Vec::new();
        loop {
            let mut path = format!("{base}?list=true&limit={page}");
            if let Some(last) = out.last() {
                path.push_str("&after=");
                path.push_str(&esc(last));
            }
            let r = self.client.call(Method::GET, &path, None).await?;
            if r.status == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            if !r.status.is_success() {
                return Err(rejected(&Method::GET, &path, &r));
            }
            let keys: Vec<String> = r.json()["data"]["keys"]
                .as_array()
                .map(|ks| {
                    ks.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let n = keys.len();
            let after = out.last().cloned();
            let fresh: Vec<String> = keys
                .into_iter()
                .filter(|k| after.as_ref().is_none_or(|a| k > a))
                .collect();
            let whole = n != page || fresh.len() != n;
            out.extend(fresh);
            if out.len() > MAX_KEYS {
                return Err(Error::Protocol(format!(
                    "{}: more than {MAX_KEYS} keys listed in one folder",
                    m.path
                )));
            }
            if whole {
                return Ok(out);
            }
        }
    }

    /// A path's metadata (`data` of `GET metadata/P`); `None` when the path does not exist.
    pub(crate) async fn metadata(
        client: &VaultClient,
        mount: &str,
        kv_path: &str,
    ) -> Result<Option<Value>, Error> {
        let path = format!("{}/metadata/{}", esc(mount), esc(kv_path));
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
    async fn read(&self, m: &Mount, kv_path: &str, n: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let path = format!("{}/data/{}?version={n}", esc(&m.path), esc(kv_path));
        let r = self.client.call(Method::GET, &path, None).await?;
        if !r.status.is_success() {
            return Err(rejected(&Method::GET, &path, &r));
        }
        let mut body: Value = serde_json::from_slice(&r.body)
            .map_err(|_| Error::Protocol(format!("GET {} data: not JSON", m.path)))?;
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
    async fn act(&self, m: &Mount, action: &str, kv_path: &str, n: &str) -> Result<(), Error> {
        let path = format!("{}/{action}/{}", esc(&m.path), esc(kv_path));
        let body = json!({ "versions": [n.parse::<u64>().unwrap_or(0)] }).to_string();
        self.client
            .ok_json(Method::POST, &path, Some(body.as_bytes()))
            .await
            .map(|_| ())
    }

    /// A soft-deleted version's value: undelete, read, delete again. The delete is attempted
    /// even when the read fails, and its own failure is the error (the source must not be left
    /// with a version undeleted).
    async fn read_deleted(
        &self,
        m: &Mount,
        kv_path: &str,
        n: &str,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.act(m, "undelete", kv_path, n).await?;
        let read = self.read(m, kv_path, n).await;
        if let Err(e) = self.act(m, "delete", kv_path, n).await {
            return Err(Error::Rejected(format!(
                "version {n} was undeleted to be read and could not be deleted again ({e}): \
                 delete it by hand"
            )));
        }
        read
    }

    /// A KV v1 path's value (`None`: gone since it was listed).
    async fn read_v1(&self, m: &Mount, kv_path: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let path = format!("{}/{}", esc(&m.path), esc(kv_path));
        let r = self.client.call(Method::GET, &path, None).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !r.status.is_success() {
            return Err(rejected(&Method::GET, &path, &r));
        }
        let mut body: Value = serde_json::from_slice(&r.body)
            .map_err(|_| Error::Protocol(format!("GET {}: not JSON", m.path)))?;
        let data = body["data"].take();
        if !data.is_object() {
            return Err(Error::Protocol(format!(
                "{}: the server returned no data object",
                m.path
            )));
        }
        Ok(Some(Zeroizing::new(
            serde_json::to_vec(&data).expect("a JSON value serializes"),
        )))
    }

    /// Every path of `m` under `start` (a folder ending in `/`, or `""`).
    async fn walk(&self, m: &Mount, start: String) -> Result<Vec<String>, Error> {
        let mut folders = vec![start];
        let mut out = Vec::new();
        let mut seen = 0usize;
        while let Some(folder) = folders.pop() {
            // A server is not believed without bounds: a folder nested deeper than any real
            // tree, or more keys than any real mount, ends the listing with an error.
            if folder.matches('/').count() > MAX_DEPTH {
                return Err(Error::Protocol(format!(
                    "{}: folders nested deeper than {MAX_DEPTH} levels",
                    m.path
                )));
            }
            let keys = self.keys(m, &folder).await?;
            seen += keys.len();
            if seen > MAX_KEYS {
                return Err(Error::Protocol(format!(
                    "{}: more than {MAX_KEYS} keys listed",
                    m.path
                )));
            }
            for key in keys {
                let full = format!("{folder}{key}");
                if key.ends_with('/') {
                    folders.push(full);
                } else {
                    out.push(full);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Source for VaultSource {
    fn location(&self) -> Location {
        self.location.clone()
    }

    async fn list(&self, filter: &Filter) -> Result<Vec<Secret>, Error> {
        let prefix = filter
            .path_prefix
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .unwrap_or_default()
            .to_string();
        let single = self.mounts.named();
        let mut out = Vec::new();
        for m in self.mounts.get(&self.client).await? {
            // Where every mount is read, a folder filter starts with the mount's name.
            let start = if single {
                prefix.as_str()
            } else if prefix.is_empty()
                || prefix == m.path
                || m.path.starts_with(&format!("{prefix}/"))
            {
                ""
            } else if let Some(rest) = prefix.strip_prefix(&format!("{}/", m.path)) {
                rest
            } else {
                continue;
            };
            let start = if start.is_empty() {
                String::new()
            } else {
                format!("{start}/")
            };
            for kv in self.walk(m, start).await? {
                let full = if single {
                    kv.clone()
                } else {
                    format!("{}/{kv}", m.path)
                };
                let mut s = convert::listed(&self.location, &full);
                if !filter.tags.is_empty() {
                    // Tags are custom metadata: read only when a filter needs them (a KV v1
                    // path has none).
                    if m.v1 {
                        continue;
                    }
                    match Self::metadata(&self.client, &m.path, &kv).await? {
                        Some(meta) => convert::metadata(&mut s, &meta, Utc::now()),
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
        let fail = ItemFailure::naming(secret.full_name());
        let gone = || ItemFailure {
            item: secret.full_name(),
            reason: "deleted since it was listed".into(),
        };
        let (m, kv) = self
            .mounts
            .locate(&self.client, &convert::join(&secret.path, &secret.name))
            .await
            .map_err(&fail)?;
        if m.v1 {
            // One value, no history: read on every run.
            let bytes = self
                .read_v1(&m, &kv)
                .await
                .map_err(&fail)?
                .ok_or_else(gone)?;
            secret.versions = vec![convert::v1_version(bytes)];
            return Ok(secret);
        }
        let meta = Self::metadata(&self.client, &m.path, &kv)
            .await
            .map_err(&fail)?
            .ok_or_else(gone)?;
        convert::metadata(&mut secret, &meta, Utc::now());
        let mut versions = std::mem::take(&mut secret.versions);
        for v in &mut versions {
            // A version's value never changes under its number (within one life of the path,
            // which the secret id names).
            if known.reuse(&secret.item_key(v), v) {
                continue;
            }
            let read = match v.status {
                VersionStatus::Enabled => self.read(&m, &kv, &v.id).await,
                VersionStatus::Disabled if filter.read_disabled => {
                    self.read_deleted(&m, &kv, &v.id).await
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

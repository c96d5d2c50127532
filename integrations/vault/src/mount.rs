//! Which KV mounts a location means, and what each one is. `vault://MOUNT` is one mount;
//! `vault://` alone is every KV mount the token can see. Both are asked of
//! `sys/internal/ui/mounts`, which any token may call and which shows only the mounts its
//! policies reach (`sys/mounts` would need a privileged token). A KV v2 mount keeps every
//! version of a path; a KV v1 mount (and the legacy `generic` type) holds one value per path.
//!
//! Where every mount is meant, a secret's folder starts with its mount (`secret/app/db` is folder
//! `/secret/app`, name `db`), so one snapshot can hold several mounts and a restore into `vault://`
//! puts each path back into the mount of the same name.

use reqwest::{Method, StatusCode};
use secretsnap_core::Error;
use serde_json::Value;

use crate::client::{rejected, VaultClient};

/// One KV mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Its path without slashes at either end (`secret`, `team/kv`).
    pub path: String,
    /// KV version 1 (one value per path, no metadata, no history).
    pub v1: bool,
}

/// Whether a mount's description (`type`, `options.version`) is a KV mount, and which version.
fn kv_version(m: &Value) -> Option<bool> {
    match m["type"].as_str()? {
        "kv" => Some(m["options"]["version"].as_str() != Some("2")),
        "generic" => Some(true),
        _ => None,
    }
}

/// The mount named `name` (`MOUNT` of `vault://MOUNT`).
pub async fn one(client: &VaultClient, name: &str) -> Result<Mount, Error> {
    let name = name.trim_matches('/');
    let path = format!("sys/internal/ui/mounts/{}", crate::convert::esc(name));
    let missing = || {
        Error::NotFound(format!(
            "no mount {name:?} that this token can see at {}",
            client.addr()
        ))
    };
    // A mount that does not exist and one the token may not touch both answer 403.
    let r = match client.call(Method::GET, &path, None).await {
        Err(Error::Permission(_)) => return Err(missing()),
        r => r?,
    };
    if r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST {
        return Err(missing());
    }
    if !r.status.is_success() {
        return Err(rejected(&Method::GET, &path, &r));
    }
    let data = &r.json()["data"];
    let v1 = kv_version(data).ok_or_else(|| {
        Error::Config(format!(
            "mount {name:?} is not a KV mount (type {})",
            data["type"].as_str().unwrap_or("unknown")
        ))
    })?;
    let at = data["path"].as_str().unwrap_or(name).trim_matches('/');
    if at != name {
        return Err(Error::Config(format!(
            "{name:?} is inside mount {at:?}: name the mount (vault://{at}) and select the \
             folder with ?path="
        )));
    }
    Ok(Mount {
        path: name.to_string(),
        v1,
    })
}

/// Every KV mount the token can see, sorted by path.
pub async fn all(client: &VaultClient) -> Result<Vec<Mount>, Error> {
    let body = client
        .ok_json(Method::GET, "sys/internal/ui/mounts", None)
        .await?;
    let mut out: Vec<Mount> = body["data"]["secret"]
        .as_object()
        .map(|ms| {
            ms.iter()
                .filter_map(|(path, m)| {
                    Some(Mount {
                        path: path.trim_matches('/').to_string(),
                        v1: kv_version(m)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The mounts a location means (the one it names, or every KV mount the token can see), looked
/// up once (one call) and shared by a connector's calls.
pub struct Mounts {
    /// `None`: every KV mount.
    named: Option<String>,
    found: tokio::sync::OnceCell<Vec<Mount>>,
}

impl Mounts {
    /// `name` empty: every KV mount.
    pub fn new(name: &str) -> Mounts {
        Mounts {
            named: Some(name.trim_matches('/').to_string()).filter(|m| !m.is_empty()),
            found: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether the location names one mount (paths are then inside it, without its name).
    pub fn named(&self) -> bool {
        self.named.is_some()
    }

    pub async fn get(&self, client: &VaultClient) -> Result<&[Mount], Error> {
        self.found
            .get_or_try_init(|| async {
                match &self.named {
                    Some(name) => Ok(vec![one(client, name).await?]),
                    None => all(client).await,
                }
            })
            .await
            .map(Vec::as_slice)
    }

    /// The mount holding `full` (a KV path, prefixed with its mount's name where the location
    /// names none) and the path inside it.
    pub async fn locate(&self, client: &VaultClient, full: &str) -> Result<(Mount, String), Error> {
        let mounts = self.get(client).await?;
        let full = full.trim_start_matches('/');
        if self.named() {
            let m = mounts
                .first()
                .ok_or_else(|| Error::NotFound("no mount".into()))?;
            return Ok((m.clone(), full.to_string()));
        }
        holding(mounts, full)
            .map(|(m, rest)| (m.clone(), rest))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no KV mount here holds {full} (its folder starts with its mount's name): \
                     enable the mount first (bao secrets enable -path=NAME kv-v2)"
                ))
            })
    }
}

/// The mount among `mounts` that holds `full` (a path that starts with its mount), and the path
/// inside it. The longest mount path wins (`team/kv` over `team`).
pub fn holding<'a>(mounts: &'a [Mount], full: &str) -> Option<(&'a Mount, String)> {
    let full = full.trim_start_matches('/');
    mounts
        .iter()
        .filter_map(|m| {
            let rest = full.strip_prefix(m.path.as_str())?.strip_prefix('/')?;
            (!rest.is_empty()).then(|| (m, rest.to_string()))
        })
        .max_by_key(|(m, _)| m.path.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kv_versions_are_told_apart() {
        assert_eq!(
            kv_version(&json!({"type": "kv", "options": {"version": "2"}})),
            Some(false)
        );
        assert_eq!(
            kv_version(&json!({"type": "kv", "options": {"version": "1"}})),
            Some(true)
        );
        assert_eq!(
            kv_version(&json!({"type": "kv", "options": null})),
            Some(true)
        );
        assert_eq!(kv_version(&json!({"type": "generic"})), Some(true));
        assert_eq!(kv_version(&json!({"type": "cubbyhole"})), None);
    }

    #[test]
    fn the_longest_mount_holds_a_path() {
        let m = |p: &str| Mount {
            path: p.into(),
            v1: false,
        };
        let mounts = [m("team"), m("team/kv"), m("secret")];
        let (at, rest) = holding(&mounts, "/team/kv/app/db").unwrap();
        assert_eq!((at.path.as_str(), rest.as_str()), ("team/kv", "app/db"));
        let (at, rest) = holding(&mounts, "team/other").unwrap();
        assert_eq!((at.path.as_str(), rest.as_str()), ("team", "other"));
        assert!(holding(&mounts, "secretive/x").is_none());
        assert!(holding(&mounts, "secret").is_none());
    }
}

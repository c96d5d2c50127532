//! Vault / OpenBao as a `Provider` (`vault://`, alias `openbao://`), configured the way the official CLI is: the address from the
//! location's API URL, else `VAULT_ADDR` or `BAO_ADDR`; the token from explicit keys, else
//! `VAULT_TOKEN` or `BAO_TOKEN`, else `~/.vault-token`; the namespace from the location
//! (`vault://MOUNT/NAMESPACE`), else `VAULT_NAMESPACE` or `BAO_NAMESPACE`. Connectors opened with
//! the same server, token and namespace share one client (one concurrency bound, one rate cap).

use std::sync::Mutex;

use secretsnap_core::{
    Access, Capabilities, Destination, Error, Location, LocationPart, Provider, Source,
};
use zeroize::Zeroizing;

use crate::client::{ClientOptions, ServerAccess, Tls, VaultClient};
use crate::login::Login;
use crate::{VaultDestination, VaultSource};

/// The provider's name in location URLs.
pub const NAME: &str = "vault";

/// The location of `mount` through `client` (its namespace as the scope).
pub fn location(client: &VaultClient, mount: &str) -> Location {
    Location {
        provider: NAME.into(),
        region: mount.trim_matches('/').to_string(),
        scope: client.namespace().unwrap_or_default().to_string(),
    }
}

fn var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

/// Address, token and namespace for `at`, resolved as the CLI resolves them.
pub fn server_access(at: &Access<'_>) -> Result<ServerAccess, Error> {
    let addr = at
        .api_url
        .map(String::from)
        .or_else(|| var(&["VAULT_ADDR", "BAO_ADDR"]))
        .ok_or_else(|| {
            Error::Config("no Vault address: set VAULT_ADDR (or BAO_ADDR) or --api-url".into())
        })?;
    let given = Login::from_keys(at.keys.access_key.as_deref(), at.keys.secret_key.clone())?;
    let login = match given {
        Some(l) => l,
        None => match var(&["VAULT_TOKEN", "BAO_TOKEN"]) {
            Some(t) => Login::Token(Zeroizing::new(t)),
            None => {
                let home = std::env::var_os("HOME").unwrap_or_default();
                let file = std::path::Path::new(&home).join(".vault-token");
                let t = std::fs::read_to_string(&file).map_err(|_| {
                    Error::Auth(
                        "no Vault token: set VAULT_TOKEN (or BAO_TOKEN), or log in so that \
                         ~/.vault-token exists"
                            .into(),
                    )
                })?;
                Login::Token(Zeroizing::new(t.trim().to_string()))
            }
        },
    };
    let ca_pem = match var(&["VAULT_CACERT", "BAO_CACERT"]) {
        Some(path) => Some(std::fs::read(&path).map_err(|e| {
            Error::Config(format!("VAULT_CACERT: cannot read {path}: {}", e.kind()))
        })?),
        None => None,
    };
    let skip_verify = var(&["VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"])
        .is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no"));
    let namespace = Some(at.scope.trim_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| var(&["VAULT_NAMESPACE", "BAO_NAMESPACE"]));
    Ok(ServerAccess {
        addr: addr.trim_end_matches('/').to_string(),
        login,
        namespace,
        tls: Tls {
            ca_pem,
            skip_verify,
        },
    })
}

/// Opens Vault connectors; one client per (server, token, namespace).
#[derive(Default)]
pub struct VaultProvider {
    clients: Mutex<Vec<VaultClient>>,
}

impl VaultProvider {
    fn open(&self, at: &Access<'_>) -> Result<VaultClient, Error> {
        if at.profile.is_some() {
            return Err(Error::Config(
                "vault locations take no profile: set the token (VAULT_TOKEN) instead".into(),
            ));
        }
        let access = server_access(at)?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.iter().find(|c| c.same_access(&access)) {
            return Ok(c.clone());
        }
        let client = VaultClient::new(
            access,
            ClientOptions {
                max_rate: at.max_rate,
                ..Default::default()
            },
        )?;
        clients.push(client.clone());
        Ok(client)
    }
}

#[async_trait::async_trait]
impl Provider for VaultProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        crate::destination::CAPABILITIES
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["openbao"]
    }

    /// `?namespace=NS` (as `vault://MOUNT/NS`) and `?addr=URL` (as `VAULT_ADDR`, for this
    /// location only), the official CLI's words.
    fn location_params(&self) -> &'static [(&'static str, LocationPart)] {
        &[
            ("namespace", LocationPart::Scope),
            ("addr", LocationPart::ApiUrl),
        ]
    }

    async fn source(&self, at: Access<'_>) -> Result<Box<dyn Source>, Error> {
        Ok(Box::new(VaultSource::new(self.open(&at)?, at.region)))
    }

    async fn destination(&self, at: Access<'_>) -> Result<Box<dyn Destination>, Error> {
        Ok(Box::new(VaultDestination::new(self.open(&at)?, at.region)))
    }
}

//! How a client gets its token: given as is, or by logging in with AppRole (role id + secret id)
//! or Kubernetes (role + the pod's service-account token), the two methods agents use where no
//! human holds a token. The method is said by the credentials' `access_key`, whose value for
//! Vault names a login, never a secret: `approle:ROLE_ID` or `kubernetes:ROLE`, optionally with
//! the auth mount (`approle@ci:ROLE_ID`, `kubernetes@k8s-prod:ROLE`); the `secret_key` is then
//! the secret id or the service-account token (for Kubernetes, by default the file a pod has at
//! `/var/run/secrets/kubernetes.io/serviceaccount/token`). Without an `access_key`, the
//! `secret_key` is a token.
//!
//! A token obtained by a login is renewed by logging in again when 90 % of its lease has passed.
//! The login's answer is read for the token and its lease only; the server's messages are never
//! forwarded.

use std::time::{Duration, Instant};

use secretsnap_core::Error;
use zeroize::Zeroizing;

/// Where a pod's service-account token is.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A way to a token.
#[derive(Clone)]
pub enum Login {
    /// A token, used as it is.
    Token(Zeroizing<String>),
    /// `POST auth/{mount}/login` with `role_id` and `secret_id`.
    AppRole {
        mount: String,
        role_id: String,
        secret_id: Zeroizing<String>,
    },
    /// `POST auth/{mount}/login` with `role` and `jwt` (the service-account token).
    Kubernetes {
        mount: String,
        role: String,
        jwt: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Login::Token(_) => f.write_str("Token(<redacted>)"),
            Login::AppRole { mount, .. } => write!(f, "AppRole(auth/{mount}, <redacted>)"),
            Login::Kubernetes { mount, role, .. } => write!(f, "Kubernetes(auth/{mount}, {role})"),
        }
    }
}

impl PartialEq for Login {
    fn eq(&self, other: &Login) -> bool {
        match (self, other) {
            (Login::Token(a), Login::Token(b)) => **a == **b,
            (
                Login::AppRole {
                    mount: m1,
                    role_id: r1,
                    secret_id: s1,
                },
                Login::AppRole {
                    mount: m2,
                    role_id: r2,
                    secret_id: s2,
                },
            ) => m1 == m2 && r1 == r2 && **s1 == **s2,
            (
                Login::Kubernetes {
                    mount: m1,
                    role: r1,
                    jwt: j1,
                },
                Login::Kubernetes {
                    mount: m2,
                    role: r2,
                    jwt: j2,
                },
            ) => m1 == m2 && r1 == r2 && **j1 == **j2,
            _ => false,
        }
    }
}

impl Login {
    /// The login that `access_key` names (`approle:…`, `kubernetes:…`), with `secret` (the
    /// secret id or service-account token); `secret` alone is a token (`None`: not given).
    pub fn from_keys(
        access_key: Option<&str>,
        secret: Option<Zeroizing<String>>,
    ) -> Result<Option<Login>, Error> {
        let Some(spec) = access_key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Ok(secret.map(Login::Token));
        };
        let bad = || {
            Error::Config(
                "a Vault access_key names a login: approle:ROLE_ID or kubernetes:ROLE (with an \
                 auth mount: approle@MOUNT:ROLE_ID)"
                    .into(),
            )
        };
        let (method, id) = spec.split_once(':').ok_or_else(bad)?;
        let (method, mount) = match method.split_once('@') {
            Some((m, at)) if !at.trim_matches('/').is_empty() => (m, at.trim_matches('/')),
            Some(_) => return Err(bad()),
            None => (method, method),
        };
        if id.is_empty() {
            return Err(bad());
        }
        match method {
            "approle" => Ok(Some(Login::AppRole {
                mount: mount.into(),
                role_id: id.into(),
                secret_id: secret.ok_or_else(|| {
                    Error::Config("an AppRole login needs its secret id as secret_key".into())
                })?,
            })),
            "kubernetes" => {
                let jwt = match secret {
                    Some(j) => j,
                    None => Zeroizing::new(
                        std::fs::read_to_string(SERVICE_ACCOUNT_TOKEN)
                            .map_err(|_| {
                                Error::Config(format!(
                                    "a Kubernetes login needs the service-account token: none \
                                     given as secret_key and none at {SERVICE_ACCOUNT_TOKEN}"
                                ))
                            })?
                            .trim()
                            .to_string(),
                    ),
                };
                Ok(Some(Login::Kubernetes {
                    mount: mount.into(),
                    role: id.into(),
                    jwt,
                }))
            }
            _ => Err(bad()),
        }
    }

    /// The request that logs in (`None`: a token needs none): its path and JSON body.
    pub fn request(&self) -> Option<(String, Zeroizing<Vec<u8>>)> {
        let (mount, body) = match self {
            Login::Token(_) => return None,
            Login::AppRole {
                mount,
                role_id,
                secret_id,
            } => (
                mount,
                serde_json::json!({ "role_id": role_id, "secret_id": secret_id.as_str() }),
            ),
            Login::Kubernetes { mount, role, jwt } => (
                mount,
                serde_json::json!({ "role": role, "jwt": jwt.as_str() }),
            ),
        };
        let bytes = Zeroizing::new(serde_json::to_vec(&body).expect("JSON serializes"));
        // The body held the secret: its `Value` is dropped here, the bytes are zeroized.
        Some((format!("auth/{mount}/login"), bytes))
    }

    /// What to call this login in messages (never its secret).
    pub fn describe(&self) -> String {
        match self {
            Login::Token(_) => "the token".into(),
            Login::AppRole { mount, .. } => format!("the AppRole login at auth/{mount}"),
            Login::Kubernetes { mount, role, .. } => {
                format!("the Kubernetes login at auth/{mount} (role {role})")
            }
        }
    }
}

/// A token a login returned, and when to log in again.
pub struct Session {
    pub token: Zeroizing<String>,
    /// `None`: no lease (the token does not expire).
    pub renew_at: Option<Instant>,
}

impl Session {
    /// From a login's answer (`auth.client_token`, `auth.lease_duration` in seconds).
    pub fn from_answer(body: &[u8], now: Instant) -> Option<Session> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let token = v["auth"]["client_token"].as_str()?;
        if token.is_empty() {
            return None;
        }
        let lease = v["auth"]["lease_duration"].as_u64().unwrap_or(0);
        Some(Session {
            token: Zeroizing::new(token.to_string()),
            renew_at: (lease > 0).then(|| now + Duration::from_secs(lease * 9 / 10)),
        })
    }

    pub fn fresh(&self, now: Instant) -> bool {
        self.renew_at.is_none_or(|t| now < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Option<Zeroizing<String>> {
        Some(Zeroizing::new(s.into()))
    }

    #[test]
    fn access_keys_name_logins() {
        assert_eq!(
            Login::from_keys(None, secret("t")).unwrap(),
            Some(Login::Token(Zeroizing::new("t".into())))
        );
        assert_eq!(Login::from_keys(None, None).unwrap(), None);
        let Some(Login::AppRole { mount, role_id, .. }) =
            Login::from_keys(Some("approle:abc"), secret("s")).unwrap()
        else {
            panic!("approle expected")
        };
        assert_eq!((mount.as_str(), role_id.as_str()), ("approle", "abc"));
        let Some(Login::Kubernetes { mount, role, jwt }) =
            Login::from_keys(Some("kubernetes@k8s-prod:payments"), secret("eyJ")).unwrap()
        else {
            panic!("kubernetes expected")
        };
        assert_eq!(
            (mount.as_str(), role.as_str(), jwt.as_str()),
            ("k8s-prod", "payments", "eyJ")
        );
        for bad in ["approle", "approle:", "ldap:x", "approle@:x"] {
            assert!(Login::from_keys(Some(bad), secret("s")).is_err(), "{bad}");
        }
        assert!(Login::from_keys(Some("approle:abc"), None).is_err());
    }

    #[test]
    fn sessions_renew_before_their_lease_ends() {
        let now = Instant::now();
        let s = Session::from_answer(
            br#"{"auth":{"client_token":"hvs.x","lease_duration":100}}"#,
            now,
        )
        .unwrap();
        assert!(s.fresh(now + Duration::from_secs(89)));
        assert!(!s.fresh(now + Duration::from_secs(91)));
        let forever =
            Session::from_answer(br#"{"auth":{"client_token":"r","lease_duration":0}}"#, now)
                .unwrap();
        assert!(forever.fresh(now + Duration::from_secs(1 << 30)));
        assert!(Session::from_answer(br#"{"errors":["x"]}"#, now).is_none());
    }
}

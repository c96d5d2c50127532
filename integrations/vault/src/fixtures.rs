//! What tests of every crate need to reach the OpenBao server `tests/run.sh` starts: its address
//! (`SECRETSNAP_TEST_VAULT`; skipped with a message when unset, a failure when
//! `SECRETSNAP_REQUIRE_SERVERS` is set), a client with its root token, and the few admin calls
//! tests make to set the server up (mounts, writes).

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{ClientOptions, ServerAccess};
use crate::login::Login;
use crate::VaultClient;

/// The test server's address, or `None` (after saying why) when the test must skip.
pub fn server() -> Option<String> {
    address("SECRETSNAP_TEST_VAULT")
}

/// A second test server (`SECRETSNAP_TEST_VAULT_2`, same token), or `None` as `server` says.
pub fn second_server() -> Option<String> {
    address("SECRETSNAP_TEST_VAULT_2")
}

/// The address in `var`; unset: skip with a message, or fail when servers are required.
fn address(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) if std::env::var_os("SECRETSNAP_REQUIRE_SERVERS").is_some() => {
            panic!("{var} is not set: run the tests through tests/run.sh")
        }
        Err(_) => {
            eprintln!("skipped: {var} is not set (tests/run.sh starts OpenBao)");
            None
        }
    }
}

/// The test server's root token.
pub fn token() -> String {
    std::env::var("SECRETSNAP_TEST_VAULT_TOKEN").unwrap_or_else(|_| "root".into())
}

/// A client of `addr` as `token`, in `namespace`.
pub fn client(addr: &str, token: &str, namespace: Option<&str>) -> VaultClient {
    client_with(addr, token, namespace, ClientOptions::default())
}

/// A client of `addr` as `token`, in `namespace`, with `opts`.
pub fn client_with(
    addr: &str,
    token: &str,
    namespace: Option<&str>,
    opts: ClientOptions,
) -> VaultClient {
    VaultClient::new(
        ServerAccess {
            addr: addr.into(),
            login: Login::Token(token.to_string().into()),
            namespace: namespace.map(String::from),
            tls: Default::default(),
        },
        opts,
    )
    .expect("a client of the test server")
}

/// A name no other test or run uses.
pub fn unique(what: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{what}-{nanos:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// `method path` with a JSON body (`Null`: none), which must succeed.
pub async fn admin(c: &VaultClient, method: Method, path: &str, body: Value) -> Value {
    let bytes = body.to_string();
    let body = (!body.is_null()).then_some(bytes.as_bytes());
    c.ok_json(method, path, body)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A new KV mount of `version` ("1" or "2").
pub async fn kv_mount(c: &VaultClient, version: &str) -> String {
    let name = unique("kv");
    admin(
        c,
        Method::POST,
        &format!("sys/mounts/{name}"),
        json!({"type": "kv", "options": {"version": version}}),
    )
    .await;
    name
}

/// A new KV v2 mount.
pub async fn mount(c: &VaultClient) -> String {
    kv_mount(c, "2").await
}

/// Writes the next version of a KV v2 path; returns its number.
pub async fn write(c: &VaultClient, mount: &str, path: &str, data: Value) -> u64 {
    let r = admin(
        c,
        Method::POST,
        &format!("{mount}/data/{}", crate::convert::esc(path)),
        json!({ "data": data }),
    )
    .await;
    r["data"]["version"].as_u64().unwrap_or(0)
}

/// A new ACL policy of `rules` (HCL); returns its name.
pub async fn policy(c: &VaultClient, rules: &str) -> String {
    let name = unique("policy");
    admin(
        c,
        Method::PUT,
        &format!("sys/policies/acl/{name}"),
        json!({ "policy": rules }),
    )
    .await;
    name
}

/// A source of `mount` at `addr` opened by the provider with `keys`, as the command opens one
/// (the environment's VAULT_* settings apply).
pub async fn provider_source(
    addr: &str,
    mount: &str,
    keys: &secretsnap_core::Keys,
) -> Result<Box<dyn secretsnap_core::Source>, secretsnap_core::Error> {
    use secretsnap_core::Provider;
    crate::VaultProvider::default()
        .source(secretsnap_core::Access {
            region: mount,
            scope: "",
            keys,
            api_url: Some(addr),
            max_rate: None,
            profile: None,
        })
        .await
}

//! Logins, against the real OpenBao server `tests/run.sh` starts: an AppRole login named by the
//! credentials (`access_key = "approle@MOUNT:ROLE_ID"`, the secret id as `secret_key`) reads a
//! mount; its token is renewed by logging in again before its lease ends; a refused login fails
//! naming the login, never its secret; a Kubernetes login named the same way
//! (`kubernetes@MOUNT:ROLE`, the service-account token as `secret_key`) reads a mount, the
//! server checking the token with a stand-in for the Kubernetes TokenReview API.

use reqwest::Method;
use secretsnap_core::{Filter, Keys, Source};
use secretsnap_vault::client::{ClientOptions, ServerAccess};
use secretsnap_vault::fixtures::{
    admin, client, mount, policy, provider_source, server, token, unique, write,
};
use secretsnap_vault::login::Login;
use secretsnap_vault::{VaultClient, VaultSource};
use serde_json::json;
use zeroize::Zeroizing;

/// An AppRole auth mount with one role that may read `kv`, its token living `ttl`; returns the
/// auth mount, the role id and a secret id.
async fn approle(root: &VaultClient, kv: &str, ttl: &str) -> (String, String, String) {
    let auth = unique("approle");
    admin(
        root,
        Method::POST,
        &format!("sys/auth/{auth}"),
        json!({"type": "approle"}),
    )
    .await;
    let policy = reader(root, kv).await;
    admin(
        root,
        Method::POST,
        &format!("auth/{auth}/role/agent"),
        json!({"token_policies": [policy], "token_ttl": ttl, "token_max_ttl": "1h"}),
    )
    .await;
    let id = admin(
        root,
        Method::GET,
        &format!("auth/{auth}/role/agent/role-id"),
        serde_json::Value::Null,
    )
    .await;
    let secret = admin(
        root,
        Method::POST,
        &format!("auth/{auth}/role/agent/secret-id"),
        json!({}),
    )
    .await;
    (
        auth,
        id["data"]["role_id"].as_str().unwrap().to_string(),
        secret["data"]["secret_id"].as_str().unwrap().to_string(),
    )
}

/// A policy that may read and list `kv`.
async fn reader(root: &VaultClient, kv: &str) -> String {
    policy(
        root,
        &format!("path \"{kv}/*\" {{ capabilities = [\"read\", \"list\"] }}\n"),
    )
    .await
}

fn login_client(addr: &str, login: Login) -> VaultClient {
    VaultClient::new(
        ServerAccess {
            addr: addr.into(),
            login,
            namespace: None,
            tls: Default::default(),
        },
        ClientOptions::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn an_approle_named_by_the_credentials_reads_a_mount() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let kv = mount(&root).await;
    write(&root, &kv, "app/db", json!({"v": 1})).await;
    let (auth, role_id, secret_id) = approle(&root, &kv, "1h").await;
    let keys = Keys {
        access_key: Some(format!("approle@{auth}:{role_id}")),
        secret_key: Some(Zeroizing::new(secret_id)),
        session_token: None,
    };
    let source = provider_source(&addr, &kv, &keys).await.unwrap();
    let listed = source.list(&Filter::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    // The login, the mount lookup, one LIST per folder (the root, app/).
    assert_eq!(source.calls(), 1 + 1 + 2);
}

#[tokio::test]
async fn a_login_token_is_renewed_before_its_lease_ends() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let kv = mount(&root).await;
    write(&root, &kv, "x", json!({"v": 1})).await;
    let (auth, role_id, secret_id) = approle(&root, &kv, "3s").await;
    let c = login_client(
        &addr,
        Login::AppRole {
            mount: auth,
            role_id,
            secret_id: Zeroizing::new(secret_id),
        },
    );
    let first = VaultSource::new(c.clone(), &kv);
    assert_eq!(first.list(&Filter::default()).await.unwrap().len(), 1);
    assert_eq!(c.calls(), 3, "login, mount lookup, LIST");
    // Past the token's lease: without a new login the next call would be refused.
    tokio::time::sleep(std::time::Duration::from_millis(3300)).await;
    let second = VaultSource::new(c.clone(), &kv);
    assert_eq!(second.list(&Filter::default()).await.unwrap().len(), 1);
    assert_eq!(c.calls(), 6, "a second login, then the same two calls");
}

#[tokio::test]
async fn a_refused_login_names_the_login_and_not_its_secret() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let kv = mount(&root).await;
    let (auth, role_id, _) = approle(&root, &kv, "1h").await;
    let c = login_client(
        &addr,
        Login::AppRole {
            mount: auth.clone(),
            role_id,
            secret_id: Zeroizing::new("not-the-secret-id-0123".into()),
        },
    );
    let err = VaultSource::new(c, &kv)
        .list(&Filter::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("AppRole login at auth/{auth}")),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains("not-the-secret-id"), "{err}");
}

/// A stand-in for the Kubernetes API's TokenReview: every review says the token is service
/// account `team/agent`. Returns its address and the tokens it was asked to review.
async fn token_review() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 16384];
            // Head and body: until the body's announced length has arrived.
            while let Ok(n) = conn.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        let review: serde_json::Value =
                            serde_json::from_str(body).unwrap_or_default();
                        let token = review["spec"]["token"].as_str().unwrap_or_default();
                        log.lock().unwrap().push(token.to_string());
                        break;
                    }
                }
            }
            let out = json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                "status": {"authenticated": true, "user": {
                    "username": "system:serviceaccount:team:agent", "uid": "u-1",
                    "groups": ["system:serviceaccounts"]}}})
            .to_string();
            let answer = format!(
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{out}",
                out.len()
            );
            let _ = conn.write_all(answer.as_bytes()).await;
        }
    });
    (addr, seen)
}

/// A service-account token as a pod holds one (unsigned here: the review is what vouches).
fn service_account_jwt() -> String {
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "team",
            "kubernetes.io/serviceaccount/service-account.name": "agent",
            "kubernetes.io/serviceaccount/service-account.uid": "u-1",
            "sub": "system:serviceaccount:team:agent"
        }))
    )
}

#[tokio::test]
async fn a_kubernetes_login_named_by_the_credentials_reads_a_mount() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let kv = mount(&root).await;
    write(&root, &kv, "app/db", json!({"v": 1})).await;
    let (api, reviewed) = token_review().await;
    let auth = unique("k8s");
    admin(
        &root,
        Method::POST,
        &format!("sys/auth/{auth}"),
        json!({"type": "kubernetes"}),
    )
    .await;
    // The CA is never used (the stand-in speaks plain HTTP) but the method requires one.
    let ca = include_str!("data/fake-kubernetes-ca.pem");
    admin(
        &root,
        Method::POST,
        &format!("auth/{auth}/config"),
        json!({"kubernetes_host": api, "disable_local_ca_jwt": true, "kubernetes_ca_cert": ca}),
    )
    .await;
    let policy = reader(&root, &kv).await;
    admin(
        &root,
        Method::POST,
        &format!("auth/{auth}/role/agent"),
        json!({"bound_service_account_names": ["agent"],
               "bound_service_account_namespaces": ["team"], "token_policies": [policy]}),
    )
    .await;
    let jwt = service_account_jwt();
    let keys = Keys {
        access_key: Some(format!("kubernetes@{auth}:agent")),
        secret_key: Some(Zeroizing::new(jwt.clone())),
        session_token: None,
    };
    let source = provider_source(&addr, &kv, &keys).await.unwrap();
    let (secrets, failures) =
        secretsnap_core::conformance::read_all(&*source, &Filter::default()).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(secrets.len(), 1);
    assert!(secrets[0].versions[0].payload.has_value());
    assert_eq!(
        *reviewed.lock().unwrap(),
        [jwt],
        "the pod's token was reviewed"
    );
}

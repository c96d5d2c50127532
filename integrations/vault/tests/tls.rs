//! TLS as the official CLI configures it, against a real OpenBao server of its own
//! (`bao server -dev -dev-tls`, which makes a CA and a certificate for 127.0.0.1; the binary from
//! SECRETSNAP_TEST_BAO_BIN, which `tests/run.sh` sets): untrusted, a read fails at once, not
//! retried, saying to set VAULT_CACERT; with VAULT_CACERT naming the CA it is read; with
//! VAULT_SKIP_VERIFY too. One test in its own binary, because it sets the process environment.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use secretsnap_core::polite::RetryPolicy;
use secretsnap_core::{Filter, Keys, Source};
use secretsnap_vault::client::{ClientOptions, ServerAccess, Tls};
use secretsnap_vault::fixtures::provider_source;
use secretsnap_vault::login::Login;
use secretsnap_vault::{VaultClient, VaultSource};
use zeroize::Zeroizing;

/// The server, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    ca: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port whose next one is free too (the server's cluster port).
fn free_pair() -> u16 {
    loop {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn start(bin: &str, dir: &Path) -> Server {
    let port = free_pair();
    let child = Command::new(bin)
        .args([
            "server",
            "-dev",
            "-dev-tls",
            "-dev-root-token-id=root",
            &format!("-dev-tls-cert-dir={}", dir.display()),
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting bao");
    Server {
        child,
        addr: format!("https://127.0.0.1:{port}"),
        ca: dir.join("vault-ca.pem"),
    }
}

fn access(addr: &str, tls: Tls) -> ServerAccess {
    ServerAccess {
        addr: addr.into(),
        login: Login::Token(Zeroizing::new("root".into())),
        namespace: None,
        tls,
    }
}

/// What a source opened as the command opens one (the environment's VAULT_* apply) lists.
async fn listed(addr: &str, keys: &Keys) -> Result<usize, secretsnap_core::Error> {
    let source = provider_source(addr, "secret", keys).await?;
    Ok(source.list(&Filter::default()).await?.len())
}

#[tokio::test]
async fn a_server_certificate_is_checked_as_the_cli_checks_it() {
    let Ok(bin) = std::env::var("SECRETSNAP_TEST_BAO_BIN") else {
        if std::env::var_os("SECRETSNAP_REQUIRE_SERVERS").is_some() {
            panic!("SECRETSNAP_TEST_BAO_BIN is not set: run the tests through tests/run.sh");
        }
        eprintln!("skipped: SECRETSNAP_TEST_BAO_BIN is not set (tests/run.sh sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(&bin, dir.path());
    // Up when its CA is written and it answers through it.
    let trusting = || {
        let pem = std::fs::read(&server.ca).ok()?;
        VaultClient::new(
            access(
                &server.addr,
                Tls {
                    ca_pem: Some(pem),
                    skip_verify: false,
                },
            ),
            ClientOptions::default(),
        )
        .ok()
    };
    let mut up = None;
    for _ in 0..100 {
        if let Some(c) = trusting() {
            if c.ok_json(reqwest::Method::GET, "sys/health", None)
                .await
                .is_ok()
            {
                up = Some(c);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let trusted = up.expect("the TLS server answers within 20 s");
    trusted
        .ok_json(
            reqwest::Method::POST,
            "secret/data/app/db",
            Some(br#"{"data":{"v":1}}"#),
        )
        .await
        .unwrap();

    // Untrusted: fails on the first attempt, saying what to set.
    let strict = VaultClient::new(
        access(&server.addr, Tls::default()),
        ClientOptions {
            retry: RetryPolicy {
                attempts: 8,
                base: Duration::from_secs(5),
                cap: Duration::from_secs(5),
            },
            ..Default::default()
        },
    )
    .unwrap();
    let began = std::time::Instant::now();
    let err = VaultSource::new(strict.clone(), "secret")
        .list(&Filter::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("VAULT_CACERT"), "{err}");
    assert!(began.elapsed() < Duration::from_secs(4), "not retried");
    assert_eq!(strict.calls(), 1);

    // As the CLI is configured: VAULT_CACERT, then VAULT_SKIP_VERIFY alone.
    let keys = Keys {
        secret_key: Some(Zeroizing::new("root".into())),
        ..Default::default()
    };
    std::env::set_var("VAULT_CACERT", &server.ca);
    assert_eq!(listed(&server.addr, &keys).await.unwrap(), 1);
    std::env::remove_var("VAULT_CACERT");
    std::env::set_var("VAULT_SKIP_VERIFY", "1");
    assert_eq!(listed(&server.addr, &keys).await.unwrap(), 1);
    std::env::remove_var("VAULT_SKIP_VERIFY");
    let err = listed(&server.addr, &keys).await.unwrap_err();
    assert!(err.to_string().contains("not trusted"), "{err}");
}

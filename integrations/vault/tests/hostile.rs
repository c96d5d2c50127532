//! A server that lies is not believed without bounds: a listing whose folders never end fails at
//! a depth no real tree has, and a body larger than any KV answer fails at once, naming the limit,
//! instead of being read into memory. The "server" is a few lines of TCP on 127.0.0.1 answering
//! every request the same way.

use secretsnap_core::{Filter, Source};
use secretsnap_vault::fixtures::client;
use secretsnap_vault::VaultSource;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `response` (head and body, written as is) to every request; returns its address.
async fn liar(response: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                loop {
                    let Ok(n) = conn.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        got.clear();
                        if conn.write_all(&response).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The error of listing a mount of a server that always answers `response`, and the calls made.
async fn listing_error(response: Vec<u8>) -> (String, u64) {
    let addr = liar(response).await;
    let source = VaultSource::new(client(&addr, "t", None), "secret");
    let err = source.list(&Filter::default()).await.unwrap_err();
    (err.to_string(), source.calls())
}

#[tokio::test]
async fn folders_that_never_end_fail_at_a_bounded_depth() {
    // The same answer describes the mount (KV v2) and lists one folder, forever.
    let (err, calls) = listing_error(answer(
        r#"{"data":{"keys":["a/"],"type":"kv","options":{"version":"2"},"path":"secret/"}}"#,
    ))
    .await;
    assert!(err.contains("deeper than 64"), "{err}");
    assert!(calls <= 67, "{calls} calls");
}

#[tokio::test]
async fn a_body_larger_than_any_answer_fails_naming_the_limit() {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{";
    let (err, calls) = listing_error(head.as_bytes().to_vec()).await;
    assert!(err.contains("larger than 16 MiB"), "{err}");
    assert_eq!(calls, 1, "not retried");
}

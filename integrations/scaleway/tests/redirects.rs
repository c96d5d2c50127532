//! The client never follows a redirect: a server on 127.0.0.1 that answers 307/308/302 pointing
//! at another listener must not make the client send that listener the token or a value. The
//! call fails with an error that says why and names no value.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use secretsnap_scaleway::{Client, ClientOptions, Credentials};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const VALUE: &[u8] = b"redirect-must-not-carry-this-value";

/// A listener that counts connections and records everything it is sent.
async fn trap() -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 65536];
            if let Ok(n) = sock.read(&mut buf).await {
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .await;
        }
    });
    (url, hits, seen)
}

/// A server answering every request with `status` and `Location: <to>/same/path`.
async fn redirector(status: u16, to: String) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let resp = format!(
                    "HTTP/1.1 {status} Moved\r\nLocation: {to}{path}\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn redirects_are_refused_and_nothing_reaches_the_target() {
    let (trap_url, hits, seen) = trap().await;
    for status in [301u16, 302, 307, 308] {
        let api = redirector(status, trap_url.clone()).await;
        let client = Client::new(
            Credentials::new("sensitive-token", None, Some("fr-par"), Some(&api)),
            "fr-par",
            ClientOptions::default(),
        )
        .unwrap();
        let read = client.list_secrets("p", false, &[]).await;
        let write = client.create_version("s", VALUE, "d").await;
        for (what, r) in [("read", read.map(|_| ())), ("write", write.map(|_| ()))] {
            let err = r.expect_err(what).to_string();
            assert!(err.contains("redirect"), "{status} {what}: {err}");
            assert!(!err.contains("redirect-must-not"), "{err}");
            assert!(!err.contains("sensitive-token"), "{err}");
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect target was contacted"
    );
    assert!(seen.lock().unwrap().is_empty());
}

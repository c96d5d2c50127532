//! A broken or hostile API must neither hang nor crash the client, nor grow its memory without
//! bound: small fake servers on 127.0.0.1 answer with absurd rate-limit windows, a 1.2 GB body
//! (stated, and unstated), and a listing whose `total_count` never ends. Each gets a clear error
//! naming the limit (or, for headers, is not believed) within bounded time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use secretsnap_scaleway::{Client, ClientOptions, Credentials};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const P: &str = "dddddddd-0000-4000-8000-00000000000d";

/// What the fake server answers to request number `n` (from 0).
#[derive(Clone)]
enum Answer {
    /// Status 200, extra header lines, a JSON body.
    Json(Vec<String>, String),
    /// Status 200 stating `len` bytes (or none, body until close) and sending zeros.
    Endless(Option<u64>),
}

async fn read_head(sock: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut b).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    true
}

/// Serves `answer(n)` to each request on its own connection; returns the base URL and the count.
async fn fake(
    answer: impl Fn(usize) -> Answer + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let (answer, c) = (Arc::new(answer), count.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (answer, c) = (answer.clone(), c.clone());
            tokio::spawn(async move {
                while read_head(&mut sock).await {
                    match answer(c.fetch_add(1, Ordering::SeqCst)) {
                        Answer::Json(headers, body) => {
                            let mut head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\n",
                                body.len()
                            );
                            for h in headers {
                                head.push_str(&h);
                                head.push_str("\r\n");
                            }
                            head.push_str("\r\n");
                            head.push_str(&body);
                            if sock.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        Answer::Endless(len) => {
                            let head = match len {
                                Some(n) => {
                                    format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n")
                                }
                                None => "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".into(),
                            };
                            let _ = sock.write_all(head.as_bytes()).await;
                            let zeros = vec![b'0'; 1 << 20];
                            // At most 1.2 GB, stopping as soon as the client hangs up.
                            for _ in 0..1200 {
                                if sock.write_all(&zeros).await.is_err() {
                                    return;
                                }
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, count)
}

fn client(url: &str) -> Client {
    let creds = Credentials::new("t", None, Some("fr-par"), Some(url));
    Client::new(creds, "fr-par", ClientOptions::default()).unwrap()
}

/// Peak resident memory of this process (KiB), from the kernel.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"))
}

#[tokio::test]
async fn absurd_rate_limit_windows_neither_hang_nor_panic() {
    for window in [
        "1000000000000",
        "18446744073709551615",
        "99999999999999999999999",
    ] {
        let headers = vec![
            format!("x-ratelimit-limit: 50, 50;w={window}"),
            "x-ratelimit-remaining: 0".to_string(),
        ];
        let body = r#"{"secrets":[],"total_count":0}"#.to_string();
        let (url, count) = fake(move |_| Answer::Json(headers.clone(), body.clone())).await;
        let c = client(&url);
        for _ in 0..3 {
            let listed = bounded(window, c.list_secrets(P, false, &[])).await;
            assert!(listed.unwrap().is_empty());
        }
        assert_eq!(count.load(Ordering::SeqCst), 3, "w={window}");
    }
}

#[tokio::test]
async fn a_huge_body_is_refused_at_the_limit_without_reading_it() {
    let before = peak_rss_kib();
    for len in [Some(1_200_000_000), None] {
        let (url, _) = fake(move |_| Answer::Endless(len)).await;
        let err = bounded("huge body", client(&url).list_secrets(P, false, &[]))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("16 MiB limit"), "{len:?}: {err}");
    }
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(grown < 200 * 1024, "peak RSS grew by {grown} KiB");
}

#[tokio::test]
async fn a_listing_that_would_never_end_is_refused() {
    // A total nobody has, one new secret a page.
    let page = |total: u64| {
        move |n: usize| {
            let body = serde_json::json!({
                "secrets": [{"id": format!("00000000-0000-4000-8000-{n:012}"), "name": format!("s{n}"),
                             "path": "/", "tags": [], "type": "opaque"}],
                "total_count": total,
            });
            Answer::Json(vec![], body.to_string())
        }
    };
    let (url, count) = fake(page(1_000_000_000_000)).await;
    let err = bounded("total", client(&url).list_secrets(P, false, &[]))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("limit of 1000000"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // A believable total, but pages that hold one secret each would take 5000 calls.
    let (url, count) = fake(page(5000)).await;
    let err = bounded("short pages", client(&url).list_secrets(P, false, &[]))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("would not end"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

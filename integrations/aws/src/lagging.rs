//! A proxy in front of moto whose ListSecrets lags, for tests: AWS documents that ListSecrets is
//! eventually consistent (it may not show changes of the last few minutes, while DescribeSecret
//! is current), and moto is always current. Every request is forwarded; while the listing is
//! frozen, a ListSecrets request is answered with what the same request got when it was last
//! answered before the freeze, as a lagging index would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

/// The proxy's address and its switch.
#[derive(Clone)]
pub struct LaggingListing {
    /// The endpoint to give clients (`http://127.0.0.1:PORT`).
    pub url: String,
    frozen: Arc<AtomicBool>,
}

impl LaggingListing {
    /// Starts the proxy in front of `moto` (its endpoint URL) on 127.0.0.1.
    pub async fn start(moto: &str) -> LaggingListing {
        let frozen = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<HashMap<Bytes, Bytes>>> = Arc::default();
        let http = reqwest::Client::new();
        let (moto, f) = (moto.trim_end_matches('/').to_string(), frozen.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (f, seen, http, moto) = (f.clone(), seen.clone(), http.clone(), moto.clone());
            async move {
                let json = "application/x-amz-json-1.1".to_string();
                let listing = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| t.ends_with("ListSecrets"));
                if listing && f.load(Ordering::SeqCst) {
                    let old = seen.lock().unwrap().get(&body).cloned();
                    if let Some(old) = old {
                        return (StatusCode::OK, [("content-type", json)], old);
                    }
                }
                let mut req = http.post(format!("{moto}/")).body(body.clone());
                for (k, v) in headers.iter() {
                    if k != "host" && k != "content-length" {
                        req = req.header(k, v);
                    }
                }
                let Ok(resp) = req.send().await else {
                    return (
                        StatusCode::BAD_GATEWAY,
                        [("content-type", json)],
                        Bytes::new(),
                    );
                };
                let status =
                    StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                let ct = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map_or(json, String::from);
                let answer = resp.bytes().await.unwrap_or_default();
                if listing && status == StatusCode::OK {
                    seen.lock().unwrap().insert(body, answer.clone());
                }
                (status, [("content-type", ct)], answer)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port on 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        LaggingListing { url, frozen }
    }

    /// From now on ListSecrets answers what it answered before (the listing lags).
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// ListSecrets is current again.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }
}

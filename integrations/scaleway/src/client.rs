//! The Secret Manager REST client: every call goes through one shared pacer (evenly spaced at
//! just under the quota the API states in its `X-Ratelimit-*` headers, 50 per second per key, and
//! leaving what other processes of the key use; 40 req/s until the API has stated it; never above
//! `--max-rate`), a semaphore bounding concurrency, and retries with full-jitter backoff. Reads
//! retry on 429, 5xx, timeouts and broken connections; writes retry only where the
//! request provably had no effect (429, 503, connection refused), so a retry never duplicates a
//! version; an ambiguous write failure fails the item and `--on-conflict append` completes it.
//! Every request is counted. Error messages carry the API's type and message, never a value.
//!
//! Redirects are never followed: a 3xx would make an HTTP client re-send `X-Auth-Token` (and, on
//! 307/308, a body that may hold a secret value) to wherever `Location` points. Request and
//! response bodies live in buffers that are zeroized when dropped.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use secretsnap_core::pace::{Pacer, Quota};
use secretsnap_core::polite::{CallCounter, RetryPolicy};
use secretsnap_core::Error;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::credentials::Credentials;

/// Client tuning.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Requests per second until the API states its quota (and when it never does).
    pub rate: f64,
    /// Never more requests per second than this, whatever the API allows (`--max-rate`: for a
    /// key whose quota production traffic shares).
    pub max_rate: Option<f64>,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub page_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            rate: 40.0,
            max_rate: None,
            concurrency: 8,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            page_size: 100,
        }
    }
}

/// One region's Secret Manager.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    creds: Arc<Credentials>,
    /// `X-Auth-Token`, made once and marked sensitive (never shown by Debug, never indexed by
    /// HPACK); clones share its one buffer.
    auth: reqwest::header::HeaderValue,
    pacer: Arc<Pacer>,
    sem: Arc<tokio::sync::Semaphore>,
    retry: RetryPolicy,
    calls: Arc<CallCounter>,
    page_size: usize,
    pub region: String,
}

enum Failure {
    Retry(String),
    Final(Error),
}

fn api_error(status: StatusCode, body: &str) -> Error {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let kind = v["type"].as_str().unwrap_or("");
    let mut msg = format!(
        "HTTP {}: {}",
        status.as_u16(),
        v["message"].as_str().unwrap_or("no message")
    );
    for k in ["help_message", "precondition", "resource", "resource_id"] {
        if let Some(x) = v[k].as_str() {
            msg.push_str(&format!("; {k}: {x}"));
        }
    }
    if let Some(d) = v["details"].as_array() {
        for d in d {
            msg.push_str(&format!(
                "; {}",
                d.as_object()
                    .map(|o| o
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "))
                    .unwrap_or_default()
            ));
        }
    }
    match (status.as_u16(), kind) {
        (401, _) => Error::Auth(msg),
        (403, "quotas_exceeded") => Error::Quota(msg),
        (403, _) => Error::Permission(msg),
        (404, _) => Error::NotFound(msg),
        _ => Error::Rejected(msg),
    }
}

/// A broken transfer: a read is retried; a write may have been applied, so it fails the item.
fn transport_failure(write: bool, what: &str, e: reqwest::Error) -> Failure {
    if write {
        Failure::Final(Error::Transport(format!(
            "{what}: {} (the write may or may not have been applied)",
            e.without_url()
        )))
    } else {
        Failure::Retry(format!("{what}: {}", e.without_url()))
    }
}

/// The largest response body read (a page of 100 secrets, or one 64 KiB value in base64, is
/// far below): a broken or hostile server cannot grow our memory without bound.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// The most items a listing accepts (`total_count` above it is refused as unbelievable).
pub const MAX_LISTED: usize = 1_000_000;
/// A page that is not the last holds at least this many items (or `page_size`, if smaller):
/// a server handing out one new item per page while stating a huge total never ends.
pub const MIN_FULL_PAGE: usize = 10;

/// Why a body was not read.
enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads a response body into a buffer zeroized on drop (reserved from Content-Length, capped),
/// refusing one larger than `MAX_BODY` before or as soon as it is seen to be.
async fn read_body(mut resp: reqwest::Response) -> Result<Zeroizing<Vec<u8>>, BodyError> {
    const MAX_RESERVE: u64 = 1024 * 1024;
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let reserve = resp.content_length().unwrap_or(0).min(MAX_RESERVE) as usize;
    let mut out = Zeroizing::new(Vec::with_capacity(reserve));
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        if out.len() + chunk.len() > out.capacity() {
            // Grow by hand so the old buffer is zeroized, not just freed.
            let want = ((out.len() + chunk.len()) * 2).min(MAX_BODY);
            let mut bigger = Zeroizing::new(Vec::with_capacity(want));
            bigger.extend_from_slice(&out);
            out = bigger;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Whether page `page` (from 1, `n` items, `total_count` = `total`, `size` asked) is believable:
/// a total above `MAX_LISTED`, or a page short of `MIN_FULL_PAGE` items that is not the last,
/// is an error naming the limit.
fn check_page(path: &str, page: usize, n: usize, total: usize, size: usize) -> Result<(), Error> {
    if total > MAX_LISTED {
        return Err(Error::Protocol(format!(
            "{path}: the API states {total} items, above the limit of {MAX_LISTED} a listing \
             accepts; refusing to page through it"
        )));
    }
    let before = page.saturating_sub(1).saturating_mul(size);
    let last = n == 0 || before.saturating_add(n) >= total;
    if !last && n < size.clamp(1, MIN_FULL_PAGE) {
        return Err(Error::Protocol(format!(
            "{path}: page {page} holds {n} items of {size} asked while {total} are stated: \
             fewer than the {} a page that is not the last must hold; the listing would not end",
            size.clamp(1, MIN_FULL_PAGE)
        )));
    }
    Ok(())
}

impl Client {
    pub fn new(creds: Credentials, region: &str, opts: ClientOptions) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let mut auth =
            reqwest::header::HeaderValue::from_str(creds.secret_key()).map_err(|_| {
                Error::Config(
                    "the Scaleway secret key holds characters an HTTP header cannot carry".into(),
                )
            })?;
        auth.set_sensitive(true);
        Ok(Client {
            http,
            auth,
            base: format!("{}/secret-manager/v1beta1/regions/{region}", creds.api_url),
            creds: Arc::new(creds),
            pacer: Arc::new(Pacer::new(opts.rate, opts.max_rate)),
            sem: Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1))),
            retry: opts.retry,
            calls: Arc::new(CallCounter::default()),
            page_size: opts.page_size,
            region: region.to_string(),
        })
    }

    /// A client for another region with the same credentials, sharing this one's pacer
    /// and concurrency limit (Scaleway limits requests per key, not per region), with its own
    /// call counter.
    pub fn for_region(&self, region: &str) -> Client {
        Client {
            base: format!(
                "{}/secret-manager/v1beta1/regions/{region}",
                self.creds.api_url
            ),
            calls: Arc::new(CallCounter::default()),
            region: region.to_string(),
            ..self.clone()
        }
    }

    /// Whether `creds` are this client's key at this client's API (a provider shares one client,
    /// so one rate budget, per key).
    pub fn same_credentials(&self, creds: &Credentials) -> bool {
        self.creds.api_url == creds.api_url && self.creds.secret_key() == creds.secret_key()
    }

    /// The credentials' default project, if any.
    pub fn default_project(&self) -> Option<&str> {
        self.creds.project_id.as_deref()
    }

    /// Requests sent so far (retries included).
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Option<Value>, Failure> {
        let _permit = self
            .sem
            .acquire()
            .await
            .map_err(|_| Failure::Final(Error::Transport("client closed".into())))?;
        let sent = self.pacer.acquire().await;
        self.calls.add();
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Auth-Token", self.auth.clone())
            .query(query);
        if let Some(b) = body {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes::Bytes::from_owner(Zeroizing::new(b.to_vec())));
        }
        let write = method != Method::GET;
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(Failure::Retry(format!("connect: {}", e.without_url())))
            }
            Err(e) => return Err(transport_failure(write, "transport", e)),
        };
        let status = resp.status();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
        self.pacer.observe(
            Quota::parse(header("x-ratelimit-limit"), header("x-ratelimit-remaining")),
            sent,
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.pacer.throttled();
        }
        if status.is_redirection() {
            return Err(Failure::Final(Error::Rejected(format!(
                "HTTP {}: the API answered with a redirect, which is refused (the token and any \
                 value are never sent to another location); check SCW_API_URL",
                status.as_u16()
            ))));
        }
        let text = match read_body(resp).await {
            Ok(t) => t,
            Err(BodyError::Transport(e)) => {
                return Err(transport_failure(write, "reading body", e))
            }
            Err(BodyError::TooLarge) => {
                return Err(Failure::Final(Error::Protocol(format!(
                    "{path}: HTTP {} with a body larger than the {} MiB limit; not read",
                    status.as_u16(),
                    MAX_BODY >> 20
                ))))
            }
        };
        if status.is_success() {
            return if text.is_empty() {
                Ok(None)
            } else {
                // Where and what kind of error, not serde's text (a type error quotes the value).
                serde_json::from_slice(&text).map(Some).map_err(|e| {
                    Failure::Final(Error::Protocol(format!(
                        "invalid JSON from {path} ({:?} error at line {}, column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    )))
                })
            };
        }
        let text = String::from_utf8_lossy(&text);
        let retryable = status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
            || (!write && status.is_server_error());
        if retryable {
            Err(Failure::Retry(format!("HTTP {}", status.as_u16())))
        } else {
            Err(Failure::Final(api_error(status, &text)))
        }
    }

    /// One API call with retries. `path` is relative to the region prefix.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, Error> {
        let body =
            body.map(|b| Zeroizing::new(serde_json::to_vec(b).expect("a JSON value serializes")));
        self.call_raw(method, path, query, body.as_deref().map(Vec::as_slice))
            .await
    }

    /// `call` with a body already serialized (by callers that keep values out of `Value`s).
    async fn call_raw(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Option<Value>, Error> {
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts {
            match self.once(&method, path, query, body).await {
                Ok(v) => return Ok(v),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(why)) => {
                    tracing::debug!(%path, attempt, %why, "retrying");
                    last = why;
                    if attempt < self.retry.attempts {
                        tokio::time::sleep(self.retry.delay(attempt)).await;
                    }
                }
            }
        }
        Err(Error::Exhausted {
            attempts: self.retry.attempts,
            last,
        })
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        self.call(method, path, query, body)
            .await?
            .ok_or_else(|| Error::Protocol(format!("empty response from {path}")))
    }

    /// Every page of a list endpoint: stops on an empty page or when `total_count` is reached.
    async fn all_pages(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        self.pages(path, key, query, usize::MAX, |items| out.extend(items))
            .await?;
        Ok(out)
    }

    /// `all_pages`, or `None` (after one call) when the first page's `total_count` says more
    /// than `max_pages` pages would be needed.
    async fn pages_within(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
        max_pages: usize,
    ) -> Result<Option<Vec<Value>>, Error> {
        let mut out = Vec::new();
        let complete = self
            .pages(path, key, query, max_pages, |items| out.extend(items))
            .await?;
        Ok(complete.then_some(out))
    }

    /// Hands each page's items to `sink` as it arrives (so a caller keeps what it needs of a
    /// page, not the page); `false` when the first page said more than `max_pages` pages.
    async fn pages(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
        max_pages: usize,
        mut sink: impl FnMut(Vec<Value>),
    ) -> Result<bool, Error> {
        let mut seen = 0;
        for page in 1.. {
            let (items, total) = self.page(path, key, query, page).await?;
            if page == 1 && total.div_ceil(self.page_size.max(1)) > max_pages {
                return Ok(false);
            }
            let empty = items.is_empty();
            seen += items.len();
            sink(items);
            if empty || seen >= total {
                break;
            }
        }
        Ok(true)
    }

    /// Page `page` (from 1) of a list endpoint: its items and the `total_count` it states.
    async fn page(
        &self,
        path: &str,
        key: &str,
        query: &[(&str, String)],
        page: usize,
    ) -> Result<(Vec<Value>, usize), Error> {
        let mut q = query.to_vec();
        q.push(("page", page.to_string()));
        q.push(("page_size", self.page_size.to_string()));
        let mut v = self.json(Method::GET, path, &q, None).await?;
        let items = match v[key].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let total = usize::try_from(v["total_count"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
        check_page(path, page, items.len(), total, self.page_size.max(1))?;
        Ok((items, total))
    }

    /// Page `page` (from 1) of a project's secrets by name (only `project_id` is sent: sending
    /// the organization too returns an empty list on the live API), and whether it is the last.
    /// `deleted` selects secrets scheduled for deletion.
    pub async fn secrets_page(
        &self,
        project: &str,
        deleted: bool,
        page: usize,
    ) -> Result<(Vec<Value>, bool), Error> {
        let q = [
            ("project_id", project.to_string()),
            ("order_by", "name_asc".to_string()),
            ("scheduled_for_deletion", deleted.to_string()),
        ];
        let (items, total) = self.page("/secrets", "secrets", &q, page).await?;
        let last = items.is_empty() || page.saturating_mul(self.page_size.max(1)) >= total;
        Ok((items, last))
    }

    /// Every live secret of a project (`deleting`: every secret scheduled for deletion), or
    /// `None` (after one call) when that would take more than `max_pages` calls.
    pub async fn list_secrets_within(
        &self,
        project: &str,
        deleting: bool,
        max_pages: usize,
    ) -> Result<Option<Vec<Value>>, Error> {
        let q = [
            ("project_id", project.to_string()),
            ("order_by", "name_asc".to_string()),
            ("scheduled_for_deletion", deleting.to_string()),
        ];
        self.pages_within("/secrets", "secrets", &q, max_pages)
            .await
    }

    /// Secrets of a project (only `project_id` is sent: sending the organization too returns
    /// an empty list on the live API). `deleted` selects secrets scheduled for deletion.
    pub async fn list_secrets(
        &self,
        project: &str,
        deleted: bool,
        extra: &[(&str, String)],
    ) -> Result<Vec<Value>, Error> {
        let mut q = vec![
            ("project_id", project.to_string()),
            ("order_by", "name_asc".to_string()),
            ("scheduled_for_deletion", deleted.to_string()),
        ];
        q.extend_from_slice(extra);
        self.all_pages("/secrets", "secrets", &q).await
    }

    /// Every version of a secret, all statuses, newest first (as the API returns them).
    pub async fn list_versions(&self, id: &str) -> Result<Vec<Value>, Error> {
        self.all_pages(&format!("/secrets/{id}/versions"), "versions", &[])
            .await
    }

    /// A version's value and its CRC32 if one was stored.
    pub async fn access(&self, id: &str, rev: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut v = self
            .json(
                Method::GET,
                &format!("/secrets/{id}/versions/{rev}/access"),
                &[],
                None,
            )
            .await?;
        let data = match v["data"].take() {
            Value::String(s) => Zeroizing::new(s),
            _ => return Err(Error::Protocol("access response without data".into())),
        };
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .map_err(|_| Error::Protocol("access data is not base64".into()))?,
        );
        // The checksum guards the transfer; it is checked here and never kept (an unkeyed
        // checksum of a short value is as good as the value).
        if let Some(expected) = v["data_crc32"].as_u64() {
            if u64::from(crc32fast::hash(&bytes)) != expected {
                return Err(Error::Protocol(format!(
                    "secret {id} revision {rev}: data does not match its data_crc32"
                )));
            }
        }
        Ok(bytes)
    }

    pub async fn create_secret(&self, body: &Value) -> Result<Value, Error> {
        self.json(Method::POST, "/secrets", &[], Some(body)).await
    }

    pub async fn create_version(
        &self,
        id: &str,
        data: &[u8],
        description: &str,
    ) -> Result<Value, Error> {
        #[derive(serde::Serialize)]
        struct NewVersion<'a> {
            data: &'a str,
            description: &'a str,
            data_crc32: u32,
        }
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(data));
        // Sized up front so serializing never reallocates (a reallocation would leave a copy of
        // the value behind, unzeroized).
        let mut body = Zeroizing::new(Vec::with_capacity(
            encoded.len() + 6 * description.len() + 128,
        ));
        serde_json::to_writer(
            &mut *body,
            &NewVersion {
                data: &encoded,
                description,
                data_crc32: crc32fast::hash(data),
            },
        )
        .expect("a version body serializes");
        let path = format!("/secrets/{id}/versions");
        self.call_raw(Method::POST, &path, &[], Some(&body))
            .await?
            .ok_or_else(|| Error::Protocol(format!("empty response from {path}")))
    }

    /// enable / disable / restore a version.
    pub async fn version_action(&self, id: &str, rev: &str, action: &str) -> Result<Value, Error> {
        self.json(
            Method::POST,
            &format!("/secrets/{id}/versions/{rev}/{action}"),
            &[],
            Some(&json!({})),
        )
        .await
    }

    /// Removes delete protection.
    pub async fn unprotect(&self, id: &str) -> Result<Value, Error> {
        self.json(
            Method::POST,
            &format!("/secrets/{id}/unprotect"),
            &[],
            Some(&json!({})),
        )
        .await
    }

    /// Deletes a secret (Scaleway keeps it pending deletion for days; its name stays taken).
    pub async fn delete_secret(&self, id: &str) -> Result<(), Error> {
        self.call(Method::DELETE, &format!("/secrets/{id}"), &[], None)
            .await
            .map(|_| ())
    }

    pub async fn protect(&self, id: &str) -> Result<Value, Error> {
        self.json(
            Method::POST,
            &format!("/secrets/{id}/protect"),
            &[],
            Some(&json!({})),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_header_is_sensitive() {
        let creds = Credentials::new("tok-123", None, Some("fr-par"), None);
        let c = Client::new(creds, "fr-par", ClientOptions::default()).unwrap();
        assert!(c.auth.is_sensitive());
        assert!(!format!("{:?}", c.auth).contains("tok-123"));
        let bad = Credentials::new("tok\n", None, Some("fr-par"), None);
        let err = Client::new(bad, "fr-par", ClientOptions::default())
            .err()
            .unwrap();
        assert!(!err.to_string().contains("tok"), "{err}");
    }

    #[test]
    fn pages_must_progress_and_totals_be_believable() {
        assert!(check_page("/s", 1, 100, 250, 100).is_ok());
        assert!(check_page("/s", 3, 50, 250, 100).is_ok(), "the last page");
        assert!(
            check_page("/s", 1, 0, 250, 100).is_ok(),
            "an empty page ends it"
        );
        assert!(check_page("/s", 1, 3, 3, 2).is_ok());
        let e = check_page("/s", 1, 1, 5000, 100).unwrap_err().to_string();
        assert!(e.contains("would not end"), "{e}");
        let e = check_page("/s", 1, 1, MAX_LISTED + 1, 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("limit of 1000000"), "{e}");
    }
}

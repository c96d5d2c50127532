//! The KV HTTP client: `X-Vault-Token` and `X-Vault-Namespace` on every request, a bounded number
//! of requests in flight, an optional rate cap (`--max-rate`), retries with full-jitter backoff on
//! 429 (Vault's rate-limit quotas publish no fixed rate), 5xx and transport errors, and a call
//! counter. Errors are built from the call, the path and the status only: Vault's error texts are
//! not forwarded, and response bodies that carry values are zeroized once parsed.

use std::sync::Arc;
use std::time::Duration;

pub use reqwest::Method;
use reqwest::StatusCode;
use secretsnap_core::polite::{CallCounter, RateLimiter, RetryPolicy};
use secretsnap_core::Error;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::login::{Login, Session};

/// How to reach one server as one identity.
#[derive(Debug, Clone)]
pub struct ServerAccess {
    /// `http(s)://host:port`, without a trailing slash.
    pub addr: String,
    /// The token, or the login that gets one (its `Debug` shows no secret).
    pub login: Login,
    /// Namespace sent as `X-Vault-Namespace` (Vault Enterprise, OpenBao); `None`: the root.
    pub namespace: Option<String>,
    pub tls: Tls,
}

/// How the server's certificate is checked (`VAULT_CACERT`, `VAULT_SKIP_VERIFY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM certificates trusted besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any certificate (a test server; never in production).
    pub skip_verify: bool,
}

/// Knobs of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// At most this many requests per second; `None`: as fast as the server answers.
    pub max_rate: Option<f64>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// Keys asked for per LIST page where the server pages listings (OpenBao).
    pub list_page: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            concurrency: 16,
            max_rate: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            list_page: 1000,
        }
    }
}

/// One answer: the status and the body (zeroized on drop: KV reads carry values).
pub struct Reply {
    pub status: StatusCode,
    pub body: Zeroizing<Vec<u8>>,
}

impl Reply {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Inner {
    http: reqwest::Client,
    access: ServerAccess,
    gate: tokio::sync::Semaphore,
    limiter: Option<RateLimiter>,
    retry: RetryPolicy,
    calls: CallCounter,
    list_page: usize,
    /// The token of the last login (logins only), renewed when its lease nears its end.
    session: tokio::sync::Mutex<Option<Session>>,
}

/// A client of one server and token, shared by every connector opened with them (one budget).
#[derive(Clone)]
pub struct VaultClient {
    inner: Arc<Inner>,
}

enum Failure {
    Retry(String),
    Final(Error),
}

impl VaultClient {
    pub fn new(access: ServerAccess, opts: ClientOptions) -> Result<VaultClient, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &access.tls.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| Error::Config("VAULT_CACERT: not a PEM certificate bundle".into()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if access.tls.skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|_| Error::Config("cannot build the HTTP client".into()))?;
        Ok(VaultClient {
            inner: Arc::new(Inner {
                http,
                access,
                gate: tokio::sync::Semaphore::new(opts.concurrency.max(1)),
                limiter: opts.max_rate.map(RateLimiter::new),
                retry: opts.retry,
                calls: CallCounter::default(),
                list_page: opts.list_page.max(1),
                session: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Whether this client talks to `access`'s server as its identity in its namespace.
    pub fn same_access(&self, access: &ServerAccess) -> bool {
        let a = &self.inner.access;
        a.addr == access.addr
            && a.login == access.login
            && a.namespace == access.namespace
            && a.tls == access.tls
    }

    /// The token to send: the given one, or the session's, logging in when there is none yet or
    /// its lease is nearly over (one login at a time).
    async fn token(&self) -> Result<Zeroizing<String>, Failure> {
        let inner = &self.inner;
        let login = &inner.access.login;
        let Some((path, body)) = login.request() else {
            let Login::Token(t) = login else {
                unreachable!("only a token needs no login")
            };
            return Ok(t.clone());
        };
        let mut session = inner.session.lock().await;
        let now = std::time::Instant::now();
        if let Some(s) = session.as_ref().filter(|s| s.fresh(now)) {
            return Ok(s.token.clone());
        }
        inner.calls.add();
        let what = format!("login ({})", login.describe());
        let mut req = inner
            .http
            .post(format!("{}/v1/{path}", inner.access.addr))
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some(ns) = &inner.access.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        let resp = req.send().await.map_err(|e| {
            if untrusted(&e) {
                Failure::Final(untrusted_error(&what))
            } else {
                Failure::Retry(format!("{what}: connection failed"))
            }
        })?;
        let status = resp.status();
        let answer = read_bounded(resp, &what).await?;
        match status.as_u16() {
            429 | 500..=599 => Err(Failure::Retry(format!("{what}: HTTP {}", status.as_u16()))),
            200..=299 => {
                let s = Session::from_answer(&answer, now).ok_or_else(|| {
                    Failure::Final(Error::Protocol(format!(
                        "{what}: the answer holds no token"
                    )))
                })?;
                let token = s.token.clone();
                *session = Some(s);
                Ok(token)
            }
            code => Err(Failure::Final(Error::Auth(format!(
                "{what} refused: HTTP {code} (check the role and its secret at {})",
                inner.access.addr
            )))),
        }
    }

    pub fn addr(&self) -> &str {
        &self.inner.access.addr
    }

    pub fn namespace(&self) -> Option<&str> {
        self.inner.access.namespace.as_deref()
    }

    /// Keys asked for per LIST page.
    pub fn list_page(&self) -> usize {
        self.inner.list_page
    }

    pub fn calls(&self) -> u64 {
        self.inner.calls.get()
    }

    /// `method /v1/{path}` with a JSON body; retried on 429, 5xx and transport errors. Any other
    /// status comes back as a `Reply` for the caller to read (a 404 of a deleted version carries
    /// its metadata).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, Error> {
        let retry = &self.inner.retry;
        let mut last = String::new();
        for attempt in 1..=retry.attempts {
            match self.once(&method, path, body).await {
                Ok(r) => return Ok(r),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(why)) => {
                    tracing::debug!(%path, attempt, %why, "retrying");
                    last = why;
                    if attempt < retry.attempts {
                        tokio::time::sleep(retry.delay(attempt)).await;
                    }
                }
            }
        }
        Err(Error::Exhausted {
            attempts: retry.attempts,
            last,
        })
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, Failure> {
        let inner = &self.inner;
        let token = self.token().await?;
        let _slot = inner
            .gate
            .acquire()
            .await
            .map_err(|_| Failure::Final(Error::Transport("client closed".into())))?;
        if let Some(l) = &inner.limiter {
            l.acquire().await;
        }
        inner.calls.add();
        let url = format!("{}/v1/{}", inner.access.addr, path);
        let mut req = inner
            .http
            .request(method.clone(), &url)
            .header("X-Vault-Token", token.as_str());
        if let Some(ns) = &inner.access.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_vec());
        }
        let what = format!("{method} {}", redact_path(path));
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(Failure::Retry(format!("{what}: timed out"))),
            Err(e) if untrusted(&e) => return Err(Failure::Final(untrusted_error(&what))),
            Err(_) => return Err(Failure::Retry(format!("{what}: connection failed"))),
        };
        let status = resp.status();
        let body = read_bounded(resp, &what).await?;
        match status.as_u16() {
            429 => Err(Failure::Retry(format!(
                "{what}: HTTP 429 (rate-limit quota)"
            ))),
            500..=599 => Err(Failure::Retry(format!("{what}: HTTP {}", status.as_u16()))),
            401 => Err(Failure::Final(Error::Auth(format!(
                "{what}: HTTP 401 ({} is not valid at {})",
                inner.access.login.describe(),
                inner.access.addr
            )))),
            403 => Err(Failure::Final(Error::Permission(format!(
                "{what}: HTTP 403 (the token's policies do not allow it)"
            )))),
            _ => Ok(Reply { status, body }),
        }
    }

    /// A JSON answer of a call that must succeed (2xx).
    pub async fn ok_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Value, Error> {
        let r = self.call(method.clone(), path, body).await?;
        if !r.status.is_success() {
            return Err(rejected(&method, path, &r));
        }
        Ok(r.json())
    }
}

/// Whether a request failed because the server's certificate is not trusted: not transient, so
/// not retried.
fn untrusted(e: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.to_string().to_ascii_lowercase().contains("certificate") {
            return true;
        }
        cause = c.source();
    }
    false
}

fn untrusted_error(what: &str) -> Error {
    Error::Transport(format!(
        "{what}: the server's certificate is not trusted (set VAULT_CACERT to its CA's PEM file, \
         or VAULT_SKIP_VERIFY for a test server)"
    ))
}

/// Largest response body believed: a KV entry is at most a few MiB, a LIST page of a million keys
/// well under this. Past it the call fails, naming the limit, whatever the server says.
pub const MAX_BODY: usize = 16 << 20;

/// The body, read chunk by chunk into a zeroized buffer and refused past `MAX_BODY`.
async fn read_bounded(
    mut resp: reqwest::Response,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let too_large = || {
        Failure::Final(Error::Protocol(format!(
            "{what}: response larger than {} MiB",
            MAX_BODY >> 20
        )))
    };
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = Zeroizing::new(Vec::new());
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => return Err(Failure::Retry(format!("{what}: response cut short"))),
        }
    }
}

/// The error of a call the server refused with a 4xx other than 401/403/429, naming what Vault's
/// message means where we recognise it, never quoting it.
pub fn rejected(method: &Method, path: &str, r: &Reply) -> Error {
    let what = format!("{method} {}", redact_path(path));
    let text = String::from_utf8_lossy(&r.body);
    let why = if text.contains("check-and-set") {
        " (check-and-set: the path changed since it was read)"
    } else if r.status == StatusCode::NOT_FOUND {
        " (not found)"
    } else {
        ""
    };
    match r.status.as_u16() {
        404 => Error::NotFound(format!("{what}{why}")),
        s => Error::Rejected(format!("{what}: HTTP {s}{why}")),
    }
}

/// A request path for messages: the query (version numbers) dropped.
fn redact_path(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

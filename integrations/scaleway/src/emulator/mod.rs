//! A local Scaleway Secret Manager (v1beta1) server, faithful to recorded live traffic, for our
//! tests and our users'. All 22 endpoints, several regions and projects in one process, auth by
//! `X-Auth-Token` with optional per-token project and read/write grants, and knobs for tests and
//! benchmarks: latency, the live API's rate limit (50 requests per token in each one-second window
//! by default, `X-Ratelimit-*` headers as recorded, a bare 429 when spent), injected faults (500/503/timeouts/dropped connections) and seed data.
//!
//! Choices where the live behaviour was not recorded are listed in `docs/scaleway-emulator.md`.

mod errors;
mod http;
mod seed;
pub mod state;
mod validate;
pub mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use seed::{demo_project, sample_payload, SeedSecret};
pub use state::Limits;
pub use validate::SECRET_TYPES;

/// What a token may do.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Projects it can see; `None` = all.
    pub projects: Option<Vec<String>>,
    pub write: bool,
}

/// Emulator knobs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tokens and their grants; empty = any non-empty token has full rights.
    pub tokens: HashMap<String, Grant>,
    /// Added to every request.
    pub latency: Duration,
    /// Requests per token in each clock-aligned one-second window, as Envoy counts them for the
    /// live API; `None` = unlimited (and no `X-Ratelimit-*` headers).
    pub rate_limit: Option<f64>,
    /// Probability in [0, 1] that a request fails with an injected fault (before any effect).
    pub fault_rate: f64,
    /// How long a "timeout" fault stalls before answering 504.
    pub fault_stall: Duration,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tokens: HashMap::new(),
            latency: Duration::ZERO,
            rate_limit: Some(50.0),
            fault_rate: 0.0,
            fault_stall: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }
}

/// Counts what the emulator served.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub accesses: AtomicU64,
    pub writes: AtomicU64,
    pub rate_limited: AtomicU64,
    pub faults: AtomicU64,
}

pub(crate) struct Shared {
    pub state: Mutex<state::State>,
    pub config: Mutex<Config>,
    pub counters: Counters,
    /// Per token: the clock second counted and the requests counted in it.
    pub buckets: Mutex<HashMap<String, (u64, u32)>>,
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Emulator {
    /// Starts on `listen` (use port 0 for a free port).
    pub async fn start(config: Config, listen: SocketAddr) -> std::io::Result<Emulator> {
        let limits = config.limits.clone();
        let shared = Arc::new(Shared {
            state: Mutex::new(state::State {
                limits,
                ..Default::default()
            }),
            config: Mutex::new(config),
            counters: Counters::default(),
            buckets: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Emulator {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (what `SCW_API_URL` takes).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub fn requests(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }

    /// Payload reads served (AccessSecretVersion and by-path).
    pub fn accesses(&self) -> u64 {
        self.shared.counters.accesses.load(Ordering::Relaxed)
    }

    /// Changes knobs while running (e.g. turn faults on after seeding).
    pub fn configure(&self, f: impl FnOnce(&mut Config)) {
        f(&mut self.shared.config.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Direct access to the state (for seeding fixtures and for assertions).
    pub fn with_state<T>(&self, f: impl FnOnce(&mut state::State) -> T) -> T {
        f(&mut self.shared.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

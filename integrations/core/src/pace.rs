//! Pacing by what the server says is left. An API that answers with rate-limit headers
//! (`X-Ratelimit-Limit: 50, 50;w=1`, `X-Ratelimit-Remaining: 49`, as Scaleway's gateway does)
//! tells every client of one key how much of the shared quota the others used: the `Pacer`
//! spaces requests evenly at just under the advertised rate, and when the server counted more
//! requests in its window than this process sent, it leaves that share to the others (so two
//! processes of one key settle on about half each instead of fighting in 429s). Without headers
//! it keeps a conservative fallback rate; a 429 halves the rate and pauses one window.
//!
//! Requests are given evenly spaced send slots (no bursts), because the server counts in fixed
//! windows: a burst at the end of one window and another at the start of the next is what a
//! token bucket would allow and what a fixed window refuses.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The share of the advertised rate used when nobody else uses the key: what absorbs the
/// jitter between our send times and the server's count.
const HEADROOM: f64 = 0.97;
/// How far one observation moves the rate towards its target once the quota is known.
const GAIN: f64 = 0.2;
/// Never slower than this, whatever the others use.
const MIN_RATE: f64 = 1.0;

/// A server's quota as its headers state it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Requests allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
    /// Requests left in the current window.
    pub remaining: u32,
}

impl Quota {
    /// Parses `X-Ratelimit-Limit` (`50` or `50, 50;w=1`: the draft RateLimit header format) and
    /// `X-Ratelimit-Remaining`; `None` when either is missing or unreadable.
    pub fn parse(limit: Option<&str>, remaining: Option<&str>) -> Option<Quota> {
        let limit = limit?.trim();
        let mut parts = limit.split(',');
        let n: u32 = parts.next()?.trim().parse().ok()?;
        let mut window = Duration::from_secs(1);
        for policy in parts {
            for param in policy.split(';').skip(1) {
                if let Some(w) = param.trim().strip_prefix("w=") {
                    window = Duration::from_secs(w.trim().parse::<u64>().ok()?.max(1));
                }
            }
        }
        let remaining: u32 = remaining?.trim().trim_matches('"').parse().ok()?;
        (n > 0).then_some(Quota {
            limit: n,
            window,
            remaining: remaining.min(n),
        })
    }
}

#[derive(Debug)]
struct State {
    rate: f64,
    /// The next free send slot.
    next: Instant,
    /// Our send slots of the last two windows, in order.
    sent: VecDeque<Instant>,
    window: Duration,
    told: bool,
    last_cut: Option<Instant>,
}

/// Gives out evenly spaced send slots at a rate learned from the server's headers.
#[derive(Debug)]
pub struct Pacer {
    fallback: f64,
    cap: Option<f64>,
    state: Mutex<State>,
}

impl Pacer {
    /// `fallback` requests per second until the server states its quota; never above `cap`.
    pub fn new(fallback: f64, cap: Option<f64>) -> Pacer {
        let fallback = cap.map_or(fallback, |c| fallback.min(c)).max(MIN_RATE);
        Pacer {
            fallback,
            cap,
            state: Mutex::new(State {
                rate: fallback,
                next: Instant::now(),
                sent: VecDeque::new(),
                window: Duration::from_secs(1),
                told: false,
                last_cut: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current rate in requests per second.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// Waits for this request's send slot and returns it (pass it to `observe`).
    pub async fn acquire(&self) -> Instant {
        let slot = {
            let mut st = self.lock();
            let now = Instant::now();
            let slot = st.next.max(now);
            st.next = slot + Duration::from_secs_f64(1.0 / st.rate);
            let keep = st.window * 2;
            while st
                .sent
                .front()
                .is_some_and(|t| now.duration_since(*t) > keep)
            {
                st.sent.pop_front();
            }
            st.sent.push_back(slot);
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
        slot
    }

    /// Learns from the quota stated in the answer to the request sent at `sent`.
    pub fn observe(&self, quota: Option<Quota>, sent: Instant) {
        let Some(q) = quota else { return };
        let mut st = self.lock();
        st.window = q.window;
        let from = sent.checked_sub(q.window);
        let ours = st
            .sent
            .iter()
            .filter(|t| **t <= sent && from.is_none_or(|f| **t > f))
            .count() as u32;
        let counted = q.limit - q.remaining;
        let others = counted.saturating_sub(ours);
        let share = f64::from(q.limit.saturating_sub(others).max(1));
        let mut target = share * HEADROOM / q.window.as_secs_f64();
        if let Some(c) = self.cap {
            target = target.min(c);
        }
        let target = target.max(MIN_RATE);
        st.rate = if st.told {
            st.rate + (target - st.rate) * GAIN
        } else {
            target
        };
        st.told = true;
    }

    /// The server refused a request for its rate: halve the rate (once per window, however many
    /// requests in flight are refused) and send nothing for one window.
    pub fn throttled(&self) {
        let mut st = self.lock();
        let now = Instant::now();
        if st
            .last_cut
            .is_some_and(|t| now.duration_since(t) < st.window)
        {
            return;
        }
        st.last_cut = Some(now);
        st.rate = (st.rate * 0.5).max(MIN_RATE);
        let pause = now + st.window;
        st.next = st.next.max(pause);
    }

    /// The rate used before the server states its quota.
    pub fn fallback(&self) -> f64 {
        self.fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_recorded_headers() {
        let q = Quota::parse(Some("50, 50;w=1"), Some("49")).unwrap();
        assert_eq!(
            q,
            Quota {
                limit: 50,
                window: Duration::from_secs(1),
                remaining: 49
            }
        );
        let q = Quota::parse(Some("100, 100;w=60"), Some("\"7\"")).unwrap();
        assert_eq!((q.limit, q.window.as_secs(), q.remaining), (100, 60, 7));
        assert_eq!(Quota::parse(Some("50"), Some("3")).unwrap().remaining, 3);
        assert_eq!(Quota::parse(None, Some("3")), None);
        assert_eq!(Quota::parse(Some("x"), Some("3")), None);
        assert_eq!(Quota::parse(Some("50, 50;w=1"), None), None);
    }

    #[tokio::test]
    async fn alone_it_runs_just_under_the_stated_rate() {
        let p = Pacer::new(10.0, None);
        let t = p.acquire().await;
        p.observe(Quota::parse(Some("50, 50;w=1"), Some("49")), t);
        assert!((p.rate() - 50.0 * HEADROOM).abs() < 1e-9, "{}", p.rate());
        let start = Instant::now();
        for _ in 0..25 {
            let t = p.acquire().await;
            p.observe(Quota::parse(Some("50, 50;w=1"), Some("40")), t);
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_millis(800),
            "25 slots at ~48.5/s: {took:?}"
        );
    }

    #[tokio::test]
    async fn it_leaves_what_others_use_and_caps_at_max_rate() {
        let p = Pacer::new(40.0, None);
        let t = p.acquire().await;
        // The server counted 31 requests in its window, this process sent one.
        p.observe(Quota::parse(Some("50, 50;w=1"), Some("19")), t);
        assert!((p.rate() - 20.0 * HEADROOM).abs() < 1e-9, "{}", p.rate());
        let capped = Pacer::new(40.0, Some(5.0));
        assert_eq!(capped.rate(), 5.0);
        let t = capped.acquire().await;
        capped.observe(Quota::parse(Some("50, 50;w=1"), Some("49")), t);
        assert_eq!(capped.rate(), 5.0);
    }

    #[tokio::test]
    async fn a_429_halves_once_per_window_and_pauses() {
        let p = Pacer::new(40.0, None);
        p.throttled();
        p.throttled();
        assert_eq!(
            p.rate(),
            20.0,
            "one cut however many refusals arrive together"
        );
        let start = Instant::now();
        p.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "paused one window"
        );
    }
}

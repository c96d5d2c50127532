//! Pacing by what the server says is left. An API that answers with rate-limit headers
//! (`X-Ratelimit-Limit: 50, 50;w=1`, `X-Ratelimit-Remaining: 49`, as Scaleway's gateway does)
//! tells every client of one key how much of the shared quota is used. The `Pacer` spaces
//! requests evenly at just under the advertised rate, and leaves to other processes of the same
//! key what the server counted from them; without headers it keeps a conservative fallback rate,
//! and a 429 halves the rate and pauses one window.
//!
//! The gateway counts in fixed windows aligned to the clock (Envoy's rate limit service: 50 per
//! key in each UTC second). So the pacer places each answer in the server's window by its wall
//! clock send time plus half the round trip; what the server counted between two answers of one
//! window, less what this process sent in between, over the time in between, is the others'
//! rate, and the pacer aims at the stated rate less theirs. It also never sends into a window it
//! has seen spent, and cuts its rate at once when what is left of a window, shared with the
//! others, would not last. Slots are never reserved ahead, so a rate that rose is used at once.
//! With a server whose windows are not clock-aligned the estimates only degrade: the 429 backoff
//! still holds.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The share of the advertised rate used when nobody else uses the key: what absorbs the
/// jitter between our send times and the server's count.
const HEADROOM: f64 = 0.97;
/// How fast the rate follows its target once the quota is known: the time constant, so a slow
/// pacer (few answers) recovers as fast as a busy one.
const SETTLE: f64 = 0.25;
/// How far one observation moves the estimate of the others' rate.
const OTHERS_GAIN: f64 = 0.3;
/// Never slower than this, whatever the others use.
const MIN_RATE: f64 = 1.0;
/// Observations this early in a window say too little about what is left of it.
const MIN_FRACTION: f64 = 0.2;
/// The others' rate is measured over at least this long (seconds) within one window.
const MIN_SPAN: f64 = 0.1;

/// The longest quota window believed (seconds). A server stating a longer one (`w=10^12`) is
/// broken or hostile: waiting out its "spent" window would hang the run, so its headers are
/// ignored and the 429 handling alone paces.
pub const MAX_WINDOW_SECS: u64 = 60;

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
    /// `X-Ratelimit-Remaining`; `None` when either is missing or unreadable, or when the window
    /// is longer than `MAX_WINDOW_SECS` (no number from the network can make us wait longer).
    pub fn parse(limit: Option<&str>, remaining: Option<&str>) -> Option<Quota> {
        let limit = limit?.trim();
        let mut parts = limit.split(',');
        let n: u32 = parts.next()?.trim().parse().ok()?;
        let mut window = Duration::from_secs(1);
        for policy in parts {
            for param in policy.split(';').skip(1) {
                if let Some(w) = param.trim().strip_prefix("w=") {
                    let secs = w.trim().parse::<u64>().ok()?.max(1);
                    if secs > MAX_WINDOW_SECS {
                        tracing::warn!(
                            window = secs,
                            limit = MAX_WINDOW_SECS,
                            "rate-limit header states a window above the limit; ignored"
                        );
                        return None;
                    }
                    window = Duration::from_secs(secs);
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

/// One request's send slot: pass it back to `Pacer::observe` with the answer's quota.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    at: Instant,
    /// Wall clock seconds since the epoch at `at`.
    wall: f64,
}

#[derive(Debug)]
struct State {
    rate: f64,
    /// When the last request was sent.
    last_send: Option<Instant>,
    /// No request before this (after a 429).
    paused_until: Instant,
    /// Wall clock send times of our requests, oldest first (two windows' worth).
    sent: VecDeque<f64>,
    window: f64,
    told: bool,
    last_cut: Option<Instant>,
    /// Round trip, smoothed; half of it is the way to the server's counter.
    rtt: f64,
    others: f64,
    /// The latest window the server's count was seen in, and what was left of it then (minus
    /// our requests sent after that one).
    spent_window: Option<(i64, f64, u32)>,
    last_observed: Option<Instant>,
    /// Recent observations: send time, server window, the server's count.
    seen: VecDeque<(f64, i64, u32)>,
}

impl State {
    fn window_of(&self, wall: f64) -> i64 {
        ((wall + self.rtt / 2.0) / self.window).floor() as i64
    }
}

fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Gives out evenly spaced send slots at a rate learned from the server's headers.
#[derive(Debug)]
pub struct Pacer {
    cap: Option<f64>,
    state: Mutex<State>,
}

impl Pacer {
    /// `fallback` requests per second until the server states its quota; never above `cap`.
    pub fn new(fallback: f64, cap: Option<f64>) -> Pacer {
        let fallback = cap.map_or(fallback, |c| fallback.min(c)).max(MIN_RATE);
        Pacer {
            cap,
            state: Mutex::new(State {
                rate: fallback,
                last_send: None,
                paused_until: Instant::now(),
                sent: VecDeque::new(),
                window: 1.0,
                told: false,
                last_cut: None,
                rtt: 0.0,
                others: 0.0,
                spent_window: None,
                last_observed: None,
                seen: VecDeque::new(),
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

    /// Waits for this request's send slot. Slots are not reserved ahead: each waiter looks
    /// again when it wakes, so a rate that rose meanwhile is used at once.
    pub async fn acquire(&self) -> Ticket {
        loop {
            let wait = {
                let mut st = self.lock();
                let (now, now_wall) = (Instant::now(), wall_now());
                let spacing = Duration::from_secs_f64(1.0 / st.rate);
                let mut earliest = st
                    .last_send
                    .map_or(now, |t| t + spacing)
                    .max(st.paused_until);
                // Never into a window the server has shown spent: wait for the next one.
                if let Some((w, seen_at, left)) = st.spent_window {
                    let wall = now_wall + earliest.saturating_duration_since(now).as_secs_f64();
                    let ours_since = st
                        .sent
                        .iter()
                        .filter(|t| **t > seen_at && st.window_of(**t) == w)
                        .count() as u32;
                    if st.window_of(wall) == w && left <= ours_since {
                        let start = (w + 1) as f64 * st.window - st.rtt / 2.0 + 0.002;
                        earliest += Duration::from_secs_f64((start - wall).max(0.0));
                    }
                }
                if earliest <= now {
                    // On schedule, not on wake-up: timer lateness must not add up across sends
                    // (an idle pacer starts afresh, with no burst).
                    let on_time = now.duration_since(earliest) < spacing;
                    st.last_send = Some(if on_time { earliest } else { now });
                    let keep = now_wall - 2.0 * st.window;
                    while st.sent.front().is_some_and(|t| *t < keep) {
                        st.sent.pop_front();
                    }
                    st.sent.push_back(now_wall);
                    return Ticket {
                        at: now,
                        wall: now_wall,
                    };
                }
                earliest - now
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Learns from the quota stated in the answer to the request of `ticket`.
    pub fn observe(&self, quota: Option<Quota>, ticket: Ticket) {
        let rtt = ticket.at.elapsed().as_secs_f64();
        let Some(q) = quota else { return };
        let mut st = self.lock();
        st.rtt = if st.told {
            st.rtt * 0.8 + rtt * 0.2
        } else {
            rtt
        };
        st.window = q.window.as_secs_f64();
        let w = st.window_of(ticket.wall);
        let counted = q.limit - q.remaining;
        let newer = st
            .spent_window
            .is_none_or(|(sw, seen, _)| w > sw || (w == sw && ticket.wall > seen));
        if newer {
            st.spent_window = Some((w, ticket.wall, q.remaining));
        }
        let into = (ticket.wall + st.rtt / 2.0) / st.window - w as f64;
        // The others' rate: what the server counted since an earlier answer in this window,
        // less what we sent in between, over the time in between.
        let since = st
            .seen
            .iter()
            .copied()
            .find(|(t, sw, c)| *sw == w && *c <= counted && *t <= ticket.wall - MIN_SPAN);
        if let Some((t0, _, c0)) = since {
            let ours_between = st
                .sent
                .iter()
                .filter(|t| **t > t0 && **t <= ticket.wall)
                .count() as u32;
            // Signed: requests overtaking each other in flight make single samples err both
            // ways, and clamping each at zero would bias the estimate upwards.
            let others = f64::from(counted - c0) - ours_between as f64;
            let sample = others / (ticket.wall - t0);
            st.others += (sample - st.others) * OTHERS_GAIN;
        }
        let keep = ticket.wall - st.window;
        while st.seen.front().is_some_and(|(t, _, _)| *t < keep) {
            st.seen.pop_front();
        }
        st.seen.push_back((ticket.wall, w, counted));
        let limit_rate = f64::from(q.limit) / st.window;
        let mut target = (limit_rate - st.others.max(0.0)) * HEADROOM;
        if let Some(c) = self.cap {
            target = target.min(c);
        }
        let target = target.max(MIN_RATE);
        let now = Instant::now();
        let gain = st.last_observed.map_or(1.0, |t| {
            1.0 - (-now.duration_since(t).as_secs_f64() / SETTLE).exp()
        });
        st.last_observed = Some(now);
        st.rate = if st.told {
            st.rate + (target - st.rate) * gain
        } else {
            target
        };
        st.told = true;
        // What is left of this window, spread over the time left and shared with the others in
        // proportion to the rates: at once, so a window being overrun is not overrun further.
        let left = (1.0 - into) * st.window;
        if into >= MIN_FRACTION && left > 0.05 {
            let budget = f64::from(q.remaining) / left;
            let share = budget * st.rate / (st.rate + st.others.max(0.0));
            if share < st.rate {
                st.rate = share.max(MIN_RATE);
            }
        }
    }

    /// The server refused a request for its rate: halve the rate (once per window, however many
    /// requests in flight are refused) and send nothing for one window.
    pub fn throttled(&self) {
        let mut st = self.lock();
        let now = Instant::now();
        let window = Duration::from_secs_f64(st.window);
        if st.last_cut.is_some_and(|t| now.duration_since(t) < window) {
            return;
        }
        st.last_cut = Some(now);
        st.rate = (st.rate * 0.5).max(MIN_RATE);
        st.paused_until = st.paused_until.max(now + window);
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
        // Absurd windows from a broken or hostile server are not believed (and never panic).
        assert_eq!(
            Quota::parse(Some("50, 50;w=1000000000000"), Some("0")),
            None
        );
        assert_eq!(
            Quota::parse(Some("50, 50;w=18446744073709551615"), Some("0")),
            None
        );
        assert_eq!(
            Quota::parse(Some("50, 50;w=99999999999999999999"), Some("0")),
            None
        );
        let q = Quota::parse(Some("4294967295, 4294967295;w=60"), Some("0")).unwrap();
        assert_eq!(q.window, Duration::from_secs(60));
    }

    #[tokio::test]
    async fn alone_it_runs_just_under_the_stated_rate() {
        let p = Pacer::new(10.0, None);
        let t = p.acquire().await;
        p.observe(Quota::parse(Some("50, 50;w=1"), Some("49")), t);
        assert!((p.rate() - 50.0 * HEADROOM).abs() < 1e-9, "{}", p.rate());
        let start = Instant::now();
        for _ in 0..25 {
            p.acquire().await;
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
        // Early in a window: this process sends one request, then another 0.3 s later; in
        // between the server counted 15 requests of someone else's (50/s).
        loop {
            if (0.05..0.4).contains(&wall_now().fract()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let t = p.acquire().await;
        p.observe(Quota::parse(Some("50, 50;w=1"), Some("49")), t);
        let alone = p.rate();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = p.acquire().await;
        p.observe(Quota::parse(Some("50, 50;w=1"), Some("33")), t);
        assert!(
            p.rate() < alone - 5.0 && p.rate() > 25.0,
            "{} (alone {alone})",
            p.rate()
        );
        let capped = Pacer::new(40.0, Some(5.0));
        assert_eq!(capped.rate(), 5.0);
        let t = capped.acquire().await;
        capped.observe(Quota::parse(Some("50, 50;w=1"), Some("49")), t);
        assert_eq!(capped.rate(), 5.0);
    }

    #[tokio::test]
    async fn a_spent_window_is_waited_out() {
        let p = Pacer::new(40.0, None);
        let t = p.acquire().await;
        p.observe(Quota::parse(Some("50, 50;w=1"), Some("0")), t);
        let next = p.acquire().await;
        assert_ne!(
            next.wall.floor(),
            t.wall.floor(),
            "the next request goes into the next window"
        );
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

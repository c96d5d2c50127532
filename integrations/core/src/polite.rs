//! Politeness every HTTP connector wraps its calls in: a token-bucket rate limiter shared by all
//! concurrent requests, retries with full-jitter exponential backoff, and a call counter (API calls
//! cost money and hit rate limits, so every report counts them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A token bucket; `acquire` waits for a token.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `rate` requests per second with a burst of one second's worth (at least 1).
    pub fn new(rate: f64) -> Self {
        let burst = rate.max(1.0);
        RateLimiter {
            rate,
            burst,
            state: tokio::sync::Mutex::new((burst, Instant::now())),
        }
    }

    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Retry schedule.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        exp.mul_f64(rand::random::<f64>())
    }
}

/// Counts calls.
#[derive(Debug, Default)]
pub struct CallCounter(AtomicU64);

impl CallCounter {
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limiter_holds_the_rate() {
        let l = RateLimiter::new(20.0);
        let start = Instant::now();
        for _ in 0..40 {
            l.acquire().await;
        }
        // 20 burst + 20 at 20/s ≈ 1 s.
        let t = start.elapsed();
        assert!(
            t >= Duration::from_millis(900) && t < Duration::from_millis(2000),
            "{t:?}"
        );
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy::default();
        for a in 1..20 {
            assert!(p.delay(a) <= p.cap);
        }
        let d: Vec<Duration> = (0..10).map(|_| p.delay(3)).collect();
        assert!(d.iter().any(|x| *x != d[0]));
    }
}

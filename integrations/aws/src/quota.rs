//! AWS's per-region request quotas, one token bucket each. Secrets Manager throttles each group
//! of APIs separately (the quotas page: DescribeSecret + GetSecretValue 10 000/s, ListSecrets
//! 100/s, the resource-policy calls 50/s, PutSecretValue + UpdateSecret + UpdateSecretVersionStage
//! and friends 50/s; CreateSecret, DeleteSecret and ListSecretVersionIds 50/s, from memory and
//! unverified), so one shared bucket would hold every API to the slowest one. Each bucket runs at
//! `share` of its quota (default 95 %: the rest is left to the account's own traffic), and
//! `--max-rate` adds one bucket over them all. Calls are counted per API, so a run can tell how
//! close it came to the slowest quota it touched.

use std::sync::atomic::{AtomicU64, Ordering};

use secretsnap_core::polite::RateLimiter;

/// The quota group a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// DescribeSecret, GetSecretValue.
    Read,
    /// ListSecrets.
    List,
    /// GetResourcePolicy, PutResourcePolicy, DeleteResourcePolicy.
    Policy,
    /// ListSecretVersionIds.
    Versions,
    /// CreateSecret.
    Create,
    /// PutSecretValue, UpdateSecret, UpdateSecretVersionStage.
    Write,
    /// DeleteSecret.
    Delete,
    /// STS GetCallerIdentity (once per client).
    Sts,
}

impl Api {
    pub const ALL: [Api; 8] = [
        Api::Read,
        Api::List,
        Api::Policy,
        Api::Versions,
        Api::Create,
        Api::Write,
        Api::Delete,
        Api::Sts,
    ];

    /// AWS's documented requests per second per region.
    pub fn quota(self) -> f64 {
        match self {
            Api::Read => 10_000.0,
            Api::List | Api::Sts => 100.0,
            Api::Policy | Api::Versions | Api::Create | Api::Write | Api::Delete => 50.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::Read => "DescribeSecret+GetSecretValue",
            Api::List => "ListSecrets",
            Api::Policy => "resource policies",
            Api::Versions => "ListSecretVersionIds",
            Api::Create => "CreateSecret",
            Api::Write => "PutSecretValue+UpdateSecret+UpdateSecretVersionStage",
            Api::Delete => "DeleteSecret",
            Api::Sts => "GetCallerIdentity",
        }
    }

    fn index(self) -> usize {
        Api::ALL
            .iter()
            .position(|a| *a == self)
            .expect("every api is listed")
    }
}

/// One bucket and one counter per quota group, and the optional overall cap.
#[derive(Debug)]
pub struct Quotas {
    buckets: Vec<RateLimiter>,
    counts: Vec<AtomicU64>,
    total: Option<RateLimiter>,
}

impl Quotas {
    /// Buckets at `share` of each quota, all under `max_rate` when given.
    pub fn new(share: f64, max_rate: Option<f64>) -> Quotas {
        let share = share.clamp(0.01, 1.0);
        Quotas {
            buckets: Api::ALL
                .iter()
                .map(|a| {
                    let rate = a.quota() * share;
                    RateLimiter::new(max_rate.map_or(rate, |m| rate.min(m)))
                })
                .collect(),
            counts: Api::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            total: max_rate.map(RateLimiter::new),
        }
    }

    /// Waits until a call of `api` may go, and counts it.
    pub async fn slot(&self, api: Api) {
        if let Some(t) = &self.total {
            t.acquire().await;
        }
        self.buckets[api.index()].acquire().await;
        self.counts[api.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls per quota group so far (first attempts; the SDK's retries are in `calls`).
    pub fn counts(&self) -> Vec<(Api, u64)> {
        Api::ALL
            .iter()
            .map(|a| (*a, self.counts[a.index()].load(Ordering::Relaxed)))
            .collect()
    }

    /// The least time the calls so far need at AWS's quotas: the busiest group's calls over its
    /// quota.
    pub fn floor_seconds(&self) -> f64 {
        self.counts()
            .into_iter()
            .map(|(a, n)| n as f64 / a.quota())
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn groups_are_paced_apart_and_counted() {
        let q = Quotas::new(0.95, None);
        let start = std::time::Instant::now();
        // 40 policy calls fit the policy bucket's first second; reads are not held by them.
        for _ in 0..40 {
            q.slot(Api::Policy).await;
            q.slot(Api::Read).await;
        }
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
        let counts = q.counts();
        assert!(counts.contains(&(Api::Policy, 40)) && counts.contains(&(Api::Read, 40)));
        assert!((q.floor_seconds() - 40.0 / 50.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn max_rate_caps_every_group() {
        let q = Quotas::new(0.95, Some(10.0));
        let start = std::time::Instant::now();
        for _ in 0..20 {
            q.slot(Api::Read).await;
        }
        // A burst of 10, then 10 more at 10/s.
        assert!(start.elapsed() >= std::time::Duration::from_millis(900));
    }
}

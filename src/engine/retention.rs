//! Retention: which snapshots a keep-policy keeps, with restic's `forget` semantics. Snapshots are
//! grouped (source × environment × data classes) and each group is decided on its own, newest
//! first: `last` keeps the n newest; `hourly`/`daily`/`weekly`/`monthly`/`yearly` keep the newest
//! snapshot of each of the n most recent periods that have one; `within` keeps every snapshot
//! taken within that span before the group's newest snapshot. A snapshot any rule keeps is kept,
//! and the decision lists every rule that kept it. Pure functions of the snapshot list: no clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, Utc};
use secretsnap_store::{Id, SnapshotInfo};
use serde::Serialize;

/// A span of calendar time: `1y6m`, `30d`, `12h`, `2w`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl std::str::FromStr for Span {
    type Err = String;
    fn from_str(text: &str) -> Result<Span, String> {
        let bad =
            || format!("duration {text:?}: use numbers with y, m, w, d, h (e.g. 1y6m, 30d, 12h)");
        let mut span = Span::default();
        let mut n = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                n.push(c);
                continue;
            }
            let v: u32 = n.parse().map_err(|_| bad())?;
            n.clear();
            match c {
                'y' => span.months += 12 * v,
                'm' => span.months += v,
                'w' => span.days += 7 * v,
                'd' => span.days += v,
                'h' => span.hours += v,
                _ => return Err(bad()),
            }
        }
        if !n.is_empty() || span == Span::default() {
            return Err(bad());
        }
        Ok(span)
    }
}

impl Span {
    /// `t` minus this span (calendar months, then days and hours).
    pub fn before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let t = t.checked_sub_months(Months::new(self.months)).unwrap_or(t);
        t - chrono::Duration::days(self.days.into()) - chrono::Duration::hours(self.hours.into())
    }
}

/// How many snapshots to keep; zero = the rule is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    pub within: Option<Span>,
}

impl KeepPolicy {
    /// A policy with no rule would forget everything; callers refuse it.
    pub fn is_empty(&self) -> bool {
        *self == KeepPolicy::default()
    }
}

/// The decision for one snapshot.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Decision {
    pub id: Id,
    pub time: DateTime<Utc>,
    pub group: String,
    pub keep: bool,
    /// The rules that kept it (`last`, `daily 2026-11-23`, `within 30d`, …).
    pub reasons: Vec<String>,
}

/// The retention group of a snapshot: source, environment and data classes.
pub fn group_of(s: &SnapshotInfo) -> String {
    let m = &s.header.meta;
    let mut classes = m.data_classes.clone();
    classes.sort();
    format!(
        "{} env={} classes={}",
        m.source,
        m.environment.as_deref().unwrap_or("-"),
        if classes.is_empty() {
            "-".into()
        } else {
            classes.join(",")
        }
    )
}

type Bucket = fn(&DateTime<Utc>) -> String;

const BUCKETS: [(&str, Bucket); 5] = [
    ("hourly", |t| t.format("%Y-%m-%d %H:00").to_string()),
    ("daily", |t| t.format("%Y-%m-%d").to_string()),
    ("weekly", |t| {
        let w = t.iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    }),
    ("monthly", |t| format!("{}-{:02}", t.year(), t.month())),
    ("yearly", |t| t.year().to_string()),
];

/// Decides one group's snapshots (`(id, time)` in any order); returns them newest first.
pub fn decide_group(group: &str, snaps: &[(Id, DateTime<Utc>)], p: &KeepPolicy) -> Vec<Decision> {
    let mut sorted = snaps.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.to_hex().cmp(&a.0.to_hex())));
    let newest = sorted.first().map(|s| s.1);
    let counts = [p.hourly, p.daily, p.weekly, p.monthly, p.yearly];
    let mut left = counts;
    let mut last_bucket: [Option<String>; 5] = Default::default();
    let mut last_left = p.last;
    let mut out = Vec::new();
    for (id, time) in sorted {
        let mut reasons = Vec::new();
        if last_left > 0 {
            last_left -= 1;
            reasons.push("last".to_string());
        }
        for (i, (name, bucket)) in BUCKETS.iter().enumerate() {
            if left[i] == 0 {
                continue;
            }
            let b = bucket(&time);
            if last_bucket[i].as_ref() != Some(&b) {
                left[i] -= 1;
                reasons.push(format!("{name} {b}"));
                last_bucket[i] = Some(b);
            }
        }
        if let (Some(span), Some(newest)) = (p.within, newest) {
            if time >= span.before(newest) {
                reasons.push("within".to_string());
            }
        }
        out.push(Decision {
            id,
            time,
            group: group.to_string(),
            keep: !reasons.is_empty(),
            reasons,
        });
    }
    out
}

/// Decides every snapshot, group by group.
pub fn decide(snapshots: &[SnapshotInfo], p: &KeepPolicy) -> Vec<Decision> {
    let mut groups: BTreeMap<String, Vec<(Id, DateTime<Utc>)>> = BTreeMap::new();
    for s in snapshots {
        groups
            .entry(group_of(s))
            .or_default()
            .push((s.id, s.header.time));
    }
    groups
        .iter()
        .flat_map(|(g, snaps)| decide_group(g, snaps, p))
        .collect()
}

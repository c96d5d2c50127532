//! Retention rules, table-driven with fixed times (the clock is the snapshots' own times): each
//! keep-rule alone and combined, gaps between periods, and groups decided independently, with the
//! kept set written out per case. Semantics as restic documents for `forget`.

use chrono::{DateTime, NaiveDateTime, Utc};
use secretsnap::engine::retention::{decide_group, KeepPolicy, Span};
use secretsnap_store::Id;

fn t(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
}

fn id(i: usize) -> Id {
    Id::from_hex(&format!("{i:064x}")).unwrap()
}

/// Snapshot `i` is at `times[i]`; returns the indexes kept, in ascending order.
fn kept(times: &[&str], p: &KeepPolicy) -> Vec<usize> {
    let snaps: Vec<(Id, DateTime<Utc>)> = times
        .iter()
        .enumerate()
        .map(|(i, s)| (id(i), t(s)))
        .collect();
    let mut out: Vec<usize> = decide_group("g", &snaps, p)
        .into_iter()
        .filter(|d| d.keep)
        .map(|d| (0..times.len()).find(|&i| id(i) == d.id).unwrap())
        .collect();
    out.sort();
    out
}

const TIMES: &[&str] = &[
    "2025-01-15 10:00", // 0
    "2025-06-30 23:00", // 1
    "2025-12-31 12:00", // 2
    "2026-10-01 08:00", // 3
    "2026-11-01 09:00", // 4
    "2026-11-16 09:00", // 5  (week 47)
    "2026-11-20 09:00", // 6  (week 47)
    "2026-11-21 09:00", // 7  (week 47)
    "2026-11-21 18:00", // 8  (week 47)
    "2026-11-23 08:10", // 9  (week 48)
    "2026-11-23 08:50", // 10 (week 48)
    "2026-11-23 09:05", // 11 (week 48)
];

#[test]
fn each_rule_alone_and_combined() {
    let cases: Vec<(&str, KeepPolicy, Vec<usize>)> = vec![
        ("nothing", KeepPolicy::default(), vec![]),
        (
            "last 3",
            KeepPolicy {
                last: 3,
                ..Default::default()
            },
            vec![9, 10, 11],
        ),
        (
            "last more than there are",
            KeepPolicy {
                last: 50,
                ..Default::default()
            },
            (0..12).collect(),
        ),
        (
            "hourly 2: newest of 09h and 08h on the 23rd",
            KeepPolicy {
                hourly: 2,
                ..Default::default()
            },
            vec![10, 11],
        ),
        (
            "daily 3: newest of the 23rd, 21st, 20th (days without snapshots do not count)",
            KeepPolicy {
                daily: 3,
                ..Default::default()
            },
            vec![6, 8, 11],
        ),
        (
            "weekly 2: newest of weeks 48 and 47",
            KeepPolicy {
                weekly: 2,
                ..Default::default()
            },
            vec![8, 11],
        ),
        (
            "monthly 3: November, October 2026, December 2025",
            KeepPolicy {
                monthly: 3,
                ..Default::default()
            },
            vec![2, 3, 11],
        ),
        (
            "yearly 2",
            KeepPolicy {
                yearly: 2,
                ..Default::default()
            },
            vec![2, 11],
        ),
        (
            "within 3d of the newest",
            KeepPolicy {
                within: Some("3d".parse().unwrap()),
                ..Default::default()
            },
            vec![7, 8, 9, 10, 11],
        ),
        (
            "within 1m",
            KeepPolicy {
                within: Some("1m".parse().unwrap()),
                ..Default::default()
            },
            vec![4, 5, 6, 7, 8, 9, 10, 11],
        ),
        (
            "last 1 + daily 2 + monthly 2 + yearly 3 (only two years exist)",
            KeepPolicy {
                last: 1,
                daily: 2,
                monthly: 2,
                yearly: 3,
                ..Default::default()
            },
            vec![2, 3, 8, 11],
        ),
        (
            "hourly 1 + weekly 3",
            KeepPolicy {
                hourly: 1,
                weekly: 3,
                ..Default::default()
            },
            vec![4, 8, 11],
        ),
    ];
    for (name, policy, expected) in cases {
        assert_eq!(kept(TIMES, &policy), expected, "case: {name}");
    }
}

#[test]
fn reasons_name_every_rule_that_kept_a_snapshot() {
    let snaps: Vec<(Id, DateTime<Utc>)> = TIMES
        .iter()
        .enumerate()
        .map(|(i, s)| (id(i), t(s)))
        .collect();
    let p = KeepPolicy {
        last: 1,
        daily: 1,
        yearly: 1,
        ..Default::default()
    };
    let d = decide_group("g", &snaps, &p);
    assert_eq!(d[0].id, id(11), "newest first");
    assert_eq!(d[0].reasons, ["last", "daily 2026-11-23", "yearly 2026"]);
    assert!(d[1..].iter().all(|x| !x.keep && x.reasons.is_empty()));
}

#[test]
fn groups_are_decided_independently() {
    let a: Vec<(Id, DateTime<Utc>)> = (0..3).map(|i| (id(i), t(TIMES[9 + i]))).collect();
    let b: Vec<(Id, DateTime<Utc>)> = (0..2).map(|i| (id(100 + i), t(TIMES[i]))).collect();
    let p = KeepPolicy {
        last: 1,
        ..Default::default()
    };
    let da = decide_group("a", &a, &p);
    let db = decide_group("b", &b, &p);
    assert_eq!(
        da.iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [id(2)]
    );
    assert_eq!(
        db.iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [id(101)],
        "an old group keeps its own newest"
    );
}

#[test]
fn spans_parse_and_subtract_calendar_time() {
    let s: Span = "1y2m3w4d5h".parse().unwrap();
    assert_eq!((s.months, s.days, s.hours), (14, 25, 5));
    for bad in ["", "3", "2x", "d", "1.5d"] {
        assert!(bad.parse::<Span>().is_err(), "{bad}");
    }
    let one_month: Span = "1m".parse().unwrap();
    assert_eq!(
        one_month.before(t("2026-03-31 12:00")),
        t("2026-02-28 12:00")
    );
}

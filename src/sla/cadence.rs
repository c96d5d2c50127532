//! How often something runs: a fixed interval (`6h`, `1d`) or a cron expression (five fields)
//! read in a time zone (UTC unless the configuration names one). `next_after(t)` is the one
//! question the scheduler and `status` ask. Daylight-saving changes follow croner's rules (the
//! Open Cron Pattern Specification, like Vixie cron): a fixed-time job whose time falls in the
//! spring-forward gap runs once, right after the gap; one whose time occurs twice in the
//! fall-back overlap runs once, at the first.

use std::str::FromStr;
use std::time::Duration;

use crate::sla::error::Error;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub enum Cadence {
    Every(Duration),
    /// The parsed expression, its text, and the zone its fields are read in.
    Cron(Box<croner::Cron>, String, Tz),
}

impl Cadence {
    /// `"6h"`, `"1d 12h"`, or `"cron 0 */6 * * *"`.
    pub fn parse(text: &str) -> Result<Cadence, Error> {
        if let Some(expr) = text.strip_prefix("cron ") {
            let cron = croner::Cron::from_str(expr.trim())
                .map_err(|e| Error::Cadence(format!("cron expression {expr:?}: {e}")))?;
            return Ok(Cadence::Cron(
                Box::new(cron),
                expr.trim().to_string(),
                Tz::UTC,
            ));
        }
        let d = humantime::parse_duration(text).map_err(|e| {
            Error::Cadence(format!(
                "{text:?}: {e} (e.g. 30m, 6h, 1d, or cron 0 3 * * *)"
            ))
        })?;
        if d < Duration::from_secs(60) {
            return Err(Error::Cadence(format!("{text:?}: at least one minute")));
        }
        Ok(Cadence::Every(d))
    }

    /// The same cadence with its cron fields read in `zone` (intervals have no zone).
    pub fn in_zone(self, zone: Tz) -> Cadence {
        match self {
            Cadence::Cron(c, e, _) => Cadence::Cron(c, e, zone),
            every => every,
        }
    }

    /// The zone of a cron cadence, when it is not UTC.
    pub fn zone(&self) -> Option<Tz> {
        match self {
            Cadence::Cron(_, _, z) if *z != Tz::UTC => Some(*z),
            _ => None,
        }
    }

    /// The first time after `t` this cadence fires.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Cadence::Every(d) => {
                t + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX)
            }
            Cadence::Cron(c, _, zone) => c
                .find_next_occurrence(&t.with_timezone(zone), false)
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// Human form: `every 6h` or `cron 0 */6 * * *`.
    pub fn describe(&self) -> String {
        match self {
            Cadence::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Cadence::Cron(_, e, _) => match self.zone() {
                Some(z) => format!("cron {e} ({z})"),
                None => format!("cron {e}"),
            },
        }
    }

    /// An equivalent 5-field cron expression, where one exists (for crontab and CronJob export).
    pub fn as_cron(&self) -> Option<String> {
        match self {
            Cadence::Cron(_, e, _) => Some(e.clone()),
            Cadence::Every(d) => {
                let m = d.as_secs() / 60;
                match m {
                    1..=59 if 60 % m == 0 => Some(format!("*/{m} * * * *")),
                    60 => Some("0 * * * *".into()),
                    _ if m % 60 == 0 && m < 1440 && 24 % (m / 60) == 0 => {
                        Some(format!("0 */{} * * *", m / 60))
                    }
                    1440 => Some("0 0 * * *".into()),
                    10080 => Some("0 0 * * 0".into()),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_cron() {
        let t: DateTime<Utc> = "2026-11-23T10:20:00Z".parse().unwrap();
        let every = Cadence::parse("6h").unwrap();
        assert_eq!(
            every.next_after(t).to_rfc3339(),
            "2026-11-23T16:20:00+00:00"
        );
        assert_eq!(every.as_cron().unwrap(), "0 */6 * * *");
        let cron = Cadence::parse("cron 0 3 * * *").unwrap();
        assert_eq!(cron.next_after(t).to_rfc3339(), "2026-11-24T03:00:00+00:00");
        assert!(Cadence::parse("cron 61 * * * *").is_err());
        assert!(Cadence::parse("10s").is_err());
        assert!(Cadence::parse("often").is_err());
        assert_eq!(Cadence::parse("7h").unwrap().as_cron(), None);
    }

    #[test]
    fn cron_in_a_zone_across_daylight_saving_changes() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let c = Cadence::parse("cron 30 2 * * *").unwrap().in_zone(paris);
        assert_eq!(c.describe(), "cron 30 2 * * * (Europe/Paris)");
        let next = |t: &str| c.next_after(t.parse().unwrap()).to_rfc3339();
        // Winter: 02:30 CET is 01:30 UTC.
        assert_eq!(next("2027-01-10T12:00:00Z"), "2027-01-11T01:30:00+00:00");
        // Spring forward (28 March 2027, 02:00 → 03:00): once, right after the gap.
        assert_eq!(next("2027-03-27T12:00:00Z"), "2027-03-28T01:00:00+00:00");
        assert_eq!(next("2027-03-28T01:00:00Z"), "2027-03-29T00:30:00+00:00");
        // Fall back (31 October 2027, 03:00 → 02:00): 02:30 happens twice, the job runs once.
        assert_eq!(next("2027-10-30T12:00:00Z"), "2027-10-31T00:30:00+00:00");
        assert_eq!(next("2027-10-31T00:30:00Z"), "2027-11-01T01:30:00+00:00");
    }
}

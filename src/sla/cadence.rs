//! How often something runs: a fixed interval (`6h`, `1d`) or a cron expression (five fields,
//! UTC). `next_after(t)` is the one question the scheduler and `status` ask.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub enum Cadence {
    Every(Duration),
    Cron(Box<croner::Cron>, String),
}

impl Cadence {
    /// `"6h"`, `"1d 12h"`, or `"cron 0 */6 * * *"`.
    pub fn parse(text: &str) -> Result<Cadence, String> {
        if let Some(expr) = text.strip_prefix("cron ") {
            let cron = croner::Cron::from_str(expr.trim())
                .map_err(|e| format!("cron expression {expr:?}: {e}"))?;
            return Ok(Cadence::Cron(Box::new(cron), expr.trim().to_string()));
        }
        let d = humantime::parse_duration(text)
            .map_err(|e| format!("{text:?}: {e} (e.g. 30m, 6h, 1d, or cron 0 3 * * *)"))?;
        if d < Duration::from_secs(60) {
            return Err(format!("{text:?}: at least one minute"));
        }
        Ok(Cadence::Every(d))
    }

    /// The first time after `t` this cadence fires.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Cadence::Every(d) => {
                t + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX)
            }
            Cadence::Cron(c, _) => c
                .find_next_occurrence(&t, false)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// Human form: `every 6h` or `cron 0 */6 * * *`.
    pub fn describe(&self) -> String {
        match self {
            Cadence::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Cadence::Cron(_, e) => format!("cron {e}"),
        }
    }

    /// An equivalent 5-field cron expression, where one exists (for crontab and CronJob export).
    pub fn as_cron(&self) -> Option<String> {
        match self {
            Cadence::Cron(_, e) => Some(e.clone()),
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
}

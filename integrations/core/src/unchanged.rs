//! List-only incremental backups: a source whose listing says everything a change would move
//! (AWS ListSecrets: `LastChangedDate`, the labelled versions, tags, description, key, rotation)
//! stores that listing on each secret (`Secret::listing`). When the next listing is equal, the
//! secret as the parent snapshot recorded it is carried without one more call. What the listing
//! cannot show (a resource policy, replica regions) is caught by the full read every secret gets
//! again once its last one (`Secret::scanned_at`) is older than the policy's full-scan period.

use chrono::{DateTime, Utc};

use crate::model::{Payload, Secret};

/// Marks `s` as read in full now (to the second).
pub fn mark_scanned(s: &mut Secret) {
    let now = Utc::now();
    s.scanned_at = Some(now - chrono::Duration::nanoseconds(now.timestamp_subsec_nanos().into()));
}

/// When `s` was last read in full, if it says.
pub fn scanned_at(s: &Secret) -> Option<DateTime<Utc>> {
    s.scanned_at
}

/// The secret as `recorded` (payloads `Known` for held values, `NotRead` for the others), when
/// the source lists it exactly as it did then and no recorded version is waiting for a retry of
/// a failed read; `None` asks for a full read.
pub fn carry(listed: &Secret, recorded: &Secret) -> Option<Secret> {
    let now = listed.listing.as_ref()?;
    if recorded.listing.as_ref() != Some(now) || recorded.id != listed.id {
        return None;
    }
    let retry = recorded.versions.iter().any(|v| {
        matches!(v.payload, Payload::Absent | Payload::Failed(_))
            || v.not_read
                .as_deref()
                .is_some_and(|r| r.starts_with("read failed"))
    });
    (!retry).then(|| recorded.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Version;
    use serde_json::json;

    fn secret(listed: serde_json::Value, payload: Payload) -> Secret {
        let mut s = Secret {
            id: "arn:1".into(),
            ..Default::default()
        };
        s.listing = Some(listed);
        s.versions.push(Version {
            id: "v1".into(),
            payload,
            ..Default::default()
        });
        s
    }

    #[test]
    fn carries_only_what_is_listed_the_same_and_fully_held() {
        let a = json!({"last_changed": "2026-12-01T00:00:00Z", "stages": {"v1": ["AWSCURRENT"]}});
        let b = json!({"last_changed": "2026-12-01T00:00:01Z", "stages": {"v1": ["AWSCURRENT"]}});
        let recorded = secret(a.clone(), Payload::Known);
        assert!(carry(&secret(a.clone(), Payload::Absent), &recorded).is_some());
        assert!(carry(&secret(b, Payload::Absent), &recorded).is_none());
        let mut failed = secret(a.clone(), Payload::Absent);
        failed.versions[0].failed("HTTP 500");
        assert!(carry(&secret(a.clone(), Payload::Absent), &failed).is_none());
        let mut unlisted = secret(a.clone(), Payload::Absent);
        unlisted.listing = None;
        assert!(carry(&unlisted, &recorded).is_none());
    }

    #[test]
    fn scanned_at_round_trips() {
        let mut s = Secret::default();
        assert!(scanned_at(&s).is_none());
        mark_scanned(&mut s);
        let t = scanned_at(&s).unwrap();
        assert!((Utc::now() - t).num_seconds().abs() < 5);
    }
}

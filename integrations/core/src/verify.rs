//! Whether a target holds what a snapshot says it should: field by field and value by value,
//! without ever printing a value. The demo, the conformance suite and restore drills use it.

use std::collections::BTreeSet;

use zeroize::Zeroizing;

use crate::model::{Payload, Secret};

/// A restorable version: id, status, description, value (zeroized on drop).
type Restorable<'a> = (&'a str, &'a str, &'a str, Zeroizing<Vec<u8>>);

fn ids<'a>(l: &[Restorable<'a>]) -> BTreeSet<&'a str> {
    l.iter().map(|v| v.0).collect()
}

fn restorable(s: &Secret) -> Vec<Restorable<'_>> {
    s.versions
        .iter()
        .filter_map(|v| match &v.payload {
            Payload::Bytes(b) if v.status.restorable() => Some((
                v.id.as_str(),
                v.status.as_str(),
                v.description.as_str(),
                Zeroizing::new(b.to_vec()),
            )),
            _ => None,
        })
        .collect()
}

/// Differences between what was backed up and what the target holds, by secret (no version quota).
pub fn compare(a: &[Secret], b: &[Secret]) -> Vec<String> {
    compare_within(a, b, None)
}

/// Differences between what was backed up and what a target keeping at most `max_versions`
/// versions per secret (`Capabilities::max_versions`; the newest are kept) holds, by secret.
pub fn compare_within(a: &[Secret], b: &[Secret], max_versions: Option<usize>) -> Vec<String> {
    let mut diffs = Vec::new();
    let wanted: Vec<&Secret> = a.iter().filter(|s| s.used_by.is_empty()).collect();
    if wanted.len() != b.len() {
        diffs.push(format!(
            "{} secrets restorable at the source, {} at the destination",
            wanted.len(),
            b.len()
        ));
    }
    for s in wanted {
        let Some(t) = b.iter().find(|t| t.full_name() == s.full_name()) else {
            diffs.push(format!("{}: missing at the destination", s.full_name()));
            continue;
        };
        let fields = [
            ("type", s.kind.clone(), t.kind.clone()),
            ("description", s.description.clone(), t.description.clone()),
            ("tags", format!("{:?}", s.tags), format!("{:?}", t.tags)),
            (
                "protected",
                s.protected.to_string(),
                t.protected.to_string(),
            ),
            (
                "ephemeral policy",
                format!("{:?}", s.ephemeral_policy),
                format!("{:?}", t.ephemeral_policy),
            ),
        ];
        for (name, x, y) in fields.into_iter().filter(|(_, x, y)| x != y) {
            diffs.push(format!("{}: {name} {x:?} != {y:?}", s.full_name()));
        }
        let (va, mut vb) = (restorable(s), restorable(t));
        let keep = max_versions.map_or(0, |m| va.len().saturating_sub(m));
        let va = &va[keep..]; // a version quota keeps the newest
                              // Where the target kept the version ids (AWS VersionIds), pair versions by id: the
                              // order a destination creates them in (AWS: current first) need not be the source's.
                              // A target that keeps version ids and numbers writes a placeholder for a version the
                              // backup holds no value for (so later ones keep their numbers): where dropping the
                              // target's versions named like those makes the ids agree, they are placeholders, not
                              // restored values.
        let unread: BTreeSet<&str> = s
            .versions
            .iter()
            .filter(|v| !matches!(v.payload, Payload::Bytes(_)))
            .map(|v| v.id.as_str())
            .collect();
        let kept: BTreeSet<&str> = vb
            .iter()
            .map(|v| v.0)
            .filter(|id| !unread.contains(id))
            .collect();
        if kept.len() < vb.len() && ids(va) == kept {
            vb.retain(|v| !unread.contains(v.0));
        }
        if ids(va) == ids(&vb) {
            vb.sort_by_key(|v| va.iter().position(|w| w.0 == v.0));
        }
        if va.len() != vb.len() {
            diffs.push(format!(
                "{}: {} versions restorable, {} restored",
                s.full_name(),
                va.len(),
                vb.len()
            ));
        }
        for (i, (x, y)) in va.iter().zip(vb.iter()).enumerate() {
            if x.1 != y.1 || x.2 != y.2 {
                diffs.push(format!(
                    "{} version #{i}: status/description {:?}/{:?} != {:?}/{:?}",
                    s.full_name(),
                    x.1,
                    x.2,
                    y.1,
                    y.2
                ));
            }
            if x.3 != y.3 {
                diffs.push(format!("{} version #{i}: values differ", s.full_name()));
            }
        }
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Version, VersionStatus};

    fn version(id: &str, status: VersionStatus, value: Option<&[u8]>) -> Version {
        let mut v = Version {
            id: id.into(),
            status,
            ..Default::default()
        };
        match value {
            Some(b) => v.payload = Payload::Bytes(Zeroizing::new(b.to_vec())),
            None => v.not_read_because("not read"),
        }
        v
    }

    fn secret(versions: Vec<Version>) -> Secret {
        Secret {
            name: "s".into(),
            path: "/".into(),
            versions,
            ..Default::default()
        }
    }

    /// A target that keeps numbers holds a placeholder where the backup had no value: that is
    /// not a difference. A target that renumbers is compared in order, as before.
    #[test]
    fn placeholders_keeping_numbers_are_not_differences() {
        let backup = secret(vec![
            version("1", VersionStatus::Enabled, Some(b"a")),
            version("2", VersionStatus::Disabled, None),
            version("3", VersionStatus::Enabled, Some(b"c")),
        ]);
        let numbered = secret(vec![
            version("1", VersionStatus::Enabled, Some(b"a")),
            version("2", VersionStatus::Disabled, Some(b"{}")),
            version("3", VersionStatus::Enabled, Some(b"c")),
        ]);
        assert_eq!(
            compare(std::slice::from_ref(&backup), &[numbered]),
            Vec::<String>::new()
        );
        let renumbered = secret(vec![
            version("1", VersionStatus::Enabled, Some(b"a")),
            version("2", VersionStatus::Enabled, Some(b"c")),
        ]);
        assert_eq!(
            compare(std::slice::from_ref(&backup), &[renumbered]),
            Vec::<String>::new()
        );
        let wrong = secret(vec![
            version("1", VersionStatus::Enabled, Some(b"a")),
            version("2", VersionStatus::Enabled, Some(b"x")),
        ]);
        assert_eq!(compare(&[backup], &[wrong]).len(), 1);
    }
}

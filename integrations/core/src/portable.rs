//! Moving a secret between providers (the table in `docs/cross-provider.md`). A destination calls
//! `adapt` with its own `Capabilities` before planning: same provider → unchanged; otherwise the
//! capabilities decide how the secret is rewritten into the target's terms (no provider-name
//! pairs here), and every loss is returned as a note for the plan and the report. What the target
//! has no place for is kept as metadata where it can be, so a round trip A → B → A restores it:
//! AWS VersionIds, staging labels and the binary flag travel in Scaleway version descriptions
//! (`aws:version=…;labels=…;binary`), the Scaleway type in an AWS tag (`secretsnap:scaleway-type`).

use std::borrow::Cow;

use crate::capability::Capabilities;
use crate::model::{Payload, Secret, Version, VersionStatus};

/// Description prefix carrying AWS version metadata in a Scaleway version.
pub const AWS_META_PREFIX: &str = "aws:";
/// AWS tag carrying the Scaleway secret type.
pub const SCALEWAY_TYPE_TAG: &str = "secretsnap:scaleway-type";
/// The type a secret without any value is given on the way back into a target without labels
/// (the first type it lists, Scaleway's `opaque`): such a secret needs no type tag, so an AWS
/// secret without versions comes home from Scaleway with exactly its own tags.
const UNTYPED_KIND: &str = "opaque";

/// AWS version metadata kept in a Scaleway version description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsVersionMeta {
    pub version_id: String,
    pub labels: Vec<String>,
    pub binary: bool,
}

impl AwsVersionMeta {
    pub fn encode(&self) -> String {
        format!(
            "{AWS_META_PREFIX}version={};labels={}{}",
            self.version_id,
            self.labels.join(","),
            if self.binary { ";binary" } else { "" }
        )
    }

    pub fn decode(description: &str) -> Option<AwsVersionMeta> {
        let rest = description.strip_prefix(AWS_META_PREFIX)?;
        let mut m = AwsVersionMeta::default();
        for part in rest.split(';') {
            match part.split_once('=') {
                Some(("version", v)) => m.version_id = v.to_string(),
                Some(("labels", l)) => {
                    m.labels = l
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                }
                None if part == "binary" => m.binary = true,
                _ => return None,
            }
        }
        (!m.version_id.is_empty()).then_some(m)
    }
}

/// Whether a version was binary at its AWS source.
pub fn is_binary(v: &Version) -> bool {
    v.extras.get("binary").and_then(|b| b.as_bool()) == Some(true)
}

fn source_provider(s: &Secret) -> &str {
    s.location
        .as_ref()
        .map(|l| l.provider.as_str())
        .unwrap_or("")
}

/// Rewrites `s` for a target that can hold what `target` declares; returns the adapted secret
/// (borrowed, not copied, when nothing changes) and what does not carry over. Same provider →
/// unchanged. Otherwise the target's capabilities decide: versions told apart by staging labels
/// go to a target without labels as ordered revisions (labels and ids kept in descriptions where
/// it has them); revisions go to a target with labels as versions with derived ids and
/// `AWSCURRENT` on the newest enabled one; a secret type the target does not hold is mapped; and
/// every field the target has no place for is named in a note.
pub fn adapt<'a>(s: &'a Secret, target: &Capabilities) -> (Cow<'a, Secret>, Vec<String>) {
    let from = source_provider(s);
    if from == target.provider || from.is_empty() {
        return (Cow::Borrowed(s), vec![]);
    }
    let labelled = s.versions.iter().any(|v| !v.labels.is_empty());
    let foreign_type = !target.secret_types.contains(&s.kind.as_str());
    match (labelled, target.labels) {
        (true, false) => owned(labels_to_revisions(s, target)),
        (false, true) => owned(revisions_to_labels(s, target)),
        _ if foreign_type && !target.labels => owned(labels_to_revisions(s, target)),
        _ => (
            Cow::Borrowed(s),
            vec![format!(
                "no mapping from {from} to {}: fields copied as they are",
                target.provider
            )],
        ),
    }
}

fn owned<'a>((s, notes): (Secret, Vec<String>)) -> (Cow<'a, Secret>, Vec<String>) {
    (Cow::Owned(s), notes)
}

/// A value a Scaleway `key_value` secret accepts: a JSON object of scalars.
fn is_key_value(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(m)) => m.values().all(|v| {
            !matches!(
                v,
                serde_json::Value::Object(_)
                    | serde_json::Value::Array(_)
                    | serde_json::Value::Null
            )
        }),
        _ => false,
    }
}

fn labels_to_revisions(s: &Secret, target: &Capabilities) -> (Secret, Vec<String>) {
    let mut t = s.clone();
    let mut notes = Vec::new();
    let kind_tag = format!("{SCALEWAY_TYPE_TAG}=");
    let kept_kind = s
        .tags
        .iter()
        .find_map(|tag| tag.strip_prefix(&kind_tag))
        .map(String::from);
    t.tags.retain(|tag| !tag.starts_with(&kind_tag));
    let values: Vec<&[u8]> = s
        .versions
        .iter()
        .filter_map(|v| match &v.payload {
            Payload::Bytes(b) => Some(&b[..]),
            _ => None,
        })
        .collect();
    let any_binary = s.versions.iter().any(is_binary);
    if !target.secret_types.contains(&s.kind.as_str()) {
        let holds = |k: &str| target.secret_types.contains(&k);
        let unread = s
            .versions
            .iter()
            .any(|v| matches!(v.payload, Payload::Stored(_)));
        if unread && holds("key_value") && !any_binary {
            notes.push(
                "values not read (dry run): whether the values are key/value JSON, and so the \
                 secret's type, is decided when restoring"
                    .into(),
            );
        }
        t.kind = kept_kind.filter(|k| holds(k)).unwrap_or_else(|| {
            if holds("key_value")
                && !any_binary
                && !values.is_empty()
                && values.iter().all(|b| is_key_value(b))
            {
                "key_value".into()
            } else {
                target.secret_types.first().copied().unwrap_or("").into()
            }
        });
    }
    // AWSCURRENT becomes the newest enabled revision; versions without labels (deprecated) are
    // kept disabled; ids, labels and the binary flag live on in the description.
    let mut versions = s.versions.clone();
    if let Some(i) = versions
        .iter()
        .position(|v| v.labels.iter().any(|l| l == "AWSCURRENT"))
    {
        let current = versions.remove(i);
        versions.push(current);
    }
    for v in &mut versions {
        if target.disabled_versions && v.status == VersionStatus::Enabled && v.labels.is_empty() {
            v.status = VersionStatus::Disabled;
        }
        if target.version_descriptions {
            v.description = AwsVersionMeta {
                version_id: v.id.clone(),
                labels: v.labels.clone(),
                binary: is_binary(v),
            }
            .encode();
        }
    }
    if !target.version_descriptions {
        notes.push("version ids and staging labels not carried: the target keeps neither".into());
    }
    t.versions = versions;
    if let Some(k) = &s.key_id {
        notes.push(format!(
            "KMS key {k} has no {} equivalent: the target's default key is used",
            target.title
        ));
        t.key_id = None;
    }
    if !target.policies && s.extras.contains_key("resource_policy") {
        notes.push(format!(
            "resource policy not carried: {} secrets have none (IAM policies apply to them)",
            target.title
        ));
    }
    if !target.replication && !s.replicas().is_empty() {
        notes.push(format!(
            "replica regions not carried: {} has no replication",
            target.title
        ));
    }
    if !target.rotation
        && s.extras
            .get("rotation")
            .and_then(|r| r.get("enabled"))
            .and_then(|e| e.as_bool())
            == Some(true)
    {
        notes.push(format!(
            "rotation settings not carried: {} has no rotation Lambda",
            target.title
        ));
    }
    if let Some(kind) = s
        .extras
        .get("external")
        .and_then(|x| x.get("type"))
        .and_then(|k| k.as_str())
    {
        notes.push(format!(
            "managed external secret type {kind}, its rotation metadata and role not carried: \
             {} has no managed external secrets",
            target.title
        ));
    }
    notes.push("version creation dates are not carried (the target sets its own)".into());
    (t, notes)
}

/// A deterministic AWS ClientRequestToken (32 hex characters) for a version without an AWS id:
/// derived from ids only, never from a value, so a re-run reuses it and creates nothing twice.
pub fn derived_token(secret_id: &str, version_id: &str) -> String {
    let h = blake3::derive_key(
        "secretsnap 2026 portable version token",
        format!("{secret_id}\n{version_id}").as_bytes(),
    );
    h[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn revisions_to_labels(s: &Secret, target: &Capabilities) -> (Secret, Vec<String>) {
    let mut t = s.clone();
    let mut notes = Vec::new();
    let from_aws = !s.versions.is_empty()
        && s.versions
            .iter()
            .all(|v| AwsVersionMeta::decode(&v.description).is_some());
    let inferred_home = s.versions.is_empty() && s.kind == UNTYPED_KIND;
    if !from_aws && !inferred_home {
        t.tags.push(format!("{SCALEWAY_TYPE_TAG}={}", s.kind));
    }
    let newest_enabled = s
        .versions
        .iter()
        .rev()
        .find(|v| v.status == VersionStatus::Enabled && v.payload.has_value())
        .map(|v| v.id.clone());
    let mut lost_descriptions = 0;
    for v in &mut t.versions {
        let meta = AwsVersionMeta::decode(&v.description);
        match meta {
            Some(m) => {
                v.id = m.version_id;
                v.labels = m.labels;
                v.extras.insert("binary".into(), m.binary.into());
            }
            None => {
                if !v.description.is_empty() {
                    lost_descriptions += 1;
                }
                v.labels = if Some(&v.id) == newest_enabled.as_ref() {
                    vec!["AWSCURRENT".into()]
                } else {
                    vec![]
                };
                v.id = derived_token(&s.id, &v.id);
            }
        }
        if !target.disabled_versions && v.status == VersionStatus::Disabled {
            v.status = VersionStatus::Enabled;
        }
        if !target.version_descriptions {
            v.description.clear();
        }
    }
    let title = target.title;
    if !target.version_descriptions && lost_descriptions > 0 {
        notes.push(format!(
            "{lost_descriptions} version descriptions not carried: {title} versions have none"
        ));
    }
    if !target.protection && s.protected {
        notes.push(format!(
            "protection not carried: {title} has no delete protection flag (use a resource \
             policy that denies DeleteSecret)"
        ));
    }
    if !target.expiry && s.ephemeral_policy.is_some() {
        notes.push(format!(
            "ephemeral policy not carried: {title} secrets do not expire"
        ));
    }
    if !target.disabled_versions
        && s.versions
            .iter()
            .any(|v| v.status == VersionStatus::Disabled)
    {
        notes.push("disabled versions become deprecated versions (no staging label)".into());
    }
    notes.push(format!(
        "revision numbers become {title} VersionIds derived from them; creation dates are not \
         carried"
    ));
    (t, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_meta_round_trips() {
        let m = AwsVersionMeta {
            version_id: "0123456789abcdef0123456789abcdef".into(),
            labels: vec!["AWSCURRENT".into(), "GOLDEN".into()],
            binary: true,
        };
        assert_eq!(AwsVersionMeta::decode(&m.encode()), Some(m));
        assert_eq!(AwsVersionMeta::decode("rotation 2"), None);
        let none = AwsVersionMeta {
            version_id: "x".repeat(32),
            labels: vec![],
            binary: false,
        };
        assert_eq!(AwsVersionMeta::decode(&none.encode()), Some(none));
    }

    const LABELLED: Capabilities = Capabilities {
        provider: "labelled",
        title: "Labelled",
        secret_types: &["string", "binary"],
        max_versions: None,
        max_value_size: 65_536,
        labels: true,
        protection: false,
        binary: true,
        policies: true,
        replication: true,
        version_descriptions: false,
        disabled_versions: false,
        rotation: true,
        expiry: false,
    };
    const TYPED: Capabilities = Capabilities {
        provider: "typed",
        title: "Typed",
        secret_types: &["opaque", "certificate", "key_value"],
        max_versions: Some(20),
        max_value_size: 65_536,
        labels: false,
        protection: true,
        binary: false,
        policies: false,
        replication: false,
        version_descriptions: true,
        disabled_versions: true,
        rotation: false,
        expiry: true,
    };

    fn at(provider: &str, mut s: Secret) -> Secret {
        s.location = Some(crate::model::Location {
            provider: provider.into(),
            region: "r".into(),
            scope: String::new(),
        });
        s
    }

    /// A secret without any version goes to a typed target and back with its own tags only;
    /// a typed secret without versions keeps its type through the labelled target.
    #[test]
    fn a_secret_without_versions_round_trips_without_a_stray_tag() {
        let original = at(
            "labelled",
            Secret {
                name: "empty".into(),
                kind: "string".into(),
                tags: vec!["team=payments".into()],
                ..Default::default()
            },
        );
        let (there, _) = adapt(&original, &TYPED);
        let there = at("typed", there.into_owned());
        assert_eq!(there.kind, "opaque");
        let (back, _) = adapt(&there, &LABELLED);
        assert_eq!(back.tags, original.tags);

        let cert = at(
            "typed",
            Secret {
                kind: "certificate".into(),
                ..Default::default()
            },
        );
        let (away, _) = adapt(&cert, &LABELLED);
        // Read back from the labelled provider, whose kinds are its own.
        let mut away = at("labelled", away.into_owned());
        away.kind = "string".into();
        let (home, _) = adapt(&away, &TYPED);
        assert_eq!(home.kind, "certificate");
        assert!(home.tags.is_empty(), "{:?}", home.tags);
    }

    #[test]
    fn tokens_are_stable_and_aws_shaped() {
        let a = derived_token("secret-id", "3");
        assert_eq!(a, derived_token("secret-id", "3"));
        assert_ne!(a, derived_token("secret-id", "4"));
        assert_eq!(a.len(), 32);
    }
}

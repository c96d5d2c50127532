//! Moving a secret between providers (the table in `docs/cross-provider.md`). The restore loop
//! calls `adapt` with the capabilities of the provider a secret comes from and of the target,
//! before the destination plans it: same provider → unchanged; otherwise the capabilities decide
//! how the secret is rewritten into the target's terms, and every loss is returned as a note for
//! the plan and the report. No provider's name or reserved word is written here: what the target
//! has no place for is kept as metadata named after the provider it belongs to, so a round trip
//! A → B → A restores it. Version ids, labels and the binary flag of a provider with labels
//! travel in version descriptions (`<provider>:version=…;labels=…;binary`), the type of a provider
//! with types in a tag (`secretsnap:<provider>-type`).

use std::borrow::Cow;

use crate::capability::Capabilities;
use crate::model::{Payload, Secret, Version, VersionStatus};

/// The tag carrying a secret's type for `typed`, the provider that has the type, while the
/// secret lives in a provider without it.
fn type_tag(typed: &str) -> String {
    format!("secretsnap:{typed}-type=")
}

/// Version metadata of `provider` (a provider with labels) kept in a version description of a
/// provider without labels: `<provider>:version=<id>;labels=<l,…>[;binary]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelledVersionMeta {
    pub version_id: String,
    pub labels: Vec<String>,
    pub binary: bool,
}

impl LabelledVersionMeta {
    pub fn encode(&self, provider: &str) -> String {
        format!(
            "{provider}:version={};labels={}{}",
            self.version_id,
            self.labels.join(","),
            if self.binary { ";binary" } else { "" }
        )
    }

    pub fn decode(provider: &str, description: &str) -> Option<LabelledVersionMeta> {
        let rest = description
            .strip_prefix(provider)
            .and_then(|r| r.strip_prefix(':'))?;
        let mut m = LabelledVersionMeta::default();
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

/// Whether a version was binary at its source (a provider that tells binary from text).
pub fn is_binary(v: &Version) -> bool {
    v.binary == Some(true)
}

fn source_provider(s: &Secret) -> &str {
    s.location
        .as_ref()
        .map(|l| l.provider.as_str())
        .unwrap_or("")
}

/// Rewrites `s` for a target that can hold what `target` declares; returns the adapted secret
/// (borrowed, not copied, when nothing changes) and what does not carry over. `origin` is what
/// the provider the secret comes from declares (`None`: a provider this process does not know,
/// whose conventions are then not read back). Same provider → unchanged. Otherwise the
/// capabilities decide: versions told apart by labels go to a target without labels as ordered
/// revisions (labels and ids kept in descriptions where it has them, the origin's current
/// version last); revisions go to a target with labels as versions with derived ids and the
/// target's current label on the newest enabled one; a secret type the target does not hold is
/// mapped; and every field the target has no place for is named in a note.
pub fn adapt<'a>(
    s: &'a Secret,
    origin: Option<&Capabilities>,
    target: &Capabilities,
) -> (Cow<'a, Secret>, Vec<String>) {
    let from = source_provider(s);
    if from == target.provider || from.is_empty() {
        return (Cow::Borrowed(s), vec![]);
    }
    let labelled = s.versions.iter().any(|v| !v.labels.is_empty());
    let foreign_type = !target.secret_types.contains(&s.kind.as_str());
    let current = origin.and_then(|o| o.current_label);
    match (labelled, target.labels) {
        (true, false) => owned(labels_to_revisions(s, from, current, target)),
        (false, true) => owned(revisions_to_labels(s, from, origin, target)),
        _ if foreign_type && !target.labels => owned(labels_to_revisions(s, from, current, target)),
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

/// A value a structured secret type accepts (`Capabilities::structured_type`): a JSON object of
/// scalars.
fn is_object_of_scalars(bytes: &[u8]) -> bool {
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

/// `from` has labels and `current` is its current label; `target` has none.
fn labels_to_revisions(
    s: &Secret,
    from: &str,
    current: Option<&str>,
    target: &Capabilities,
) -> (Secret, Vec<String>) {
    let mut t = s.clone();
    let mut notes = Vec::new();
    let kind_tag = type_tag(target.provider);
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
        let structured = target.structured_type.filter(|k| holds(k));
        if unread && structured.is_some() && !any_binary {
            notes.push(
                "values not read (dry run): whether the values are key/value JSON, and so the \
                 secret's type, is decided when restoring"
                    .into(),
            );
        }
        t.kind = kept_kind
            .filter(|k| holds(k))
            .unwrap_or_else(|| match structured {
                Some(k)
                    if !any_binary
                        && !values.is_empty()
                        && values.iter().all(|b| is_object_of_scalars(b)) =>
                {
                    k.into()
                }
                _ => target.secret_types.first().copied().unwrap_or("").into(),
            });
    }
    // The current version becomes the newest enabled revision; versions without labels
    // (deprecated) are kept disabled; ids, labels and the binary flag live on in the description.
    let mut versions = s.versions.clone();
    if let Some(i) = current.and_then(|c| {
        versions
            .iter()
            .position(|v| v.labels.iter().any(|l| l == c))
    }) {
        let current = versions.remove(i);
        versions.push(current);
    }
    // Only where versions carry labels does a version without one mean "deprecated".
    let labelled = s.versions.iter().any(|v| !v.labels.is_empty());
    for v in &mut versions {
        if labelled
            && target.disabled_versions
            && v.status == VersionStatus::Enabled
            && v.labels.is_empty()
        {
            v.status = VersionStatus::Disabled;
        }
        if target.version_descriptions {
            v.description = LabelledVersionMeta {
                version_id: v.id.clone(),
                labels: v.labels.clone(),
                binary: is_binary(v),
            }
            .encode(from);
        }
    }
    if !target.version_descriptions {
        notes.push("version ids and staging labels not carried: the target keeps neither".into());
    }
    t.versions = versions;
    if let Some(k) = &s.key_id {
        notes.push(format!(
            "encryption key {k} has no {} equivalent: the target's default key is used",
            target.title
        ));
        t.key_id = None;
    }
    if !target.policies && s.resource_policy.is_some() {
        notes.push(format!(
            "resource policy not carried: {} secrets have none (IAM policies apply to them)",
            target.title
        ));
    }
    if !target.replication && !s.replica_regions().is_empty() {
        notes.push(format!(
            "replica regions not carried: {} has no replication",
            target.title
        ));
    }
    if !target.rotation && s.rotation.as_ref().is_some_and(|r| r.enabled) {
        notes.push(format!(
            "rotation settings not carried: {} has no rotation",
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

/// A deterministic version token (32 hex characters, what a provider with labels takes as a
/// client request token) for a version without such an id:
/// derived from ids only, never from a value, so a re-run reuses it and creates nothing twice.
pub fn derived_token(secret_id: &str, version_id: &str) -> String {
    let h = blake3::derive_key(
        "secretsnap 2026 portable version token",
        format!("{secret_id}\n{version_id}").as_bytes(),
    );
    h[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `from` (described by `origin` when known) has no labels; `target` has.
fn revisions_to_labels(
    s: &Secret,
    from: &str,
    origin: Option<&Capabilities>,
    target: &Capabilities,
) -> (Secret, Vec<String>) {
    let mut t = s.clone();
    let mut notes = Vec::new();
    let home = target.provider;
    let coming_home = !s.versions.is_empty()
        && s.versions
            .iter()
            .all(|v| LabelledVersionMeta::decode(home, &v.description).is_some());
    // A secret without values was given the origin's first type on its way in (see
    // `labels_to_revisions`): that type needs no tag to be inferred again.
    let inferred_home = s.versions.is_empty()
        && origin.and_then(|o| o.secret_types.first()) == Some(&s.kind.as_str());
    if !coming_home && !inferred_home {
        t.tags.push(format!("{}{}", type_tag(from), s.kind));
    }
    let newest_enabled = s
        .versions
        .iter()
        .rev()
        .find(|v| v.status == VersionStatus::Enabled && v.payload.has_value())
        .map(|v| v.id.clone());
    let mut lost_descriptions = 0;
    for v in &mut t.versions {
        let meta = LabelledVersionMeta::decode(home, &v.description);
        match meta {
            Some(m) => {
                v.id = m.version_id;
                v.labels = m.labels;
                v.binary = Some(m.binary);
            }
            None => {
                if !v.description.is_empty() {
                    lost_descriptions += 1;
                }
                v.labels = match target.current_label {
                    Some(c) if Some(&v.id) == newest_enabled.as_ref() => vec![c.into()],
                    _ => vec![],
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
        "revision numbers become {title} version ids derived from them; creation dates are not \
         carried"
    ));
    (t, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_meta_round_trips() {
        let m = LabelledVersionMeta {
            version_id: "0123456789abcdef0123456789abcdef".into(),
            labels: vec!["CURRENT".into(), "GOLDEN".into()],
            binary: true,
        };
        assert_eq!(
            m.encode("labelled"),
            "labelled:version=0123456789abcdef0123456789abcdef;labels=CURRENT,GOLDEN;binary"
        );
        assert_eq!(
            LabelledVersionMeta::decode("labelled", &m.encode("labelled")),
            Some(m.clone())
        );
        assert_eq!(
            LabelledVersionMeta::decode("other", &m.encode("labelled")),
            None
        );
        assert_eq!(LabelledVersionMeta::decode("labelled", "rotation 2"), None);
        let none = LabelledVersionMeta {
            version_id: "x".repeat(32),
            labels: vec![],
            binary: false,
        };
        assert_eq!(
            LabelledVersionMeta::decode("l", &none.encode("l")),
            Some(none)
        );
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
        current_label: Some("CURRENT"),
        structured_type: None,
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
        current_label: None,
        structured_type: Some("key_value"),
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
        let (there, _) = adapt(&original, Some(&LABELLED), &TYPED);
        let there = at("typed", there.into_owned());
        assert_eq!(there.kind, "opaque");
        let (back, _) = adapt(&there, Some(&TYPED), &LABELLED);
        assert_eq!(back.tags, original.tags);

        let cert = at(
            "typed",
            Secret {
                kind: "certificate".into(),
                ..Default::default()
            },
        );
        let (away, _) = adapt(&cert, Some(&TYPED), &LABELLED);
        // Read back from the labelled provider, whose kinds are its own.
        let mut away = at("labelled", away.into_owned());
        away.kind = "string".into();
        let (home, _) = adapt(&away, Some(&LABELLED), &TYPED);
        assert_eq!(home.kind, "certificate");
        assert!(home.tags.is_empty(), "{:?}", home.tags);
    }

    #[test]
    fn tokens_are_stable_and_32_hex_digits() {
        let a = derived_token("secret-id", "3");
        assert_eq!(a, derived_token("secret-id", "3"));
        assert_ne!(a, derived_token("secret-id", "4"));
        assert_eq!(a.len(), 32);
    }
}

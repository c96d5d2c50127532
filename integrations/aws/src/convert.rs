//! AWS shapes ↔ the shared model. Names: `a/b/c` is path `/a/b` and name `c` (the original name
//! is kept in `extras.aws_name`, so AWS → AWS restores it exactly, leading slash included). Tags:
//! `key=value` strings, the exact pairs in `extras.aws_tags`. Rotation settings, resource policy,
//! primary region and owning service live in `extras` and the model's fields.

use aws_sdk_secretsmanager::primitives::DateTime;
use aws_sdk_secretsmanager::types::{ExternalSecretRotationMetadataItem, Tag};
use secretsnap_core::{Location, Secret};
use serde_json::{json, Value};

/// An SDK time as the model holds it.
pub fn when(t: Option<&DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// An SDK time as text, to the microsecond (`""` for none): how listings are fingerprinted.
pub fn time(t: Option<&DateTime>) -> String {
    t.and_then(|t| {
        chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    })
    .unwrap_or_default()
}

/// Splits an AWS name into (path, name).
pub fn split_name(full: &str) -> (String, String) {
    match full.rsplit_once('/') {
        Some((dir, base)) if !base.is_empty() => {
            let dir = dir.trim_start_matches('/');
            (
                if dir.is_empty() {
                    "/".into()
                } else {
                    format!("/{dir}")
                },
                base.to_string(),
            )
        }
        _ => ("/".into(), full.to_string()),
    }
}

/// The AWS name for a secret: the original when it came from AWS, else `path/name` without the
/// leading slash.
pub fn aws_name(s: &Secret) -> String {
    s.extras
        .get("aws_name")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| s.full_name().trim_start_matches('/').to_string())
}

/// Tags for AWS: the exact pairs when they came from AWS, else `key=value` strings split at the
/// first `=` (a tag without one becomes a key with an empty value).
pub fn aws_tags(s: &Secret) -> Vec<Tag> {
    let pairs: Vec<(String, String)> = match s.extras.get("aws_tags").and_then(Value::as_array) {
        Some(list) if s.location.as_ref().is_some_and(|l| l.provider == "aws") => list
            .iter()
            .map(|t| {
                (
                    t["Key"].as_str().unwrap_or("").to_string(),
                    t["Value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        _ => s
            .tags
            .iter()
            .map(|t| match t.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect(),
    };
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tag_pairs(tags: &[Tag]) -> (Vec<String>, Value) {
    let strings = tags
        .iter()
        .map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or("")))
        .collect();
    let exact = tags
        .iter()
        .map(|t| json!({"Key": t.key(), "Value": t.value()}))
        .collect();
    (strings, exact)
}

/// Metadata of one secret (no versions) as DescribeSecret or ListSecrets return it.
#[allow(clippy::too_many_arguments)]
pub struct Meta<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub kms_key_id: Option<&'a str>,
    pub tags: &'a [Tag],
    pub deleted: Option<&'a DateTime>,
    pub created: Option<&'a DateTime>,
    pub changed: Option<&'a DateTime>,
    pub owning_service: Option<&'a str>,
    pub primary_region: Option<&'a str>,
    pub rotation: Value,
    /// A managed external secret's fields (`external`), `Null` for any other secret.
    pub external: Value,
}

/// A managed external secret's own fields as recorded (`extras.external`): its `Type` (e.g.
/// `SalesforceClientSecret`), `ExternalSecretRotationMetadata` (key/value pairs, no value of
/// the secret) and `ExternalSecretRotationRoleArn`; `Null` when the secret has none of them.
pub fn external(
    kind: Option<&str>,
    metadata: &[ExternalSecretRotationMetadataItem],
    role_arn: Option<&str>,
) -> Value {
    if kind.is_none() && metadata.is_empty() && role_arn.is_none() {
        return Value::Null;
    }
    let metadata: Vec<Value> = metadata
        .iter()
        .map(|m| json!({"key": m.key(), "value": m.value()}))
        .collect();
    json!({"type": kind, "rotation_metadata": metadata, "rotation_role_arn": role_arn})
}

/// What restoring a managed external secret sets, read from `extras.external`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct External {
    pub kind: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub role_arn: Option<String>,
}

impl External {
    /// The recorded fields of `s`, if it is a managed external secret.
    pub fn of(s: &Secret) -> Option<External> {
        let e = s.extras.get("external").filter(|e| !e.is_null())?;
        let text = |v: &Value| v.as_str().map(String::from);
        Some(External {
            kind: e.get("type").and_then(text),
            metadata: e
                .get("rotation_metadata")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|m| Some((text(m.get("key")?)?, text(m.get("value")?)?)))
                        .collect()
                })
                .unwrap_or_default(),
            role_arn: e.get("rotation_role_arn").and_then(text),
        })
    }

    /// The metadata as the SDK takes it.
    pub fn sdk_metadata(&self) -> Vec<ExternalSecretRotationMetadataItem> {
        self.metadata
            .iter()
            .map(|(k, v)| {
                ExternalSecretRotationMetadataItem::builder()
                    .key(k)
                    .value(v)
                    .build()
            })
            .collect()
    }
}

pub fn secret(m: Meta<'_>, location: &Location) -> Secret {
    let (path, name) = split_name(m.name);
    let (tags, exact) = tag_pairs(m.tags);
    let mut s = Secret {
        location: Some(location.clone()),
        id: m.arn.to_string(),
        name,
        path,
        kind: String::new(),
        description: m.description.unwrap_or("").to_string(),
        tags,
        key_id: m.kms_key_id.map(String::from),
        managed: m.owning_service.is_some(),
        used_by: m.owning_service.map(String::from).into_iter().collect(),
        deletion_requested_at: when(m.deleted),
        created_at: when(m.created),
        updated_at: when(m.changed),
        ..Default::default()
    };
    s.extras.insert("aws_name".into(), json!(m.name));
    s.extras.insert("aws_tags".into(), exact);
    if let Some(r) = m.primary_region {
        s.extras.insert("primary_region".into(), json!(r));
    }
    if let Value::Object(mut details) = m.rotation {
        let enabled = details.remove("enabled").and_then(|e| e.as_bool()) == Some(true);
        s.rotation = Some(secretsnap_core::model::Rotation { enabled, details });
    }
    if !m.external.is_null() {
        s.extras.insert("external".into(), m.external);
    }
    s
}

/// The regions `s` was replicated to at its source, with each replica's KMS key id (recorded
/// from DescribeSecret by the source).
pub fn replicas(s: &Secret) -> Vec<(String, Option<String>)> {
    s.replicas
        .iter()
        .map(|r| {
            let key = r
                .details
                .get("kms_key_id")
                .and_then(|k| k.as_str())
                .map(String::from);
            (r.region.clone(), key)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_path_and_name() {
        assert_eq!(split_name("a/b/c"), ("/a/b".into(), "c".into()));
        assert_eq!(split_name("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split_name("plain"), ("/".into(), "plain".into()));
        assert_eq!(split_name("/top"), ("/".into(), "top".into()));
        assert_eq!(split_name("trailing/"), ("/".into(), "trailing/".into()));
    }
}

/// Managed external secrets below the SDK (moto 5.2.5 does not model them): what DescribeSecret
/// returns is recorded, and read back as what CreateSecret and RotateSecret are given.
#[cfg(test)]
mod external_tests {
    use super::*;

    #[test]
    fn a_managed_external_secret_is_recorded_and_read_back() {
        let items = vec![
            ExternalSecretRotationMetadataItem::builder()
                .key("SalesforceInstanceUrl")
                .value("https://example.my.salesforce.com")
                .build(),
            ExternalSecretRotationMetadataItem::builder()
                .key("ConnectedAppId")
                .value("3MVG9")
                .build(),
        ];
        let role = "arn:aws:iam::111111111111:role/sf-rotation";
        let recorded = external(Some("SalesforceClientSecret"), &items, Some(role));
        let location = Location {
            provider: "aws".into(),
            region: "eu-west-1".into(),
            scope: String::new(),
        };
        let s = secret(
            Meta {
                arn: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:sf-AbC",
                name: "sf",
                description: None,
                kms_key_id: None,
                tags: &[],
                deleted: None,
                created: None,
                changed: None,
                owning_service: None,
                primary_region: None,
                rotation: Value::Null,
                external: recorded,
            },
            &location,
        );
        // Through the snapshot's JSON and back, as a restore reads it.
        let s: Secret = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        let x = External::of(&s).unwrap();
        assert_eq!(x.kind.as_deref(), Some("SalesforceClientSecret"));
        assert_eq!(x.role_arn.as_deref(), Some(role));
        assert_eq!(x.sdk_metadata(), items);
        // Any other secret records nothing.
        assert!(external(None, &[], None).is_null());
    }
}

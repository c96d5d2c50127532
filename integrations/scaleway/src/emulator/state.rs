//! The emulated Secret Manager's state and semantics, independent of HTTP: regions × projects ×
//! secrets × versions, soft delete and restore, revisions never reused, `latest` /
//! `latest_enabled`, disable_previous, CRC32 checks, the 20-version quota, protection, ephemeral
//! policies that really expire, filtering, ordering and pagination.
//!
//! Why over 600 lines: it is one state machine, transcribed from the recorded traffic operation
//! by operation (`tests/cassettes.rs` replays it); the rules that tie operations together
//! (revision counters, soft delete, quota, `latest_enabled`) must read as one place to be
//! checked against the API. Wire shapes live in `wire.rs`, input checks in `validate.rs`,
//! error bodies in `errors.rs`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::errors::ApiError;
use super::validate;
use super::wire::{self, EphemeralPolicy, EphemeralProperties};

/// Limits that the live API enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_versions: u32,
    /// Reject a second (project, path, name) with 409 (unverified on the live API; on by default).
    pub unique_names: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_versions: 20,
            unique_names: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Version {
    pub revision: u32,
    pub status: String,
    status_before_delete: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub description: String,
    pub ephemeral: Option<EphemeralProperties>,
    expires_at: Option<DateTime<Utc>>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
    pub data: Zeroizing<Vec<u8>>,
    pub data_crc32: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Secret {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tags: Vec<String>,
    pub description: String,
    pub managed: bool,
    pub kind: String,
    pub protected: bool,
    pub path: String,
    pub ephemeral_policy: Option<EphemeralPolicy>,
    ttl_secs: Option<i64>,
    pub used_by: Vec<String>,
    pub deletion_requested_at: Option<DateTime<Utc>>,
    pub key_id: Option<String>,
    pub region: String,
    pub versions: BTreeMap<u32, Version>,
    next_revision: u32,
}

impl Secret {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(wire::SecretJson {
            id: &self.id,
            project_id: &self.project_id,
            name: &self.name,
            status: "ready",
            created_at: wire::ts(&self.created_at),
            updated_at: wire::ts(&self.updated_at),
            tags: &self.tags,
            version_count: self.versions.len() as u32,
            description: &self.description,
            managed: self.managed,
            kind: &self.kind,
            protected: self.protected,
            path: &self.path,
            ephemeral_policy: &self.ephemeral_policy,
            used_by: &self.used_by,
            deletion_requested_at: wire::opt_ts(&self.deletion_requested_at),
            key_id: &self.key_id,
            region: &self.region,
        })
        .expect("json")
    }

    fn version_json(&self, v: &Version) -> Value {
        serde_json::to_value(wire::VersionJson {
            revision: v.revision,
            secret_id: &self.id,
            status: &v.status,
            created_at: wire::ts(&v.created_at),
            updated_at: wire::ts(&v.updated_at),
            deleted_at: None,
            description: &v.description,
            latest: Some(v.revision) == self.versions.keys().next_back().copied(),
            ephemeral_properties: &v.ephemeral,
            deletion_requested_at: wire::opt_ts(&v.deletion_requested_at),
            region: &self.region,
        })
        .expect("json")
    }

    fn resolve(&self, rev: &str) -> Result<u32, ApiError> {
        let found = match rev {
            "latest" => self.versions.keys().next_back().copied(),
            "latest_enabled" => self
                .versions
                .values()
                .rev()
                .find(|v| v.status == "enabled")
                .map(|v| v.revision),
            n => n
                .parse::<u32>()
                .ok()
                .filter(|r| self.versions.contains_key(r)),
        };
        found.ok_or_else(|| ApiError::not_found("secret_version", &format!("{}/{rev}", self.id)))
    }

    /// Applies time-based ephemeral expiry.
    fn expire(&mut self, now: DateTime<Utc>) {
        for v in self.versions.values_mut() {
            if let (Some(at), Some(e)) = (v.expires_at, &v.ephemeral) {
                if now >= at && v.status == "enabled" {
                    let action = e.action.clone();
                    apply_action(v, &action, now);
                }
            }
        }
    }
}

fn apply_action(v: &mut Version, action: &str, now: DateTime<Utc>) {
    if action == "disable" {
        v.status = "disabled".into();
    } else {
        v.status_before_delete = Some(v.status.clone());
        v.status = "scheduled_for_deletion".into();
        v.deletion_requested_at = Some(now);
    }
    v.updated_at = now;
}

/// All regions' secrets, by id.
#[derive(Debug, Default)]
pub struct State {
    pub secrets: BTreeMap<String, Secret>,
    pub limits: Limits,
}

#[derive(Deserialize)]
pub struct CreateSecret {
    pub project_id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub path: Option<String>,
    pub ephemeral_policy: Option<EphemeralPolicy>,
    #[serde(default)]
    pub protected: bool,
    pub key_id: Option<String>,
}

#[derive(Deserialize)]
pub struct CreateVersion {
    pub data: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub disable_previous: bool,
    pub data_crc32: Option<u32>,
}

/// Parsed list query.
#[derive(Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn page(&self) -> Result<(usize, usize), ApiError> {
        let page = self
            .get("page")
            .map(|p| p.parse::<usize>())
            .transpose()
            .map_err(|_| ApiError::invalid("page", "- must be a positive integer\n", "format"))?
            .unwrap_or(1)
            .max(1);
        let size = self
            .get("page_size")
            .map(|p| p.parse::<usize>())
            .transpose()
            .map_err(|_| {
                ApiError::invalid("page_size", "- must be a positive integer\n", "format")
            })?
            .unwrap_or(50);
        if size > 100 {
            return Err(ApiError::invalid(
                "page_size",
                "- must be at most 100\n",
                "constraint",
            ));
        }
        Ok((page, if size == 0 { 50 } else { size }))
    }
}

fn paginate<T: Clone>(items: &[T], q: &Query) -> Result<Vec<T>, ApiError> {
    let (page, size) = q.page()?;
    Ok(items
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect())
}

fn decode(data: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map(Zeroizing::new)
        .map_err(|_| {
            ApiError::invalid(
                "data",
                "- invalid: data must be standard base64\n",
                "format",
            )
        })
}

fn ephemeral(
    p: Option<EphemeralPolicy>,
) -> Result<(Option<EphemeralPolicy>, Option<i64>), ApiError> {
    match p {
        None => Ok((None, None)),
        Some(mut p) => {
            let secs = match p.time_to_live.take() {
                Some(d) => {
                    let (s, secs) = validate::duration(&d)?;
                    p.time_to_live = Some(s);
                    Some(secs)
                }
                None => None,
            };
            Ok((Some(p), secs))
        }
    }
}

impl State {
    pub fn secret(&mut self, region: &str, id: &str) -> Result<&mut Secret, ApiError> {
        let now = Utc::now();
        match self.secrets.get_mut(id) {
            Some(s) if s.region == region => {
                s.expire(now);
                Ok(s)
            }
            _ => Err(ApiError::not_found("secret", id)),
        }
    }

    fn live(s: &Secret) -> Result<(), ApiError> {
        if s.deletion_requested_at.is_some() {
            return Err(ApiError::precondition(
                "resource_scheduled_for_deletion",
                "the secret is scheduled for deletion; restore it first",
            ));
        }
        Ok(())
    }

    /// A secret that is not scheduled for deletion, and the revision `rev` resolves to.
    fn live_version(
        &mut self,
        region: &str,
        id: &str,
        rev: &str,
    ) -> Result<(&mut Secret, u32), ApiError> {
        let s = self.secret(region, id)?;
        Self::live(s)?;
        let r = s.resolve(rev)?;
        Ok((s, r))
    }

    pub fn create_secret(&mut self, region: &str, req: CreateSecret) -> Result<Value, ApiError> {
        let project_id = req.project_id.filter(|p| !p.is_empty()).ok_or_else(|| {
            ApiError::invalid("project_id", "- project_id is required\n", "required")
        })?;
        let name = req.name.unwrap_or_default();
        validate::name(&name)?;
        let path = validate::path(req.path.as_deref())?;
        let kind = match req.kind.as_deref() {
            None | Some("unknown_type") => "opaque".to_string(),
            Some(t) if validate::SECRET_TYPES.contains(&t) => t.to_string(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "type",
                    "- unknown secret type\n",
                    "constraint",
                ))
            }
        };
        if self.limits.unique_names {
            if let Some(other) = self.secrets.values().find(|s| {
                s.region == region
                    && s.project_id == project_id
                    && s.path == path
                    && s.name == name
                    && s.deletion_requested_at.is_none()
            }) {
                return Err(ApiError::already_exists(
                    "secret",
                    &other.id,
                    "cannot have same secret name in same path",
                ));
            }
        }
        let (ephemeral_policy, ttl_secs) = ephemeral(req.ephemeral_policy)?;
        let now = Utc::now();
        let s = Secret {
            id: uuid::Uuid::new_v4().to_string(),
            project_id,
            name,
            created_at: now,
            updated_at: now,
            tags: req.tags.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            managed: false,
            kind,
            protected: req.protected,
            path,
            ephemeral_policy,
            ttl_secs,
            used_by: Vec::new(),
            deletion_requested_at: None,
            key_id: req.key_id,
            region: region.to_string(),
            versions: BTreeMap::new(),
            next_revision: 1,
        };
        let json = s.to_json();
        self.secrets.insert(s.id.clone(), s);
        Ok(json)
    }

    pub fn update_secret(
        &mut self,
        region: &str,
        id: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        let s = self.secret(region, id)?;
        Self::live(s)?;
        let mut s2 = s.clone();
        if let Some(n) = body.get("name").and_then(Value::as_str) {
            validate::name(n)?;
            s2.name = n.to_string();
        }
        if let Some(t) = body.get("tags").filter(|t| !t.is_null()) {
            s2.tags = serde_json::from_value(t.clone()).map_err(|_| {
                ApiError::invalid("tags", "- must be a list of strings\n", "format")
            })?;
        }
        if let Some(d) = body.get("description").and_then(Value::as_str) {
            s2.description = d.to_string();
        }
        if let Some(p) = body.get("path").and_then(Value::as_str) {
            s2.path = validate::path(Some(p))?;
        }
        if let Some(p) = body.get("ephemeral_policy").filter(|p| !p.is_null()) {
            let policy: EphemeralPolicy = serde_json::from_value(p.clone()).map_err(|_| {
                ApiError::invalid("ephemeral_policy", "- invalid object\n", "format")
            })?;
            let (policy, ttl) = ephemeral(Some(policy))?;
            s2.ephemeral_policy = policy;
            s2.ttl_secs = ttl;
        }
        s2.updated_at = Utc::now();
        *s = s2;
        Ok(s.to_json())
    }

    pub fn delete_secret(&mut self, region: &str, id: &str) -> Result<(), ApiError> {
        let s = self.secret(region, id)?;
        if s.protected {
            return Err(ApiError::precondition(
                "protected_resource",
                "cannot delete a protected secret",
            ));
        }
        Self::live(s)?;
        if s.ephemeral_policy.is_some() {
            self.secrets.remove(id);
            return Ok(());
        }
        let now = Utc::now();
        s.deletion_requested_at = Some(now);
        s.updated_at = now;
        Ok(())
    }

    pub fn restore_secret(&mut self, region: &str, id: &str) -> Result<Value, ApiError> {
        let s = self.secret(region, id)?;
        let now = Utc::now();
        s.deletion_requested_at = None;
        s.updated_at = now;
        for v in s
            .versions
            .values_mut()
            .filter(|v| v.status == "scheduled_for_deletion")
        {
            v.status = v
                .status_before_delete
                .take()
                .unwrap_or_else(|| "enabled".into());
            v.deletion_requested_at = None;
            v.updated_at = now;
        }
        Ok(s.to_json())
    }

    pub fn set_protected(&mut self, region: &str, id: &str, on: bool) -> Result<Value, ApiError> {
        let s = self.secret(region, id)?;
        s.protected = on;
        s.updated_at = Utc::now();
        Ok(s.to_json())
    }

    pub fn add_owner(&mut self, region: &str, id: &str, body: &Value) -> Result<(), ApiError> {
        let product = body
            .get("product")
            .and_then(Value::as_str)
            .unwrap_or("unknown_product");
        if !["unknown_product", "edge_services", "s2s_vpn"].contains(&product) {
            return Err(ApiError::invalid(
                "product",
                "- unknown product\n",
                "constraint",
            ));
        }
        let s = self.secret(region, id)?;
        if !s.used_by.iter().any(|p| p == product) {
            s.used_by.push(product.to_string());
        }
        Ok(())
    }

    fn matching<'a>(
        &'a self,
        region: &str,
        q: &Query,
        projects: Option<&[String]>,
    ) -> Vec<&'a Secret> {
        if q.get("project_id").is_some() && q.get("organization_id").is_some() {
            return Vec::new(); // the live API's known behaviour (scaleway-sdk-python#2147)
        }
        let tags = q.all("tags");
        let deleted = q.get("scheduled_for_deletion") == Some("true");
        self.secrets
            .values()
            .filter(|s| s.region == region)
            .filter(|s| projects.is_none_or(|ps| ps.contains(&s.project_id)))
            .filter(|s| q.get("project_id").is_none_or(|p| s.project_id == p))
            .filter(|s| q.get("name").is_none_or(|n| s.name == n))
            .filter(|s| q.get("path").is_none_or(|p| s.path == p))
            .filter(|s| tags.is_empty() || tags.iter().any(|t| s.tags.iter().any(|x| x == t)))
            .filter(|s| {
                q.get("type")
                    .is_none_or(|t| t == "unknown_type" || s.kind == t)
            })
            .filter(|s| {
                q.get("ephemeral")
                    .is_none_or(|e| (e == "true") == s.ephemeral_policy.is_some())
            })
            .filter(|s| s.deletion_requested_at.is_some() == deleted)
            .collect()
    }

    /// The listing order `order_by` names, total (ties broken by id, as the stable sort of the
    /// id-ordered map it replaced did).
    fn order(order: Option<&str>) -> Result<fn(&&Secret, &&Secret) -> Ordering, ApiError> {
        Ok(match order.unwrap_or("name_asc") {
            "name_asc" => |a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)),
            "name_desc" => |a, b| b.name.cmp(&a.name).then(b.id.cmp(&a.id)),
            "created_at_asc" => |a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)),
            "created_at_desc" => |a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)),
            "updated_at_asc" => |a, b| a.updated_at.cmp(&b.updated_at).then(a.id.cmp(&b.id)),
            "updated_at_desc" => |a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)),
            _ => {
                return Err(ApiError::invalid(
                    "order_by",
                    "- unknown order\n",
                    "constraint",
                ))
            }
        })
    }

    pub fn list_secrets(
        &mut self,
        region: &str,
        q: &Query,
        projects: Option<&[String]>,
    ) -> Result<Value, ApiError> {
        let now = Utc::now();
        self.secrets.values_mut().for_each(|s| s.expire(now));
        let mut all = self.matching(region, q, projects);
        let order = Self::order(q.get("order_by"))?;
        // Only the page asked for is put in order (selection, then a sort of one page): a page
        // of a 100 000-secret project costs O(n), not a sort of the whole project.
        let (page, size) = q.page()?;
        let from = (page - 1).saturating_mul(size).min(all.len());
        if from < all.len() {
            all.select_nth_unstable_by(from, order);
        }
        let rest = &mut all[from..];
        if rest.len() > size && size > 0 {
            rest.select_nth_unstable_by(size - 1, order);
        }
        let take = size.min(rest.len());
        let rest = &mut rest[..take];
        rest.sort_by(order);
        let page: Vec<Value> = rest.iter().map(|s| s.to_json()).collect();
        Ok(json!({"secrets": page, "total_count": all.len()}))
    }

    pub fn browse(
        &self,
        region: &str,
        q: &Query,
        projects: Option<&[String]>,
    ) -> Result<Value, ApiError> {
        let prefix = validate::path(q.get("prefix"))?;
        let mut sub = Query(
            q.0.iter()
                .filter(|(k, _)| k != "prefix" && k != "page" && k != "page_size")
                .cloned()
                .collect(),
        );
        sub.0
            .push(("scheduled_for_deletion".into(), "false".into()));
        let mut items: BTreeMap<String, Value> = BTreeMap::new();
        let base = if prefix == "/" {
            String::new()
        } else {
            prefix.clone()
        };
        for s in self.matching(region, &sub, projects) {
            if s.path == prefix {
                items.insert(
                    format!("1{}", s.name),
                    json!({"name": s.name, "created_at": wire::ts(&s.created_at),
                        "updated_at": wire::ts(&s.updated_at),
                        "secret": {"id": s.id, "tags": s.tags, "version_count": s.versions.len(),
                            "protected": s.protected, "ephemeral_policy": s.ephemeral_policy,
                                "type": s.kind}}),
                );
            } else if let Some(rest) = s.path.strip_prefix(&format!("{base}/")) {
                let folder = rest.split('/').next().unwrap_or(rest).to_string();
                let e = items.entry(format!("0{folder}")).or_insert_with(|| {
                    json!({"name": folder,
                    "created_at": wire::ts(&s.created_at), "updated_at": wire::ts(&s.updated_at),
                        "folder": {}})
                });
                if wire::ts(&s.updated_at).as_str() > e["updated_at"].as_str().unwrap_or("") {
                    e["updated_at"] = json!(wire::ts(&s.updated_at));
                }
            }
        }
        let all: Vec<Value> = items.into_values().collect();
        Ok(json!({"items": paginate(&all, q)?, "current_path": prefix, "total_count": all.len()}))
    }

    /// Distinct values of one field over a project's secrets, sorted and paginated under `key`
    /// (ListTags: `tags`, ListSecretTypes: `types`).
    pub fn distinct(
        &self,
        region: &str,
        q: &Query,
        projects: Option<&[String]>,
        key: &str,
        field: fn(&Secret) -> Vec<String>,
    ) -> Result<Value, ApiError> {
        let scope = Query(
            q.0.iter()
                .filter(|(k, _)| k == "project_id")
                .cloned()
                .collect(),
        );
        let mut values: Vec<String> = self
            .matching(region, &scope, projects)
            .into_iter()
            .flat_map(field)
            .collect();
        values.sort();
        values.dedup();
        Ok(json!({key: paginate(&values, q)?, "total_count": values.len()}))
    }

    pub fn create_version(
        &mut self,
        region: &str,
        id: &str,
        req: CreateVersion,
    ) -> Result<Value, ApiError> {
        let max = self.limits.max_versions;
        let s = self.secret(region, id)?;
        Self::live(s)?;
        let data = decode(
            req.data
                .as_deref()
                .ok_or_else(|| ApiError::invalid("data", "- data is required\n", "required"))?,
        )?;
        validate::payload(&s.kind, &data)?;
        if let Some(crc) = req.data_crc32 {
            if crc32fast::hash(&data) != crc {
                return Err(ApiError::invalid(
                    "data_crc32",
                    "- the CRC32 of data does not match data_crc32\n",
                    "constraint",
                ));
            }
        }
        let counted = s
            .versions
            .values()
            .filter(|v| v.status != "scheduled_for_deletion")
            .count() as u32;
        if counted >= max {
            return Err(ApiError::quota("secret_version", counted, max));
        }
        let now = Utc::now();
        if req.disable_previous {
            if let Some(prev) = s.versions.values_mut().next_back() {
                if prev.status == "enabled" {
                    prev.status = "disabled".into();
                    prev.updated_at = now;
                }
            }
        }
        let (ephemeral, expires_at) = match &s.ephemeral_policy {
            Some(p) => {
                let at = s.ttl_secs.map(|t| now + Duration::seconds(t));
                (
                    Some(EphemeralProperties {
                        expires_at: at.as_ref().map(wire::ts),
                        expires_once_accessed: p.expires_once_accessed,
                        action: p.action.clone(),
                    }),
                    at,
                )
            }
            None => (None, None),
        };
        let rev = s.next_revision;
        s.next_revision += 1;
        s.versions.insert(
            rev,
            Version {
                revision: rev,
                status: "enabled".into(),
                status_before_delete: None,
                created_at: now,
                updated_at: now,
                description: req.description.unwrap_or_default(),
                ephemeral,
                expires_at,
                deletion_requested_at: None,
                data,
                data_crc32: req.data_crc32,
            },
        );
        Ok(s.version_json(&s.versions[&rev]))
    }

    pub fn get_version(&mut self, region: &str, id: &str, rev: &str) -> Result<Value, ApiError> {
        let s = self.secret(region, id)?;
        let r = s.resolve(rev)?;
        Ok(s.version_json(&s.versions[&r]))
    }

    pub fn update_version(
        &mut self,
        region: &str,
        id: &str,
        rev: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (s, r) = self.live_version(region, id, rev)?;
        let v = s.versions.get_mut(&r).expect("resolved");
        if let Some(d) = body.get("description").and_then(Value::as_str) {
            v.description = d.to_string();
        }
        if let Some(e) = body.get("ephemeral_properties").filter(|e| !e.is_null()) {
            let props: EphemeralProperties = serde_json::from_value(e.clone()).map_err(|_| {
                ApiError::invalid("ephemeral_properties", "- invalid object\n", "format")
            })?;
            v.expires_at = props
                .expires_at
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            v.ephemeral = Some(EphemeralProperties {
                expires_at: v.expires_at.as_ref().map(wire::ts),
                ..props
            });
        }
        v.updated_at = Utc::now();
        let v = v.clone();
        Ok(s.version_json(&v))
    }

    pub fn delete_version(&mut self, region: &str, id: &str, rev: &str) -> Result<(), ApiError> {
        let s = self.secret(region, id)?;
        let r = s.resolve(rev)?;
        let v = s.versions.get_mut(&r).expect("resolved");
        if v.status != "scheduled_for_deletion" {
            apply_action(v, "delete", Utc::now());
        }
        Ok(())
    }

    pub fn set_version_status(
        &mut self,
        region: &str,
        id: &str,
        rev: &str,
        action: &str,
    ) -> Result<Value, ApiError> {
        let (s, r) = self.live_version(region, id, rev)?;
        let now = Utc::now();
        let v = s.versions.get_mut(&r).expect("resolved");
        match action {
            "restore" => {
                if v.status == "scheduled_for_deletion" {
                    v.status = v
                        .status_before_delete
                        .take()
                        .unwrap_or_else(|| "enabled".into());
                    v.deletion_requested_at = None;
                }
            }
            "enable" | "disable" => {
                if v.status == "scheduled_for_deletion" {
                    return Err(ApiError::precondition(
                        "resource_scheduled_for_deletion",
                        "the version is scheduled for deletion",
                    ));
                }
                v.status = if action == "enable" {
                    "enabled"
                } else {
                    "disabled"
                }
                .into();
            }
            _ => unreachable!("routed actions only"),
        }
        v.updated_at = now;
        let v = v.clone();
        Ok(s.version_json(&v))
    }

    pub fn access(&mut self, region: &str, id: &str, rev: &str) -> Result<Value, ApiError> {
        let (s, r) = self.live_version(region, id, rev)?;
        let kind = s.kind.clone();
        let secret_id = s.id.clone();
        let v = s.versions.get_mut(&r).expect("resolved");
        if v.status != "enabled" {
            return Err(ApiError::precondition(
                "resource_not_usable",
                &format!(
                    "cannot access a secret version whose status is {}",
                    v.status
                ),
            ));
        }
        let body = serde_json::to_value(wire::AccessJson {
            secret_id: &secret_id,
            revision: r,
            data: base64::engine::general_purpose::STANDARD.encode(&v.data[..]),
            data_crc32: v.data_crc32,
            kind: &kind,
        })
        .expect("json");
        if let Some(e) = v.ephemeral.clone().filter(|e| e.expires_once_accessed) {
            apply_action(v, &e.action, Utc::now());
        }
        Ok(body)
    }

    pub fn access_by_path(
        &mut self,
        region: &str,
        q: &Query,
        rev: &str,
        projects: Option<&[String]>,
    ) -> Result<Value, ApiError> {
        let (path, name) = (
            q.get("secret_path").unwrap_or("/"),
            q.get("secret_name").unwrap_or(""),
        );
        let path = validate::path(Some(path))?;
        let project = q.get("project_id").ok_or_else(|| {
            ApiError::invalid("project_id", "- project_id is required\n", "required")
        })?;
        let id = self
            .secrets
            .values()
            .find(|s| {
                s.region == region
                    && s.project_id == project
                    && s.path == path
                    && s.name == name
                    && s.deletion_requested_at.is_none()
                    && projects.is_none_or(|ps| ps.contains(&s.project_id))
            })
            .map(|s| s.id.clone())
            .ok_or_else(|| ApiError::not_found("secret", &format!("{path}/{name}")))?;
        self.access(region, &id, rev)
    }

    pub fn list_versions(&mut self, region: &str, id: &str, q: &Query) -> Result<Value, ApiError> {
        let s = self.secret(region, id)?;
        let statuses = q.all("status");
        let all: Vec<Value> = s
            .versions
            .values()
            .rev()
            .filter(|v| statuses.is_empty() || statuses.contains(&v.status.as_str()))
            .map(|v| s.version_json(v))
            .collect();
        Ok(json!({"versions": paginate(&all, q)?, "total_count": all.len()}))
    }

    /// Inserts a secret from its wire JSON, keeping its id (fixtures: a project recorded live,
    /// product-owned secrets with `used_by`). Versions are not imported.
    pub fn import(&mut self, v: &Value) -> Result<String, ApiError> {
        let bad =
            |f: &str| ApiError::invalid(f, "- missing or invalid in imported secret\n", "format");
        let text = |f: &str| {
            v.get(f)
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| bad(f))
        };
        let time = |f: &str| -> Result<DateTime<Utc>, ApiError> {
            Ok(DateTime::parse_from_rfc3339(&text(f)?)
                .map_err(|_| bad(f))?
                .with_timezone(&Utc))
        };
        let id = text("id")?;
        let policy: Option<EphemeralPolicy> =
            serde_json::from_value(v.get("ephemeral_policy").cloned().unwrap_or(Value::Null))
                .map_err(|_| bad("ephemeral_policy"))?;
        let (ephemeral_policy, ttl_secs) = ephemeral(policy)?;
        let s = Secret {
            id: id.clone(),
            project_id: text("project_id")?,
            name: text("name")?,
            created_at: time("created_at")?,
            updated_at: time("updated_at")?,
            tags: serde_json::from_value(v.get("tags").cloned().unwrap_or(Value::Null))
                .unwrap_or_default(),
            description: text("description").unwrap_or_default(),
            managed: v.get("managed").and_then(Value::as_bool).unwrap_or(false),
            kind: text("type").unwrap_or_else(|_| "opaque".into()),
            protected: v.get("protected").and_then(Value::as_bool).unwrap_or(false),
            path: validate::path(v.get("path").and_then(Value::as_str))?,
            ephemeral_policy,
            ttl_secs,
            used_by: serde_json::from_value(v.get("used_by").cloned().unwrap_or(Value::Null))
                .unwrap_or_default(),
            deletion_requested_at: None,
            key_id: text("key_id").ok(),
            region: text("region")?,
            versions: BTreeMap::new(),
            next_revision: 1,
        };
        self.secrets.insert(id.clone(), s);
        Ok(id)
    }

    /// The project a secret belongs to.
    pub fn project_of(&self, id: &str) -> Option<&str> {
        self.secrets.get(id).map(|s| s.project_id.as_str())
    }
}

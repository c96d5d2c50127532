//! The emulator's behaviour on what the cassettes do not cover, over real HTTP: soft delete and
//! restore, revisions never reused, latest / latest_enabled, disable_previous, CRC32, payload
//! validation per type, the 64 KiB and 20-version limits, protection, paths, pagination and
//! ordering, filters, browse / tags / secret-types / access by path, expire-once-accessed versions,
//! auth (401/403) and the rate limiter's bare 429.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use secretsnap_scaleway::emulator::{Config, Emulator, Grant};
use serde_json::{json, Value};

const P: &str = "11111111-1111-4111-8111-111111111111";
const OTHER: &str = "22222222-2222-4222-8222-222222222222";

struct Api {
    emu: Emulator,
    http: reqwest::Client,
}

impl Api {
    async fn new(config: Config) -> Api {
        Api {
            emu: Emulator::start(config, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
            http: reqwest::Client::new(),
        }
    }
    fn url(&self, path: &str) -> String {
        format!(
            "{}/secret-manager/v1beta1/regions/fr-par{path}",
            self.emu.url()
        )
    }
    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, String) {
        let mut rb = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .header("X-Auth-Token", token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (s, v, _) = self.call_as("t", method, path, body).await;
        (s, v)
    }
    async fn secret(&self, name: &str, kind: &str, extra: Value) -> String {
        let mut body = json!({"project_id": P, "name": name, "type": kind});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let (s, v) = self.call("POST", "/secrets", Some(body)).await;
        assert_eq!(s, 200, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
    async fn version(&self, id: &str, data: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({"data": base64::engine::general_purpose::STANDARD.encode(data)});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        self.call("POST", &format!("/secrets/{id}/versions"), Some(body))
            .await
    }
}

fn open() -> Config {
    Config {
        rate_limit: None,
        ..Default::default()
    }
}

#[tokio::test]
async fn versions_revisions_latest_and_status() {
    let api = Api::new(open()).await;
    let id = api.secret("s", "opaque", json!({})).await;
    for i in 1..=3 {
        let (s, v) = api.version(&id, &format!("v{i}"), json!({})).await;
        assert_eq!((s, v["revision"].as_u64()), (200, Some(i)));
    }
    assert_eq!(
        api.call("DELETE", &format!("/secrets/{id}/versions/3"), None)
            .await
            .0,
        204
    );
    let (_, v) = api.version(&id, "v4", json!({})).await;
    assert_eq!(v["revision"], 4, "revisions are never reused");
    let (_, v) = api
        .call(
            "POST",
            &format!("/secrets/{id}/versions/4/disable"),
            Some(json!({})),
        )
        .await;
    assert_eq!(v["status"], "disabled");
    let (_, latest) = api
        .call("GET", &format!("/secrets/{id}/versions/latest"), None)
        .await;
    let (_, enabled) = api
        .call(
            "GET",
            &format!("/secrets/{id}/versions/latest_enabled"),
            None,
        )
        .await;
    assert_eq!(
        (latest["revision"].as_u64(), enabled["revision"].as_u64()),
        (Some(4), Some(2))
    );
    let (s, e) = api
        .call("GET", &format!("/secrets/{id}/versions/4/access"), None)
        .await;
    assert_eq!(
        (s, e["precondition"].as_str()),
        (412, Some("resource_not_usable")),
        "disabled versions cannot be accessed"
    );
    let (_, a) = api
        .call(
            "GET",
            &format!("/secrets/{id}/versions/latest_enabled/access"),
            None,
        )
        .await;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(a["data"].as_str().unwrap())
            .unwrap(),
        b"v2"
    );
    let (_, v) = api
        .version(&id, "v5", json!({"disable_previous": true}))
        .await;
    assert_eq!(v["revision"], 5);
    let (_, v4) = api
        .call("GET", &format!("/secrets/{id}/versions/4"), None)
        .await;
    assert_eq!(v4["status"], "disabled");
    let (_, list) = api
        .call(
            "GET",
            &format!("/secrets/{id}/versions?status=enabled"),
            None,
        )
        .await;
    let revs: Vec<u64> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revs, vec![5, 2, 1], "enabled only, newest first");
    let (_, all) = api
        .call(
            "GET",
            &format!("/secrets/{id}/versions?page_size=2&page=2"),
            None,
        )
        .await;
    assert_eq!(
        (
            all["total_count"].as_u64(),
            all["versions"].as_array().unwrap().len()
        ),
        (Some(5), 2)
    );
    let (_, restored) = api
        .call(
            "POST",
            &format!("/secrets/{id}/versions/3/restore"),
            Some(json!({})),
        )
        .await;
    assert_eq!(restored["status"], "enabled");
    let (_, sec) = api.call("GET", &format!("/secrets/{id}"), None).await;
    assert_eq!(sec["version_count"], 5);
}

#[tokio::test]
async fn payload_rules() {
    let api = Api::new(open()).await;
    let kv = api.secret("kv", "key_value", json!({})).await;
    assert_eq!(
        api.version(&kv, r#"{"a":"b","n":1,"ok":true}"#, json!({}))
            .await
            .0,
        200
    );
    let (s, e) = api.version(&kv, r#"{"a":{"nested":1}}"#, json!({})).await;
    assert_eq!((s, e["type"].as_str()), (400, Some("invalid_arguments")));
    let db = api.secret("db", "database_credentials", json!({})).await;
    let good = r#"{"engine":"postgres","username":"u","password":"p","host":"h","dbname":"d","port":"5432"}"#;
    assert_eq!(api.version(&db, good, json!({})).await.0, 200);
    assert_eq!(
        api.version(&db, &good.replace("5432", "99999"), json!({}))
            .await
            .0,
        400
    );
    let cert = api.secret("cert", "certificate", json!({})).await;
    assert_eq!(api.version(&cert, "not pem", json!({})).await.0, 400);
    let o = api.secret("o", "opaque", json!({})).await;
    assert_eq!(api.version(&o, &"x".repeat(65_536), json!({})).await.0, 200);
    assert_eq!(
        api.version(&o, &"x".repeat(65_537), json!({})).await.0,
        400,
        "64 KiB limit"
    );
    assert_eq!(
        api.version(&o, "abc", json!({"data_crc32": crc32fast::hash(b"abc")}))
            .await
            .0,
        200
    );
    let (s, e) = api.version(&o, "abc", json!({"data_crc32": 1})).await;
    assert_eq!(
        (s, e["details"][0]["argument_name"].as_str()),
        (400, Some("data_crc32"))
    );
    let (_, acc) = api
        .call("GET", &format!("/secrets/{o}/versions/latest/access"), None)
        .await;
    assert_eq!(acc["data_crc32"], crc32fast::hash(b"abc"));
    for _ in 0..18 {
        assert_eq!(api.version(&o, "q", json!({})).await.0, 200);
    }
    let (s, e) = api.version(&o, "q", json!({})).await;
    assert_eq!(
        (s, e["type"].as_str()),
        (403, Some("quotas_exceeded")),
        "20 versions per secret"
    );
}

#[tokio::test]
async fn delete_protect_restore_paths_and_listing() {
    let api = Api::new(open()).await;
    let a = api
        .secret(
            "alpha",
            "opaque",
            json!({"path": "/team/app/", "tags": ["prod", "x"]}),
        )
        .await;
    let b = api
        .secret(
            "beta",
            "key_value",
            json!({"tags": ["dev"], "protected": true}),
        )
        .await;
    let c = api
        .secret("gamma", "opaque", json!({"path": "/team"}))
        .await;
    assert_eq!(
        api.call(
            "POST",
            "/secrets",
            Some(json!({"project_id": P, "name": "bad", "path": "/a b"}))
        )
        .await
        .0,
        400
    );
    let (s, dup) = api
        .call(
            "POST",
            "/secrets",
            Some(json!({"project_id": P, "name": "alpha", "path": "/team/app"})),
        )
        .await;
    assert_eq!((s, dup["type"].as_str()), (409, Some("already_exists")));
    let (_, sa) = api.call("GET", &format!("/secrets/{a}"), None).await;
    assert_eq!(sa["path"], "/team/app", "trailing slash stripped");
    let (s, e) = api.call("DELETE", &format!("/secrets/{b}"), None).await;
    assert_eq!(
        (s, e["precondition"].as_str()),
        (412, Some("protected_resource"))
    );
    api.call("POST", &format!("/secrets/{b}/unprotect"), Some(json!({})))
        .await;
    assert_eq!(
        api.call("DELETE", &format!("/secrets/{b}"), None).await.0,
        204
    );
    let (_, gone) = api
        .call(
            "GET",
            &format!("/secrets?project_id={P}&scheduled_for_deletion=false"),
            None,
        )
        .await;
    let (_, deleted) = api
        .call(
            "GET",
            &format!("/secrets?project_id={P}&scheduled_for_deletion=true"),
            None,
        )
        .await;
    assert_eq!(
        (
            gone["total_count"].as_u64(),
            deleted["total_count"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let (_, r) = api
        .call("POST", &format!("/secrets/{b}/restore"), Some(json!({})))
        .await;
    assert!(r["deletion_requested_at"].is_null());
    let (_, desc) = api
        .call(
            "GET",
            &format!("/secrets?project_id={P}&order_by=name_desc&page_size=2"),
            None,
        )
        .await;
    let names: Vec<&str> = desc["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        (names, desc["total_count"].as_u64()),
        (vec!["gamma", "beta"], Some(3))
    );
    let (_, tagged) = api
        .call(
            "GET",
            &format!("/secrets?project_id={P}&tags=prod&tags=dev"),
            None,
        )
        .await;
    assert_eq!(tagged["total_count"], 2, "tag filters match any");
    let (_, both) = api
        .call(
            "GET",
            &format!("/secrets?project_id={P}&organization_id={OTHER}"),
            None,
        )
        .await;
    assert_eq!(
        both["total_count"], 0,
        "project and organization together: empty, as live"
    );
    let (_, browse) = api
        .call(
            "GET",
            &format!("/secrets/browse?project_id={P}&prefix=/team"),
            None,
        )
        .await;
    let items: Vec<(&str, bool)> = browse["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i.get("folder").is_some()))
        .collect();
    assert_eq!(items, vec![("app", true), ("gamma", false)]);
    let (_, tags) = api
        .call("GET", &format!("/tags?project_id={P}"), None)
        .await;
    assert_eq!(tags["tags"], json!(["dev", "prod", "x"]));
    let (_, types) = api
        .call("GET", &format!("/secret-types?project_id={P}"), None)
        .await;
    assert_eq!(types["types"], json!(["key_value", "opaque"]));
    api.version(&c, "by path", json!({})).await;
    let (s, v) = api.call("GET",
        &format!("/secrets-by-path/versions/latest_enabled/access?project_id={P}&secret_path=/team&secret_name=gamma"), None).await;
    assert_eq!((s, v["revision"].as_u64()), (200, Some(1)));
    assert_eq!(
        api.call(
            "POST",
            &format!("/secrets/{c}/add-owner"),
            Some(json!({"product": "edge_services"}))
        )
        .await
        .0,
        204
    );
    let (_, sc) = api.call("GET", &format!("/secrets/{c}"), None).await;
    assert_eq!(sc["used_by"], json!(["edge_services"]));
}

#[tokio::test]
async fn expire_once_accessed_versions_really_expire() {
    let api = Api::new(open()).await;
    let id = api
        .secret(
            "eph",
            "opaque",
            json!({"ephemeral_policy": {"time_to_live": "3600.000000000s",
            "expires_once_accessed": true, "action": "disable"}}),
        )
        .await;
    let (_, v) = api.version(&id, "once", json!({})).await;
    assert_eq!(v["ephemeral_properties"]["expires_once_accessed"], true);
    assert!(v["ephemeral_properties"]["expires_at"].is_string());
    assert_eq!(
        api.call("GET", &format!("/secrets/{id}/versions/1/access"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.call("GET", &format!("/secrets/{id}/versions/1/access"), None)
            .await
            .0,
        412,
        "second read refused"
    );
    let (_, v) = api
        .call("GET", &format!("/secrets/{id}/versions/1"), None)
        .await;
    assert_eq!(v["status"], "disabled");
    assert_eq!(
        api.call("DELETE", &format!("/secrets/{id}"), None).await.0,
        204
    );
    assert_eq!(
        api.call("GET", &format!("/secrets/{id}"), None).await.0,
        404,
        "ephemeral secrets are deleted at once"
    );
}

#[tokio::test]
async fn auth_grants_and_rate_limit() {
    let mut tokens = HashMap::new();
    tokens.insert(
        "rw".to_string(),
        Grant {
            projects: Some(vec![P.into()]),
            write: true,
        },
    );
    tokens.insert(
        "ro".to_string(),
        Grant {
            projects: None,
            write: false,
        },
    );
    let api = Api::new(Config {
        tokens,
        rate_limit: Some(5.0),
        ..Default::default()
    })
    .await;
    let (s, _, _) = api
        .call_as("", "GET", &format!("/secrets?project_id={P}"), None)
        .await;
    assert_eq!(s, 401);
    let (s, e, _) = api
        .call_as("nope", "GET", &format!("/secrets?project_id={P}"), None)
        .await;
    assert_eq!(
        (s, e["type"].as_str()),
        (401, Some("denied_authentication"))
    );
    let (s, _, _) = api
        .call_as(
            "ro",
            "POST",
            "/secrets",
            Some(json!({"project_id": P, "name": "x"})),
        )
        .await;
    assert_eq!(s, 403, "read-only token cannot write");
    let (s, e, _) = api
        .call_as("rw", "GET", &format!("/secrets?project_id={OTHER}"), None)
        .await;
    assert_eq!((s, e["type"].as_str()), (403, Some("permissions_denied")));
    // 5 per token in each one-second window, told in the live API's headers; then the bare 429.
    let mut limited = None;
    let mut remaining = Vec::new();
    for _ in 0..20 {
        let r = api
            .http
            .get(api.url(&format!("/secrets?project_id={P}")))
            .header("X-Auth-Token", "ro")
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        let h = r.headers();
        assert_eq!(
            h["x-ratelimit-limit"], "5, 5;w=1",
            "as recorded: `50, 50;w=1`"
        );
        assert_eq!(h["x-ratelimit-reset"], "1");
        remaining.push(
            h["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    let r = limited.expect("the window's quota must run out");
    assert!(
        remaining.windows(2).any(|w| w[1] + 1 == w[0]) && remaining.contains(&0),
        "remaining counts down to 0 within a window: {remaining:?}"
    );
    assert!(r.headers().get("content-type").is_none() && r.headers().get("retry-after").is_none());
    assert!(
        r.headers().get("x-ratelimit-remaining").is_none(),
        "a 429 carries no X-Ratelimit-* header"
    );
    assert_eq!(r.headers()["x-envoy-ratelimited"], "true");
    assert!(r.text().await.unwrap().is_empty(), "429 has an empty body");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (s, _, _) = api
        .call_as("ro", "GET", &format!("/secrets?project_id={P}"), None)
        .await;
    assert_eq!(s, 200, "the next window has a fresh quota");
}

#[tokio::test]
async fn seeded_project_and_injected_faults() {
    let api = Api::new(open()).await;
    let ids = api.emu.seed("fr-par", P, 12, 3);
    let (_, list) = api
        .call(
            "GET",
            &format!("/secrets?project_id={P}&page_size=100"),
            None,
        )
        .await;
    assert_eq!(list["total_count"], 12);
    let (_, types) = api
        .call("GET", &format!("/secret-types?project_id={P}"), None)
        .await;
    assert_eq!(types["total_count"], 6, "all six secret types seeded");
    let (_, vs) = api
        .call("GET", &format!("/secrets/{}/versions", ids[0]), None)
        .await;
    assert_eq!(
        vs["versions"][1]["status"], "disabled",
        "a disabled version is seeded"
    );
    api.emu.configure(|c| {
        c.fault_rate = 1.0;
        c.fault_stall = Duration::from_millis(10);
    });
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..40 {
        match api
            .http
            .get(api.url(&format!("/secrets/{}", ids[0])))
            .header("X-Auth-Token", "t")
            .send()
            .await
        {
            Ok(r) => match r.text().await {
                Ok(_) => {
                    kinds.insert("status");
                }
                Err(_) => {
                    kinds.insert("dropped");
                }
            },
            Err(_) => {
                kinds.insert("dropped");
            }
        }
    }
    assert!(
        kinds.contains("dropped") && kinds.contains("status"),
        "{kinds:?}"
    );
    assert!(
        api.emu
            .counters()
            .faults
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 40
    );
}

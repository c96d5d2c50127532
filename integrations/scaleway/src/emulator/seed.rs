//! Seed data for the emulator: `seed` (N generated secrets, for tests and benchmarks) and
//! `seed_demo` (a small project that looks like a real one, for `secretsnap demo` and users'
//! first steps). Both cover all six secret types, folders, tags, several versions, a disabled
//! version and a protected secret. Values are fake and valid for their type.

use base64::Engine;

use super::{state, validate, Emulator};

/// One secret to seed.
#[derive(Debug, Clone)]
pub struct SeedSecret {
    pub path: String,
    pub name: String,
    pub kind: String,
    pub tags: Vec<String>,
    pub description: String,
    pub protected: bool,
    /// Values, oldest first, with their descriptions.
    pub versions: Vec<(String, String)>,
    /// Revisions to disable after creation.
    pub disabled: Vec<u32>,
}

/// A valid payload for `kind`, distinct per (secret, version).
pub fn sample_payload(kind: &str, i: usize, v: usize) -> String {
    match kind {
        "key_value" => format!("{{\"API_KEY\":\"key-{i}-{v}\",\"RETRIES\":3}}"),
        "basic_credentials" => format!("{{\"username\":\"svc{i}\",\"password\":\"pw-{i}-{v}\"}}"),
        "database_credentials" => format!(
            concat!(
                "{{\"engine\":\"postgres\",\"username\":\"app{i}\",\"password\":\"db-{i}-{v}\",",
                "\"host\":\"10.0.0.{}\",\"dbname\":\"app\",\"port\":\"5432\"}}"
            ),
            i % 250,
            i = i,
            v = v
        ),
        "ssh_key" => format!(
            "{{\"ssh_private_key\":\"-----BEGIN OPENSSH PRIVATE \
         KEY-----\\nkey{i}v{v}\\n-----END OPENSSH PRIVATE KEY-----\\n\"}}"
        ),
        "certificate" => format!(
            "-----BEGIN CERTIFICATE-----\nMIIB{i}x{v}\n-----END \
         CERTIFICATE-----\n"
        ),
        _ => format!(
            "opaque value {i}/{v} {}",
            "z".repeat((i * 37 + v * 11) % 200)
        ),
    }
}

/// The generated secret number `i` of `seed`.
fn generated(i: usize, versions: usize) -> SeedSecret {
    let kind = validate::SECRET_TYPES[i % 6];
    SeedSecret {
        path: if i.is_multiple_of(5) {
            "/".into()
        } else {
            format!("/apps/app-{}", i % 5)
        },
        name: format!("{kind}-{i:04}"),
        kind: kind.into(),
        tags: vec![
            ["production", "staging"][i % 2].to_string(),
            format!("team-{}", i % 3),
        ],
        description: if i.is_multiple_of(4) {
            String::new()
        } else {
            format!("seeded secret {i}")
        },
        protected: i == 1,
        versions: (0..versions)
            .map(|v| (sample_payload(kind, i, v), format!("v{}", v + 1)))
            .collect(),
        disabled: if versions >= 2 && i.is_multiple_of(3) {
            vec![(versions - 1) as u32]
        } else {
            vec![]
        },
    }
}

/// The demo project: what a small production project looks like.
pub fn demo_project() -> Vec<SeedSecret> {
    let s = |path: &str, name: &str, kind: &str, tags: &[&str], desc: &str, n: usize| {
        let i = name.len() * 7 + path.len();
        SeedSecret {
            path: path.into(),
            name: name.into(),
            kind: kind.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            description: desc.into(),
            protected: false,
            versions: (0..n)
                .map(|v| (sample_payload(kind, i, v), format!("rotation {}", v + 1)))
                .collect(),
            disabled: vec![],
        }
    };
    let mut out = vec![
        s(
            "/payments",
            "stripe-api-key",
            "opaque",
            &["production", "pci"],
            "Stripe live key",
            3,
        ),
        s(
            "/payments",
            "ledger-db",
            "database_credentials",
            &["production", "pci"],
            "ledger PostgreSQL",
            4,
        ),
        s(
            "/payments",
            "webhook-signing",
            "key_value",
            &["production"],
            "",
            2,
        ),
        s(
            "/platform/ci",
            "deploy-bot",
            "basic_credentials",
            &["ci"],
            "CI deploy account",
            2,
        ),
        s(
            "/platform/ci",
            "runner-ssh",
            "ssh_key",
            &["ci"],
            "runner SSH key",
            1,
        ),
        s(
            "/platform/edge",
            "api-tls",
            "certificate",
            &["production", "tls"],
            "api.example.com",
            3,
        ),
        s(
            "/platform/edge",
            "cdn-token",
            "opaque",
            &["production"],
            "CDN purge token",
            2,
        ),
        s("/", "sentry-dsn", "opaque", &[], "error reporting DSN", 1),
        s(
            "/analytics",
            "warehouse-db",
            "database_credentials",
            &["staging"],
            "",
            2,
        ),
        s(
            "/analytics",
            "feature-flags",
            "key_value",
            &["staging"],
            "flag service keys",
            3,
        ),
    ];
    out[1].protected = true; // a protected secret
    out[1].disabled = vec![2]; // a compromised rotation, disabled
    out[5].disabled = vec![1]; // an old certificate, disabled
    out
}

impl Emulator {
    /// Creates `secrets` in `project`; returns their ids.
    pub fn seed_secrets(&self, region: &str, project: &str, secrets: &[SeedSecret]) -> Vec<String> {
        self.seed_into(region, project, secrets, false)
    }

    /// `seed_secrets`; `distinct` says no two of `secrets` share a path and name and the project
    /// is empty, so the per-create name check (a scan of every secret) can be skipped: seeding
    /// 100 000 secrets is then linear.
    fn seed_into(
        &self,
        region: &str,
        project: &str,
        secrets: &[SeedSecret],
        distinct: bool,
    ) -> Vec<String> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        self.with_state(|st| {
            let checked = st.limits.unique_names;
            let empty = !st
                .secrets
                .values()
                .any(|s| s.region == region && s.project_id == project);
            st.limits.unique_names = checked && !(distinct && empty);
            let mut ids = Vec::new();
            for sec in secrets {
                let req = state::CreateSecret {
                    project_id: Some(project.into()),
                    name: Some(sec.name.clone()),
                    tags: Some(sec.tags.clone()),
                    description: Some(sec.description.clone()),
                    kind: Some(sec.kind.clone()),
                    path: Some(sec.path.clone()),
                    ephemeral_policy: None,
                    protected: sec.protected,
                    key_id: None,
                };
                let id = st.create_secret(region, req).expect("seed secret")["id"]
                    .as_str()
                    .expect("id")
                    .to_string();
                for (data, description) in &sec.versions {
                    let req = state::CreateVersion {
                        data: Some(b64(data)),
                        description: Some(description.clone()),
                        disable_previous: false,
                        data_crc32: Some(crc32fast::hash(data.as_bytes())),
                    };
                    st.create_version(region, &id, req).expect("seed version");
                }
                for rev in &sec.disabled {
                    st.set_version_status(region, &id, &rev.to_string(), "disable")
                        .expect("seed disable");
                }
                ids.push(id);
            }
            st.limits.unique_names = checked;
            ids
        })
    }

    /// Seeds `secrets` generated secrets over all six types, several paths and tags, `versions`
    /// versions each, the second-newest disabled on every third secret, one protected. Returns
    /// the secret ids.
    pub fn seed(
        &self,
        region: &str,
        project: &str,
        secrets: usize,
        versions: usize,
    ) -> Vec<String> {
        let list: Vec<SeedSecret> = (0..secrets).map(|i| generated(i, versions)).collect();
        // `generated` names carry their index: distinct.
        self.seed_into(region, project, &list, true)
    }

    /// Seeds the demo project (`demo_project`); returns the secret ids.
    pub fn seed_demo(&self, region: &str, project: &str) -> Vec<String> {
        self.seed_secrets(region, project, &demo_project())
    }
}

//! Credentials resolution (scw config profiles, environment precedence, the secret key never
//! printed) and the destination's 20-version cap (newest 20 restored, the plan says so).
//! Environment-mutating checks live in one test so they cannot race each other.

use secretsnap_core::conformance::{read_all, restore_all};
use secretsnap_core::{Filter, RestoreOptions};
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};
use serde_json::json;

#[test]
fn profiles_env_precedence_and_redaction() {
    let dir = std::env::temp_dir().join(format!("scw-cred-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        "access_key: SCWTOPLEVEL00000000\nsecret_key: 11111111-top-level-secret\ndefault_region: \
         fr-par\nactive_profile: prod\nprofiles:\n  prod:\n    secret_key: \
          22222222-prod-secret\n    default_project_id: prod-project\n    default_region: \
           nl-ams\n  dev:\n    secret_key: 33333333-dev-secret\n",
    )
    .unwrap();
    for v in [
        "SCW_SECRET_KEY",
        "SCW_ACCESS_KEY",
        "SCW_DEFAULT_PROJECT_ID",
        "SCW_DEFAULT_REGION",
        "SCW_API_URL",
        "SCW_PROFILE",
    ] {
        std::env::remove_var(v);
    }
    std::env::set_var("SCW_CONFIG_PATH", &path);
    let c = Credentials::from_env().unwrap();
    assert_eq!(
        (
            c.project_id.as_deref(),
            c.region.as_deref(),
            c.access_key.as_deref()
        ),
        (
            Some("prod-project"),
            Some("nl-ams"),
            Some("SCWTOPLEVEL00000000")
        )
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("prod-secret") && shown.contains("redacted"),
        "{shown}"
    );
    std::env::set_var("SCW_PROFILE", "dev");
    std::env::set_var("SCW_DEFAULT_REGION", "pl-waw");
    let c = Credentials::from_env().unwrap();
    assert_eq!(
        c.region.as_deref(),
        Some("pl-waw"),
        "environment wins over the profile"
    );
    assert!(!format!("{c:?}").contains("dev-secret"));
    std::env::set_var("SCW_PROFILE", "missing");
    assert!(Credentials::from_env()
        .unwrap_err()
        .to_string()
        .contains("missing"));
    std::env::remove_var("SCW_PROFILE");
    std::env::set_var("SCW_CONFIG_PATH", dir.join("absent.yaml"));
    let err = Credentials::from_env().unwrap_err().to_string();
    assert!(err.contains("SCW_SECRET_KEY"), "{err}");
    std::env::remove_var("SCW_DEFAULT_REGION");
    std::env::remove_var("SCW_CONFIG_PATH");
}

#[tokio::test]
async fn more_than_twenty_versions_keep_the_newest_twenty() {
    let emu = Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let p = "cccccccc-0000-4000-8000-00000000000c";
    emu.with_state(|st| {
        st.limits.max_versions = 30; // a source that was allowed more (raised quota)
        let id = st
            .create_secret(
                "fr-par",
                serde_json::from_value(json!({"project_id": p,
            "name": "many"}))
                .unwrap(),
            )
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        for i in 0..23 {
            st.create_version(
                "fr-par",
                &id,
                serde_json::from_value(
                    json!({"data": format!("dmFsdWU{}", ["A", "B", "C"][i % 3]),
                    "description": format!("v{i}")}),
                )
                .unwrap(),
            )
            .unwrap();
        }
        st.limits.max_versions = 20;
    });
    let c = |r: &str| {
        Client::new(
            Credentials::new("t", None, Some(r), Some(&emu.url())),
            r,
            ClientOptions::default(),
        )
        .unwrap()
    };
    let (secrets, _) = read_all(&ScalewaySource::new(c("fr-par"), p), &Filter::default()).await;
    let (plan, report) = restore_all(
        &ScalewayDestination::new(c("nl-ams"), p),
        &secrets,
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.created_versions, 20);
    assert!(
        plan.items[0]
            .notes
            .iter()
            .any(|n| n.contains("3 oldest versions not restored")),
        "{:?}",
        plan.items[0].notes
    );
    let first_kept = &report.applied["/many"].versions[0];
    assert_eq!(
        first_kept,
        &("4".to_string(), "1".to_string()),
        "revisions 4..23 kept"
    );
}

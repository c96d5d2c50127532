//! A credential profile per location (issue 24, item 5): `?profile=NAME` selects that profile of
//! the scw config for one side only, so a clone from one organization into another is one
//! command. The emulator grants each key one project; the environment's own key can write
//! neither target, so only the profiles can make the clone pass.

mod common;

use std::collections::HashMap;

use common::{World, A, B};
use secretsnap_core::conformance::compare;
use secretsnap_scaleway::emulator::{Config, Grant};

#[test]
fn clone_across_two_scw_profiles_in_one_command() {
    let grant = |p: &str, write: bool| Grant {
        projects: Some(vec![p.to_string()]),
        write,
    };
    let config = Config {
        tokens: HashMap::from([
            ("org-a-key".to_string(), grant(A, false)),
            ("org-b-key".to_string(), grant(B, true)),
            // The environment's key (common::World) may read both, write neither.
            (
                "test-token".to_string(),
                Grant {
                    projects: None,
                    write: false,
                },
            ),
        ]),
        rate_limit: None,
        ..Default::default()
    };
    let w = World::new(config);
    let scw = w.dir.path().join("scw.yaml");
    std::fs::write(
        &scw,
        format!(
            "active_profile: default\n\
             secret_key: test-token\n\
             profiles:\n  \
               default:\n    secret_key: test-token\n  \
               org-a:\n    secret_key: org-a-key\n    default_project_id: {A}\n  \
               org-b:\n    secret_key: org-b-key\n    default_project_id: {B}\n"
        ),
    )
    .unwrap();
    let scw = scw.display().to_string();
    let source = format!("scaleway://fr-par/{A}?profile=org-a");
    let target = format!("scaleway://nl-ams/{B}?profile=org-b");
    let run = |args: &[&str]| {
        let out = w
            .cmd(args)
            .env("SCW_CONFIG_PATH", &scw)
            .arg("--json")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Without the target's profile, the environment's key may not write: refused, named.
    let bare_target = format!("scaleway://nl-ams/{B}");
    let (rc, out, err) = run(&["clone", &source, &bare_target]);
    assert_ne!(rc, 0, "{out}{err}");
    assert!(w.read_project("nl-ams", B).is_empty());

    // A profile that does not exist is a clear error before anything is read.
    let (rc, _, err) = run(&["clone", &source, "scaleway://nl-ams/x?profile=nope"]);
    assert_ne!(rc, 0);
    assert!(err.contains("no profile \"nope\""), "{err}");

    let (rc, out, err) = run(&["clone", &source, &target]);
    assert_eq!(rc, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["clone"]["report"]["created_secrets"],
        common::SECRETS,
        "{out}"
    );
    let at_a = w.read_project("fr-par", A);
    let at_b = w.read_project("nl-ams", B);
    assert_eq!(at_a.len(), common::SECRETS);
    let diffs = compare(&at_a, &at_b);
    assert!(diffs.is_empty(), "{diffs:#?}");
    // The key in the URL? Never: only the profile's name is there.
    assert!(!out.contains("org-b-key") && !err.contains("org-b-key"));
}

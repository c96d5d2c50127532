//! A credential profile per location (issue 24, item 5): `?profile=NAME` selects that profile of
//! the scw config for one side only, so a clone from one organization into another is one
//! command. The emulator grants each key one project; the environment's own key can write
//! neither target, so only the profiles can make the clone pass.

mod common;

use std::collections::HashMap;

use common::{World, A, B};
use secretsnap_core::conformance::{compare, read_all};
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

/// The same on AWS: the target's profile assumes a role in another account (moto ties the
/// credentials AssumeRole returns to the role's account), while the environment's keys act in
/// the source's account; only the profile can put the copies in the other account.
#[test]
fn clone_across_two_aws_accounts_through_a_profile_that_assumes_a_role() {
    use secretsnap_aws::{fixtures, AwsSource};
    use secretsnap_core::Filter;
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let w = World::new(Config::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let region = "eu-north-1";
    // moto keeps what earlier runs made: a folder of this run's own.
    let folder = format!(
        "profiles-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let source_client = rt.block_on(fixtures::client(region, &url));
    for i in 0..3 {
        for (n, value) in ["first", "second"].iter().enumerate() {
            let name = format!("{folder}/app/s{i}");
            let sdk = source_client.sdk();
            if n == 0 {
                rt.block_on(sdk.create_secret().name(&name).secret_string(*value).send())
                    .unwrap();
            } else {
                rt.block_on(
                    sdk.put_secret_value()
                        .secret_id(&name)
                        .secret_string(*value)
                        .send(),
                )
                .unwrap();
            }
        }
    }
    let config = w.dir.path().join("aws-config");
    let credentials = w.dir.path().join("aws-credentials");
    std::fs::write(
        &config,
        format!(
            "[profile src]\nregion = {region}\n\n[profile dst]\nrole_arn = \
             arn:aws:iam::222222222222:role/secretsnap-restore\nsource_profile = src\n\
             region = {region}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &credentials,
        "[src]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    let source = format!("aws://{region}?profile=src&path=/{folder}");
    let target = format!("aws://{region}?profile=dst");
    let out = w
        .cmd(&["--json", "clone", &source, &target])
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_ENDPOINT_URL", &url)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["clone"]["report"]["created_secrets"], 3, "{stdout}");
    assert!(
        stdout.contains("arn:aws:secretsmanager:eu-north-1:222222222222:secret:"),
        "the copies are in the role's account: {stdout}"
    );

    // Field by field: the source's secrets against what the other account now holds.
    let filter = Filter {
        path_prefix: Some(format!("/{folder}")),
        ..Default::default()
    };
    let (at_source, failed) =
        rt.block_on(read_all(&AwsSource::new(source_client.clone()), &filter));
    assert!(failed.is_empty(), "{failed:?}");
    let other = rt
        .block_on(fixtures::in_account(
            &source_client,
            &url,
            region,
            "222222222222",
        ))
        .unwrap();
    let (at_target, failed) = rt.block_on(read_all(&AwsSource::new(other), &filter));
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(at_source.len(), 3);
    let diffs = compare(&at_source, &at_target);
    assert!(diffs.is_empty(), "{diffs:#?}");
}

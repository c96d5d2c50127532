//! The Plakar plugin, driven the way a Plakar host drives it: this test starts the built
//! `secretsnap plakar importer|exporter`, speaks gRPC over its stdin/stdout, imports a project
//! (acknowledging every record, then opening every file), replays the records into another
//! project and region through the exporter, and compares the two sides as the Scaleway round
//! trip does; the same on moto for AWS. Then a host that misbehaves: one that closes the stream
//! mid-import, one that dies, one that never acks, and records whose secret cannot be restored.

use std::collections::HashMap;
use std::time::Duration;

use secretsnap_core::conformance::{compare, read_all};
use secretsnap_core::Filter;
use secretsnap_plakar::host::{self, Plugin};
use secretsnap_plakar::layout;
use secretsnap_plakar::proto::importer::{self, importer_client::ImporterClient};
use secretsnap_plakar::proto::plakar::exporter::export_request::Packet;
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{Client, ClientOptions, Credentials, ScalewaySource};

const A: &str = "aaaaaaaa-6666-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-6666-4000-8000-00000000000b";
const BIN: &str = env!("CARGO_BIN_EXE_secretsnap");

async fn plugin(kind: &str) -> Plugin {
    Plugin::spawn(BIN, &["plakar", kind]).await.unwrap()
}

async fn exits_cleanly(p: Plugin) {
    let status = tokio::time::timeout(Duration::from_secs(20), p.close())
        .await
        .expect("the plugin exits once its stdin closes")
        .unwrap();
    assert!(status.success(), "plugin exit status {status}");
}

fn config(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn scaleway(emu: &Emulator, region: &str, project: &str) -> ScalewaySource {
    let client = Client::new(
        Credentials::new("t", None, Some(region), Some(&emu.url())),
        region,
        ClientOptions::default(),
    )
    .unwrap();
    ScalewaySource::new(client, project)
}

fn all_versions() -> Filter {
    Filter {
        read_disabled: true,
        ..Default::default()
    }
}

async fn emulator() -> Emulator {
    Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn import_scaleway(emu: &Emulator, ack: bool) -> host::Imported {
    let p = plugin("importer").await;
    let location = format!("scaleway-secrets://fr-par/{A}");
    let url = emu.url();
    let imported = host::import(
        p.channel.clone(),
        "scaleway-secrets",
        config(&[
            ("location", &location),
            ("secret_key", "t"),
            ("api_url", &url),
            ("read_disabled", "true"),
            ("environment", "production"),
            ("data_class", "critical"),
        ]),
        ack,
    )
    .await
    .unwrap();
    exits_cleanly(p).await;
    imported
}

async fn export_scaleway(
    emu: &Emulator,
    project: &str,
    requests: Vec<secretsnap_plakar::proto::plakar::exporter::ExportRequest>,
    extra: &[(&str, &str)],
) -> Vec<secretsnap_plakar::proto::RecordResult> {
    let p = plugin("exporter").await;
    let location = format!("scaleway-secrets://nl-ams/{project}");
    let url = emu.url();
    let mut cfg = config(&[
        ("location", &location),
        ("secret_key", "t"),
        ("api_url", &url),
    ]);
    cfg.extend(config(extra));
    let results = host::export(p.channel.clone(), "scaleway-secrets", cfg, requests)
        .await
        .unwrap();
    exits_cleanly(p).await;
    results
}

#[tokio::test]
async fn scaleway_project_through_importer_and_exporter() {
    let emu = emulator().await;
    emu.seed_demo("fr-par", A);
    let imported = import_scaleway(&emu, true).await;
    assert_eq!(imported.acks_sent, imported.records.len());
    assert!(imported.records.iter().all(|r| r.error.is_empty()));
    assert_eq!(imported.records[0].pathname, "/");
    let info: serde_json::Value =
        serde_json::from_slice(&imported.contents[&format!("/{}", layout::INFO_FILE)]).unwrap();
    assert_eq!(info["environment"], "production");
    assert_eq!(info["data_classes"], serde_json::json!(["critical"]));
    assert_eq!(info["failed"], 0);

    // The layout a person browses: a folder per secret, its metadata, a file per version.
    let (original, _) = read_all(&scaleway(&emu, "fr-par", A), &all_versions()).await;
    assert_eq!(info["secrets"], original.len());
    for s in &original {
        let dir = layout::secret_dir(s);
        let meta = &imported.contents[&format!("{dir}/secret.json")];
        let parsed: secretsnap_core::Secret = serde_json::from_slice(meta).unwrap();
        assert_eq!(parsed.versions.len(), s.versions.len());
        for v in &s.versions {
            let secretsnap_core::Payload::Bytes(value) = &v.payload else {
                continue;
            };
            assert_eq!(
                imported.contents[&layout::version_path(&dir, v)],
                value.to_vec(),
                "{} version {}",
                s.full_name(),
                v.id
            );
        }
    }

    // Replay into another project in another region; every record gets a clean result.
    let requests = host::export_requests(&imported.records, &imported.contents);
    let records_sent = requests
        .iter()
        .filter(|r| matches!(r.packet, Some(Packet::Record(_))))
        .count();
    let results = export_scaleway(&emu, B, requests.clone(), &[]).await;
    assert_eq!(results.len(), records_sent, "one result per record");
    let errors: Vec<_> = results.iter().filter(|r| !r.error.is_empty()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let (restored, _) = read_all(&scaleway(&emu, "nl-ams", B), &all_versions()).await;
    let diffs = compare(&original, &restored);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    // Replaying again (skip, then append) creates nothing: same planning as `restore`.
    let before = emu.requests();
    for extra in [&[][..], &[("conflict", "append")][..]] {
        let again = export_scaleway(&emu, B, requests.clone(), extra).await;
        assert!(again.iter().all(|r| r.error.is_empty()));
    }
    assert!(emu.requests() > before);
    let (after, _) = read_all(&scaleway(&emu, "nl-ams", B), &all_versions()).await;
    assert!(compare(&original, &after).is_empty());
    let versions =
        |s: &[secretsnap_core::Secret]| -> usize { s.iter().map(|s| s.versions.len()).sum() };
    assert_eq!(versions(&after), versions(&restored));

    // A dry run plans only.
    let c = "cccccccc-6666-4000-8000-00000000000c";
    let dry = export_scaleway(&emu, c, requests, &[("dry_run", "true")]).await;
    assert!(dry.iter().all(|r| r.error.is_empty()));
    let (nothing, _) = read_all(&scaleway(&emu, "nl-ams", c), &all_versions()).await;
    assert!(nothing.is_empty());
}

/// Imports `from` through the plugin and exports what came into `to`; every record and every
/// export must succeed.
async fn import_then_export(scheme: &str, keys: &[(&str, &str)], from: &str, to: &str) {
    let p = plugin("importer").await;
    let mut cfg = config(keys);
    cfg.insert("location".into(), from.into());
    let imported = host::import(p.channel.clone(), scheme, cfg, true)
        .await
        .unwrap();
    exits_cleanly(p).await;
    assert!(imported.records.iter().all(|r| r.error.is_empty()));
    let p = plugin("exporter").await;
    let mut cfg = config(keys);
    cfg.insert("location".into(), to.into());
    let requests = host::export_requests(&imported.records, &imported.contents);
    let results = host::export(p.channel.clone(), scheme, cfg, requests)
        .await
        .unwrap();
    exits_cleanly(p).await;
    let errors: Vec<_> = results.iter().filter(|r| !r.error.is_empty()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[tokio::test]
async fn aws_region_through_importer_and_exporter() {
    let Some(url) = secretsnap_aws::fixtures::moto_endpoint() else {
        return;
    };
    let aws = |region: &str| {
        let url = url.clone();
        let region = region.to_string();
        async move {
            secretsnap_aws::AwsClient::connect(&region, Some(&url), Default::default())
                .await
                .unwrap()
        }
    };
    let west1 = aws("eu-west-1").await;
    secretsnap_aws::fixtures::seed(&west1, "plk").await.unwrap();
    let keys = [
        ("access_key", "testing"),
        ("secret_key", "testing"),
        ("api_url", url.as_str()),
    ];
    import_then_export(
        "aws-secrets",
        &keys,
        "aws-secrets://eu-west-1?path=/plk",
        "aws-secrets://eu-west-2",
    )
    .await;

    let under = Filter {
        path_prefix: Some("/plk".into()),
        ..Default::default()
    };
    let (original, _) = read_all(&secretsnap_aws::AwsSource::new(west1), &under).await;
    let west2 = aws("eu-west-2").await;
    let (restored, _) = read_all(&secretsnap_aws::AwsSource::new(west2), &under).await;
    assert!(!original.is_empty());
    assert_eq!(
        secretsnap_aws::fixtures::shape(&original),
        secretsnap_aws::fixtures::shape(&restored),
        "VersionIds, labels, values, tags and descriptions come through the plugin"
    );
    let kinds = |s: &[secretsnap_core::Secret]| -> Vec<String> {
        s.iter().map(|s| s.kind.clone()).collect()
    };
    assert_eq!(kinds(&original), kinds(&restored), "binary stays binary");
}

#[tokio::test]
async fn host_that_never_acks_still_gets_everything() {
    let emu = emulator().await;
    emu.seed("fr-par", A, 150, 2);
    let imported = import_scaleway(&emu, false).await;
    assert_eq!(imported.acks_sent, 0);
    let files = imported.records.iter().filter(|r| r.has_reader).count();
    // 150 secret.json + 300 versions + the info file, far more than any buffer in between.
    assert_eq!(files, 150 + 300 + 1);
    assert_eq!(imported.contents.len(), files);
}

#[tokio::test]
async fn host_closing_mid_import_or_dying_leaves_no_process_behind() {
    let emu = emulator().await;
    emu.seed("fr-par", A, 150, 2);
    let location = format!("scaleway-secrets://fr-par/{A}");
    let url = emu.url();
    let cfg = config(&[
        ("location", &location),
        ("secret_key", "t"),
        ("api_url", &url),
    ]);
    for dies in [false, true] {
        let p = plugin("importer").await;
        let mut client = ImporterClient::new(p.channel.clone());
        client
            .init(importer::InitRequest {
                options: None,
                proto: "scaleway-secrets".into(),
                config: cfg.clone(),
            })
            .await
            .unwrap();
        let (acks, rx) = tokio::sync::mpsc::channel(1);
        let mut stream = client
            .import(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        for _ in 0..5 {
            assert!(stream.message().await.unwrap().is_some());
        }
        if dies {
            // The host vanishes: its end of the pipes closes with streams in flight.
            drop((stream, acks, client));
        } else {
            // The host cancels the import, checks the plugin still answers, then leaves.
            drop((stream, acks));
            client.ping(importer::PingRequest {}).await.unwrap();
            drop(client);
        }
        exits_cleanly(p).await;
    }
}

#[tokio::test]
async fn reserved_names_get_folders_of_their_own_and_hints_name_plugin_keys() {
    use secretsnap_scaleway::emulator::SeedSecret;
    let emu = emulator().await;
    let secret = |path: &str, name: &str, value: &str| SeedSecret {
        path: path.into(),
        name: name.into(),
        kind: "opaque".into(),
        tags: vec![],
        description: String::new(),
        protected: false,
        versions: vec![(value.into(), String::new())],
        disabled: vec![],
    };
    // A secret, and secrets named like its records inside its folder.
    emu.seed_secrets(
        "fr-par",
        A,
        &[
            secret("/team", "app", "one"),
            secret("/team/app", "versions", "two"),
            secret("/team/app", "secret.json", "three"),
            secret("/team/app/versions", "1", "four"),
            secret("/", ".secretsnap.json", "five"),
        ],
    );
    let imported = import_scaleway(&emu, true).await;
    let mut paths: Vec<&str> = imported
        .records
        .iter()
        .map(|r| r.pathname.as_str())
        .collect();
    let all = paths.len();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), all, "no two records share a pathname");
    assert!(imported.records.iter().all(|r| r.error.is_empty()));

    let requests = host::export_requests(&imported.records, &imported.contents);
    let results = export_scaleway(&emu, B, requests.clone(), &[]).await;
    let errors: Vec<_> = results.iter().filter(|r| !r.error.is_empty()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let (original, _) = read_all(&scaleway(&emu, "fr-par", A), &all_versions()).await;
    let (restored, _) = read_all(&scaleway(&emu, "nl-ams", B), &all_versions()).await;
    assert_eq!(restored.len(), 5);
    let diffs = compare(&original, &restored);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    // Planning for the plugin names its config keys, not the command line's flags.
    let cfg = secretsnap_plakar::config::PluginConfig::parse(
        "scaleway-secrets",
        &config(&[("location", &format!("scaleway-secrets://nl-ams/{B}"))]),
        secretsnap_plakar::config::Side::Exporter,
    )
    .unwrap();
    let client = Client::new(
        Credentials::new("t", None, Some("nl-ams"), Some(&emu.url())),
        "nl-ams",
        ClientOptions::default(),
    )
    .unwrap();
    let dest = secretsnap_scaleway::ScalewayDestination::new(client, B);
    let item = secretsnap_core::Destination::plan(&dest, &original[0], &cfg.restore)
        .await
        .unwrap();
    let secretsnap_core::Action::Skip { reason } = &item.action else {
        panic!("{item:?}");
    };
    assert!(reason.contains("conflict=append"), "{reason}");
    assert!(!reason.contains("--"), "{reason}");
}

#[tokio::test]
async fn a_secret_that_cannot_be_restored_fails_its_own_records_only() {
    let emu = emulator().await;
    emu.seed_demo("fr-par", A);
    let mut imported = import_scaleway(&emu, true).await;
    let (original, _) = read_all(&scaleway(&emu, "fr-par", A), &all_versions()).await;
    // One value grows past Scaleway's 64 KiB limit; another secret's metadata is corrupt.
    let too_big = &original[0];
    let too_big_dir = layout::secret_dir(too_big);
    let version = layout::version_path(&too_big_dir, &too_big.versions[0]);
    imported.contents.insert(version, vec![b'x'; 70 * 1024]);
    let corrupt_dir = layout::secret_dir(&original[1]);
    imported
        .contents
        .insert(format!("{corrupt_dir}/secret.json"), b"{not json".to_vec());

    let results = export_scaleway(
        &emu,
        B,
        host::export_requests(&imported.records, &imported.contents),
        &[],
    )
    .await;
    for r in &results {
        let header = r.header.as_ref().unwrap();
        let path = &header.pathname;
        let dir = header.file_info.as_ref().unwrap().mode & layout::MODE_DIR != 0;
        let in_big = path.starts_with(&format!("{too_big_dir}/"));
        let is_corrupt = *path == format!("{corrupt_dir}/secret.json");
        let in_corrupt = path.starts_with(&format!("{corrupt_dir}/versions/"));
        if !dir && (in_big || is_corrupt || in_corrupt) {
            assert!(!r.error.is_empty(), "{path} must fail");
        } else {
            assert!(r.error.is_empty(), "{path}: {}", r.error);
        }
    }
    let big_error = results
        .iter()
        .find(|r| r.header.as_ref().unwrap().pathname == format!("{too_big_dir}/secret.json"))
        .unwrap();
    assert!(
        big_error.error.contains(&too_big.full_name()),
        "{}",
        big_error.error
    );
    let (restored, _) = read_all(&scaleway(&emu, "nl-ams", B), &all_versions()).await;
    assert_eq!(
        restored.len(),
        original.len() - 2,
        "every other secret is restored"
    );
}

#[test]
fn garbage_on_the_wire_is_a_real_error() {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .args(["plakar", "importer"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"GET / HTTP/1.1\r\nHost: not-grpc\r\n\r\nthis is not HTTP/2 at all")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
}

/// What `plakar pkg build docs/deploy/plakar-recipe.yaml` does with a clone of a tag: `make`
/// there must build the binary the manifest names and generate the manifest beside it (checked
/// with `make -n`, which builds nothing), and the recipe must name this version as the tag.
#[test]
fn plakar_pkg_build_finds_a_makefile_a_manifest_and_a_recipe() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipe = std::fs::read_to_string(root.join("docs/deploy/plakar-recipe.yaml")).unwrap();
    let field = |k: &str| {
        recipe
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("recipe has no {k}"))
            .trim()
            .to_string()
    };
    let manifest = secretsnap_plakar::manifest::Manifest::embedded().unwrap();
    assert_eq!(field("name"), manifest.name);
    assert!(field("name")
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_'));
    assert_eq!(field("version"), format!("v{}", env!("CARGO_PKG_VERSION")));

    let dry = std::process::Command::new("make")
        .args(["-n", "-B", "-C"])
        .arg(root)
        .output()
        .expect("make is installed");
    let steps = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{steps}");
    let exe = &manifest.connectors[0].executable;
    assert!(steps.contains("cargo build --release"), "{steps}");
    assert!(
        steps.contains(&format!("target/release/secretsnap {exe}")),
        "{steps}"
    );
    assert!(
        steps.contains(&format!("./{exe} plakar manifest --out .")),
        "{steps}"
    );

    // The manifest the Makefile generates speaks Plakar's protocol version in its spelling.
    let out = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(BIN)
        .args(["plakar", "manifest", "--out"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(st.success());
    let yaml = std::fs::read_to_string(out.path().join("manifest.yaml")).unwrap();
    assert!(yaml.contains("api_version: v1.1.0"), "{yaml}");
    assert!(yaml.contains(&format!("executable: {exe}")), "{yaml}");
}

/// A KV mount through the plugin (`vault-secrets://MOUNT`, the token as `secret_key`, the address
/// as `api_url`): imported with every version, exported into another mount where each keeps its
/// number and state.
#[tokio::test]
async fn vault_mount_through_importer_and_exporter() {
    use secretsnap_vault::client::Method;
    use secretsnap_vault::fixtures;
    let Some(addr) = fixtures::server() else {
        return;
    };
    let token = fixtures::token();
    let root = fixtures::client(&addr, &token, None);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (a, b) = (format!("plk-a-{nanos:x}"), format!("plk-b-{nanos:x}"));
    let call = |method: Method, path: String, body: serde_json::Value| {
        let root = root.clone();
        async move {
            let bytes = body.to_string();
            root.ok_json(method, &path, Some(bytes.as_bytes()))
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"))
        }
    };
    for m in [&a, &b] {
        let kv = serde_json::json!({"type": "kv", "options": {"version": "2"}});
        call(Method::POST, format!("sys/mounts/{m}"), kv).await;
    }
    for i in 0..3 {
        let data = serde_json::json!({"data": {"i": i, "on": i % 2 == 0}});
        call(Method::POST, format!("{a}/data/team/key"), data).await;
    }
    let one = serde_json::json!({"versions": [1]});
    call(Method::PUT, format!("{a}/destroy/team/key"), one).await;
    let keys = [("secret_key", token.as_str()), ("api_url", addr.as_str())];
    import_then_export(
        "vault-secrets",
        &keys,
        &format!("vault-secrets://{a}"),
        &format!("vault-secrets://{b}"),
    )
    .await;

    let (original, _) = read_all(
        &secretsnap_vault::VaultSource::new(root.clone(), &a),
        &Filter::default(),
    )
    .await;
    let (restored, _) = read_all(
        &secretsnap_vault::VaultSource::new(root.clone(), &b),
        &Filter::default(),
    )
    .await;
    assert_eq!(original.len(), 1);
    assert!(secretsnap_core::conformance::compare(&original, &restored).is_empty());
    let states = |s: &[secretsnap_core::Secret]| -> Vec<(String, String)> {
        s[0].versions
            .iter()
            .map(|v| (v.id.clone(), v.status.to_string()))
            .collect()
    };
    assert_eq!(
        states(&original),
        states(&restored),
        "numbers and states kept"
    );
    assert_eq!(
        states(&restored)[0],
        ("1".to_string(), "deleted".to_string())
    );
}

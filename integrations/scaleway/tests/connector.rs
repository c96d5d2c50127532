//! The Scaleway connectors against the emulator over HTTP: the shared conformance round trip
//! (project A in fr-par → project B in nl-ams, every settable field, version order, status,
//! description and value equal; a second restore creates nothing), a fault test (10 % injected
//! faults and the 50 req/s limit on: every item stored or named as failed, no 429 reaches the
//! user), and the incremental request count (nothing changed → zero payload reads).

use std::time::Duration;

use futures::StreamExt;
use secretsnap_core::conformance::{read_all, round_trip};
use secretsnap_core::{Filter, Payload, RestoreOptions, Source};
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};
use serde_json::json;

const A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";

fn client(emu: &Emulator, region: &str, opts: ClientOptions) -> Client {
    Client::new(
        Credentials::new("test-token", None, Some(region), Some(&emu.url())),
        region,
        opts,
    )
    .unwrap()
}

#[tokio::test]
async fn conformance_round_trip_fr_par_to_nl_ams() {
    let emu = Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    emu.seed("fr-par", A, 12, 3);
    // Edge cases: a deleted version, a TTL-only ephemeral policy, a product-managed secret.
    emu.with_state(|st| {
        let id = st
            .create_secret(
                "fr-par",
                serde_json::from_value(json!({"project_id": A,
            "name": "rotated", "path": "/edge", "description": "with a deleted version",
                "ephemeral_policy": {"time_to_live": "86400s", "expires_once_accessed": false,
                    "action": "disable"}}))
                .unwrap(),
            )
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        for i in 0..3 {
            st.create_version(
                "fr-par",
                &id,
                serde_json::from_value(json!({"data": base64_of(&format!("r{i}")),
                    "description": format!("rot {i}")}))
                .unwrap(),
            )
            .unwrap();
        }
        st.delete_version("fr-par", &id, "2").unwrap();
        let managed = st
            .create_secret(
                "fr-par",
                serde_json::from_value(json!({"project_id": A,
            "name": "vpn",
                "path": "/s2s_vpn"}))
                .unwrap(),
            )
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        st.add_owner("fr-par", &managed, &json!({"product": "s2s_vpn"}))
            .unwrap();
    });
    let source = ScalewaySource::new(client(&emu, "fr-par", ClientOptions::default()), A);
    let dest = ScalewayDestination::new(client(&emu, "nl-ams", ClientOptions::default()), B);
    let reader = ScalewaySource::new(client(&emu, "nl-ams", ClientOptions::default()), B);
    let filter = Filter {
        read_disabled: true,
        ..Default::default()
    };
    let rt = round_trip(&source, &dest, &reader, &filter, &RestoreOptions::default()).await;
    secretsnap_core::conformance::skips_what_the_source_was_deleting(&dest).await;
    secretsnap_core::conformance::rules(&dest).await;
    // A reference: the emulator must outlive the closure (it stops when dropped).
    let target = &emu;
    secretsnap_core::conformance::refuses_what_the_target_is_deleting(&dest, |id| async move {
        target
            .with_state(|st| st.delete_secret("nl-ams", &id))
            .unwrap();
    })
    .await;
    eprintln!(
        "round trip: {} secrets, {} versions restored, {} API calls by the destination",
        rt.secrets, rt.versions_restored, rt.second.api_calls
    );
    assert_eq!(rt.secrets, 14);
    assert!(
        rt.first.skipped.iter().any(|s| s.item == "/s2s_vpn/vpn"),
        "managed secrets are skipped: {:?}",
        rt.first.skipped
    );
    assert!(
        rt.first
            .notes
            .iter()
            .any(|n| n.contains("version 2") && n.contains("scheduled_for_deletion")),
        "{:?}",
        rt.first.notes
    );
    // The old → new revision map is reported: the deleted revision 2 collapses.
    let map = &rt.first.applied["/edge/rotated"].versions;
    assert_eq!(
        map,
        &vec![
            ("1".to_string(), "1".to_string()),
            ("3".to_string(), "2".to_string())
        ]
    );
    // A protected secret stays protected, and the source's disabled versions are disabled again.
    let (a, _) = read_all(&source, &Filter::default()).await;
    assert!(a.iter().any(|s| s.protected));
    assert!(
        a.iter()
            .flat_map(|s| &s.versions)
            .filter(|v| v.status == "disabled")
            .count()
            >= 4
    );
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn backup(
    source: &ScalewaySource,
    known: &(dyn Fn(&str) -> Option<secretsnap_core::Version> + Sync + Send),
) -> Vec<secretsnap_core::Secret> {
    let filter = Filter::default();
    let listed = source.list(&filter).await.unwrap();
    futures::stream::iter(listed)
        .map(|s| {
            let filter = &filter;
            async move { source.fetch(s, filter, &known).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|f| panic!("secret failed as a whole: {f:?}")))
        .collect()
}

#[tokio::test]
async fn faults_and_rate_limit_lose_nothing() {
    let emu = Emulator::start(
        Config {
            fault_stall: Duration::from_millis(200),
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    emu.seed("fr-par", A, 200, 5);
    emu.configure(|c| c.fault_rate = 0.10);
    let opts = ClientOptions {
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let source = ScalewaySource::new(client(&emu, "fr-par", opts), A);
    let started = std::time::Instant::now();
    let secrets = backup(&source, &|_| None).await;
    let versions: Vec<_> = secrets.iter().flat_map(|s| &s.versions).collect();
    let read = versions
        .iter()
        .filter(|v| matches!(v.payload, Payload::Bytes(_)))
        .count();
    let named = versions
        .iter()
        .filter(|v| matches!(v.payload, Payload::NotRead(_) | Payload::Failed(_)))
        .count();
    let failed = versions
        .iter()
        .filter(|v| matches!(v.payload, Payload::Failed(_)))
        .count();
    eprintln!(
        "faults: 200 secrets × 5 versions in {:?}: {read} read, {named} named ({failed} failed), \
         {} requests, {} faults injected, {} 429s from the server",
        started.elapsed(),
        source.calls(),
        emu.counters()
            .faults
            .load(std::sync::atomic::Ordering::Relaxed),
        emu.counters()
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(secrets.len(), 200);
    assert_eq!(versions.len(), 1000);
    assert_eq!(read + named, 1000, "every version is stored or named");
    assert!(
        read >= 900,
        "disabled versions aside, retries must recover the faults"
    );
    assert!(
        versions
            .iter()
            .all(|v| !matches!(&v.payload, Payload::Failed(r) if r.contains("429"))),
        "no 429 reaches the user"
    );
    assert!(
        emu.counters()
            .faults
            .load(std::sync::atomic::Ordering::Relaxed)
            > 50,
        "faults were really injected"
    );
}

#[tokio::test]
async fn incremental_backup_reads_no_payload() {
    let emu = Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    emu.seed("fr-par", A, 30, 4);
    let source = ScalewaySource::new(client(&emu, "fr-par", ClientOptions::default()), A);
    let first = backup(&source, &|_| None).await;
    let keys: std::collections::HashSet<String> = first
        .iter()
        .flat_map(|s| {
            s.versions
                .iter()
                .filter(|v| matches!(v.payload, Payload::Bytes(_)))
                .map(|v| s.item_key(v))
        })
        .collect();
    let reads_before = emu.accesses();
    let calls_before = source.calls();
    let second = backup(&source, &move |k: &str| {
        keys.contains(k).then(Default::default)
    })
    .await;
    assert_eq!(
        emu.accesses() - reads_before,
        0,
        "an unchanged project needs zero payload reads"
    );
    assert!(second
        .iter()
        .flat_map(|s| &s.versions)
        .all(|v| !matches!(v.payload, Payload::Bytes(_))));
    eprintln!(
        "incremental: {} API calls (list + versions only), 0 payload reads",
        source.calls() - calls_before
    );
}

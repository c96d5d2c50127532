//! The Scaleway provider opens connectors per key: two connectors with different keys in one
//! process use their own keys (a clone from one organization into another works in one run,
//! each side acting with its own key), and connectors of one key share one client.

use std::collections::HashMap;

use secretsnap_core::conformance::read_all;
use secretsnap_core::restore::restore_all;
use secretsnap_core::{Access, Filter, Keys, Provider, RestoreOptions};
use secretsnap_scaleway::emulator::{Config, Emulator, Grant};
use secretsnap_scaleway::ScalewayProvider;

const PA: &str = "aaaaaaaa-9999-4000-8000-00000000000a";
const PB: &str = "bbbbbbbb-9999-4000-8000-00000000000b";

fn keys(k: &str) -> Keys {
    Keys {
        secret_key: Some(zeroize::Zeroizing::new(k.to_string())),
        ..Default::default()
    }
}

#[tokio::test]
async fn two_keys_in_one_process_each_act_with_their_own() {
    let grant = |p: &str| Grant {
        projects: Some(vec![p.to_string()]),
        write: true,
    };
    let config = Config {
        tokens: HashMap::from([
            ("org-a-key".to_string(), grant(PA)),
            ("org-b-key".to_string(), grant(PB)),
        ]),
        rate_limit: None,
        ..Default::default()
    };
    let emu = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    emu.seed("fr-par", PA, 4, 2);
    let url = emu.url();
    let provider = ScalewayProvider::default();
    let (a, b) = (keys("org-a-key"), keys("org-b-key"));
    let at = |scope, keys| Access {
        region: "fr-par",
        scope,
        keys,
        api_url: Some(&url),
        max_rate: None,
        profile: None,
    };
    let source = provider.source(at(PA, &a)).await.unwrap();
    let dest = provider.destination(at(PB, &b)).await.unwrap();
    let (secrets, failed) = read_all(source.as_ref(), &Filter::default()).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(secrets.len(), 4);
    let (_, report) = restore_all(dest.as_ref(), &secrets, &RestoreOptions::default(), false).await;
    assert!(
        report.failed.is_empty(),
        "the destination acts with org B's key: {:?}",
        report.failed
    );
    assert_eq!(report.created_secrets, 4);

    // Org A's key still cannot see org B's project: nothing was granted by sharing a client.
    let wrong = provider.source(at(PB, &a)).await.unwrap();
    let err = wrong.list(&Filter::default()).await;
    assert!(err.is_err() || err.unwrap().is_empty());
}

//! The page-by-page listing a backup fetches from, against the emulator, with changes made
//! between two of its pages: the API pages by offset, so deleting or creating a secret before the
//! cursor shifts every later page. Every secret that existed throughout must still come out,
//! each exactly once; a one-page project costs no extra call.

use std::collections::HashMap;

use futures::StreamExt;
use secretsnap_core::{Filter, Source};
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{Client, ClientOptions, Credentials, ScalewaySource};
use serde_json::json;

const P: &str = "cccccccc-0000-4000-8000-00000000000c";

async fn emulator(secrets: usize) -> (Emulator, Vec<String>) {
    let config = Config {
        rate_limit: None,
        ..Default::default()
    };
    let emu = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ids = emu.seed("fr-par", P, secrets, 1);
    (emu, ids)
}

fn source(emu: &Emulator) -> ScalewaySource {
    let creds = Credentials::new("t", None, Some("fr-par"), Some(&emu.url()));
    let client = Client::new(creds, "fr-par", ClientOptions::default()).unwrap();
    ScalewaySource::new(client, P)
}

/// How often each id came out of the listing, after `between` ran once the first page was in.
async fn listed_with(source: &ScalewaySource, between: impl FnOnce()) -> HashMap<String, usize> {
    let filter = Filter::default();
    let mut pages = source.list_pages(&filter);
    let mut seen = HashMap::new();
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.len(), 100, "the first page is a full page");
    for s in first {
        *seen.entry(s.id).or_insert(0) += 1;
    }
    between();
    while let Some(page) = pages.next().await {
        for s in page.unwrap() {
            *seen.entry(s.id).or_insert(0) += 1;
        }
    }
    seen
}

/// The ids of the `n` secrets first in the listing's order (name, then id).
fn first_by_name(emu: &Emulator, n: usize) -> Vec<String> {
    emu.with_state(|st| {
        let mut all: Vec<(String, String)> = st
            .secrets
            .values()
            .map(|s| (s.name.clone(), s.id.clone()))
            .collect();
        all.sort();
        all.into_iter().take(n).map(|(_, id)| id).collect()
    })
}

/// Every one of `ids` came out exactly once.
fn each_once(seen: &HashMap<String, usize>, ids: &[String]) {
    for id in ids {
        assert_eq!(seen.get(id), Some(&1), "secret {id} must be listed once");
    }
}

#[tokio::test]
async fn secrets_deleted_before_the_cursor_do_not_hide_later_ones() {
    let (emu, ids) = emulator(250).await;
    let source = source(&emu);
    // Five secrets of the first page are deleted (soft: they move to the deleted listing) once
    // that page is in: the live listing's later pages shift by five.
    let gone = first_by_name(&emu, 5);
    let seen = listed_with(&source, || {
        emu.with_state(|st| {
            for id in &gone {
                st.delete_secret("fr-par", id).unwrap();
            }
        })
    })
    .await;
    each_once(&seen, &ids);
    assert_eq!(seen.len(), 250);
}

#[tokio::test]
async fn secrets_created_before_the_cursor_come_once_and_so_do_the_others() {
    let (emu, ids) = emulator(250).await;
    let source = source(&emu);
    let seen = listed_with(&source, || {
        emu.with_state(|st| {
            for i in 0..5 {
                let req = serde_json::from_value(json!({"project_id": P,
                    "name": format!("aaa-new-{i}")}))
                .unwrap();
                st.create_secret("fr-par", req).unwrap();
            }
        })
    })
    .await;
    each_once(&seen, &ids);
    // The five new ones are listed too (by the check pass): nothing is listed twice.
    assert_eq!(seen.len(), 255);
    assert!(seen.values().all(|n| *n == 1));
}

#[tokio::test]
async fn a_one_page_project_is_listed_in_two_calls() {
    let (emu, ids) = emulator(40).await;
    let source = source(&emu);
    let before = emu.requests();
    let listed = source.list(&Filter::default()).await.unwrap();
    assert_eq!(listed.len(), ids.len());
    // The live page and the (empty) page of secrets scheduled for deletion: no check pass.
    assert_eq!(emu.requests() - before, 2);
}

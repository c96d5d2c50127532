//! The backend conformance suite: one function every `Backend` implementation's tests call
//! (local always, memory, S3 on moto). It asserts the contract written in `backend/mod.rs`;
//! it panics with a message naming the broken rule, as a test should.

use std::sync::Arc;

use bytes::Bytes;

use super::Backend;
use crate::error::Error;

/// Runs every check against an empty `backend`; `label` names it in failure messages.
pub async fn run(backend: Arc<dyn Backend>, label: &str) {
    put_get_round_trip(&*backend, label).await;
    create_only(&*backend, label).await;
    missing_objects(&*backend, label).await;
    listing(&*backend, label).await;
    ranges(&*backend, label).await;
    concurrent_create_has_one_winner(backend.clone(), label).await;
    delete_is_idempotent(&*backend, label).await;
}

async fn put_get_round_trip(b: &dyn Backend, label: &str) {
    let data = Bytes::from((0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    assert!(
        b.put_if_absent("conf/a/obj1", data.clone()).await.unwrap(),
        "{label}: first put must create"
    );
    assert_eq!(
        b.get("conf/a/obj1").await.unwrap(),
        data,
        "{label}: get returns what was put"
    );
    assert!(
        b.put_if_absent("conf/empty", Bytes::new()).await.unwrap(),
        "{label}: empty objects allowed"
    );
    assert_eq!(
        b.get("conf/empty").await.unwrap().len(),
        0,
        "{label}: empty object reads empty"
    );
}

async fn create_only(b: &dyn Backend, label: &str) {
    assert!(b
        .put_if_absent("conf/once", Bytes::from_static(b"first"))
        .await
        .unwrap());
    let second = b
        .put_if_absent("conf/once", Bytes::from_static(b"second"))
        .await
        .unwrap();
    assert!(
        !second,
        "{label}: second put of a name must report it exists"
    );
    assert_eq!(
        &b.get("conf/once").await.unwrap()[..],
        b"first",
        "{label}: existing object untouched"
    );
}

async fn missing_objects(b: &dyn Backend, label: &str) {
    assert!(
        matches!(b.get("conf/nope").await, Err(Error::NotFound(_))),
        "{label}: missing get is NotFound"
    );
    assert!(
        b.list("nothing-here/").await.unwrap().is_empty(),
        "{label}: empty prefix lists nothing"
    );
    assert!(
        b.get("../escape").await.is_err(),
        "{label}: names may not escape the root"
    );
}

async fn listing(b: &dyn Backend, label: &str) {
    for i in 0..25 {
        b.put_if_absent(
            &format!("conf/list/{:02}/{i}", i % 3),
            Bytes::from(vec![i as u8; i]),
        )
        .await
        .unwrap();
    }
    b.put_if_absent("conf/listing-sibling", Bytes::from_static(b"x"))
        .await
        .unwrap();
    let listed = b.list("conf/list/").await.unwrap();
    assert_eq!(
        listed.len(),
        25,
        "{label}: list returns every object under the prefix, no sibling"
    );
    for o in &listed {
        let i: usize = o.name.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(
            o.name,
            format!("conf/list/{:02}/{i}", i % 3),
            "{label}: names are relative to the root"
        );
        assert_eq!(o.size, i as u64, "{label}: sizes are listed");
    }
    let mut sorted = listed.clone();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed, sorted, "{label}: list is sorted by name");
}

async fn ranges(b: &dyn Backend, label: &str) {
    b.put_if_absent("conf/range", Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    assert_eq!(
        &b.get_range("conf/range", 2..5).await.unwrap()[..],
        b"234",
        "{label}: range read"
    );
    assert_eq!(
        &b.get_range("conf/range", 7..10).await.unwrap()[..],
        b"789",
        "{label}: tail range read"
    );
}

async fn concurrent_create_has_one_winner(b: Arc<dyn Backend>, label: &str) {
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            b.put_if_absent("conf/race", Bytes::from(vec![i; 4096]))
                .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "{label}: exactly one concurrent create wins");
    let got = b.get("conf/race").await.unwrap();
    assert!(
        got.len() == 4096 && got.iter().all(|&x| x == got[0]),
        "{label}: the winner's bytes, whole"
    );
}

async fn delete_is_idempotent(b: &dyn Backend, label: &str) {
    b.delete("conf/once").await.unwrap();
    b.delete("conf/once").await.unwrap();
    assert!(
        matches!(b.get("conf/once").await, Err(Error::NotFound(_))),
        "{label}: deleted object is gone"
    );
    assert!(
        b.put_if_absent("conf/once", Bytes::from_static(b"again"))
            .await
            .unwrap(),
        "{label}: name reusable after delete"
    );
}

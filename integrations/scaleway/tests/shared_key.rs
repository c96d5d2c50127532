//! Two processes of one API key share its quota: two clients with pacers of their own (as two
//! scheduler jobs are two processes) back up two projects at once against the emulator's live
//! limit (50 requests per key per one-second window). Each learns from the `X-Ratelimit-*`
//! headers what the other uses, so together they stay near the limit instead of fighting in
//! 429s, and every value is read.

use std::sync::atomic::Ordering;

use secretsnap_core::conformance::read_all;
use secretsnap_core::{Filter, Payload};
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{Client, ClientOptions, Credentials, ScalewaySource};

const A: &str = "aaaaaaaa-5555-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-5555-4000-8000-00000000000b";

fn client(emu: &Emulator) -> Client {
    let creds = Credentials::new("one-key", None, Some("fr-par"), Some(&emu.url()));
    Client::new(creds, "fr-par", ClientOptions::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_of_one_key_share_its_quota() {
    let emu = Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    emu.seed("fr-par", A, 40, 2);
    emu.seed("fr-par", B, 40, 2);
    let (a, b) = (
        ScalewaySource::new(client(&emu), A),
        ScalewaySource::new(client(&emu), B),
    );
    let filter = Filter::default();
    let started = std::time::Instant::now();
    let ((sa, fa), (sb, fb)) = tokio::join!(read_all(&a, &filter), read_all(&b, &filter));
    let wall = started.elapsed();
    let requests = emu.counters().requests.load(Ordering::Relaxed);
    let refused = emu.counters().rate_limited.load(Ordering::Relaxed);
    eprintln!(
        "two clients of one key: {requests} requests in {wall:?} ({:.1}/s), {refused} × 429",
        requests as f64 / wall.as_secs_f64()
    );
    assert!(fa.is_empty() && fb.is_empty(), "{fa:?} {fb:?}");
    for secrets in [&sa, &sb] {
        assert_eq!(secrets.len(), 40);
        let read = secrets
            .iter()
            .flat_map(|s| &s.versions)
            .filter(|v| matches!(v.payload, Payload::Bytes(_)))
            .count();
        assert!(read >= 60, "values read despite the shared quota: {read}");
    }
    // Without sharing, two pacers at 48.5/s each would have half their requests refused.
    assert!(
        refused * 10 < requests,
        "{refused} of {requests} requests refused: the clients did not share the quota"
    );
}

//! Decrypting arbitrary bytes as any kind of sealed object fails cleanly (no panic, no garbage).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secretsnap_store::crypto::{Keys, Kind, MasterKey};
use secretsnap_store::Id;

fuzz_target!(|data: &[u8]| {
    let keys = Keys::new(&MasterKey::generate(), [3; 16]);
    for kind in [Kind::Data, Kind::Tree, Kind::PackHeader, Kind::Index, Kind::Snapshot, Kind::Lock] {
        assert!(keys.open(kind, &Id([0; 32]), data).is_err(), "random bytes never authenticate");
    }
});

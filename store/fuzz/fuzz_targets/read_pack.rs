//! A whole pack file from arbitrary bytes: the trailer, header length and header parsing are
//! bounds-checked. A valid pack with arbitrary corruption spliced in must be rejected or read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secretsnap_store::crypto::{Keys, Kind, MasterKey};
use secretsnap_store::pack::{read_header, PackBuilder};
use secretsnap_store::Id;

fuzz_target!(|data: &[u8]| {
    let keys = Keys::new(&MasterKey::generate(), [5; 16]);
    let _ = read_header(&keys, &Id([1; 32]), data);
    let mut b = PackBuilder::new();
    b.add(&keys, Kind::Data, keys.blob_id(Kind::Data, data), data)
        .expect("a fuzz input is far below 4 GiB");
    let pack = b.finish(&keys);
    let mut bytes = pack.bytes.clone();
    if let Some((&pos, rest)) = data.split_first() {
        let at = pos as usize % bytes.len();
        for (i, x) in rest.iter().take(8).enumerate() {
            if let Some(slot) = bytes.get_mut(at + i) {
                *slot ^= x;
            }
        }
    }
    match read_header(&keys, &pack.id, &bytes) {
        Ok(entries) => assert_eq!(entries, pack.entries),
        Err(_) => assert_ne!(bytes, pack.bytes),
    }
});

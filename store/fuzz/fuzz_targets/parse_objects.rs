//! Every parser of a decrypted on-disk object (config, key file, pack header, index, tree,
//! snapshot header) fed the same arbitrary bytes: each must return Ok or Err, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secretsnap_store::{config::RepoConfig, index::IndexFile, keyfile::KeyFile, pack, snapshot};

fuzz_target!(|data: &[u8]| {
    let _ = RepoConfig::parse(data);
    let _ = KeyFile::parse(data);
    if let Ok(entries) = pack::parse_header(data) {
        assert_eq!(pack::parse_header(&pack::encode_header(&entries)).unwrap(), entries);
    }
    if let Ok(index) = IndexFile::parse(data) {
        assert_eq!(IndexFile::parse(&index.encode()).unwrap(), index);
    }
    if let Ok(tree) = snapshot::parse_tree(data) {
        assert_eq!(snapshot::parse_tree(&snapshot::encode_tree(&tree)).unwrap(), tree);
    }
    let _ = snapshot::SnapshotHeader::parse(data);
    let _ = secretsnap_store::padding::unpad(data);
});

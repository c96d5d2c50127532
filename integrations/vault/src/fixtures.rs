//! What tests of every crate need to reach the OpenBao server `tests/run.sh` starts: its address
//! (`SECRETSNAP_TEST_VAULT`; skipped with a message when unset, a failure when
//! `SECRETSNAP_REQUIRE_SERVERS` is set) and a client with its root token.

use crate::client::{ClientOptions, ServerAccess};
use crate::VaultClient;

/// The test server's address, or `None` (after saying why) when the test must skip.
pub fn server() -> Option<String> {
    address("SECRETSNAP_TEST_VAULT")
}

/// A second test server (`SECRETSNAP_TEST_VAULT_2`, same token), or `None` as `server` says.
pub fn second_server() -> Option<String> {
    address("SECRETSNAP_TEST_VAULT_2")
}

/// The address in `var`; unset: skip with a message, or fail when servers are required.
fn address(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) if std::env::var_os("SECRETSNAP_REQUIRE_SERVERS").is_some() => {
            panic!("{var} is not set: run the tests through tests/run.sh")
        }
        Err(_) => {
            eprintln!("skipped: {var} is not set (tests/run.sh starts OpenBao)");
            None
        }
    }
}

/// The test server's root token.
pub fn token() -> String {
    std::env::var("SECRETSNAP_TEST_VAULT_TOKEN").unwrap_or_else(|_| "root".into())
}

/// A client of `addr` as `token`, in `namespace`.
pub fn client(addr: &str, token: &str, namespace: Option<&str>) -> VaultClient {
    VaultClient::new(
        ServerAccess {
            addr: addr.into(),
            token: token.to_string().into(),
            namespace: namespace.map(String::from),
        },
        ClientOptions::default(),
    )
    .expect("a client of the test server")
}

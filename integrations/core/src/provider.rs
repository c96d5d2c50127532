//! The seam a provider crate plugs into. Each provider crate (scaleway, aws) implements
//! `Provider` in its own `config` module: it resolves its credentials, region and scope from one
//! place (explicit `Keys`, else the provider's usual environment and files) and opens its
//! connectors. The command line's locations and the Plakar plugin's config both reach a provider
//! through this trait only, so a new provider is a crate plus one line in the list of providers.

use crate::{Destination, Error, Source};

/// Credentials given explicitly (the configuration's references, the plugin's keys) instead of
/// the provider's usual environment and files. The secret parts are zeroized and never printed.
#[derive(Clone, Default)]
pub struct Keys {
    pub access_key: Option<String>,
    pub secret_key: Option<zeroize::Zeroizing<String>>,
    pub session_token: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |k: &Option<zeroize::Zeroizing<String>>| k.as_ref().map(|_| "<redacted>");
        f.debug_struct("Keys")
            .field("access_key", &self.access_key)
            .field("secret_key", &set(&self.secret_key))
            .field("session_token", &set(&self.session_token))
            .finish()
    }
}

/// Where and as whom to connect, in provider-neutral terms.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The location's region; empty: the provider's default (credentials or environment).
    pub region: &'a str,
    /// The location's scope (Scaleway project id); empty: the provider's default.
    pub scope: &'a str,
    pub keys: &'a Keys,
    /// API endpoint (the emulator, moto, a proxy); `None`: the provider's own.
    pub api_url: Option<&'a str>,
    /// At most this many requests per second to the provider, whatever its quota allows (a key
    /// or account whose quota production traffic shares).
    pub max_rate: Option<f64>,
    /// A named profile of the provider's own configuration (an scw config profile, an AWS
    /// shared-config profile) for this location only (`?profile=NAME`): its credentials win
    /// over the environment's, so each side of a clone can act as its own organization or
    /// account. Never credentials themselves, only the name of where they are.
    pub profile: Option<&'a str>,
}

/// What a provider-specific location parameter sets (`Provider::location_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationPart {
    /// The scope, as the URL's path would.
    Scope,
    /// The API address for this location only (`--api-url` for every location).
    ApiUrl,
}

/// One secret manager: its name in location URLs and how to open its connectors. One value per
/// process is enough; connectors it opens share credentials and the per-key rate limit.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The scheme of its location URLs (`scaleway`, `aws`).
    fn name(&self) -> &'static str;

    /// What its destinations can hold and the conventions its secrets carry, known without
    /// connecting: the restore loop reads them when a secret of this provider goes elsewhere.
    fn capabilities(&self) -> crate::Capabilities;

    /// Other schemes that name this provider (`openbao` for `vault`); locations written with one
    /// are the provider's own.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// Query parameters its locations take besides the shared ones (`path`, `name`, `tag`,
    /// `type`, `profile`), each naming a part of the location in the provider's own words (a
    /// namespace for the scope, a server address for the API URL).
    fn location_params(&self) -> &'static [(&'static str, LocationPart)] {
        &[]
    }

    /// Refuses a region or scope this provider cannot address, saying what it expects; checked
    /// when a location is parsed, before anything connects.
    fn check_location(&self, _region: &str, _scope: &str) -> Result<(), String> {
        Ok(())
    }

    async fn source(&self, at: Access<'_>) -> Result<Box<dyn Source>, Error>;

    async fn destination(&self, at: Access<'_>) -> Result<Box<dyn Destination>, Error>;
}

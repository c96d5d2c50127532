//! The AWS SDK client, configured the way AWS users expect: the standard credential chain (env,
//! profiles, SSO, web identity, IMDS, credential_process), `AWS_REGION`/profile region unless the
//! location names one, `AWS_ENDPOINT_URL` honoured. Around it: one token bucket per AWS quota
//! group (`quota`: reads at 10 000/s, ListSecrets at 100/s, resource policies, version listings
//! and writes at 50/s each, all at 95 % of the quota and under `--max-rate`), the SDK's standard retry (throttling codes
//! retried with backoff, up to 5 attempts), and an interceptor that counts every attempt. STS
//! answers one question, once: which account the credentials act in.

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_secretsmanager::error::{BoxError, ProvideErrorMetadata, SdkError};
use secretsnap_core::polite::CallCounter;

use crate::quota::{Api, Quotas};
use secretsnap_core::Error;

/// Client options.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    /// The share of each of AWS's per-API quotas this process uses (the rest is left to the
    /// account's own traffic).
    pub quota_share: f64,
    /// Attempts per call, first included (the SDK's standard retry mode).
    pub max_attempts: u32,
    /// Keys given explicitly (the Plakar plugin's config); `None`: the standard credential chain.
    pub keys: Option<StaticKeys>,
    /// At most this many requests per second in all (`--max-rate`), on top of the per-API rates.
    pub max_rate: Option<f64>,
    /// A shared-config profile (`~/.aws/config`, `~/.aws/credentials`) whose credentials win
    /// over the environment's and whose settings (region, role to assume) apply: a location's
    /// `?profile=`. Wins over `keys` too: it names this location's credentials.
    pub profile: Option<String>,
}

/// Explicit AWS keys. The secret parts are zeroized here and never printed (the SDK keeps its
/// own copy for signing).
#[derive(Clone)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: zeroize::Zeroizing<String>,
    pub session_token: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            quota_share: 0.95,
            max_attempts: 5,
            keys: None,
            max_rate: None,
            profile: None,
        }
    }
}

#[derive(Debug)]
struct CountAttempts(Arc<CallCounter>);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "secretsnap-count-attempts"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.add();
        Ok(())
    }
}

/// One region's Secrets Manager.
#[derive(Clone)]
pub struct AwsClient {
    pub(crate) sdk: aws_sdk_secretsmanager::Client,
    pub(crate) sts: aws_sdk_sts::Client,
    account: Arc<std::sync::OnceLock<String>>,
    pub region: String,
    quotas: Arc<Quotas>,
    calls: Arc<CallCounter>,
}

impl AwsClient {
    /// Loads configuration from the environment; `region` empty = the configured default;
    /// `endpoint` overrides `AWS_ENDPOINT_URL` (tests, fakes).
    pub async fn connect(
        region: &str,
        endpoint: Option<&str>,
        opts: AwsOptions,
    ) -> Result<AwsClient, Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(opts.max_attempts.max(1)));
        if !region.is_empty() {
            loader = loader.region(Region::new(region.to_string()));
        }
        if let Some(e) = endpoint {
            loader = loader.endpoint_url(e);
        }
        if let Some(p) = &opts.profile {
            // The profile's own chain (static keys, a role to assume, SSO, a process), not the
            // default chain, which would take the environment's keys first.
            // STS (a role to assume) is called in the location's region, else the default one.
            let provider_config = if region.is_empty() {
                aws_config::provider_config::ProviderConfig::with_default_region().await
            } else {
                aws_config::provider_config::ProviderConfig::without_region()
                    .with_region(Some(Region::new(region.to_string())))
            };
            let creds = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(&provider_config)
                .profile_name(p)
                .build();
            loader = loader.profile_name(p).credentials_provider(creds);
        } else if let Some(k) = &opts.keys {
            loader = loader.credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                k.access_key_id.clone(),
                k.secret_access_key.to_string(),
                k.session_token.as_ref().map(|t| t.to_string()),
                None,
                "secretsnap-config",
            ));
        }
        let shared = loader.load().await;
        let region = shared.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::Config(
                "no AWS region: put it in the URL (aws://eu-west-1) or set AWS_REGION".into(),
            )
        })?;
        let calls = Arc::new(CallCounter::default());
        let conf = aws_sdk_secretsmanager::config::Builder::from(&shared)
            .interceptor(CountAttempts(calls.clone()))
            .build();
        let sts = aws_sdk_sts::config::Builder::from(&shared)
            .interceptor(CountAttempts(calls.clone()))
            .build();
        Ok(AwsClient {
            sdk: aws_sdk_secretsmanager::Client::from_conf(conf),
            sts: aws_sdk_sts::Client::from_conf(sts),
            account: Arc::default(),
            region,
            quotas: Arc::new(Quotas::new(opts.quota_share, opts.max_rate)),
            calls,
        })
    }

    /// The same credentials and quotas in another region (replica regions are looked at before
    /// a restore replicates there); calls are counted with this client's.
    pub fn for_region(&self, region: &str) -> AwsClient {
        let conf = self
            .sdk
            .config()
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        AwsClient {
            sdk: aws_sdk_secretsmanager::Client::from_conf(conf),
            region: region.to_string(),
            ..self.clone()
        }
    }

    /// Takes `other`'s quota buckets (same credential and region: one quota at AWS).
    pub(crate) fn share_quotas(&mut self, other: &AwsClient) {
        self.quotas = other.quotas.clone();
    }

    /// The SDK client (tests use it to seed and inspect).
    pub fn sdk(&self) -> &aws_sdk_secretsmanager::Client {
        &self.sdk
    }

    /// Every version of a secret, deprecated ones included, following every NextToken (which may
    /// come with no versions, and as "" at the end with moto).
    pub async fn list_versions(
        &self,
        arn: &str,
    ) -> Result<Vec<aws_sdk_secretsmanager::types::SecretVersionsListEntry>, Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.slot(Api::Versions).await;
            let page = self
                .sdk
                .list_secret_version_ids()
                .secret_id(arn)
                .include_deprecated(true)
                .max_results(100)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| error(&format!("ListSecretVersionIds {arn}"), e))?;
            out.extend(page.versions().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.into()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The account these credentials act in (STS GetCallerIdentity, asked once per client).
    pub async fn account(&self) -> Result<String, Error> {
        if let Some(a) = self.account.get() {
            return Ok(a.clone());
        }
        self.slot(Api::Sts).await;
        let me = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| error("GetCallerIdentity", e))?;
        let account = me
            .account()
            .ok_or_else(|| Error::Protocol("GetCallerIdentity: no account in the answer".into()))?
            .to_string();
        Ok(self.account.get_or_init(|| account).clone())
    }

    /// HTTP attempts so far (retries included).
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    /// Waits until a call of `api` fits its quota (and `--max-rate`), and counts it.
    pub(crate) async fn slot(&self, api: Api) {
        self.quotas.slot(api).await
    }

    /// Calls per quota group, and the least time they need at AWS's quotas.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }
}

/// Error codes AWS uses for throttling (retried by the SDK; seen here only once retries ran out).
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// Maps an SDK error to the connector error; `what` names the call and item, never a value.
pub(crate) fn error<E, R>(what: &str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let msg = |code: &str| {
        format!(
            "{what}: {code}: {}",
            e.message().unwrap_or("no message").replace('\n', " ")
        )
    };
    match &e {
        SdkError::ServiceError(_) => match e.code() {
            Some(c @ "ResourceNotFoundException") => Error::NotFound(msg(c)),
            Some(c @ "LimitExceededException") => Error::Quota(msg(c)),
            Some(c @ ("AccessDeniedException" | "AccessDenied")) => Error::Permission(msg(c)),
            Some(
                c @ ("UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "InvalidClientTokenId"),
            ) => Error::Auth(msg(c)),
            Some(c) if THROTTLING.contains(&c) => Error::Exhausted {
                attempts: 0,
                last: msg(c),
            },
            Some(c) => Error::Rejected(msg(c)),
            None => Error::Rejected(format!("{what}: HTTP error without an AWS error code")),
        },
        SdkError::TimeoutError(_) => Error::Transport(format!("{what}: timed out")),
        SdkError::DispatchFailure(d) => Error::Transport(format!(
            "{what}: cannot reach the endpoint ({})",
            if d.is_timeout() {
                "timeout"
            } else if d.is_io() {
                "I/O error"
            } else {
                "connection failed"
            }
        )),
        SdkError::ResponseError(_) => Error::Protocol(format!("{what}: unreadable response")),
        SdkError::ConstructionFailure(_) => Error::Config(format!("{what}: invalid request")),
        // A kind of SDK failure this code does not know: its text is not ours to forward.
        _ => Error::Protocol(format!("{what}: failed in the AWS SDK")),
    }
}

//! Reading a Scaleway project: ListSecrets (live, then scheduled for deletion, page by page and
//! checked against shifts, `listing.rs`), and per secret
//! ListSecretVersions plus AccessSecretVersion for each enabled version not already in the
//! repository. Disabled versions are metadata only unless `read_disabled` (enable → read →
//! disable: a write, said in the plan); expire-once-accessed versions are never read unless
//! `read_once`; secrets and versions scheduled for deletion are metadata only.

use futures::TryStreamExt;
use secretsnap_core::{
    Error, Filter, ItemFailure, Known, ListPages, Location, Opt, Payload, Secret, Source,
    VersionStatus,
};

use crate::client::Client;
use crate::{convert, listing};

/// `scaleway://REGION/PROJECT` as a source.
pub struct ScalewaySource {
    client: Client,
    location: Location,
}

impl ScalewaySource {
    pub fn new(client: Client, project: &str) -> Self {
        let location = Location {
            provider: "scaleway".into(),
            region: client.region.clone(),
            scope: project.to_string(),
        };
        ScalewaySource { client, location }
    }

    async fn read_version(
        &self,
        secret: &Secret,
        rev: &str,
        disabled: bool,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        if !disabled {
            return self.client.access(&secret.id, rev).await;
        }
        self.client
            .version_action(&secret.id, rev, "enable")
            .await?;
        let read = self.client.access(&secret.id, rev).await;
        let restore = self.client.version_action(&secret.id, rev, "disable").await;
        match (read, restore) {
            (Ok(r), Ok(_)) => Ok(r),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(Error::Rejected(format!(
                "read, but could not disable it again: \
             {e} — version {rev} is left ENABLED at the source"
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Source for ScalewaySource {
    fn location(&self) -> Location {
        self.location.clone()
    }

    async fn list(&self, filter: &Filter) -> Result<Vec<Secret>, Error> {
        let pages: Vec<Vec<Secret>> = self.list_pages(filter).try_collect().await?;
        Ok(pages.into_iter().flatten().collect())
    }

    fn list_pages<'a>(&'a self, filter: &'a Filter) -> ListPages<'a> {
        listing::pages(&self.client, &self.location, filter)
    }

    async fn fetch(
        &self,
        mut secret: Secret,
        filter: &Filter,
        known: &dyn Known,
    ) -> Result<Secret, ItemFailure> {
        let fail = ItemFailure::naming(secret.full_name());
        let listed = self.client.list_versions(&secret.id).await.map_err(&fail)?;
        let mut versions: Vec<_> = listed.iter().map(convert::version).collect();
        versions.sort_by_key(|v| v.id.parse::<u64>().unwrap_or(0));
        for v in &mut versions {
            // Values are immutable: one the repository holds is reused whatever the status now.
            if known.reuse(&secret.item_key(v), v) {
                continue;
            }
            let once = v
                .ephemeral
                .as_ref()
                .is_some_and(|e| e["expires_once_accessed"] == true);
            let skip = if secret.deletion_requested_at.is_some() {
                Some("secret scheduled for deletion: metadata only".to_string())
            } else if matches!(
                v.status,
                VersionStatus::ScheduledForDeletion | VersionStatus::Deleted
            ) {
                Some("version scheduled for deletion: metadata only".to_string())
            } else if once && !filter.read_once {
                Some(format!(
                    "expires once accessed: not read (reading would destroy it; opt in with {})",
                    filter.face.hint(Opt::ReadOnce, "")
                ))
            } else if v.status == VersionStatus::Disabled && !filter.read_disabled {
                Some(format!(
                    "disabled: metadata only (opt in with {}, which enables it briefly)",
                    filter.face.hint(Opt::ReadDisabled, "")
                ))
            } else if !v.status.restorable() {
                Some("unknown status: metadata only".to_string())
            } else {
                None
            };
            if let Some(why) = skip {
                v.not_read_because(why);
                continue;
            }
            match self
                .read_version(&secret, &v.id, v.status == VersionStatus::Disabled)
                .await
            {
                Ok(bytes) => v.payload = Payload::Bytes(bytes),
                Err(e) => {
                    v.failed(e.to_string());
                }
            }
        }
        secret.versions = versions;
        Ok(secret)
    }

    fn calls(&self) -> u64 {
        self.client.calls()
    }
}

//! `cat`: the one way to get a value out of a snapshot onto stdout. Finds a secret by
//! `path/name` (or by bare name when unique) and a version (default: the newest enabled version
//! whose value is in the snapshot).

use secretsnap_core::VersionStatus;
use secretsnap_store::{Id, Repository};
use zeroize::Zeroizing;

use super::records::secrets_from_entries;
use super::Error;

/// Reads one value. Errors name the secret and version, never a value.
pub async fn read_value(
    repo: &Repository,
    snapshot: &Id,
    secret: &str,
    version: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let header = super::records::header(repo, snapshot).await?;
    let entries = repo.entries(&header).await?;
    let all = secrets_from_entries(entries).map_err(Error::Snapshot)?;
    let wanted = if secret.starts_with('/') {
        secret.to_string()
    } else {
        format!("/{secret}")
    };
    let mut found: Vec<_> = all
        .iter()
        .filter(|(s, _)| s.full_name() == wanted)
        .collect();
    if found.is_empty() {
        found = all.iter().filter(|(s, _)| s.name == secret).collect();
    }
    let (s, contents) = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::Selection(format!(
                "no secret {secret} in this snapshot"
            )))
        }
        many => {
            return Err(Error::Selection(format!(
                "{secret} names {} secrets; give the full path: {}",
                many.len(),
                many.iter()
                    .map(|(s, _)| s.full_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let pick = match version {
        Some(v) => s
            .versions
            .iter()
            .position(|x| x.id == v)
            .ok_or_else(|| Error::Selection(format!("{} has no version {v}", s.full_name())))?,
        None => (0..s.versions.len())
            .rev()
            .find(|&i| contents[i].is_some() && s.versions[i].status == VersionStatus::Enabled)
            .or_else(|| (0..s.versions.len()).rev().find(|&i| contents[i].is_some()))
            .ok_or_else(|| {
                Error::Selection(format!("no value of {} is in this snapshot", s.full_name()))
            })?,
    };
    let v = &s.versions[pick];
    match &contents[pick] {
        Some(e) => Ok(repo.read_content(e).await?),
        None => Err(Error::Selection(format!(
            "the value of {} version {} is not in this snapshot: {}",
            s.full_name(),
            v.id,
            v.not_read.as_deref().unwrap_or("not read")
        ))),
    }
}

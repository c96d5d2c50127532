//! The one spelling of a scheduled job's name (`backup:SOURCE`, `drill:SOURCE`, `prune:REPO`,
//! `check:REPO`): the state file, the metrics, `status`, the exports and `schedule job NAME` all
//! key jobs by it, so it is made here and nowhere else.

use std::fmt;

/// A scheduled job's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(String);

impl JobId {
    /// The backup (and retention) of a configured source.
    pub fn backup(source: &str) -> JobId {
        JobId(format!("backup:{source}"))
    }

    /// The restore drill of a configured source.
    pub fn drill(source: &str) -> JobId {
        JobId(format!("drill:{source}"))
    }

    /// The prune of a configured repository.
    pub fn prune(repository: &str) -> JobId {
        JobId(format!("prune:{repository}"))
    }

    /// The check of a configured repository.
    pub fn check(repository: &str) -> JobId {
        JobId(format!("check:{repository}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind (`backup`, `drill`, `prune`, `check`) and what it is of (a source or a
    /// repository name).
    pub fn parts(&self) -> (&str, &str) {
        self.0.split_once(':').unwrap_or(("", &self.0))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<JobId> for String {
    fn from(j: JobId) -> String {
        j.0
    }
}

impl std::borrow::Borrow<str> for JobId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_spelled_once() {
        assert_eq!(JobId::backup("scw prod").as_str(), "backup:scw prod");
        assert_eq!(JobId::prune("main").parts(), ("prune", "main"));
        assert_eq!(JobId::check("a:b").parts(), ("check", "a:b"));
        assert_eq!(String::from(JobId::drill("x")), "drill:x");
    }
}

//! Hints in plans, reports and skip reasons name an option the user can set. The same connector
//! runs behind the command line (`--map-key A=B`) and behind the Plakar plugin (`map_key=A=B`),
//! so a hint is written against `Opt` and spelled by the face that runs it: a message never
//! names a flag that does not exist where the user reads it.

/// The program running a connector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Face {
    /// `secretsnap …` flags.
    #[default]
    Cli,
    /// Plakar plugin config keys (`plakar … -o key=value`, or the store config).
    Plugin,
}

/// An option a hint can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    OnConflict,
    MapKey,
    MapAccount,
    IncludeManaged,
    Replicate,
    ReadDisabled,
    ReadOnce,
}

impl Opt {
    fn names(self) -> (&'static str, &'static str, bool) {
        // (flag, plugin key, boolean)
        match self {
            Opt::OnConflict => ("--on-conflict", "conflict", false),
            Opt::MapKey => ("--map-key", "map_key", false),
            Opt::MapAccount => ("--map-account", "map_account", false),
            Opt::IncludeManaged => ("--include-managed", "include_managed", true),
            Opt::Replicate => ("--replicate", "replicate", true),
            Opt::ReadDisabled => ("--read-disabled", "read_disabled", true),
            Opt::ReadOnce => ("--read-once", "read_once", true),
        }
    }
}

impl Face {
    /// `opt` with `value` as this face spells it; `value` is ignored for boolean options.
    pub fn hint(self, opt: Opt, value: &str) -> String {
        let (flag, key, boolean) = opt.names();
        match (self, boolean) {
            (Face::Cli, true) => flag.to_string(),
            (Face::Cli, false) => format!("{flag} {value}"),
            (Face::Plugin, true) => format!("{key}=true"),
            (Face::Plugin, false) => format!("{key}={value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_face_spells_its_own_options() {
        assert_eq!(
            Face::Cli.hint(Opt::OnConflict, "append"),
            "--on-conflict append"
        );
        assert_eq!(
            Face::Plugin.hint(Opt::OnConflict, "append"),
            "conflict=append"
        );
        assert_eq!(Face::Cli.hint(Opt::MapKey, "A=B"), "--map-key A=B");
        assert_eq!(Face::Plugin.hint(Opt::MapAccount, "1=2"), "map_account=1=2");
        assert_eq!(Face::Plugin.hint(Opt::Replicate, ""), "replicate=true");
        assert_eq!(Face::Cli.hint(Opt::ReadOnce, ""), "--read-once");
    }
}

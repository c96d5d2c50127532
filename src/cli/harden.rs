//! The process keeps the master key, passphrases and secret values in memory; a core dump would
//! write them to disk, and a same-user debugger could read them. First thing in `main`, the
//! process makes itself non-dumpable
//! (`PR_SET_DUMPABLE` 0: no core file, no ptrace attach by other processes of the same user)
//! and sets its core-size limit to zero, inherited by nothing that matters. Failing either is a
//! warning, not a reason to refuse to run.

/// Makes this process non-dumpable and its core limit zero.
pub fn harden() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{set_dumpable_behavior, setrlimit, DumpableBehavior};
        use rustix::process::{Resource, Rlimit};
        if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
            eprintln!("warning: cannot make the process non-dumpable: {e}");
        }
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        if let Err(e) = setrlimit(Resource::Core, none) {
            eprintln!("warning: cannot set the core-size limit to zero: {e}");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn no_core_dump_can_hold_the_master_key() {
        super::harden();
        use rustix::process::{dumpable_behavior, getrlimit, DumpableBehavior, Resource};
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
    }
}

//! glibc's malloc, told to keep large buffers out of its arenas. By default glibc raises its mmap
//! threshold to the size of every large block it frees, so after the first 8 MiB pack buffer is
//! freed every later one (and every tree and spill block) is carved from an arena, where the
//! small long-lived allocations of a backup (index entries, listed ids) settle among the holes
//! and keep freed memory from going back to the system. Measured at 100 000 secrets: peak RSS
//! 150 MiB by default, 96 MiB with a fixed threshold (docs/benchmarks.md), the live heap being
//! about 70 MiB either way.
//!
//! glibc reads that setting (`GLIBC_TUNABLES`) only when a process starts, so the binary sets it
//! and executes itself once, first thing, before anything else is done. A `GLIBC_TUNABLES` the
//! user set is left as it is (theirs to choose), and so is a process that cannot re-execute:
//! it runs on with glibc's defaults.

/// The tunable: blocks of 1 MiB and more are mapped on their own and unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNABLE: &str = "glibc.malloc.mmap_threshold=1048576";

/// Re-executes this process with the tunable set, unless it is set (or any tunable is).
/// Returns only when it does not re-execute (or could not).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` only returns on failure: then run on as we are.
    let _ = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", TUNABLE)
        .exec();
}

/// Other platforms and C libraries keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}

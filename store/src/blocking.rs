//! File and SQLite work that async code calls (spilling snapshot entries, the cache) must not
//! stall the runtime's other tasks: uploads, refreshes of the lock, connectors' requests. On a
//! multi-threaded runtime the calling worker first hands its other tasks over
//! (`block_in_place`); on a current-thread runtime or outside any runtime the work just runs
//! (there is no other worker to hand over to).

/// Runs `f`, blocking work, from async code without holding up the runtime's other tasks.
pub(crate) fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_every_kind_of_runtime_and_outside_one() {
        assert_eq!(off_worker(|| 1), 1);
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(current.block_on(async { off_worker(|| 2) }), 2);
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        assert_eq!(multi.block_on(async { off_worker(|| 3) }), 3);
        let spawned = multi.block_on(async { tokio::spawn(async { off_worker(|| 4) }).await });
        assert_eq!(spawned.unwrap(), 4);
    }
}

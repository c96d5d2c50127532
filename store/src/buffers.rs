//! Pack-sized buffers kept for reuse. A backup fills, seals and uploads one pack after another;
//! allocating two pack-sized buffers for each and freeing them again is what made glibc's
//! malloc (which raises its mmap threshold to the size of every large block freed) carve later
//! packs from its arenas, where a backup's small long-lived allocations settle among the holes
//! and keep freed memory from the system: the process held about twice its live heap. Reused,
//! the buffers are allocated once per process and never freed in between, so there are no such
//! holes, on any allocator, with no tunable.
//!
//! Every buffer's written bytes are zeroized when it comes back (plaintext waits in some of
//! them), before it is kept or freed. Callers never let a pooled buffer grow by reallocation
//! (that would free a copy unwiped): they take a larger one and give the old one back.

use std::sync::Mutex;

use zeroize::Zeroize;

/// Buffers of one process's repositories, at most `keep` of them held while unused.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl BufferPool {
    pub fn new(keep: usize) -> BufferPool {
        BufferPool {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes: the smallest kept one that
    /// fits, else the largest grown to fit, else a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let fits = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= capacity)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        let largest = || {
            free.iter()
                .enumerate()
                .max_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)
        };
        let mut buf = match fits.or_else(largest) {
            Some(i) => free.swap_remove(i),
            None => Vec::new(),
        };
        drop(free);
        buf.reserve_exact(capacity);
        buf
    }

    /// Takes `buf` back: what was written zeroized (its spare capacity was never written, and
    /// is not touched, so pages never used stay unmapped), then kept for the next `take` (or
    /// freed when enough are).
    pub fn give(&self, mut buf: Vec<u8>) {
        buf.as_mut_slice().zeroize();
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < self.keep {
            free.push(buf);
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.free.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_zeroized_buffers_and_bounds_what_it_keeps() {
        let pool = BufferPool::new(2);
        let mut a = pool.take(1000);
        a.extend_from_slice(b"plaintext");
        let ptr = a.as_ptr();
        pool.give(a);
        let again = pool.take(500);
        assert_eq!(again.as_ptr(), ptr, "the same allocation comes back");
        assert!(again.is_empty() && again.capacity() >= 1000);
        for _ in 0..4 {
            pool.give(Vec::with_capacity(10));
        }
        assert_eq!(pool.held(), 2);
    }
}

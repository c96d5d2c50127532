//! Length hiding: every plaintext is framed as `u32 length ‖ bytes ‖ zeros` and padded to a Padmé
//! bucket before encryption, so a ciphertext's size reveals only O(log log n) bits of the value's
//! length (at most ~12 % overhead; a 64-byte floor hides the length of tiny secrets entirely).

use crate::error::{Error, Result};

/// Smallest padded size: a 20-byte password and a 60-byte token look the same.
pub const MIN_PADDED: usize = 64;

/// The Padmé bucket for `len` (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files").
pub fn padme(len: usize) -> usize {
    let len = len.max(MIN_PADDED);
    let e = usize::BITS - 1 - len.leading_zeros(); // floor(log2 len)
    let s = usize::BITS - (e as usize).leading_zeros(); // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1usize << last_bits) - 1;
    (len + mask) & !mask
}

/// Frames and pads `data`.
pub fn pad(data: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let total = padme(data.len() + 4);
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(total));
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(total, 0);
    out
}

/// Removes the frame; the returned range indexes the payload inside `framed`.
pub fn unpad(framed: &[u8]) -> Result<std::ops::Range<usize>> {
    if framed.len() < 4 {
        return Err(Error::Invalid(
            "padded frame shorter than its length field".into(),
        ));
    }
    let len = u32::from_le_bytes(framed[..4].try_into().expect("4 bytes")) as usize;
    if len > framed.len() - 4 {
        return Err(Error::Invalid(
            "padded frame length exceeds the frame".into(),
        ));
    }
    Ok(4..4 + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bounded() {
        let mut last = 0;
        for n in 0..200_000 {
            let p = padme(n);
            assert!(p >= n.max(MIN_PADDED) && p >= last);
            assert!(n < 1024 || (p - n) * 100 / n <= 12, "overhead at {n}: {p}");
            last = p;
        }
    }

    #[test]
    fn frame_round_trip() {
        for n in [0usize, 1, 59, 60, 61, 1000, 65536] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let framed = pad(&data);
            assert_eq!(framed.len(), padme(n + 4));
            assert_eq!(&framed[unpad(&framed).unwrap()], &data[..]);
        }
    }
}

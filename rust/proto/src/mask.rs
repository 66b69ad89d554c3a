//! Payload masking (RFC 6455 §5.3).
//!
//! Every client frame is masked, so this runs over every inbound byte. It XORs
//! eight bytes at a time with the 4-byte key repeated into a `u64`; the
//! compiler auto-vectorises the loop further. Explicit SIMD was not added: it
//! would need a benchmark showing a win over this, and `unsafe`.
//!
//! `offset` is the position of `buf[0]` within the frame payload, so a payload
//! that arrives in pieces can be unmasked piece by piece (the decoder does
//! this to validate text as soon as bytes arrive).

/// Masking keys for a client's frames, from the operating system's CSPRNG.
///
/// RFC 6455 §5.3 requires keys an intermediary cannot predict (the point is
/// to stop a script from choosing the bytes a proxy sees), so they come from
/// `getrandom`, never from a seeded PRNG. One `getrandom` call fills 64 keys,
/// so a client pays one syscall per 64 frames rather than one per frame.
#[derive(Clone)]
pub struct MaskKeys {
    pool: [u8; 256],
    next: usize,
}

impl std::fmt::Debug for MaskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Unused keys are secrets of sorts: never print them.
        f.debug_struct("MaskKeys").finish_non_exhaustive()
    }
}

impl Default for MaskKeys {
    fn default() -> Self {
        MaskKeys::new()
    }
}

impl MaskKeys {
    /// An empty pool; the first [`MaskKeys::next_key`] fills it.
    pub fn new() -> MaskKeys {
        MaskKeys {
            pool: [0; 256],
            next: 256,
        }
    }

    /// The next key.
    ///
    /// # Panics
    ///
    /// If the OS has no entropy source at all (`getrandom` fails), which on
    /// the platforms we support only happens in a broken sandbox: sending
    /// predictable keys instead would be a silent security bug.
    pub fn next_key(&mut self) -> [u8; 4] {
        if self.next == self.pool.len() {
            getrandom::getrandom(&mut self.pool).expect("the OS CSPRNG is unavailable");
            self.next = 0;
        }
        let mut key = [0u8; 4];
        key.copy_from_slice(&self.pool[self.next..self.next + 4]);
        self.next += 4;
        key
    }
}

/// XOR `buf` with `mask`, where `buf[0]` is byte `offset` of the frame payload.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let r = offset % 4;
    let key = [
        mask[r],
        mask[(r + 1) % 4],
        mask[(r + 2) % 4],
        mask[(r + 3) % 4],
    ];
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(bytes) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8 from buf[0], so key[i % 4] lines up.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], mask: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= mask[(offset + i) % 4];
        }
    }

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 §5.7: masked "Hello".
        let mut p = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut p, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&p, b"Hello");
    }

    #[test]
    fn matches_naive_all_lengths_offsets() {
        let mask = [0xa1, 0x02, 0xf3, 0x7c];
        for len in 0..=80usize {
            for offset in 0..8 {
                let orig: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                let mut a = orig.clone();
                let mut b = orig.clone();
                apply_mask(&mut a, mask, offset);
                naive(&mut b, mask, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
                if len > 0 && mask != [0; 4] {
                    assert_ne!(a, orig, "mask must change the data");
                }
            }
        }
    }

    #[test]
    fn mask_keys_vary_across_refills() {
        let mut keys = MaskKeys::new();
        let all: Vec<[u8; 4]> = (0..200).map(|_| keys.next_key()).collect();
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        // 200 random 32-bit keys: a repeat has probability ~5e-6.
        assert!(distinct.len() >= 199, "{} distinct", distinct.len());
    }

    #[test]
    fn in_pieces_equals_whole() {
        let mask = [1, 2, 3, 4];
        let orig: Vec<u8> = (0..100u8).collect();
        let mut whole = orig.clone();
        apply_mask(&mut whole, mask, 0);
        let mut pieces = orig.clone();
        let (a, rest) = pieces.split_at_mut(7);
        let (b, c) = rest.split_at_mut(30);
        apply_mask(a, mask, 0);
        apply_mask(b, mask, 7);
        apply_mask(c, mask, 37);
        assert_eq!(whole, pieces);
    }
}

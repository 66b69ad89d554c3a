//! A tiny RFC 1951 (raw deflate) decoder that reports the longest
//! back-reference distance a stream uses. Test support only: zlib cannot
//! serve as a strict 256-byte-window inflater (a distance that reaches into
//! output of the same call is resolved whatever the window size), so the
//! "window bits 8" guarantee is checked with this.

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos / 8)?;
        let v = (b >> (self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(v))
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, i| Some(acc | (self.bit()? << i)))
    }
}

/// Canonical Huffman code from code lengths: (count per length, symbols).
fn huffman(lengths: &[u8]) -> (Vec<u16>, Vec<u16>) {
    let mut count = vec![0u16; 16];
    for &l in lengths {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut offs = [0u16; 16];
    for l in 1..15 {
        offs[l + 1] = offs[l] + count[l];
    }
    let mut syms = vec![0u16; lengths.len()];
    for (sym, &l) in lengths.iter().enumerate() {
        if l != 0 {
            syms[offs[l as usize] as usize] = sym as u16;
            offs[l as usize] += 1;
        }
    }
    (count, syms)
}

fn decode_sym(b: &mut Bits, (count, syms): &(Vec<u16>, Vec<u16>)) -> Option<u16> {
    let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
    for &c in &count[1..16] {
        code |= b.bit()? as i32;
        let c = i32::from(c);
        if code - c < first {
            return Some(syms[(index + code - first) as usize]);
        }
        index += c;
        first = (first + c) << 1;
        code <<= 1;
    }
    None
}

/// Decode a raw deflate stream; `(output, longest distance)`, `None` if
/// malformed or a distance reaches before the start of the output.
pub fn decode_max_distance(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    const LBASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LEXT: [u8; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DBASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    let mut b = Bits { data, pos: 0 };
    let (mut out, mut max_dist) = (Vec::new(), 0usize);
    // Blocks until fewer than a block header's bits remain.
    while b.pos + 3 <= data.len() * 8 && b.pos / 8 < data.len() {
        let _final = b.bit()?;
        match b.bits(2)? {
            0 => {
                b.pos = b.pos.div_ceil(8) * 8;
                let len = b.bits(16)? as usize;
                let nlen = b.bits(16)? as usize;
                if len != !nlen & 0xffff {
                    return None;
                }
                let start = b.pos / 8;
                out.extend_from_slice(data.get(start..start + len)?);
                b.pos += len * 8;
            }
            t @ (1 | 2) => {
                let (lit, dist) = if t == 1 {
                    let mut l = [8u8; 288];
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    (huffman(&l), huffman(&[5u8; 30]))
                } else {
                    let nlen = b.bits(5)? as usize + 257;
                    let ndist = b.bits(5)? as usize + 1;
                    let ncode = b.bits(4)? as usize + 4;
                    const ORDER: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &i in &ORDER[..ncode] {
                        cl[i] = b.bits(3)? as u8;
                    }
                    let clh = huffman(&cl);
                    let mut lens = Vec::new();
                    while lens.len() < nlen + ndist {
                        match decode_sym(&mut b, &clh)? {
                            s @ 0..=15 => lens.push(s as u8),
                            16 => {
                                let prev = *lens.last()?;
                                let n = 3 + b.bits(2)?;
                                lens.extend((0..n).map(|_| prev));
                            }
                            17 => lens.extend((0..3 + b.bits(3)?).map(|_| 0)),
                            _ => lens.extend((0..11 + b.bits(7)?).map(|_| 0)),
                        }
                    }
                    (huffman(&lens[..nlen]), huffman(&lens[nlen..]))
                };
                loop {
                    let sym = decode_sym(&mut b, &lit)? as usize;
                    if sym < 256 {
                        out.push(sym as u8);
                    } else if sym == 256 {
                        break;
                    } else {
                        let i = sym - 257;
                        let len = *LBASE.get(i)? as usize + b.bits(u32::from(LEXT[i]))? as usize;
                        let d = decode_sym(&mut b, &dist)? as usize;
                        let ext = if d < 4 { 0 } else { (d as u32 - 2) / 2 };
                        let d = *DBASE.get(d)? as usize + b.bits(ext)? as usize;
                        if d > out.len() {
                            return None;
                        }
                        max_dist = max_dist.max(d);
                        for _ in 0..len {
                            out.push(out[out.len() - d]);
                        }
                    }
                }
            }
            _ => return None,
        }
    }
    Some((out, max_dist))
}

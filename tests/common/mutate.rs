//! Seeded mutations of pickles for the stable fuzz twins (tests/hostile.rs, tests/hostile_checks.rs).
#![allow(dead_code)]

/// A seeded xorshift generator (the same sequence on every run).
pub struct Rng(pub u64);

impl Rng {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One to four edits: bit flips, opcode bytes written or inserted (with random argument bytes),
/// extreme length bytes, deletions, duplications of a slice, truncation.
pub fn mutate(rng: &mut Rng, base: &[u8], opcodes: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = opcodes[rng.below(opcodes.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let mut ins = vec![opcodes[rng.below(opcodes.len())]];
                for _ in 0..rng.below(9) {
                    ins.push(rng.next() as u8);
                }
                v.splice(i..i, ins);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(8.min(len - i));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                // A slice copied elsewhere (repeats containers, memo ops, MARKs).
                let i = rng.below(len);
                let n = 1 + rng.below(32.min(len - i));
                let piece = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, piece);
            }
            5 if len > 0 => {
                v.truncate(rng.below(len));
            }
            6 if len > 0 => {
                let i = rng.below(len);
                let vals = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, b'\n', b'('];
                v[i] = vals[rng.below(vals.len())];
            }
            7 if len > 4 => {
                // Four extreme bytes: length prefixes, memo indexes, ints.
                let i = rng.below(len - 3);
                let pats: [[u8; 4]; 4] =
                    [[0xff; 4], [0xff, 0xff, 0xff, 0x7f], [0, 0, 0, 0x80], [0; 4]];
                v[i..i + 4].copy_from_slice(&pats[rng.below(4)]);
            }
            _ => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
        }
    }
    v
}

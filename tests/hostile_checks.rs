//! Hostile input for the check stage, not only the reader: values cheap to read and costly to
//! judge (a set of a million members, members that differ only at their end, a million references
//! to one object, REDUCE chains, huge ints to write back in decimal, values too deep to dump).
//! Each is judged for several migrations (both directions, protocol 0 and 2 write-backs) under a
//! budget of 64 MiB and 20 million work units (what 250 ms of judging does on the bench machine),
//! and must end with a verdict or a budget finding: the meter's counters, not wall time, prove the
//! verdict stopped at its budget (within a bounded overshoot).

mod common;

use cache_compat::check::{Check, Checks, Side, judge};
use cache_compat::envelope::Writer;
use cache_compat::meter;
use cache_compat::pickle::ops;
use cache_compat::runtime::Runtime;
use cache_compat::runtime::load::LoadConfig;
use cache_compat::scan::verdict;
use cache_compat::source::Sample;
use common::mutate::{Rng, mutate};
use std::io::Write;

const OPS: u64 = 20_000_000;
const BYTES: u64 = 64 << 20;

fn side(rt: &str, writer: &str) -> Side {
    let mut load = LoadConfig::default();
    load.budget.verdict = meter::Limits {
        ops: OPS,
        bytes: BYTES,
    };
    Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load,
        writer: Writer::parse(writer).expect("writer"),
    }
}

fn u32le(n: usize) -> [u8; 4] {
    (n as u32).to_le_bytes()
}

fn binunicode(s: &[u8]) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend_from_slice(&u32le(s.len()));
    v.extend_from_slice(s);
    v
}

fn binint(i: usize) -> Vec<u8> {
    let mut v = vec![b'J'];
    v.extend_from_slice(&(i as i32).to_le_bytes());
    v
}

/// The hostile inputs: (name, pickle).
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    // A set of a million ints (protocol 4: EMPTY_SET, MARK, ..., ADDITEMS).
    let mut p = vec![0x80, 4, 0x8f, b'('];
    for i in 0..1_000_000 {
        p.extend(binint(i));
    }
    p.extend_from_slice(&[0x90, b'.']);
    out.push(("set of 1,000,000 ints", p));
    // A set of 8,000 strings of 4 KiB that differ only in their last bytes.
    let mut p = vec![0x80, 4, 0x8f, b'('];
    for i in 0..8_000usize {
        let mut s = vec![b'a'; 4096];
        s[4092..].copy_from_slice(&u32le(i));
        for b in &mut s[4092..] {
            *b = b'a' + (*b % 26);
        }
        p.extend(binunicode(&s));
    }
    p.extend_from_slice(&[0x90, b'.']);
    out.push(("set of 8,000 4 KiB strings differing at the end", p));
    // A million references to one memoized dict.
    let mut p = vec![0x80, 2, b']', b'(', b'}', b'q', 0];
    p.extend(binunicode(b"k"));
    p.extend(binint(1));
    p.push(b's');
    for _ in 0..1_000_000 {
        p.extend_from_slice(&[b'h', 0]);
    }
    p.extend_from_slice(b"e.");
    out.push(("1,000,000 references to one dict", p));
    // A REDUCE chain: frozenset((frozenset((...frozenset(()),)),)) 100,000 deep.
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"c__builtin__\nfrozenset\nq\x00");
    for _ in 1..100_000 {
        p.extend_from_slice(b"h\x00");
    }
    p.extend_from_slice(b")R");
    for _ in 1..100_000 {
        p.extend_from_slice(b"\x85\x85R");
    }
    p.push(b'.');
    out.push(("frozenset REDUCE chain 100,000 deep", p));
    // An int of 2 MiB of bytes (LONG4): a protocol-0 write-back spells it in decimal.
    let mut p = vec![0x80, 2, 0x8b];
    p.extend_from_slice(&u32le(2 << 20));
    p.extend(std::iter::repeat_n(0x5a, 2 << 20));
    p.push(b'.');
    out.push(("LONG4 of 2 MiB", p));
    // A list nested 200,000 deep: loads, cannot be dumped again by a recursive pickler.
    let mut p = vec![0x80, 2];
    p.extend(std::iter::repeat_n(b']', 200_000));
    p.extend(std::iter::repeat_n(b'a', 199_999));
    p.push(b'.');
    out.push(("list nested 200,000 deep", p));
    out
}

fn outcome(c: &Checks) -> String {
    c.all()
        .iter()
        .map(|(n, c)| format!("{n}={}", c.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn costly_values_get_a_verdict_or_a_budget_finding_within_the_budget() {
    let migrations = [
        (side("2.7", "pickle:0"), side("3.11", "pickle:2")),
        (side("3.11", "pickle:0"), side("2.7", "pickle:2")),
        (side("3.8", "pickle:4"), side("3.13", "pickle:5")),
    ];
    for (name, p) in inputs() {
        for (old, new) in &migrations {
            let t = std::time::Instant::now();
            let c = judge(&p, old, new);
            let used = meter::last();
            println!(
                "{name:48} {} -> {}: ops {:>10} bytes {:>10} {:>8.1?}  {}",
                old.runtime,
                new.runtime,
                used.ops,
                used.bytes,
                t.elapsed(),
                outcome(&c)
            );
            // The meter stops every stage at its next charge: a bounded overshoot of one step
            // (one opcode's payload, one dump's output).
            assert!(used.ops <= OPS + 4_000_000, "{name}: {used:?}");
            assert!(used.bytes <= BYTES + (8 << 20), "{name}: {used:?}");
            for (check, o) in c.all() {
                if let Check::Unknown(u) = o {
                    // Budget findings, or a limit of the models the check names.
                    assert!(!u.to_string().is_empty(), "{name} {check}");
                }
            }
        }
    }
}

/// The wrappings cache layers put around a pickle, for the envelope path: Werkzeug's `!`,
/// django-redis' zlib, dogpile's JSON header, kombu's base64 body.
fn wrapped(p: &[u8]) -> Vec<Vec<u8>> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(p).expect("zlib");
    let z = z.finish().expect("zlib");
    let b64 = {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut o = Vec::new();
        for c in p.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                o.push(if k <= c.len() {
                    T[((n >> (18 - 6 * k)) & 63) as usize]
                } else {
                    b'='
                });
            }
        }
        o
    };
    vec![
        p.to_vec(),
        [b"!", p].concat(),
        z,
        [&b"{\"ct\": 1.0, \"v\": 2}|"[..], p].concat(),
        b64,
    ]
}

/// The body of the cargo-fuzz targets `verdict` and `envelope` (fuzz/fuzz_targets/): every check
/// of several migrations, raw and through the envelope path (`--writer auto`, werkzeug,
/// django-redis, dogpile, kombu), must neither panic nor run past the verdict budget.
fn exercise(data: &[u8], pairs: &[(Side, Side)]) {
    for (old, new) in pairs {
        let c = judge(data, old, new);
        for (_, o) in c.all() {
            let _ = (o.hazard(), o.text());
        }
        let r = verdict::judge(
            &Sample {
                key: b"fuzz:key".to_vec(),
                kind: "string".into(),
                field: None,
                ttl_ms: None,
                value: data.to_vec(),
                full_len: None,
            },
            old,
            new,
        );
        let _ = serde_json::to_string(&r).expect("json");
        let used = meter::last();
        assert!(
            used.ops <= OPS + 4_000_000 && used.bytes <= BYTES + (8 << 20),
            "{used:?}"
        );
    }
}

#[test]
fn verdict_mutation_smoke() {
    let mut pickles: Vec<(String, Vec<u8>)> = common::pickles().into_iter().collect();
    pickles.sort();
    let opcodes: Vec<u8> = ops::OPCODES.iter().map(|o| o.code).collect();
    let pairs = [
        (side("2.7", "auto"), side("3.11", "auto")),
        (side("3.11", "werkzeug"), side("2.7", "werkzeug")),
        (side("3.6", "django-redis"), side("3.13", "django-redis")),
        (side("2.7", "dogpile"), side("3.8", "kombu")),
    ];
    let mut rng = Rng(0x005e_ed0f_c4ec_u64);
    let mut runs = 0;
    for (i, (_, p)) in pickles.iter().enumerate().step_by(7) {
        for w in wrapped(p) {
            exercise(&w, &pairs);
            for _ in 0..2 {
                exercise(&mutate(&mut rng, &w, &opcodes), &pairs);
                runs += 1;
            }
        }
        if i > 8_000 {
            break;
        }
    }
    // A decompression bomb: 64 MiB of zeros in a few KiB of zlib.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; 64 << 20]).expect("zlib");
    let bomb = z.finish().expect("zlib");
    exercise(&bomb, &pairs);
    println!(
        "{runs} mutated values judged through {} migrations",
        pairs.len()
    );
    assert!(runs > 1_000);
}

//! The fast path's probes: the small pickle holding one example of each kind a value holds (same
//! header, form and root), judged by the full models, and the verdict kept only where no check
//! depends on content.

use super::*;

/// The probe of `key`'s class judged by the full models: `Some` where every check is `Ok`,
/// `Skipped` or the failure of a probe holding only `None`.
pub(super) fn probe_verdict(key: &ProbeKey) -> Option<Checks> {
    let full = |s: &Side| {
        let mut s = s.clone();
        s.load.full_model = true;
        s
    };
    let (old, new) = (full(&key.sides[0]), full(&key.sides[1]));
    let run = |pickle: Vec<u8>| {
        let _m = meter::scope(old.load.budget.verdict);
        let max_ops = old.load.budget.max_ops;
        let parsed = parse::parse(&pickle, max_ops);
        let stored = Stored::Pickle {
            form: key.form,
            pickle,
        };
        judge_stored_with(
            &stored,
            Some(Preparsed {
                parsed: &parsed,
                max_ops,
            }),
            &old,
            &new,
        )
    };
    let head: Vec<u8> = key.header.map_or(vec![], |p| vec![code::PROTO, p]);
    let mut minimal = head.clone();
    minimal.extend_from_slice(b"N.");
    let mut probe = head;
    probe_body(key.shape, &mut probe);
    probe.push(code::STOP);
    let (p, m) = (run(probe), run(minimal));
    let fine = |c: &Check, base: &Check| match c {
        Check::Ok | Check::Skipped => true,
        Check::Fails(_) => c == base,
        Check::Changes(_) | Check::Unknown(_) => false,
    };
    let pairs = [
        (&p.old_reads, &m.old_reads),
        (&p.new_reads, &m.new_reads),
        (&p.old_reads_new_write, &m.old_reads_new_write),
        (&p.new_reads_old_write, &m.new_reads_old_write),
        (&p.round_trip, &m.round_trip),
    ];
    pairs.iter().all(|(c, b)| fine(c, b)).then_some(p)
}

/// One example of each scalar kind in `kinds` (text with every feature present), as protocol 0-1
/// opcodes; `memo` numbers BINPUTs.
pub(super) fn scalar_examples(kinds: u64, shared: bool, memo: &mut u8) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if kinds & K_NONE != 0 {
        out.push(b"N".to_vec());
    }
    if kinds & K_BOOL != 0 {
        out.push(b"I01\n".to_vec());
    }
    if kinds & K_INT != 0 {
        out.push(b"K\x07".to_vec());
    }
    if kinds & K_FLOAT != 0 {
        let mut f = vec![code::BINFLOAT];
        f.extend_from_slice(&1.5f64.to_be_bytes());
        out.push(f);
    }
    for (bit, ex) in [
        (K_INT64, b"I4294967296\n".as_slice()),
        (K_INT_BIG, b"I1180591620717411303424\n"),
        (K_LONG32, b"L7L\n"),
        (K_LONG64, b"L4294967296L\n"),
        (K_LONG_BIG, b"L1180591620717411303424L\n"),
        // Only in pickles of protocol 3 and up (the probe has the same header).
        (K_BYTES, b"C\x01b"),
        (K_BYTES_HIGH, b"C\x02b\xff"),
    ] {
        if kinds & bit != 0 {
            out.push(ex.to_vec());
        }
    }
    let mut strings = Vec::new();
    if kinds & (K_STR | K_STR_SPECIAL) != 0 {
        let mut s = b"s".to_vec();
        if kinds & K_STR_SPECIAL != 0 {
            s.extend_from_slice(b"\n\\'\"\x00\x7f");
        }
        let mut op = vec![code::SHORT_BINSTRING, s.len() as u8];
        op.extend_from_slice(&s);
        strings.push(op);
    }
    let text = K_UNI | K_UNI_LATIN1 | K_UNI_BMP | K_UNI_ASTRAL | K_UNI_SPECIAL;
    if kinds & text != 0 {
        let mut s = String::from("u");
        for (bit, part) in [
            (K_UNI_LATIN1, "\u{e9}"),
            (K_UNI_BMP, "\u{20ac}"),
            (K_UNI_ASTRAL, "\u{1f600}"),
            (K_UNI_SPECIAL, "\\\n\r\x00\x7f"),
        ] {
            if kinds & bit != 0 {
                s.push_str(part);
            }
        }
        let mut op = vec![code::BINUNICODE];
        op.extend_from_slice(&(s.len() as u32).to_le_bytes());
        op.extend_from_slice(s.as_bytes());
        strings.push(op);
    }
    for mut s in strings {
        if shared {
            s.extend_from_slice(&[code::BINPUT, *memo]);
            out.push(s);
            out.push(vec![code::BINGET, *memo]);
            *memo += 1;
        } else {
            out.push(s);
        }
    }
    out
}

/// The probe of `shape`: its root's kind holding one of each kind present.
pub(super) fn probe_body(shape: Shape, out: &mut Vec<u8>) {
    let shared = shape.kinds & K_SHARED != 0;
    let mut memo = 0u8;
    if shape.root & SCALARS != 0 {
        // A scalar root: the value is that one scalar.
        out.extend(scalar_examples(shape.root, false, &mut memo).concat());
        return;
    }
    let mut items = scalar_examples(shape.kinds & SCALARS, shared, &mut memo);
    if shape.kinds & K_LIST != 0 {
        items.push(vec![code::EMPTY_LIST]);
    }
    if shape.kinds & K_TUPLE != 0 {
        let mut t = vec![code::MARK];
        t.extend(scalar_examples(shape.kinds & SCALARS, false, &mut memo).concat());
        t.push(code::TUPLE);
        items.push(t);
    }
    let keys = scalar_examples((shape.kinds >> KEY) & SCALARS, false, &mut memo);
    if shape.kinds & K_DICT != 0 {
        let mut d = vec![code::EMPTY_DICT, code::MARK];
        for (i, k) in keys.iter().enumerate() {
            d.extend_from_slice(k);
            d.extend_from_slice(items.get(i).map_or(b"N".as_slice(), |v| v));
        }
        d.push(code::SETITEMS);
        items.push(d);
    }
    let list = |items: &[Vec<u8>], out: &mut Vec<u8>| {
        out.extend_from_slice(&[code::EMPTY_LIST, code::MARK]);
        items.iter().for_each(|i| out.extend_from_slice(i));
        out.push(code::APPENDS);
    };
    match shape.root {
        K_TUPLE => {
            out.push(code::MARK);
            items.iter().for_each(|i| out.extend_from_slice(i));
            out.push(code::TUPLE);
        }
        K_DICT => {
            // Every kind in a value's place: the items in a list under the first key.
            out.extend_from_slice(&[code::EMPTY_DICT, code::MARK]);
            for (i, k) in keys.iter().enumerate() {
                out.extend_from_slice(k);
                if i == 0 {
                    list(&items, out);
                } else {
                    out.extend_from_slice(items.get(i).map_or(b"N".as_slice(), |v| v));
                }
            }
            out.push(code::SETITEMS);
        }
        _ => list(&items, out),
    }
}

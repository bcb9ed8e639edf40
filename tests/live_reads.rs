//! The live reader's string paths (`source::live::read_keys`): values read whole with their first
//! GETRANGE (shorter than 4 KiB), longer ones read again, empty strings, other types, values cut at
//! `--max-value-bytes` on either side of the 4 KiB prefix, with and without TTLs. The oracle is the
//! real redis-server the values were written to: its GET, STRLEN, TYPE and PTTL replies (redis-cli).

mod common;

use cache_compat::source::{Caps, Coverage, Filter, Pace, RedisOpts, Sample, scan_redis};
use std::collections::BTreeMap;

fn cli(port: u16, args: &[&str]) -> String {
    let out = common::redis_cli(port, args);
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

#[test]
fn strings_around_the_prefix_and_other_types_read_as_the_server_has_them() {
    let server = common::start_redis();
    let port = server.port;
    let mut strings = Vec::new();
    for (i, len) in [0usize, 1, 100, 4094, 4095, 4096, 4097, 8191, 8192, 20000]
        .into_iter()
        .enumerate()
    {
        let key = format!("s:{len}");
        let value: String = (0..len)
            .map(|j| (b'a' + ((i + j * 7) % 26) as u8) as char)
            .collect();
        assert_eq!(cli(port, &["SET", &key, &value]), "OK");
        strings.push(key);
    }
    assert_eq!(cli(port, &["SET", "ttl:1", "short", "PX", "600000"]), "OK");
    assert_eq!(
        cli(port, &["SET", "ttl:2", &"x".repeat(5000), "PX", "600000"]),
        "OK"
    );
    strings.extend(["ttl:1".to_string(), "ttl:2".to_string()]);
    cli(port, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    cli(port, &["RPUSH", "l", "a", "b", "c"]);
    cli(port, &["SADD", "st", "m2", "m1"]);
    cli(port, &["ZADD", "z", "2", "b", "1", "a"]);
    cli(port, &["XADD", "stream", "*", "f", "v"]);
    let url = format!("redis://127.0.0.1:{port}");

    for max_value_bytes in [64 << 20, 4096, 4095, 100] {
        for ttl in [false, true] {
            let opts = RedisOpts {
                max_value_bytes,
                ..RedisOpts::default()
            };
            let mut got: BTreeMap<(Vec<u8>, Option<Vec<u8>>), Sample> = BTreeMap::new();
            let mut cov = Coverage::default();
            let pace = Pace {
                ttl,
                ..Pace::default()
            };
            scan_redis(
                &url,
                &opts,
                &Filter::default(),
                pace,
                |s| {
                    let id = (s.key.clone(), s.field.clone());
                    assert!(got.insert(id, s).is_none(), "a sample given twice");
                },
                &mut cov,
            )
            .expect("scan");
            let what = format!("max_value_bytes {max_value_bytes}, ttl {ttl}");
            let caps = Caps {
                max_value_bytes,
                ..Caps::default()
            };
            let mut partial = 0;
            for key in &strings {
                let s = &got[&(key.as_bytes().to_vec(), None)];
                assert_eq!(cli(port, &["TYPE", key]), "string");
                assert_eq!(s.kind, "string", "{key} {what}");
                let full = cli(port, &["GET", key]).into_bytes();
                assert_eq!(cli(port, &["STRLEN", key]), full.len().to_string(), "{key}");
                let mut want = full.clone();
                let full_len = caps.cut(&mut want);
                assert!(
                    s.value == want,
                    "{key} {what}: {} bytes read, {} expected",
                    s.value.len(),
                    want.len()
                );
                assert_eq!(s.full_len, full_len, "{key} {what}");
                partial += u64::from(full_len.is_some());
                let pttl: i64 = cli(port, &["PTTL", key]).parse().expect("pttl");
                match (ttl, s.ttl_ms) {
                    (false, None) => {}
                    (true, None) => assert_eq!(pttl, -1, "{key} {what}"),
                    (true, Some(t)) => {
                        assert!(t > 0 && t >= pttl && t <= 600_000, "{key} {t} {what}")
                    }
                    (false, Some(_)) => panic!("{key}: a TTL read though not asked ({what})"),
                }
            }
            let kinds = |k: &str| -> Vec<(Option<String>, String)> {
                got.iter()
                    .filter(|((key, _), _)| key == k.as_bytes())
                    .map(|((_, f), s)| {
                        (
                            f.as_ref().map(|f| String::from_utf8_lossy(f).into_owned()),
                            String::from_utf8_lossy(&s.value).into_owned(),
                        )
                    })
                    .collect()
            };
            let pairs = |v: &[(&str, &str)]| -> Vec<(Option<String>, String)> {
                v.iter()
                    .map(|(f, x)| (Some(f.to_string()), x.to_string()))
                    .collect()
            };
            assert_eq!(kinds("h"), pairs(&[("f1", "v1"), ("f2", "v2")]), "{what}");
            assert_eq!(
                kinds("l"),
                pairs(&[("0", "a"), ("1", "b"), ("2", "c")]),
                "{what}"
            );
            assert_eq!(kinds("st"), pairs(&[("0", "m1"), ("1", "m2")]), "{what}");
            assert_eq!(kinds("z"), pairs(&[("0", "a"), ("1", "b")]), "{what}");
            assert_eq!(got.len(), strings.len() + 2 + 3 + 2 + 2, "{what}");
            let dbsize: u64 = cli(port, &["DBSIZE"]).parse().expect("dbsize");
            assert_eq!(cov.keys_seen, dbsize, "{what}");
            assert_eq!(cov.skipped_types, 1, "the stream ({what})");
            assert_eq!(cov.vanished, 0, "{what}");
            assert_eq!(cov.sampled, got.len() as u64, "{what}");
            assert_eq!(cov.partial, partial, "{what}");
        }
    }
}

/// A cache of mostly long strings: after a batch where most strings were longer than the prefix,
/// the reader asks TYPE and STRLEN first (no prefix read). Every value still arrives whole, once;
/// the server's command counts (INFO commandstats) show both ways were taken.
#[test]
fn long_string_batches_skip_the_prefix_and_lose_nothing() {
    let server = common::start_redis();
    let port = server.port;
    let value = |i: usize| -> Vec<u8> {
        let len = if i.is_multiple_of(5) {
            10 + i % 300
        } else {
            4096 + i % 3000
        };
        (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
    };
    let n = 5000;
    let mut cmds = Vec::new();
    for i in 0..n {
        let key = format!("bulk:{i}");
        common::resp(&mut cmds, &[b"SET", key.as_bytes(), &value(i)]);
    }
    common::redis_pipe(port, &cmds);
    assert_eq!(cli(port, &["CONFIG", "RESETSTAT"]), "OK");
    let url = format!("redis://127.0.0.1:{port}");
    let mut got = BTreeMap::new();
    let mut cov = Coverage::default();
    scan_redis(
        &url,
        &RedisOpts::default(),
        &Filter::default(),
        Pace {
            ttl: false,
            ..Pace::default()
        },
        |s| {
            assert!(got.insert(s.key.clone(), s).is_none(), "a key given twice");
        },
        &mut cov,
    )
    .expect("scan");
    assert_eq!(got.len(), n);
    assert_eq!(cov.keys_seen, n as u64);
    for i in 0..n {
        let s = &got[format!("bulk:{i}").as_bytes()];
        assert!(s.value == value(i), "bulk:{i}: {} bytes", s.value.len());
        assert_eq!(s.full_len, None);
    }
    // The server's own record of what was asked.
    let stats = cli(port, &["INFO", "commandstats"]);
    let calls = |cmd: &str| -> u64 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
            .and_then(|r| r.split(',').next())
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let (getrange, ty, get) = (calls("getrange"), calls("type"), calls("get"));
    assert!(getrange > 0 && getrange < n as u64, "{stats}");
    assert!(ty > 0, "{stats}");
    // Every key was asked its prefix or its type; every long string was read whole by GET.
    assert!(getrange + ty >= n as u64, "{stats}");
    assert!(get >= (n - n / 5) as u64, "{stats}");
}

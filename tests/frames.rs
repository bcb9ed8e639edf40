//! Frames, INT text and date arguments where 3.15 changed the C unpickler
//! (`Facts::frames_bound_reads`, `int_bool_exact_text`, `date_args_counted_first`): hand-made
//! pickles (a read cut by the frame's end, one starting at it, a new frame inside one, INT texts
//! that are 0 or 1) loaded by the real 3.13 and 3.15 (corpora/gen/oracle.py), and the model must
//! say what each did, exact text. Oracle: the real interpreters.

mod common;

use cache_compat::runtime::load::{self, LoadConfig, Outcome};
use cache_compat::runtime::{Runtime, render};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

fn frame(n: u64) -> Vec<u8> {
    let mut v = vec![0x95];
    v.extend_from_slice(&n.to_le_bytes());
    v
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let p4 = |parts: &[&[u8]]| -> Vec<u8> {
        let mut v = vec![0x80, 4];
        for p in parts {
            v.extend_from_slice(p);
        }
        v
    };
    vec![
        ("binint_cut", p4(&[&frame(2), b"J\x01\x00\x00\x00."])),
        ("binint_in", p4(&[&frame(5), b"J\x01\x00\x00\x00."])),
        (
            "frame_arg_cut",
            p4(&[&frame(3), b"N", &frame(1)[..2], &frame(1)[2..], b"."]),
        ),
        (
            "frame_arg_after",
            p4(&[&frame(2), b"N\x95", &1u64.to_le_bytes(), b"."]),
        ),
        ("new_frame_early", p4(&[&frame(10), &frame(1), b"N."])),
        ("new_frame_exact", p4(&[&frame(9), &frame(1), b"N."])),
        ("line_cut", p4(&[&frame(3), b"I12\n."])),
        ("line_in", p4(&[&frame(5), b"I12\n."])),
        ("global_cut", p4(&[&frame(5), b"cbuiltins\nlen\n."])),
        ("global_cut_second", p4(&[&frame(12), b"cbuiltins\nlen\n."])),
        (
            "global_after_first",
            p4(&[&frame(10), b"cbuiltins\nlen\n."]),
        ),
        ("global_in", p4(&[&frame(14), b"cbuiltins\nlen\n."])),
        ("len_cut", p4(&[&frame(3), b"X\x02\x00\x00\x00ab."])),
        ("len_exact", p4(&[&frame(5), b"X\x02\x00\x00\x00ab."])),
        ("data_cut", p4(&[&frame(3), b"\x8c\x05abcde."])),
        ("truncated_in_frame", p4(&[&frame(3), b"J\x01\x00"])),
        ("too_long", p4(&[&frame(100), b"N."])),
        (
            "frame_at_p0",
            [frame(2), b"J\x01\x00\x00\x00.".to_vec()].concat(),
        ),
        ("int_minus0", b"I-0\n.".to_vec()),
        ("int_space1", b"I 1\n.".to_vec()),
        ("int_plus1", b"I+1\n.".to_vec()),
        ("int00", b"I00\n.".to_vec()),
        ("int01", b"I01\n.".to_vec()),
        ("datetime_str1", b"cdatetime\ndatetime\n(Vabc\ntR.".to_vec()),
        (
            "datetime_str2",
            b"cdatetime\ndatetime\n(VabcN\ntR.".to_vec(),
        ),
        (
            "date_bytes1",
            b"\x80\x03cdatetime\ndate\nC\x02ab\x85R.".to_vec(),
        ),
        ("time_str1", b"cdatetime\ntime\n(Vabc\ntR.".to_vec()),
    ]
}

fn real(version: &str, cases: &[(&str, Vec<u8>)]) -> Vec<Value> {
    let mut cmd = common::python_command(version);
    let program = cmd.remove(0);
    let mut child = Command::new(program)
        .args(cmd)
        .arg(common::root().join("corpora/gen/oracle.py"))
        .env("PYTHONHASHSEED", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("oracle");
    let mut input = String::new();
    for (id, data) in cases {
        let req =
            json!({"op": "load", "id": id, "pickle": common::hex(data), "opts": {}, "impl": "c"});
        input.push_str(&req.to_string());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("oracle output");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn frames_and_int_text_as_the_real_unpicklers_read_them() {
    let cases = cases();
    let mut differ = Vec::new();
    let mut changed = 0;
    let mut by_version = Vec::new();
    for version in ["3.13", "3.15"] {
        let rt = Runtime::parse(version).expect("runtime");
        let answers = real(version, &cases);
        assert_eq!(answers.len(), cases.len(), "{version}: oracle answers");
        let mut texts = Vec::new();
        for ((id, data), a) in cases.iter().zip(&answers) {
            let real = if a["ok"] == true {
                a["render"].as_str().unwrap_or("").to_string()
            } else {
                a["error"].as_str().unwrap_or("").to_string()
            };
            let ours = match load::load(data, rt, &LoadConfig::default()).outcome {
                Outcome::Loaded { heap, root } => render::render(&heap, root, rt),
                Outcome::Raised(e) => e.to_string(),
                Outcome::Unknown(u) => format!("unknown: {u:?}"),
            };
            if ours != real {
                differ.push(format!(
                    "{version} {id}\n    real: {real}\n    ours: {ours}"
                ));
            }
            texts.push(real);
        }
        by_version.push(texts);
    }
    for (a, b) in by_version[0].iter().zip(&by_version[1]) {
        changed += usize::from(a != b);
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The cases are the ones 3.15 changed: most must read differently on 3.13.
    assert!(
        changed >= 15,
        "only {changed} cases differ between 3.13 and 3.15"
    );
}

//! Classes of the writer's main script (`c__main__\nC\n`): `__main__` always exists, so no Python
//! raises `No module named '__main__'`; whether it holds the class depends on the reading
//! process. Oracle: the 14 inputs of CPython's own unpickling tests that name a `__main__` class
//! (3.13.0's `test.pickletester`: DATA0-DATA4 and the classic-instance pickles, recorded by
//! running those test methods, tests/main_script/record_inputs.py), loaded by every real reader
//! (2.7 cPickle, 2.7 pickle, 3.6-3.13, 3.14 under Pyodide, 3.15.2 built by Debian) in a process whose main script
//! (tests/main_script/reader.py) defines C, D and E as pickletester does, and in one whose main
//! script defines none. The model (default assumption: `__main__` holds the class; with the
//! application classes configured to leave it out: it does not) must say what the reader did,
//! exact text (the path of the reader's own script scrubbed to `<path of __main__>`).

mod common;

use cache_compat::runtime::load::{self, AppClasses, LoadConfig, Outcome};
use cache_compat::runtime::value::Node;
use cache_compat::runtime::{Runtime, render};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const READERS: [&str; 12] = [
    "2.7",
    "2.7-pickle",
    "3.6",
    "3.7",
    "3.8",
    "3.9",
    "3.10",
    "3.11",
    "3.12",
    "3.13",
    "3.14",
    "3.15",
];

fn inputs() -> Vec<(String, Vec<u8>)> {
    let script = common::root().join("tests/main_script/record_inputs.py");
    let out = Command::new(common::interpreter("3.13"))
        .arg(&script)
        .output()
        .expect("run record_inputs.py under 3.13");
    assert!(
        out.status.success(),
        "record_inputs.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (
                v["id"].as_str().expect("id").to_string(),
                common::unhex(v["pickle"].as_str().expect("pickle")),
            )
        })
        .collect()
}

/// What `reader` did with each input, in a process whose main script is reader.py `mode`.
fn real(reader: &str, mode: &str, inputs: &[(String, Vec<u8>)]) -> Vec<Value> {
    let version = reader.trim_end_matches("-pickle");
    let impl_ = if reader.ends_with("-pickle") {
        "py"
    } else {
        "c"
    };
    let cmd = common::python_command(version);
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg(common::root().join("tests/main_script/reader.py"))
        .arg(mode)
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{reader}: {e}"));
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (id, data) in inputs {
            let req = json!({"op": "load", "id": id, "pickle": common::hex(data), "opts": {}, "impl": impl_});
            writeln!(stdin, "{req}").expect("write");
        }
    }
    let answers: Vec<Value> = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json"))
        .collect();
    assert!(child.wait().expect("wait").success(), "{reader} {mode}");
    assert_eq!(answers.len(), inputs.len(), "{reader} {mode}: answers");
    answers
}

#[test]
fn main_script_classes_load_as_the_real_readers_load_them() {
    let inputs = inputs();
    assert_eq!(inputs.len(), 14, "pickletester's __main__ inputs");
    let mut report = Vec::new();
    let (mut exact, mut wrong) = (0, 0);
    for reader in READERS {
        let rt = Runtime::parse(reader).expect("runtime");
        for mode in ["with-classes", "bare"] {
            let mut apps = if mode == "bare" {
                // Configured: the reading program's own classes, and `__main__` holds none.
                AppClasses::only(Vec::<String>::new())
            } else {
                // The default: application classes, `__main__`'s included, are present.
                AppClasses::default()
            };
            // pickletester's C, D and E are classic classes on Python 2.
            for c in ["C", "D", "E"] {
                apps.py2_classic.insert(format!("__main__.{c}"));
            }
            let cfg = LoadConfig {
                apps,
                ..LoadConfig::default()
            };
            for ((id, data), ans) in inputs.iter().zip(real(reader, mode, &inputs)) {
                let real_ok = ans["ok"].as_bool().expect("ok");
                let real_text = ans[if real_ok { "render" } else { "error" }]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let r = load::load(data, rt, &cfg);
                let (ours_ok, ours_text) = match &r.outcome {
                    Outcome::Loaded { heap, root } => {
                        assert!(
                            !render::has_opaque(heap, *root),
                            "{reader} {mode} {id}: opaque"
                        );
                        // The flag the report can use: the value holds a class of `__main__`.
                        let flagged = (0..heap.len()).any(|i| match heap.get(i) {
                            Node::Instance { class, .. } => class.in_main_script(),
                            Node::Global(g) => g.in_main_script(),
                            _ => false,
                        });
                        assert!(flagged, "{reader} {mode} {id}: no __main__ class flagged");
                        (true, render::render(heap, *root, rt))
                    }
                    Outcome::Raised(e) => (false, e.to_string()),
                    Outcome::Unknown(u) => (false, format!("unknown: {u:?}")),
                };
                assert!(
                    !ours_text.contains("No module named '__main__'")
                        && !ours_text.contains("No module named __main__"),
                    "{reader} {mode} {id}: {ours_text}"
                );
                if ours_ok == real_ok && ours_text == real_text {
                    exact += 1;
                } else {
                    wrong += 1;
                    report.push(format!(
                        "{reader} {mode} {id}\n    real: {real_ok} {real_text}\n    ours: {ours_ok} {ours_text}"
                    ));
                }
            }
        }
    }
    println!("exact {exact}, wrong {wrong}");
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert_eq!(exact, READERS.len() * 2 * 14);
}

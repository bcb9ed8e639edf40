//! The command line as a user runs it: the real binary, real files, exit codes (cli.md).

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    common::cache_compat()
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(common::root())
        .output()
        .expect("run cache-compat")
}

/// Run the README's command that starts with `cargo run --release -- <sub>`, as written there.
fn run_readme_command(sub: &str) -> Output {
    let readme = std::fs::read_to_string(common::root().join("README.md")).expect("README");
    let prefix = format!("cargo run --release -- {sub}");
    let line = readme
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("README gives a `{prefix}` command"));
    let args: Vec<&str> = line
        .trim_start_matches("cargo run --release -- ")
        .split_whitespace()
        .collect();
    run(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn readme_main_job_scans_the_demo_snapshot() {
    // The README's main-job command, as written there. The snapshot holds what real Python 2.7 and
    // 3.8 wrote through Werkzeug 0.16.1 (corpora/demo/make_snapshot.sh); tests/incident.rs holds the
    // same kind of scan against the real cache layers.
    let o = run_readme_command("scan");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with("rolling deploy (2.7 and 3.8 share the cache): NOT SAFE"),
        "{out}"
    );
    assert!(out.contains("UnicodeDecodeError: 'ascii' codec can't decode byte 0xe2 in position 842: ordinal not in range(128)"), "{out}");
    assert!(
        out.contains("ValueError: unsupported pickle protocol: 4"),
        "{out}"
    );
    // The excerpt the README shows of this report is what the command prints.
    let readme = std::fs::read_to_string(common::root().join("README.md")).expect("README");
    let excerpt = readme
        .split("What the demo prints first")
        .nth(1)
        .and_then(|s| s.split("```\n").nth(1))
        .expect("the README shows an excerpt of the demo report");
    let lines: Vec<&str> = excerpt.lines().filter(|l| *l != "...").collect();
    assert!(lines.len() >= 4, "{excerpt}");
    for line in lines {
        assert!(
            out.lines().any(|l| l == line),
            "README excerpt line not in the report: {line}"
        );
    }
}

#[test]
fn readme_inspect_command_shows_the_incident() {
    let o = run_readme_command("inspect");
    let out = stdout(&o);
    // The demo value was written by real py2.7 cPickle (corpora/demo/make_demo.py); the 3.x
    // verdict is what CPython 3 raises for a py2 str holding UTF-8 (see corpora/outcomes).
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("UnicodeDecodeError: 'ascii' codec can't decode byte 0xe2 in position 842: ordinal not in range(128)"), "{out}");
    assert!(out.contains("2.7 "), "{out}");
    assert!(out.contains("<-- fails on"), "{out}");
}

#[test]
fn json_verdicts_follow_cli_md() {
    let o = run(&[
        "inspect",
        "--strip-bang",
        "corpora/demo/incident-werkzeug-py27.bin",
        "-r",
        "2.7",
        "-r",
        "py3.8",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["protocol"], 0);
    assert_eq!(v["envelope"], "!");
    assert_eq!(v["verdicts"]["2.7"]["outcome"], "ok");
    assert_eq!(v["verdicts"]["3.8"]["outcome"], "fails");
    assert!(
        v["verdicts"]["3.8"]["error"]
            .as_str()
            .unwrap()
            .starts_with("UnicodeDecodeError: 'ascii' codec")
    );
    assert_eq!(v["value"]["runtime"], "2.7");
    assert!(
        v["strings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "py2-str" && s["first_non_ascii"] == 842)
    );
}

#[test]
fn latin1_load_option_turns_the_failure_into_mojibake() {
    let o = run(&[
        "inspect",
        "--strip-bang",
        "corpora/demo/incident-werkzeug-py27.bin",
        "-r",
        "3.8",
        "--load",
        "encoding=latin1",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let render = v["verdicts"]["3.8"]["value"].as_str().unwrap();
    // U+00E2 U+0080 U+0099: the three UTF-8 bytes of the apostrophe, each read as latin-1.
    assert!(
        render.contains("It\\u{e2}\\u{80}\\u{99}s fixed."),
        "{render}"
    );
}

#[test]
fn stdin_and_protocol_5_on_an_old_runtime() {
    let mut child = bin()
        .args(["inspect", "-", "-r", "3.7", "-r", "3.8", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    // pickle.dumps(None, 5) on 3.8+.
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\x80\x05N.")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["verdicts"]["3.7"]["error"],
        "ValueError: unsupported pickle protocol: 5"
    );
    assert_eq!(v["verdicts"]["3.8"]["outcome"], "ok");
}

#[test]
fn dangerous_globals_are_reported() {
    let dir = std::env::temp_dir().join(format!("cc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let f = dir.join("evil.pkl");
    // The classic: cos\nsystem\n(S'id'\ntR.  Never executed; only read.
    std::fs::write(&f, b"cos\nsystem\n(S'id'\ntR.").expect("write");
    let o = run(&["inspect", f.to_str().expect("path"), "-r", "3.13"]);
    let out = stdout(&o);
    assert!(
        out.contains("DANGER: loading this pickle can run code: os.system"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tool_errors_exit_2_with_a_message() {
    let o = run(&[
        "scan",
        "--redis",
        "redis://127.0.0.1:1/0",
        "--old",
        "2.7",
        "--new",
        "3.8",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach Redis at redis://127.0.0.1:1/0")
    );
    let o = run(&[
        "scan",
        "--snapshot",
        "no/such.snapshot",
        "--old",
        "2.7",
        "--new",
        "3.8",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["inspect", "no/such/file.pkl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("reading no/such/file.pkl"));
    let o = run(&[
        "inspect",
        "corpora/demo/incident-werkzeug-py27.bin",
        "-r",
        "2.6",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown runtime \"2.6\""));
    let o = run(&[
        "inspect",
        "corpora/demo/incident-werkzeug-py27.bin",
        "--load",
        "buffers=1",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn runtimes_lists_every_runtime_with_its_facts() {
    let o = run(&["runtimes", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 18);
    let r314 = rows.iter().find(|r| r["runtime"] == "3.14").expect("3.14");
    assert_eq!(r314["default_protocol"], 5);
    // 3.14 is checked against Pyodide (CPython 3.14 in WebAssembly); 3.0-3.5 come from sources.
    assert_eq!(r314["checked_against_interpreter"], true);
    // 3.15 is checked against CPython 3.15.2 (Debian's build, tools/debian-py/install.sh).
    let r315 = rows.iter().find(|r| r["runtime"] == "3.15").expect("3.15");
    assert_eq!(r315["default_protocol"], 5);
    assert_eq!(r315["highest_protocol"], 5);
    assert_eq!(r315["checked_against_interpreter"], true);
    let r35 = rows.iter().find(|r| r["runtime"] == "3.5").expect("3.5");
    assert_eq!(r35["checked_against_interpreter"], false);
}

/// Run the binary under a pseudo-terminal (util-linux `script`), as a user at a terminal does;
/// standard output and error arrive merged.
fn run_in_terminal(args: &str, no_color: bool) -> String {
    let mut c = Command::new("script");
    c.args([
        "-qec",
        &format!("{} {args}", env!("CARGO_BIN_EXE_cache-compat")),
        "/dev/null",
    ])
    .current_dir(common::root())
    .env_remove("NO_COLOR");
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let o = c
        .output()
        .expect("util-linux `script` runs the binary under a pseudo-terminal");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn colour_and_progress_at_a_terminal_and_no_color_honoured() {
    let demo = "scan --snapshot corpora/demo/werkzeug-incident.snapshot --old 2.7 --new 3.8 --writer werkzeug";
    let out = run_in_terminal(&format!("{demo} --progress none"), false);
    assert!(
        out.contains("\x1b[1;31mrolling deploy (2.7 and 3.8 share the cache): NOT SAFE"),
        "{out:?}"
    );
    let out = run_in_terminal(&format!("{demo} --progress none"), true);
    assert!(!out.contains('\x1b'), "NO_COLOR: {out:?}");
    assert!(out.contains("rolling deploy (2.7 and 3.8 share the cache): NOT SAFE"));
    // At a terminal the progress bar is drawn on stderr (and cleared before the report).
    let out = run_in_terminal(demo, true);
    assert!(out.contains("values judged"), "{out:?}");
    // Piped (not a terminal): no colour, no progress.
    let o = run(&demo.split_whitespace().collect::<Vec<_>>());
    assert!(!String::from_utf8_lossy(&o.stdout).contains('\x1b'));
    assert!(o.stderr.is_empty());
}

#[test]
fn scan_help_names_every_writer_profile_and_each_one_parses() {
    let help = stdout(&run(&["scan", "--help"]));
    for profile in cache_compat::envelope::PROFILES.split(", ") {
        assert!(
            help.contains(profile),
            "scan --help does not name {profile}"
        );
        let name = profile.trim_end_matches("[@VERSION]").replace(":N", ":2");
        assert!(
            cache_compat::envelope::Writer::parse(&name).is_ok(),
            "the documented profile {name} does not parse"
        );
    }
}

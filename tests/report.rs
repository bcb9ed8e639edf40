//! The reports as a user and a CI job get them: every format of the demo snapshot against golden
//! files, JUnit parsed by a real XML parser, exit codes on a clean cache (pickled by a real Python
//! 2.7), levels, baseline, config file and `init`.
//!
//! The golden files were reviewed against what tests/incident.rs proves about the same data with the
//! real Werkzeug 0.16.1 cache layers of Python 2.7 and 3.8: the py2 str values holding UTF-8
//! (page_utf8, session, when) raise the exact UnicodeDecodeError on 3.8; everything 3.8 writes
//! (protocol 4) raises `ValueError: unsupported pickle protocol: 4` on 2.7; the three ints are stored
//! as ASCII digits (no pickle). `UPDATE_GOLDEN=1 cargo test --release --test report` rewrites them;
//! review the diff before committing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DEMO: [&str; 8] = [
    "--snapshot",
    "corpora/demo/werkzeug-incident.snapshot",
    "--old",
    "2.7",
    "--new",
    "3.8",
    "--writer",
    "werkzeug",
];

fn bin() -> Command {
    let mut c = common::cache_compat();
    c.current_dir(common::root())
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("NO_COLOR")
        .env_remove("CACHE_COMPAT_CONFIG")
        .env_remove("CACHE_COMPAT_FAIL_ON")
        .env_remove("CACHE_COMPAT_BASELINE")
        .env_remove("CACHE_COMPAT_PROGRESS")
        .env_remove("CACHE_COMPAT_JOBS");
    c
}

fn scan(extra: &[&str]) -> Output {
    bin()
        .arg("scan")
        .args(DEMO)
        .args(extra)
        .output()
        .expect("run cache-compat")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cc-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// A readable line diff: the first differing lines with a little context.
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let mut out = format!(
        "first difference at line {} (golden {} lines, output {} lines):\n",
        first + 1,
        w.len(),
        g.len()
    );
    let from = first.saturating_sub(2);
    for i in from..(first + 6).min(w.len().max(g.len())) {
        match (w.get(i), g.get(i)) {
            (Some(a), Some(b)) if a == b => out.push_str(&format!("  {a}\n")),
            (a, b) => {
                if let Some(a) = a {
                    out.push_str(&format!("- {a}\n"));
                }
                if let Some(b) = b {
                    out.push_str(&format!("+ {b}\n"));
                }
            }
        }
    }
    out
}

fn golden(name: &str, got: &str) {
    let path = common::root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (UPDATE_GOLDEN=1 writes it; review it)",
            path.display()
        )
    });
    assert!(
        want == got,
        "{} differs from the output (UPDATE_GOLDEN=1 rewrites it):\n{}",
        path.display(),
        diff(&want, got)
    );
}

#[test]
fn every_format_of_the_demo_matches_its_golden_file() {
    for (format, file) in [
        ("table", "demo.table.txt"),
        ("json", "demo.json"),
        ("jsonl", "demo.jsonl"),
        ("markdown", "demo.md"),
        ("junit", "demo.junit.xml"),
        ("github", "demo.github.txt"),
    ] {
        let o = scan(&["--format", format]);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", text(&o.stderr));
        golden(file, &text(&o.stdout));
    }
}

#[test]
fn the_demo_report_says_what_the_real_cache_layers_do() {
    // Independent of the golden files: the facts tests/incident.rs proves with real Werkzeug.
    let o = scan(&["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let f = v["findings"].as_array().expect("findings");
    let find = |pattern: &str, check: &str| {
        f.iter()
            .find(|x| x["pattern"] == pattern && x["check"] == check)
            .unwrap_or_else(|| panic!("no finding {pattern} {check}"))
    };
    let utf8 = find("page:py27:page_utf8", "new_reads");
    assert_eq!(utf8["code"], "CC001");
    assert_eq!(
        utf8["errors"][0]["text"],
        "UnicodeDecodeError: 'ascii' codec can't decode byte 0xe2 in position 842: ordinal not in range(128)"
    );
    assert_eq!(find("page:py38:when", "old_reads")["code"], "CC002");
    // 2.7 reads its own values; 3.8 reads the ASCII-only and unicode ones.
    assert!(
        !f.iter()
            .any(|x| x["pattern"] == "page:py27:title_ascii" && x["check"] == "new_reads")
    );
    assert!(
        !f.iter()
            .any(|x| x["pattern"].as_str().unwrap().starts_with("page:py27")
                && x["check"] == "old_reads")
    );
    assert_eq!(v["rolling_deploy"]["safe"], "not_safe");
    assert_eq!(v["coverage"]["not_pickles"], 3);
}

#[test]
fn reports_are_byte_identical_whatever_the_thread_count() {
    let a = scan(&["--format", "json", "--jobs", "1"]);
    let b = scan(&["--format", "json", "--jobs", "4"]);
    assert_eq!(text(&a.stdout), text(&b.stdout));
}

#[test]
fn junit_parses_with_one_case_per_pattern_and_check() {
    let o = scan(&["--format", "junit"]);
    let xml = text(&o.stdout);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    // 11 pickled keys, each its own pattern (no id segment to fold), times the five checks.
    assert_eq!(cases.len(), 11 * 5);
    assert_eq!(root.attribute("tests"), Some("55"));
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(
        root.attribute("failures"),
        Some(failed.len().to_string().as_str())
    );
    let utf8 = cases
        .iter()
        .find(|c| c.attribute("name") == Some("page:py27:page_utf8 new_reads"))
        .expect("case");
    let failure = utf8
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("failure");
    assert_eq!(failure.attribute("type"), Some("CC001"));
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("byte 0xe2 in position 842")
    );
}

#[test]
fn markdown_opens_with_the_verdict_and_fills_the_step_summary() {
    let d = tmpdir("md");
    let summary = d.join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").expect("write");
    let o = bin()
        .arg("scan")
        .args(DEMO)
        .args(["--format", "markdown"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("run");
    let md = text(&o.stdout);
    let first = md.lines().next().expect("a first line");
    assert!(
        first.contains("rolling deploy (2.7 and 3.8 share the cache): **NOT SAFE**"),
        "{first}"
    );
    assert_eq!(
        std::fs::read_to_string(&summary).expect("summary"),
        format!("earlier step\n{md}")
    );
}

#[test]
fn several_formats_at_once() {
    let d = tmpdir("multi");
    let (json, junit) = (d.join("report.json"), d.join("junit.xml"));
    let o = scan(&[
        "--format",
        "json",
        "--output",
        json.to_str().unwrap(),
        "--format",
        "junit",
        "--output",
        junit.to_str().unwrap(),
        "--format",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("::notice title=cache-compat verdict::rolling deploy"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).expect("json");
    assert_eq!(v["schema"], 1);
    roxmltree::Document::parse(&std::fs::read_to_string(&junit).unwrap()).expect("xml");
    // FORMAT=FILE and a comma list do the same.
    let j2 = d.join("r2.json");
    let o = scan(&["--format", &format!("json={},table", j2.display())]);
    assert!(text(&o.stdout).starts_with("rolling deploy"));
    assert_eq!(
        std::fs::read_to_string(&json).unwrap(),
        std::fs::read_to_string(&j2).unwrap()
    );
    // Two formats to standard output is refused.
    let o = scan(&["--format", "json,table"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("several formats would go to standard output"));
}

fn python27() -> PathBuf {
    common::interpreter("2.7")
}

/// A snapshot whose values were pickled by the real Python 2.7 (protocol 2) and that survive
/// 2.7 <-> 3.8 with protocol-2 writers on both sides.
fn clean_snapshot(dir: &Path) -> PathBuf {
    let out = dir.join("clean.snapshot");
    let o = Command::new(python27())
        .arg(common::root().join("tests/golden/clean_snapshot.py"))
        .arg(&out)
        .output()
        .expect("python2.7");
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

#[test]
fn exit_codes_clean_hazardous_unreachable_malformed_config() {
    let d = tmpdir("exit");
    let snap = clean_snapshot(&d);
    let o = bin()
        .args(["scan", "--snapshot", snap.to_str().unwrap()])
        .args(["--old", "2.7", "--new", "3.8", "--writer", "pickle:2"])
        .output()
        .expect("run");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.starts_with("rolling deploy (2.7 and 3.8 share the cache): safe (0 of 8"),
        "{out}"
    );
    // The same values with 3.8's default writer (protocol 4): the rollback breaks.
    let o = bin()
        .args(["scan", "--snapshot", snap.to_str().unwrap()])
        .args(["--old", "2.7", "--new", "3.8", "--new-writer", "pickle"])
        .args(["--old-writer", "pickle:2"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("rollback to 2.7 after 3.8 has written: NOT SAFE (8 of 8"));
    // Hazardous: the demo.
    assert_eq!(scan(&[]).status.code(), Some(1));
    // Unreachable server.
    let o = bin()
        .args([
            "scan",
            "--redis",
            "redis://127.0.0.1:1/0",
            "--old",
            "2.7",
            "--new",
            "3.8",
        ])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("cannot reach Redis at redis://127.0.0.1:1/0"));
    assert!(
        o.stdout.is_empty(),
        "no report when the tool could not do its job"
    );
    // A malformed config: exit 2, naming the file and the line.
    let cfg = d.join("bad.toml");
    std::fs::write(
        &cfg,
        "[checks]\nold = \"2.7\"\nnew = \"3.8\"\nwriter = \"memcache\"\n",
    )
    .unwrap();
    let o = scan(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(cfg.to_str().unwrap()) && err.contains("line 4"),
        "{err}"
    );
    assert!(err.contains("unknown writer profile \"memcache\""), "{err}");
    std::fs::write(&cfg, "[checks\nold = 1\n").unwrap();
    let o = scan(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("line 1"), "{}", text(&o.stderr));
}

#[test]
fn levels_and_fail_on() {
    let d = tmpdir("levels");
    // CC001 and CC002 (every finding of the demo) lowered to warn: nothing at deny, so exit 0
    // under the default --fail-on deny, and 1 under --fail-on warn.
    let cfg = d.join("cache-compat.toml");
    std::fs::write(
        &cfg,
        "[levels]\nCC001 = \"warn\"\nprotocol-too-new = \"warn\"\n",
    )
    .unwrap();
    let o = scan(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("0 deny, 30 warn"));
    let o = scan(&["--config", cfg.to_str().unwrap(), "--fail-on", "warn"]);
    assert_eq!(o.status.code(), Some(1));
    // Precedence: command line > environment > file.
    std::fs::write(&cfg, "[report]\nfail_on = \"never\"\n").unwrap();
    assert_eq!(
        scan(&["--config", cfg.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let o = bin()
        .arg("scan")
        .args(DEMO)
        .args(["--config", cfg.to_str().unwrap()])
        .env("CACHE_COMPAT_FAIL_ON", "deny")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = bin()
        .arg("scan")
        .args(DEMO)
        .args(["--config", cfg.to_str().unwrap(), "--fail-on", "never"])
        .env("CACHE_COMPAT_FAIL_ON", "deny")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn baseline_accepts_known_findings_and_warns_when_one_is_gone() {
    let d = tmpdir("baseline");
    let b = d.join("baseline.toml");
    let o = scan(&["--write-baseline", b.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let written = std::fs::read_to_string(&b).unwrap();
    assert_eq!(written.matches("[[accept]]").count(), 30, "{written}");
    // Every finding accepted: exit 0, and the report says so.
    let o = scan(&["--baseline", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("30 accepted by the baseline; 0 at or above"));
    // One entry that no longer occurs: a warning, on stderr and in the report; exit unchanged.
    let stale = format!(
        "{written}\n[[accept]]\npattern = \"page:gone:*\"\ncheck = \"new_reads\"\ncode = \"CC001\"\nreason = \"fixed in v2\"\n"
    );
    std::fs::write(&b, stale).unwrap();
    let o = scan(&["--baseline", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("baseline entry no longer occurs: pattern \"page:gone:*\", check new_reads, code CC001 (reason: fixed in v2)"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stdout).contains("warning: baseline entry no longer occurs: page:gone:*"));
    // Partly accepted: the rest still fails the run.
    std::fs::write(
        &b,
        "[[accept]]\npattern = \"page:py27:page_utf8\"\ncheck = \"new_reads\"\ncode = \"CC001\"\nreason = \"flushed before the deploy\"\n",
    )
    .unwrap();
    let o = scan(&["--baseline", b.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let accepted: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["accepted"].is_null())
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["accepted"], "flushed before the deploy");
    // A baseline entry without a reason is refused.
    std::fs::write(
        &b,
        "[[accept]]\npattern = \"x\"\ncheck = \"new_reads\"\ncode = \"CC001\"\nreason = \"\"\n",
    )
    .unwrap();
    let o = scan(&["--baseline", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("needs a reason"));
}

#[test]
fn init_writes_a_template_that_reads_back_and_is_found_up_to_the_git_root() {
    let d = tmpdir("init");
    std::fs::create_dir_all(d.join(".git")).unwrap();
    let sub = d.join("app/deep");
    std::fs::create_dir_all(&sub).unwrap();
    let o = bin().current_dir(&d).arg("init").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = bin().current_dir(&d).arg("init").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "refuses to overwrite");
    assert!(text(&o.stderr).contains("already exists (use --force"));
    assert_eq!(
        bin()
            .current_dir(&d)
            .args(["init", "--force"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    // Found from a subdirectory (walking up to the git root); its [checks] old/new are used, and
    // the template's writer is pickle: 3.8 writes protocol 4, so the demo fails.
    let demo = common::root().join("corpora/demo/werkzeug-incident.snapshot");
    let o = bin()
        .current_dir(&sub)
        .args([
            "scan",
            "--snapshot",
            demo.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["old"]["runtime"], "2.7");
    assert_eq!(v["new"]["writer"], "pickle");
    // Outside the repository the file is not found: --old is then missing (exit 2).
    let outside = tmpdir("init-outside");
    let o = bin()
        .current_dir(&outside)
        .args(["scan", "--snapshot", demo.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--old RUNTIME is required"));
}

#[test]
fn progress_is_hidden_off_a_terminal_and_logged_on_request() {
    let o = scan(&[]);
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    let o = scan(&["--progress", "log"]);
    let err = text(&o.stderr);
    assert!(
        err.contains("cache-compat: done: 14/14 values judged (100%)")
            && err.contains("11 with findings"),
        "{err}"
    );
}

#[test]
fn configured_patterns_group_keys() {
    let d = tmpdir("patterns");
    let cfg = d.join("c.toml");
    std::fs::write(
        &cfg,
        "[[patterns]]\nglob = \"page:py27:*\"\nname = \"pages written by 2.7\"\n",
    )
    .unwrap();
    let o = scan(&["--config", cfg.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = v["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pattern"] == "pages written by 2.7")
        .expect("the configured pattern");
    // tests/e2e/werkzeug_cache.py fills 8 keys under page:py27:, 2 of them ints (not pickles).
    assert_eq!(p["values"], 8);
    assert_eq!(p["pickles"], 6);
    assert_eq!(p["with_findings"], 6);
}

#[test]
fn every_hazard_code_is_documented_with_its_default_level() {
    let doc = std::fs::read_to_string(common::root().join("docs/hazards.md")).expect("docs");
    for h in cache_compat::report::Hazard::ALL {
        let row = format!(
            "| {} | {} | {} |",
            h.code(),
            h.slug(),
            h.default_level().name()
        );
        assert!(doc.contains(&row), "docs/hazards.md lacks the row {row}");
    }
}

#[test]
fn load_options_turn_the_failure_into_the_documented_changes() {
    // encoding='latin1': the py2 UTF-8 str loads as mojibake (the text tests/cli.rs checks
    // against CPython's latin-1 decoding); encoding='bytes': a py2 str loads as bytes.
    for (load, key, code) in [
        ("encoding=latin1", "page:py27:page_utf8", "CC010"),
        ("encoding=bytes", "page:py27:title_ascii", "CC011"),
    ] {
        let o = scan(&["--new-load", load, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["pattern"] == key && f["check"] == "new_reads")
            .unwrap_or_else(|| panic!("{load}: no new_reads finding"));
        assert_eq!(f["code"], code, "{load}: {f}");
    }
}

/// The CI recipe of the README as written: its config block and its GitHub Actions command.
#[test]
fn the_ci_recipe_runs_as_written() {
    let doc = std::fs::read_to_string(common::root().join("README.md")).expect("README");
    let toml_block = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a toml block");
    let cmd = doc
        .lines()
        .find_map(|l| l.trim().strip_prefix("- run: cache-compat "))
        .expect("the GitHub Actions scan step");
    let d = tmpdir("recipe");
    std::fs::write(d.join("cache-compat.toml"), toml_block).unwrap();
    std::fs::copy(
        common::root().join("corpora/demo/werkzeug-incident.snapshot"),
        d.join("cache.snapshot"),
    )
    .unwrap();
    // The recipe's baseline, written by the recipe's own --write-baseline step.
    let o = bin()
        .current_dir(&d)
        .args([
            "scan",
            "--write-baseline",
            "cache-compat-baseline.toml",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let summary = d.join("summary.md");
    let o = bin()
        .current_dir(&d)
        .args(cmd.split_whitespace())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "baselined: {}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("::notice title=cache-compat verdict::"));
    assert!(text(&o.stderr).contains("cache-compat: done: 14/14 values judged"));
    roxmltree::Document::parse(&std::fs::read_to_string(d.join("cache-compat.junit.xml")).unwrap())
        .expect("junit");
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .starts_with("❌ rolling deploy (2.7 and 3.8 share the cache): **NOT SAFE**")
    );
}

/// The README's rollback-safety recipe as written, on the demo snapshot: the JSON it writes carries
/// the rollback verdict its `jq` line tests, and `--fail-on never` exits 0 whatever it finds.
#[test]
fn the_rollback_recipe_runs_as_written() {
    let doc = std::fs::read_to_string(common::root().join("README.md")).expect("README");
    let cmd = doc
        .lines()
        .find_map(|l| l.strip_prefix("cache-compat scan --snapshot cache.snapshot "))
        .expect("the rollback recipe's scan command");
    assert!(
        doc.contains("jq -e '.rollback.safe == \"safe\"' rollback.json"),
        "the recipe's jq test changed; update this test with it"
    );
    let d = tmpdir("rollback-recipe");
    std::fs::copy(
        common::root().join("corpora/demo/werkzeug-incident.snapshot"),
        d.join("cache.snapshot"),
    )
    .unwrap();
    let o = bin()
        .current_dir(&d)
        .args(["scan", "--snapshot", "cache.snapshot"])
        .args(cmd.split_whitespace())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("rollback.json")).unwrap()).unwrap();
    // tests/incident.rs proves with real Werkzeug that 2.7 cannot read what 3.8 writes back.
    assert_eq!(report["rollback"]["safe"], "not_safe");
    assert_eq!(
        report["rollback"]["checks"],
        serde_json::json!(["old_reads", "old_reads_new_write", "round_trip"])
    );
}

/// A snapshot of `n` values pickled by the real Python 2.7 at protocol 0, each a dict holding a py2
/// `str` with UTF-8 bytes (a finding on 3.x), under keys in no particular order.
fn utf8_str_snapshot(dir: &Path, n: usize) -> PathBuf {
    let out = dir.join("utf8.snapshot");
    let script = r#"
import sys, gzip, json, pickle, binascii
out, n = sys.argv[1], int(sys.argv[2])
f = gzip.open(out, 'wb')
f.write(json.dumps({'cache_compat_snapshot': 1, 'source': 'redis://test'}) + '\n')
for i in range(n):
    j = (i * 7919) % n
    v = pickle.dumps({'name': 'caf\xc3\xa9 %d' % j, 'n': j}, 0)
    f.write(json.dumps({'key': binascii.hexlify('user:%d' % j), 'type': 'string', 'field': None,
                        'ttl_ms': None, 'value': binascii.hexlify(v)}) + '\n')
f.close()
"#;
    let o = Command::new(python27())
        .args(["-c", script])
        .arg(&out)
        .arg(n.to_string())
        .output()
        .expect("python2.7");
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

#[test]
fn spilled_per_value_records_render_byte_identical() {
    // The per-value records go to temporary files past a memory budget (hidden knob
    // CACHE_COMPAT_SPOOL_BYTES); a budget of 1 byte spills after every value (and merges the runs
    // past 64 of them). The oracle is the same run without spilling.
    let d = tmpdir("spill");
    let snap = utf8_str_snapshot(&d, 300);
    let snap = snap.to_str().unwrap();
    for (input, args) in [
        (DEMO.to_vec(), vec![]),
        (
            vec!["--snapshot", snap, "--old", "2.7", "--new", "3.8"],
            vec![],
        ),
        (
            vec!["--snapshot", snap, "--old", "2.7", "--new", "3.8"],
            vec!["--all"],
        ),
    ] {
        for format in ["jsonl", "json", "table"] {
            let run = |budget: Option<&str>, tmp: &Path| {
                let mut c = bin();
                c.arg("scan")
                    .args(&input)
                    .args(&args)
                    .args(["--format", format, "--progress", "none"])
                    .env("TMPDIR", tmp);
                if let Some(b) = budget {
                    c.env("CACHE_COMPAT_SPOOL_BYTES", b);
                }
                c.output().expect("run cache-compat")
            };
            let tmp = d.join("tmp");
            std::fs::create_dir_all(&tmp).expect("tmp");
            let plain = run(None, &tmp);
            let spilled = run(Some("1"), &tmp);
            assert_eq!(plain.status.code(), Some(1), "{}", text(&plain.stderr));
            assert_eq!(spilled.status.code(), Some(1), "{}", text(&spilled.stderr));
            assert!(
                plain.stdout == spilled.stdout,
                "{format} {args:?}: spilled output differs:\n{}",
                diff(&text(&plain.stdout), &text(&spilled.stdout))
            );
            let lines = text(&plain.stdout).lines().count();
            assert!(lines > 10, "{format}: {lines} lines");
            // Nothing left behind in the temporary directory.
            let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").collect();
            assert!(left.is_empty(), "{left:?}");
            // The spill is really taken: with a temporary directory that does not exist, the
            // run fails with the reason instead of printing a report short of values (formats
            // without per-value records do not spill).
            let missing = d.join("no-such-dir");
            let o = run(Some("1"), &missing);
            if format != "table" || !args.is_empty() {
                assert_eq!(o.status.code(), Some(2), "{format}: {}", text(&o.stderr));
                assert!(
                    text(&o.stderr).contains("temporary file"),
                    "{}",
                    text(&o.stderr)
                );
            } else {
                assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
            }
        }
    }
    let golden_jsonl =
        std::fs::read_to_string(common::root().join("tests/golden/demo.jsonl")).expect("golden");
    let o = bin()
        .arg("scan")
        .args(DEMO)
        .args(["--format", "jsonl"])
        .env("CACHE_COMPAT_SPOOL_BYTES", "1")
        .output()
        .expect("run");
    assert_eq!(text(&o.stdout), golden_jsonl);
}

//! The formats (docs/formats.md). Every one opens with the two verdict lines; findings are sorted
//! (pattern, check, code) and nothing depends on the clock, so the same cache gives the same bytes.

use super::{CHECKS, Finding, Level, Report, SECURITY, Safety, SideInfo};
use std::fmt::Write;

/// Which formats exist (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Markdown,
    Junit,
    Github,
}

impl Format {
    pub const NAMES: &'static str = "table, json, jsonl, markdown, junit, github";

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            "jsonl" => Some(Format::Jsonl),
            "markdown" | "md" => Some(Format::Markdown),
            "junit" => Some(Format::Junit),
            "github" => Some(Format::Github),
            _ => None,
        }
    }

    /// Whether the format prints per-value records.
    pub fn prints_values(self, all: bool) -> bool {
        match self {
            Format::Json | Format::Jsonl => true,
            Format::Table => all,
            _ => false,
        }
    }
}

/// How a rendering is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// ANSI colour (table only).
    pub color: bool,
    /// Also list values with no finding.
    pub all: bool,
    /// The level at which the run fails (None: never).
    pub fail_on: Option<Level>,
}

/// The rendering as one string (for small reports; [`render_to`] streams the per-value records).
pub fn render(report: &Report, format: Format, style: Style) -> std::io::Result<String> {
    let mut out = Vec::new();
    render_to(report, format, style, &mut out)?;
    String::from_utf8(out).map_err(std::io::Error::other)
}

/// Write the rendering to `w`. The per-value records (`json`, `jsonl`, `table --all`) are
/// streamed from the report's spool, so the whole output is never held in memory.
pub fn render_to(
    report: &Report,
    format: Format,
    style: Style,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    if format.prints_values(style.all) {
        // Before anything is written: a report short of values is not printed at all.
        report.values.check()?;
    }
    match format {
        Format::Table => table_to(report, style, w),
        Format::Json => json_to(report, style, w),
        Format::Jsonl => jsonl_to(report, style, w),
        Format::Markdown => w.write_all(markdown(report, style).as_bytes()),
        Format::Junit => w.write_all(junit(report, style).as_bytes()),
        Format::Github => w.write_all(github(report, style).as_bytes()),
    }
}

fn fail_on_name(l: Option<Level>) -> &'static str {
    l.map_or("never", Level::name)
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn safety(&self, line: &str, s: Safety) -> String {
        match s {
            Safety::Safe => self.wrap("1;32", line),
            Safety::NotSafe => self.wrap("1;31", line),
            Safety::Unknown => self.wrap("1;33", line),
        }
    }
    fn level(&self, l: Level) -> String {
        match l {
            Level::Deny => self.wrap("31", "deny"),
            Level::Warn => self.wrap("33", "warn"),
            Level::Allow => "allow".into(),
        }
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p == 0.0 || p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn level_counts(r: &Report) -> (usize, usize, usize) {
    let deny = r.listed().filter(|f| f.level == Level::Deny).count();
    let warn = r.listed().filter(|f| f.level == Level::Warn).count();
    let accepted = r.listed().filter(|f| f.accepted.is_some()).count();
    (deny, warn, accepted)
}

fn status_line(r: &Report, fail_on: Option<Level>) -> String {
    let (deny, warn, accepted) = level_counts(r);
    let failing = r.findings.iter().filter(|f| f.fails_run(fail_on)).count();
    format!(
        "findings (pattern x check x code): {deny} deny, {warn} warn, {accepted} accepted by the baseline; {failing} at or above --fail-on {} (exit {})",
        fail_on_name(fail_on),
        if failing > 0 { 1 } else { 0 }
    )
}

fn writers_line(r: &Report) -> String {
    let side = |s: &SideInfo| {
        if s.writer == "auto" {
            format!(
                "{} writes back with the cache layer inferred per value (auto; the value's `writer` field says which)",
                s.runtime
            )
        } else {
            format!(
                "{} writes protocol {} ({})",
                s.runtime, s.writes_protocol, s.writer
            )
        }
    };
    format!("writers: {}, {}", side(&r.old), side(&r.new))
}

/// The listed findings of one pattern, grouped by code (advice is per pattern and code).
fn by_code<'a>(fs: &[&'a Finding]) -> Vec<(&'static str, Vec<&'a Finding>)> {
    let mut out: Vec<(&'static str, Vec<&Finding>)> = Vec::new();
    let mut sorted = fs.to_vec();
    sorted.sort_by_key(|f| f.code);
    for f in sorted {
        match out.last_mut() {
            Some((c, v)) if *c == f.code => v.push(f),
            _ => out.push((f.code, vec![f])),
        }
    }
    out
}

/// `table`: the terminal report.
fn table_to(r: &Report, style: Style, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    w.write_all(table_head(r, style).as_bytes())?;
    if style.all {
        w.write_all(b"\nevery value:\n")?;
        r.values.for_each(|v| w.write_all(v.table.as_bytes()))?;
    }
    Ok(())
}

/// The table up to the per-value records.
fn table_head(r: &Report, style: Style) -> String {
    let p = Paint(style.color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        p.safety(&r.rolling_line(), r.rolling_deploy.safe)
    );
    let _ = writeln!(out, "{}", p.safety(&r.rollback_line(), r.rollback.safe));
    let _ = writeln!(out, "{}", r.coverage_line());
    let _ = writeln!(out, "{}", r.confidence_line());
    let _ = writeln!(out, "{}", writers_line(r));
    let _ = writeln!(out, "{}", status_line(r, style.fail_on));
    // Security findings (CC020, CC021) first, then the compatibility findings.
    for security in [true, false] {
        let mut headed = false;
        for pat in &r.patterns {
            let fs: Vec<&Finding> = r
                .listed()
                .filter(|f| f.pattern == pat.pattern && (f.check == SECURITY) == security)
                .collect();
            if fs.is_empty() {
                continue;
            }
            if security && !headed {
                headed = true;
                let _ = writeln!(
                out,
                "\n{}",
                p.bold("security: values whose load runs code or calls unknown globals (read, never executed)")
            );
            }
            let _ = writeln!(
                out,
                "\n{}  {}, {} with findings (failure rate, 95% interval: {}-{})",
                p.bold(&pat.pattern),
                plural(pat.pickles, "pickled value", "pickled values"),
                pat.with_findings,
                pct(pat.failure_rate_low95),
                pct(pat.failure_rate_high95)
            );
            for (code, group) in by_code(&fs) {
                let first = group[0];
                let _ = writeln!(
                    out,
                    "  {} {} {}: {}{}",
                    p.level(first.level),
                    p.bold(code),
                    first.slug,
                    first.title,
                    first
                        .accepted
                        .as_ref()
                        .map(|reason| format!(" [accepted: {reason}]"))
                        .unwrap_or_default()
                );
                for f in &group {
                    let counted = f.errors.len() > 1 || f.other_errors > 0;
                    for (i, e) in f.errors.iter().enumerate() {
                        let head = if i == 0 {
                            format!("{:<20} {:>7}", f.check, format!("{}/{}", f.count, f.of))
                        } else {
                            String::new()
                        };
                        let n = if counted {
                            format!("{} x ", e.count)
                        } else {
                            String::new()
                        };
                        let _ = writeln!(out, "    {head:<28}  {n}{}", e.text);
                        let _ = writeln!(
                            out,
                            "    {:<28}  {}",
                            "",
                            p.dim(&format!(
                                "e.g. {}",
                                examples(e.examples.as_slice(), e.count)
                            ))
                        );
                    }
                    if f.other_errors > 0 {
                        let _ = writeln!(
                            out,
                            "    {:<28}  {} x other error texts",
                            "", f.other_errors
                        );
                    }
                }
                let _ = writeln!(out, "    fix: {}", first.advice);
            }
        }
    }
    let clean: Vec<_> = r
        .patterns
        .iter()
        .filter(|p| p.pickles > 0 && p.with_findings == 0 && p.unknown == 0)
        .collect();
    if !clean.is_empty() {
        let _ = writeln!(
            out,
            "\npatterns without findings (95% upper bound of the failure rate from the sample):"
        );
        for p in clean.iter().take(CLEAN_SHOWN) {
            let _ = writeln!(
                out,
                "  {}  {}, below {}",
                p.pattern,
                plural(p.pickles, "value", "values"),
                pct(p.failure_rate_high95)
            );
        }
        if clean.len() > CLEAN_SHOWN {
            let _ = writeln!(out, "  +{} more patterns", clean.len() - CLEAN_SHOWN);
        }
    }
    for a in &r.stale_baseline {
        let _ = writeln!(
            out,
            "\nwarning: baseline entry no longer occurs: {} {} {} ({})",
            a.pattern, a.check, a.code, a.reason
        );
    }
    out
}

/// One value's block in the `every value` part of `table --all`.
pub fn table_value(v: &crate::check::ValueResult) -> String {
    let mut out = String::new();
    let key = match &v.field {
        Some(f) => format!("{} [{}]", v.key, f),
        None => v.key.clone(),
    };
    let _ = writeln!(
        out,
        "{key}  (envelope {}, protocol {})",
        v.envelope,
        v.protocol.map_or("-".into(), |p| p.to_string())
    );
    if let Some(n) = &v.note {
        let _ = writeln!(out, "    {n}");
    }
    if let Some(checks) = &v.checks {
        for (name, ch) in checks.all() {
            let detail = ch.text().unwrap_or_default();
            let line = format!("    {name:<20} {:<8} {detail}", ch.name());
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

/// Clean patterns listed in the table.
const CLEAN_SHOWN: usize = 20;

fn examples(ex: &[String], count: u64) -> String {
    let more = count.saturating_sub(ex.len() as u64);
    let mut s = ex.join(", ");
    if more > 0 {
        let _ = write!(s, ", +{more} more");
    }
    s
}

/// `json`: one document (schema in docs/formats.md), the verdicts first.
fn json_to(r: &Report, style: Style, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        schema: u32,
        verdict: [String; 2],
        rolling_deploy: &'a super::Verdict,
        rollback: &'a super::Verdict,
        fail_on: &'static str,
        fails: bool,
        old: &'a super::SideInfo,
        new: &'a super::SideInfo,
        coverage: &'a super::CoverageReport,
        findings: &'a [Finding],
        stale_baseline: &'a [super::baseline::Accept],
        patterns: &'a [super::PatternReport],
        /// Rendered empty; the records are streamed in its place.
        values: [(); 0],
        summary: &'a super::pattern::Summary,
    }
    let doc = Doc {
        schema: r.schema,
        verdict: [r.rolling_line(), r.rollback_line()],
        rolling_deploy: &r.rolling_deploy,
        rollback: &r.rollback,
        fail_on: fail_on_name(style.fail_on),
        fails: r.fails(style.fail_on),
        old: &r.old,
        new: &r.new,
        coverage: &r.coverage,
        findings: &r.findings,
        stale_baseline: &r.stale_baseline,
        patterns: &r.patterns,
        values: [],
        summary: &r.summary,
    };
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    // The top-level `values` member is the only one indented by two spaces with that name.
    const EMPTY: &str = "\n  \"values\": []";
    let Some(at) = text.find(EMPTY) else {
        return writeln!(w, "{text}");
    };
    let open = at + EMPTY.len() - 1;
    w.write_all(&text.as_bytes()[..open])?;
    let mut first = true;
    r.values.for_each(|v| {
        if !(style.all || v.has_finding) {
            return Ok(());
        }
        w.write_all(if first { b"\n    " } else { b",\n    " })?;
        first = false;
        w.write_all(v.json.as_bytes())
    })?;
    if !first {
        w.write_all(b"\n  ")?;
    }
    w.write_all(&text.as_bytes()[open..])?;
    w.write_all(b"\n")
}

/// `jsonl`: one line per value with a finding (every value with `all`), then
/// `{"summary": {...}}` carrying the schema version, the verdicts and the findings.
fn jsonl_to(r: &Report, style: Style, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    r.values.for_each(|v| {
        if style.all || v.has_finding {
            w.write_all(v.jsonl.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    let mut summary = serde_json::to_value(&r.summary).unwrap_or_default();
    if let Some(o) = summary.as_object_mut() {
        o.insert("schema".into(), r.schema.into());
        o.insert(
            "rolling_deploy".into(),
            serde_json::to_value(&r.rolling_deploy).unwrap_or_default(),
        );
        o.insert(
            "rollback".into(),
            serde_json::to_value(&r.rollback).unwrap_or_default(),
        );
        o.insert(
            "findings".into(),
            serde_json::to_value(&r.findings).unwrap_or_default(),
        );
        o.insert(
            "stale_baseline".into(),
            serde_json::to_value(&r.stale_baseline).unwrap_or_default(),
        );
        o.insert("fail_on".into(), fail_on_name(style.fail_on).into());
        o.insert("fails".into(), r.fails(style.fail_on).into());
    }
    writeln!(w, "{}", serde_json::json!({ "summary": summary }))
}

fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace(['\n', '\r'], " ")
}

/// `markdown`: for a PR comment or $GITHUB_STEP_SUMMARY; the first line is the rolling-deploy
/// verdict.
pub fn markdown(r: &Report, style: Style) -> String {
    let mut out = String::new();
    let mark = |s: Safety| match s {
        Safety::Safe => "✅",
        Safety::NotSafe => "❌",
        Safety::Unknown => "⚠️",
    };
    // The answer in bold: "question: **NOT SAFE** (counts)".
    let bold = |line: String, s: Safety| line.replacen(s.label(), &format!("**{}**", s.label()), 1);
    let _ = writeln!(
        out,
        "{} {}\n",
        mark(r.rolling_deploy.safe),
        bold(r.rolling_line(), r.rolling_deploy.safe)
    );
    let _ = writeln!(
        out,
        "{} {}\n",
        mark(r.rollback.safe),
        bold(r.rollback_line(), r.rollback.safe)
    );
    let _ = writeln!(out, "{}  ", r.coverage_line());
    let _ = writeln!(out, "{}  ", r.confidence_line());
    let _ = writeln!(out, "{}  ", writers_line(r));
    let _ = writeln!(out, "{}\n", status_line(r, style.fail_on));
    let listed: Vec<&Finding> = r.listed().collect();
    if !listed.is_empty() {
        let _ = writeln!(
            out,
            "| pattern | check | code | level | values | error | examples |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | ---: | --- | --- |");
        for f in &listed {
            for e in &f.errors {
                let level = match &f.accepted {
                    Some(_) => format!("{} (accepted)", f.level),
                    None => f.level.to_string(),
                };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} {} | {} | {}/{} | {} | {} |",
                    md_cell(&f.pattern),
                    f.check,
                    f.code,
                    f.slug,
                    level,
                    e.count,
                    f.of,
                    md_cell(&e.text),
                    md_cell(&examples(&e.examples, e.count))
                );
            }
        }
        let _ = writeln!(out, "\n### Fixes\n");
        let mut seen = std::collections::BTreeSet::new();
        for f in &listed {
            if seen.insert((&f.pattern, f.code)) {
                let _ = writeln!(
                    out,
                    "- `{}` **{}** {}: {}",
                    md_cell(&f.pattern),
                    f.code,
                    f.slug,
                    md_cell(&f.advice)
                );
            }
        }
    }
    if !r.stale_baseline.is_empty() {
        let _ = writeln!(out, "\n### Stale baseline entries\n");
        for a in &r.stale_baseline {
            let _ = writeln!(
                out,
                "- `{}` {} {}: no longer occurs ({})",
                md_cell(&a.pattern),
                a.check,
                a.code,
                md_cell(&a.reason)
            );
        }
    }
    out
}

/// `junit`: one test suite, one test case per pattern x check (pickled values only). A case fails
/// when it holds a finding at or above `--fail-on` that the baseline does not accept; other
/// findings are listed in its system-out.
pub fn junit(r: &Report, style: Style) -> String {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!(
        "cache-compat {} -> {}",
        r.old.runtime, r.new.runtime
    ));
    for pat in r.patterns.iter().filter(|p| p.pickles > 0) {
        // A security case only where the pattern has security findings (listed first).
        for check in std::iter::once(SECURITY).chain(CHECKS) {
            let fs: Vec<&Finding> = r
                .listed()
                .filter(|f| f.pattern == pat.pattern && f.check == check)
                .collect();
            if check == SECURITY && fs.is_empty() {
                continue;
            }
            let failing: Vec<&&Finding> =
                fs.iter().filter(|f| f.fails_run(style.fail_on)).collect();
            let describe = |f: &Finding| {
                let mut s = format!(
                    "{} {} ({}): {} of {} values\n",
                    f.code, f.slug, f.level, f.count, f.of
                );
                for e in &f.errors {
                    let _ = writeln!(
                        s,
                        "  {} x {}\n    e.g. {}",
                        e.count,
                        e.text,
                        examples(&e.examples, e.count)
                    );
                }
                if let Some(reason) = &f.accepted {
                    let _ = writeln!(s, "  accepted by the baseline: {reason}");
                }
                let _ = writeln!(s, "  fix: {}", f.advice);
                s
            };
            let status = if let Some(first) = failing.first() {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let codes: Vec<&str> = failing.iter().map(|f| f.code).collect();
                st.set_message(format!(
                    "{}: {}",
                    codes.join(", "),
                    first
                        .errors
                        .first()
                        .map_or(first.title, |e| e.text.as_str())
                ));
                st.set_type(first.code);
                st.set_description(failing.iter().map(|f| describe(f)).collect::<String>());
                st
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("{} {check}", pat.pattern), status);
            case.set_classname(pat.pattern.clone());
            let rest: String = fs
                .iter()
                .filter(|f| !f.fails_run(style.fail_on))
                .map(|f| describe(f))
                .collect();
            if !rest.is_empty() {
                case.set_system_out(rest);
            }
            suite.add_test_case(case);
        }
    }
    let mut rep = quick_junit::Report::new("cache-compat");
    rep.add_test_suite(suite);
    let mut s = rep.to_string().unwrap_or_default();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// GitHub Actions workflow command escaping for a message.
fn gh_escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_prop(s: &str) -> String {
    gh_escape(s).replace(':', "%3A").replace(',', "%2C")
}

/// `github`: workflow commands (`::error` for deny, `::warning` for warn and accepted findings),
/// one per pattern x check x code, after a `::notice` with the verdicts.
pub fn github(r: &Report, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "::notice title={}::{}",
        gh_prop("cache-compat verdict"),
        gh_escape(&format!(
            "{}\n{}\n{}",
            r.rolling_line(),
            r.rollback_line(),
            r.coverage_line()
        ))
    );
    for f in r.listed() {
        let cmd = if f.fails_run(style.fail_on) || (f.level == Level::Deny && f.accepted.is_none())
        {
            "error"
        } else {
            "warning"
        };
        let title = format!("{} {} {} {}", f.code, f.slug, f.pattern, f.check);
        let mut msg = format!("{} of {} values of {}: ", f.count, f.of, f.pattern);
        let texts: Vec<String> = f
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{} x {} (e.g. {})",
                    e.count,
                    e.text,
                    examples(&e.examples, e.count)
                )
            })
            .collect();
        msg.push_str(&texts.join("; "));
        if let Some(reason) = &f.accepted {
            let _ = write!(msg, "\naccepted by the baseline: {reason}");
        }
        let _ = write!(msg, "\nfix: {}", f.advice);
        let _ = writeln!(
            out,
            "::{cmd} title={}::{}",
            gh_prop(&title),
            gh_escape(&msg)
        );
    }
    for a in &r.stale_baseline {
        let _ = writeln!(
            out,
            "::warning title={}::{}",
            gh_prop("stale baseline entry"),
            gh_escape(&format!(
                "{} {} {} no longer occurs ({})",
                a.pattern, a.check, a.code, a.reason
            ))
        );
    }
    out
}

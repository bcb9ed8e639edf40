//! The report layer: values are folded into per-pattern aggregates as they are judged (bounded
//! memory), then turned into a [`Report`]: the rollout verdicts, coverage, findings by key pattern,
//! check and hazard code, with levels, baseline and advice applied. Renderers live in [`render`].
//!
//! Which checks feed which verdict (docs/formats.md):
//! - rolling deploy (old and new share the cache): all five checks. While both run, each reads
//!   what is stored and what the other writes, and values bounce between them.
//! - rollback after the new runtime has written: the checks in which the old runtime reads:
//!   `old_reads`, `old_reads_new_write`, `round_trip` (the last only for values the new runtime
//!   can load: one it cannot load is never rewritten, so the old runtime gets the original back).

pub mod baseline;
pub mod hazard;
pub mod pattern;
pub mod render;
pub mod spool;

use crate::check::ValueResult;
use crate::check::{Check, Side};
use crate::sample::{Coverage, glob_match};
pub use hazard::{Hazard, Level};
use pattern::{Summary, key_pattern};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The version of the JSON and JSONL report layout (docs/formats.md).
pub const SCHEMA: u32 = 1;

/// The five checks in report order.
pub const CHECKS: [&str; 5] = [
    "old_reads",
    "new_reads",
    "old_reads_new_write",
    "new_reads_old_write",
    "round_trip",
];

/// The pseudo-check security findings (CC020, CC021) are reported under: they hold whatever
/// runtime loads the value, old or new, and are listed before the five checks.
pub const SECURITY: &str = "security";

/// The checks behind the rollback verdict.
pub const ROLLBACK_CHECKS: [&str; 3] = ["old_reads", "old_reads_new_write", "round_trip"];

fn check_index(c: &str) -> usize {
    CHECKS.iter().position(|x| *x == c).unwrap_or(CHECKS.len())
}

/// A named key pattern from the config: keys matching `glob` (Redis glob syntax) are grouped
/// under `name` (the glob itself when no name is given). The first matching rule wins; keys that
/// match none are folded by [`key_pattern`].
#[derive(Debug, Clone)]
pub struct PatternRule {
    pub glob: String,
    pub name: String,
}

/// Which per-value records to keep for the renderers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    None,
    Findings,
    All,
}

/// Levels per hazard code (defaults: [`Hazard::default_level`]).
#[derive(Debug, Clone, Default)]
pub struct Levels {
    pub overrides: HashMap<Hazard, Level>,
}

impl Levels {
    pub fn of(&self, h: Hazard) -> Level {
        self.overrides
            .get(&h)
            .copied()
            .unwrap_or_else(|| h.default_level())
    }
}

/// How the aggregation runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub patterns: Vec<PatternRule>,
    pub keep: Keep,
    /// Example keys kept per distinct error (the smallest keys, so the choice is deterministic).
    pub examples: usize,
    /// Distinct error texts kept per pattern x check x code.
    pub texts: usize,
    /// Key patterns kept apart; values of further patterns are counted under
    /// [`OTHER_PATTERNS`].
    pub max_patterns: usize,
    pub levels: Levels,
    /// Which texts the kept records carry (those of the formats asked for).
    pub records: spool::Texts,
    /// Bytes of records held in memory before they are spilled to temporary files.
    pub spool_budget: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            patterns: Vec::new(),
            keep: Keep::Findings,
            examples: 3,
            texts: 20,
            max_patterns: 10_000,
            levels: Levels::default(),
            records: spool::Texts::default(),
            spool_budget: spool::DEFAULT_BUDGET,
        }
    }
}

/// A bounded set of the smallest `cap` items (deterministic whatever the arrival order).
#[derive(Debug, Clone, Default)]
struct Smallest {
    items: BTreeSet<String>,
}

impl Smallest {
    fn offer(&mut self, s: &str, cap: usize) {
        if self.items.len() >= cap {
            match self.items.last() {
                Some(last) if s < last.as_str() => {}
                _ => return,
            }
        }
        self.items.insert(s.to_string());
        while self.items.len() > cap {
            self.items.pop_last();
        }
    }
}

#[derive(Debug, Clone, Default)]
struct TextAgg {
    count: u64,
    examples: Smallest,
}

#[derive(Debug, Clone, Default)]
struct HazardAgg {
    count: u64,
    texts: BTreeMap<String, TextAgg>,
    /// Once the text map is full, texts above this one go uncounted by text (see `add`).
    full: bool,
}

impl HazardAgg {
    /// Count one occurrence. Keeps the `cap` smallest distinct texts with exact counts: once full,
    /// the largest kept text is dropped and never re-admitted, whatever the arrival order.
    fn add(&mut self, text: &str, key: &str, opts: &Options) {
        self.count += 1;
        if self.full {
            match self.texts.last_key_value() {
                Some((last, _)) if text <= last.as_str() => {}
                _ => return,
            }
        }
        let t = self.texts.entry(text.to_string()).or_default();
        t.count += 1;
        t.examples.offer(key, opts.examples);
        if self.texts.len() > opts.texts {
            self.full = true;
            self.texts.pop_last();
        }
    }
}

#[derive(Debug, Clone, Default)]
struct CheckAgg {
    outcomes: BTreeMap<&'static str, u64>,
    hazards: BTreeMap<Hazard, HazardAgg>,
}

/// Where values of patterns past `max_patterns` are counted.
pub const OTHER_PATTERNS: &str = "(other patterns)";

impl PatternAgg {
    /// Add another pattern's counts (its texts and examples are dropped).
    fn absorb(&mut self, o: PatternAgg) {
        self.values += o.values;
        self.pickles += o.pickles;
        self.failing += o.failing;
        self.unknown += o.unknown;
        for (check, c) in o.checks {
            let mine = self.checks.entry(check).or_default();
            for (k, n) in c.outcomes {
                *mine.outcomes.entry(k).or_insert(0) += n;
            }
            for (h, a) in c.hazards {
                mine.hazards.entry(h).or_default().count += a.count;
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct PatternAgg {
    values: u64,
    pickles: u64,
    /// Values with a finding (level above allow) in any check.
    failing: u64,
    unknown: u64,
    checks: BTreeMap<&'static str, CheckAgg>,
}

/// Verdict counters of one line.
#[derive(Debug, Clone, Default, Serialize)]
struct VerdictAgg {
    failing: u64,
    unknown: u64,
    findings: u64,
    /// Values whose load runs code (CC020 at a level above allow).
    running_code: u64,
}

/// Folds values into aggregates as they arrive.
#[derive(Debug)]
pub struct Aggregator {
    opts: Options,
    summary: Summary,
    patterns: BTreeMap<String, PatternAgg>,
    rolling: VerdictAgg,
    rollback: VerdictAgg,
    kept: spool::Spool,
}

impl Aggregator {
    pub fn new(opts: Options) -> Aggregator {
        let kept = spool::Spool::new(opts.records, opts.spool_budget);
        Aggregator {
            opts,
            summary: Summary::default(),
            patterns: BTreeMap::new(),
            rolling: VerdictAgg::default(),
            rollback: VerdictAgg::default(),
            kept,
        }
    }

    /// Values judged so far.
    pub fn values(&self) -> u64 {
        self.summary.values
    }

    /// Values with a finding so far.
    pub fn with_findings(&self) -> u64 {
        self.summary.with_findings
    }

    pub fn pattern_of(&self, key: &str) -> String {
        self.opts
            .patterns
            .iter()
            .find(|r| glob_match(r.glob.as_bytes(), key.as_bytes()))
            .map(|r| r.name.clone())
            .unwrap_or_else(|| key_pattern(key))
    }

    pub fn add(&mut self, r: ValueResult) {
        let pattern = self.pattern_of(&r.key);
        let shown = match &r.field {
            Some(f) => format!("{} [{f}]", r.key),
            None => r.key.clone(),
        };
        let s = &mut self.summary;
        s.values += 1;
        if r.has_finding() {
            s.with_findings += 1;
        }
        if r.checks
            .as_ref()
            .is_some_and(|c| c.all().iter().any(|(_, c)| c.over_budget()))
        {
            s.over_budget += 1;
        }
        // Bounded: the `max_patterns` smallest pattern names are kept with texts and examples;
        // the rest are counted under OTHER_PATTERNS (whatever the arrival order).
        let pattern = if self.patterns.contains_key(&pattern)
            || pattern == OTHER_PATTERNS
            || self.patterns.len()
                < self.opts.max_patterns + usize::from(self.patterns.contains_key(OTHER_PATTERNS))
        {
            pattern
        } else {
            let largest = self
                .patterns
                .keys()
                .rev()
                .find(|k| k.as_str() != OTHER_PATTERNS)
                .cloned();
            match largest {
                Some(l) if pattern < l => {
                    if let Some(evicted) = self.patterns.remove(&l) {
                        self.patterns
                            .entry(OTHER_PATTERNS.to_string())
                            .or_default()
                            .absorb(evicted);
                    }
                    pattern
                }
                _ => OTHER_PATTERNS.to_string(),
            }
        };
        let keep_texts = pattern != OTHER_PATTERNS;
        let p = self.patterns.entry(pattern).or_default();
        p.values += 1;
        let Some(checks) = &r.checks else {
            // Partial values (read by prefix) are counted by the source's coverage, not here.
            if r.envelope != "partial" {
                s.not_pickles += 1;
            }
            self.keep(&r);
            return;
        };
        p.pickles += 1;
        let (mut any, mut unk, mut roll, mut roll_unk, mut back, mut back_unk) =
            (false, false, false, false, false, false);
        let mut code_runs = false;
        // A value the new runtime cannot load is never rewritten by it: after a rollback the old
        // runtime reads the original, so its round trip does not count against the rollback.
        let new_rewrites = matches!(checks.new_reads, Check::Ok | Check::Changes { .. });
        for (name, ch) in checks.all() {
            *s.checks
                .entry(name)
                .or_default()
                .entry(ch.name())
                .or_insert(0) += 1;
            let c = p.checks.entry(name).or_default();
            *c.outcomes.entry(ch.name()).or_insert(0) += 1;
            let Some(h) = hazard::classify(ch) else {
                continue;
            };
            let text = ch.text().unwrap_or_default();
            let text = text.as_str();
            let agg = c.hazards.entry(h).or_default();
            if keep_texts {
                agg.add(text, &shown, &self.opts);
            } else {
                agg.count += 1;
            }
            if self.opts.levels.of(h) == Level::Allow {
                continue;
            }
            let is_unknown = h == Hazard::NotModelled;
            let rollback =
                ROLLBACK_CHECKS.contains(&name) && (name != "round_trip" || new_rewrites);
            if is_unknown {
                unk = true;
                roll_unk = true;
                back_unk |= rollback;
            } else {
                any = true;
                roll = true;
                self.rolling.findings += 1;
                if rollback {
                    back = true;
                    self.rollback.findings += 1;
                }
            }
        }
        // Security findings: whichever runtime loads the value runs what it calls.
        for (h, kind) in [
            (Hazard::CodeOnLoad, crate::check::security::Kind::Dangerous),
            (Hazard::UnknownGlobal, crate::check::security::Kind::Unknown),
        ] {
            let mine: Vec<String> = r
                .security
                .iter()
                .filter(|f| f.kind == kind)
                .map(|f| f.summary())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut texts: Vec<String> = Vec::new();
            for t in mine {
                if !texts.contains(&t) {
                    texts.push(t);
                }
            }
            let text = texts.join("; ");
            let agg = p
                .checks
                .entry(SECURITY)
                .or_default()
                .hazards
                .entry(h)
                .or_default();
            if keep_texts {
                agg.add(&text, &shown, &self.opts);
            } else {
                agg.count += 1;
            }
            if self.opts.levels.of(h) == Level::Allow {
                continue;
            }
            if h == Hazard::CodeOnLoad {
                any = true;
                code_runs = true;
                self.rolling.findings += 1;
                self.rollback.findings += 1;
            } else {
                unk = true;
                roll_unk = true;
                back_unk = true;
            }
        }
        self.rolling.running_code += u64::from(code_runs);
        self.rollback.running_code += u64::from(code_runs);
        p.failing += u64::from(any);
        p.unknown += u64::from(unk && !any);
        self.rolling.failing += u64::from(roll);
        self.rolling.unknown += u64::from(roll_unk && !roll);
        self.rollback.failing += u64::from(back);
        self.rollback.unknown += u64::from(back_unk && !back);
        self.keep(&r);
    }

    fn keep(&mut self, r: &ValueResult) {
        let keep = match self.opts.keep {
            Keep::None => false,
            Keep::Findings => r.has_finding(),
            Keep::All => true,
        };
        if keep {
            self.kept.push(r);
        }
    }

    /// Merge another aggregator's counts into this one (used when judging on several threads).
    pub fn finish(
        mut self,
        coverage: Coverage,
        old: &Side,
        new: &Side,
        baseline: &[baseline::Accept],
    ) -> Report {
        self.summary.coverage = coverage.clone();
        self.kept.seal();
        let levels = &self.opts.levels;
        let mut findings = Vec::new();
        let mut patterns = Vec::new();
        for (name, p) in &self.patterns {
            let (lo, hi) = rate_bounds(p.failing, p.pickles);
            let mut checks = BTreeMap::new();
            for (check, c) in &p.checks {
                checks.insert(*check, c.outcomes.clone());
                for (h, agg) in &c.hazards {
                    let level = levels.of(*h);
                    let errors = agg
                        .texts
                        .iter()
                        .map(|(t, a)| ErrorText {
                            text: t.clone(),
                            count: a.count,
                            examples: a.examples.items.iter().cloned().collect(),
                        })
                        .collect::<Vec<_>>();
                    let listed: u64 = errors.iter().map(|e| e.count).sum();
                    let accepted = baseline
                        .iter()
                        .find(|a| a.pattern == *name && a.check == *check && a.code == h.code())
                        .map(|a| a.reason.clone());
                    findings.push(Finding {
                        code: h.code(),
                        slug: h.slug(),
                        title: h.title(),
                        level,
                        pattern: name.clone(),
                        check,
                        count: agg.count,
                        of: p.pickles,
                        errors,
                        other_errors: agg.count - listed,
                        advice: hazard::advice(*h, check, agg.count, old, new),
                        accepted,
                    });
                }
            }
            patterns.push(PatternReport {
                pattern: name.clone(),
                values: p.values,
                pickles: p.pickles,
                with_findings: p.failing,
                unknown: p.unknown,
                failure_rate_low95: lo,
                failure_rate_high95: hi,
                checks,
            });
        }
        // Security findings first, then the compatibility findings (pattern, check, code).
        findings.sort_by(|a, b| {
            (
                a.check != SECURITY,
                &a.pattern,
                check_index(a.check),
                a.code,
            )
                .cmp(&(
                    b.check != SECURITY,
                    &b.pattern,
                    check_index(b.check),
                    b.code,
                ))
        });
        let stale = baseline
            .iter()
            .filter(|a| {
                !findings.iter().any(|f| {
                    f.pattern == a.pattern
                        && f.check == a.check
                        && f.code == a.code
                        && f.level != Level::Allow
                })
            })
            .cloned()
            .collect();
        let pickles =
            (self.summary.values - self.summary.not_pickles).saturating_sub(coverage.partial);
        let verdict = |v: &VerdictAgg, checks: &[&'static str]| Verdict {
            safe: if v.failing > 0 || v.running_code > 0 {
                Safety::NotSafe
            } else if v.unknown > 0 {
                Safety::Unknown
            } else {
                Safety::Safe
            },
            values_failing: v.failing,
            values_unknown: v.unknown,
            values_judged: pickles,
            check_findings: v.findings,
            values_running_code: v.running_code,
            checks: checks.to_vec(),
        };
        Report {
            schema: SCHEMA,
            old: SideInfo::of(old),
            new: SideInfo::of(new),
            rolling_deploy: verdict(&self.rolling, &CHECKS),
            rollback: verdict(&self.rollback, &ROLLBACK_CHECKS),
            coverage: CoverageReport {
                values: self.summary.values,
                pickles,
                not_pickles: self.summary.not_pickles,
                with_findings: self.summary.with_findings,
                over_budget: self.summary.over_budget,
                source: coverage,
            },
            patterns,
            findings,
            stale_baseline: stale,
            values: self.kept,
            summary: self.summary,
        }
    }
}

/// Wilson score interval (95%) for `k` failures in `n` values; with `k == 0` the upper bound is
/// the rule of three, 3/n. `(0, 1)` when `n == 0`.
pub fn rate_bounds(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let nf = n as f64;
    if k == 0 {
        return (0.0, (3.0 / nf).min(1.0));
    }
    let z = 1.959964_f64;
    let p = k as f64 / nf;
    let denom = 1.0 + z * z / nf;
    let centre = p + z * z / (2.0 * nf);
    let margin = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt();
    (
        ((centre - margin) / denom).max(0.0),
        ((centre + margin) / denom).min(1.0),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Safety {
    Safe,
    NotSafe,
    /// No failure found, but some values could not be predicted.
    Unknown,
}

impl Safety {
    pub fn label(self) -> &'static str {
        match self {
            Safety::Safe => "safe",
            Safety::NotSafe => "NOT SAFE",
            Safety::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub safe: Safety,
    /// Pickled values with a finding (level warn or deny) in one of `checks`.
    pub values_failing: u64,
    /// Pickled values with no such finding but a check the models could not predict.
    pub values_unknown: u64,
    pub values_judged: u64,
    /// Findings (check x value) behind the verdict.
    pub check_findings: u64,
    /// Pickled values whose load runs code (CC020); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub values_running_code: u64,
    pub checks: Vec<&'static str>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct SideInfo {
    pub runtime: String,
    pub writer: String,
    pub writes_protocol: u8,
}

impl SideInfo {
    fn of(s: &Side) -> SideInfo {
        SideInfo {
            runtime: s.runtime.to_string(),
            writer: s.writer.name.clone(),
            writes_protocol: s.writer.protocol_on(s.runtime),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageReport {
    pub values: u64,
    pub pickles: u64,
    pub not_pickles: u64,
    pub with_findings: u64,
    /// Values judged only in part: their verdict went over its budget (CC090).
    #[serde(skip_serializing_if = "is_zero")]
    pub over_budget: u64,
    pub source: Coverage,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatternReport {
    pub pattern: String,
    pub values: u64,
    pub pickles: u64,
    pub with_findings: u64,
    pub unknown: u64,
    /// 95% interval of the pattern's failure rate, from its sample (Wilson; rule of three at 0).
    pub failure_rate_low95: f64,
    pub failure_rate_high95: f64,
    /// check -> outcome -> values.
    pub checks: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorText {
    pub text: String,
    pub count: u64,
    pub examples: Vec<String>,
}

/// One finding: a pattern x check x hazard code.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub slug: &'static str,
    pub title: &'static str,
    pub level: Level,
    pub pattern: String,
    pub check: &'static str,
    /// Values of the pattern with this finding in this check.
    pub count: u64,
    /// Pickled values of the pattern.
    pub of: u64,
    /// The exact errors or changes, with counts and example keys.
    pub errors: Vec<ErrorText>,
    /// Occurrences whose text was not kept (past the per-finding cap).
    pub other_errors: u64,
    pub advice: String,
    /// The baseline's reason, when the finding is accepted.
    pub accepted: Option<String>,
}

impl Finding {
    /// At or above `fail_on` and not accepted by the baseline.
    pub fn fails_run(&self, fail_on: Option<Level>) -> bool {
        self.accepted.is_none()
            && fail_on.is_some_and(|l| self.level >= l && self.level != Level::Allow)
    }
}

/// Everything the renderers print.
#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub old: SideInfo,
    pub new: SideInfo,
    pub rolling_deploy: Verdict,
    pub rollback: Verdict,
    pub coverage: CoverageReport,
    pub patterns: Vec<PatternReport>,
    pub findings: Vec<Finding>,
    /// Baseline entries that no longer occur.
    pub stale_baseline: Vec<baseline::Accept>,
    /// The per-value records, sorted by key and field (see [`spool`]).
    #[serde(skip)]
    pub values: spool::Spool,
    #[serde(skip)]
    pub summary: Summary,
}

impl Report {
    /// Findings that are listed (level above allow).
    pub fn listed(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.level != Level::Allow)
    }

    /// Whether the run fails at `fail_on` (`None`: never).
    pub fn fails(&self, fail_on: Option<Level>) -> bool {
        self.findings.iter().any(|f| f.fails_run(fail_on))
    }

    /// The verdict line for the rolling deploy, as every format opens with it.
    pub fn rolling_line(&self) -> String {
        let v = &self.rolling_deploy;
        format!(
            "rolling deploy ({} and {} share the cache): {}{}{}",
            self.old.runtime,
            self.new.runtime,
            v.safe.label(),
            running_code(v),
            counts(v)
        )
    }

    pub fn rollback_line(&self) -> String {
        let v = &self.rollback;
        format!(
            "rollback to {} after {} has written: {}{}{}",
            self.old.runtime,
            self.new.runtime,
            v.safe.label(),
            running_code(v),
            counts(v)
        )
    }

    /// The coverage line with the confidence statement.
    pub fn coverage_line(&self) -> String {
        let c = &self.coverage;
        let s = &c.source;
        let over = if c.over_budget > 0 {
            format!(
                ", {} over the verdict budget: judged in part (CC090)",
                c.over_budget
            )
        } else {
            String::new()
        };
        format!(
            "coverage: {} keys seen, {} values sampled and judged ({} pickles, {} not pickles, {} partial: over --max-value-bytes, not judged{over}), {} vanished, {} of other types skipped, {} reconnects",
            s.keys_seen,
            c.values,
            c.pickles,
            c.not_pickles,
            s.partial,
            s.vanished,
            s.skipped_types,
            s.reconnects
        )
    }

    pub fn confidence_line(&self) -> String {
        "confidence: per pattern, the 95% interval of its failure rate from the values sampled (0 failures in n values: below 3/n, the rule of three; otherwise the Wilson interval); hazard codes: docs/hazards.md".to_string()
    }
}

/// ": N values run code when loaded" after NOT SAFE, when any does (CC020).
fn running_code(v: &Verdict) -> String {
    if v.values_running_code == 0 {
        return String::new();
    }
    format!(": {} values run code when loaded", v.values_running_code)
}

fn counts(v: &Verdict) -> String {
    let mut s = format!(
        " ({} of {} pickled values fail or change in {}",
        v.values_failing,
        v.values_judged,
        if v.checks.len() == CHECKS.len() {
            "any check".to_string()
        } else {
            v.checks.join(", ")
        }
    );
    if v.values_unknown > 0 {
        s.push_str(&format!(", {} not predictable", v.values_unknown));
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(key: &str) -> ValueResult {
        ValueResult {
            key: key.into(),
            field: None,
            envelope: "plain",
            protocol: Some(2),
            checks: Some(crate::check::Checks {
                old_reads: Check::Ok,
                new_reads: Check::Fails(crate::check::Failure::read(crate::runtime::PyError::new(
                    "EOFError", key,
                ))),
                old_reads_new_write: Check::Skipped,
                new_reads_old_write: Check::Ok,
                round_trip: Check::Ok,
            }),
            writer: None,
            note: None,
            ..ValueResult::default()
        }
    }

    #[test]
    fn patterns_past_the_cap_are_counted_as_other_whatever_the_order() {
        let keys = ["e", "a", "d", "b", "c", "a", "e"];
        let run = |order: &mut dyn Iterator<Item = &&str>| {
            let mut agg = Aggregator::new(Options {
                max_patterns: 2,
                ..Options::default()
            });
            for k in order {
                agg.add(value(k));
            }
            agg.patterns
                .iter()
                .map(|(k, p)| {
                    let texts: Vec<String> = p.checks["new_reads"].hazards
                        [&Hazard::MalformedPickle]
                        .texts
                        .keys()
                        .cloned()
                        .collect();
                    (k.clone(), p.values, texts)
                })
                .collect::<Vec<_>>()
        };
        let a = run(&mut keys.iter());
        let b = run(&mut keys.iter().rev());
        assert_eq!(a, b);
        assert_eq!(
            a,
            vec![
                (OTHER_PATTERNS.to_string(), 4, vec![]),
                ("a".to_string(), 2, vec!["EOFError: a".to_string()]),
                ("b".to_string(), 1, vec!["EOFError: b".to_string()]),
            ]
        );
    }

    #[test]
    fn rule_of_three_and_wilson() {
        assert_eq!(rate_bounds(0, 300), (0.0, 0.01));
        let (lo, hi) = rate_bounds(5, 10);
        // Wilson 95% for 5/10: 0.2366 .. 0.7634 (textbook value).
        assert!(
            (lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3,
            "{lo} {hi}"
        );
    }

    #[test]
    fn smallest_is_order_independent() {
        let keys = ["d", "a", "c", "b", "e"];
        let mut x = Smallest::default();
        let mut y = Smallest::default();
        for k in keys {
            x.offer(k, 2);
        }
        for k in keys.iter().rev() {
            y.offer(k, 2);
        }
        assert_eq!(x.items, y.items);
        assert_eq!(x.items.into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn text_cap_keeps_exact_counts_whatever_the_order() {
        let opts = Options {
            texts: 2,
            ..Options::default()
        };
        let seq = ["c", "a", "d", "c", "b", "a", "d", "b", "c"];
        let mut x = HazardAgg::default();
        let mut y = HazardAgg::default();
        for t in seq {
            x.add(t, "k", &opts);
        }
        for t in seq.iter().rev() {
            y.add(t, "k", &opts);
        }
        let counts = |h: &HazardAgg| {
            h.texts
                .iter()
                .map(|(t, a)| (t.clone(), a.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&x), vec![("a".into(), 2), ("b".into(), 2)]);
        assert_eq!(counts(&x), counts(&y));
        assert_eq!(x.count, 9);
    }
}

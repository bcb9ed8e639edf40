//! `cache-compat.toml`: the scan's settings in a file (docs/config.md). Values are validated while
//! the file is read, so a bad runtime name or level is reported with the file's line and column.
//!
//! Where it is found: `--config FILE` (or `CACHE_COMPAT_CONFIG`), else `./cache-compat.toml`, else
//! the nearest `cache-compat.toml` in a parent directory, up to the git root (the first directory
//! holding `.git`). Precedence: command line > environment > file > defaults.

use crate::report::{Hazard, Level, render::Format};
use crate::runtime::{LoadOptions, Runtime};
use crate::scan::progress::Mode;
use serde::{Deserialize, Deserializer, de::Error as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "cache-compat.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub source: SourceConfig,
    #[serde(default)]
    pub checks: ChecksConfig,
    #[serde(default)]
    pub sample: SampleConfig,
    #[serde(default)]
    pub patterns: Vec<PatternConfig>,
    /// Hazard code (or slug) -> level.
    #[serde(default, deserialize_with = "levels")]
    pub levels: BTreeMap<Hazard, Level>,
    #[serde(default)]
    pub report: ReportConfig,
    #[serde(default)]
    pub budgets: BudgetsConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub redis: Option<String>,
    pub snapshot: Option<String>,
    pub rdb: Option<String>,
    /// Redis Sentinels, `HOST:PORT` (one string or a list), instead of `redis`.
    #[serde(default, deserialize_with = "sentinels")]
    pub sentinel: Vec<String>,
    /// The monitored master's name (required with `sentinel`).
    pub sentinel_master: Option<String>,
    /// `master` or `replica`.
    #[serde(default, deserialize_with = "read_from")]
    pub read_from: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    #[serde(default, deserialize_with = "runtime")]
    pub old: Option<String>,
    #[serde(default, deserialize_with = "runtime")]
    pub new: Option<String>,
    #[serde(default, deserialize_with = "writer")]
    pub writer: Option<String>,
    #[serde(default, deserialize_with = "writer")]
    pub old_writer: Option<String>,
    #[serde(default, deserialize_with = "writer")]
    pub new_writer: Option<String>,
    #[serde(default, deserialize_with = "load_opts")]
    pub old_load: Option<String>,
    #[serde(default, deserialize_with = "load_opts")]
    pub new_load: Option<String>,
    /// Application modules or classes importable on both runtimes (default: every non-stdlib
    /// module is assumed importable).
    #[serde(default)]
    pub app_classes: Vec<String>,
    /// Application classes that are classic (old-style) classes on Python 2.
    #[serde(default)]
    pub py2_classic: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    #[serde(default, rename = "match")]
    pub matches: Vec<String>,
    pub limit: Option<u64>,
    #[serde(default, deserialize_with = "rate")]
    pub sample_rate: Option<f64>,
    pub seed: Option<u64>,
    pub rate: Option<u64>,
    /// Threads that judge values (0: one per core).
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    pub glob: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// `FORMAT` or `FORMAT=FILE`.
    #[serde(default, deserialize_with = "formats")]
    pub format: Vec<String>,
    #[serde(default, deserialize_with = "fail_on")]
    pub fail_on: Option<String>,
    pub baseline: Option<String>,
    pub examples: Option<usize>,
    /// Key patterns kept apart (further ones are counted as "(other patterns)").
    pub max_patterns: Option<usize>,
    #[serde(default, deserialize_with = "progress")]
    pub progress: Option<String>,
    pub all: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetsConfig {
    pub max_ops: Option<usize>,
    pub max_nodes: Option<usize>,
    pub max_stack: Option<usize>,
    pub max_marks: Option<usize>,
    pub max_memo: Option<usize>,
    pub max_bytes: Option<usize>,
    pub max_digits: Option<usize>,
    /// The work budget of one value's whole verdict (`meter::Limits::ops`).
    pub verdict_ops: Option<u64>,
    /// The memory budget of one value's whole verdict, in bytes (`meter::Limits::bytes`).
    pub verdict_bytes: Option<u64>,
}

impl BudgetsConfig {
    pub fn apply(&self, b: &mut crate::runtime::load::Budget) {
        let set = |dst: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut b.max_ops, self.max_ops);
        set(&mut b.max_nodes, self.max_nodes);
        set(&mut b.max_stack, self.max_stack);
        set(&mut b.max_marks, self.max_marks);
        set(&mut b.max_memo, self.max_memo);
        set(&mut b.max_bytes, self.max_bytes);
        set(&mut b.max_digits, self.max_digits);
        if let Some(v) = self.verdict_ops {
            b.verdict.ops = v;
        }
        if let Some(v) = self.verdict_bytes {
            b.verdict.bytes = v;
        }
    }
}

fn checked<'de, D: Deserializer<'de>>(
    d: D,
    ok: impl Fn(&str) -> Result<(), String>,
) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    ok(&s).map_err(D::Error::custom)?;
    Ok(Some(s))
}

fn runtime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| {
        Runtime::parse(s)
            .map(|_| ())
            .ok_or_else(|| format!("unknown runtime {s:?} (known: 2.7, 2.7-pickle, 3.0 .. 3.15)"))
    })
}

fn writer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| crate::envelope::Writer::parse(s).map(|_| ()))
}

fn load_opts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| {
        LoadOptions::parse(s).map(|_| ()).map_err(|e| e.to_string())
    })
}

fn fail_on<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| parse_fail_on(s).map(|_| ()))
}

fn progress<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| {
        Mode::parse(s)
            .map(|_| ())
            .ok_or_else(|| format!("unknown progress {s:?} (auto, bar, log, none)"))
    })
}

fn sentinels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let v = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    };
    for s in &v {
        let port = s.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
        if !matches!(port, Some((h, Ok(_))) if !h.is_empty()) {
            return Err(D::Error::custom(format!(
                "sentinel {s:?}: expected HOST:PORT (e.g. \"sentinel-1.internal:26379\")"
            )));
        }
    }
    Ok(v)
}

fn read_from<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| {
        crate::source::ReadFrom::parse(s)
            .map(|_| ())
            .ok_or_else(|| format!("read_from is master or replica, not {s:?}"))
    })
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let f = f64::deserialize(d)?;
    if !(f > 0.0 && f <= 1.0) {
        return Err(D::Error::custom(format!(
            "sample_rate must be in (0, 1], not {f}"
        )));
    }
    Ok(Some(f))
}

fn formats<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for s in &v {
        parse_format_spec(s).map_err(D::Error::custom)?;
    }
    Ok(v)
}

/// A hazard code key, validated where it is read (so an error points at its line).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct CodeKey(Hazard);

impl<'de> Deserialize<'de> for CodeKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = String::deserialize(d)?;
        Hazard::parse(&k).map(CodeKey).ok_or_else(|| {
            D::Error::custom(format!(
                "unknown hazard code {k:?} (CC001 .. or a slug; see docs/hazards.md)"
            ))
        })
    }
}

struct LevelValue(Level);

impl<'de> Deserialize<'de> for LevelValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        Level::parse(&v)
            .map(LevelValue)
            .ok_or_else(|| D::Error::custom(format!("a level is deny, warn or allow, not {v:?}")))
    }
}

fn levels<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Hazard, Level>, D::Error> {
    let m = BTreeMap::<CodeKey, LevelValue>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k.0, v.0)).collect())
}

/// `deny` | `warn` | `never` -> the failing level (`None`: never fail on findings).
pub fn parse_fail_on(s: &str) -> Result<Option<Level>, String> {
    match s {
        "deny" => Ok(Some(Level::Deny)),
        "warn" => Ok(Some(Level::Warn)),
        "never" => Ok(None),
        other => Err(format!(
            "unknown --fail-on level {other:?} (deny, warn, never)"
        )),
    }
}

/// `FORMAT` or `FORMAT=FILE`.
pub fn parse_format_spec(s: &str) -> Result<(Format, Option<String>), String> {
    let (f, path) = match s.split_once('=') {
        Some((f, p)) if !p.is_empty() => (f, Some(p.to_string())),
        Some((f, _)) => (f, None),
        None => (s, None),
    };
    let format = Format::parse(f.trim())
        .ok_or_else(|| format!("unknown format {f:?} (one of {})", Format::NAMES))?;
    Ok((format, path))
}

/// Errors reading a config: always exit 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: {msg}")]
    Read { path: String, msg: String },
    #[error("{path} already exists (use --force to overwrite it)")]
    Exists { path: String },
}

/// Parse a config's text; `path` names it in messages (toml's messages carry line and column).
pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Read {
        path: path.to_string(),
        msg: e.to_string().trim_end().to_string(),
    })
}

pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: p.clone(),
        msg: e.to_string(),
    })?;
    parse(&p, &text)
}

/// The config file to use when none is named: `./cache-compat.toml`, else the nearest one in a
/// parent directory up to the git root. `None` if there is none.
pub fn discover(cwd: &Path) -> Option<PathBuf> {
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        let f = d.join(FILE_NAME);
        if f.is_file() {
            return Some(f);
        }
        if d.join(".git").exists() {
            return None;
        }
        dir = d.parent();
    }
    None
}

/// The commented template `cache-compat init` writes. Every line that sets a value is commented
/// out except the migration itself, so the template parses as a valid config.
pub const TEMPLATE: &str = r#"# cache-compat configuration (docs/config.md). Command-line flags override the environment
# (CACHE_COMPAT_*), which overrides this file, which overrides the defaults.

[source]
# Exactly one source, unless given on the command line (--redis / --sentinel / --snapshot / --rdb).
# A live Redis (read commands only; the password may come from REDISCLI_AUTH):
# redis = "redis://cache-reader@cache.internal:6379/0"
# A snapshot made by `cache-compat snapshot`, or a Redis RDB dump:
# snapshot = "cache.snapshot"
# rdb = "dump.rdb"
# Or behind Redis Sentinel: the sentinels (the first that names the master is used), the master's
# name, and which node to read (master, or replica: one the sentinel lists as up).
# sentinel = ["sentinel-1.internal:26379", "sentinel-2.internal:26379"]
# sentinel_master = "mymaster"
# read_from = "replica"

[checks]
# The runtime that writes the cache now, and the one being deployed.
old = "2.7"
new = "3.8"
# How each side's cache layer writes: werkzeug, cachelib[@VERSION], flask-caching, django,
# django-redis[@VERSION], pickle, pickle:N.
writer = "pickle"
# old_writer = "werkzeug"
# new_writer = "cachelib@0.9"
# Load options as the app passes them to pickle.loads (3.x): encoding=..,errors=..,fix_imports=..
# old_load = ""
# new_load = "encoding=latin1"
# Application modules or classes that exist on both runtimes (default: every module outside the
# standard library is assumed importable), and classes that are old-style on Python 2.
# app_classes = ["myapp.models"]
# py2_classic = []

[sample]
# match = ["page:*", "session:*"]   # Redis glob syntax
# limit = 100000                     # judge at most this many values
# sample_rate = 1.0                  # keep each key with this probability (seeded)
# seed = 0
# rate = 0                           # at most this many Redis commands a second (0: unlimited)
# jobs = 0                           # threads that judge values (0: one per core)

# Key patterns to group by, first match wins. Keys matching none are grouped by their key with
# numbers, hex ids and UUIDs folded to * (article:7:body -> article:*:body).
# [[patterns]]
# glob = "views.decorators.cache.cache_page.*"
# name = "cached pages"

[levels]
# Per hazard code (or its slug): deny, warn or allow. Defaults in docs/hazards.md.
# CC013 = "deny"
# not-modelled = "allow"

[report]
# Formats, each to standard output or FILE: table, json, jsonl, markdown, junit, github.
# format = ["table", "junit=cache-compat.junit.xml"]
# fail_on = "deny"                   # deny, warn or never
# baseline = "cache-compat-baseline.toml"
# examples = 3                       # example keys per error
# max_patterns = 10000               # patterns kept apart; the rest count as "(other patterns)"
# progress = "auto"                  # auto, bar, log, none
# all = false                        # also list values with no finding

[budgets]
# Limits of the models per value; past one, the value is `not-modelled` (CC090).
# max_ops = 10000000
# max_nodes = 2000000
# max_bytes = 536870912
# max_digits = 100000
# The whole verdict of one value (both loads, every write-back, the five checks): work units
# and bytes; past either, the value is `not-modelled` (CC090, "over the verdict budget").
# verdict_ops = 400000000
# verdict_bytes = 4294967296
"#;

/// Write the template to `path` (refuses to overwrite unless `force`).
pub fn init(path: &Path, force: bool) -> Result<(), ConfigError> {
    if path.exists() && !force {
        return Err(ConfigError::Exists {
            path: path.display().to_string(),
        });
    }
    std::fs::write(path, TEMPLATE).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses() {
        let c = parse("t", TEMPLATE).unwrap();
        assert_eq!(c.checks.old.as_deref(), Some("2.7"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("x.toml", "[checks]\nold = \"2.6\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml: "), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("unknown runtime \"2.6\""), "{e}");
        let e = parse("x.toml", "[levels]\nCC999 = \"deny\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("CC999"), "{e}");
    }

    #[test]
    fn sentinel_keys() {
        let c = parse(
            "t",
            "[source]\nsentinel = \"s1:26379\"\nsentinel_master = \"m\"\nread_from = \"replica\"\n",
        )
        .unwrap();
        assert_eq!(c.source.sentinel, ["s1:26379"]);
        assert_eq!(c.source.sentinel_master.as_deref(), Some("m"));
        let c = parse("t", "[source]\nsentinel = [\"a:1\", \"[::1]:2\"]\n").unwrap();
        assert_eq!(c.source.sentinel.len(), 2);
        let e = parse("x.toml", "[source]\nread_from = \"slave\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("master or replica"),
            "{e}"
        );
        let e = parse("x.toml", "[source]\nsentinel = [\"nohost\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("HOST:PORT"), "{e}");
    }
}

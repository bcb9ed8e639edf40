//! `scan`: its arguments as typed, merged with the config file into one plan (the source, the two
//! sides, the sample, the outputs), then the scan itself through the library's pipeline
//! (cache_compat::scan) and the reports written where they were asked for.

use super::connect::{self, RedisArgs, SentinelArgs};
use super::outputs::{self, Output};
use super::parse_runtimes;
use anyhow::{Context, Result, bail};
use cache_compat::check::Side;
use cache_compat::config::{self, Config};
use cache_compat::envelope::Writer;
use cache_compat::report::render::Format;
use cache_compat::report::{self, Keep, Level, Levels, PatternRule};
use cache_compat::runtime::LoadOptions;
use cache_compat::runtime::load::{AppClasses, LoadConfig};
use cache_compat::scan::{self, progress};
use cache_compat::source::{
    self, Coverage, Filter, Pace, ReadFrom, RedisOpts, SentinelOpts, scan_redis, visit_snapshot,
};
use std::path::{Path, PathBuf};

/// `scan`'s arguments as typed. Options left out fall back to the environment (where named), then
/// the config file, then the defaults (docs/config.md).
#[derive(clap::Args)]
pub struct ScanArgs {
    /// A live Redis: redis://[user:password@]host:port/db, rediss://, unix:///path.
    /// The password may also come from REDISCLI_AUTH (never printed). Only read commands
    /// are sent.
    #[arg(long, conflicts_with_all = ["snapshot", "rdb"])]
    redis: Option<String>,
    /// A snapshot file made by `cache-compat snapshot`.
    #[arg(long, conflicts_with_all = ["rdb", "sentinel"])]
    snapshot: Option<String>,
    /// A Redis RDB dump (Redis 5 to 7.x: `redis-cli save`, BGSAVE, a backup), read streaming.
    #[arg(long, conflicts_with = "sentinel")]
    rdb: Option<String>,
    #[command(flatten)]
    redis_opts: RedisArgs,
    #[command(flatten)]
    sentinel: SentinelArgs,
    /// The runtime the cache is written by now (e.g. 2.7).
    #[arg(long)]
    old: Option<String>,
    /// The runtime being deployed (e.g. 3.8).
    #[arg(long)]
    new: Option<String>,
    /// The cache layer of both sides: auto (inferred per value from its envelope, said in the
    /// report), werkzeug, cachelib[@VERSION], flask-caching[@VERSION], django,
    /// django-redis[@VERSION], dogpile[@VERSION], rq, kombu[@VERSION], celery[@VERSION], beaker,
    /// pickle, pickle:N, pickle:highest. Default: pickle.
    #[arg(long)]
    writer: Option<String>,
    /// The old side's cache layer, when it differs from --writer.
    #[arg(long)]
    old_writer: Option<String>,
    /// The new side's cache layer, when it differs from --writer (e.g. pinned: pickle:2).
    #[arg(long)]
    new_writer: Option<String>,
    /// Load options of the old side (3.x): encoding=..,errors=..,fix_imports=..
    #[arg(long)]
    old_load: Option<String>,
    /// Load options of the new side, e.g. encoding=latin1.
    #[arg(long)]
    new_load: Option<String>,
    /// Only keys matching this glob (repeatable; Redis MATCH syntax).
    #[arg(long = "match")]
    matches: Vec<String>,
    /// Judge at most N values.
    #[arg(long)]
    limit: Option<u64>,
    /// Keep each key with this probability (0-1], drawn from a hash of the key and --seed so
    /// that the same keys are drawn on every run. Default 1.
    #[arg(long)]
    sample_rate: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    /// At most this many Redis commands a second, to protect production (0: unlimited).
    #[arg(long)]
    rate: Option<u64>,
    /// Report formats: table, json, jsonl, markdown, junit, github. Repeatable or a comma list;
    /// `FORMAT=FILE` writes that format to FILE. Default: table.
    #[arg(long, value_delimiter = ',')]
    pub format: Vec<String>,
    /// Write the format given just before (or the only format) to FILE instead of standard
    /// output: `--format json --output report.json --format junit --output junit.xml`.
    #[arg(long)]
    pub output: Vec<String>,
    /// Also list values with no finding.
    #[arg(long)]
    all: bool,
    /// The config file (default: ./cache-compat.toml, else the nearest one up to the git root).
    #[arg(long, env = "CACHE_COMPAT_CONFIG")]
    config: Option<String>,
    /// Exit 1 when a finding is at or above this level: deny, warn or never. Default: deny.
    #[arg(long, env = "CACHE_COMPAT_FAIL_ON")]
    fail_on: Option<String>,
    /// Accept the findings listed in this baseline file (each with a reason).
    #[arg(long, env = "CACHE_COMPAT_BASELINE")]
    baseline: Option<String>,
    /// Write every current finding to this baseline file (reasons to fill in).
    #[arg(long)]
    write_baseline: Option<String>,
    /// Progress on standard error: auto (a bar when stderr is a terminal), bar, log (a line
    /// every few seconds, for CI logs), none.
    #[arg(long, env = "CACHE_COMPAT_PROGRESS")]
    progress: Option<String>,
    /// Threads that judge values (default: one per core).
    #[arg(long, env = "CACHE_COMPAT_JOBS")]
    jobs: Option<usize>,
    /// The work budget of one value's whole verdict (loads, write-backs, the five checks), in
    /// units of an opcode run or a node built, saved or compared. A value over it is reported
    /// as CC090 (not-modelled, "over the verdict budget") and the scan goes on. Default:
    /// 400000000, which judges a 64 MiB value of ordinary data in full ([budgets] verdict_ops).
    #[arg(long, env = "CACHE_COMPAT_VERDICT_OPS")]
    verdict_ops: Option<u64>,
    /// The memory budget of one value's verdict, in bytes allocated by all its steps together
    /// (default 4 GiB; [budgets] verdict_bytes).
    #[arg(long, env = "CACHE_COMPAT_VERDICT_BYTES")]
    verdict_bytes: Option<u64>,
    /// Run the full models on every value, never the fast path (which gives the same verdicts).
    #[arg(long)]
    full_model: bool,
    /// The application's modules or classes (`MODULE` or `MODULE.Name`, repeatable; added to
    /// `app_classes` of the config). By default every module outside the standard library is
    /// taken as the application's; with this, other modules are missing on load and a call of
    /// one is an unknown global (CC021).
    #[arg(long = "app-class")]
    app_classes: Vec<String>,
}

/// Where the values come from: exactly one source (a Sentinel is resolved to the node it names).
enum Source {
    Redis(String),
    Snapshot(String),
    Rdb(String),
}

/// Everything `scan` does, settled before the first value is read: the command line over the
/// config file over the defaults.
struct Plan {
    source: Source,
    redis_opts: RedisOpts,
    old: Side,
    new: Side,
    filter: Filter,
    pace: Pace,
    outs: Vec<Output>,
    all: bool,
    fail_on: Option<Level>,
    mode: progress::Mode,
    baseline: Vec<report::baseline::Accept>,
    write_baseline: Option<String>,
    options: report::Options,
    jobs: usize,
}

/// `scan`: plan, scan, write the reports; the exit status (0 no finding at or above --fail-on,
/// 1 findings).
pub fn run(a: ScanArgs, outputs: Vec<(String, Option<String>)>) -> Result<u8> {
    let p = plan(a, outputs)?;
    let rep = judge(&p)?;
    outputs::write_all(&rep, &p.outs, p.all, p.fail_on)?;
    for s in &rep.stale_baseline {
        eprintln!(
            "cache-compat: warning: baseline entry no longer occurs: pattern {:?}, check {}, code {} (reason: {})",
            s.pattern, s.check, s.code, s.reason
        );
    }
    if let Some(path) = &p.write_baseline {
        std::fs::write(path, report::baseline::render(rep.findings.iter()))
            .with_context(|| format!("writing {path}"))?;
        eprintln!(
            "cache-compat: wrote {} findings to {path}; give each a reason",
            rep.listed().count()
        );
    }
    Ok(if rep.fails(p.fail_on) { 1 } else { 0 })
}

/// A path from the config file: relative to the config's directory.
fn resolve(base: &Option<PathBuf>, p: &str) -> String {
    match base {
        Some(dir) if Path::new(p).is_relative() => dir.join(p).display().to_string(),
        _ => p.to_string(),
    }
}

fn plan(a: ScanArgs, outputs: Vec<(String, Option<String>)>) -> Result<Plan> {
    // The config: named, or discovered; its relative paths are relative to its directory.
    let cfg_path = match &a.config {
        Some(p) => Some(PathBuf::from(p)),
        None => config::discover(&std::env::current_dir().context("the current directory")?),
    };
    let cfg = match &cfg_path {
        Some(p) => config::load(p)?,
        None => Config::default(),
    };
    let base = cfg_path
        .as_ref()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .filter(|d| !d.as_os_str().is_empty());
    let from_file = |p: &Option<String>| p.as_ref().map(|p| resolve(&base, p));
    let redis_opts: RedisOpts = a.redis_opts.clone().into();
    let cli_sentinel: SentinelOpts = a.sentinel.clone().into();

    let mode_name = a
        .progress
        .clone()
        .or(cfg.report.progress.clone())
        .unwrap_or_else(|| "auto".into());
    let mode = progress::Mode::parse(&mode_name)
        .with_context(|| format!("unknown --progress {mode_name:?} (auto, bar, log, none)"))?;
    let source = source_of(&a, &cfg, &cli_sentinel, &from_file, &redis_opts, mode)?;
    let (old, new) = sides(&a, &cfg)?;

    let sample_rate = a.sample_rate.or(cfg.sample.sample_rate).unwrap_or(1.0);
    if !(sample_rate > 0.0 && sample_rate <= 1.0) {
        bail!("--sample-rate must be in (0, 1], not {sample_rate}");
    }
    let pace = Pace {
        sample_rate,
        seed: a.seed.or(cfg.sample.seed).unwrap_or(0),
        rate: a.rate.or(cfg.sample.rate).unwrap_or(0),
        // The report does not use TTLs (snapshots do: `Pace::default()`).
        ttl: false,
    };
    let filter = Filter {
        matches: if a.matches.is_empty() {
            cfg.sample.matches.clone()
        } else {
            a.matches.clone()
        },
        limit: a.limit.or(cfg.sample.limit),
    };

    // Outputs: the command line's, else the file's, else a table on standard output.
    let outs = outputs::resolve(outputs, &cfg, |p| resolve(&base, p))?;
    let all = a.all || cfg.report.all.unwrap_or(false);
    let fail_on = config::parse_fail_on(
        a.fail_on
            .as_deref()
            .or(cfg.report.fail_on.as_deref())
            .unwrap_or("deny"),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let baseline = match a
        .baseline
        .clone()
        .or_else(|| from_file(&cfg.report.baseline))
    {
        // Writing a baseline for the first time: the configured one need not exist yet.
        Some(p) if a.write_baseline.is_some() && !Path::new(&p).exists() => Vec::new(),
        Some(p) => report::baseline::load(&p)?,
        None => Vec::new(),
    };
    let options = report_options(&cfg, &outs, all);
    Ok(Plan {
        source,
        redis_opts,
        old,
        new,
        filter,
        pace,
        outs,
        all,
        fail_on,
        mode,
        baseline,
        write_baseline: a.write_baseline.clone(),
        options,
        jobs: a.jobs.or(cfg.sample.jobs).unwrap_or(0),
    })
}

/// The source: the command line's, else the config file's (exactly one); behind Sentinel, the
/// node it names, read as --redis would read it.
fn source_of(
    a: &ScanArgs,
    cfg: &Config,
    cli_sentinel: &SentinelOpts,
    from_file: &dyn Fn(&Option<String>) -> Option<String>,
    redis_opts: &RedisOpts,
    mode: progress::Mode,
) -> Result<Source> {
    let on_cli = a.redis.is_some()
        || a.snapshot.is_some()
        || a.rdb.is_some()
        || !cli_sentinel.sentinels.is_empty();
    let (redis, snapshot, rdb, mut sentinel) = if on_cli {
        (
            a.redis.clone(),
            a.snapshot.clone(),
            a.rdb.clone(),
            cli_sentinel.clone(),
        )
    } else {
        let s = &cfg.source;
        let sentinel = SentinelOpts {
            sentinels: s.sentinel.clone(),
            sentinel_master: s.sentinel_master.clone(),
            read_from: s.read_from.as_deref().and_then(ReadFrom::parse),
            ..cli_sentinel.clone()
        };
        (
            s.redis.clone(),
            from_file(&s.snapshot),
            from_file(&s.rdb),
            sentinel,
        )
    };
    sentinel.sentinel_master = cli_sentinel
        .sentinel_master
        .clone()
        .or(sentinel.sentinel_master);
    sentinel.read_from = cli_sentinel.read_from.or(sentinel.read_from);
    let given = [&redis, &snapshot, &rdb]
        .iter()
        .filter(|x| x.is_some())
        .count()
        + usize::from(!sentinel.sentinels.is_empty());
    if given != 1 {
        bail!(
            "give exactly one source: --redis URL, --sentinel HOST:PORT, --snapshot FILE or --rdb FILE (or one of redis, sentinel, snapshot, rdb under [source] in {})",
            config::FILE_NAME
        );
    }
    if sentinel.sentinels.is_empty() && sentinel.only_with_sentinel() {
        bail!(
            "--sentinel-master, --read-from and --sentinel-user apply only with --sentinel (or sentinel under [source] in {})",
            config::FILE_NAME
        );
    }
    Ok(if let Some(p) = snapshot {
        Source::Snapshot(p)
    } else if let Some(p) = rdb {
        Source::Rdb(p)
    } else if let Some(url) = redis {
        Source::Redis(url)
    } else {
        let tell = mode != progress::Mode::None;
        Source::Redis(connect::via_sentinel(&sentinel, redis_opts, tell)?.url)
    })
}

/// The old and the new side: each runtime with its load options, cache layer, application
/// classes and verdict budget.
fn sides(a: &ScanArgs, cfg: &Config) -> Result<(Side, Side)> {
    let c = &cfg.checks;
    let old = a
        .old
        .clone()
        .or(c.old.clone())
        .context("--old RUNTIME is required (or `old` under [checks] in the config)")?;
    let new = a
        .new
        .clone()
        .or(c.new.clone())
        .context("--new RUNTIME is required (or `new` under [checks] in the config)")?;
    let writer = a
        .writer
        .clone()
        .or(c.writer.clone())
        .unwrap_or_else(|| "pickle".into());
    let app_classes: Vec<String> = c
        .app_classes
        .iter()
        .chain(&a.app_classes)
        .cloned()
        .collect();
    let apps = AppClasses {
        importable: (!app_classes.is_empty()).then(|| app_classes.into_iter().collect()),
        py2_classic: c.py2_classic.iter().cloned().collect(),
    };
    let side = |rt: &str, load: Option<String>, w: Option<String>, which: &str| -> Result<Side> {
        let runtime = parse_runtimes(&[rt.to_string()])?[0];
        let options = LoadOptions::parse(load.as_deref().unwrap_or(""))
            .map_err(|e| anyhow::anyhow!("--{which}-load: {e}"))?;
        let writer = Writer::parse(w.as_deref().unwrap_or(&writer))
            .map_err(|e| anyhow::anyhow!("--{which}-writer: {e}"))?;
        let mut load = LoadConfig {
            options,
            apps: apps.clone(),
            ..LoadConfig::default()
        };
        cfg.budgets.apply(&mut load.budget);
        load.budget.verdict.ops = a.verdict_ops.unwrap_or(load.budget.verdict.ops);
        load.budget.verdict.bytes = a.verdict_bytes.unwrap_or(load.budget.verdict.bytes);
        load.full_model = a.full_model;
        Ok(Side {
            runtime,
            load,
            writer,
        })
    };
    let old_side = side(
        &old,
        a.old_load.clone().or(c.old_load.clone()),
        a.old_writer.clone().or(c.old_writer.clone()),
        "old",
    )?;
    let new_side = side(
        &new,
        a.new_load.clone().or(c.new_load.clone()),
        a.new_writer.clone().or(c.new_writer.clone()),
        "new",
    )?;
    Ok((old_side, new_side))
}

/// How the aggregate is kept: patterns, examples, levels, and which per-value texts are kept
/// (only those of the formats asked for).
fn report_options(cfg: &Config, outs: &[Output], all: bool) -> report::Options {
    let keep = if outs.iter().any(|o| o.format.prints_values(true)) && all {
        Keep::All
    } else if outs.iter().any(|o| o.format.prints_values(all)) {
        Keep::Findings
    } else {
        Keep::None
    };
    report::Options {
        patterns: cfg
            .patterns
            .iter()
            .map(|p| PatternRule {
                glob: p.glob.clone(),
                name: p.name.clone().unwrap_or_else(|| p.glob.clone()),
            })
            .collect(),
        keep,
        examples: cfg.report.examples.unwrap_or(3),
        max_patterns: cfg.report.max_patterns.unwrap_or(10_000).max(1),
        levels: Levels {
            overrides: cfg.levels.clone().into_iter().collect(),
        },
        records: report::spool::Texts {
            jsonl: outs.iter().any(|o| o.format == Format::Jsonl),
            json: outs.iter().any(|o| o.format == Format::Json),
            table: all && outs.iter().any(|o| o.format == Format::Table),
        },
        // Hidden, for tests: the bytes of per-value records held in memory before spilling.
        spool_budget: std::env::var("CACHE_COMPAT_SPOOL_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(report::spool::DEFAULT_BUDGET),
        ..report::Options::default()
    }
}

/// The scan: the source feeds judging threads; the aggregate is folded as values arrive. The
/// progress total (for the ETA) is what a snapshot holds (capped by --limit), or DBSIZE summed
/// over a live Redis' masters; an RDB dump has none.
fn judge(p: &Plan) -> Result<report::Report> {
    let mut agg = report::Aggregator::new(p.options.clone());
    let mut cov = Coverage::default();
    let counted = p.mode != progress::Mode::None;
    let total = match &p.source {
        Source::Snapshot(path) if counted => {
            source::count_snapshot(path).map(|n| p.filter.limit.map_or(n, |l| n.min(l)))
        }
        Source::Redis(url) if counted => source::estimate_keys(url, &p.redis_opts),
        _ => None,
    };
    let mut prog = progress::Progress::new(p.mode, total);
    let read = |sink: &mut dyn FnMut(source::Sample)| -> Result<()> {
        match &p.source {
            Source::Snapshot(path) => {
                visit_snapshot(path, &p.filter, &mut cov, sink)?;
                Ok(())
            }
            Source::Rdb(path) => source::rdb::read_rdb_with(
                Path::new(path),
                &p.filter,
                p.redis_opts.caps(),
                sink,
                &mut cov,
            )
            .with_context(|| format!("reading the RDB dump {path}")),
            Source::Redis(url) => scan_redis(url, &p.redis_opts, &p.filter, p.pace, sink, &mut cov)
                .map_err(anyhow::Error::from),
        }
    };
    scan::pipeline::run(read, &p.old, &p.new, &mut agg, &mut prog, p.jobs)?;
    Ok(agg.finish(cov, &p.old, &p.new, &p.baseline))
}

//! The `cache-compat` command line: parses arguments, calls the library, prints, exits
//! (0: no finding, 1: findings, 2: the tool could not do its job).

use anyhow::{Context, Result, bail};
use cache_compat::check::Side;
use cache_compat::envelope::Writer;
use cache_compat::inspect;
use cache_compat::report::render::Format as ReportFormat;
use cache_compat::runtime::load::{AppClasses, LoadConfig};
use cache_compat::runtime::{LoadOptions, Runtime};
use cache_compat::source::{
    ClusterMode, Coverage, Filter, Pace, RedisOpts, SentinelOpts, SnapshotWriter, scan_redis,
    visit_snapshot,
};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cache-compat",
    version,
    about = "Tells, before a deploy, whether the pickled values in a Redis cache survive a change of Python runtime.",
    long_about = "Reads pickles without executing them and predicts, for each Python runtime (2.7, 3.0 .. 3.15), \
whether they load, what they load as, or exactly which exception the runtime raises.\n\n\
Exit status: 0 no finding (scan: none at or above --fail-on; inspect: every runtime asked loads it), 1 findings, 2 the tool could not do its job."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// One pickle: its disassembly, the strings it holds, the globals it references, and the
    /// verdict of each runtime.
    Inspect {
        /// The pickle file, or - for standard input.
        file: String,
        /// A runtime to judge for (repeatable): 2.7, 2.7-pickle, 3.0 .. 3.15 (py3.8 and python3.8
        /// work too). Default: 2.7 and every 3.x.
        #[arg(long = "runtime", short = 'r')]
        runtimes: Vec<String>,
        /// Load options of the 3.x runtimes, as the app passes them to pickle.loads:
        /// encoding=..,errors=..,fix_imports=true|false.
        #[arg(long = "load", default_value = "")]
        load: String,
        /// Application modules or classes (module or module.Name, repeatable) that exist in the
        /// runtimes. Default: every module outside the standard library is assumed importable.
        #[arg(long = "app-class")]
        app_classes: Vec<String>,
        /// Application classes (module.Name, repeatable) that are classic (old-style) classes on
        /// Python 2. Default: none (every app class is new-style).
        #[arg(long = "py2-classic")]
        py2_classic: Vec<String>,
        /// Strip a cache library's envelope first: `!` (Werkzeug/cachelib/Flask-Caching).
        #[arg(long)]
        strip_bang: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The main job: sample a cache and judge every value for a migration from --old to --new
    /// (checks old_reads, new_reads, old_reads_new_write, new_reads_old_write, round_trip).
    /// Settings may also come from cache-compat.toml (see `cache-compat init`).
    Scan(Box<ScanArgs>),
    /// Write a commented cache-compat.toml template (refuses to overwrite without --force).
    Init {
        /// Where to write it.
        #[arg(long, default_value = "cache-compat.toml")]
        path: String,
        #[arg(long)]
        force: bool,
    },
    /// Capture sampled raw values from a live Redis into a portable compressed file (no judging),
    /// for a CI job or an offline audit. Only read commands are sent.
    Snapshot {
        #[arg(long, required_unless_present = "sentinel")]
        redis: Option<String>,
        #[command(flatten)]
        redis_opts: RedisOpts,
        #[command(flatten)]
        sentinel: SentinelOpts,
        #[arg(long)]
        out: String,
        #[arg(long = "match")]
        matches: Vec<String>,
        #[arg(long)]
        limit: Option<u64>,
    },
    /// The known runtimes and their facts.
    Runtimes {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("cache-compat: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_runtimes(names: &[String]) -> Result<Vec<Runtime>> {
    if names.is_empty() {
        return Ok(Runtime::all().into_iter().filter(|r| !r.pure).collect());
    }
    names
        .iter()
        .flat_map(|n| n.split(','))
        .map(|n| {
            Runtime::parse(n).with_context(|| {
                format!("unknown runtime {n:?} (known: 2.7, 2.7-pickle, 3.0 .. 3.15; see `cache-compat runtimes`)")
            })
        })
        .collect()
}

fn run() -> Result<u8> {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Inspect {
            file,
            runtimes,
            load,
            app_classes,
            py2_classic,
            strip_bang,
            format,
        } => {
            let mut data = Vec::new();
            if file == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .context("reading standard input")?;
            } else {
                data = std::fs::read(&file).with_context(|| format!("reading {file}"))?;
            }
            if strip_bang {
                match data.strip_prefix(b"!") {
                    Some(rest) => data = rest.to_vec(),
                    None => bail!("--strip-bang: the value does not start with '!'"),
                }
            }
            let runtimes = parse_runtimes(&runtimes)?;
            let options = LoadOptions::parse(&load).map_err(|e| anyhow::anyhow!("--load: {e}"))?;
            let cfg = LoadConfig {
                options,
                apps: AppClasses {
                    importable: (!app_classes.is_empty())
                        .then(|| app_classes.into_iter().collect()),
                    py2_classic: py2_classic.into_iter().collect(),
                },
                ..LoadConfig::default()
            };
            let mut report = inspect::inspect(&data, &runtimes, &cfg);
            if strip_bang {
                report.envelope = Some("!".into());
            }
            match format {
                Format::Text => print!("{}", report.to_text(&data)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            Ok(if report.any_fails() { 1 } else { 0 })
        }
        Command::Scan(args) => {
            let m = matches
                .subcommand_matches("scan")
                .context("scan arguments")?;
            let outputs = pair_outputs(&args.format, &args.output, m)?;
            scan_cmd(*args, outputs)
        }
        Command::Init { path, force } => {
            cache_compat::config::init(std::path::Path::new(&path), force)?;
            eprintln!("cache-compat: wrote {path}; edit it, then run `cache-compat scan`");
            Ok(0)
        }
        Command::Snapshot {
            redis,
            redis_opts,
            sentinel,
            out,
            matches,
            limit,
        } => {
            let (redis, source) = match redis {
                Some(_) if sentinel.only_with_sentinel() => {
                    bail!(
                        "--sentinel-master, --read-from and --sentinel-user apply only with --sentinel"
                    )
                }
                Some(url) => (url.clone(), url),
                None => {
                    let c = via_sentinel(&sentinel, &redis_opts, true)?;
                    (c.url, c.label)
                }
            };
            let mut cov = Coverage::default();
            // Written as the values arrive (bounded memory), under `<out>.partial` until done.
            let mut w = SnapshotWriter::create(&out, &source)
                .with_context(|| format!("writing {out}.partial"))?;
            let mut failed: Option<std::io::Error> = None;
            scan_redis(
                &redis,
                &redis_opts,
                &Filter { matches, limit },
                Pace::default(),
                |s| {
                    if failed.is_none()
                        && let Err(e) = w.add(&s)
                    {
                        failed = Some(e);
                    }
                },
                &mut cov,
            )?;
            if let Some(e) = failed {
                return Err(e).with_context(|| format!("writing {out}.partial"));
            }
            w.finish().with_context(|| format!("writing {out}"))?;
            eprintln!(
                "cache-compat: {} values from {} keys written to {out} ({} vanished, {} of other types skipped)",
                cov.sampled, cov.keys_seen, cov.vanished, cov.skipped_types
            );
            Ok(0)
        }
        Command::Runtimes { format } => {
            let rows: Vec<serde_json::Value> = Runtime::all()
                .into_iter()
                .map(|rt| {
                    let f = rt.facts();
                    serde_json::json!({
                        "runtime": rt.to_string(),
                        "highest_protocol": f.highest_protocol,
                        "default_protocol": f.default_protocol,
                        "opcodes_up_to_protocol": f.opcode_protocol,
                        "encoding_bytes": f.encoding_bytes,
                        "int_max_str_digits": f.int_max_str_digits,
                        "checked_against_interpreter": rt.tables().is_some(),
                    })
                })
                .collect();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Text => {
                    println!(
                        "{:<12} {:>8} {:>8}  {:<16} checked",
                        "runtime", "highest", "default", "encoding=bytes"
                    );
                    for r in &rows {
                        println!(
                            "{:<12} {:>8} {:>8}  {:<16} {}",
                            r["runtime"].as_str().unwrap_or(""),
                            r["highest_protocol"],
                            r["default_protocol"],
                            r["encoding_bytes"],
                            if r["checked_against_interpreter"] == true {
                                "real interpreter"
                            } else {
                                "from CPython sources"
                            }
                        );
                    }
                }
            }
            Ok(0)
        }
    }
}

/// `scan`'s arguments as typed. Options left out fall back to the environment (where named), then
/// the config file, then the defaults (docs/config.md).
#[derive(clap::Args)]
struct ScanArgs {
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
    redis_opts: RedisOpts,
    #[command(flatten)]
    sentinel: SentinelOpts,
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
    format: Vec<String>,
    /// Write the format given just before (or the only format) to FILE instead of standard
    /// output: `--format json --output report.json --format junit --output junit.xml`.
    #[arg(long)]
    output: Vec<String>,
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

/// One report to write: a format, and a file (standard output when `None`).
struct Output {
    format: ReportFormat,
    path: Option<String>,
}

/// Pair each `--output` with the `--format` given just before it (by position on the command
/// line); `FORMAT=FILE` carries its own file. With one format, `--output` may come anywhere.
fn pair_outputs(
    formats: &[String],
    outputs: &[String],
    m: &clap::ArgMatches,
) -> Result<Vec<(String, Option<String>)>> {
    let fi: Vec<usize> = m
        .indices_of("format")
        .map(|i| i.collect())
        .unwrap_or_default();
    let oi: Vec<usize> = m
        .indices_of("output")
        .map(|i| i.collect())
        .unwrap_or_default();
    let mut pairs: Vec<(String, Option<String>)> =
        formats.iter().map(|f| (f.clone(), None)).collect();
    if pairs.is_empty() {
        if outputs.len() > 1 {
            bail!(
                "--output is given {} times but there is no --format to pair each with",
                outputs.len()
            );
        }
        // `--output FILE` alone: the default format (table, or the config's) to FILE.
        return Ok(outputs
            .iter()
            .map(|o| (String::new(), Some(o.clone())))
            .collect());
    }
    for (o, &at) in outputs.iter().zip(&oi) {
        let slot = if pairs.len() == 1 {
            Some(0)
        } else {
            fi.iter().rposition(|&f| f < at)
        };
        let Some(k) = slot else {
            bail!("--output {o}: give it after the --format it is for");
        };
        if pairs[k].1.is_some() || pairs[k].0.contains('=') {
            bail!(
                "--output {o}: the format {} already has an output file",
                pairs[k].0
            );
        }
        pairs[k].1 = Some(o.clone());
    }
    Ok(pairs)
}

/// Ask the sentinels which node to read (docs/live-redis.md, Sentinel) and say so on standard
/// error unless `tell` is false (`--progress none`).
fn via_sentinel(
    s: &SentinelOpts,
    opts: &RedisOpts,
    tell: bool,
) -> Result<cache_compat::source::SentinelChoice> {
    if opts.cluster == ClusterMode::Yes {
        bail!("--cluster yes and --sentinel: a Sentinel-managed server is not a Redis Cluster");
    }
    let c = cache_compat::source::resolve_sentinel(s)?;
    if tell {
        eprintln!("cache-compat: {}", c.note);
    }
    Ok(c)
}

fn resolve(base: &Option<std::path::PathBuf>, p: &str) -> String {
    match base {
        Some(dir) if std::path::Path::new(p).is_relative() => dir.join(p).display().to_string(),
        _ => p.to_string(),
    }
}

fn scan_cmd(a: ScanArgs, outputs: Vec<(String, Option<String>)>) -> Result<u8> {
    use cache_compat::config;
    use cache_compat::report::{self, Keep, Levels, PatternRule};
    use cache_compat::scan::{self, progress};
    // The config: named, or discovered; its relative paths are relative to its directory.
    let cfg_path = match &a.config {
        Some(p) => Some(std::path::PathBuf::from(p)),
        None => config::discover(&std::env::current_dir().context("the current directory")?),
    };
    let cfg = match &cfg_path {
        Some(p) => config::load(p)?,
        None => config::Config::default(),
    };
    let base = cfg_path
        .as_ref()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .filter(|d| !d.as_os_str().is_empty());
    let from_file = |p: &Option<String>| p.as_ref().map(|p| resolve(&base, p));

    // The source: the command line's, else the file's (exactly one).
    let on_cli = a.redis.is_some()
        || a.snapshot.is_some()
        || a.rdb.is_some()
        || !a.sentinel.sentinels.is_empty();
    let (redis, snapshot, rdb, mut sentinel) = if on_cli {
        (
            a.redis.clone(),
            a.snapshot.clone(),
            a.rdb.clone(),
            a.sentinel.clone(),
        )
    } else {
        let s = &cfg.source;
        let sentinel = SentinelOpts {
            sentinels: s.sentinel.clone(),
            sentinel_master: s.sentinel_master.clone(),
            read_from: s
                .read_from
                .as_deref()
                .and_then(cache_compat::source::ReadFrom::parse),
            ..a.sentinel.clone()
        };
        (
            s.redis.clone(),
            from_file(&s.snapshot),
            from_file(&s.rdb),
            sentinel,
        )
    };
    sentinel.sentinel_master = a
        .sentinel
        .sentinel_master
        .clone()
        .or(sentinel.sentinel_master);
    sentinel.read_from = a.sentinel.read_from.or(sentinel.read_from);
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
    let filter = Filter {
        matches: if a.matches.is_empty() {
            cfg.sample.matches.clone()
        } else {
            a.matches.clone()
        },
        limit: a.limit.or(cfg.sample.limit),
    };

    // Outputs: the command line's, else the file's, else a table on standard output.
    let mut outs: Vec<Output> = Vec::new();
    let only_output = outputs.len() == 1 && outputs[0].0.is_empty();
    let specs: Vec<(String, Option<String>)> = if only_output {
        // `--output FILE` alone: the config's one format (or the table) goes to FILE.
        match cfg.report.format.as_slice() {
            [] => outputs,
            [one] => vec![(
                one.split('=').next().unwrap_or("table").to_string(),
                outputs[0].1.clone(),
            )],
            _ => bail!(
                "--output without --format, and the config names several formats: say which format goes to the file"
            ),
        }
    } else if !outputs.is_empty() {
        outputs
    } else {
        cfg.report
            .format
            .iter()
            .map(|f| match f.split_once('=') {
                Some((f, p)) => (f.to_string(), Some(resolve(&base, p))),
                None => (f.clone(), None),
            })
            .collect()
    };
    for (spec, path) in specs {
        let spec = if spec.is_empty() {
            "table".to_string()
        } else {
            spec
        };
        let (format, own) =
            config::parse_format_spec(&spec).map_err(|e| anyhow::anyhow!("--format: {e}"))?;
        outs.push(Output {
            format,
            path: own.or(path),
        });
    }
    if outs.is_empty() {
        outs.push(Output {
            format: ReportFormat::Table,
            path: None,
        });
    }
    if outs.iter().filter(|o| o.path.is_none()).count() > 1 {
        bail!(
            "several formats would go to standard output: give all but one an --output FILE (or FORMAT=FILE)"
        );
    }
    let all = a.all || cfg.report.all.unwrap_or(false);
    let fail_on = config::parse_fail_on(
        a.fail_on
            .as_deref()
            .or(cfg.report.fail_on.as_deref())
            .unwrap_or("deny"),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let mode_name = a
        .progress
        .clone()
        .or(cfg.report.progress.clone())
        .unwrap_or_else(|| "auto".into());
    let mode = progress::Mode::parse(&mode_name)
        .with_context(|| format!("unknown --progress {mode_name:?} (auto, bar, log, none)"))?;
    // Behind Sentinel: the node it names is read as --redis would read it.
    let redis = if sentinel.sentinels.is_empty() {
        redis
    } else {
        Some(via_sentinel(&sentinel, &a.redis_opts, mode != progress::Mode::None)?.url)
    };
    let baseline = match a
        .baseline
        .clone()
        .or_else(|| from_file(&cfg.report.baseline))
    {
        // Writing a baseline for the first time: the configured one need not exist yet.
        Some(p) if a.write_baseline.is_some() && !std::path::Path::new(&p).exists() => Vec::new(),
        Some(p) => report::baseline::load(&p)?,
        None => Vec::new(),
    };
    let keep = if outs.iter().any(|o| o.format.prints_values(true)) && all {
        Keep::All
    } else if outs.iter().any(|o| o.format.prints_values(all)) {
        Keep::Findings
    } else {
        Keep::None
    };
    let opts = report::Options {
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
        // The texts each kept value is rendered to (only those of the formats asked for).
        records: report::spool::Texts {
            jsonl: outs.iter().any(|o| o.format == ReportFormat::Jsonl),
            json: outs.iter().any(|o| o.format == ReportFormat::Json),
            table: all && outs.iter().any(|o| o.format == ReportFormat::Table),
        },
        // Hidden, for tests: the bytes of per-value records held in memory before spilling.
        spool_budget: std::env::var("CACHE_COMPAT_SPOOL_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(report::spool::DEFAULT_BUDGET),
        ..report::Options::default()
    };
    let jobs = a.jobs.or(cfg.sample.jobs).unwrap_or(0);

    // The scan: the source feeds judging threads; the aggregate is folded as values arrive.
    let mut agg = report::Aggregator::new(opts);
    let mut cov = Coverage::default();
    // The total for the ETA: the values a snapshot holds (capped by --limit); DBSIZE for a live
    // Redis (below).
    if let Some(path) = snapshot {
        let total = match mode {
            progress::Mode::None => None,
            _ => cache_compat::source::count_snapshot(&path)
                .map(|n| filter.limit.map_or(n, |l| n.min(l))),
        };
        let mut prog = progress::Progress::new(mode, total);
        scan::pipeline::run(
            |sink: &mut dyn FnMut(cache_compat::source::Sample)| -> Result<()> {
                visit_snapshot(&path, &filter, &mut cov, sink)?;
                Ok(())
            },
            &old_side,
            &new_side,
            &mut agg,
            &mut prog,
            jobs,
        )?;
    } else if let Some(path) = rdb {
        let mut prog = progress::Progress::new(mode, None);
        scan::pipeline::run(
            |sink: &mut dyn FnMut(cache_compat::source::Sample)| {
                cache_compat::source::rdb::read_rdb_with(
                    std::path::Path::new(&path),
                    &filter,
                    a.redis_opts.caps(),
                    sink,
                    &mut cov,
                )
                .with_context(|| format!("reading the RDB dump {path}"))
            },
            &old_side,
            &new_side,
            &mut agg,
            &mut prog,
            jobs,
        )?;
    } else if let Some(url) = redis {
        // DBSIZE (summed over a cluster's masters): the progress bar's estimate of the total.
        let total = match mode {
            progress::Mode::None => None,
            _ => cache_compat::source::estimate_keys(&url, &a.redis_opts),
        };
        let mut prog = progress::Progress::new(mode, total);
        scan::pipeline::run(
            |sink: &mut dyn FnMut(cache_compat::source::Sample)| {
                scan_redis(&url, &a.redis_opts, &filter, pace, sink, &mut cov)
                    .map_err(anyhow::Error::from)
            },
            &old_side,
            &new_side,
            &mut agg,
            &mut prog,
            jobs,
        )?;
    }
    let rep = agg.finish(cov, &old_side, &new_side, &baseline);

    let stdout_tty = std::io::stdout().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    for o in &outs {
        let style = report::render::Style {
            color: o.path.is_none() && o.format == ReportFormat::Table && stdout_tty && !no_color,
            all,
            fail_on,
        };
        // Markdown also goes to $GITHUB_STEP_SUMMARY, so it is rendered once as a string (it
        // holds no per-value records); the other formats stream into the output.
        let text = if o.format == ReportFormat::Markdown {
            Some(report::render::render(&rep, o.format, style).context("rendering the report")?)
        } else {
            None
        };
        let write = |w: &mut dyn Write| -> std::io::Result<()> {
            match &text {
                Some(t) => w.write_all(t.as_bytes())?,
                None => report::render::render_to(&rep, o.format, style, w)?,
            }
            w.flush()
        };
        match &o.path {
            Some(path) => {
                let f = std::fs::File::create(path).with_context(|| format!("writing {path}"))?;
                write(&mut std::io::BufWriter::with_capacity(1 << 16, f))
                    .with_context(|| format!("writing {path}"))?
            }
            None => {
                let out = std::io::stdout().lock();
                write(&mut std::io::BufWriter::with_capacity(1 << 16, out))
                    .context("writing the report")?;
            }
        }
        if let Some(text) = &text
            && let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY")
        {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&summary)
                .with_context(|| {
                    format!("opening $GITHUB_STEP_SUMMARY {}", summary.to_string_lossy())
                })?;
            f.write_all(text.as_bytes())
                .context("writing $GITHUB_STEP_SUMMARY")?;
        }
    }
    for s in &rep.stale_baseline {
        eprintln!(
            "cache-compat: warning: baseline entry no longer occurs: pattern {:?}, check {}, code {} (reason: {})",
            s.pattern, s.check, s.code, s.reason
        );
    }
    if let Some(path) = &a.write_baseline {
        std::fs::write(path, report::baseline::render(rep.findings.iter()))
            .with_context(|| format!("writing {path}"))?;
        eprintln!(
            "cache-compat: wrote {} findings to {path}; give each a reason",
            rep.listed().count()
        );
    }
    Ok(if rep.fails(fail_on) { 1 } else { 0 })
}

//! The `cache-compat` command line: parses arguments, calls the library, prints, exits
//! (0: no finding, 1: findings, 2: the tool could not do its job).

use anyhow::{Context, Result, bail};
use cache_compat::check::Side;
use cache_compat::envelope::Writer;
use cache_compat::inspect;
use cache_compat::runtime::load::{AppClasses, LoadConfig};
use cache_compat::runtime::{LoadOptions, Runtime};
use cache_compat::scan;
use cache_compat::source::{
    Coverage, Filter, Pace, RedisOpts, read_snapshot, scan_redis, write_snapshot,
};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Read;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cache-compat",
    version,
    about = "Tells, before a deploy, whether the pickled values in a Redis cache survive a change of Python runtime.",
    long_about = "Reads pickles without executing them and predicts, for each Python runtime (2.7, 3.0 .. 3.14), \
whether they load, what they load as, or exactly which exception the runtime raises.\n\n\
Exit status: 0 no finding, 1 findings (a runtime fails), 2 the tool could not do its job."
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

#[derive(Clone, Copy, ValueEnum)]
enum ScanFormat {
    Table,
    Jsonl,
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
        /// A runtime to judge for (repeatable): 2.7, 2.7-pickle, 3.0 .. 3.14 (py3.8 and python3.8
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
    Scan {
        /// A live Redis: redis://[user:password@]host:port/db, rediss://, unix:///path.
        /// The password may also come from REDISCLI_AUTH (never printed). Only read commands
        /// are sent.
        #[arg(long, conflicts_with_all = ["snapshot", "rdb"], required_unless_present_any = ["snapshot", "rdb"])]
        redis: Option<String>,
        /// A snapshot file made by `cache-compat snapshot`.
        #[arg(long, conflicts_with = "rdb")]
        snapshot: Option<String>,
        /// A Redis RDB dump (Redis 5 to 7.x: `redis-cli save`, BGSAVE, a backup), read streaming.
        #[arg(long)]
        rdb: Option<String>,
        #[command(flatten)]
        redis_opts: RedisOpts,
        /// The runtime the cache is written by now (e.g. 2.7).
        #[arg(long)]
        old: String,
        /// The runtime being deployed (e.g. 3.8).
        #[arg(long)]
        new: String,
        /// The cache layer of both sides: werkzeug, cachelib[@VERSION], flask-caching, django,
        /// django-redis[@VERSION], pickle, pickle:N.
        #[arg(long, default_value = "pickle")]
        writer: String,
        #[arg(long)]
        old_writer: Option<String>,
        #[arg(long)]
        new_writer: Option<String>,
        /// Load options of the old side (3.x): encoding=..,errors=..,fix_imports=..
        #[arg(long, default_value = "")]
        old_load: String,
        /// Load options of the new side, e.g. encoding=latin1.
        #[arg(long, default_value = "")]
        new_load: String,
        /// Only keys matching this glob (repeatable; Redis MATCH syntax).
        #[arg(long = "match")]
        matches: Vec<String>,
        /// Judge at most N values.
        #[arg(long)]
        limit: Option<u64>,
        /// Keep each key with this probability (0-1], drawn from a hash of the key and --seed so
        /// that the same keys are drawn on every run.
        #[arg(long, default_value_t = 1.0)]
        sample_rate: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// At most this many Redis commands a second, to protect production (0: unlimited).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
        format: ScanFormat,
        /// Also list values with no finding.
        #[arg(long)]
        all: bool,
        /// Write the report here instead of standard output.
        #[arg(long)]
        output: Option<String>,
    },
    /// Capture sampled raw values from a live Redis into a portable compressed file (no judging),
    /// for a CI job or an offline audit. Only read commands are sent.
    Snapshot {
        #[arg(long)]
        redis: String,
        #[command(flatten)]
        redis_opts: RedisOpts,
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
                format!("unknown runtime {n:?} (known: 2.7, 2.7-pickle, 3.0 .. 3.14; see `cache-compat runtimes`)")
            })
        })
        .collect()
}

fn run() -> Result<u8> {
    let cli = Cli::parse();
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
        Command::Scan {
            redis,
            snapshot,
            rdb,
            redis_opts,
            old,
            new,
            writer,
            old_writer,
            new_writer,
            old_load,
            new_load,
            matches,
            limit,
            sample_rate,
            seed,
            rate,
            format,
            all,
            output,
        } => {
            if !(sample_rate > 0.0 && sample_rate <= 1.0) {
                bail!("--sample-rate must be in (0, 1], not {sample_rate}");
            }
            let pace = Pace {
                sample_rate,
                seed,
                rate,
            };
            let side = |rt: &str, load: &str, w: &Option<String>, which: &str| -> Result<Side> {
                let runtime = parse_runtimes(&[rt.to_string()])?[0];
                let options =
                    LoadOptions::parse(load).map_err(|e| anyhow::anyhow!("--{which}-load: {e}"))?;
                let writer = Writer::parse(w.as_deref().unwrap_or(&writer))
                    .map_err(|e| anyhow::anyhow!("--{which}-writer: {e}"))?;
                Ok(Side {
                    runtime,
                    load: LoadConfig {
                        options,
                        ..LoadConfig::default()
                    },
                    writer,
                })
            };
            let old_side = side(&old, &old_load, &old_writer, "old")?;
            let new_side = side(&new, &new_load, &new_writer, "new")?;
            let filter = Filter { matches, limit };
            let mut cov = Coverage::default();
            let mut results = Vec::new();
            if let Some(path) = snapshot {
                for s in read_snapshot(&path, &filter, &mut cov)? {
                    results.push(scan::judge(&s, &old_side, &new_side));
                }
            } else if let Some(path) = rdb {
                cache_compat::rdb::read_rdb_with(
                    std::path::Path::new(&path),
                    &filter,
                    redis_opts.caps(),
                    |s| results.push(scan::judge(&s, &old_side, &new_side)),
                    &mut cov,
                )
                .with_context(|| format!("reading the RDB dump {path}"))?;
            } else if let Some(url) = redis {
                scan_redis(
                    &url,
                    &redis_opts,
                    &filter,
                    pace,
                    |s| results.push(scan::judge(&s, &old_side, &new_side)),
                    &mut cov,
                )?;
            }
            results.sort_by(|a, b| (&a.key, &a.field).cmp(&(&b.key, &b.field)));
            let summary = scan::summarize(&results, cov);
            let text = match format {
                ScanFormat::Table => scan::table(&results, &summary, &old_side, &new_side, all),
                ScanFormat::Jsonl => scan::jsonl(&results, &summary, all),
                ScanFormat::Json => {
                    let shown: Vec<_> = results.iter().filter(|r| all || r.has_finding()).collect();
                    format!(
                        "{}\n",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"values": shown, "summary": summary})
                        )?
                    )
                }
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("writing {path}"))?
                }
                None => print!("{text}"),
            }
            Ok(if summary.with_findings > 0 { 1 } else { 0 })
        }
        Command::Snapshot {
            redis,
            redis_opts,
            out,
            matches,
            limit,
        } => {
            let mut cov = Coverage::default();
            let mut samples = Vec::new();
            scan_redis(
                &redis,
                &redis_opts,
                &Filter { matches, limit },
                Pace::default(),
                |s| samples.push(s),
                &mut cov,
            )?;
            write_snapshot(&out, &redis, &samples).with_context(|| format!("writing {out}"))?;
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

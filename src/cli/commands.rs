//! The thin commands besides `scan`: `inspect` (one pickle), `init` (the config template),
//! `snapshot` (capture a live Redis to a file) and `runtimes` (the facts table). Each parses
//! nothing the library can, calls it, prints, and returns the exit status.

use super::{Format, connect, parse_runtimes};
use anyhow::{Context, Result, bail};
use cache_compat::inspect;
use cache_compat::runtime::load::{AppClasses, LoadConfig};
use cache_compat::runtime::{LoadOptions, Runtime};
use cache_compat::source::{
    Coverage, Filter, Pace, RedisOpts, SentinelOpts, SnapshotWriter, scan_redis,
};
use std::io::Read;

/// `inspect FILE`: the disassembly and each runtime's verdict of one pickle.
pub fn inspect(
    file: &str,
    runtimes: &[String],
    load: &str,
    app_classes: Vec<String>,
    py2_classic: Vec<String>,
    strip_bang: bool,
    format: Format,
) -> Result<u8> {
    let mut data = Vec::new();
    if file == "-" {
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading standard input")?;
    } else {
        data = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    }
    if strip_bang {
        match data.strip_prefix(b"!") {
            Some(rest) => data = rest.to_vec(),
            None => bail!("--strip-bang: the value does not start with '!'"),
        }
    }
    let runtimes = parse_runtimes(runtimes)?;
    let options = LoadOptions::parse(load).map_err(|e| anyhow::anyhow!("--load: {e}"))?;
    let cfg = LoadConfig {
        options,
        apps: AppClasses {
            importable: (!app_classes.is_empty()).then(|| app_classes.into_iter().collect()),
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

/// `init`: write the commented config template.
pub fn init(path: &str, force: bool) -> Result<u8> {
    cache_compat::config::init(std::path::Path::new(path), force)?;
    eprintln!("cache-compat: wrote {path}; edit it, then run `cache-compat scan`");
    Ok(0)
}

/// `snapshot`: the sampled raw values of a live Redis (or the node a Sentinel names) into a
/// portable file, written as they arrive under `<out>.partial` until done. Only read commands.
pub fn snapshot(
    redis: Option<String>,
    redis_opts: RedisOpts,
    sentinel: SentinelOpts,
    out: &str,
    matches: Vec<String>,
    limit: Option<u64>,
) -> Result<u8> {
    let (redis, source) = match redis {
        Some(_) if sentinel.only_with_sentinel() => {
            bail!("--sentinel-master, --read-from and --sentinel-user apply only with --sentinel")
        }
        Some(url) => (url.clone(), url),
        None => {
            let c = connect::via_sentinel(&sentinel, &redis_opts, true)?;
            (c.url, c.label)
        }
    };
    let mut cov = Coverage::default();
    let mut w =
        SnapshotWriter::create(out, &source).with_context(|| format!("writing {out}.partial"))?;
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

/// `runtimes`: the known runtimes and their facts.
pub fn runtimes(format: Format) -> Result<u8> {
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

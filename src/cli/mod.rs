//! The command line: the clap types of every command and the dispatch to the thin commands
//! (`scan` in scan.rs, the others in commands.rs). The binary's half: the library never imports
//! it; it reaches the library as `cache_compat::...` (docs/architecture.md).

mod commands;
mod connect;
mod outputs;
mod scan;

use anyhow::{Context, Result};
use cache_compat::runtime::Runtime;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use connect::{RedisArgs, SentinelArgs};
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
    Scan(Box<scan::ScanArgs>),
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
        redis_opts: RedisArgs,
        #[command(flatten)]
        sentinel: SentinelArgs,
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

/// Run the command line; the exit status: 0 no finding, 1 findings, 2 the tool could not do its
/// job (the error is printed on standard error).
pub fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("cache-compat: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runtime names as given (`--runtime`, `--old`, `--new`; comma lists too); none: 2.7 and every
/// 3.x with its C pickle.
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
        } => commands::inspect(
            &file,
            &runtimes,
            &load,
            app_classes,
            py2_classic,
            strip_bang,
            format,
        ),
        Command::Scan(args) => {
            let m = matches
                .subcommand_matches("scan")
                .context("scan arguments")?;
            let outputs = outputs::pair(&args.format, &args.output, m)?;
            scan::run(*args, outputs)
        }
        Command::Init { path, force } => commands::init(&path, force),
        Command::Snapshot {
            redis,
            redis_opts,
            sentinel,
            out,
            matches,
            limit,
        } => commands::snapshot(
            redis,
            redis_opts.into(),
            sentinel.into(),
            &out,
            matches,
            limit,
        ),
        Command::Runtimes { format } => commands::runtimes(format),
    }
}

//! The `cache-compat` command line: parses arguments, calls the library, prints, exits
//! (0: no finding, 1: findings, 2: the tool could not do its job).

use anyhow::{Context, Result, bail};
use cache_compat::inspect;
use cache_compat::runtime::load::{AppClasses, LoadConfig};
use cache_compat::runtime::{LoadOptions, Runtime};
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

//! Where `scan`'s reports go: each `--output` paired with its `--format` by position, the config's
//! formats when the command line gives none, and the writing of each rendered report (a file,
//! standard output, and Markdown also to `$GITHUB_STEP_SUMMARY`).

use anyhow::{Context, Result, bail};
use cache_compat::config::{self, Config};
use cache_compat::report::{self, Level, Report, render::Format};
use std::io::{IsTerminal, Write};

/// One report to write: a format, and a file (standard output when `None`).
pub struct Output {
    pub format: Format,
    pub path: Option<String>,
}

/// Pair each `--output` with the `--format` given just before it (by position on the command
/// line); `FORMAT=FILE` carries its own file. With one format, `--output` may come anywhere.
pub fn pair(
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

/// The reports to write: the command line's pairs, else the config's formats (their files
/// relative to the config's directory, by `resolve`), else a table on standard output. At most
/// one goes to standard output.
pub fn resolve(
    outputs: Vec<(String, Option<String>)>,
    cfg: &Config,
    resolve: impl Fn(&str) -> String,
) -> Result<Vec<Output>> {
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
                Some((f, p)) => (f.to_string(), Some(resolve(p))),
                None => (f.clone(), None),
            })
            .collect()
    };
    let mut outs = Vec::new();
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
            format: Format::Table,
            path: None,
        });
    }
    if outs.iter().filter(|o| o.path.is_none()).count() > 1 {
        bail!(
            "several formats would go to standard output: give all but one an --output FILE (or FORMAT=FILE)"
        );
    }
    Ok(outs)
}

/// Render the report into every output. Color only for a table on a terminal without NO_COLOR.
pub fn write_all(rep: &Report, outs: &[Output], all: bool, fail_on: Option<Level>) -> Result<()> {
    let stdout_tty = std::io::stdout().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    for o in outs {
        let style = report::render::Style {
            color: o.path.is_none() && o.format == Format::Table && stdout_tty && !no_color,
            all,
            fail_on,
        };
        // Markdown also goes to $GITHUB_STEP_SUMMARY, so it is rendered once as a string (it
        // holds no per-value records); the other formats stream into the output.
        let text = if o.format == Format::Markdown {
            Some(report::render::render(rep, o.format, style).context("rendering the report")?)
        } else {
            None
        };
        let write = |w: &mut dyn Write| -> std::io::Result<()> {
            match &text {
                Some(t) => w.write_all(t.as_bytes())?,
                None => report::render::render_to(rep, o.format, style, w)?,
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
    Ok(())
}

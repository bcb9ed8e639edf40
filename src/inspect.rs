//! `cache-compat inspect`: one pickle, its disassembly, the strings it holds and where they came
//! from, the globals it references, and the verdict of each runtime.

use crate::check::security::{self, GlobalRef};
use crate::pickle::ops::{self, code};
use crate::pickle::parse::{self, Arg, Parsed};
use crate::runtime::load::{self, LoadConfig, Outcome, Unmodelled};
use crate::runtime::{Runtime, render};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A string the pickle holds, with the opcode that made it (which decides what each runtime does
/// with it).
#[derive(Debug, Clone, Serialize)]
pub struct StringInfo {
    pub offset: usize,
    pub opcode: &'static str,
    /// `py2-str` (STRING family: a py2 `str`, decoded by py3 with `encoding=`), `unicode`,
    /// `bytes` (py3 bytes), `bytearray`.
    pub kind: &'static str,
    /// Payload length in bytes.
    pub len: usize,
    /// Offset within the payload of the first non-ASCII byte, if any.
    pub first_non_ascii: Option<usize>,
}

/// One runtime's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `ok`, `fails`, or `unknown` (the models cannot say; `reason` says why).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Offset of the opcode that raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The whole inspection, as `--format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub protocol: u8,
    pub proto_header: Option<u8>,
    pub highest_opcode_protocol: u8,
    pub envelope: Option<String>,
    pub size: usize,
    pub opcodes: usize,
    /// The value as the first runtime asked that loads it gets it (`runtime`, `render`).
    pub value: Option<BTreeMap<&'static str, String>>,
    pub strings: Vec<StringInfo>,
    pub globals: Vec<GlobalRef>,
    /// Globals that can run code when loaded (CC020 in `scan`), with why.
    pub dangerous: Vec<String>,
    /// Callables its load calls that the tool does not know (CC021 in `scan`), with why.
    pub unknown_globals: Vec<String>,
    /// The security findings as data (`scan`'s per-value `security`).
    pub security: Vec<security::Finding>,
    pub verdicts: BTreeMap<String, Verdict>,
    #[serde(skip)]
    order: Vec<Runtime>,
    #[serde(skip)]
    parsed: Option<Parsed>,
}

/// Judge `data` for each runtime.
pub fn inspect(data: &[u8], runtimes: &[Runtime], cfg: &LoadConfig) -> Report {
    let parsed = parse::parse(data, cfg.budget.max_ops);
    let strings = strings(data, &parsed);
    let globals = security::globals(data, &parsed.ops);
    // What the load calls, followed through memo'd names, getattr, partial, ... (scan's view).
    let audit = security::audit(data, &parsed.ops, &cfg.apps);
    let why = |kind: security::Kind| {
        let mut out: Vec<String> = Vec::new();
        for f in audit.findings.iter().filter(|f| f.kind == kind) {
            let line = format!("{}: {}", f.global, f.reason.what());
            if !out.contains(&line) {
                out.push(line);
            }
        }
        out
    };
    let dangerous = why(security::Kind::Dangerous);
    let unknown_globals = why(security::Kind::Unknown);
    let mut verdicts = BTreeMap::new();
    for &rt in runtimes {
        let r = load::load_parsed(data, &parsed, rt, cfg);
        verdicts.insert(rt.to_string(), verdict(r, rt));
    }
    let value = runtimes.iter().find_map(|rt| {
        let v = verdicts.get(&rt.to_string())?;
        let render = v.value.clone()?;
        Some(BTreeMap::from([
            ("runtime", rt.to_string()),
            ("render", render),
        ]))
    });
    let highest = parsed.highest_opcode_protocol();
    let header = parsed.proto_header();
    Report {
        protocol: header.unwrap_or(0).max(highest),
        proto_header: header,
        highest_opcode_protocol: highest,
        envelope: None,
        size: data.len(),
        opcodes: parsed.ops.len(),
        value,
        strings,
        globals,
        dangerous,
        unknown_globals,
        security: audit.findings,
        verdicts,
        order: runtimes.to_vec(),
        parsed: Some(parsed),
    }
}

/// A load result as a verdict.
pub fn verdict(r: load::LoadResult, rt: Runtime) -> Verdict {
    match r.outcome {
        Outcome::Loaded { heap, root } => {
            let opaque = render::has_opaque(&heap, root);
            Verdict {
                outcome: "ok",
                error: None,
                value: Some(render::render(&heap, root, rt)),
                at: None,
                reason: opaque.then(|| {
                    "loads, assuming the classes marked '?' construct normally (not modelled)"
                        .into()
                }),
            }
        }
        Outcome::Raised(e) => Verdict {
            outcome: "fails",
            error: Some(e.to_string()),
            value: None,
            at: r.at,
            reason: None,
        },
        Outcome::Unknown(u) => Verdict {
            outcome: "unknown",
            error: None,
            value: None,
            at: r.at,
            reason: Some(match u {
                Unmodelled::Budget(what) => {
                    format!("budget exceeded: {what} (value too large or hostile to follow)")
                }
                Unmodelled::Feature(f) => format!("not modelled: {f}"),
            }),
        },
    }
}

fn strings(data: &[u8], p: &Parsed) -> Vec<StringInfo> {
    let mut out = Vec::new();
    for op in &p.ops {
        let (kind, payload): (&str, Vec<u8>) = match (op.code, &op.arg) {
            (code::STRING, Arg::Line(r)) => {
                let line = &data[r.clone()];
                let inner = if line.len() >= 2 {
                    &line[1..line.len() - 1]
                } else {
                    line
                };
                (
                    "py2-str",
                    crate::runtime::codec::escape_decode(inner).unwrap_or_else(|_| inner.to_vec()),
                )
            }
            (code::BINSTRING | code::SHORT_BINSTRING, Arg::Bytes(r)) => {
                ("py2-str", data[r.clone()].to_vec())
            }
            (code::UNICODE, Arg::Line(r)) => ("unicode", data[r.clone()].to_vec()),
            (code::BINUNICODE | code::SHORT_BINUNICODE | code::BINUNICODE8, Arg::Bytes(r)) => {
                ("unicode", data[r.clone()].to_vec())
            }
            (code::BINBYTES | code::SHORT_BINBYTES | code::BINBYTES8, Arg::Bytes(r)) => {
                ("bytes", data[r.clone()].to_vec())
            }
            (code::BYTEARRAY8, Arg::Bytes(r)) => ("bytearray", data[r.clone()].to_vec()),
            _ => continue,
        };
        out.push(StringInfo {
            offset: op.pos,
            opcode: ops::info(op.code).map_or("?", |i| i.name),
            kind,
            len: payload.len(),
            first_non_ascii: payload.iter().position(|b| !b.is_ascii()),
        });
    }
    out
}

fn show_bytes(b: &[u8], limit: usize) -> String {
    let mut s = String::new();
    render::bytes(&mut s, &b[..b.len().min(limit)]);
    if b.len() > limit {
        let _ = write!(s, "... ({} bytes)", b.len());
    }
    s
}

impl Report {
    /// The human-readable form: disassembly, then the findings, then the verdicts (runtimes with
    /// the same verdict grouped).
    pub fn to_text(&self, data: &[u8]) -> String {
        let mut out = String::new();
        let mut fails: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for rt in &self.order {
            let key = rt.to_string();
            if let Some(Verdict {
                at: Some(at),
                outcome: "fails",
                ..
            }) = self.verdicts.get(&key)
            {
                fails.entry(*at).or_default().push(key);
            }
        }
        let _ = writeln!(
            out,
            "disassembly ({} bytes, {} opcodes):",
            self.size, self.opcodes
        );
        if let Some(p) = &self.parsed {
            let mut depth = 0usize;
            for op in p.ops.iter() {
                let info = ops::info(op.code);
                let name = info.map_or("?", |i| i.name);
                if matches!(
                    op.code,
                    code::LIST
                        | code::TUPLE
                        | code::DICT
                        | code::APPENDS
                        | code::SETITEMS
                        | code::ADDITEMS
                        | code::FROZENSET
                        | code::POP_MARK
                        | code::INST
                        | code::OBJ
                ) {
                    depth = depth.saturating_sub(1);
                }
                let arg = match &op.arg {
                    Arg::None => String::new(),
                    Arg::Int(i) => i.to_string(),
                    Arg::U64(u) => u.to_string(),
                    Arg::Float(f) => format!("{f:?}"),
                    Arg::Line(r) if op.code == code::STRING => {
                        let line = &data[r.clone()];
                        let inner = if line.len() >= 2 {
                            &line[1..line.len() - 1]
                        } else {
                            line
                        };
                        match crate::runtime::codec::escape_decode(inner) {
                            Ok(b) => {
                                let mark = match b.iter().position(|c| !c.is_ascii()) {
                                    Some(i) => format!("  non-ASCII byte 0x{:02x} at {i}", b[i]),
                                    None => String::new(),
                                };
                                format!("{} (py2 str){mark}", show_bytes(&b, 60))
                            }
                            Err(_) => format!("{} (py2 str, bad escape)", show_bytes(line, 60)),
                        }
                    }
                    Arg::Line(r) => {
                        let what = if op.code == code::UNICODE {
                            "  (unicode, raw-unicode-escape)"
                        } else {
                            ""
                        };
                        format!("{}{what}", show_bytes(&data[r.clone()], 80))
                    }
                    Arg::Line2(a, b) => format!(
                        "{} {}",
                        String::from_utf8_lossy(&data[a.clone()]),
                        String::from_utf8_lossy(&data[b.clone()])
                    ),
                    Arg::Bytes(r) => {
                        let b = &data[r.clone()];
                        let what = match op.code {
                            code::BINSTRING | code::SHORT_BINSTRING => " (py2 str)",
                            code::BINUNICODE | code::SHORT_BINUNICODE | code::BINUNICODE8 => {
                                " (unicode, UTF-8)"
                            }
                            code::BINBYTES | code::SHORT_BINBYTES | code::BINBYTES8 => " (bytes)",
                            code::BYTEARRAY8 => " (bytearray)",
                            _ => "",
                        };
                        let mark = match b.iter().position(|c| !c.is_ascii()) {
                            Some(i) if what.contains("py2") => {
                                format!("  non-ASCII byte 0x{:02x} at {i}", b[i])
                            }
                            _ => String::new(),
                        };
                        format!("{}{what}{mark}", show_bytes(b, 60))
                    }
                };
                let _ = write!(
                    out,
                    "{:>8}: {:02x} {:indent$}{:<16} {}",
                    op.pos,
                    op.code,
                    "",
                    name,
                    arg,
                    indent = depth.min(20) * 2
                );
                if let Some(rts) = fails.get(&op.pos) {
                    let _ = write!(out, "   <-- fails on {}", rts.join(", "));
                }
                out.push('\n');
                if op.code == code::MARK {
                    depth += 1;
                }
            }
            if let Err(e) = p.end {
                let _ = write!(out, "{:>8}: ({:?})", e.pos, e.kind);
                if let Some(rts) = fails.get(&e.pos) {
                    let _ = write!(out, "   <-- fails on {}", rts.join(", "));
                }
                out.push('\n');
            }
        }
        let _ = writeln!(
            out,
            "protocol: {} (header {}, highest opcode protocol {})",
            self.protocol,
            self.proto_header
                .map_or("none".to_string(), |p| p.to_string()),
            self.highest_opcode_protocol
        );
        if !self.globals.is_empty() {
            let names: Vec<String> = self
                .globals
                .iter()
                .map(|g| format!("{}.{}", g.module, g.name))
                .collect();
            let _ = writeln!(out, "globals: {}", names.join(", "));
        }
        for d in &self.dangerous {
            let _ = writeln!(out, "DANGER: loading this pickle can run code: {d}");
        }
        for u in &self.unknown_globals {
            let _ = writeln!(out, "UNKNOWN GLOBAL: loading this pickle calls {u}");
        }
        let _ = writeln!(out, "\nverdicts:");
        // Group consecutive runtimes with the same verdict.
        let mut groups: Vec<(Vec<String>, &Verdict)> = Vec::new();
        for rt in &self.order {
            let key = rt.to_string();
            let Some(v) = self.verdicts.get(&key) else {
                continue;
            };
            match groups.last_mut() {
                Some((names, prev))
                    if prev.outcome == v.outcome
                        && prev.error == v.error
                        && prev.value == v.value
                        && prev.reason == v.reason =>
                {
                    names.push(key)
                }
                _ => groups.push((vec![key], v)),
            }
        }
        for (names, v) in groups {
            let label = if names.len() > 2 {
                format!("{} .. {}", names[0], names[names.len() - 1])
            } else {
                names.join(", ")
            };
            match v.outcome {
                "ok" => {
                    let val = v.value.as_deref().unwrap_or("");
                    let shown = if val.len() > 200 {
                        let mut cut = 200;
                        while !val.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        format!("{}...", &val[..cut])
                    } else {
                        val.to_string()
                    };
                    let _ = writeln!(out, "  {label:<20} loads   {shown}");
                    if let Some(r) = &v.reason {
                        let _ = writeln!(out, "  {:<20}         ({r})", "");
                    }
                }
                "fails" => {
                    let _ = writeln!(
                        out,
                        "  {label:<20} FAILS   {}",
                        v.error.as_deref().unwrap_or("")
                    );
                    if let Some(at) = v.at {
                        let name = self
                            .parsed
                            .as_ref()
                            .and_then(|p| p.ops.iter().find(|o| o.pos == at))
                            .and_then(|o| ops::info(o.code))
                            .map_or("", |i| i.name);
                        let _ = writeln!(out, "  {:<20}         at offset {at} {name}", "");
                    }
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "  {label:<20} unknown {}",
                        v.reason.as_deref().unwrap_or("")
                    );
                }
            }
        }
        out
    }

    /// Whether any runtime fails to load it (exit status 1).
    pub fn any_fails(&self) -> bool {
        self.verdicts.values().any(|v| v.outcome == "fails")
    }
}

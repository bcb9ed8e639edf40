//! The baseline: findings accepted on purpose, each with a reason (docs/config.md).
//!
//! ```toml
//! [[accept]]
//! pattern = "page:py27:*"
//! check = "round_trip"
//! code = "CC002"
//! reason = "rollback is not planned for this release"
//! ```

use super::{CHECKS, Finding, Hazard, Level, SECURITY};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    pub pattern: String,
    pub check: String,
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    accept: Vec<Accept>,
}

/// Errors reading a baseline (the tool's own: exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BaselineError {
    #[error("{path}: {msg}")]
    Read { path: String, msg: String },
}

/// Parse a baseline file's text; `path` names it in messages.
pub fn parse(path: &str, text: &str) -> Result<Vec<Accept>, BaselineError> {
    let err = |msg: String| BaselineError::Read {
        path: path.to_string(),
        msg,
    };
    let f: File = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    for (i, a) in f.accept.iter().enumerate() {
        if Hazard::parse(&a.code).is_none() {
            return Err(err(format!(
                "accept #{}: unknown hazard code {:?} (see docs/hazards.md)",
                i + 1,
                a.code
            )));
        }
        if !CHECKS.contains(&a.check.as_str()) && a.check != SECURITY {
            return Err(err(format!(
                "accept #{}: unknown check {:?} (one of {}, {SECURITY})",
                i + 1,
                a.check,
                CHECKS.join(", ")
            )));
        }
        if a.reason.trim().is_empty() {
            return Err(err(format!(
                "accept #{}: every accepted finding needs a reason",
                i + 1
            )));
        }
    }
    Ok(f.accept
        .into_iter()
        .map(|mut a| {
            // Codes may be given by slug; compare by code.
            if let Some(h) = Hazard::parse(&a.code) {
                a.code = h.code().to_string();
            }
            a
        })
        .collect())
}

pub fn load(path: &str) -> Result<Vec<Accept>, BaselineError> {
    let text = std::fs::read_to_string(path).map_err(|e| BaselineError::Read {
        path: path.to_string(),
        msg: e.to_string(),
    })?;
    parse(path, &text)
}

/// A baseline accepting every listed finding (level above allow), each with a placeholder reason
/// to be replaced by the real one (or the reason an earlier baseline gave).
pub fn render<'a>(findings: impl Iterator<Item = &'a Finding>) -> String {
    let mut out = String::from(
        "# cache-compat baseline: findings accepted on purpose. Each needs a reason; a finding\n\
         # that no longer occurs is reported as stale. Matched by pattern + check + code.\n",
    );
    for f in findings.filter(|f| f.level != Level::Allow) {
        let reason = f
            .accepted
            .clone()
            .unwrap_or_else(|| "TODO: say why this finding is accepted".to_string());
        let _ = write!(
            out,
            "\n[[accept]]\npattern = {}\ncheck = {}\ncode = {}  # {}\nreason = {}\n",
            toml_str(&f.pattern),
            toml_str(f.check),
            toml_str(f.code),
            f.slug,
            toml_str(&reason)
        );
    }
    out
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

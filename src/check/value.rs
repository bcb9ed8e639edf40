//! The verdict on one value as the report receives it: its key, envelope, the five checks and
//! the security audit's findings.

use super::Checks;
use super::security;
use serde::Serialize;
use std::fmt::Write;

/// The verdict on one value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValueResult {
    pub key: String,
    pub field: Option<String>,
    pub envelope: &'static str,
    pub protocol: Option<u8>,
    pub checks: Option<Checks>,
    /// With `--writer auto` (either side): the profile inferred from this value's envelope,
    /// e.g. `auto:cachelib` or `auto:pickle(protocol 2)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// Set where the value is not a pickle or could not be unwrapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Known-dangerous globals its load references or calls (CC020 code-on-load).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dangerous: Vec<String>,
    /// Callables its load calls that the tool does not know (CC021 unknown-global).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_globals: Vec<String>,
    /// Application classes its load calls (not findings; `--app-class`, or every module outside
    /// the standard library by default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub app_classes: Vec<String>,
    /// The security findings as data: kind, global, offset, opcode, reason, called_by.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<security::Finding>,
}

impl ValueResult {
    pub fn has_finding(&self) -> bool {
        self.checks.as_ref().is_some_and(Checks::has_finding) || !self.security.is_empty()
    }

    pub(crate) fn set_audit(&mut self, a: security::Audit) {
        self.dangerous = a.dangerous();
        self.unknown_globals = a.unknown();
        self.app_classes = a.app_classes;
        self.security = a.findings;
    }
}

/// Bytes as cli.md writes keys: UTF-8 as is, other bytes as Python-style `\xNN`.
pub fn show_key(b: &[u8]) -> String {
    let mut s = String::new();
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        for &x in chunk.invalid() {
            let _ = write!(s, "\\x{x:02x}");
        }
    }
    s
}

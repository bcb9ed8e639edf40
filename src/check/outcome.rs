//! The outcome of a check as data: ok, a [`Change`], a [`Failure`] with the step that raised,
//! skipped, or [`Unknown`] with its reason; the sentence and the hazard code are derived from it.

use super::{Change, Hazard, hazard};
use crate::runtime::{PyError, Runtime};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::fmt;

/// An exception a check met: what the runtime raised, and in which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: PyError,
    /// Raised while this runtime wrote the value back at this protocol (else: while reading).
    pub write_back: Option<(Runtime, u8)>,
}

impl Failure {
    pub fn read(error: PyError) -> Failure {
        Failure {
            error,
            write_back: None,
        }
    }

    pub fn hazard(&self) -> Hazard {
        match self.write_back {
            Some(_) => Hazard::WriteBackFails,
            None => hazard::of_error(&self.error),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.write_back {
            None => write!(f, "{}", self.error),
            Some((rt, p)) => write!(
                f,
                "{} (while {rt} wrote it back at protocol {p})",
                self.error
            ),
        }
    }
}

/// Why the models cannot say.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unknown {
    /// The value's verdict went over its budget (`[budgets]` `verdict_ops` or `verdict_bytes`).
    OverBudget { limit: &'static str },
    /// A feature the models do not know, or a budget of one load.
    Unmodelled(String),
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unknown::OverBudget { limit } => write!(
                f,
                "over the verdict budget ({limit}): the value is too large or too costly to judge in full; raise [budgets] {limit} or --{}",
                limit.replace('_', "-")
            ),
            Unknown::Unmodelled(s) => f.write_str(s),
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    Ok,
    /// Loads, but into a different value; the change says where and how.
    Changes(Box<Change>),
    /// The runtime raises (the error as Python prints it) or cannot write the value back.
    Fails(Failure),
    /// An earlier step failed, so this one cannot happen.
    Skipped,
    /// The models cannot say (budget exceeded, a feature not modelled).
    Unknown(Unknown),
}

impl Check {
    pub fn is_finding(&self) -> bool {
        matches!(self, Check::Changes(_) | Check::Fails(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Changes(_) => "changes",
            Check::Fails(_) => "fails",
            Check::Skipped => "skipped",
            Check::Unknown(_) => "unknown",
        }
    }

    /// The finding's hazard; `None` for `ok` and `skipped`.
    pub fn hazard(&self) -> Option<Hazard> {
        match self {
            Check::Ok | Check::Skipped => None,
            Check::Changes(c) => Some(c.hazard()),
            Check::Fails(e) => Some(e.hazard()),
            Check::Unknown(_) => Some(Hazard::NotModelled),
        }
    }

    /// The sentence: the explanation, the error as Python prints it, or the reason.
    pub fn text(&self) -> Option<String> {
        match self {
            Check::Ok | Check::Skipped => None,
            Check::Changes(c) => Some(c.to_string()),
            Check::Fails(e) => Some(e.to_string()),
            Check::Unknown(u) => Some(u.to_string()),
        }
    }

    /// Whether the verdict's budget ran out here.
    pub fn over_budget(&self) -> bool {
        matches!(self, Check::Unknown(Unknown::OverBudget { .. }))
    }

    pub(super) fn fails(error: PyError) -> Check {
        Check::Fails(Failure::read(error))
    }

    /// `unknown` because the verdict's meter is over its budget (the limit it passed named).
    pub(super) fn budget_spent() -> Check {
        Check::Unknown(Unknown::OverBudget {
            limit: crate::meter::exceeded().unwrap_or("verdict_ops"),
        })
    }

    pub(super) fn unknown(reason: impl Into<String>) -> Check {
        Check::Unknown(Unknown::Unmodelled(reason.into()))
    }
}

/// `{"outcome": "changes", "explanation": ...}`, `{"outcome": "fails", "error": ...}`,
/// `{"outcome": "unknown", "reason": ...}` (docs/formats.md).
impl Serialize for Check {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let field = match self {
            Check::Changes(_) => Some("explanation"),
            Check::Fails(_) => Some("error"),
            Check::Unknown(_) => Some("reason"),
            Check::Ok | Check::Skipped => None,
        };
        let mut m = s.serialize_map(Some(1 + usize::from(field.is_some())))?;
        m.serialize_entry("outcome", self.name())?;
        if let (Some(name), Some(text)) = (field, self.text()) {
            m.serialize_entry(name, &text)?;
        }
        m.end()
    }
}

/// The five checks of one value.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    pub old_reads: Check,
    pub new_reads: Check,
    pub old_reads_new_write: Check,
    pub new_reads_old_write: Check,
    pub round_trip: Check,
}

impl Checks {
    pub fn all(&self) -> [(&'static str, &Check); 5] {
        [
            ("old_reads", &self.old_reads),
            ("new_reads", &self.new_reads),
            ("old_reads_new_write", &self.old_reads_new_write),
            ("new_reads_old_write", &self.new_reads_old_write),
            ("round_trip", &self.round_trip),
        ]
    }

    pub fn has_finding(&self) -> bool {
        self.all().iter().any(|(_, c)| c.is_finding())
    }
}

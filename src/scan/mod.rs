//! `scan`: the pipeline that joins the stages: samples from a source, each value's verdict
//! (envelope, the five checks and the security audit, under one budget per value), on every core,
//! into the report's aggregation, with progress on standard error.

pub mod pipeline;
pub mod progress;
pub mod verdict;

pub use verdict::{VerdictCache, judge, judge_cached};

//! cache-compat: says, before a deploy, whether the pickled values in a Redis cache survive a change
//! of Python runtime. It reads every pickle opcode without executing anything and models what each
//! runtime does with the bytes.
#![forbid(unsafe_code)]

pub mod check;
pub mod config;
pub mod envelope;
pub mod fasthash;
pub mod inspect;
pub mod meter;
pub mod pickle;
pub mod report;
pub mod runtime;
pub mod sample;
pub mod scan;
pub mod source;

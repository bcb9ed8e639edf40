//! The pickle reader: opcodes and a bounded, non-executing parser.

pub mod ops;
pub mod parse;

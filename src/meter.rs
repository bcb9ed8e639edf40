//! The work meter: one budget for the whole verdict of one value (both runtimes' loads, every
//! dump, the five checks and the explanation). Each stage charges the work it does (opcodes run,
//! nodes built, saved, compared or fingerprinted) and the bytes it allocates or touches; past
//! either limit every stage stops and the value is a finding (CC090, the budget named), and the
//! scan goes on with the next value.
//!
//! The meter is per thread (a verdict runs on one thread from start to end), so the models need no
//! extra parameter, and the counters are what the tests that prove linear cost read.

use std::cell::Cell;

/// Limits of one verdict. The defaults judge a 64 MiB value of ordinary data in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Units of work: an opcode run, a node built, saved, compared or fingerprinted.
    pub ops: u64,
    /// Bytes allocated or compared by all stages together (the peak memory of a verdict is
    /// below this).
    pub bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ops: 400_000_000,
            bytes: 4 << 30,
        }
    }
}

impl Limits {
    /// No limit (a scope that only counts).
    pub const UNLIMITED: Limits = Limits {
        ops: u64::MAX,
        bytes: u64::MAX,
    };
}

/// What one verdict used so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Used {
    pub ops: u64,
    pub bytes: u64,
}

thread_local! {
    static USED_OPS: Cell<u64> = const { Cell::new(0) };
    static USED_BYTES: Cell<u64> = const { Cell::new(0) };
    static LIMIT_OPS: Cell<u64> = const { Cell::new(u64::MAX) };
    static LIMIT_BYTES: Cell<u64> = const { Cell::new(u64::MAX) };
    static LAST: Cell<Used> = const { Cell::new(Used { ops: 0, bytes: 0 }) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// A verdict's meter, active until dropped (then the previous one, if any, is back).
pub struct Scope {
    saved: (Used, Limits),
}

/// Start metering one verdict on this thread, from zero, under `limits`.
pub fn scope(limits: Limits) -> Scope {
    let saved = (used(), limits_now());
    set(Used::default(), limits);
    DEPTH.with(|d| d.set(d.get() + 1));
    Scope { saved }
}

/// [`scope`], unless a verdict is metered already on this thread (its caller's scope, which
/// covers more steps, e.g. the envelope's decompression, goes on counting).
pub fn scope_unless_metered(limits: Limits) -> Option<Scope> {
    (DEPTH.with(Cell::get) == 0).then(|| scope(limits))
}

impl Drop for Scope {
    fn drop(&mut self) {
        LAST.with(|c| c.set(used()));
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        set(self.saved.0, self.saved.1);
    }
}

/// What the last scope that ended on this thread used (the work of one verdict, for tests and
/// benchmarks that count it).
pub fn last() -> Used {
    LAST.with(Cell::get)
}

fn set(u: Used, l: Limits) {
    USED_OPS.with(|c| c.set(u.ops));
    USED_BYTES.with(|c| c.set(u.bytes));
    LIMIT_OPS.with(|c| c.set(l.ops));
    LIMIT_BYTES.with(|c| c.set(l.bytes));
}

/// The limits of the current scope.
pub fn limits() -> Limits {
    limits_now()
}

fn limits_now() -> Limits {
    Limits {
        ops: LIMIT_OPS.with(Cell::get),
        bytes: LIMIT_BYTES.with(Cell::get),
    }
}

/// The work and bytes charged in the current scope.
pub fn used() -> Used {
    Used {
        ops: USED_OPS.with(Cell::get),
        bytes: USED_BYTES.with(Cell::get),
    }
}

/// Charge `n` units of work; false once the scope is over either of its limits.
#[inline]
pub fn ops(n: u64) -> bool {
    USED_OPS.with(|c| c.set(c.get().saturating_add(n)));
    !over()
}

/// Charge `n` bytes; false once the scope is over either of its limits.
#[inline]
pub fn bytes(n: u64) -> bool {
    USED_BYTES.with(|c| c.set(c.get().saturating_add(n)));
    !over()
}

/// Whether the current scope is over either limit.
#[inline]
pub fn over() -> bool {
    let u = used();
    let l = limits_now();
    u.ops > l.ops || u.bytes > l.bytes
}

/// Which limit the current scope is over, as `[budgets]` names it.
pub fn exceeded() -> Option<&'static str> {
    let u = used();
    let l = limits_now();
    if u.ops > l.ops {
        Some("verdict_ops")
    } else if u.bytes > l.bytes {
        Some("verdict_bytes")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_count_from_zero_and_nest() {
        let outer = scope(Limits {
            ops: 10,
            bytes: 100,
        });
        assert!(ops(4));
        {
            let _inner = scope(Limits { ops: 2, bytes: 100 });
            assert!(ops(2));
            assert!(!ops(1));
            assert_eq!(exceeded(), Some("verdict_ops"));
        }
        assert_eq!(used().ops, 4);
        assert!(!over());
        assert!(!bytes(101));
        assert_eq!(exceeded(), Some("verdict_bytes"));
        // Over one limit, every charge says stop.
        assert!(!ops(0));
        drop(outer);
    }
}

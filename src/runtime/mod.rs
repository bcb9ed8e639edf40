//! Runtime models: what each Python runtime does with a pickle, without running Python.
//!
//! Every fact about a Python version lives in [`Facts`] (one table per runtime family) or in the
//! tables `generated.rs` holds, which `tools/gen_runtime_tables.py` wrote from the real interpreters.
//! `tests/runtime_tables.rs` and the corpus tests hold both against the real interpreters.

pub mod codec;
pub mod dump;
pub mod generated;
pub mod load;
pub mod py2hash;
pub mod render;
pub mod repr;
pub mod value;

use std::fmt;

/// A Python runtime, as cli.md names them: `2.7` (cPickle), `2.7-pickle`, `3.0` ... `3.15`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Runtime {
    pub major: u8,
    pub minor: u8,
    /// The pure-Python `pickle` module of 2.7 (`2.7-pickle`) rather than cPickle.
    pub pure: bool,
}

impl Runtime {
    pub const fn new(major: u8, minor: u8) -> Runtime {
        Runtime {
            major,
            minor,
            pure: false,
        }
    }

    /// Every runtime the models know, oldest first.
    pub fn all() -> Vec<Runtime> {
        let mut v = vec![
            Runtime::new(2, 7),
            Runtime {
                major: 2,
                minor: 7,
                pure: true,
            },
        ];
        v.extend((0..=15).map(|m| Runtime::new(3, m)));
        v
    }

    /// Parse `2.7`, `2.7-pickle`, `3.8`, `py3.8`, `python3.8`.
    pub fn parse(s: &str) -> Option<Runtime> {
        let s = s.trim();
        let s = s
            .strip_prefix("python")
            .or_else(|| s.strip_prefix("py"))
            .unwrap_or(s);
        let (s, pure) = match s.strip_suffix("-pickle") {
            Some(rest) => (rest, true),
            None => (s.strip_suffix("-cpickle").unwrap_or(s), false),
        };
        let (a, b) = s.split_once('.')?;
        let rt = Runtime {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
            pure,
        };
        Runtime::all().contains(&rt).then_some(rt)
    }

    pub fn is_py2(&self) -> bool {
        self.major == 2
    }

    /// The facts table of this runtime.
    pub fn facts(&self) -> Facts {
        facts(*self)
    }

    /// The name of the generated table set that describes this runtime, if one was generated
    /// (the interpreters present when it was: 2.7, 3.6-3.13, 3.14 under Pyodide and 3.15.2,
    /// Debian's build).
    pub fn tables(&self) -> Option<&'static generated::RuntimeTables> {
        let name = if self.is_py2() {
            "2.7".to_string()
        } else {
            format!("3.{}", self.minor)
        };
        generated::tables(&name)
    }

    /// The nearest runtime with generated tables (3.0-3.5 use 3.6's), for facts that are stated
    /// as assumptions for runtimes no interpreter here runs.
    pub fn tables_or_nearest(&self) -> &'static generated::RuntimeTables {
        if let Some(t) = self.tables() {
            return t;
        }
        let name = if self.is_py2() {
            "2.7"
        } else if self.minor < 6 {
            "3.6"
        } else {
            "3.13"
        };
        generated::tables(name).expect("generated tables cover 2.7, 3.6 and 3.13")
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.pure {
            f.write_str("-pickle")?;
        }
        Ok(())
    }
}

/// How a runtime reports a GET of a memo index that was never PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoMissing {
    /// `cPickle.BadPickleGet: N` (2.7 cPickle).
    BadPickleGet,
    /// `KeyError: N` (2.7 pickle, 3.x up to 3.8).
    KeyError,
    /// `_pickle.UnpicklingError: Memo value not found at index N` (3.9+).
    NotFound,
}

/// The facts of one runtime that the load and dump models consult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// `pickle.HIGHEST_PROTOCOL`. pickle-semantics.md §1.1 [V] for 2.7, 3.6-3.13, [S] for the rest;
    /// `tests/runtime_tables.rs` checks it against the generated tables.
    pub highest_protocol: u8,
    /// What `dumps()` writes with no protocol argument (2.7: 0; 3.0-3.7: 3; 3.8-3.13: 4; 3.14 and
    /// 3.15: 5; 3.15.2's `pickle.DEFAULT_PROTOCOL`, held by `tests/runtime_tables.rs`).
    pub default_protocol: u8,
    /// Opcodes introduced by protocols above this are unknown to the loader (`invalid load key`).
    pub opcode_protocol: u8,
    /// `encoding='bytes'` exists (3.4+, bpo-6784).
    pub encoding_bytes: bool,
    pub memo_missing: MemoMissing,
    /// The exception a missing module raises: `ImportError` (2.7-3.5) or `ModuleNotFoundError`.
    pub module_not_found: &'static str,
    /// INT/LONG text with more than 4,300 digits raises ValueError (3.11+ and the 3.7.14+,
    /// 3.8.14+, 3.9.14+, 3.10.7+ security releases; the local 3.7.16-3.10.13 have it, 3.6.15 not).
    pub int_max_str_digits: Option<usize>,
    /// The pickler writes small ints at protocol 0 as LONG (`L5L`): 3.0-3.6. 3.7+ writes `I5`.
    pub p0_int_as_long: bool,
    /// 3.7+ pre-escapes `\0`, `\r`, `\x1a` in protocol-0 UNICODE (3.6 only `\` and `\n`).
    pub p0_unicode_escapes_ctrl: bool,
    /// 3.7+ leaves out frames shorter than 4 bytes; 3.4-3.6 frame everything at protocol 4.
    pub frames_min_4: bool,
    /// 3.8+ pickles `bytearray` at protocol < 3 through `_codecs.encode` (3.6/3.7: `(text, 'latin-1')`).
    pub bytearray_via_codecs: bool,
    /// The digit-limit message says `(4300 digits)` (3.11+) rather than `(4300)` (the 3.7-3.10
    /// security backports). Corpus: `int_digits_4301`.
    pub int_limit_says_digits: bool,
    /// Float parse errors quote the text (`'1e400\n'`): 3.8+. Corpus: `hostile_small/float_text`.
    pub float_error_quoted: bool,
    /// The persistent-id error joins its two sentences with a space (3.12+) or a newline.
    pub persid_msg_space: bool,
    /// PERSID arguments must be ASCII (3.13+: `persistent IDs in protocol 0 must be ASCII strings`).
    pub persid_ascii_check: bool,
    /// NEWOBJ's errors name the offending type (3.10+: `NEWOBJ args argument must be a tuple, not
    /// NoneType`); before: `NEWOBJ expected an arg tuple.`
    pub newobj_detailed_errors: bool,
    /// Argument Clinic names keyword arguments in TypeErrors (3.10+: `bytearray() argument
    /// 'encoding' must be str, not bytes`; before: `argument 2`). Corpus: bytearray_ab, bytes mode.
    pub clinic_names_args: bool,
    /// STACK_GLOBAL on a short stack reports the underflow (3.11+); before, `STACK_GLOBAL
    /// requires str`. Corpus: pickletester/test_bad_stack.
    pub stack_global_reports_underflow: bool,
    /// INT and LONG text is read in base 10 (3.14+, gh-?: `I010` is 10, `I0x10` a ValueError);
    /// before, base 0 (`0x`/`0o` prefixes, a leading 0 is octal for INT). Corpus:
    /// hostile_small/int_text, long_text.
    pub int_text_base10: bool,
    /// find_class lets getattr's error through (3.14+: `module 'os' has no attribute 'x'`, and
    /// `Can't resolve path 'a.b' on module 'm'` for a dotted name); before, `Can't get attribute
    /// 'x' on <module ...>`. Corpus: hostile_small/global, pickletester/test_load_stack_global.
    pub find_class_plain_getattr: bool,
    /// Dicts and sets name the role of an unhashable key (3.14+: `cannot use 'list' as a dict
    /// key (unhashable type: 'list')`). Corpus: hostile_small/type_error.
    pub unhashable_names_role: bool,
    /// `Fraction(b'...')`'s TypeError adds `or have the as_integer_ratio() method` (3.14+).
    /// Corpus: fraction read with encoding='bytes'.
    pub fraction_error_names_ratio: bool,
    /// The C unpickler keeps to the current frame as pickle.py's `_Unframer` does (3.15+): a
    /// read that starts inside a frame and ends past it raises `pickle exhausted before end of
    /// frame`, and a FRAME read while the current one has bytes left `beginning of a new frame
    /// before end of current frame`; before, frames were only checked against the data's end.
    /// Checked on 3.15.2 (corpus hostile_small/frame/6, and by hand: an INT line, a BININT and a
    /// BINUNICODE length each cut by the frame's end raise, a read starting at the end does not).
    pub frames_bound_reads: bool,
    /// A BINSTRING size that is negative as a signed 4-byte int (>= 2**31) raises `BINSTRING
    /// pickle has negative byte count` (3.14+); before, the C unpickler found the data truncated.
    /// Checked on CPython 3.15.2 and 3.14.10, Debian's native x86-64 builds (corpus
    /// hostile_small/binstring_negative/1-3; 3.14.10 by hand), which also shows that Pyodide's
    /// 3.14.2 says the same for this reason, not for its 32-bit `Py_ssize_t`.
    pub binstring_negative_reported: bool,
    /// INT is a bool only for the exact texts `00` and `01` (3.15+); before, any two-byte text
    /// whose value is 0 or 1 (`I-0` is False, `I 1` and `I+1` True). Checked on 3.15.2 (corpus
    /// hostile_small/int_text/6 and /8; by hand `I+1` is 1, `I00` False, `I01` True).
    pub int_bool_exact_text: bool,
    /// `array.array`'s typecode TypeError says `must be str, not bytes` (3.15+); before, `must be
    /// a unicode character, not bytes`. Corpus: array values read with encoding='bytes' on 3.15.2.
    pub array_typecode_says_str: bool,
    /// The C pickler writes the last batch of an exact list or dict, when it holds a single item,
    /// as a plain APPEND/SETITEM (3.15+, as pickle.py and the generic path always did); up to
    /// 3.14 under MARK ... APPENDS/SETITEMS. Checked on 3.15.2: corpus list_1001 (tests/dump.rs),
    /// and by hand lists and dicts of 1001 and 2001 items at protocols 1, 2 and 4 (sets keep
    /// ADDITEMS under MARK).
    pub pickler_last_single_plain: bool,
    /// `date`/`datetime` called with a str or bytes that is not a state and fewer than three
    /// arguments say the first missing one (3.15+: `datetime() missing required argument 'month'
    /// (pos 2)`, `'day' (pos 3)` for two); before, `'str' object cannot be interpreted as an
    /// integer`. `time` is unchanged. Checked on 3.15.2: tests/proptest_interpreters.rs (py2 `str`
    /// datetime states read with encoding='utf-8'), and by hand against 3.13.0.
    pub date_args_counted_first: bool,
    /// The C pickler's recursion budget: the most recursion units a `dumps` called from a
    /// script's top level (the shallowest stack a caller has) gets through at the default
    /// recursion limit; one unit more raises `{recursion_error}: maximum recursion depth
    /// exceeded while pickling an object`. Units (`Py_EnterRecursiveCall`): one per object
    /// saved (3.x: not for None, bool, int, float, str and bytes, which `save()` writes first:
    /// see `pickler_atoms_free`), one more for a non-empty list or dict (its batch). Measured on
    /// the real interpreters (`tests/recursion.rs`): 2.7 999, 3.6 999, 3.7-3.10 998, 3.11 999
    /// (the limit 1000 is shared with the caller's Python frames), 3.12 1498 and 3.13 9999 (the
    /// C recursion limit, which Python frames do not count). `None`: not measured (3.0-3.5;
    /// 3.14, whose native build guards the C stack by its size and whose Pyodide build dies of
    /// a JavaScript stack overflow instead; 3.15, which guards the C stack by its size like a
    /// native 3.14; the pure-Python 2.7 pickler).
    pub pickler_recursion_limit: Option<u32>,
    /// Units below `pickler_recursion_limit` where the caller's own stack decides (the caller's
    /// Python frames count up to 3.11; from 3.12 only C calls do, e.g. 3 under `exec`): there a
    /// dump is `unknown`. Below the band a dump is modelled as it would be at any depth (an
    /// assumption: the caller is less than that many frames deep); above the limit it raises.
    pub pickler_caller_band: u32,
    /// 3.x `save()` writes None, bool, int, float, str and bytes before entering the recursion
    /// check (measured: a chain of 1-tuples ending in `1` gets one level deeper than one ending
    /// in `()`); 2.7 cPickle counts them too.
    pub pickler_atoms_free: bool,
    /// The exception of a too deep recursion: `RuntimeError` (2.7), `RecursionError` (3.5+).
    pub recursion_error: &'static str,
    /// `_datetime.c`'s sanity test of a `time` state given as a str reads its third character
    /// for the hour (3.6 only; later versions and bytes states read the first). Checked by the
    /// 3.6 corpus and property tests: `time(0, 0, 24)` with a str state fails there.
    pub time_text_state_checks_third: bool,
    /// `uuid.UUID` has `__setstate__` (3.7+): it reads `state['int']` (and `is_safe`); 2.7 and
    /// 3.6 set the instance dict. Checked by the corpus (UUIDs written by 2.7 and 3.6-3.13).
    pub uuid_setstate: bool,
    /// 3.7's `UUID.__setstate__` updates the `__dict__` with every key of the state before it
    /// sets `is_safe`; 3.8+ has slots and sets only `int` and `is_safe`. Corpus: UUIDs read by 3.7.
    pub uuid_state_updates_dict: bool,
    /// `UUID` has `__slots__` (3.8+): its value shows by its repr in the canonical rendering.
    pub uuid_slots: bool,
    /// `repr(timedelta)` uses keyword arguments (`datetime.timedelta(days=1)`: 3.7+, and 2.7's
    /// timezone repr rule here); 3.6 is positional. Checked by the corpus's timezone values.
    pub timedelta_repr_keywords: bool,
}

fn facts(rt: Runtime) -> Facts {
    let (maj, min) = (rt.major, rt.minor);
    if maj == 2 {
        return Facts {
            highest_protocol: 2,
            default_protocol: 0,
            opcode_protocol: 2,
            encoding_bytes: false,
            memo_missing: if rt.pure {
                MemoMissing::KeyError
            } else {
                MemoMissing::BadPickleGet
            },
            module_not_found: "ImportError",
            int_max_str_digits: None,
            p0_int_as_long: false,
            p0_unicode_escapes_ctrl: false,
            frames_min_4: false,
            bytearray_via_codecs: false,
            int_limit_says_digits: false,
            float_error_quoted: false,
            persid_msg_space: false,
            persid_ascii_check: false,
            newobj_detailed_errors: false,
            clinic_names_args: false,
            stack_global_reports_underflow: false,
            int_text_base10: false,
            find_class_plain_getattr: false,
            unhashable_names_role: false,
            fraction_error_names_ratio: false,
            binstring_negative_reported: false,
            frames_bound_reads: false,
            pickler_last_single_plain: false,
            date_args_counted_first: false,
            int_bool_exact_text: false,
            array_typecode_says_str: false,
            pickler_recursion_limit: if rt.pure { None } else { Some(999) },
            pickler_caller_band: 250,
            pickler_atoms_free: false,
            recursion_error: "RuntimeError",
            time_text_state_checks_third: false,
            uuid_setstate: false,
            uuid_state_updates_dict: false,
            uuid_slots: false,
            timedelta_repr_keywords: true,
        };
    }
    // 3.15 has 3.14's facts but for the five it changed (frames_bound_reads,
    // int_bool_exact_text, array_typecode_says_str, pickler_last_single_plain,
    // date_args_counted_first, each checked as its comment says); each one the corpus and dump tests consult was held against the
    // real CPython 3.15.2 (Debian's build, tools/debian-py/install.sh) by tests/corpus.rs,
    // tests/dump.rs and tests/main_script.rs with 3.15 as a reader (0 disagreements), and the
    // protocols and loader errors by tests/runtime_tables.rs against its generated tables.
    // What 3.15 changed lives in those tables (generated from 3.15.2): `_compat_pickle` dropped
    // CGIHTTPServer, and sre_compile/sre_constants/sre_parse are gone (ModuleNotFoundError).
    // Two more changes, checked by hand on 3.15.2, concern code the models do not follow: the
    // pure-Python `pickle._loads` raises EOFError on a FRAME longer than the data (3.14 loads
    // on; the C `_pickle`, which the 3.x models describe, says `pickle data was truncated` in
    // both), and save_global pickles a private nested class `A.__B` by its mangled name
    // `A._A__B` (3.14 raises PicklingError); the dump model leaves a dotted global it does not
    // know unmodelled (render::global_predictable), so it writes no such class either way. The memo error text is unchanged (`Memo value
    // not found at index 5`, both unpicklers).
    let highest = match min {
        0..=3 => 3,
        4..=7 => 4,
        _ => 5,
    };
    Facts {
        highest_protocol: highest,
        default_protocol: match min {
            0..=7 => 3,
            8..=13 => 4,
            _ => 5,
        },
        opcode_protocol: highest,
        encoding_bytes: min >= 4,
        memo_missing: if min <= 8 {
            MemoMissing::KeyError
        } else {
            MemoMissing::NotFound
        },
        module_not_found: if min >= 6 {
            "ModuleNotFoundError"
        } else {
            "ImportError"
        },
        int_max_str_digits: if min >= 7 { Some(4300) } else { None },
        p0_int_as_long: min <= 6,
        p0_unicode_escapes_ctrl: min >= 7,
        frames_min_4: min >= 7,
        bytearray_via_codecs: min >= 8,
        int_limit_says_digits: min >= 11,
        float_error_quoted: min >= 8,
        persid_msg_space: min >= 12,
        persid_ascii_check: min >= 13,
        newobj_detailed_errors: min >= 10,
        clinic_names_args: min >= 10,
        stack_global_reports_underflow: min >= 11,
        int_text_base10: min >= 14,
        find_class_plain_getattr: min >= 14,
        unhashable_names_role: min >= 14,
        fraction_error_names_ratio: min >= 14,
        binstring_negative_reported: min >= 14,
        frames_bound_reads: min >= 15,
        pickler_last_single_plain: min >= 15,
        date_args_counted_first: min >= 15,
        int_bool_exact_text: min >= 15,
        array_typecode_says_str: min >= 15,
        pickler_recursion_limit: match min {
            6 | 11 => Some(999),
            7..=10 => Some(998),
            12 => Some(1498),
            13 => Some(9999),
            _ => None,
        },
        pickler_caller_band: if min >= 12 { 50 } else { 250 },
        pickler_atoms_free: true,
        recursion_error: if min >= 5 {
            "RecursionError"
        } else {
            "RuntimeError"
        },
        time_text_state_checks_third: min == 6,
        uuid_setstate: min >= 7,
        uuid_state_updates_dict: min == 7,
        uuid_slots: min >= 8,
        timedelta_repr_keywords: min >= 7,
    }
}

/// The load options an application passes to `pickle.loads` (3.x only; 2.7 takes none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    pub encoding: String,
    pub errors: String,
    pub fix_imports: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            encoding: "ASCII".into(),
            errors: "strict".into(),
            fix_imports: true,
        }
    }
}

impl LoadOptions {
    /// Parse `encoding=latin1,errors=strict,fix_imports=false` (any subset, any order).
    pub fn parse(s: &str) -> Result<LoadOptions, String> {
        let mut o = LoadOptions::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {part:?}"))?;
            match k.trim() {
                "encoding" => o.encoding = v.trim().to_string(),
                "errors" => o.errors = v.trim().to_string(),
                "fix_imports" => {
                    o.fix_imports = match v.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        other => {
                            return Err(format!(
                                "fix_imports must be true or false, not {other:?}"
                            ));
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "unknown load option {other:?} (known: encoding, errors, fix_imports)"
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// An exception as Python prints the last line of its traceback: `Type: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyError {
    /// The class name, module-qualified unless builtin (`_pickle.UnpicklingError`, `ValueError`).
    pub ty: String,
    pub msg: String,
}

impl PyError {
    pub fn new(ty: impl Into<String>, msg: impl Into<String>) -> PyError {
        PyError {
            ty: ty.into(),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for PyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.msg.is_empty() {
            f.write_str(&self.ty)
        } else {
            write!(f, "{}: {}", self.ty, self.msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_round_trip() {
        for rt in Runtime::all() {
            assert_eq!(Runtime::parse(&rt.to_string()), Some(rt));
        }
        assert_eq!(Runtime::parse("python3.8"), Some(Runtime::new(3, 8)));
        assert_eq!(Runtime::parse("py2.7"), Some(Runtime::new(2, 7)));
        assert_eq!(Runtime::parse("3.15"), Some(Runtime::new(3, 15)));
        assert_eq!(Runtime::parse("3.16"), None);
        assert_eq!(Runtime::parse("2.6"), None);
    }

    #[test]
    fn load_options_parse() {
        let o = LoadOptions::parse("encoding=latin1, fix_imports=false").unwrap();
        assert_eq!(o.encoding, "latin1");
        assert!(!o.fix_imports);
        assert!(LoadOptions::parse("buffers=1").is_err());
    }
}

//! What two strings that differ became, in the words a developer knows: mojibake, str -> bytes,
//! text -> py2 str, str -> unicode, bytes -> py2 str; and the hints of type changes.

use super::{Kind, Node, Stop, Walk, codec, repr, type_name};
use crate::runtime::Runtime;

impl Walk<'_> {
    /// The change where two strings differ (their types or contents), named as a developer
    /// knows it: mojibake, str -> bytes, text -> py2 str, str -> unicode, bytes -> py2 str.
    pub(super) fn string_change(&self, f: u32, nx: &Node, ny: &Node) -> Stop {
        let (art, brt) = (self.a.rt, self.b.rt);
        let kind = match (nx, ny) {
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() && !p.is_ascii() => {
                let latin1 = codec::decode_latin1(p);
                let (a_repr, b_repr) = (repr::bytes(p, true), repr::text(t, brt.is_py2()));
                if &latin1 == t && std::str::from_utf8(p).is_ok() {
                    Kind::Mojibake { a_repr, b_repr }
                } else {
                    Kind::Py2StrDecoded { a_repr, b_repr }
                }
            }
            (Node::Text(t), Node::Bytes(p)) if brt.is_py2() && !art.is_py2() => {
                Kind::TextBecamePy2Str {
                    a_repr: repr::text(t, false),
                    b_repr: repr::bytes(p, true),
                }
            }
            (Node::Bytes(p), Node::Bytes(q)) if art.is_py2() && !brt.is_py2() && p == q => {
                Kind::StrBecameBytes {
                    a_repr: repr::bytes(p, true),
                    b_repr: repr::bytes(p, false),
                    text_repr: repr::text(p, false),
                    encoding_bytes: self.opts.bytes_enc,
                }
            }
            (Node::Bytes(p), Node::Text(t)) if art.is_py2() && brt.is_py2() && p == t => {
                Kind::StrBecameUnicode {
                    a_repr: repr::bytes(p, true),
                    b_repr: repr::text(t, true),
                }
            }
            (Node::Bytes(p), Node::Bytes(q)) if !art.is_py2() && brt.is_py2() && p == q => {
                Kind::BytesBecamePy2Str {
                    a_repr: repr::bytes(p, false),
                    b_repr: repr::bytes(p, true),
                }
            }
            _ => {
                let same_kind = std::mem::discriminant(nx) == std::mem::discriminant(ny);
                let same_content = match (nx, ny) {
                    (Node::Text(p) | Node::Bytes(p), Node::Text(q) | Node::Bytes(q)) => p == q,
                    _ => false,
                };
                if same_kind || !same_content {
                    Kind::Differs {
                        a_repr: show(nx, art),
                        b_repr: show(ny, brt),
                    }
                } else {
                    Kind::TypeChange {
                        a_type: type_name(nx, art.is_py2()),
                        b_type: type_name(ny, brt.is_py2()),
                        hint: "",
                    }
                }
            }
        };
        self.stop(f, kind)
    }
}

/// The repr of a string node.
fn show(n: &Node, rt: Runtime) -> String {
    match n {
        Node::Text(t) => repr::text(t, rt.is_py2()),
        Node::Bytes(b) => repr::bytes(b, rt.is_py2()),
        _ => String::new(),
    }
}

pub(super) fn type_hint(nx: &Node, ny: &Node) -> &'static str {
    match (nx, ny) {
        (Node::OrderedDict(_), Node::Dict(_)) => {
            ": the order is no longer part of the value, and OrderedDict methods (move_to_end, popitem(last=)) are gone"
        }
        (Node::Dict(_), Node::OrderedDict(_)) => {
            ": equality with a dict now ignores order, but == between two of them does not"
        }
        (Node::Set(_), Node::FrozenSet(_)) => {
            ": it can no longer be changed (add/discard raise AttributeError)"
        }
        (Node::FrozenSet(_), Node::Set(_)) => {
            ": it is no longer hashable (cannot be a dict key or a set member)"
        }
        (Node::List(_), Node::Tuple(_)) | (Node::Tuple(_), Node::List(_)) => {
            ": list == tuple is False"
        }
        _ => "",
    }
}

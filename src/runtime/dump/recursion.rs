//! The picklers' recursion limit: an iterative pre-walk that says, before the recursive dump,
//! whether a value nests past the limit (`Facts::pickler_recursion_limit`).

#![allow(clippy::wildcard_imports)]
use super::*;

/// `Py_EnterRecursiveCall` units of saving a node while its contents are saved
/// (`Facts::pickler_recursion_limit`): one for `save()` (3.x: none for the atoms it writes
/// first), one more for the batch of a non-empty list or dict.
pub(super) fn recursion_cost(node: &Node, atoms_free: bool) -> u32 {
    match node {
        Node::None
        | Node::Bool(_)
        | Node::Int(_)
        | Node::Long(_)
        | Node::Float(_)
        | Node::Text(_)
        | Node::Bytes(_)
            if atoms_free =>
        {
            0
        }
        Node::List(v) if !v.is_empty() => 2,
        Node::Dict(kv) if !kv.is_empty() => 2,
        _ => 1,
    }
}

/// What the real pickler's recursion limit does to this dump, found by an iterative walk in
/// save order (each container once, as the memo writes a second reference as a GET). Past the
/// limit through measured kinds of objects only (`plain_for_recursion`), it raises whatever the
/// caller's stack: `RecursionError` (2.7: `RuntimeError`) `maximum recursion depth exceeded
/// while pickling an object`. Within `pickler_caller_band` of the limit the caller's stack
/// decides, and past it through other objects the cost is not known: not modelled. `Ok(true)`:
/// the value is made of measured kinds only (lists, tuples, dicts, atoms).
pub(super) fn recursion_precheck(heap: &Heap, root: Id, rt: Runtime, proto: u8) -> D<bool> {
    let facts = rt.facts();
    let (limit, band) = match facts.pickler_recursion_limit {
        Some(l) => (l, l.saturating_sub(facts.pickler_caller_band)),
        // Not measured: only the model's own depth bound applies.
        None => return Ok(false),
    };
    let mut seen = vec![false; heap.len()];
    let mut plain = true;
    let mut near = false;
    // (node, its children, the next child, its cost)
    let mut stack: Vec<(Vec<Id>, usize, u32)> = Vec::new();
    let mut units = 0u32;
    let mut next = Some(root);
    loop {
        if let Some(id) = next.take() {
            let node = heap.get(id);
            let kids = heap.children(id);
            if !kids.is_empty() {
                if std::mem::replace(&mut seen[id], true) {
                    // memoized: a GET
                } else {
                    let cost = recursion_cost(node, facts.pickler_atoms_free);
                    plain &= plain_for_recursion(node, proto);
                    units += cost;
                    if units > limit {
                        return Err(if plain {
                            DumpError::Py(PyError::new(
                                facts.recursion_error,
                                "maximum recursion depth exceeded while pickling an object",
                            ))
                        } else {
                            DumpError::Unmodelled(
                                "nesting past the pickler's recursion limit through objects whose recursion cost is not modelled".into(),
                            )
                        });
                    }
                    near |= units > band;
                    stack.push((kids, 0, cost));
                }
            } else {
                let cost = recursion_cost(node, facts.pickler_atoms_free);
                plain &= plain_for_recursion(node, proto);
                if units + cost > limit && plain {
                    return Err(DumpError::Py(PyError::new(
                        facts.recursion_error,
                        "maximum recursion depth exceeded while pickling an object",
                    )));
                }
                near |= units + cost > band;
            }
        }
        let Some(top) = stack.last_mut() else { break };
        if top.1 < top.0.len() {
            next = Some(top.0[top.1]);
            top.1 += 1;
        } else {
            units -= top.2;
            stack.pop();
        }
    }
    if near {
        return Err(DumpError::Unmodelled(
            "nesting near the pickler's recursion limit: the caller's stack depth decides".into(),
        ));
    }
    Ok(plain)
}

/// Objects whose recursion cost and `RecursionError` text were measured on the real picklers
/// (`tests/recursion.rs`): lists, tuples and dicts of them, with None, bool, int, float, str and
/// bytes leaves, at protocol 1 and up; at protocol 0 only lists, tuples, None and bools (a dict
/// or an int there can hit the limit inside `repr()` or a method call, whose message differs:
/// `while getting the repr of an object`, `while calling a Python object`).
pub(super) fn plain_for_recursion(node: &Node, proto: u8) -> bool {
    match node {
        Node::List(_) | Node::Tuple(_) | Node::None | Node::Bool(_) => true,
        Node::Dict(_) | Node::Int(_) | Node::Float(_) | Node::Text(_) | Node::Bytes(_) => {
            proto >= 1
        }
        _ => false,
    }
}

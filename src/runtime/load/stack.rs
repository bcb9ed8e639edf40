//! The unpickler's stack, marks and node arena: pushes, pops and cPickle's/pickle.py's underflow
//! errors, under the load's budgets.

#![allow(clippy::wildcard_imports)]
use super::*;

impl<'a> Vm<'a> {
    // ----- stack --------------------------------------------------------------------------

    pub(super) fn fence(&self) -> usize {
        if self.py2() {
            0
        } else {
            self.marks.last().copied().unwrap_or(0)
        }
    }

    pub(super) fn push(&mut self, id: Id) -> R<()> {
        if self.stack.len() >= self.cfg.budget.max_stack {
            return Err(Fail::Unknown(Unmodelled::Budget("stack")));
        }
        self.stack.push(id);
        Ok(())
    }

    pub(super) fn new_node(&mut self, node: Node, opcode: u8) -> R<Id> {
        if !crate::meter::bytes(NODE_BYTES) {
            return Err(Fail::Unknown(Unmodelled::Budget("verdict")));
        }
        if self.heap.len() >= self.cfg.budget.max_nodes {
            return Err(Fail::Unknown(Unmodelled::Budget("nodes")));
        }
        Ok(self.heap.push(
            node,
            Origin {
                opcode,
                pos: self.pos,
            },
        ))
    }

    pub(super) fn push_new(&mut self, node: Node, opcode: u8) -> R<()> {
        let id = self.new_node(node, opcode)?;
        self.push(id)
    }

    pub(super) fn pop(&mut self) -> R<Id> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.pop().ok_or_else(|| self.underflow())
    }

    /// cPickle's PDATA_POP (STOP, REDUCE, NEWOBJ) says "bad pickle data" on an empty stack.
    pub(super) fn pop_or_bad(&mut self) -> R<Id> {
        if self.py2() && !self.rt.pure && self.stack.is_empty() {
            return Err(self.unpickling_error("bad pickle data"));
        }
        self.pop()
    }

    pub(super) fn top(&self) -> R<Id> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        self.stack.last().copied().ok_or_else(|| self.underflow())
    }

    /// `marker()`: pop the last MARK and return its stack position.
    pub(super) fn marker(&mut self) -> R<usize> {
        match self.marks.pop() {
            Some(m) => Ok(m),
            None => Err(if self.rt.pure {
                Fail::Py(PyError::new("IndexError", "pop from empty list"))
            } else {
                self.unpickling_error("could not find MARK")
            }),
        }
    }

    pub(super) fn charge_bytes(&mut self, n: usize) -> R<()> {
        if !crate::meter::bytes(n as u64) {
            return Err(Fail::Unknown(Unmodelled::Budget("verdict")));
        }
        self.bytes_used = self.bytes_used.saturating_add(n);
        if self.bytes_used > self.cfg.budget.max_bytes {
            return Err(Fail::Unknown(Unmodelled::Budget("bytes")));
        }
        Ok(())
    }
}

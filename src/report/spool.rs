//! The per-value records the renderers print (`--format jsonl`, `json`, `table --all`), kept in
//! bounded memory. Each value is rendered to the text its formats print as it arrives; the records
//! are held in memory up to a byte budget, and beyond it written out as sorted runs to temporary
//! files (removed when the spool is dropped, also on error), which are merged when rendering. The
//! order is the report's: by key, then field (no field first), then the record's own text, so the
//! output does not depend on arrival order.

use crate::check::ValueResult;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

/// Default memory budget of the records held before spilling to disk.
pub const DEFAULT_BUDGET: usize = 16 << 20;
/// Above this many runs on disk, they are merged into one (bounds the open files when rendering).
const MAX_RUNS: usize = 64;

/// Which texts a record carries (only those of the formats asked for are built).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Texts {
    /// The compact JSON line (`jsonl`).
    pub jsonl: bool,
    /// The pretty JSON of the `values` array element (`json`), indented as in the document.
    pub json: bool,
    /// The `every value` block of `table --all`.
    pub table: bool,
}

/// One value's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub field: Option<String>,
    pub has_finding: bool,
    pub jsonl: String,
    pub json: String,
    pub table: String,
}

impl Record {
    pub fn of(v: &ValueResult, texts: Texts) -> Record {
        let mut r = Record {
            key: v.key.clone(),
            field: v.field.clone(),
            has_finding: v.has_finding(),
            jsonl: if texts.jsonl {
                serde_json::to_string(v).unwrap_or_default()
            } else {
                String::new()
            },
            // An element of the document's `values` array sits two levels deep (four spaces);
            // JSON strings never hold a raw newline, so every newline is the layout's.
            json: if texts.json {
                serde_json::to_string_pretty(v)
                    .unwrap_or_default()
                    .replace('\n', "\n    ")
            } else {
                String::new()
            },
            table: if texts.table {
                super::render::table_value(v)
            } else {
                String::new()
            },
        };
        // The serializers leave up to half of a buffer unused: the budget counts what is held.
        r.jsonl.shrink_to_fit();
        r.json.shrink_to_fit();
        r.table.shrink_to_fit();
        r
    }

    /// Heap bytes held by the record's texts.
    fn size(&self) -> usize {
        self.key.capacity()
            + self.field.as_ref().map_or(0, String::capacity)
            + self.jsonl.capacity()
            + self.json.capacity()
            + self.table.capacity()
    }

    fn order(&self, o: &Record) -> Ordering {
        (&self.key, &self.field, &self.jsonl, &self.json, &self.table)
            .cmp(&(&o.key, &o.field, &o.jsonl, &o.json, &o.table))
    }

    fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let put = |w: &mut dyn Write, s: &str| -> io::Result<()> {
            w.write_all(&(s.len() as u64).to_le_bytes())?;
            w.write_all(s.as_bytes())
        };
        put(w, &self.key)?;
        match &self.field {
            Some(f) => {
                w.write_all(&[1])?;
                put(w, f)?;
            }
            None => w.write_all(&[0])?,
        }
        w.write_all(&[u8::from(self.has_finding)])?;
        put(w, &self.jsonl)?;
        put(w, &self.json)?;
        put(w, &self.table)
    }

    /// The next record of a run (None at its end).
    fn read_from(r: &mut impl BufRead) -> io::Result<Option<Record>> {
        if r.fill_buf()?.is_empty() {
            return Ok(None);
        }
        fn get(r: &mut impl Read) -> io::Result<String> {
            let mut n = [0u8; 8];
            r.read_exact(&mut n)?;
            let n = u64::from_le_bytes(n);
            let mut b = Vec::new();
            r.take(n).read_to_end(&mut b)?;
            if b.len() as u64 != n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "spool run truncated",
                ));
            }
            String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        }
        let byte = |r: &mut dyn Read| -> io::Result<u8> {
            let mut b = [0u8; 1];
            r.read_exact(&mut b)?;
            Ok(b[0])
        };
        let key = get(r)?;
        let field = match byte(r)? {
            0 => None,
            _ => Some(get(r)?),
        };
        let has_finding = byte(r)? != 0;
        Ok(Some(Record {
            key,
            field,
            has_finding,
            jsonl: get(r)?,
            json: get(r)?,
            table: get(r)?,
        }))
    }
}

/// A temporary file, removed on drop.
#[derive(Debug)]
struct Run {
    path: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The records, sorted in memory up to a budget and in runs on disk beyond it.
#[derive(Debug, Default)]
pub struct Spool {
    texts: Texts,
    budget: usize,
    mem: Vec<Record>,
    mem_bytes: usize,
    runs: Vec<Run>,
    /// Set once a spill failed: the report cannot list every value, so rendering fails.
    error: Option<String>,
    count: u64,
}

impl Spool {
    pub fn new(texts: Texts, budget: usize) -> Spool {
        Spool {
            texts,
            budget,
            ..Spool::default()
        }
    }

    /// Records kept.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Runs written to disk so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    pub fn push(&mut self, v: &ValueResult) {
        self.count += 1;
        if self.error.is_some() {
            // The report cannot list every value any more (rendering fails): keep nothing.
            return;
        }
        let r = Record::of(v, self.texts);
        self.mem_bytes += r.size();
        self.mem.push(r);
        if self.mem_bytes + self.mem.capacity() * std::mem::size_of::<Record>() > self.budget
            && let Err(e) = self.spill()
        {
            self.error = Some(format!(
                "writing the per-value records to a temporary file in {}: {e}",
                std::env::temp_dir().display()
            ));
            self.mem = Vec::new();
            self.mem_bytes = 0;
        }
    }

    /// Sort the records in memory (before rendering).
    pub fn seal(&mut self) {
        self.mem.sort_by(Record::order);
    }

    fn new_run() -> io::Result<(Run, std::fs::File)> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        loop {
            let path = dir.join(format!(
                "cache-compat-{}-{}.run",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => return Ok((Run { path }, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        self.mem.sort_by(Record::order);
        let (run, f) = Self::new_run()?;
        let mut w = BufWriter::new(f);
        for r in self.mem.drain(..) {
            r.write_to(&mut w)?;
        }
        w.flush()?;
        self.mem_bytes = 0;
        self.runs.push(run);
        if self.runs.len() >= MAX_RUNS {
            // Merge the runs into one.
            let (merged, f) = Self::new_run()?;
            let mut w = BufWriter::new(f);
            let mut it = Merge::new(&[], &self.runs)?;
            while let Some(r) = it.next_record()? {
                r.write_to(&mut w)?;
            }
            w.flush()?;
            drop(it);
            self.runs.clear();
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Fails if a spill failed (the records are incomplete).
    pub fn check(&self) -> io::Result<()> {
        match &self.error {
            Some(e) => Err(io::Error::other(e.clone())),
            None => Ok(()),
        }
    }

    /// Call `f` on every record in order.
    pub fn for_each(&self, mut f: impl FnMut(&Record) -> io::Result<()>) -> io::Result<()> {
        self.check()?;
        let mut it = Merge::new(&self.mem, &self.runs)?;
        while let Some(r) = it.next_record()? {
            f(&r)?;
        }
        Ok(())
    }
}

/// A k-way merge of the sorted records in memory and the runs on disk.
struct Merge<'a> {
    mem: std::slice::Iter<'a, Record>,
    readers: Vec<BufReader<std::fs::File>>,
    /// The head of each source (index `readers.len()` is the in-memory one).
    heap: BinaryHeap<Head>,
}

struct Head {
    rec: Record,
    src: usize,
}

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    // Reversed: BinaryHeap is a max-heap and the smallest record comes first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.rec.order(&self.rec).then(o.src.cmp(&self.src))
    }
}

impl<'a> Merge<'a> {
    fn new(mem: &'a [Record], runs: &[Run]) -> io::Result<Merge<'a>> {
        let mut m = Merge {
            mem: mem.iter(),
            readers: Vec::with_capacity(runs.len()),
            heap: BinaryHeap::with_capacity(runs.len() + 1),
        };
        for run in runs {
            m.readers.push(BufReader::with_capacity(
                64 << 10,
                std::fs::File::open(&run.path)?,
            ));
        }
        for src in 0..=m.readers.len() {
            m.refill(src)?;
        }
        Ok(m)
    }

    fn refill(&mut self, src: usize) -> io::Result<()> {
        let next = match self.readers.get_mut(src) {
            Some(r) => Record::read_from(r)?,
            None => self.mem.next().cloned(),
        };
        if let Some(rec) = next {
            self.heap.push(Head { rec, src });
        }
        Ok(())
    }

    fn next_record(&mut self) -> io::Result<Option<Record>> {
        let Some(h) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(h.src)?;
        Ok(Some(h.rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(key: &str, field: Option<&str>) -> ValueResult {
        ValueResult {
            key: key.into(),
            field: field.map(Into::into),
            envelope: "plain",
            protocol: Some(0),
            checks: None,
            writer: None,
            note: Some(format!("note of {key}")),
            ..ValueResult::default()
        }
    }

    #[test]
    fn spilled_runs_merge_in_order_and_are_removed() {
        let texts = Texts {
            jsonl: true,
            json: true,
            table: true,
        };
        let keys: Vec<String> = (0..500).map(|i| format!("k{}", (i * 7919) % 500)).collect();
        let mut small = Spool::new(texts, 1);
        let mut big = Spool::new(texts, usize::MAX);
        for (i, k) in keys.iter().enumerate() {
            let f = (i % 3 == 0).then_some("f");
            small.push(&value(k, f));
            big.push(&value(k, f));
        }
        small.seal();
        big.seal();
        assert!(small.runs() >= 1);
        assert_eq!(big.runs(), 0);
        let collect = |s: &Spool| {
            let mut v = Vec::new();
            s.for_each(|r| {
                v.push(r.clone());
                Ok(())
            })
            .unwrap();
            v
        };
        let a = collect(&small);
        let b = collect(&big);
        assert_eq!(a.len(), 500);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_by(|x, y| (&x.key, &x.field).cmp(&(&y.key, &y.field)));
        assert_eq!(a, sorted);
        let paths: Vec<PathBuf> = small.runs.iter().map(|r| r.path.clone()).collect();
        assert!(paths.iter().all(|p| p.exists()));
        drop(small);
        assert!(paths.iter().all(|p| !p.exists()));
    }
}

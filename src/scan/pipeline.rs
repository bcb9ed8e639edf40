//! The streaming scan: a source pushes samples into a bounded channel, worker threads judge them
//! on every core, and one thread folds the verdicts into the [`Aggregator`]. Memory stays bounded
//! (the channels hold a few batches of at most `BATCH` samples and about `BATCH_BYTES` of values
//! each; the aggregator keeps counts and bounded examples). The fold does not depend on arrival
//! order, so the report is deterministic. Samples and verdicts travel in batches: one channel
//! operation (and at most one thread wake-up) per batch rather than per value, which is what a
//! scan of small or repeated values would otherwise spend its time on.

use super::progress::Progress;
use super::verdict::{VerdictCache, judge_cached};
use crate::check::Side;
use crate::check::ValueResult;
use crate::report::Aggregator;
use crate::sample::Sample;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

/// At most this many samples in a batch.
const BATCH: usize = 64;
/// A batch is sent once its values reach this many bytes (so a batch of large values is one or a
/// few values).
const BATCH_BYTES: usize = 1 << 20;

/// Run `source` (which calls its sink once per sample) and judge what it yields on `threads`
/// workers (0: one per core). Returns the source's result once every value is folded in.
pub fn run<E>(
    source: impl FnOnce(&mut dyn FnMut(Sample)) -> Result<(), E>,
    old: &Side,
    new: &Side,
    agg: &mut Aggregator,
    progress: &mut Progress,
    threads: usize,
) -> Result<(), E> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let (tx, rx) = sync_channel::<Vec<Sample>>(threads * 2);
    let (rtx, rrx) = sync_channel::<Vec<ValueResult>>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    let sent = AtomicU64::new(0);
    // Identical values are judged once (bounded; see VerdictCache).
    let cache = VerdictCache::default();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let rx = Arc::clone(&rx);
            let rtx = rtx.clone();
            let cache = &cache;
            s.spawn(move || worker(&rx, &rtx, old, new, cache));
        }
        drop(rtx);
        let sent = &sent;
        let folder = s.spawn(move || {
            for batch in rrx {
                for r in batch {
                    agg.add(r);
                }
                progress.tick(
                    sent.load(Ordering::Relaxed),
                    agg.values(),
                    agg.with_findings(),
                );
            }
            progress.finish(agg.values(), agg.with_findings());
        });
        let mut batch: Vec<Sample> = Vec::with_capacity(BATCH);
        let mut bytes = 0usize;
        let result = source(&mut |sample| {
            sent.fetch_add(1, Ordering::Relaxed);
            bytes += sample.value.len();
            batch.push(sample);
            if batch.len() >= BATCH || bytes >= BATCH_BYTES {
                bytes = 0;
                // A send fails only if every worker is gone, which happens only if one
                // panicked; the scope then propagates that panic.
                let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        });
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        if let Err(panic) = folder.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

fn worker(
    rx: &Mutex<Receiver<Vec<Sample>>>,
    out: &SyncSender<Vec<ValueResult>>,
    old: &Side,
    new: &Side,
    cache: &VerdictCache,
) {
    loop {
        let next = match rx.lock() {
            Ok(g) => g.recv(),
            Err(_) => return,
        };
        let Ok(batch) = next else { return };
        let results = batch
            .iter()
            .map(|sample| judge_cached(sample, old, new, Some(cache)))
            .collect();
        if out.send(results).is_err() {
            return;
        }
    }
}

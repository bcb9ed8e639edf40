//! The streaming scan: a source pushes samples into a bounded channel, worker threads judge them
//! on every core, and one thread folds the verdicts into the [`Aggregator`]. Memory stays bounded
//! (the channels hold at most a few hundred values; the aggregator keeps counts and bounded
//! examples). The fold does not depend on arrival order, so the report is deterministic.

use super::Aggregator;
use super::progress::Progress;
use crate::check::Side;
use crate::source::Sample;
use crate::verdict::{ValueResult, VerdictCache, judge_cached};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

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
    let (tx, rx) = sync_channel::<Sample>(threads * 32);
    let (rtx, rrx) = sync_channel::<ValueResult>(threads * 32);
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
            for r in rrx {
                agg.add(r);
                progress.tick(
                    sent.load(Ordering::Relaxed),
                    agg.values(),
                    agg.with_findings(),
                );
            }
            progress.finish(agg.values(), agg.with_findings());
        });
        let result = source(&mut |sample| {
            sent.fetch_add(1, Ordering::Relaxed);
            // A send fails only if every worker is gone, which happens only if one panicked;
            // the scope then propagates that panic.
            let _ = tx.send(sample);
        });
        drop(tx);
        if let Err(panic) = folder.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

fn worker(
    rx: &Mutex<Receiver<Sample>>,
    out: &std::sync::mpsc::SyncSender<ValueResult>,
    old: &Side,
    new: &Side,
    cache: &VerdictCache,
) {
    loop {
        let next = match rx.lock() {
            Ok(g) => g.recv(),
            Err(_) => return,
        };
        let Ok(sample) = next else { return };
        if out
            .send(judge_cached(&sample, old, new, Some(cache)))
            .is_err()
        {
            return;
        }
    }
}

//! Group commit without a dedicated thread. The first writer to find no commit in progress becomes the
//! leader: it takes every queued batch (its own included) and makes them durable with one synced write.
//! Writers arriving meanwhile queue up and park; when the leader's own batch is durable it wakes the
//! writers whose batches were in its groups and hands over to the oldest writer still queued. A lone
//! writer thus commits directly (no thread handoff), concurrent writers share one fsync, and each
//! parked writer is woken once, when there is something for it to do (a condition variable's
//! `notify_all` woke every waiter after each write, most of them only to wait again). Each batch stays
//! atomic: a group is applied as one engine write.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::Thread;

use super::{KvError, WriteBatch};

/// Most batches merged into one synced write.
const MAX_GROUP: usize = 256;

/// How many synced writes carried how many request batches.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub synced_writes: AtomicU64,
    pub batches: AtomicU64,
}

#[derive(Default)]
struct State {
    queue: Vec<(u64, WriteBatch)>,
    next_ticket: u64,
    leader_active: bool,
    /// Writers parked until their ticket has a result or they are to lead, by ticket.
    parked: HashMap<u64, Thread>,
    results: HashMap<u64, Result<(), String>>,
}

#[derive(Default)]
pub struct GroupCommitter {
    state: Mutex<State>,
    stats: CommitStats,
}

impl GroupCommitter {
    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Returns once `batch` is durable: `write_group` is called (by this thread or another) with a group of
    /// batches that includes it and must apply them atomically and durably.
    pub fn commit(
        &self,
        batch: WriteBatch,
        write_group: impl Fn(&[WriteBatch]) -> Result<(), String>,
    ) -> Result<(), KvError> {
        let mut state = self.state.lock().expect("commit lock");
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push((ticket, batch));
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                return result.map_err(KvError::Engine);
            }
            if state.leader_active {
                // Registered under the lock the leader takes to publish results, so its unpark cannot
                // be missed (an unpark before `park` makes `park` return at once); a spurious return
                // just looks again.
                state.parked.insert(ticket, std::thread::current());
                drop(state);
                std::thread::park();
                state = self.state.lock().expect("commit lock");
                continue;
            }
            state.leader_active = true;
            state.parked.remove(&ticket);
            while !state.results.contains_key(&ticket) {
                let take = state.queue.len().min(MAX_GROUP);
                let (tickets, batches): (Vec<u64>, Vec<WriteBatch>) = state.queue.drain(..take).unzip();
                drop(state);
                let result = write_group(&batches);
                self.stats.synced_writes.fetch_add(1, Ordering::Relaxed);
                self.stats.batches.fetch_add(batches.len() as u64, Ordering::Relaxed);
                metrics::counter!("kv_synced_writes_total").increment(1);
                metrics::counter!("kv_batches_committed_total").increment(batches.len() as u64);
                state = self.state.lock().expect("commit lock");
                for t in tickets {
                    state.results.insert(t, result.clone());
                    if let Some(writer) = state.parked.remove(&t) {
                        writer.unpark();
                    }
                }
            }
            state.leader_active = false;
            // The oldest writer still queued takes over as leader (every queued writer but a leader is
            // parked: it registered when it found this leader active).
            if let Some(&(next, _)) = state.queue.first()
                && let Some(writer) = state.parked.remove(&next)
            {
                writer.unpark();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_batch_is_written_exactly_once_and_concurrent_writers_share_writes() {
        let committer = GroupCommitter::default();
        let written = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..100 {
                        let mut batch = WriteBatch::new();
                        batch.put("cf", b"k", b"v");
                        committer
                            .commit(batch, |group| {
                                std::thread::sleep(std::time::Duration::from_micros(200)); // an fsync
                                written.fetch_add(group.len(), Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(written.load(Ordering::SeqCst), 1600);
        let stats = committer.stats();
        assert_eq!(stats.batches.load(Ordering::Relaxed), 1600);
        assert!(stats.synced_writes.load(Ordering::Relaxed) < 1600, "no group ever formed");
    }

    /// Many writers and instant writes: leadership changes hands constantly, so a lost wake-up would
    /// leave a writer parked forever (the test would hang) and a lost batch would show in the count.
    #[test]
    fn rapid_handoffs_lose_no_writer_and_no_batch() {
        let committer = GroupCommitter::default();
        let written = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..8 {
                let (committer, written) = (&committer, &written);
                s.spawn(move || {
                    for i in 0..3_000 {
                        committer
                            .commit(WriteBatch::new(), |group| {
                                if (i + t) % 7 == 0 {
                                    std::thread::yield_now();
                                }
                                written.fetch_add(group.len(), Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(written.load(Ordering::SeqCst), 24_000);
        let state = committer.state.lock().unwrap();
        assert!(state.queue.is_empty() && state.parked.is_empty() && state.results.is_empty());
    }

    #[test]
    fn a_failed_group_write_fails_every_batch_in_it() {
        let committer = GroupCommitter::default();
        let err = committer.commit(WriteBatch::new(), |_| Err("disk on fire".into())).unwrap_err();
        assert!(matches!(err, KvError::Engine(m) if m == "disk on fire"));
        assert!(committer.commit(WriteBatch::new(), |_| Ok(())).is_ok(), "the next group is unaffected");
    }
}

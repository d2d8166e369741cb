//! Group commit without a dedicated thread. The first writer to find no commit in progress becomes the
//! leader: it takes every queued batch (its own included) and makes them durable with one synced write.
//! Writers arriving meanwhile queue up and wait; when the leader's own batch is durable it hands over to
//! one of them. A lone writer thus commits directly (no thread handoff), and concurrent writers share
//! one fsync. Each batch stays atomic: a group is applied as one engine write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

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
    /// Writers blocked on `changed`: a lone writer's commit makes no wake-up calls (each was a
    /// syscall even with nobody to wake).
    waiting: usize,
    results: HashMap<u64, Result<(), String>>,
}

#[derive(Default)]
pub struct GroupCommitter {
    state: Mutex<State>,
    changed: Condvar,
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
                state.waiting += 1;
                state = self.changed.wait(state).expect("commit lock");
                state.waiting -= 1;
                continue;
            }
            state.leader_active = true;
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
                }
                if state.waiting > 0 {
                    self.changed.notify_all();
                }
            }
            state.leader_active = false;
            // Whoever still waits with a queued batch takes over as leader.
            if state.waiting > 0 {
                self.changed.notify_all();
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

    #[test]
    fn a_failed_group_write_fails_every_batch_in_it() {
        let committer = GroupCommitter::default();
        let err = committer.commit(WriteBatch::new(), |_| Err("disk on fire".into())).unwrap_err();
        assert!(matches!(err, KvError::Engine(m) if m == "disk on fire"));
        assert!(committer.commit(WriteBatch::new(), |_| Ok(())).is_ok(), "the next group is unaffected");
    }
}

//! Wake-ups for blocked list pops (BLPOP/BRPOP): a waiter registers on its keys, a push to one of
//! them notifies it, and it retries the pop (losing the race to another client just means waiting
//! again).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::keyspace::Blob;

/// Blocked clients per (database, key).
type Waiters = HashMap<(usize, Blob), Vec<Arc<Notify>>>;

#[derive(Default)]
pub struct Registry {
    waiting: AtomicUsize,
    keys: Mutex<Waiters>,
}

impl Registry {
    pub fn register(&self, db: usize, keys: &[Blob], notify: &Arc<Notify>) {
        let mut map = self.keys.lock();
        for k in keys {
            map.entry((db, k.clone())).or_default().push(notify.clone());
            self.waiting.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unregister(&self, db: usize, keys: &[Blob], notify: &Arc<Notify>) {
        let mut map = self.keys.lock();
        for k in keys {
            let id = (db, k.clone());
            if let Some(list) = map.get_mut(&id) {
                let before = list.len();
                list.retain(|n| !Arc::ptr_eq(n, notify));
                self.waiting.fetch_sub(before - list.len(), Ordering::Relaxed);
                if list.is_empty() {
                    map.remove(&id);
                }
            }
        }
    }

    /// Called after a push: wakes every client blocked on `key` (cheap when nobody waits).
    pub fn signal(&self, db: usize, key: &[u8]) {
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return;
        }
        let map = self.keys.lock();
        if let Some(list) = map.get(&(db, Blob::from(key))) {
            for n in list {
                n.notify_one();
            }
        }
    }

    pub fn blocked_clients(&self) -> usize {
        self.keys.lock().values().map(|l| l.len()).sum()
    }
}

//! Blobs that in-flight GETs still stream from. A multipart body opens its part files one after
//! another, so an overwrite (or delete) that released the parts while a GET streamed would cut
//! that GET short. A GET of a manifest leases its parts; releasing a leased blob only marks it, and
//! the last reader to finish deletes it. Nothing here is persistent: a blob whose deferred delete a
//! crash interrupted is unreferenced, and start-up recovery's orphan sweep removes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::blob::{BlobId, BlobStore};

#[derive(Default)]
pub(crate) struct BlobLeases {
    held: Mutex<HashMap<BlobId, Held>>,
}

struct Held {
    readers: usize,
    /// Released by its object while leased: deleted when the last reader finishes.
    released: bool,
}

/// Holds `ids` alive until dropped (when the GET's body stream ends or is dropped).
pub(crate) struct Lease {
    leases: Arc<BlobLeases>,
    blobs: Arc<dyn BlobStore>,
    ids: Vec<BlobId>,
}

impl BlobLeases {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<BlobId, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lease(self: &Arc<Self>, blobs: Arc<dyn BlobStore>, ids: Vec<BlobId>) -> Lease {
        let mut held = self.held();
        for id in &ids {
            held.entry(id.clone()).or_insert(Held { readers: 0, released: false }).readers += 1;
        }
        Lease { leases: self.clone(), blobs, ids }
    }

    /// Of the released `ids`, those nobody reads (delete them now); the others are deleted by their
    /// last reader.
    pub(crate) fn release(&self, ids: Vec<BlobId>) -> Vec<BlobId> {
        let mut held = self.held();
        ids.into_iter()
            .filter(|id| match held.get_mut(id) {
                Some(h) => {
                    h.released = true;
                    false
                }
                None => true,
            })
            .collect()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut done = Vec::new();
        {
            let mut held = self.leases.held();
            for id in self.ids.drain(..) {
                if let Some(h) = held.get_mut(&id) {
                    h.readers -= 1;
                    if h.readers == 0 && held.remove(&id).is_some_and(|h| h.released) {
                        done.push(id);
                    }
                }
            }
        }
        if done.is_empty() {
            return;
        }
        // Without a runtime (shutting down) the orphan sweep at the next start removes them.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let blobs = self.blobs.clone();
            rt.spawn(async move {
                for id in done {
                    if let Err(e) = blobs.delete(&id).await {
                        tracing::warn!(blob = id.as_str(), error = %e, "cannot delete released blob");
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leased_blob_is_released_only_by_its_last_reader() {
        let leases = Arc::new(BlobLeases::default());
        let blobs: Arc<dyn BlobStore> = Arc::new(crate::store::blob::MemoryBlobStore::default());
        let (a, b) = (BlobId::generate(), BlobId::generate());
        let first = leases.lease(blobs.clone(), vec![a.clone()]);
        let second = leases.lease(blobs.clone(), vec![a.clone()]);
        assert_eq!(leases.release(vec![a.clone(), b.clone()]), vec![b.clone()], "only the unread blob goes now");
        drop(first);
        assert!(leases.held().get(&a).is_some_and(|h| h.released && h.readers == 1));
        drop(second);
        assert!(leases.held().is_empty(), "the last reader took the blob's entry with it");
        assert_eq!(leases.release(vec![a.clone()]), vec![a], "an unleased blob is deleted at once");
    }
}

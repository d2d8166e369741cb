//! Publish/subscribe: channel and pattern subscriptions of connections, each with a bounded queue. A
//! subscriber whose queue is full is marked lagging and disconnected by its connection (Redis's
//! pubsub output-buffer limit), so a slow reader cannot grow our memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::mpsc;

use super::glob;

/// Messages a subscriber may have queued.
pub const QUEUE: usize = 4096;

#[derive(Debug, Clone)]
pub enum Message {
    Message { channel: Bytes, payload: Bytes },
    PMessage { pattern: Bytes, channel: Bytes, payload: Bytes },
}

#[derive(Clone)]
pub struct Subscriber {
    pub tx: mpsc::Sender<Message>,
    pub lagging: Arc<AtomicBool>,
}

impl Subscriber {
    fn deliver(&self, m: Message) -> bool {
        match self.tx.try_send(m) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagging.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

#[derive(Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, HashMap<u64, Subscriber>>>,
    patterns: RwLock<HashMap<Bytes, HashMap<u64, Subscriber>>>,
}

impl PubSub {
    /// Returns true if newly subscribed.
    pub fn subscribe(&self, client: u64, channel: Bytes, sub: &Subscriber, pattern: bool) -> bool {
        let table = if pattern { &self.patterns } else { &self.channels };
        table.write().entry(channel).or_default().insert(client, sub.clone()).is_none()
    }

    pub fn unsubscribe(&self, client: u64, channel: &Bytes, pattern: bool) -> bool {
        let table = if pattern { &self.patterns } else { &self.channels };
        let mut map = table.write();
        let Some(subs) = map.get_mut(channel) else { return false };
        let removed = subs.remove(&client).is_some();
        if subs.is_empty() {
            map.remove(channel);
        }
        removed
    }

    /// Delivers to channel and pattern subscribers; returns how many received it.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let mut n = 0;
        if let Some(subs) = self.channels.read().get(channel) {
            for s in subs.values() {
                n += s.deliver(Message::Message { channel: channel.clone(), payload: payload.clone() }) as usize;
            }
        }
        for (pattern, subs) in self.patterns.read().iter() {
            if glob::matches(pattern, channel) {
                for s in subs.values() {
                    let m = Message::PMessage {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    };
                    n += s.deliver(m) as usize;
                }
            }
        }
        n
    }

    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels.read().keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c))).cloned().collect()
    }

    pub fn numsub(&self, channel: &Bytes) -> usize {
        self.channels.read().get(channel).map_or(0, |s| s.len())
    }

    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }
}

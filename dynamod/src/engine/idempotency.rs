//! ClientRequestToken idempotency for TransactWriteItems: a token seen with the same request within
//! ten minutes returns the first call's outcome without applying the writes again; with a different
//! request it is an IdempotentParameterMismatchException; while the first call still runs, a retry
//! gets TransactionInProgressException. Only successful transactions are remembered (a cancelled
//! one may be retried). Memory is bounded: entries expire after ten minutes and at most
//! `MAX_TOKENS` are kept (the oldest go first). Applied tokens are also stored (a [`TokenRecord`]
//! committed in the transaction's own write batch, deleted once forgotten) and reloaded at start-up,
//! so a retry after a restart, or after a crash right after the commit, is not applied twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::capacity::Consumed;
use super::error::{EngineError, Result, invalid};

pub const TOKEN_LIFETIME_SECS: i64 = 600;
pub const MAX_TOKENS: usize = 100_000;

enum State {
    InProgress,
    Done(Vec<Consumed>),
}

struct Entry {
    fingerprint: u64,
    at: i64,
    state: State,
}

#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Tokens>,
}

#[derive(Default)]
struct Tokens {
    entries: HashMap<String, Entry>,
    /// Tokens in the order they were first seen, for expiry.
    order: VecDeque<(i64, String)>,
    /// Tokens expired or evicted since [`TokenCache::drain_forgotten`] (their stored records go too).
    forgotten: Vec<String>,
}

/// A token as stored once its transaction is applied, so that a retry after a restart (the very case
/// tokens exist for) is still recognised within its ten minutes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    pub token: String,
    pub fingerprint: u64,
    pub at: i64,
    pub consumed: Vec<Consumed>,
}

/// The fingerprint a token is stored with: a hash of the request's parameters as sent, stable across
/// restarts and builds (the record outlives the process).
pub fn fingerprint(request: &str) -> u64 {
    crate::store::keys::fnv1a(request.as_bytes())
}

/// What to do with a transaction carrying a token.
pub enum Claim {
    /// First use: run it, then `finish` or `abandon` the token.
    Run,
    /// Already applied: answer with this.
    Replay(Vec<Consumed>),
}

pub fn check_token(token: &str) -> Result<()> {
    if token.is_empty() || token.len() > 36 {
        return Err(invalid(format!(
            "1 validation error detected: Value '{token}' at 'clientRequestToken' failed to satisfy constraint: Member must have length {}",
            if token.is_empty() { "greater than or equal to 1" } else { "less than or equal to 36" }
        )));
    }
    Ok(())
}

impl TokenCache {
    pub fn claim(&self, token: &str, fingerprint: u64, now: i64) -> Result<Claim> {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.expire(now);
        if let Some(e) = t.entries.get(token) {
            if e.fingerprint != fingerprint {
                return Err(EngineError::IdempotentParameterMismatch(
                    "One or more parameter values were invalid: The request with the given client token has different parameters than the original request".into(),
                ));
            }
            return match &e.state {
                State::InProgress => Err(EngineError::TransactionInProgress(
                    "Transaction with the given request token is already in progress.".into(),
                )),
                State::Done(consumed) => Ok(Claim::Replay(consumed.clone())),
            };
        }
        while t.entries.len() >= MAX_TOKENS {
            let Some((_, oldest)) = t.order.pop_front() else { break };
            t.entries.remove(&oldest);
            t.forgotten.push(oldest);
        }
        t.entries.insert(token.to_string(), Entry { fingerprint, at: now, state: State::InProgress });
        t.order.push_back((now, token.to_string()));
        Ok(Claim::Run)
    }

    /// Tokens no longer remembered, whose stored records can be deleted.
    pub fn drain_forgotten(&self) -> Vec<String> {
        std::mem::take(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()).forgotten)
    }

    /// A token applied before a restart (start-up, from its [`TokenRecord`]).
    pub fn restore(&self, record: TokenRecord) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.order.push_back((record.at, record.token.clone()));
        let entry = Entry { fingerprint: record.fingerprint, at: record.at, state: State::Done(record.consumed) };
        t.entries.insert(record.token, entry);
    }

    pub fn finish(&self, token: &str, consumed: &[Consumed]) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = t.entries.get_mut(token) {
            e.state = State::Done(consumed.to_vec());
        }
    }

    /// The transaction failed: forget the token so a retry runs it again.
    pub fn abandon(&self, token: &str) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.entries.remove(token);
    }
}

impl Tokens {
    fn expire(&mut self, now: i64) {
        while let Some((at, _)) = self.order.front() {
            if now - at < TOKEN_LIFETIME_SECS {
                break;
            }
            let (at, token) = self.order.pop_front().expect("front exists");
            if self.entries.get(&token).is_some_and(|e| e.at == at) {
                self.entries.remove(&token);
                self.forgotten.push(token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_replay_mismatch_and_expire() {
        let cache = TokenCache::default();
        assert!(matches!(cache.claim("t", 1, 0), Ok(Claim::Run)));
        assert!(matches!(cache.claim("t", 1, 1), Err(EngineError::TransactionInProgress(_))));
        cache.finish("t", &[Consumed::write("tbl", 2)]);
        assert!(matches!(cache.claim("t", 1, 10), Ok(Claim::Replay(c)) if c[0].write == 2.0));
        assert!(matches!(cache.claim("t", 2, 10), Err(EngineError::IdempotentParameterMismatch(_))));
        assert!(matches!(cache.claim("t", 2, TOKEN_LIFETIME_SECS), Ok(Claim::Run)), "expired after ten minutes");
        assert_eq!(cache.drain_forgotten(), vec!["t".to_string()], "its stored record is to be deleted");
        assert!(cache.drain_forgotten().is_empty());
        cache.abandon("t");
        assert!(matches!(cache.claim("t", 3, TOKEN_LIFETIME_SECS), Ok(Claim::Run)));
        cache.restore(TokenRecord {
            token: "r".into(),
            fingerprint: 7,
            at: 5,
            consumed: vec![Consumed::write("tbl", 1)],
        });
        assert!(matches!(cache.claim("r", 7, 6), Ok(Claim::Replay(c)) if c[0].write == 1.0), "restored tokens replay");
    }
}

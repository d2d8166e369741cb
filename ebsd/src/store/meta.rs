//! Volume records in the key-value store: `volumes` maps a volume id to its JSON record,
//! `client_tokens` maps CreateVolume's idempotency token to the volume it created.

use std::sync::Arc;

use common::kv::{Direction, KeyRange, KvStore, WriteBatch};

use crate::engine::error::{EngineError, EngineResult};
use crate::engine::volume::Volume;

pub const CF_VOLUMES: &str = "volumes";
pub const CF_CLIENT_TOKENS: &str = "client_tokens";
pub const COLUMN_FAMILIES: &[&str] = &[CF_VOLUMES, CF_CLIENT_TOKENS];

#[derive(Clone)]
pub struct MetaStore {
    kv: Arc<dyn KvStore>,
}

impl MetaStore {
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    pub fn get(&self, id: &str) -> EngineResult<Option<Volume>> {
        match self.kv.get(CF_VOLUMES, id.as_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(id, &bytes).map(Some),
        }
    }

    /// Every volume, ordered by id.
    pub fn list(&self) -> EngineResult<Vec<Volume>> {
        let mut out = Vec::new();
        for item in self.kv.scan(CF_VOLUMES, KeyRange::all(), Direction::Forward)? {
            let (key, value) = item?;
            out.push(decode(&String::from_utf8_lossy(&key), &value)?);
        }
        Ok(out)
    }

    /// Writes `volume` durably, and records `client_token` → id in the same batch.
    pub fn put(&self, volume: &Volume, client_token: Option<&str>) -> EngineResult<()> {
        let mut batch = WriteBatch::new();
        let json = serde_json::to_vec(volume).expect("volume records serialise");
        batch.put(CF_VOLUMES, volume.id.as_bytes(), json);
        if let Some(token) = client_token {
            batch.put(CF_CLIENT_TOKENS, token.as_bytes(), volume.id.as_bytes());
        }
        Ok(self.kv.write(batch)?)
    }

    pub fn delete(&self, id: &str) -> EngineResult<()> {
        Ok(self.kv.delete(CF_VOLUMES, id.as_bytes())?)
    }

    pub fn volume_for_token(&self, token: &str) -> EngineResult<Option<String>> {
        Ok(self.kv.get(CF_CLIENT_TOKENS, token.as_bytes())?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}

fn decode(id: &str, bytes: &[u8]) -> EngineResult<Volume> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::Corrupt(id.into(), e.to_string()))
}

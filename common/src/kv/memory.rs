//! An in-memory `KvStore` for tests and ephemeral use. Column families are copy-on-write maps, so a
//! snapshot is a handful of `Arc` clones and scans never hold a lock while the caller iterates.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use super::{BatchOp, Direction, KeyRange, KvError, KvIter, KvSnapshot, KvStore, WriteBatch};

type Tree = Arc<BTreeMap<Vec<u8>, Vec<u8>>>;

pub struct MemoryKv {
    families: RwLock<HashMap<String, Tree>>,
}

impl MemoryKv {
    pub fn new(column_families: &[&str]) -> Self {
        let families = column_families.iter().map(|cf| (cf.to_string(), Tree::default())).collect();
        Self { families: RwLock::new(families) }
    }

    fn view(&self) -> MemorySnapshot {
        MemorySnapshot { families: self.families.read().expect("kv lock").clone() }
    }
}

impl KvStore for MemoryKv {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let families = self.families.read().expect("kv lock");
        let tree = families.get(cf).ok_or_else(|| KvError::UnknownColumnFamily(cf.into()))?;
        Ok(tree.get(key).cloned())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), KvError> {
        let mut families = self.families.write().expect("kv lock");
        // Validate first so that a bad column family leaves nothing half-applied.
        for op in batch.ops() {
            let (BatchOp::Put { cf, .. } | BatchOp::Delete { cf, .. }) = op;
            if !families.contains_key(cf) {
                return Err(KvError::UnknownColumnFamily(cf.clone()));
            }
        }
        for op in batch.ops {
            match op {
                BatchOp::Put { cf, key, value } => {
                    Arc::make_mut(families.get_mut(&cf).expect("validated")).insert(key, value);
                }
                BatchOp::Delete { cf, key } => {
                    Arc::make_mut(families.get_mut(&cf).expect("validated")).remove(&key);
                }
            }
        }
        Ok(())
    }

    fn scan(&self, cf: &str, range: KeyRange, direction: Direction) -> Result<KvIter<'_>, KvError> {
        let tree = self.view().tree(cf)?;
        Ok(Box::new(TreeIter { tree, range, direction, last: None, done: false }))
    }

    fn snapshot(&self) -> Box<dyn KvSnapshot + '_> {
        Box::new(self.view())
    }
}

struct MemorySnapshot {
    families: HashMap<String, Tree>,
}

impl MemorySnapshot {
    fn tree(&self, cf: &str) -> Result<Tree, KvError> {
        self.families.get(cf).cloned().ok_or_else(|| KvError::UnknownColumnFamily(cf.into()))
    }
}

impl KvSnapshot for MemorySnapshot {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.tree(cf)?.get(key).cloned())
    }

    fn scan(&self, cf: &str, range: KeyRange, direction: Direction) -> Result<KvIter<'_>, KvError> {
        Ok(Box::new(TreeIter { tree: self.tree(cf)?, range, direction, last: None, done: false }))
    }
}

/// Walks a shared tree one key at a time, resuming after the last key returned.
struct TreeIter {
    tree: Tree,
    range: KeyRange,
    direction: Direction,
    last: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for TreeIter {
    type Item = Result<(Vec<u8>, Vec<u8>), KvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (lower, upper) = match (self.direction, &self.last) {
            (Direction::Forward, Some(last)) => (Bound::Excluded(last.clone()), self.upper()),
            (Direction::Forward, None) => (Bound::Included(self.range.start.clone()), self.upper()),
            (Direction::Reverse, Some(last)) => {
                (Bound::Included(self.range.start.clone()), Bound::Excluded(last.clone()))
            }
            (Direction::Reverse, None) => (Bound::Included(self.range.start.clone()), self.upper()),
        };
        if matches!((&lower, &upper), (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(u)) if l >= u) {
            self.done = true;
            return None;
        }
        let mut it = self.tree.range((lower, upper));
        let found = match self.direction {
            Direction::Forward => it.next(),
            Direction::Reverse => it.next_back(),
        };
        match found {
            Some((k, v)) => {
                self.last = Some(k.clone());
                Some(Ok((k.clone(), v.clone())))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

impl TreeIter {
    fn upper(&self) -> Bound<Vec<u8>> {
        match &self.range.end {
            Some(end) => Bound::Excluded(end.clone()),
            None => Bound::Unbounded,
        }
    }
}

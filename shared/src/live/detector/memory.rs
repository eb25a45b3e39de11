//! [`MemoryStore`]: the [`StateStore`] in process memory, for `replay`, local runs and tests.

use super::*;

#[derive(Default)]
struct MemoryScope {
    version: u64,
    incident: Option<Incident>,
    buckets: BTreeMap<i64, (Bucket, BTreeSet<String>)>,
}

#[derive(Default)]
struct MemoryInner {
    scopes: HashMap<Scope, MemoryScope>,
    open: BTreeSet<Scope>,
    outbox: BTreeMap<String, (Pending, Timestamp)>,
}

/// A [`StateStore`] in process memory: one mutex, so every operation is atomic.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of buckets held (for tests of expiry).
    pub fn bucket_count(&self) -> usize {
        self.lock().scopes.values().map(|s| s.buckets.len()).sum()
    }

    /// Alerts in the outbox (not yet confirmed delivered).
    pub fn pending(&self) -> Vec<String> {
        self.lock().outbox.keys().cloned().collect()
    }

    fn state(s: &MemoryScope) -> ScopeState {
        ScopeState {
            version: s.version,
            incident: s.incident.clone(),
            buckets: s.buckets.values().map(|(b, _)| b.clone()).collect(),
            marked: s
                .buckets
                .iter()
                .filter(|(_, (_, batches))| !batches.is_empty())
                .map(|(t, _)| Timestamp(*t))
                .collect(),
        }
    }
}

impl StateStore for MemoryStore {
    const FORGET_AFTER: usize = 0;

    async fn apply(
        &self,
        scope: &Scope,
        batch: &str,
        deltas: &[Bucket],
        _expires_at: Timestamp,
    ) -> Result<ScopeState, StoreError> {
        let mut g = self.lock();
        let s = g.scopes.entry(scope.clone()).or_default();
        // Once per (scope, batch), as the DynamoDB store's batch items: a batch already added to any
        // of the scope's buckets (and not yet forgotten there) adds nothing.
        let seen = s
            .buckets
            .values()
            .any(|(_, batches)| batches.contains(batch));
        if !seen {
            for d in deltas {
                let (b, batches) = s
                    .buckets
                    .entry(d.minute.0)
                    .or_insert_with(|| (Bucket::new(d.minute), BTreeSet::new()));
                b.add(d);
                batches.insert(batch.to_string());
            }
        }
        Ok(MemoryStore::state(s))
    }

    async fn read(&self, scope: &Scope) -> Result<ScopeState, StoreError> {
        Ok(self
            .lock()
            .scopes
            .get(scope)
            .map(MemoryStore::state)
            .unwrap_or_default())
    }

    async fn forget(
        &self,
        scope: &Scope,
        starts: &[Timestamp],
        marks: &[Timestamp],
    ) -> Result<(), StoreError> {
        if let Some(s) = self.lock().scopes.get_mut(scope) {
            for t in starts {
                s.buckets.remove(&t.0);
            }
            for t in marks {
                if let Some((_, batches)) = s.buckets.get_mut(&t.0) {
                    batches.clear();
                }
            }
        }
        Ok(())
    }

    async fn transition(
        &self,
        scope: &Scope,
        expected: u64,
        next: &Incident,
        alert: &Alert,
        claim: &Claim,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let s = g.scopes.entry(scope.clone()).or_default();
        if s.version != expected {
            return Ok(false);
        }
        s.version = expected + 1;
        s.incident = Some(next.clone());
        if next.open {
            g.open.insert(scope.clone());
        } else {
            g.open.remove(scope);
        }
        g.outbox.insert(
            alert.id.clone(),
            (
                Pending {
                    alert: alert.clone(),
                    batch: claim.batch.clone(),
                    created: claim.now,
                },
                claim.until,
            ),
        );
        Ok(true)
    }

    async fn attention(&self) -> Result<Attention, StoreError> {
        let g = self.lock();
        Ok(Attention {
            open: g.open.iter().cloned().collect(),
            pending: g.outbox.values().map(|(p, _)| p.clone()).collect(),
        })
    }

    async fn claim(&self, alert_id: &str, claim: &Claim) -> Result<bool, StoreError> {
        let mut g = self.lock();
        match g.outbox.get_mut(alert_id) {
            Some((p, until)) if *until < claim.now || p.batch == claim.batch => {
                *until = claim.until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delivered(&self, alert_id: &str) -> Result<(), StoreError> {
        self.lock().outbox.remove(alert_id);
        Ok(())
    }
}

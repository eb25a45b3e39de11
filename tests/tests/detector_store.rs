//! The runaway detector on its DynamoDB store, against moto: redelivered batches add and alert once,
//! concurrent invocations of one incident alert once, and an incident resolves from the open registry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bedrock_meter::aws::dynamodb::DynamoStore;
use bedrock_meter::detector::{
    AlertKind, Bucket, Detector, DetectorConfig, Incident, Observation, Overrides, Scope,
    StateStore, StoreError,
};
use bedrock_meter::record::Tokens;
use bedrock_meter::{Money, Timestamp};
use bedrock_meter_integration_tests::Moto;

const T0: i64 = 1_764_028_800; // 2025-11-25T00:00:00Z

fn usd(s: &str) -> Money {
    Money::from_usd_text(s).unwrap()
}

fn ob(at: i64, caller: &str, cost: &str) -> Observation {
    Observation {
        at: Timestamp(at),
        app: "ops-agent".into(),
        team: "platform".into(),
        caller: caller.into(),
        model: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
        profile_arn: Some(
            "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123".into(),
        ),
        cost: usd(cost),
        unpriced: false,
        requests: 1,
        tokens: Tokens {
            input: 1000,
            output: 100,
            cache_read: 5000,
            cache_write: 200,
            cache_write_1h: 0,
        },
        overrides: Overrides::default(),
    }
}

async fn store(moto: &Moto) -> DynamoStore {
    let cfg = moto.sdk_config().await;
    let s = DynamoStore::new(&cfg, "bedrock-meter-state");
    s.create_table().await.expect("create table");
    s
}

const CALLER: &str = "arn:aws:sts::111122223333:assumed-role/OpsAgent/loop";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_batches_add_once_and_alert_once() {
    let moto = Moto::start();
    let d = Detector::new(store(&moto).await, DetectorConfig::default());
    let now = Timestamp(T0 + 60);
    let b1: Vec<Observation> = (0..6).map(|k| ob(T0 + k, CALLER, "1")).collect();
    assert!(d.observe("e1-e6", &b1, now).await.unwrap().is_empty());
    assert!(d.observe("e1-e6", &b1, now).await.unwrap().is_empty());
    let scope = Scope::caller("ops-agent", CALLER);
    let buckets = d
        .store()
        .buckets(&scope, Timestamp(T0), Timestamp(T0))
        .await
        .unwrap();
    assert_eq!(buckets.len(), 1);
    assert_eq!(
        (buckets[0].cost, buckets[0].requests),
        (usd("6"), 6),
        "a redelivery must not add twice"
    );
    assert_eq!(buckets[0].tokens.cache_read, 30_000);
    assert_eq!(buckets[0].team, "platform");

    let b2: Vec<Observation> = (0..6).map(|k| ob(T0 + 10 + k, CALLER, "1")).collect();
    let alerts = d.observe("e7-e12", &b2, now).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.kind, AlertKind::Runaway);
    assert_eq!(a.caller.as_deref(), Some(CALLER));
    assert_eq!((a.window_cost, a.window_requests), (usd("12"), 12));
    assert_eq!(a.team, "platform");
    assert_eq!(a.profile_arns.len(), 1);
    // Redelivered, and later evaluated again: no second alert for the same crossing.
    assert!(d.observe("e7-e12", &b2, now).await.unwrap().is_empty());
    assert!(d
        .observe("e7-e12", &b2, Timestamp(T0 + 120))
        .await
        .unwrap()
        .is_empty());
    let (version, inc) = d.store().incident(&scope).await.unwrap().unwrap();
    assert_eq!((version, inc.open, inc.alerts), (1, true, 1));
    assert_eq!(inc.last_alert_cost, usd("12"));

    // No traffic for 30 minutes: a tick (empty batch) finds the incident in the open registry.
    let resolved = d
        .observe("tick", &[], Timestamp(T0 + 31 * 60))
        .await
        .unwrap();
    let kinds: Vec<(AlertKind, bool)> = resolved
        .iter()
        .map(|a| (a.kind, a.caller.is_some()))
        .collect();
    assert_eq!(kinds, vec![(AlertKind::Resolved, true)], "{resolved:#?}");
    assert!(d.store().open_scopes().await.unwrap().is_empty());
    let (version, inc) = d.store().incident(&scope).await.unwrap().unwrap();
    assert_eq!((version, inc.open), (2, false));
}

/// Separate detectors (as separate Lambda instances) sharing one table; their first window read waits
/// until all have added, so all see the crossing, read the same incident version and race to swap it.
///
/// Writes go to moto one at a time: DynamoDB applies the writes to one item one after the other (that
/// is what makes `ADD` and conditional writes atomic), but moto's threaded server does not — measured
/// here, four concurrent `ADD`s to one item left two. Serialising the writes gives moto DynamoDB's
/// semantics; reads and the evaluation stay concurrent, and every racer still reads the same incident
/// version and tries its compare-and-set, of which moto (like DynamoDB) lets exactly one succeed.
struct Rendezvous {
    inner: DynamoStore,
    barrier: Arc<tokio::sync::Barrier>,
    waited: Arc<AtomicUsize>,
    n: usize,
    writes: Arc<tokio::sync::Mutex<()>>,
}

impl StateStore for Rendezvous {
    async fn add(&self, s: &Scope, b: &str, d: &Bucket, e: Timestamp) -> Result<bool, StoreError> {
        let _one_at_a_time = self.writes.lock().await;
        self.inner.add(s, b, d, e).await
    }
    async fn buckets(
        &self,
        s: &Scope,
        f: Timestamp,
        l: Timestamp,
    ) -> Result<Vec<Bucket>, StoreError> {
        if self.waited.fetch_add(1, Ordering::SeqCst) < self.n {
            self.barrier.wait().await;
        }
        self.inner.buckets(s, f, l).await
    }
    async fn incident(&self, s: &Scope) -> Result<Option<(u64, Incident)>, StoreError> {
        self.inner.incident(s).await
    }
    async fn swap_incident(&self, s: &Scope, v: u64, n: &Incident) -> Result<bool, StoreError> {
        let _one_at_a_time = self.writes.lock().await;
        self.inner.swap_incident(s, v, n).await
    }
    async fn open_scopes(&self) -> Result<Vec<Scope>, StoreError> {
        self.inner.open_scopes().await
    }
    async fn set_open(&self, s: &Scope, v: u64, o: bool) -> Result<(), StoreError> {
        let _one_at_a_time = self.writes.lock().await;
        self.inner.set_open(s, v, o).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_of_one_incident_alert_once() {
    let moto = Moto::start();
    let table = store(&moto).await;
    let n = 4;
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let waited = Arc::new(AtomicUsize::new(0));
    let writes = Arc::new(tokio::sync::Mutex::new(()));
    // Each invocation: $3 from the same caller in the same minute. None crosses alone; together $12.
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let d = Detector::new(
                Rendezvous {
                    inner: table.clone(),
                    barrier: barrier.clone(),
                    waited: waited.clone(),
                    n,
                    writes: writes.clone(),
                },
                DetectorConfig::default(),
            );
            tokio::spawn(async move {
                let batch = [ob(T0 + i as i64, CALLER, "3")];
                d.observe(&format!("invocation-{i}"), &batch, Timestamp(T0 + 60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut alerts = Vec::new();
    for t in tasks {
        alerts.extend(t.await.unwrap());
    }
    let caller_level: Vec<_> = alerts.iter().filter(|a| a.caller.is_some()).collect();
    assert_eq!(caller_level.len(), 1, "{alerts:#?}");
    assert_eq!(caller_level[0].kind, AlertKind::Runaway);
    assert_eq!(caller_level[0].window_cost, usd("12"));
    assert!(alerts.iter().filter(|a| a.caller.is_none()).count() <= 1);
    let scope = Scope::caller("ops-agent", CALLER);
    let (version, inc) = table.incident(&scope).await.unwrap().unwrap();
    assert_eq!((version, inc.open, inc.alerts), (1, true, 1));
    let app_incident = table
        .incident(&Scope::app("ops-agent"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((app_incident.0, app_incident.1.alerts), (1, 1));
    let mut open = table.open_scopes().await.unwrap();
    open.sort();
    assert_eq!(open, vec![Scope::app("ops-agent"), scope]);

    // Redelivery of every one of those batches after the fact: nothing more.
    let d = Detector::new(table.clone(), DetectorConfig::default());
    for i in 0..n {
        let batch = [ob(T0 + i as i64, CALLER, "3")];
        let again = d
            .observe(&format!("invocation-{i}"), &batch, Timestamp(T0 + 60))
            .await
            .unwrap();
        assert!(again.is_empty(), "{again:#?}");
    }
    let b = table
        .buckets(&Scope::app("ops-agent"), Timestamp(T0), Timestamp(T0))
        .await
        .unwrap();
    assert_eq!((b[0].cost, b[0].requests), (usd("12"), 4));
}

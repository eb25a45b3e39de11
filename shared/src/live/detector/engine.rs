//! The engine: [`Detector::observe`] applies a batch's observations to the store (bounded and
//! concurrent), evaluates each touched scope's window and every open incident, and makes each
//! transition once through the store's outbox.

use super::*;

pub(super) const MINUTE: i64 = 60;
/// Buckets this much older than the oldest one any evaluation needs are forgotten.
const FORGET_MARGIN_MINUTES: i64 = 10;
/// How long after a bucket ends the keys of the batches applied to it are kept: a batch delivered again
/// later than this after its records' time could be added twice (Lambda retries a failed invocation
/// after 1 and 2 minutes).
pub const DEDUPE_SECS: i64 = 3600;
/// Compare-and-set attempts per scope and call before giving up (the call then fails and is retried).
const MAX_CAS_ATTEMPTS: usize = 8;
/// A scope item lives this long after its last write (its incident's version must outlive a window).
pub const SCOPE_TTL_SECS: i64 = 7 * 86_400;
/// Store calls in flight at once, per invocation.
pub const STORE_CONCURRENCY: usize = 32;
/// How long the invocation that wrote an alert has to deliver it before anyone else may: longer than
/// the ingest function can run (its timeout is 60 s).
pub const DELIVERY_LEASE_SECS: i64 = 120;
/// Windows up to this long use one-minute buckets; longer ones use buckets of ⌈W / 60⌉ minutes, so a
/// scope never holds more than about 2 × 60 buckets.
const MAX_BUCKETS_PER_WINDOW: i64 = 60;

/// A short, stable key for a batch id (FNV-1a 64, hex): what the store records per bucket.
pub fn batch_key(batch_id: &str) -> String {
    format!("{:016x}", fnv1a(0xcbf2_9ce4_8422_2325, batch_id.as_bytes()))
}

pub(super) fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The bucket length of a window, in seconds.
pub(crate) fn bucket_secs(window_minutes: u32) -> i64 {
    let w = i64::from(window_minutes.max(1));
    MINUTE * ((w + MAX_BUCKETS_PER_WINDOW - 1) / MAX_BUCKETS_PER_WINDOW)
}

/// Buckets in a window (the window rounded up to whole buckets).
pub(super) fn window_buckets(window_minutes: u32) -> i64 {
    let w = i64::from(window_minutes.max(1)) * MINUTE;
    let b = bucket_secs(window_minutes);
    (w + b - 1) / b
}

pub(super) fn bucket_start(t: i64, len: i64) -> i64 {
    t - t.rem_euclid(len)
}

/// The sums of a window: its buckets added together (`minute` is the window's first).
pub(super) type WindowSum = Bucket;

/// The window over the buckets whose start is in `first..=last` (epoch seconds).
fn window_over(buckets: &BTreeMap<i64, Bucket>, first: i64, last: i64) -> WindowSum {
    let mut w = Bucket::new(Timestamp(first));
    for (_, b) in buckets.range(first..=last) {
        w.add(b);
    }
    w
}

/// Collects the scopes' results: their alerts, and the first error (the other scopes' alerts are kept);
/// returns the longest chain of store calls among them (0 when there were none).
fn gather(
    results: Vec<Result<(Option<Alert>, usize), StoreError>>,
    alerts: &mut Vec<Alert>,
    first_error: &mut Option<StoreError>,
) -> usize {
    let mut longest = 0;
    for r in results {
        match r {
            Ok((a, chain)) => {
                longest = longest.max(chain);
                alerts.extend(a);
            }
            Err(e) => *first_error = first_error.take().or(Some(e)),
        }
    }
    longest
}

/// What one `observe` call cost in store round trips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Store calls made.
    pub calls: usize,
    /// The longest chain of store calls made one after another (the invocation's latency is about
    /// this many round trips; everything else ran concurrently).
    pub chain: usize,
    /// Scopes the batch touched.
    pub scopes: usize,
}

/// What one `observe` call found: the alerts to deliver now (each held for this invocation in the
/// outbox: call [`Detector::delivered`] once it is sent) and what it cost.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub alerts: Vec<Alert>,
    pub stats: StoreStats,
}

/// The decision for one scope: the transition to make and its alert.
struct Decision {
    next: Incident,
    alert: Alert,
}

/// The runaway detector over a shared [`StateStore`]. `observe` takes `&self`: one detector may serve
/// concurrent calls, and detectors in different processes sharing one store behave as one.
pub struct Detector<S> {
    pub(super) store: S,
    pub(super) config: DetectorConfig,
    concurrency: usize,
}

/// Counts the store calls of one `observe`.
#[derive(Default)]
struct Tally {
    calls: std::sync::atomic::AtomicUsize,
}

impl Tally {
    fn one(&self) {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl<S: StateStore> Detector<S> {
    pub fn new(store: S, config: DetectorConfig) -> Detector<S> {
        Detector {
            store,
            config,
            concurrency: STORE_CONCURRENCY,
        }
    }

    /// At most `n` store calls in flight at once (default [`STORE_CONCURRENCY`]).
    pub fn with_concurrency(mut self, n: usize) -> Detector<S> {
        self.concurrency = n.max(1);
        self
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Marks an alert as delivered (removes it from the outbox).
    pub async fn delivered(&self, alert_id: &str) -> Result<(), StoreError> {
        self.store.delivered(alert_id).await
    }

    /// Adds a batch's observations to the shared windows (once per `batch_id`), evaluates every scope
    /// the batch touches and every scope with an open incident at time `now`, and returns the alerts to
    /// deliver: the transitions this call won, and alerts of earlier transitions whose delivery was not
    /// confirmed (see the module documentation).
    pub async fn observe(
        &self,
        batch_id: &str,
        observations: &[Observation],
        now: Timestamp,
    ) -> Result<Observed, StoreError> {
        use futures_util::stream::{self, StreamExt};

        let batch = batch_key(batch_id);
        let claim = Claim {
            batch: batch.clone(),
            now,
            until: Timestamp(now.0 + DELIVERY_LEASE_SECS),
        };
        // Thresholds per app-level scope, read only from the tags of the profile that scope is:
        // another profile tagged with the same `app` changes nothing here.
        let mut limits: HashMap<Scope, DetectorConfig> = HashMap::new();
        let mut end = now;
        for o in observations {
            let (_, caller_scope) = Scope::of_observation(o);
            let l = limits
                .entry(caller_scope.app_level())
                .or_insert(self.config);
            if !o.overrides.is_empty() {
                *l = self.config.with(&o.overrides);
            }
            end = end.max(Timestamp(o.at.0 + 1));
        }
        let end_minute = Timestamp(end.0 - 1).minute();
        let mut deltas: BTreeMap<Scope, BTreeMap<i64, Bucket>> = BTreeMap::new();
        for o in observations {
            let (app_scope, caller_scope) = Scope::of_observation(o);
            let l = limits[&caller_scope.app_level()];
            let len = bucket_secs(l.window_minutes);
            let start = bucket_start(o.at.0, len);
            if start < self.keep_from(&l, end_minute) {
                continue; // too late to be in any window still evaluated
            }
            for scope in app_scope.into_iter().chain([caller_scope]) {
                deltas
                    .entry(scope)
                    .or_default()
                    .entry(start)
                    .or_insert_with(|| Bucket::new(Timestamp(start)))
                    .add_observation(o);
            }
        }
        let tally = Tally::default();
        let expires_at = Timestamp(now.0 + SCOPE_TTL_SECS);
        let touched: BTreeSet<Scope> = deltas.keys().cloned().collect();
        let scopes = touched.len();

        // 1. Concurrently: what needs attention, and each touched scope's add (which returns its
        //    state).
        let attention = self.attention_counted(&tally);
        let applies: Vec<_> = deltas
            .into_iter()
            .map(|(scope, buckets)| {
                let d: Vec<Bucket> = buckets.into_values().collect();
                let batch = &batch;
                let tally = &tally;
                async move {
                    tally.one();
                    let r = self.store.apply(&scope, batch, &d, expires_at).await;
                    (scope, r)
                }
            })
            .collect();
        // One slot of the bound is the attention query's.
        let applied = stream::iter(applies)
            .buffer_unordered(self.concurrency.saturating_sub(1).max(1))
            .collect::<Vec<_>>();
        let (attention, applied) = futures_util::join!(attention, applied);
        let mut alerts = Vec::new();
        let mut first_error = None;
        let mut states: BTreeMap<Scope, ScopeState> = BTreeMap::new();
        for (scope, r) in applied {
            match r {
                Ok(st) => {
                    states.insert(scope, st);
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        // Each touched scope evaluated and transitioned; an app-level scope with the windows of the
        // batch's callers on the same profile (their shares go with a runaway alert: containment
        // decides by them).
        let settles: Vec<_> = states
            .iter()
            .map(|(scope, st)| {
                let callers: Vec<(&str, &ScopeState)> = if scope.caller.is_none() {
                    states
                        .range(scope.clone()..)
                        .skip(1)
                        .take_while(|(s, _)| s.app_level() == *scope)
                        .map(|(s, st)| (s.caller.as_deref().unwrap_or_default(), st))
                        .collect()
                } else {
                    Vec::new()
                };
                let l = limits[&scope.app_level()];
                let (tally, claim) = (&tally, &claim);
                async move {
                    Box::pin(self.settle(
                        scope,
                        st.clone(),
                        Some(l),
                        &callers,
                        now,
                        end_minute,
                        claim,
                        tally,
                    ))
                    .await
                }
            })
            .collect();
        let settled = stream::iter(settles)
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        let chain1 = 1 + gather(settled, &mut alerts, &mut first_error);
        let attention = attention?;

        // 2. Open incidents the batch did not touch: read, evaluate (e.g. resolve), transition.
        let others: Vec<Scope> = attention
            .open
            .iter()
            .filter(|s| !touched.contains(*s))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let reads: Vec<_> = others
            .into_iter()
            .map(|scope| self.read_and_settle(scope, now, end_minute, &claim, &tally))
            .collect();
        let rechecked = stream::iter(reads)
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        let chain2 = gather(rechecked, &mut alerts, &mut first_error);

        // 3. Alerts written earlier and never confirmed delivered: take those nobody holds any more
        //    (or that this batch wrote, on its redelivery) and deliver them again.
        let won: BTreeSet<String> = alerts.iter().map(|a| a.id.clone()).collect();
        let orphans: Vec<Alert> = attention
            .pending
            .into_iter()
            .filter(|p| !won.contains(&p.alert.id))
            .map(|p| p.alert)
            .collect();
        let claims: Vec<_> = orphans
            .into_iter()
            .map(|alert| self.claim_one(alert, &claim, &tally))
            .collect();
        let claimed = stream::iter(claims)
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        let chain3 = usize::from(!claimed.is_empty());
        let mut redelivered = Vec::new();
        for r in claimed {
            match r {
                Ok(a) => redelivered.extend(a),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            // Transitions already made are in the outbox: the retry of this batch delivers them.
            return Err(e);
        }

        // An app-level alert that repeats a caller-level one of the same kind is not sent (the caller
        // level names strictly more): confirm it delivered without sending it.
        type Of = (String, Option<String>, AlertKind);
        let by_caller: BTreeSet<Of> = alerts
            .iter()
            .filter(|a| a.caller.is_some())
            .map(|a| (a.app.clone(), a.profile.clone(), a.kind))
            .collect();
        let (keep, dropped): (Vec<Alert>, Vec<Alert>) = alerts.into_iter().partition(|a| {
            a.caller.is_some() || !by_caller.contains(&(a.app.clone(), a.profile.clone(), a.kind))
        });
        let chain4 = usize::from(!dropped.is_empty());
        let confirms: Vec<_> = dropped
            .iter()
            .map(|a| self.confirm_one(&a.id, &tally))
            .collect();
        let done = stream::iter(confirms)
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        done.into_iter().collect::<Result<Vec<()>, _>>()?;
        let mut alerts = keep;
        alerts.extend(redelivered);
        Ok(Observed {
            alerts,
            stats: StoreStats {
                calls: tally.calls.load(std::sync::atomic::Ordering::Relaxed),
                chain: chain1 + chain2 + chain3 + chain4,
                scopes,
            },
        })
    }

    async fn read_and_settle(
        &self,
        scope: Scope,
        now: Timestamp,
        end_minute: Timestamp,
        claim: &Claim,
        tally: &Tally,
    ) -> Result<(Option<Alert>, usize), StoreError> {
        tally.one();
        let state = self.store.read(&scope).await?;
        let (a, chain) =
            Box::pin(self.settle(&scope, state, None, &[], now, end_minute, claim, tally)).await?;
        Ok((a, chain + 1))
    }

    async fn attention_counted(&self, tally: &Tally) -> Result<Attention, StoreError> {
        tally.one();
        self.store.attention().await
    }

    async fn claim_one(
        &self,
        alert: Alert,
        claim: &Claim,
        tally: &Tally,
    ) -> Result<Option<Alert>, StoreError> {
        tally.one();
        Ok(self.store.claim(&alert.id, claim).await?.then_some(alert))
    }

    async fn confirm_one(&self, alert_id: &str, tally: &Tally) -> Result<(), StoreError> {
        tally.one();
        self.store.delivered(alert_id).await
    }

    /// The oldest bucket start an evaluation ending at `end_minute` can need, under `limits`.
    fn keep_from(&self, limits: &DetectorConfig, end_minute: Timestamp) -> i64 {
        let len = bucket_secs(limits.window_minutes);
        let wb = window_buckets(limits.window_minutes);
        bucket_start(end_minute.0, len) - (2 * wb - 2) * len
    }

    /// Evaluates one scope from its state and makes its transition (compare-and-set, re-reading the
    /// scope when another invocation moved first). Returns the alert if this call made the transition,
    /// and the number of store calls it made one after another.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        scope: &Scope,
        mut state: ScopeState,
        batch_limits: Option<DetectorConfig>,
        callers: &[(&str, &ScopeState)],
        now: Timestamp,
        end_minute: Timestamp,
        claim: &Claim,
        tally: &Tally,
    ) -> Result<(Option<Alert>, usize), StoreError> {
        let mut chain = 0;
        for _ in 0..MAX_CAS_ATTEMPTS {
            let limits = batch_limits
                .or(state.incident.as_ref().filter(|i| i.open).map(|i| i.limits))
                .unwrap_or(self.config);
            // Old buckets: forget them once there are a few (one call now and then, not per batch).
            let forget_before =
                self.keep_from(&limits, end_minute) - FORGET_MARGIN_MINUTES * MINUTE;
            let stale: Vec<Timestamp> = state
                .buckets
                .iter()
                .filter(|b| b.minute.0 < forget_before)
                .map(|b| b.minute)
                .collect();
            // Batch keys are kept for redeliveries up to an hour late, not for the whole window: a
            // day-long window's item stays small however many batches a minute touch the scope.
            let len = bucket_secs(limits.window_minutes);
            let marks: Vec<Timestamp> = state
                .marked
                .iter()
                .filter(|t| t.0 >= forget_before && t.0 + len < end_minute.0 - DEDUPE_SECS)
                .copied()
                .collect();
            let decision = decide(
                scope,
                &state,
                batch_limits,
                &limits,
                callers,
                now,
                end_minute,
            );
            if stale.len() + marks.len() > S::FORGET_AFTER && chain == 0 {
                tally.one();
                chain += 1;
                self.store.forget(scope, &stale, &marks).await?;
            }
            let Some(d) = decision else {
                return Ok((None, chain));
            };
            tally.one();
            chain += 1;
            if self
                .store
                .transition(scope, state.version, &d.next, &d.alert, claim)
                .await?
            {
                return Ok((Some(d.alert), chain));
            }
            // Someone else moved the incident first: look again.
            tally.one();
            chain += 1;
            state = self.store.read(scope).await?;
        }
        Err(StoreError {
            operation: "transition",
            message: format!("the incident changed concurrently {MAX_CAS_ATTEMPTS} times in a row"),
        })
    }
}

/// The transition a scope's state calls for at `end_minute` (the last minute of its window), if any.
/// Pure: the same state always gives the same decision.
fn decide(
    scope: &Scope,
    state: &ScopeState,
    batch_limits: Option<DetectorConfig>,
    limits: &DetectorConfig,
    callers: &[(&str, &ScopeState)],
    now: Timestamp,
    end_minute: Timestamp,
) -> Option<Decision> {
    let open = state.incident.as_ref().filter(|i| i.open);
    if open.is_none() && batch_limits.is_none() {
        return None; // registered, but no longer open: nothing to do
    }
    let len = bucket_secs(limits.window_minutes);
    let wb = window_buckets(limits.window_minutes);
    let last = bucket_start(end_minute.0, len);
    let window_first = last - (wb - 1) * len;
    let buckets = by_start(&state.buckets);
    let window = window_over(&buckets, window_first, last);
    let (kind, next, previous) = match open {
        None => {
            if !limits.crosses(&window) {
                return None;
            }
            let next = Incident {
                open: true,
                started: now,
                last_alert_at: now,
                last_alert_cost: window.cost,
                alerts: 1,
                limits: *limits,
                team: window.team.clone(),
            };
            (AlertKind::Runaway, next, None)
        }
        Some(inc) => {
            let quiet = (0..wb).all(|k| {
                let e = last - k * len;
                !limits.crosses(&window_over(&buckets, e - (wb - 1) * len, e))
            });
            if quiet {
                let next = Incident {
                    open: false,
                    last_alert_at: now,
                    alerts: inc.alerts + 1,
                    ..inc.clone()
                };
                (AlertKind::Resolved, next, Some(inc.last_alert_cost))
            } else if window.cost.0 >= inc.last_alert_cost.max(limits.max_cost).0.saturating_mul(2)
            {
                let next = Incident {
                    last_alert_at: now,
                    last_alert_cost: window.cost,
                    alerts: inc.alerts + 1,
                    limits: *limits,
                    ..inc.clone()
                };
                (AlertKind::Escalation, next, Some(inc.last_alert_cost))
            } else {
                return None;
            }
        }
    };
    let team = if window.team.is_empty() {
        next.team.clone()
    } else {
        window.team.clone()
    };
    let shares = if kind == AlertKind::Runaway && scope.caller.is_none() {
        caller_shares(callers, &window, window_first, last)
    } else {
        Vec::new()
    };
    let alert = Alert {
        kind,
        app: scope.app.clone(),
        team,
        caller: scope.caller.clone(),
        profile: scope.profile.clone(),
        callers: shares,
        models: window.models.into_iter().collect(),
        profile_arns: window.profile_arns.into_iter().collect(),
        window_minutes: limits.window_minutes,
        at: now,
        window_start: Timestamp(window_first),
        window_cost: window.cost,
        window_requests: window.requests,
        window_unpriced: window.unpriced,
        tokens: window.tokens,
        threshold_cost: limits.max_cost,
        threshold_requests: limits.max_requests,
        incident_started: next.started,
        previous_alert_cost: previous,
        id: format!("{}/{}/{}", scope.key(), next.started.0, next.alerts),
    };
    Some(Decision { next, alert })
}

fn by_start(list: &[Bucket]) -> BTreeMap<i64, Bucket> {
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for b in list {
        buckets
            .entry(b.minute.0)
            .or_insert_with(|| Bucket::new(b.minute))
            .add(b);
    }
    buckets
}

/// Each caller's own window (its scope on the same profile, over the app window's buckets) as a
/// share of the app window: the largest first (by the larger of its spend and request fractions), at
/// most [`MAX_CALLER_SHARES`].
fn caller_shares(
    callers: &[(&str, &ScopeState)],
    app: &WindowSum,
    first: i64,
    last: i64,
) -> Vec<CallerShare> {
    let fraction = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
    let mut out: Vec<(f64, CallerShare)> = callers
        .iter()
        .map(|(caller, st)| {
            let w = window_over(&by_start(&st.buckets), first, last);
            // Ordering only (never money arithmetic): the larger of the two fractions.
            let f = fraction(w.cost.0 as f64, app.cost.0 as f64)
                .max(fraction(w.requests as f64, app.requests as f64));
            (
                f,
                CallerShare {
                    caller: (*caller).to_string(),
                    cost: w.cost,
                    requests: w.requests,
                },
            )
        })
        .filter(|(_, c)| c.requests > 0)
        .collect();
    out.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.caller.cmp(&b.1.caller))
    });
    out.truncate(MAX_CALLER_SHARES);
    out.into_iter().map(|(_, c)| c).collect()
}

//! Runaway-loop detection: sliding windows of spend and request count per (app, caller) and per app,
//! with incidents that alert once, escalate on doubling and resolve after a quiet window.
//!
//! # API (what the ingest Lambda calls)
//!
//! ```ignore
//! use bedrock_meter::detector::{Detector, DetectorConfig, Observation, Alert, AlertKind};
//! use bedrock_meter::aws::dynamodb::DynamoStore;      // or detector::MemoryStore (replay, tests)
//!
//! // once per cold start
//! let cfg = DetectorConfig::from_lookup(|k| std::env::var(k).ok())?; // WINDOW_MINUTES, MAX_COST_USD, MAX_REQUESTS
//! let store = DynamoStore::new(&sdk_config, std::env::var("STATE_TABLE")?);
//! let detector = Detector::new(store, cfg);
//!
//! // per invocation, after parse → resolve → price
//! let obs: Vec<Observation> = records.map(|(r, resolution, cost)| {
//!     Observation::new(r.timestamp, &resolution, r.caller.as_deref(), cost /* Result<Money, Unpriced> */, r.tokens)
//! }).collect();
//! let alerts: Vec<Alert> = detector.observe(&batch_id, &obs, Timestamp(now_epoch_secs)).await?;
//! for a in &alerts { /* render (alert.rs) and publish to SNS */ }
//! ```
//!
//! - `batch_id`: any string that is the same when the same batch is delivered again, and differs
//!   between batches — e.g. the first and last CloudWatch Logs event ids of the batch plus its count.
//!   Adds are applied once per (scope, minute, batch id), so a redelivered batch adds nothing.
//! - `observe` returns each alert **once**: the incident transition that produces it is a
//!   compare-and-set in the store, won by exactly one invocation, and a redelivered batch (or a
//!   concurrent one) finds the transition already made. Publish the returned alerts before anything
//!   else can fail the invocation: a Lambda retry will not return them again (at-most-once per crossing).
//! - An `Err(StoreError)` means the store could not be read or written: fail the invocation so Lambda
//!   retries (the retry re-adds nothing that was already applied).
//! - `observe(batch_id, &[], now)` is a tick: it only evaluates open incidents (for "resolved").
//!   Open incidents are also evaluated on every call with traffic, whatever apps the batch holds.
//! - Per-app overrides come from the profile tags `meter:max-cost-usd`, `meter:max-requests`,
//!   `meter:window-minutes` ([`Overrides::from_tags`], done by [`Observation::new`] from `Resolution.tags`).
//! - No prompt or response text ever enters an [`Observation`] or an [`Alert`].
//!
//! Signatures:
//! - `DetectorConfig { window_minutes: u32, max_cost: Money, max_requests: u64 }`, `Default` = 15, $10, 600;
//!   `DetectorConfig::from_lookup(impl Fn(&str) -> Option<String>) -> Result<DetectorConfig, ConfigError>`
//! - `Detector::new(store: S, config: DetectorConfig) -> Detector<S>` where `S: StateStore`
//! - `Detector::observe(&self, batch_id: &str, obs: &[Observation], now: Timestamp) -> Result<Vec<Alert>, StoreError>`
//! - `Alert { kind, app, team, caller: Option<String>, models, profile_arns, window_minutes, at,
//!   window_start, window_cost, window_requests, window_unpriced, tokens, threshold_cost,
//!   threshold_requests, incident_started, previous_alert_cost, id }`; `Alert::replay_json()`.
//!
//! # Semantics
//!
//! Traffic is summed into one-minute buckets per scope (by each record's own timestamp). The window
//! that is evaluated at time `now` is the `W` whole minutes ending with the minute that contains
//! `now - 1s` (so in replay, where a batch of minute `m` is evaluated at `now = m + 1 min`, it is
//! minutes `m-W+1 ..= m`). A window **crosses** when its cost is strictly above the cost threshold or
//! its request count strictly above the request threshold.
//!
//! - no open incident and the window crosses → open an incident, alert `runaway`;
//! - open incident and window cost ≥ 2 × the cost in the last alert (and > 0) → alert `escalation`;
//! - open incident and every window ending in the last `W` minutes (the current one included) is at or
//!   below both thresholds → close it, alert `resolved`. "A full quiet window": `W` consecutive
//!   per-minute evaluations without a crossing, computed from the stored buckets (the last `2W-1`
//!   minutes), so it does not depend on how often the detector ran.
//!
//! An app-level alert is dropped from the result when the same call produced a caller-level alert of the
//! same kind for the same app (the caller-level one names strictly more); the app-level incident is still
//! recorded, so it does not alert later for the same crossing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use crate::money::Money;
use crate::prices::Unpriced;
use crate::record::Tokens;
use crate::rollup::{Resolution, UNKNOWN_CALLER};
use crate::time::Timestamp;

pub const TAG_MAX_COST: &str = "meter:max-cost-usd";
pub const TAG_MAX_REQUESTS: &str = "meter:max-requests";
pub const TAG_WINDOW_MINUTES: &str = "meter:window-minutes";

/// The longest window accepted (from configuration or tags): a day.
pub const MAX_WINDOW_MINUTES: u32 = 1440;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Thresholds of a scope's window (the defaults, or an app's after its tag overrides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectorConfig {
    pub window_minutes: u32,
    /// Alert when the window's priced spend is strictly above this.
    pub max_cost: Money,
    /// Alert when the window's request count is strictly above this.
    pub max_requests: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            window_minutes: 15,
            max_cost: Money(10 * crate::money::FEMTO_PER_USD),
            max_requests: 600,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {value:?} is not {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

fn parse_window(v: &str) -> Option<u32> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|w| (1..=MAX_WINDOW_MINUTES).contains(w))
}

fn parse_cost(v: &str) -> Option<Money> {
    Money::from_usd_text(v.trim()).ok().filter(|m| m.0 > 0)
}

fn parse_requests(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok().filter(|&n| n > 0)
}

impl DetectorConfig {
    /// From `WINDOW_MINUTES`, `MAX_COST_USD`, `MAX_REQUESTS` (missing or empty → default) read through
    /// `get` (e.g. `|k| std::env::var(k).ok()`). A present but invalid value is an error, never
    /// silently the default.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<DetectorConfig, ConfigError> {
        let d = DetectorConfig::default();
        let val = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let window_minutes = match val("WINDOW_MINUTES") {
            None => d.window_minutes,
            Some(v) => parse_window(&v).ok_or(ConfigError {
                name: "WINDOW_MINUTES",
                value: v,
                expected: "a whole number of minutes from 1 to 1440",
            })?,
        };
        let max_cost = match val("MAX_COST_USD") {
            None => d.max_cost,
            Some(v) => parse_cost(&v).ok_or(ConfigError {
                name: "MAX_COST_USD",
                value: v,
                expected: "a positive decimal amount of USD (e.g. 10 or 2.50)",
            })?,
        };
        let max_requests = match val("MAX_REQUESTS") {
            None => d.max_requests,
            Some(v) => parse_requests(&v).ok_or(ConfigError {
                name: "MAX_REQUESTS",
                value: v,
                expected: "a positive whole number",
            })?,
        };
        Ok(DetectorConfig {
            window_minutes,
            max_cost,
            max_requests,
        })
    }

    /// These thresholds with an app's overrides applied.
    pub fn with(&self, o: &Overrides) -> DetectorConfig {
        DetectorConfig {
            window_minutes: o.window_minutes.unwrap_or(self.window_minutes),
            max_cost: o.max_cost.unwrap_or(self.max_cost),
            max_requests: o.max_requests.unwrap_or(self.max_requests),
        }
    }

    fn crosses(&self, w: &WindowSum) -> bool {
        w.cost > self.max_cost || w.requests > self.max_requests
    }
}

/// Per-app thresholds from an application profile's tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub window_minutes: Option<u32>,
    pub max_cost: Option<Money>,
    pub max_requests: Option<u64>,
}

impl Overrides {
    /// Reads `meter:max-cost-usd`, `meter:max-requests`, `meter:window-minutes`. An invalid value is
    /// ignored (the default applies) and logged without the profile's other data.
    pub fn from_tags(tags: &[(String, String)]) -> Overrides {
        let mut o = Overrides::default();
        for (k, v) in tags {
            let ok = match k.as_str() {
                TAG_MAX_COST => parse_cost(v).map(|m| o.max_cost = Some(m)).is_some(),
                TAG_MAX_REQUESTS => parse_requests(v)
                    .map(|n| o.max_requests = Some(n))
                    .is_some(),
                TAG_WINDOW_MINUTES => parse_window(v)
                    .map(|w| o.window_minutes = Some(w))
                    .is_some(),
                _ => true,
            };
            if !ok {
                tracing::warn!(tag = %k, value = %v, "ignoring an invalid threshold tag");
            }
        }
        o
    }

    fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Observations, scopes, buckets, incidents
// ---------------------------------------------------------------------------------------------

/// One priced, attributed record (or several of the same minute and attribution). Metadata only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub at: Timestamp,
    pub app: String,
    pub team: String,
    /// The caller's identity ARN (`unknown` when the record has none).
    pub caller: String,
    /// The base model when known, else the logged `modelId`.
    pub model: String,
    pub profile_arn: Option<String>,
    /// The priced part of the cost (zero when unpriced).
    pub cost: Money,
    /// Whether (part of) this usage could not be priced.
    pub unpriced: bool,
    pub requests: u64,
    pub tokens: Tokens,
    /// The app's threshold overrides (from its profile's tags).
    pub overrides: Overrides,
}

impl Observation {
    /// One record's observation, from its resolution and its price.
    pub fn new(
        at: Timestamp,
        resolution: &Resolution,
        caller: Option<&str>,
        cost: Result<Money, Unpriced>,
        tokens: Tokens,
    ) -> Observation {
        Observation {
            at,
            app: resolution.app.clone(),
            team: resolution.team.clone(),
            caller: caller
                .filter(|c| !c.is_empty())
                .unwrap_or(UNKNOWN_CALLER)
                .to_string(),
            model: resolution.model.clone(),
            profile_arn: resolution.profile_arn.clone(),
            cost: *cost.as_ref().unwrap_or(&Money::ZERO),
            unpriced: cost.is_err(),
            requests: 1,
            tokens,
            overrides: Overrides::from_tags(&resolution.tags),
        }
    }
}

/// What a window is kept for: an app (`caller: None`) or one caller of an app.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub app: String,
    pub caller: Option<String>,
}

fn escape_key_part(s: &str) -> String {
    s.replace('%', "%25").replace('#', "%23")
}

impl Scope {
    pub fn app(app: &str) -> Scope {
        Scope {
            app: app.to_string(),
            caller: None,
        }
    }

    pub fn caller(app: &str, caller: &str) -> Scope {
        Scope {
            app: app.to_string(),
            caller: Some(caller.to_string()),
        }
    }

    /// A stable, unambiguous key (`A#app` or `C#app#caller`, with `%` and `#` escaped).
    pub fn key(&self) -> String {
        match &self.caller {
            None => format!("A#{}", escape_key_part(&self.app)),
            Some(c) => format!("C#{}#{}", escape_key_part(&self.app), escape_key_part(c)),
        }
    }
}

/// Usage of one scope in one minute (also the shape of an add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the minute.
    pub minute: Timestamp,
    pub cost: Money,
    pub requests: u64,
    pub unpriced: u64,
    pub tokens: Tokens,
    /// The team last seen for the scope in this minute.
    pub team: String,
    pub models: BTreeSet<String>,
    pub profile_arns: BTreeSet<String>,
}

impl Bucket {
    pub fn new(minute: Timestamp) -> Bucket {
        Bucket {
            minute,
            cost: Money::ZERO,
            requests: 0,
            unpriced: 0,
            tokens: Tokens::default(),
            team: String::new(),
            models: BTreeSet::new(),
            profile_arns: BTreeSet::new(),
        }
    }
}

fn add_tokens(t: &mut Tokens, u: &Tokens) {
    t.input = t.input.saturating_add(u.input);
    t.output = t.output.saturating_add(u.output);
    t.cache_read = t.cache_read.saturating_add(u.cache_read);
    t.cache_write = t.cache_write.saturating_add(u.cache_write);
    t.cache_write_1h = t.cache_write_1h.saturating_add(u.cache_write_1h);
}

impl Bucket {
    /// Adds another bucket's usage (of the same minute).
    pub fn add(&mut self, o: &Bucket) {
        self.cost += o.cost;
        self.requests = self.requests.saturating_add(o.requests);
        self.unpriced = self.unpriced.saturating_add(o.unpriced);
        add_tokens(&mut self.tokens, &o.tokens);
        if !o.team.is_empty() {
            self.team.clone_from(&o.team);
        }
        self.models.extend(o.models.iter().cloned());
        self.profile_arns.extend(o.profile_arns.iter().cloned());
    }

    fn add_observation(&mut self, o: &Observation) {
        self.cost += o.cost;
        self.requests = self.requests.saturating_add(o.requests);
        self.unpriced =
            self.unpriced
                .saturating_add(if o.unpriced { o.requests.max(1) } else { 0 });
        add_tokens(&mut self.tokens, &o.tokens);
        self.team.clone_from(&o.team);
        self.models.insert(o.model.clone());
        if let Some(a) = &o.profile_arn {
            self.profile_arns.insert(a.clone());
        }
    }
}

/// A scope's incident, as stored. `open: false` is a closed incident (kept so its version goes on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub open: bool,
    /// When the `runaway` alert fired.
    pub started: Timestamp,
    pub last_alert_at: Timestamp,
    /// The window cost in the last alert sent (escalation compares against twice this).
    pub last_alert_cost: Money,
    /// Alerts sent in this incident (runaway and escalations; resolved included once closed).
    pub alerts: u32,
    /// The thresholds the incident was opened under (used when the scope has no traffic to say).
    pub limits: DetectorConfig,
    pub team: String,
}

/// A store failure; fail the invocation so that it is retried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("state store: {operation} failed: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub message: String,
}

/// Where windows and incidents live, shared by concurrent invocations. All writes are atomic;
/// [`StateStore::add`] is idempotent per batch key and [`StateStore::swap_incident`] is a
/// compare-and-set.
pub trait StateStore: Send + Sync {
    /// Adds `delta` to the scope's bucket of `delta.minute` unless `batch` was already applied to that
    /// bucket. `Ok(true)`: applied now; `Ok(false)`: already applied (redelivery).
    fn add(
        &self,
        scope: &Scope,
        batch: &str,
        delta: &Bucket,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The scope's buckets with `first <= minute <= last`, read after every completed add (strongly
    /// consistent), in any order.
    fn buckets(
        &self,
        scope: &Scope,
        first: Timestamp,
        last: Timestamp,
    ) -> impl Future<Output = Result<Vec<Bucket>, StoreError>> + Send;

    /// The scope's incident and its version (absent = version 0).
    fn incident(
        &self,
        scope: &Scope,
    ) -> impl Future<Output = Result<Option<(u64, Incident)>, StoreError>> + Send;

    /// Writes `next` as version `expected + 1` if and only if the stored version is `expected`
    /// (0: no incident stored). `Ok(false)`: someone else changed it first.
    fn swap_incident(
        &self,
        scope: &Scope,
        expected: u64,
        next: &Incident,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Scopes registered as having an open incident (a superset is fine: they are re-checked).
    fn open_scopes(&self) -> impl Future<Output = Result<Vec<Scope>, StoreError>> + Send;

    /// `open: true` registers the scope as having an open incident at incident version `version`
    /// (keeping the highest version registered). `open: false` removes the registration only if it was
    /// made at a version `<= version`, so that closing an old incident never unregisters a newer one.
    /// Both idempotent.
    fn set_open(
        &self,
        scope: &Scope,
        version: u64,
        open: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// First crossing of a threshold: an incident starts.
    Runaway,
    /// The window's spend has doubled since the last alert of the incident.
    Escalation,
    /// A full quiet window: the incident is over.
    Resolved,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Runaway => "runaway",
            AlertKind::Escalation => "escalation",
            AlertKind::Resolved => "resolved",
        }
    }
}

/// Everything a person needs to act on an incident. No prompt or response text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    pub app: String,
    pub team: String,
    /// `None` for an app-level alert (all callers of the app together).
    pub caller: Option<String>,
    /// Models seen in the window, sorted.
    pub models: Vec<String>,
    /// Application profile ARNs seen in the window, sorted (usually one).
    pub profile_arns: Vec<String>,
    pub window_minutes: u32,
    /// When it fired (the invocation's `now`; simulated time in replay).
    pub at: Timestamp,
    /// Start of the first minute of the window.
    pub window_start: Timestamp,
    /// Priced spend in the window.
    pub window_cost: Money,
    pub window_requests: u64,
    /// Requests in the window that could not be priced (their cost is not in `window_cost`).
    pub window_unpriced: u64,
    pub tokens: Tokens,
    pub threshold_cost: Money,
    pub threshold_requests: u64,
    /// When the incident's `runaway` alert fired.
    pub incident_started: Timestamp,
    /// For an escalation (and resolved): the window cost in the previous alert.
    pub previous_alert_cost: Option<Money>,
    /// Stable id: scope key, incident start, alert number (e.g. for de-duplication downstream).
    pub id: String,
}

fn usd_number(m: Money) -> String {
    // Display only: six decimals, as a JSON number without trailing zeros.
    let s = m.to_decimal_string(6);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl Alert {
    /// The `replay --format json` line (no newline), keys in the documented order.
    pub fn replay_json(&self) -> String {
        format!(
            "{{\"type\":{},\"app\":{},\"team\":{},\"caller\":{},\"window_minutes\":{},\"at\":{},\"window_cost_usd\":{},\"window_requests\":{},\"threshold_cost_usd\":{},\"threshold_requests\":{}}}",
            json_str(self.kind.as_str()),
            json_str(&self.app),
            json_str(&self.team),
            self.caller.as_deref().map_or_else(|| "null".into(), json_str),
            self.window_minutes,
            json_str(&self.at.to_string()),
            usd_number(self.window_cost),
            self.window_requests,
            usd_number(self.threshold_cost),
            self.threshold_requests,
        )
    }

    /// One readable line (the `replay` table format).
    pub fn summary_line(&self) -> String {
        let who = match &self.caller {
            Some(c) => format!("{} ({}) caller {}", self.app, self.team, c),
            None => format!("{} ({}) all callers", self.app, self.team),
        };
        let prev = match (self.kind, self.previous_alert_cost) {
            (AlertKind::Escalation, Some(p)) => format!(", was {p}"),
            _ => String::new(),
        };
        format!(
            "{}  {:<10} {}: {} and {} requests in {} min{} (thresholds {} / {} requests; started {})",
            self.at,
            self.kind.as_str(),
            who,
            self.window_cost,
            self.window_requests,
            self.window_minutes,
            prev,
            self.threshold_cost,
            self.threshold_requests,
            self.incident_started,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The detector
// ---------------------------------------------------------------------------------------------

const MINUTE: i64 = 60;
/// Bucket TTL: two windows plus this margin after the bucket's minute.
const TTL_MARGIN_MINUTES: i64 = 10;
/// Compare-and-set attempts per scope and call before giving up (the call then fails and is retried).
const MAX_CAS_ATTEMPTS: usize = 8;

/// A short, stable key for a batch id (FNV-1a 64, hex): what the store records per bucket.
pub fn batch_key(batch_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in batch_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Sums of a window.
#[derive(Clone, Debug, Default)]
struct WindowSum {
    cost: Money,
    requests: u64,
    unpriced: u64,
    tokens: Tokens,
    team: String,
    models: BTreeSet<String>,
    profile_arns: BTreeSet<String>,
}

impl WindowSum {
    /// Over the buckets whose minute is in `first..=last` (epoch seconds).
    fn over(buckets: &BTreeMap<i64, Bucket>, first: i64, last: i64) -> WindowSum {
        let mut w = WindowSum::default();
        for b in buckets.range(first..=last).map(|(_, b)| b) {
            w.cost += b.cost;
            w.requests = w.requests.saturating_add(b.requests);
            w.unpriced = w.unpriced.saturating_add(b.unpriced);
            add_tokens(&mut w.tokens, &b.tokens);
            if !b.team.is_empty() {
                w.team.clone_from(&b.team);
            }
            w.models.extend(b.models.iter().cloned());
            w.profile_arns.extend(b.profile_arns.iter().cloned());
        }
        w
    }
}

/// The runaway detector over a shared [`StateStore`]. `observe` takes `&self`: one detector may serve
/// concurrent calls, and detectors in different processes sharing one store behave as one.
pub struct Detector<S> {
    store: S,
    config: DetectorConfig,
}

impl<S: StateStore> Detector<S> {
    pub fn new(store: S, config: DetectorConfig) -> Detector<S> {
        Detector { store, config }
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Adds a batch's observations to the shared windows (once per `batch_id`), evaluates every scope
    /// the batch touches and every scope with an open incident at time `now`, and returns the alerts
    /// this call won (see the module documentation).
    pub async fn observe(
        &self,
        batch_id: &str,
        observations: &[Observation],
        now: Timestamp,
    ) -> Result<Vec<Alert>, StoreError> {
        let batch = batch_key(batch_id);
        let mut deltas: BTreeMap<(Scope, i64), Bucket> = BTreeMap::new();
        let mut limits: HashMap<String, DetectorConfig> = HashMap::new();
        let mut end = now;
        for o in observations {
            let minute = o.at.minute();
            for scope in [Scope::app(&o.app), Scope::caller(&o.app, &o.caller)] {
                deltas
                    .entry((scope, minute.0))
                    .or_insert_with(|| Bucket::new(minute))
                    .add_observation(o);
            }
            let l = limits.entry(o.app.clone()).or_insert(self.config);
            if !o.overrides.is_empty() {
                *l = self.config.with(&o.overrides);
            }
            end = end.max(Timestamp(o.at.0 + 1));
        }
        for ((scope, _), delta) in &deltas {
            let w = i64::from(
                limits
                    .get(&scope.app)
                    .map_or(self.config.window_minutes, |l| l.window_minutes),
            );
            let expires_at = Timestamp(delta.minute.0 + (2 * w + TTL_MARGIN_MINUTES) * MINUTE);
            self.store.add(scope, &batch, delta, expires_at).await?;
        }
        let end_minute = Timestamp(end.0 - 1).minute();
        let mut scopes: BTreeSet<Scope> = deltas.into_keys().map(|(s, _)| s).collect();
        scopes.extend(self.store.open_scopes().await?);
        let mut alerts = Vec::new();
        for scope in &scopes {
            let batch_limits = limits.get(&scope.app).copied();
            if let Some(a) = self.evaluate(scope, batch_limits, now, end_minute).await? {
                alerts.push(a);
            }
        }
        let by_caller: BTreeSet<(String, AlertKind)> = alerts
            .iter()
            .filter(|a| a.caller.is_some())
            .map(|a| (a.app.clone(), a.kind))
            .collect();
        alerts.retain(|a| a.caller.is_some() || !by_caller.contains(&(a.app.clone(), a.kind)));
        Ok(alerts)
    }

    /// Evaluates one scope at `end_minute` (the last minute of its window); makes at most one incident
    /// transition, by compare-and-set, and returns its alert if this call made it.
    async fn evaluate(
        &self,
        scope: &Scope,
        batch_limits: Option<DetectorConfig>,
        now: Timestamp,
        end_minute: Timestamp,
    ) -> Result<Option<Alert>, StoreError> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (version, stored) = match self.store.incident(scope).await? {
                Some((v, i)) => (v, Some(i)),
                None => (0, None),
            };
            let open = stored.as_ref().filter(|i| i.open);
            if open.is_none() && batch_limits.is_none() {
                // Registered as open but not (or no longer): tidy the registration up, unless an
                // opener may be between registering and writing (no incident stored yet).
                if stored.is_some() {
                    self.store.set_open(scope, version, false).await?;
                }
                return Ok(None);
            }
            let limits = batch_limits
                .or(open.map(|i| i.limits))
                .unwrap_or(self.config);
            let w = i64::from(limits.window_minutes);
            let last = end_minute.0;
            let window_first = last - (w - 1) * MINUTE;
            let first = if open.is_some() {
                last - (2 * w - 2) * MINUTE
            } else {
                window_first
            };
            let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
            for b in self
                .store
                .buckets(scope, Timestamp(first), end_minute)
                .await?
            {
                buckets
                    .entry(b.minute.0)
                    .or_insert_with(|| Bucket::new(b.minute))
                    .add(&b);
            }
            let window = WindowSum::over(&buckets, window_first, last);
            let (kind, next, previous) = match open {
                None => {
                    if !limits.crosses(&window) {
                        return Ok(None);
                    }
                    // Register first: whoever wins the swap below is then always findable.
                    self.store.set_open(scope, version + 1, true).await?;
                    let next = Incident {
                        open: true,
                        started: now,
                        last_alert_at: now,
                        last_alert_cost: window.cost,
                        alerts: 1,
                        limits,
                        team: window.team.clone(),
                    };
                    (AlertKind::Runaway, next, None)
                }
                Some(inc) => {
                    let quiet = (0..w).all(|k| {
                        let e = last - k * MINUTE;
                        !limits.crosses(&WindowSum::over(&buckets, e - (w - 1) * MINUTE, e))
                    });
                    if quiet {
                        let next = Incident {
                            open: false,
                            last_alert_at: now,
                            alerts: inc.alerts + 1,
                            ..inc.clone()
                        };
                        (AlertKind::Resolved, next, Some(inc.last_alert_cost))
                    } else if window.cost > Money::ZERO
                        && window.cost.0 >= inc.last_alert_cost.0.saturating_mul(2)
                    {
                        let next = Incident {
                            last_alert_at: now,
                            last_alert_cost: window.cost,
                            alerts: inc.alerts + 1,
                            limits,
                            ..inc.clone()
                        };
                        (AlertKind::Escalation, next, Some(inc.last_alert_cost))
                    } else {
                        return Ok(None);
                    }
                }
            };
            if !self.store.swap_incident(scope, version, &next).await? {
                continue; // someone else moved the incident first: look again
            }
            if kind == AlertKind::Resolved {
                self.store.set_open(scope, version + 1, false).await?;
            }
            let team = if window.team.is_empty() {
                next.team.clone()
            } else {
                window.team.clone()
            };
            return Ok(Some(Alert {
                kind,
                app: scope.app.clone(),
                team,
                caller: scope.caller.clone(),
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
            }));
        }
        Err(StoreError {
            operation: "swap_incident",
            message: format!("the incident changed concurrently {MAX_CAS_ATTEMPTS} times in a row"),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// In-memory store (replay, tests)
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct MemoryInner {
    buckets: HashMap<(Scope, i64), (Bucket, BTreeSet<String>, Timestamp)>,
    incidents: HashMap<Scope, (u64, Incident)>,
    open: HashMap<Scope, u64>,
    /// Latest minute added; buckets expire relative to it (simulated time).
    latest: i64,
    last_prune: i64,
}

/// A [`StateStore`] in process memory: one mutex, so every operation is atomic. Buckets expire by
/// their `expires_at` relative to the latest minute added (simulated time in replay).
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
        self.lock().buckets.len()
    }
}

impl StateStore for MemoryStore {
    async fn add(
        &self,
        scope: &Scope,
        batch: &str,
        delta: &Bucket,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        g.latest = g.latest.max(delta.minute.0);
        if g.latest - g.last_prune >= 3600 {
            let latest = g.latest;
            g.buckets.retain(|_, (_, _, exp)| exp.0 > latest);
            g.last_prune = latest;
        }
        let entry = g
            .buckets
            .entry((scope.clone(), delta.minute.0))
            .or_insert_with(|| (Bucket::new(delta.minute), BTreeSet::new(), expires_at));
        if !entry.1.insert(batch.to_string()) {
            return Ok(false);
        }
        entry.0.add(delta);
        entry.2 = entry.2.max(expires_at);
        Ok(true)
    }

    async fn buckets(
        &self,
        scope: &Scope,
        first: Timestamp,
        last: Timestamp,
    ) -> Result<Vec<Bucket>, StoreError> {
        let g = self.lock();
        let mut out = Vec::new();
        let mut m = first.minute().0;
        while m <= last.0 {
            if let Some((b, _, _)) = g.buckets.get(&(scope.clone(), m)) {
                out.push(b.clone());
            }
            m += MINUTE;
        }
        Ok(out)
    }

    async fn incident(&self, scope: &Scope) -> Result<Option<(u64, Incident)>, StoreError> {
        Ok(self.lock().incidents.get(scope).cloned())
    }

    async fn swap_incident(
        &self,
        scope: &Scope,
        expected: u64,
        next: &Incident,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let current = g.incidents.get(scope).map_or(0, |(v, _)| *v);
        if current != expected {
            return Ok(false);
        }
        g.incidents
            .insert(scope.clone(), (expected + 1, next.clone()));
        Ok(true)
    }

    async fn open_scopes(&self) -> Result<Vec<Scope>, StoreError> {
        Ok(self.lock().open.keys().cloned().collect())
    }

    async fn set_open(&self, scope: &Scope, version: u64, open: bool) -> Result<(), StoreError> {
        let mut g = self.lock();
        if open {
            let v = g.open.entry(scope.clone()).or_insert(version);
            *v = (*v).max(version);
        } else if g.open.get(scope).is_some_and(|&v| v <= version) {
            g.open.remove(scope);
        }
        Ok(())
    }
}

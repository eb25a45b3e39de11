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
//! - open incident and window cost ≥ 2 × the cost in the last alert → alert `escalation`. The base is
//!   at least the cost threshold: after an alert on requests with a window of $0.07, an escalation
//!   needs ≥ 2 × the cost threshold, not $0.14 (a cheap retry loop filling its window is no news);
//!   after a cost alert the base is that alert's cost, which is above the threshold anyway;
//! - open incident and every window ending in the last `W` minutes (the current one included) is at or
//!   below both thresholds → close it, alert `resolved`. "A full quiet window": `W` consecutive
//!   per-minute evaluations without a crossing, computed from the stored buckets (the last `2W-1`
//!   minutes), so it does not depend on how often the detector ran.
//!
//! Calls without an application profile resolve to app `unattributed`: they get caller-level windows
//! only, since summing every unrelated direct caller into one "app" would alert on normal traffic.
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
use crate::rollup::{Resolution, UNATTRIBUTED, UNKNOWN_CALLER};
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
            // `unattributed` is not an app but every call without a profile: no app-level window for
            // it (unrelated callers' normal traffic would add up to a false alarm); per caller only.
            let app_scope = (o.app != UNATTRIBUTED).then(|| Scope::app(&o.app));
            for scope in app_scope
                .into_iter()
                .chain([Scope::caller(&o.app, &o.caller)])
            {
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
                    } else if window.cost.0
                        >= inc.last_alert_cost.max(limits.max_cost).0.saturating_mul(2)
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

// ---------------------------------------------------------------------------------------------
// Replay (backtest)
// ---------------------------------------------------------------------------------------------

/// Runs the detector over observations as the live path would see them, in simulated time: batches of
/// one minute (by record timestamp), each evaluated at the end of its minute (`at` = the next minute's
/// start); every minute between batches is evaluated too while an incident is open, and after the last
/// batch the clock runs on until every open incident has resolved. Returns every alert in order.
pub async fn replay<S: StateStore>(
    detector: &Detector<S>,
    observations: &mut [Observation],
) -> Result<Vec<Alert>, StoreError> {
    observations.sort_by_key(|o| o.at);
    let mut alerts = Vec::new();
    let mut i = 0;
    let Some(first) = observations.first() else {
        return Ok(alerts);
    };
    let mut minute = first.at.minute().0;
    while i < observations.len() {
        let start = i;
        while i < observations.len() && observations[i].at.minute().0 == minute {
            i += 1;
        }
        let now = Timestamp(minute + MINUTE);
        let batch = &observations[start..i];
        if !batch.is_empty() || !detector.store.open_scopes().await?.is_empty() {
            alerts.extend(
                detector
                    .observe(&format!("replay-{minute}"), batch, now)
                    .await?,
            );
        }
        minute = match observations.get(i) {
            Some(next) if detector.store.open_scopes().await?.is_empty() => next.at.minute().0,
            _ => minute + MINUTE,
        };
    }
    // Run the clock on until open incidents resolve (bounded: a quiet window after the longest one).
    let longest = i64::from(MAX_WINDOW_MINUTES.max(detector.config.window_minutes));
    let stop = minute + (2 * longest + 2) * MINUTE;
    while minute < stop && !detector.store.open_scopes().await?.is_empty() {
        let now = Timestamp(minute + MINUTE);
        alerts.extend(
            detector
                .observe(&format!("replay-{minute}"), &[], now)
                .await?,
        );
        minute += MINUTE;
    }
    Ok(alerts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

    /// Drives a future that never waits on I/O (the in-memory store) to completion.
    fn block_on<F: Future>(f: F) -> F::Output {
        fn raw() -> RawWaker {
            fn clone(_: *const ()) -> RawWaker {
                raw()
            }
            fn noop(_: *const ()) {}
            static VT: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
            RawWaker::new(std::ptr::null(), &VT)
        }
        // SAFETY: the vtable's functions do nothing and never dereference the data pointer.
        let waker = unsafe { Waker::from_raw(raw()) };
        let mut cx = Context::from_waker(&waker);
        let mut f = pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    const T0: i64 = 1_764_028_800; // 2025-11-25T00:00:00Z

    fn usd(s: &str) -> Money {
        Money::from_usd_text(s).unwrap()
    }

    fn ob(at: i64, app: &str, caller: &str, cost: Money, input_tokens: u64) -> Observation {
        Observation {
            at: Timestamp(at),
            app: app.into(),
            team: format!("{app}-team"),
            caller: caller.into(),
            model: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
            profile_arn: Some(format!(
                "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/{app}"
            )),
            cost,
            unpriced: false,
            requests: 1,
            tokens: Tokens {
                input: input_tokens,
                output: 200,
                ..Tokens::default()
            },
            overrides: Overrides::default(),
        }
    }

    fn run(obs: &mut [Observation]) -> Vec<Alert> {
        let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
        block_on(replay(&d, obs)).unwrap()
    }

    /// Ground truth for a scope, by record (not by minute bucket): the first record time at which the
    /// records of the preceding `w` minutes (inclusive) exceed either threshold.
    fn first_crossing(obs: &[Observation], pick: impl Fn(&Observation) -> bool) -> Option<i64> {
        let cfg = DetectorConfig::default();
        let w = i64::from(cfg.window_minutes) * 60;
        let mut v: Vec<&Observation> = obs.iter().filter(|o| pick(o)).collect();
        v.sort_by_key(|o| o.at);
        for (i, o) in v.iter().enumerate() {
            let inw: Vec<&&Observation> = v[..=i].iter().filter(|p| p.at.0 > o.at.0 - w).collect();
            let cost: Money = inw.iter().map(|p| p.cost).sum();
            let req: u64 = inw.iter().map(|p| p.requests).sum();
            if cost > cfg.max_cost || req > cfg.max_requests {
                return Some(o.at.0);
            }
        }
        None
    }

    /// A day of diurnal traffic for three apps, a few callers each: busy but under the thresholds.
    fn diurnal_day() -> Vec<Observation> {
        let mut v = Vec::new();
        for minute in 0..1440i64 {
            let hour = (minute / 60) as f64;
            // 2..=30 requests a minute over the whole app, peak mid-afternoon.
            let rate = 16.0 + 14.0 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
            let n = rate.round() as i64;
            for k in 0..n {
                let app = ["support", "search", "ops-agent"][(k % 3) as usize];
                let caller = format!("arn:aws:sts::1:assumed-role/{app}/worker-{}", k % 4);
                // ~$0.012 a request: at the peak, 15 min × 10/min × $0.012 = $1.80 per app.
                let cost = Money(usd("0.012").0 + i128::from(k % 5) * 1_000_000_000_000);
                v.push(ob(
                    T0 + minute * 60 + (k * 59 / n.max(1)),
                    app,
                    &caller,
                    cost,
                    3000,
                ));
            }
        }
        v
    }

    #[test]
    fn steady_diurnal_traffic_does_not_alert() {
        let mut v = diurnal_day();
        assert!(v.len() > 20_000);
        assert_eq!(run(&mut v), vec![]);
    }

    #[test]
    fn legitimate_burst_under_thresholds_does_not_alert() {
        let mut v = diurnal_day();
        // A batch job: 10 minutes at 55 requests a minute ($0.015 each): 550 requests, $8.25 in the
        // window — close to, but under, both thresholds, on top of quiet night traffic of another app.
        for m in 0..10 {
            for k in 0..55 {
                v.push(ob(
                    T0 + 3 * 3600 + m * 60 + k,
                    "batch-eval",
                    "arn:aws:iam::1:user/ci",
                    usd("0.015"),
                    4000,
                ));
            }
        }
        assert_eq!(first_crossing(&v, |o| o.app == "batch-eval"), None);
        assert_eq!(run(&mut v), vec![]);
    }

    /// An agent stuck overnight: one call every 30 s, its context growing 1,500 tokens a call at
    /// $3.30/M input — cheap calls at first, then not.
    fn overnight_loop(start: i64, calls: i64) -> Vec<Observation> {
        let rate = Rate::per_million("3.30").unwrap();
        (0..calls)
            .map(|n| {
                let tokens = 2_000 + 1_500 * n as u64;
                ob(
                    start + 30 * n,
                    "ops-agent",
                    "arn:aws:sts::1:assumed-role/ops/loop",
                    rate * tokens,
                    tokens,
                )
            })
            .collect()
    }
    use crate::money::Rate;

    #[test]
    fn slow_overnight_loop_alerts_on_cost_then_escalates() {
        let start = T0 + 2 * 3600 + 17;
        let mut v = diurnal_day();
        v.extend(overnight_loop(start, 240)); // two hours
        let loop_caller = |o: &Observation| o.caller.ends_with("/loop");
        let crossing = first_crossing(&v, loop_caller).unwrap();
        let alerts = run(&mut v);
        let runaway: Vec<&Alert> = alerts
            .iter()
            .filter(|a| a.kind == AlertKind::Runaway)
            .collect();
        assert_eq!(runaway.len(), 1, "{alerts:#?}");
        let a = runaway[0];
        assert_eq!(a.app, "ops-agent");
        assert_eq!(
            a.caller.as_deref(),
            Some("arn:aws:sts::1:assumed-role/ops/loop")
        );
        assert!(a.window_cost > a.threshold_cost && a.window_requests <= a.threshold_requests);
        assert!(
            a.at.0 >= crossing && a.at.0 - crossing <= 5 * 60,
            "{} vs {crossing}",
            a.at.0
        );
        assert_eq!(
            a.models,
            vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".to_string()]
        );
        assert_eq!(a.team, "ops-agent-team");
        assert_eq!(a.profile_arns.len(), 1);
        assert_eq!(a.incident_started, a.at);
        assert!(a.tokens.input > 0);
        // Growing context: the window's spend doubles → escalations, each at ≥ 2× the previous alert.
        let esc: Vec<&Alert> = alerts
            .iter()
            .filter(|x| x.kind == AlertKind::Escalation && x.caller.is_some())
            .collect();
        assert!(!esc.is_empty(), "{alerts:#?}");
        let mut prev = a.window_cost;
        for e in &esc {
            assert_eq!(e.previous_alert_cost, Some(prev));
            assert!(e.window_cost.0 >= 2 * prev.0);
            assert_eq!(e.incident_started, a.incident_started);
            prev = e.window_cost;
        }
        // …and it ends: resolved once, after the loop stopped plus a quiet window.
        let resolved: Vec<&Alert> = alerts
            .iter()
            .filter(|x| x.kind == AlertKind::Resolved && x.caller.is_some())
            .collect();
        assert_eq!(resolved.len(), 1);
        assert!(resolved[0].at.0 >= start + 240 * 30 + 15 * 60);
        // Only one caller loops, so the app-level incident never shows separately.
        assert!(alerts.iter().all(|x| x.caller.is_some()), "{alerts:#?}");
    }

    #[test]
    fn fast_cheap_retry_loop_alerts_on_requests() {
        let mut v = diurnal_day();
        let start = T0 + 14 * 3600 + 5;
        // A client retrying a failing tool call: 3 calls a second of Nova Micro, $0.0001 each.
        for n in 0..(20 * 60 * 3) {
            v.push(ob(
                start + n / 3,
                "search",
                "arn:aws:iam::1:user/BedrockAPIKey-x1",
                usd("0.0001"),
                300,
            ));
        }
        let crossing = first_crossing(&v, |o| o.caller.contains("BedrockAPIKey")).unwrap();
        let app_crossing = first_crossing(&v, |o| o.app == "search").unwrap();
        let alerts = run(&mut v);
        let runaways: Vec<&Alert> = alerts
            .iter()
            .filter(|a| a.kind == AlertKind::Runaway)
            .collect();
        // The app's own traffic tips its window over a little before the loop's caller alone: an
        // app-level alert first, then the caller-level one — each once, each within 5 minutes.
        assert!(runaways.len() <= 2, "{alerts:#?}");
        let a = runaways
            .iter()
            .find(|a| a.caller.is_some())
            .expect("caller-level alert");
        assert_eq!(
            a.caller.as_deref(),
            Some("arn:aws:iam::1:user/BedrockAPIKey-x1")
        );
        assert!(a.window_requests > 600 && a.window_cost < usd("10"));
        assert!(a.at.0 - crossing <= 5 * 60 && a.at.0 >= crossing);
        let first = runaways[0];
        assert!(first.at.0 - app_crossing <= 5 * 60 && first.at.0 >= app_crossing);
        assert_eq!(
            alerts
                .iter()
                .filter(|a| a.kind == AlertKind::Resolved && a.caller.is_some())
                .count(),
            1
        );
        // Cheap and steady: the spend never doubles after the window fills.
        assert_eq!(
            alerts
                .iter()
                .filter(|a| a.kind == AlertKind::Escalation)
                .count(),
            0,
            "{alerts:#?}"
        );
    }

    #[test]
    fn escalation_on_doubling_only() {
        // $1.00 a minute for 20 min (crosses at $10+), then $2.50 a minute: the window goes from ~$11
        // to ≥ $22 → one escalation; it then stays at $37.50 (< 2 × the escalation's cost): no more.
        let mut v = Vec::new();
        for m in 0..20 {
            v.push(ob(T0 + m * 60, "a", "c", usd("1.00"), 1));
        }
        for m in 20..60 {
            v.push(ob(T0 + m * 60, "a", "c", usd("2.50"), 1));
        }
        let alerts = run(&mut v);
        let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                AlertKind::Runaway,
                AlertKind::Escalation,
                AlertKind::Resolved
            ],
            "{alerts:#?}"
        );
        assert_eq!(alerts[0].window_cost, usd("11.00"));
        assert_eq!(alerts[0].at, Timestamp(T0 + 11 * 60));
        assert!(alerts[1].window_cost >= usd("22.00"));
        assert_eq!(alerts[1].previous_alert_cost, Some(usd("11.00")));
    }

    #[test]
    fn resolved_after_a_full_quiet_window() {
        // $2 a minute for 10 minutes: the window crosses at the 6th minute ($12).
        let mut v: Vec<Observation> = (0..10)
            .map(|m| ob(T0 + m * 60, "a", "c", usd("2"), 1))
            .collect();
        let alerts = run(&mut v);
        let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![AlertKind::Runaway, AlertKind::Resolved]);
        assert_eq!(alerts[0].at, Timestamp(T0 + 6 * 60));
        // Windows end at minutes 0..=9 with traffic; the window ending at minute e is at or below $10
        // from e = 9 + 10 = 19 (minutes 5..=9 leave it: 4 × $2 = $8 at e = 20; e = 19 holds 5 × $2 = $10,
        // not above the threshold). Quiet from e = 19; 15 quiet windows: e = 19..=33, evaluated at the
        // end of minute 33 → at = minute 34.
        assert_eq!(alerts[1].at, Timestamp(T0 + 34 * 60));
        assert_eq!(alerts[1].incident_started, alerts[0].at);
        assert_eq!(alerts[1].window_cost, Money::ZERO);
        // A new loop after that is a new incident.
        let mut w: Vec<Observation> = v.clone();
        w.extend((0..10).map(|m| ob(T0 + 3600 + m * 60, "a", "c", usd("2"), 1)));
        let kinds: Vec<AlertKind> = run(&mut w).iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                AlertKind::Runaway,
                AlertKind::Resolved,
                AlertKind::Runaway,
                AlertKind::Resolved
            ]
        );
    }

    #[test]
    fn same_batch_twice_alerts_once_and_counts_once() {
        let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
        let now = Timestamp(T0 + 60);
        // $6 in one batch: under the threshold; delivered twice it must not become $12.
        let b1: Vec<Observation> = (0..6).map(|k| ob(T0 + k, "a", "c", usd("1"), 1)).collect();
        assert_eq!(
            block_on(d.observe("evt-1..evt-6", &b1, now)).unwrap(),
            vec![]
        );
        assert_eq!(
            block_on(d.observe("evt-1..evt-6", &b1, now)).unwrap(),
            vec![]
        );
        // A different batch crosses: one alert, at $12.
        let b2: Vec<Observation> = (0..6)
            .map(|k| ob(T0 + 10 + k, "a", "c", usd("1"), 1))
            .collect();
        let a = block_on(d.observe("evt-7..evt-12", &b2, now)).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].window_cost, usd("12"));
        assert_eq!(a[0].caller.as_deref(), Some("c"));
        // Redelivered: no second alert for the same crossing.
        assert_eq!(
            block_on(d.observe("evt-7..evt-12", &b2, now)).unwrap(),
            vec![]
        );
        assert_eq!(
            block_on(d.observe("evt-7..evt-12", &b2, Timestamp(T0 + 120))).unwrap(),
            vec![]
        );
    }

    #[test]
    fn app_level_alert_when_no_single_caller_crosses() {
        // 20 callers, each $0.80 in the window; together $16.
        let mut v = Vec::new();
        for m in 0..15 {
            for c in 0..20 {
                v.push(ob(
                    T0 + m * 60 + c,
                    "fleet",
                    &format!("worker-{c}"),
                    Money(usd("0.80").0 / 15),
                    1,
                ));
            }
        }
        let alerts = run(&mut v);
        assert_eq!(alerts[0].kind, AlertKind::Runaway);
        assert_eq!(alerts[0].caller, None);
        assert!(alerts.iter().all(|a| a.caller.is_none()));
    }

    #[test]
    fn unattributed_calls_have_no_app_level_window() {
        // 20 direct callers (no profile), $0.80 each in the window: $16 together, but they are not an
        // app. One of them looping is still caught.
        let mut v = Vec::new();
        for m in 0..15 {
            for c in 0..20 {
                v.push(ob(
                    T0 + m * 60 + c,
                    UNATTRIBUTED,
                    &format!("user-{c}"),
                    Money(usd("0.80").0 / 15),
                    1,
                ));
            }
        }
        assert_eq!(run(&mut v.clone()), vec![]);
        v.extend((0..8).map(|m| ob(T0 + m * 60 + 30, UNATTRIBUTED, "user-0", usd("2"), 1)));
        let alerts = run(&mut v);
        assert_eq!(alerts[0].kind, AlertKind::Runaway);
        assert_eq!(
            (alerts[0].app.as_str(), alerts[0].caller.as_deref()),
            (UNATTRIBUTED, Some("user-0"))
        );
    }

    #[test]
    fn per_app_tag_overrides() {
        let tags = vec![
            (TAG_MAX_COST.to_string(), "2.50".to_string()),
            (TAG_MAX_REQUESTS.to_string(), "50".to_string()),
            (TAG_WINDOW_MINUTES.to_string(), "5".to_string()),
            ("team".to_string(), "x".to_string()),
        ];
        let o = Overrides::from_tags(&tags);
        assert_eq!(o.max_cost, Some(usd("2.5")));
        assert_eq!(o.max_requests, Some(50));
        assert_eq!(o.window_minutes, Some(5));
        let bad = Overrides::from_tags(&[(TAG_MAX_COST.to_string(), "lots".to_string())]);
        assert_eq!(bad, Overrides::default());
        // $1 a minute: never above $10 in 15 minutes' default... but above $2.50 in 5 minutes.
        let mut v: Vec<Observation> = (0..4)
            .map(|m| Observation {
                overrides: o,
                ..ob(T0 + m * 60, "strict", "c", usd("1"), 1)
            })
            .collect();
        let alerts = run(&mut v);
        assert_eq!(alerts[0].kind, AlertKind::Runaway);
        assert_eq!(
            (alerts[0].window_minutes, alerts[0].threshold_cost),
            (5, usd("2.5"))
        );
        assert_eq!(alerts[0].at, Timestamp(T0 + 3 * 60));
    }

    #[test]
    fn config_from_lookup() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            DetectorConfig::from_lookup(env(&[])).unwrap(),
            DetectorConfig::default()
        );
        let c = DetectorConfig::from_lookup(env(&[
            ("WINDOW_MINUTES", "30"),
            ("MAX_COST_USD", "25.5"),
            ("MAX_REQUESTS", " 1000 "),
        ]))
        .unwrap();
        assert_eq!(
            (c.window_minutes, c.max_cost, c.max_requests),
            (30, usd("25.5"), 1000)
        );
        assert_eq!(
            DetectorConfig::from_lookup(env(&[("MAX_COST_USD", "")])).unwrap(),
            DetectorConfig::default()
        );
        for bad in [
            ("WINDOW_MINUTES", "0"),
            ("WINDOW_MINUTES", "1441"),
            ("MAX_COST_USD", "ten"),
            ("MAX_COST_USD", "0"),
            ("MAX_REQUESTS", "-3"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([bad]));
            let e = DetectorConfig::from_lookup(env(pairs)).unwrap_err();
            assert_eq!(e.name, bad.0);
        }
    }

    #[test]
    fn replay_json_line() {
        let mut v: Vec<Observation> = (0..6)
            .map(|m| ob(T0 + m * 60, "ops \"agent\"", "c", usd("2.5"), 1))
            .collect();
        let a = &run(&mut v)[0];
        assert_eq!(
            a.replay_json(),
            r#"{"type":"runaway","app":"ops \"agent\"","team":"ops \"agent\"-team","caller":"c","window_minutes":15,"at":"2025-11-25T00:05:00Z","window_cost_usd":12.5,"window_requests":5,"threshold_cost_usd":10,"threshold_requests":600}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&a.replay_json()).unwrap();
        assert_eq!(parsed["window_cost_usd"].as_f64(), Some(12.5));
        let app_level = Alert {
            caller: None,
            ..a.clone()
        };
        assert!(app_level.replay_json().contains(r#""caller":null"#));
        assert!(a.summary_line().contains("$12.50"));
    }

    #[test]
    fn scope_keys_are_unambiguous() {
        assert_ne!(
            Scope::caller("a#b", "c").key(),
            Scope::caller("a", "b#c").key()
        );
        assert_ne!(Scope::app("a").key(), Scope::caller("a", "").key());
        assert_eq!(Scope::caller("a%", "x").key(), "C#a%25#x");
    }

    #[test]
    fn memory_store_expires_old_buckets() {
        let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
        for h in 0..5 {
            let o = [ob(T0 + h * 3600, "a", "c", usd("0.01"), 1)];
            block_on(d.observe(&format!("b{h}"), &o, Timestamp(T0 + h * 3600 + 60))).unwrap();
        }
        // Two scopes; only the latest hours are kept.
        assert!(
            d.store().bucket_count() <= 4,
            "{}",
            d.store().bucket_count()
        );
    }

    /// A store whose first window read waits until `n` callers are there: every caller has added its
    /// batch before anyone evaluates, so all of them see the crossing and race for the incident.
    #[cfg(feature = "aws")]
    struct Rendezvous<S> {
        inner: S,
        barrier: tokio::sync::Barrier,
        waited: std::sync::atomic::AtomicUsize,
        n: usize,
    }

    #[cfg(feature = "aws")]
    impl<S: StateStore> StateStore for Rendezvous<S> {
        async fn add(
            &self,
            s: &Scope,
            b: &str,
            d: &Bucket,
            e: Timestamp,
        ) -> Result<bool, StoreError> {
            self.inner.add(s, b, d, e).await
        }
        async fn buckets(
            &self,
            s: &Scope,
            f: Timestamp,
            l: Timestamp,
        ) -> Result<Vec<Bucket>, StoreError> {
            if self
                .waited
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                < self.n
            {
                self.barrier.wait().await;
            }
            self.inner.buckets(s, f, l).await
        }
        async fn incident(&self, s: &Scope) -> Result<Option<(u64, Incident)>, StoreError> {
            tokio::task::yield_now().await;
            self.inner.incident(s).await
        }
        async fn swap_incident(&self, s: &Scope, v: u64, n: &Incident) -> Result<bool, StoreError> {
            tokio::task::yield_now().await;
            self.inner.swap_incident(s, v, n).await
        }
        async fn open_scopes(&self) -> Result<Vec<Scope>, StoreError> {
            self.inner.open_scopes().await
        }
        async fn set_open(&self, s: &Scope, v: u64, o: bool) -> Result<(), StoreError> {
            self.inner.set_open(s, v, o).await
        }
    }

    #[cfg(feature = "aws")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_batches_of_one_incident_alert_once() {
        for round in 0..20 {
            let n = 4;
            let d = std::sync::Arc::new(Detector::new(
                Rendezvous {
                    inner: MemoryStore::new(),
                    barrier: tokio::sync::Barrier::new(n),
                    waited: Default::default(),
                    n,
                },
                DetectorConfig::default(),
            ));
            // Four invocations, $3 each, same caller and minute: none crosses alone, all together do.
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let d = d.clone();
                    tokio::spawn(async move {
                        let b = [ob(T0 + i as i64, "a", "c", usd("3"), 1)];
                        d.observe(&format!("batch-{round}-{i}"), &b, Timestamp(T0 + 60))
                            .await
                            .unwrap()
                    })
                })
                .collect();
            let mut alerts = Vec::new();
            for t in tasks {
                alerts.extend(t.await.unwrap());
            }
            // One caller-level runaway (the app-level one is recorded, and dropped as a duplicate by
            // whichever invocation won both; if different invocations won them, both are sent).
            let caller_level: Vec<&Alert> = alerts.iter().filter(|a| a.caller.is_some()).collect();
            assert_eq!(caller_level.len(), 1, "{alerts:#?}");
            assert_eq!(caller_level[0].window_cost, usd("12"));
            assert!(alerts.iter().filter(|a| a.caller.is_none()).count() <= 1);
            let (v, inc) = block_on(d.store().inner.incident(&Scope::caller("a", "c")))
                .unwrap()
                .unwrap();
            assert_eq!((v, inc.open, inc.alerts), (1, true, 1));
        }
    }
}

//! Runaway-loop detection: sliding windows of spend and request count per (app, caller) and per app,
//! with incidents that alert once, escalate on doubling and resolve after a quiet window.
//!
//! # API (what the ingest Lambda calls)
//!
//! ```ignore
//! use bedrock_meter_core::live::detector::{Detector, DetectorConfig, Observation, Alert, AlertKind};
//! use bedrock_meter_core::aws::dynamodb::DynamoStore;      // or detector::MemoryStore (replay, tests)
//!
//! // once per cold start
//! let cfg = DetectorConfig::from_lookup(|k| std::env::var(k).ok())?; // WINDOW_MINUTES, MAX_COST_USD, MAX_REQUESTS
//! let store = DynamoStore::new(&sdk_config, std::env::var("STATE_TABLE")?);
//! let detector = Detector::new(store, cfg);
//!
//! // per invocation, after parse → resolve → price
//! let obs: Vec<Observation> = records.map(|(r, resolution, cost)| {
//!     let caller = attribution.principal.principal(r.caller_or_unknown());
//!     Observation::new(r.timestamp, &resolution, Some(caller), cost /* Result<Money, Unpriced> */, r.tokens)
//! }).collect();
//! let observed = detector.observe(&batch_id, &obs, Timestamp(now_epoch_secs)).await?;
//! for a in &observed.alerts {
//!     /* render (alert.rs) and publish to SNS; once sent: */
//!     detector.delivered(&a.id).await?;
//! }
//! // observed.stats: store calls, the longest chain of them, scopes touched
//! ```
//!
//! - `batch_id`: any string that is the same when the same batch is delivered again, and differs
//!   between batches — e.g. the first and last CloudWatch Logs event ids of the batch plus its count.
//!   Adds are applied once per (scope, minute, batch id), so a redelivered batch adds nothing.
//! - `observe` makes each incident transition **once**: a compare-and-set in the store, won by exactly
//!   one invocation, written together with its alert in an **outbox**; a redelivered batch (or a
//!   concurrent one) finds the transition already made. The alert stays in the outbox until
//!   [`Detector::delivered`]: if the invocation fails before that (store, SNS, timeout), a later
//!   `observe` returns it again — the redelivery of the same batch at once, any other call after
//!   [`DELIVERY_LEASE_SECS`]. No alert lost, none doubled (docs/detection.md).
//! - Store round trips: one [`StateStore::apply`] per scope the batch touches (which also returns the
//!   scope's window) and one [`StateStore::attention`], issued concurrently (at most
//!   [`STORE_CONCURRENCY`] in flight), plus one [`StateStore::transition`] per transition.
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
//! - `Detector::observe(&self, batch_id: &str, obs: &[Observation], now: Timestamp) -> Result<Observed, StoreError>`
//!   (`Observed { alerts, stats: StoreStats { calls, chain, scopes } }`); `Detector::delivered(&self, alert_id)`
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

use crate::settings::{value, SettingError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use crate::attribution::resolution::{Resolution, UNATTRIBUTED};

use crate::pricing::money::Money;
use crate::pricing::prices::Unpriced;
use crate::records::record::Tokens;
use crate::records::record::UNKNOWN_CALLER;
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
            max_cost: Money(10 * crate::pricing::money::FEMTO_PER_USD),
            max_requests: 600,
        }
    }
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
    ) -> Result<DetectorConfig, SettingError> {
        let d = DetectorConfig::default();
        let val = |name: &str| value(&get, name);
        let window_minutes = match val("WINDOW_MINUTES") {
            None => d.window_minutes,
            Some(v) => parse_window(&v).ok_or(SettingError {
                name: "WINDOW_MINUTES",
                value: v,
                expected: "a whole number of minutes from 1 to 1440",
            })?,
        };
        let max_cost = match val("MAX_COST_USD") {
            None => d.max_cost,
            Some(v) => parse_cost(&v).ok_or(SettingError {
                name: "MAX_COST_USD",
                value: v,
                expected: "a positive decimal amount of USD (e.g. 10 or 2.50)",
            })?,
        };
        let max_requests = match val("MAX_REQUESTS") {
            None => d.max_requests,
            Some(v) => parse_requests(&v).ok_or(SettingError {
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
    /// The caller: the principal of the identity ARN (`principal::PrincipalRule`; `unknown` when the
    /// record has none).
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
    s.replace('%', "%25")
        .replace('#', "%23")
        .replace('~', "%7E")
}

/// The longest scope key, in bytes (UTF-8).
pub const MAX_SCOPE_KEY_BYTES: usize = 512;

/// `key` itself when short enough, else its first bytes (cut at a character boundary) + `~` + 32 hex
/// digits of a 128-bit hash of the whole key. `~` never occurs in an escaped key, so a shortened key
/// never equals a short one.
fn bounded_key(key: String) -> String {
    if key.len() <= MAX_SCOPE_KEY_BYTES {
        return key;
    }
    let hash = format!(
        "{:016x}{:016x}",
        fnv1a(0xcbf2_9ce4_8422_2325, key.as_bytes()),
        fnv1a(0x6c62_272e_07bb_0142, key.as_bytes())
    );
    let mut cut = MAX_SCOPE_KEY_BYTES - 1 - hash.len();
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}", &key[..cut])
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

    /// A stable, unambiguous key (`A#app` or `C#app#caller`, with `%` and `#` escaped), at most
    /// [`MAX_SCOPE_KEY_BYTES`] long: a longer one keeps a readable prefix and ends with `~` and a
    /// 128-bit hash of the whole (the store uses it as a partition key, a sort key and in alert ids,
    /// whose DynamoDB limits are 2,048 and 1,024 bytes).
    pub fn key(&self) -> String {
        let full = match &self.caller {
            None => format!("A#{}", escape_key_part(&self.app)),
            Some(c) => format!("C#{}#{}", escape_key_part(&self.app), escape_key_part(c)),
        };
        bounded_key(full)
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

impl Bucket {
    /// Adds another bucket's usage (of the same minute).
    pub fn add(&mut self, o: &Bucket) {
        self.cost += o.cost;
        self.requests = self.requests.saturating_add(o.requests);
        self.unpriced = self.unpriced.saturating_add(o.unpriced);
        self.tokens.add(&o.tokens);
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
        self.tokens.add(&o.tokens);
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

/// One scope as stored: its buckets and its incident, read in one piece.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeState {
    /// The incident's version (0: none stored yet).
    pub version: u64,
    pub incident: Option<Incident>,
    /// The scope's buckets (keyed by their start), in any order; may hold buckets older than asked
    /// for (the detector ignores them and has the store forget them now and then).
    pub buckets: Vec<Bucket>,
    /// Starts of the buckets that still hold the keys of the batches applied to them.
    pub marked: Vec<Timestamp>,
}

/// An alert written to the outbox by the transition that produced it and not yet delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub alert: Alert,
    /// The batch key of the invocation that made the transition.
    pub batch: String,
    /// When the transition was made.
    pub created: Timestamp,
}

/// What needs attention whatever a batch holds: scopes with an open incident (to resolve them when
/// they go quiet) and alerts not yet delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attention {
    pub open: Vec<Scope>,
    pub pending: Vec<Pending>,
}

/// Who holds an alert for delivery, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The batch key of the invocation claiming it.
    pub batch: String,
    pub now: Timestamp,
    /// Nobody else may take it before this (a lease longer than an invocation can run).
    pub until: Timestamp,
}

/// Where windows, incidents and the alert outbox live, shared by concurrent invocations.
///
/// A batch costs one [`StateStore::apply`] per scope it touches (which returns the scope's state after
/// the add), plus one [`StateStore::transition`] per incident transition, plus one
/// [`StateStore::attention`] per call; no call reads a window item by item.
pub trait StateStore: Send + Sync {
    /// The store is asked to forget a scope's old buckets once it holds more than this many (each
    /// forget is a call: batching them keeps a busy scope at one extra call every few minutes).
    const FORGET_AFTER: usize = 4;

    /// Adds `deltas` (one per bucket, keyed by `Bucket::minute`, the bucket's start) to the scope's
    /// buckets unless `batch` was already applied to them, atomically, and returns the scope's state
    /// after the add (or as it is, when the batch had already been applied: a redelivery adds nothing).
    fn apply(
        &self,
        scope: &Scope,
        batch: &str,
        deltas: &[Bucket],
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<ScopeState, StoreError>> + Send;

    /// The scope's state, read after every completed add (strongly consistent).
    fn read(&self, scope: &Scope) -> impl Future<Output = Result<ScopeState, StoreError>> + Send;

    /// Drops the scope's buckets that start at `starts` (too old to matter any more), and the batch
    /// keys recorded on the buckets that start at `marks` (too old to be redelivered).
    fn forget(
        &self,
        scope: &Scope,
        starts: &[Timestamp],
        marks: &[Timestamp],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Compare-and-set, atomically with its side effects: if and only if the stored incident version
    /// is `expected`, writes `next` as version `expected + 1`, registers the scope as open (or
    /// unregisters it when `next` is closed) and puts `alert` in the outbox, held by `claim`.
    /// `Ok(false)`: someone else moved the incident first (nothing written).
    fn transition(
        &self,
        scope: &Scope,
        expected: u64,
        next: &Incident,
        alert: &Alert,
        claim: &Claim,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Scopes with an open incident and the undelivered alerts (with what each was written for).
    fn attention(&self) -> impl Future<Output = Result<Attention, StoreError>> + Send;

    /// Takes a pending alert for delivery if it is still pending and either nobody holds it (its last
    /// claim ran out before `claim.now`) or it was written by the same batch (a redelivery of the batch
    /// whose invocation failed). `Ok(false)`: delivered or held by someone else.
    fn claim(
        &self,
        alert_id: &str,
        claim: &Claim,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes a delivered alert from the outbox (idempotent).
    fn delivered(&self, alert_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
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

    pub fn parse(s: &str) -> Option<AlertKind> {
        match s {
            "runaway" => Some(AlertKind::Runaway),
            "escalation" => Some(AlertKind::Escalation),
            "resolved" => Some(AlertKind::Resolved),
            _ => None,
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

    /// The alert as stored in the outbox (exact: money in femto-dollars as text).
    pub fn to_stored_json(&self) -> String {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "app": self.app,
            "team": self.team,
            "caller": self.caller,
            "models": self.models,
            "profile_arns": self.profile_arns,
            "window_minutes": self.window_minutes,
            "at": self.at.0,
            "window_start": self.window_start.0,
            "window_cost": self.window_cost.0.to_string(),
            "window_requests": self.window_requests,
            "window_unpriced": self.window_unpriced,
            "tokens": [self.tokens.input, self.tokens.output, self.tokens.cache_read,
                self.tokens.cache_write, self.tokens.cache_write_1h],
            "threshold_cost": self.threshold_cost.0.to_string(),
            "threshold_requests": self.threshold_requests,
            "incident_started": self.incident_started.0,
            "previous_alert_cost": self.previous_alert_cost.map(|m| m.0.to_string()),
            "id": self.id,
        })
        .to_string()
    }

    /// Reads [`Alert::to_stored_json`]'s text back (`None` if it is not that shape).
    pub fn from_stored_json(text: &str) -> Option<Alert> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let s = |k: &str| v.get(k)?.as_str().map(str::to_string);
        let u = |k: &str| v.get(k)?.as_u64();
        let i = |k: &str| v.get(k)?.as_i64();
        let money = |k: &str| v.get(k)?.as_str()?.parse::<i128>().ok().map(Money);
        let strings = |k: &str| -> Option<Vec<String>> {
            v.get(k)?
                .as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        let t: Vec<u64> = v
            .get("tokens")?
            .as_array()?
            .iter()
            .map(serde_json::Value::as_u64)
            .collect::<Option<_>>()?;
        if t.len() != 5 {
            return None;
        }
        Some(Alert {
            kind: AlertKind::parse(&s("kind")?)?,
            app: s("app")?,
            team: s("team")?,
            caller: s("caller"),
            models: strings("models")?,
            profile_arns: strings("profile_arns")?,
            window_minutes: u32::try_from(u("window_minutes")?).ok()?,
            at: Timestamp(i("at")?),
            window_start: Timestamp(i("window_start")?),
            window_cost: money("window_cost")?,
            window_requests: u("window_requests")?,
            window_unpriced: u("window_unpriced")?,
            tokens: Tokens {
                input: t[0],
                output: t[1],
                cache_read: t[2],
                cache_write: t[3],
                cache_write_1h: t[4],
            },
            threshold_cost: money("threshold_cost")?,
            threshold_requests: u("threshold_requests")?,
            incident_started: Timestamp(i("incident_started")?),
            previous_alert_cost: money("previous_alert_cost"),
            id: s("id")?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The detector
// ---------------------------------------------------------------------------------------------

const MINUTE: i64 = 60;
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

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The bucket length of a window, in seconds.
pub fn bucket_secs(window_minutes: u32) -> i64 {
    let w = i64::from(window_minutes.max(1));
    MINUTE * ((w + MAX_BUCKETS_PER_WINDOW - 1) / MAX_BUCKETS_PER_WINDOW)
}

/// Buckets in a window (the window rounded up to whole buckets).
fn window_buckets(window_minutes: u32) -> i64 {
    let w = i64::from(window_minutes.max(1)) * MINUTE;
    let b = bucket_secs(window_minutes);
    (w + b - 1) / b
}

fn bucket_start(t: i64, len: i64) -> i64 {
    t - t.rem_euclid(len)
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
    /// Over the buckets whose start is in `first..=last` (epoch seconds).
    fn over(buckets: &BTreeMap<i64, Bucket>, first: i64, last: i64) -> WindowSum {
        let mut w = WindowSum::default();
        for b in buckets.range(first..=last).map(|(_, b)| b) {
            w.cost += b.cost;
            w.requests = w.requests.saturating_add(b.requests);
            w.unpriced = w.unpriced.saturating_add(b.unpriced);
            w.tokens.add(&b.tokens);
            if !b.team.is_empty() {
                w.team.clone_from(&b.team);
            }
            w.models.extend(b.models.iter().cloned());
            w.profile_arns.extend(b.profile_arns.iter().cloned());
        }
        w
    }
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
    store: S,
    config: DetectorConfig,
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
        let mut limits: HashMap<String, DetectorConfig> = HashMap::new();
        let mut end = now;
        for o in observations {
            let l = limits.entry(o.app.clone()).or_insert(self.config);
            if !o.overrides.is_empty() {
                *l = self.config.with(&o.overrides);
            }
            end = end.max(Timestamp(o.at.0 + 1));
        }
        let end_minute = Timestamp(end.0 - 1).minute();
        let mut deltas: BTreeMap<Scope, BTreeMap<i64, Bucket>> = BTreeMap::new();
        for o in observations {
            let l = limits[&o.app];
            let len = bucket_secs(l.window_minutes);
            let start = bucket_start(o.at.0, len);
            if start < self.keep_from(&l, end_minute) {
                continue; // too late to be in any window still evaluated
            }
            // `unattributed` is not an app but every call without a profile: no app-level window for
            // it (unrelated callers' normal traffic would add up to a false alarm); per caller only.
            let app_scope = (o.app != UNATTRIBUTED).then(|| Scope::app(&o.app));
            for scope in app_scope
                .into_iter()
                .chain([Scope::caller(&o.app, &o.caller)])
            {
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
        //    state) followed by its evaluation and transition.
        let attention = self.attention_counted(&tally);
        let applies: Vec<_> = deltas
            .into_iter()
            .map(|(scope, buckets)| {
                let l = limits[&scope.app];
                let d: Vec<Bucket> = buckets.into_values().collect();
                self.apply_and_settle(
                    scope, d, l, &batch, expires_at, now, end_minute, &claim, &tally,
                )
            })
            .collect();
        // One slot of the bound is the attention query's.
        let applied = stream::iter(applies)
            .buffer_unordered(self.concurrency.saturating_sub(1).max(1))
            .collect::<Vec<_>>();
        let (attention, applied) = futures_util::join!(attention, applied);
        let mut chain1 = 1;
        let mut alerts = Vec::new();
        let mut first_error = None;
        for r in applied {
            match r {
                Ok((a, chain)) => {
                    chain1 = chain1.max(chain);
                    alerts.extend(a);
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
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
        let mut chain2 = 0;
        for r in rechecked {
            match r {
                Ok((a, chain)) => {
                    chain2 = chain2.max(chain);
                    alerts.extend(a);
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }

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
        let by_caller: BTreeSet<(String, AlertKind)> = alerts
            .iter()
            .filter(|a| a.caller.is_some())
            .map(|a| (a.app.clone(), a.kind))
            .collect();
        let (keep, dropped): (Vec<Alert>, Vec<Alert>) = alerts
            .into_iter()
            .partition(|a| a.caller.is_some() || !by_caller.contains(&(a.app.clone(), a.kind)));
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

    #[allow(clippy::too_many_arguments)]
    async fn apply_and_settle(
        &self,
        scope: Scope,
        deltas: Vec<Bucket>,
        limits: DetectorConfig,
        batch: &str,
        expires_at: Timestamp,
        now: Timestamp,
        end_minute: Timestamp,
        claim: &Claim,
        tally: &Tally,
    ) -> Result<(Option<Alert>, usize), StoreError> {
        tally.one();
        let state = self.store.apply(&scope, batch, &deltas, expires_at).await?;
        // Boxed: keeps the nesting of the invocation's future shallow (its layout is computed per
        // store type, and a deep one exceeds the compiler's query depth in the Lambda binary).
        let (a, chain) =
            Box::pin(self.settle(&scope, state, Some(limits), now, end_minute, claim, tally))
                .await?;
        Ok((a, chain + 1))
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
            Box::pin(self.settle(&scope, state, None, now, end_minute, claim, tally)).await?;
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
            let decision = decide(scope, &state, batch_limits, &limits, now, end_minute);
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
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for b in &state.buckets {
        buckets
            .entry(b.minute.0)
            .or_insert_with(|| Bucket::new(b.minute))
            .add(b);
    }
    let window = WindowSum::over(&buckets, window_first, last);
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
                !limits.crosses(&WindowSum::over(&buckets, e - (wb - 1) * len, e))
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
    let alert = Alert {
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
    };
    Some(Decision { next, alert })
}

// ---------------------------------------------------------------------------------------------
// In-memory store (replay, tests)
// ---------------------------------------------------------------------------------------------

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
        let seen = deltas.iter().any(|d| {
            s.buckets
                .get(&d.minute.0)
                .is_some_and(|(_, batches)| batches.contains(batch))
        });
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

// ---------------------------------------------------------------------------------------------
// Replay (backtest)
// ---------------------------------------------------------------------------------------------

/// Runs the detector over observations as the live path would see them, in simulated time: batches of
/// one minute (by record timestamp), each evaluated at the end of its minute (`at` = the next minute's
/// start); every minute between batches is evaluated too while an incident is open, and after the last
/// batch the clock runs on until every open incident has resolved. Returns every alert in order (each
/// confirmed delivered as it is returned).
pub async fn replay<S: StateStore>(
    detector: &Detector<S>,
    observations: &mut [Observation],
) -> Result<Vec<Alert>, StoreError> {
    async fn step<S: StateStore>(
        d: &Detector<S>,
        id: &str,
        batch: &[Observation],
        now: Timestamp,
        out: &mut Vec<Alert>,
    ) -> Result<(), StoreError> {
        let o = d.observe(id, batch, now).await?;
        for a in o.alerts {
            d.delivered(&a.id).await?;
            out.push(a);
        }
        Ok(())
    }
    async fn any_open<S: StateStore>(d: &Detector<S>) -> Result<bool, StoreError> {
        Ok(!d.store.attention().await?.open.is_empty())
    }
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
        if !batch.is_empty() || any_open(detector).await? {
            step(
                detector,
                &format!("replay-{minute}"),
                batch,
                now,
                &mut alerts,
            )
            .await?;
        }
        minute = match observations.get(i) {
            Some(next) if !any_open(detector).await? => next.at.minute().0,
            _ => minute + MINUTE,
        };
    }
    // Run the clock on until open incidents resolve (bounded: a quiet window after the longest one).
    let longest = i64::from(MAX_WINDOW_MINUTES.max(detector.config.window_minutes));
    let stop = minute + (2 * longest + 2) * MINUTE;
    while minute < stop && any_open(detector).await? {
        let now = Timestamp(minute + MINUTE);
        step(detector, &format!("replay-{minute}"), &[], now, &mut alerts).await?;
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
    use crate::pricing::money::Rate;

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
            block_on(d.observe("evt-1..evt-6", &b1, now))
                .unwrap()
                .alerts,
            vec![]
        );
        assert_eq!(
            block_on(d.observe("evt-1..evt-6", &b1, now))
                .unwrap()
                .alerts,
            vec![]
        );
        // A different batch crosses: one alert, at $12.
        let b2: Vec<Observation> = (0..6)
            .map(|k| ob(T0 + 10 + k, "a", "c", usd("1"), 1))
            .collect();
        let a = block_on(d.observe("evt-7..evt-12", &b2, now))
            .unwrap()
            .alerts;
        block_on(d.delivered(&a[0].id)).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].window_cost, usd("12"));
        assert_eq!(a[0].caller.as_deref(), Some("c"));
        // Redelivered: no second alert for the same crossing.
        assert_eq!(
            block_on(d.observe("evt-7..evt-12", &b2, now))
                .unwrap()
                .alerts,
            vec![]
        );
        assert_eq!(
            block_on(d.observe("evt-7..evt-12", &b2, Timestamp(T0 + 120)))
                .unwrap()
                .alerts,
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

    #[test]
    fn an_undelivered_alert_is_delivered_by_a_later_call_once() {
        let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
        let now = Timestamp(T0 + 60);
        let b: Vec<Observation> = (0..12).map(|k| ob(T0 + k, "a", "c", usd("1"), 1)).collect();
        // The transition is made; the invocation then dies before delivering (no `delivered`).
        let won = block_on(d.observe("batch-1", &b, now)).unwrap().alerts;
        assert_eq!(won.len(), 1);
        assert_eq!(d.store().pending(), vec![won[0].id.clone()]);
        // Another batch within the lease: the writer may still be delivering it — not taken.
        let other = [ob(T0 + 30, "b", "x", usd("0.01"), 1)];
        assert_eq!(
            block_on(d.observe("batch-2", &other, Timestamp(T0 + 90)))
                .unwrap()
                .alerts,
            vec![]
        );
        // The redelivery of the failed batch takes it at once (its invocation is over): same alert.
        let retry = block_on(d.observe("batch-1", &b, Timestamp(T0 + 100)))
            .unwrap()
            .alerts;
        assert_eq!(retry, won);
        // Not confirmed again: after the lease anyone takes it; once delivered, nobody.
        let later = Timestamp(T0 + 100 + DELIVERY_LEASE_SECS + 1);
        let again = block_on(d.observe("batch-3", &[], later)).unwrap().alerts;
        assert_eq!(again, won);
        block_on(d.delivered(&won[0].id)).unwrap();
        assert!(d.store().pending().is_empty());
        assert_eq!(
            block_on(d.observe("batch-4", &[], Timestamp(later.0 + 300)))
                .unwrap()
                .alerts,
            vec![]
        );
    }

    #[test]
    fn store_calls_are_one_per_scope_and_concurrent() {
        // 200 callers of one app in one batch: 201 scopes (200 callers + the app), one apply each,
        // plus one attention query; the chain is two calls deep (apply ∥ attention, nothing else).
        let d = Detector::new(MemoryStore::new(), DetectorConfig::default());
        let b: Vec<Observation> = (0..200)
            .map(|k| ob(T0 + k % 60, "a", &format!("c{k}"), usd("0.01"), 1))
            .collect();
        let o = block_on(d.observe("b", &b, Timestamp(T0 + 60))).unwrap();
        assert_eq!(o.alerts, vec![]);
        assert_eq!(
            o.stats,
            StoreStats {
                calls: 202,
                chain: 1,
                scopes: 201
            }
        );
    }

    #[test]
    fn store_calls_per_batch_by_distinct_callers() {
        // The BENCHMARKS.md table: one batch, one minute, one app, N distinct callers (principals):
        // N + 1 scopes, one add each plus the attention query, all side by side. Session names of one
        // role are one caller: 5,000 of them cost what one does.
        let quiet = DetectorConfig {
            max_requests: 1_000_000,
            ..DetectorConfig::default()
        };
        for n in [1usize, 100, 1_000, 5_000] {
            let d = Detector::new(MemoryStore::new(), quiet);
            let b: Vec<Observation> = (0..n)
                .map(|k| {
                    ob(
                        T0 + (k % 60) as i64,
                        "a",
                        &format!("role-{k}"),
                        usd("0.001"),
                        1,
                    )
                })
                .collect();
            let o = block_on(d.observe("b", &b, Timestamp(T0 + 60))).unwrap();
            assert_eq!((o.stats.calls, o.stats.chain), (n + 2, 1), "{n}");
        }
    }

    #[test]
    fn long_windows_use_coarser_buckets() {
        assert_eq!(bucket_secs(15), 60);
        assert_eq!(bucket_secs(60), 60);
        assert_eq!(bucket_secs(61), 120);
        assert_eq!(bucket_secs(1440), 24 * 60);
        assert_eq!(window_buckets(1440), 60);
        assert_eq!(window_buckets(61), 31);
        // A day-long window: a scope busy every minute for two days keeps about 2 × 60 buckets.
        let cfg = DetectorConfig {
            window_minutes: 1440,
            max_cost: usd("1000"),
            max_requests: 1_000_000,
        };
        let d = Detector::new(MemoryStore::new(), cfg);
        for m in 0..2 * 1440 {
            let o = [ob(T0 + m * 60, "a", "c", usd("0.01"), 1)];
            block_on(d.observe(&format!("b{m}"), &o, Timestamp(T0 + m * 60 + 60))).unwrap();
        }
        assert!(
            d.store().bucket_count() <= 2 * 2 * 61,
            "{}",
            d.store().bucket_count()
        );
        // Batch keys are kept an hour, not two days: a few buckets' worth, not 2,880 batches.
        let st = block_on(d.store().read(&Scope::caller("a", "c"))).unwrap();
        assert!(st.marked.len() <= 5, "{:?}", st.marked);
        // ...and within that hour a redelivery still adds nothing.
        let last = 2 * 1440 - 1;
        let o = [ob(T0 + last * 60, "a", "c", usd("0.01"), 1)];
        let in_last = |st: &ScopeState| -> u64 {
            let start = bucket_start(T0 + last * 60, bucket_secs(1440));
            st.buckets
                .iter()
                .filter(|b| b.minute.0 == start)
                .map(|b| b.requests)
                .sum()
        };
        let before = in_last(&st);
        assert!(before > 0);
        block_on(d.observe(&format!("b{last}"), &o, Timestamp(T0 + last * 60 + 120))).unwrap();
        let after = block_on(d.store().read(&Scope::caller("a", "c"))).unwrap();
        assert_eq!(in_last(&after), before);
    }

    #[test]
    fn stored_alerts_round_trip() {
        let mut v: Vec<Observation> = (0..6)
            .map(|m| ob(T0 + m * 60, "a", "c", usd("2.5"), 1))
            .collect();
        let mut a = run(&mut v)[0].clone();
        a.previous_alert_cost = Some(usd("1.25"));
        a.tokens.cache_write_1h = 7;
        assert_eq!(
            Alert::from_stored_json(&a.to_stored_json()),
            Some(a.clone())
        );
        let app_level = Alert { caller: None, ..a };
        assert_eq!(
            Alert::from_stored_json(&app_level.to_stored_json()),
            Some(app_level)
        );
        assert_eq!(Alert::from_stored_json("{}"), None);
    }

    /// A store whose adds wait until `n` callers are there, and that yields before every
    /// compare-and-set: the invocations add concurrently and race for the incident.
    #[cfg(feature = "aws")]
    struct Rendezvous<S> {
        inner: S,
        barrier: tokio::sync::Barrier,
    }

    #[cfg(feature = "aws")]
    impl<S: StateStore> StateStore for Rendezvous<S> {
        async fn apply(
            &self,
            s: &Scope,
            b: &str,
            d: &[Bucket],
            e: Timestamp,
        ) -> Result<ScopeState, StoreError> {
            self.barrier.wait().await;
            self.inner.apply(s, b, d, e).await
        }
        async fn read(&self, s: &Scope) -> Result<ScopeState, StoreError> {
            tokio::task::yield_now().await;
            self.inner.read(s).await
        }
        async fn forget(
            &self,
            s: &Scope,
            t: &[Timestamp],
            m: &[Timestamp],
        ) -> Result<(), StoreError> {
            self.inner.forget(s, t, m).await
        }
        async fn transition(
            &self,
            s: &Scope,
            v: u64,
            n: &Incident,
            a: &Alert,
            c: &Claim,
        ) -> Result<bool, StoreError> {
            tokio::task::yield_now().await;
            self.inner.transition(s, v, n, a, c).await
        }
        async fn attention(&self) -> Result<Attention, StoreError> {
            self.inner.attention().await
        }
        async fn claim(&self, id: &str, c: &Claim) -> Result<bool, StoreError> {
            self.inner.claim(id, c).await
        }
        async fn delivered(&self, id: &str) -> Result<(), StoreError> {
            self.inner.delivered(id).await
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
                    // Each batch adds to two scopes (the caller's and the app's).
                    barrier: tokio::sync::Barrier::new(2 * n),
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
                            .alerts
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
            let st = d
                .store()
                .inner
                .read(&Scope::caller("a", "c"))
                .await
                .unwrap();
            let inc = st.incident.unwrap();
            assert_eq!((st.version, inc.open, inc.alerts), (1, true, 1));
        }
    }
}

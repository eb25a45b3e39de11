//! Runaway-loop detection: sliding windows of spend and request count per (app, caller) and per app,
//! with incidents that alert once, escalate on doubling and resolve after a quiet window.
//!
//! Its parts: `config` (thresholds, per-app overrides), `state` (observations, scopes, buckets,
//! incidents and the [`StateStore`] port), `engine` ([`Detector`]: windows, transitions, the outbox),
//! `alerts` ([`Alert`] as data), `memory` ([`MemoryStore`]) and `replay` (the backtest); tests in
//! `tests.rs`. Everything is re-exported here: callers name `live::detector::X`.
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
//!     /* render (live::alert) and publish (ports::notify); once sent: */
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
//!   `DetectorConfig::from_lookup(impl Fn(&str) -> Option<String>) -> Result<DetectorConfig, SettingError>`
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
pub(crate) const MAX_WINDOW_MINUTES: u32 = 1440;

mod alerts;
mod config;
mod engine;
mod memory;
mod replay;
mod state;
#[cfg(test)]
mod tests;

pub use alerts::*;
pub use config::*;
pub use engine::*;
pub use memory::*;
pub use replay::*;
pub use state::*;

//! The live path: a CloudWatch Logs subscription Lambda over the Bedrock invocation log group.
//!
//! One invocation, in order:
//! 1. **decode** `awslogs.data` (base64 → gunzip → JSON) with the core's allocation-light decoder;
//!    a `CONTROL_MESSAGE` (the reachability probe) succeeds at once;
//! 2. **parse** each log event's message with the core; a record that cannot be read is counted by
//!    kind (`MalformedRecords`, and one log line with the counts per kind — never the record's text);
//! 3. **resolve** application inference profiles through a TTL cache kept across invocations
//!    (`PROFILE_CACHE_TTL_SECONDS`); a failed lookup serves the last known tags, else the profile id
//!    with team `unresolved` — counted, never failing the batch;
//! 4. **price** with the embedded price table;
//! 5. **detect** runaways with the shared detector (its state store is shared by all instances: one
//!    call per touched scope, concurrent), **contain** (opt-in: a `runaway` of an app tagged
//!    `meter:on-runaway=contain` puts a self-expiring IAM deny on its caller, `resolved` deletes it —
//!    [`contain`]), **publish** the alerts it returns to SNS (saying what was contained) and record each
//!    delivery; an alert not delivered stays in the detector's outbox and a later invocation sends it
//!    (`AlertPublishFailures` counts publishes SNS refused);
//! 6. **put metrics**: one datum per series and minute, chunked to `PutMetricData`'s limits. A final
//!    failure is an invocation error, so Lambda retries the batch (the detector ignores the batch's
//!    second delivery; metrics requests that had already succeeded are counted again — rare, and
//!    documented in docs/live-path.md).
//!
//! [`Ingest`] is generic over its ports (profiles, metrics, notifications, the detector's store, and
//! with containment IAM and its ledger) so tests can point each at a different local server or fake;
//! `main.rs` wires the real adapters from the configuration.

pub mod contain;
pub mod failure;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::live::alert::{render, AlertContext};
use bedrock_meter_core::live::batch;
use bedrock_meter_core::live::containment::{
    add_to_alert, opted_in, ContainmentConfig, ContainmentLedger, IamPolicies, MemoryLedger,
};
use bedrock_meter_core::live::detector::{
    Alert, Detector, DetectorConfig, Observed, StateStore, StoreError,
};
use bedrock_meter_core::live::metrics::{MetricsConfig, DEFAULT_NAMESPACE};
use bedrock_meter_core::live::otel::{self, OtelSink};
use bedrock_meter_core::ports::metrics::{put_all, MetricsSink};
use bedrock_meter_core::ports::metrics::{Datum, Unit};
use bedrock_meter_core::ports::notify::{Notification, Notifier};
use bedrock_meter_core::ports::profiles::{CachedProfiles, ProfileSource};
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::records::subscription::{Base64Data, Decoder, LogsData, SubscriptionError};
use bedrock_meter_core::settings::{flag, value, SettingError};
use bedrock_meter_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The Lambda event: `{"awslogs":{"data":"<base64 of gzip>"}}` (other members ignored). Any other
/// event (e.g. an EventBridge schedule) has no `awslogs` and is a **tick**: the detector re-evaluates
/// open incidents, so a "resolved" alert does not wait for the next log record.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SubscriptionEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awslogs: Option<AwsLogs>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AwsLogs {
    /// Out of base64 as the event is read (no copy of its text).
    pub data: Base64Data,
}

/// Configuration from the environment (the SAM template passes exactly these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `METRICS_NAMESPACE`, default `BedrockMeter`.
    pub namespace: String,
    /// `ALERT_TOPIC_ARN`; without it alerts are only logged.
    pub alert_topic_arn: Option<String>,
    /// `ORG_ALERT_TOPIC_ARN`: the organisation's alerts topic (home account); each alert is published
    /// there too, with this account and Region (read from `ALERT_TOPIC_ARN`) in it.
    pub org_alert_topic_arn: Option<String>,
    /// `STATE_TABLE`: the detector's DynamoDB table.
    pub state_table: Option<String>,
    /// `WINDOW_MINUTES`, `MAX_COST_USD`, `MAX_REQUESTS`.
    pub detector: DetectorConfig,
    /// `APP_TAG_KEY`, `TEAM_TAG_KEY`, `METADATA_KEYS`.
    pub attribution: AttributionConfig,
    /// `CALLER_DIMENSIONS` (and the metadata keys).
    pub metrics: MetricsConfig,
    /// `PROFILE_CACHE_TTL_SECONDS`, default 300.
    pub profile_cache_ttl: Duration,
    /// `LOG_GROUP_NAME`: the invocation log group, named in the alert's Logs Insights query.
    pub log_group_name: Option<String>,
    /// `FAILURE_QUEUE_URL`: where failed batches' pointers go; without it they are only logged.
    pub failure_queue_url: Option<String>,
    /// `PROFILES_FILE` (local runs): profiles from this file, not the Bedrock API.
    pub profiles_file: Option<String>,
    /// `CHAT_FORMAT`: publish alerts with the chat integrations' JSON message structure.
    pub chat_format: bool,
    /// `CONTAINMENT_ALLOW`, `CONTAINMENT_UNATTRIBUTED`,
    /// `CONTAINMENT_COOLDOWN_MINUTES`, `CONTAINMENT_DRY_RUN` (docs/detection.md).
    pub containment: ContainmentConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_lookup(|_| None).expect("defaults are valid")
    }
}

impl Config {
    /// Reads the configuration through `get` (e.g. `|k| std::env::var(k).ok()`). Missing or empty
    /// values take their defaults; a present but invalid value is an error.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, SettingError> {
        let val = |k: &str| value(&get, k);
        let detector = DetectorConfig::from_lookup(&get)?;
        let attribution = AttributionConfig::from_lookup(&get)?;
        let caller_dimensions = match val("CALLER_DIMENSIONS") {
            Some(v) => flag("CALLER_DIMENSIONS", &v)?,
            None => false,
        };
        let containment = ContainmentConfig::from_lookup(&get)?;
        if containment.is_enabled() && containment.account.is_none() {
            // Only this account's principals may be contained: the function must know which it is.
            return Err(SettingError {
                name: "ACCOUNT_ID",
                value: String::new(),
                expected:
                    "the stack's 12-digit account id (required when CONTAINMENT_ALLOW is set)",
            });
        }
        let chat_format = match val("CHAT_FORMAT") {
            Some(v) => flag("CHAT_FORMAT", &v)?,
            None => false,
        };
        let ttl = match val("PROFILE_CACHE_TTL_SECONDS") {
            Some(v) => v.parse::<u64>().map_err(|_| SettingError {
                name: "PROFILE_CACHE_TTL_SECONDS",
                value: v.clone(),
                expected: "a whole number of seconds",
            })?,
            None => 300,
        };
        Ok(Config {
            namespace: val("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            alert_topic_arn: val("ALERT_TOPIC_ARN"),
            org_alert_topic_arn: val("ORG_ALERT_TOPIC_ARN"),
            state_table: val("STATE_TABLE"),
            detector,
            metrics: MetricsConfig {
                caller_dimensions,
                metadata_keys: attribution.metadata_keys.clone(),
            },
            attribution,
            profile_cache_ttl: Duration::from_secs(ttl),
            log_group_name: val("LOG_GROUP_NAME"),
            failure_queue_url: val("FAILURE_QUEUE_URL"),
            profiles_file: val("PROFILES_FILE"),
            chat_format,
            containment,
        })
    }

    pub fn from_env() -> Result<Config, SettingError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }
}

/// Why an invocation failed (Lambda then retries it).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("undecodable subscription event: {0}")]
    Decode(#[from] SubscriptionError),
    #[error("runaway detector state: {0}")]
    Detector(#[from] StoreError),
    #[error("metrics: {0}")]
    Metrics(AwsError),
    /// A containment deny could not be put (its alert stays in the outbox, so the retry puts it), or
    /// the tick's sweep of expired denies had an IAM call fail.
    #[error("containment: {0}")]
    Containment(String),
    /// Stopped before the Lambda deadline so the failure could still be recorded (`failure.rs`).
    #[error("stopped {0:?} before the function's deadline (the batch took longer than the timeout allows)")]
    Deadline(Duration),
}

/// What one invocation did (the Lambda's response, and one structured log line).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub control_message: bool,
    /// Not a subscription event: open incidents re-evaluated only.
    pub tick: bool,
    pub log_events: usize,
    pub records: usize,
    /// Records that could not be read, by kind.
    pub malformed: BTreeMap<String, u64>,
    pub unpriced_requests: u64,
    /// Application profiles looked up in the control plane this invocation.
    pub profile_lookups: usize,
    /// Lookups that failed (served stale when known before).
    pub profile_lookup_failures: usize,
    /// Records attributed to `unresolved` because their profile could not be looked up.
    pub unresolved_records: u64,
    pub alerts: Vec<String>,
    pub alert_publish_failures: usize,
    /// Alerts sent whose delivery could not be confirmed in the store (a later invocation may send
    /// them again, with the same alert id).
    pub alert_confirm_failures: usize,
    /// Detector scopes the batch touched (one per app and per (app, caller principal)).
    pub scopes: usize,
    /// State-store calls made (DynamoDB round trips), and the longest chain of them made one after
    /// another: the invocation waited about `store_chain` round trips, not `store_calls`.
    pub store_calls: usize,
    pub store_chain: usize,
    pub metric_datums: usize,
    pub metric_requests: usize,
    /// Containment denies put (or, dry run, that would have been) and expired denies removed by this
    /// invocation (the tick's sweep).
    pub contained: usize,
    pub released: usize,
    /// IAM calls or ledger writes of containment that failed (said in the alert, logged).
    pub containment_failures: usize,
    /// OTLP exports that failed (0 or 1 a batch; docs/otel.md).
    pub otlp_export_failures: usize,
}

/// The metric counting alerts that could not be published (no dimensions, unit Count): an alarm on it
/// pages when SNS keeps refusing (the alert stays in the outbox and is retried by later invocations).
pub const ALERT_PUBLISH_FAILURES: &str = "AlertPublishFailures";

/// The handler and the state it keeps across invocations (profile cache, decode buffers). `I` and `L`:
/// containment's IAM and ledger ([`Ingest::with_containment`]; without it nothing is contained).
pub struct Ingest<P, M, N, S, I = contain::NoIam, L = MemoryLedger> {
    config: Config,
    prices: PriceTable,
    profiles: tokio::sync::Mutex<CachedProfiles<P>>,
    decoder: tokio::sync::Mutex<Decoder>,
    metrics: M,
    notifier: N,
    detector: Detector<S>,
    /// Ids of alerts this instance has published (the latest [`SENT_MEMORY`]): an alert whose delivery
    /// could not be recorded and that comes back from the outbox is then confirmed, not sent again.
    sent: std::sync::Mutex<std::collections::VecDeque<String>>,
    containment: Option<contain::Responder<I, L>>,
    /// OTLP export of the batch's GenAI metrics (`with_otel`; docs/otel.md).
    otel: Option<std::sync::Arc<dyn OtelSink>>,
}

/// How many published alert ids an instance remembers.
const SENT_MEMORY: usize = 1024;

/// Publish attempts per alert (each after the SDK's own retries).
const PUBLISH_ATTEMPTS: u32 = 3;

impl<P, M, N, S> Ingest<P, M, N, S>
where
    P: ProfileSource + Send + Sync,
    M: MetricsSink + Send + Sync,
    N: Notifier + Send + Sync,
    S: StateStore,
{
    pub fn new(config: Config, profiles: P, metrics: M, notifier: N, store: S) -> Self {
        Ingest {
            prices: PriceTable::embedded(),
            profiles: tokio::sync::Mutex::new(CachedProfiles::new(
                profiles,
                config.profile_cache_ttl,
            )),
            decoder: tokio::sync::Mutex::new(Decoder::new()),
            metrics,
            notifier,
            detector: Detector::new(store, config.detector),
            sent: Default::default(),
            containment: None,
            otel: None,
            config,
        }
    }
}

impl<P, M, N, S, I, L> Ingest<P, M, N, S, I, L>
where
    P: ProfileSource + Send + Sync,
    M: MetricsSink + Send + Sync,
    N: Notifier + Send + Sync,
    S: StateStore,
    I: IamPolicies,
    L: ContainmentLedger,
{
    /// Containment on (with the configuration's `containment` settings): runaways of opted-in apps are
    /// contained through `iam`, and what was put is recorded in `ledger` for the resolved to delete.
    pub fn with_containment<I2: IamPolicies, L2: ContainmentLedger>(
        self,
        iam: I2,
        ledger: L2,
    ) -> Ingest<P, M, N, S, I2, L2> {
        Ingest {
            containment: Some(contain::Responder::new(
                self.config.containment.clone(),
                iam,
                ledger,
            )),
            config: self.config,
            prices: self.prices,
            profiles: self.profiles,
            decoder: self.decoder,
            metrics: self.metrics,
            notifier: self.notifier,
            detector: self.detector,
            sent: self.sent,
            otel: self.otel,
        }
    }

    /// Also export each batch's GenAI metrics through `sink` (OTLP). A failed export is counted
    /// (`OtlpExportFailures`, `Outcome::otlp_export_failures`) and never fails the batch.
    pub fn with_otel(mut self, sink: std::sync::Arc<dyn OtelSink>) -> Self {
        self.otel = Some(sink);
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &M {
        &self.metrics
    }

    pub fn notifier(&self) -> &N {
        &self.notifier
    }

    pub fn detector(&self) -> &Detector<S> {
        &self.detector
    }

    /// Handles one subscription event at wall-clock time `now`.
    pub async fn handle(
        &self,
        event: &SubscriptionEvent,
        now: Timestamp,
    ) -> Result<Outcome, IngestError> {
        let Some(logs) = &event.awslogs else {
            return self.tick(now).await;
        };
        let mut decoder = self.decoder.lock().await;
        let data = decoder.decode_base64_data(&logs.data)?;
        self.handle_data(&data, now).await
    }

    /// Re-evaluates open incidents without traffic (publishes e.g. "resolved" alerts).
    pub async fn tick(&self, now: Timestamp) -> Result<Outcome, IngestError> {
        let mut out = Outcome {
            tick: true,
            ..Outcome::default()
        };
        let tick_id = format!("tick|{}", now.0);
        // Boxed, like below: the detector's future is deep, and the Lambda's own future nests it.
        let observed = Box::pin(self.detector.observe(&tick_id, &[], now)).await?;
        let failed_puts = self
            .deliver(observed, &Batch::default(), now, &mut out)
            .await;
        // Expired denies of this stack, found by name on the allowed principals.
        let mut sweep_errors = 0;
        if let Some(c) = &self.containment {
            let s = c.sweep(now).await;
            out.released += s.deleted.len();
            sweep_errors = s.errors.len();
            out.containment_failures += sweep_errors;
        }
        if out.alert_publish_failures > 0 {
            // Counted even on a tick; a failure to count is only logged (the alert is in the outbox).
            let d = publish_failures_datum(out.alert_publish_failures, now);
            if let Err(e) = put_all(&self.metrics, &self.config.namespace, &[d]).await {
                tracing::warn!(error = %e, "could not put AlertPublishFailures");
            }
        }
        tracing::info!(
            alerts = out.alerts.len(),
            alert_publish_failures = out.alert_publish_failures,
            store_calls = out.store_calls,
            store_chain = out.store_chain,
            released = out.released,
            containment_failures = out.containment_failures,
            "tick"
        );
        if failed_puts > 0 || sweep_errors > 0 {
            return Err(IngestError::Containment(format!(
                "{failed_puts} deny put(s) and {sweep_errors} sweep call(s) failed"
            )));
        }
        Ok(out)
    }

    /// Handles an already decoded payload.
    pub async fn handle_data(
        &self,
        data: &LogsData<'_>,
        now: Timestamp,
    ) -> Result<Outcome, IngestError> {
        let mut out = Outcome {
            log_events: data.log_events.len(),
            ..Outcome::default()
        };
        if data.is_control() {
            tracing::info!(
                message_type = data.message_type,
                "control message: destination reachable"
            );
            out.control_message = true;
            return Ok(out);
        }
        // Parse (in place, from the escaped messages).
        let parsed = batch::parse_events(&data.log_events);
        out.records = parsed.records.len();
        out.malformed = parsed
            .malformed
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
        if !out.malformed.is_empty() {
            // Kinds and counts only: never the record (it may hold prompt or response text).
            tracing::warn!(malformed = ?out.malformed, log_group = data.log_group, "records that could not be read");
        }

        // Resolve profiles (fetch what the batch names and the cache does not hold fresh), each
        // distinct modelId once.
        let model_ids = parsed.model_ids();
        let arns = batch::application_profiles(model_ids.iter().copied());
        let mut profiles = self.profiles.lock().await;
        let report = profiles.prefetch(arns.iter().map(String::as_str)).await;
        out.profile_lookups = report.fetched;
        out.profile_lookup_failures = report.failed.len();
        for (arn, e) in &report.failed {
            tracing::warn!(profile_arn = %arn, error = %e, stale = !report.unresolved.contains(arn), "inference profile lookup failed");
        }
        let resolutions = batch::resolve_all(&model_ids, &*profiles, &self.config.attribution);
        drop(profiles);

        // Price and aggregate: per-minute metric datums and the detector's observations.
        let agg = batch::aggregate(
            &parsed,
            &resolutions,
            &self.prices,
            &self.config.attribution,
            &self.config.metrics,
            now,
        );
        out.unpriced_requests = agg.unpriced_requests;
        out.unresolved_records = agg.unresolved_records;

        // Detect and alert. Every transition is in the store's outbox before it is returned here, so an
        // alert that cannot be sent now (or an invocation that dies now) is sent by a later invocation.
        let id = batch_id(data);
        let observed = Box::pin(self.detector.observe(&id, &agg.observations, now)).await?;
        let batch = Batch {
            opted_in: resolutions
                .values()
                .filter(|r| opted_in(&r.tags))
                .filter_map(|r| r.profile_arn.clone())
                .collect(),
        };
        let failed_puts = self.deliver(observed, &batch, now, &mut out).await;

        // Metrics.
        let mut datums = agg.datums;
        if out.alert_publish_failures > 0 {
            datums.push(publish_failures_datum(out.alert_publish_failures, now));
        }
        out.metric_datums = datums.len();
        let sent = put_all(&self.metrics, &self.config.namespace, &datums)
            .await
            .map_err(IngestError::Metrics)?;
        out.metric_requests = sent.requests;

        // OpenTelemetry (optional), once CloudWatch has the batch (a slow collector cannot cost the
        // CloudWatch metrics their time): the same records and prices. A failure is counted, never fatal.
        if let Some(sink) = &self.otel {
            let points = otel::points(
                &parsed,
                &resolutions,
                &self.prices,
                &self.config.attribution,
            );
            if let Err(e) = sink.export(&points).await {
                out.otlp_export_failures = 1;
                tracing::warn!(error = %e, "OTLP export failed: counted in OtlpExportFailures; CloudWatch metrics unaffected");
                let d = Datum {
                    metric: otel::OTLP_EXPORT_FAILURES,
                    dimensions: Default::default(),
                    timestamp: now.minute(),
                    value: 1.0,
                    unit: Unit::Count,
                };
                match put_all(&self.metrics, &self.config.namespace, &[d]).await {
                    Ok(r) => out.metric_requests += r.requests,
                    Err(e) => tracing::warn!(error = %e, "could not put OtlpExportFailures"),
                }
            }
        }
        tracing::info!(
            log_events = out.log_events,
            records = out.records,
            malformed = out.malformed.values().sum::<u64>(),
            unpriced = out.unpriced_requests,
            profile_lookups = out.profile_lookups,
            profile_lookup_failures = out.profile_lookup_failures,
            unresolved_records = out.unresolved_records,
            alerts = out.alerts.len(),
            alert_publish_failures = out.alert_publish_failures,
            alert_confirm_failures = out.alert_confirm_failures,
            scopes = out.scopes,
            store_calls = out.store_calls,
            store_chain = out.store_chain,
            metric_datums = out.metric_datums,
            metric_requests = out.metric_requests,
            contained = out.contained,
            released = out.released,
            containment_failures = out.containment_failures,
            otlp_export_failures = out.otlp_export_failures,
            "batch processed"
        );
        if failed_puts > 0 {
            // The alert was published (saying the containment failed) but not confirmed: the retry of
            // this batch takes it from the outbox at once and puts what is not in the ledger.
            return Err(IngestError::Containment(format!(
                "{failed_puts} deny put(s) failed"
            )));
        }
        Ok(out)
    }

    /// Publishes the alerts the detector handed out (concurrently) and confirms each one sent in the
    /// store's outbox (concurrently). An alert that could not be published stays in the outbox: a later
    /// invocation (or the tick) sends it once this one's hold on it has run out. So does a runaway
    /// whose deny could not be put (returns how many puts failed: the invocation then fails, and its
    /// retry puts them).
    async fn deliver(
        &self,
        observed: Observed,
        batch: &Batch,
        now: Timestamp,
        out: &mut Outcome,
    ) -> usize {
        let Observed { alerts, stats } = observed;
        out.scopes = stats.scopes;
        out.store_calls = stats.calls;
        out.store_chain = stats.chain;
        // Contain first (the alert then says what was done); concurrent across alerts.
        let acted: HashMap<String, contain::Acted> = match &self.containment {
            Some(c) if !alerts.is_empty() => c
                .act(&alerts, &batch.opted_in, now)
                .await
                .into_iter()
                .map(|x| (x.alert_id.clone(), x))
                .collect(),
            _ => HashMap::new(),
        };
        for x in acted.values() {
            let ok = x.applied.iter().filter(|a| a.result.is_ok()).count();
            let changed = x.applied.iter().filter(|a| a.result == Ok(true)).count();
            if x.release {
                out.released += changed;
            } else {
                out.contained += changed;
            }
            out.containment_failures +=
                x.applied.len() - ok + usize::from(x.ledger_error.is_some());
        }
        let published = futures_util::future::join_all(
            alerts
                .iter()
                .map(|a| self.publish_once(a, acted.get(&a.id))),
        )
        .await;
        let put_failed = |a: &Alert| {
            acted
                .get(&a.id)
                .is_some_and(|x| x.applied.iter().any(|y| y.result.is_err()))
        };
        let failed_puts: usize = acted
            .values()
            .map(|x| x.applied.iter().filter(|y| y.result.is_err()).count())
            .sum();
        let sent: Vec<&Alert> = alerts
            .iter()
            .zip(&published)
            .filter(|(a, ok)| **ok && !put_failed(a))
            .map(|(a, _)| a)
            .collect();
        out.alert_publish_failures += published.iter().filter(|ok| !**ok).count();
        for a in &alerts {
            out.alerts.push(format!("{} {}", a.kind.as_str(), a.id));
        }
        if sent.is_empty() {
            return failed_puts;
        }
        let confirmed =
            futures_util::future::join_all(sent.iter().map(|a| self.detector.delivered(&a.id)))
                .await;
        out.store_calls += sent.len();
        out.store_chain += 1;
        for (a, r) in sent.iter().zip(confirmed) {
            if let Err(e) = r {
                out.alert_confirm_failures += 1;
                tracing::error!(alert_id = %a.id, error = %e, "alert sent but its delivery could not be recorded: a later invocation may send it again (same alert id)");
            }
        }
        failed_puts
    }

    /// Publishes one alert unless this instance already has (then only its delivery is recorded
    /// again); `false` if it could not be published.
    async fn publish_once(&self, a: &Alert, acted: Option<&contain::Acted>) -> bool {
        let seen = |sent: &std::collections::VecDeque<String>| sent.iter().any(|id| *id == a.id);
        if seen(&self.sent.lock().unwrap_or_else(|p| p.into_inner())) {
            tracing::info!(alert_id = %a.id, "alert already published by this instance: recording its delivery only");
            return true;
        }
        let ok = self.publish(a, acted).await;
        if ok {
            let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
            sent.push_back(a.id.clone());
            if sent.len() > SENT_MEMORY {
                sent.pop_front();
            }
        }
        ok
    }

    /// Publishes one alert; `false` if it could not be published (logged with its subject).
    async fn publish(&self, a: &Alert, acted: Option<&contain::Acted>) -> bool {
        let ctx = AlertContext {
            log_group: self.config.log_group_name.clone(),
        };
        let mut n = render(a, &ctx);
        if let Some(x) = acted {
            add_to_alert(&mut n, &x.applied, x.release);
        }
        let Some(topic) = &self.config.alert_topic_arn else {
            tracing::warn!(subject = %n.subject, alert_id = %a.id, "ALERT_TOPIC_ARN not set: alert only logged");
            return true;
        };
        let own = self.publish_to(topic, a, &n).await;
        let org = match &self.config.org_alert_topic_arn {
            Some(org_topic) => {
                let n = org_alert(n, topic);
                self.publish_to(org_topic, a, &n).await
            }
            None => true,
        };
        own && org
    }

    /// Publishes `n` (alert `a`) to `topic`, with retries; `false` if it could not be published.
    async fn publish_to(&self, topic: &str, a: &Alert, n: &Notification) -> bool {
        let mut last = None;
        for attempt in 0..PUBLISH_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            match self.notifier.publish(topic, n).await {
                Ok(id) => {
                    tracing::info!(subject = %n.subject, alert_id = %a.id, %topic, message_id = %id, "alert published");
                    return true;
                }
                Err(e) => last = Some(e),
            }
        }
        tracing::error!(
            subject = %n.subject,
            alert_id = %a.id,
            error = %last.map(|e| e.to_string()).unwrap_or_default(),
            "alert could not be published"
        );
        false
    }
}

/// The organisation's copy of an alert: the account and Region it came from (those of this stack's
/// own alerts topic, `arn:aws:sns:REGION:ACCOUNT:NAME`) first in the subject and the body, and as
/// `account` / `region` message attributes for subscription filters.
pub fn org_alert(mut n: Notification, own_topic_arn: &str) -> Notification {
    let parts: Vec<&str> = own_topic_arn.split(':').collect();
    let (region, account) = match parts.as_slice() {
        ["arn", _, "sns", region, account, ..] => (*region, *account),
        _ => ("unknown-region", "unknown-account"),
    };
    n.subject = format!("[{account} {region}] {}", n.subject);
    n.body = format!("Account {account}, Region {region}\n\n{}", n.body);
    n.attributes.push(("account".into(), account.into()));
    n.attributes.push(("region".into(), region.into()));
    n
}

/// What containment needs of the batch: the profile ARNs tagged `meter:on-runaway=contain` among its
/// resolutions (an app-level runaway's callers and their shares come with its alert).
#[derive(Default)]
struct Batch {
    opted_in: HashSet<String>,
}

fn publish_failures_datum(n: usize, now: Timestamp) -> Datum {
    Datum {
        metric: ALERT_PUBLISH_FAILURES,
        dimensions: Default::default(),
        timestamp: now.minute(),
        value: n as f64,
        unit: Unit::Count,
    }
}

/// A batch's identity, the same on every redelivery: where it came from, its first and last event ids
/// and its size.
pub fn batch_id(data: &LogsData<'_>) -> String {
    let first = data.log_events.first().map_or("", |e| e.id);
    let last = data.log_events.last().map_or("", |e| e.id);
    let first_ts = data.log_events.first().map_or(0, |e| e.timestamp);
    format!(
        "{}|{}|{}|{}|{}|{}",
        data.log_group,
        data.log_stream,
        first,
        last,
        first_ts,
        data.log_events.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_meter_core::attribution::principal::PrincipalRule;
    use std::collections::HashMap;

    #[test]
    fn config_defaults_and_errors() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.namespace, "BedrockMeter");
        assert_eq!(c.profile_cache_ttl, Duration::from_secs(300));
        assert_eq!(c.detector, DetectorConfig::default());
        assert!(!c.metrics.caller_dimensions);
        assert_eq!(c.alert_topic_arn, None);
        let env: HashMap<&str, &str> = [
            ("METRICS_NAMESPACE", "Custom"),
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:alerts"),
            ("CALLER_DIMENSIONS", "TRUE"),
            ("METADATA_KEYS", " tenant, env ,"),
            ("PROFILE_CACHE_TTL_SECONDS", "60"),
            ("WINDOW_MINUTES", "5"),
            ("MAX_COST_USD", "2.5"),
            ("LOG_GROUP_NAME", ""),
            ("APP_TAG_KEY", "application"),
        ]
        .into();
        let c = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.namespace, "Custom");
        assert!(c.metrics.caller_dimensions);
        assert_eq!(c.metrics.metadata_keys, vec!["tenant", "env"]);
        assert_eq!(c.attribution.metadata_keys, vec!["tenant", "env"]);
        assert_eq!(c.attribution.app_tag, "application");
        assert_eq!(c.profile_cache_ttl, Duration::from_secs(60));
        assert_eq!(c.detector.window_minutes, 5);
        assert_eq!(c.log_group_name, None);
        assert!(
            Config::from_lookup(|k| (k == "CALLER_DIMENSIONS").then(|| "maybe".into())).is_err()
        );
        assert!(Config::from_lookup(|k| (k == "MAX_REQUESTS").then(|| "-1".into())).is_err());
        // The caller rule (docs/callers.md): default, configured, invalid.
        assert_eq!(c.attribution.principal, PrincipalRule::default());
        let keep = Config::from_lookup(|k| (k == "KEEP_SESSION_ROLES").then(|| "none".into()));
        assert!(keep.unwrap().attribution.principal.patterns().is_empty());
        let bad = Config::from_lookup(|k| (k == "KEEP_SESSION_ROLES").then(|| "a/b".into()));
        assert_eq!(bad.unwrap_err().name, "KEEP_SESSION_ROLES");
        // Read here too, not in main.rs or the adapters: chat delivery, the failure queue, a profiles file.
        assert!(!c.chat_format);
        assert_eq!(
            (c.failure_queue_url.as_deref(), c.profiles_file.as_deref()),
            (None, None)
        );
        let wired: HashMap<&str, &str> = [
            ("CHAT_FORMAT", "yes"),
            (
                "FAILURE_QUEUE_URL",
                " https://sqs.us-east-1.amazonaws.com/1/failed ",
            ),
            ("PROFILES_FILE", "profiles.json"),
        ]
        .into();
        let w = Config::from_lookup(|k| wired.get(k).map(|v| v.to_string())).unwrap();
        assert!(w.chat_format);
        assert_eq!(
            w.failure_queue_url.as_deref(),
            Some("https://sqs.us-east-1.amazonaws.com/1/failed")
        );
        assert_eq!(w.profiles_file.as_deref(), Some("profiles.json"));
        let chat = Config::from_lookup(|k| (k == "CHAT_FORMAT").then(|| "sometimes".into()));
        assert_eq!(chat.unwrap_err().name, "CHAT_FORMAT");
    }

    #[test]
    fn our_decoder_agrees_with_aws_lambda_events() {
        use bedrock_meter_core::records::subscription::{encode, LogEvent, DATA_MESSAGE};
        let data = LogsData {
            message_type: DATA_MESSAGE,
            owner: "111122223333",
            log_group: "/aws/bedrock/modelinvocations",
            log_stream: "aws/bedrock/modelinvocations",
            subscription_filters: vec!["f"],
            log_events: vec![
                LogEvent {
                    id: "1",
                    timestamp: 1,
                    message: r#"{"a":"\"quoted\" é"}"#.into(),
                },
                LogEvent {
                    id: "2",
                    timestamp: 2,
                    message: "x".into(),
                },
            ],
        };
        let event = encode(&data);
        let theirs: aws_lambda_events::cloudwatch_logs::LogsEvent =
            serde_json::from_str(&event).unwrap();
        let mut dec = Decoder::new();
        let ours: SubscriptionEvent = serde_json::from_str(&event).unwrap();
        let ours = dec.decode_base64_data(&ours.awslogs.unwrap().data).unwrap();
        let t = &theirs.aws_logs.data;
        assert_eq!(t.log_group, ours.log_group);
        assert_eq!(t.message_type, ours.message_type);
        assert_eq!(t.log_events.len(), ours.log_events.len());
        for (a, b) in t.log_events.iter().zip(&ours.log_events) {
            assert_eq!(a.message, b.message.text().unwrap());
            assert_eq!(a.id, b.id);
            assert_eq!(a.timestamp, b.timestamp);
        }
    }

    #[test]
    fn the_organisation_copy_names_account_and_region() {
        let n = Notification {
            subject: "Bedrock runaway: app support-bot".into(),
            body: "12 requests".into(),
            attributes: vec![("kind".into(), "runaway".into())],
        };
        let org = org_alert(n, "arn:aws:sns:eu-west-1:222222222222:stack-AlertsTopic-X");
        assert_eq!(
            org.subject,
            "[222222222222 eu-west-1] Bedrock runaway: app support-bot"
        );
        assert!(org
            .body
            .starts_with("Account 222222222222, Region eu-west-1\n\n12 requests"));
        assert_eq!(
            org.attributes,
            [
                ("kind".to_string(), "runaway".to_string()),
                ("account".into(), "222222222222".into()),
                ("region".into(), "eu-west-1".into())
            ]
        );
        let c = Config::from_lookup(|k| {
            (k == "ORG_ALERT_TOPIC_ARN").then(|| "arn:aws:sns:us-east-1:999999999999:org".into())
        })
        .unwrap();
        assert_eq!(
            c.org_alert_topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:999999999999:org")
        );
    }
}

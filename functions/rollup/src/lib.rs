//! The daily path: an EventBridge schedule (or a `{"date": "YYYY-MM-DD"}` backfill) → one Athena query
//! that rolls the day's invocation logs up into the core's usage rows (and one for the day before, for
//! the day-over-day change) → profiles and tags → the same pricing and report model as the CLI
//! `report` → one SNS message per team (attribute `team=<team>`) and an organisation summary
//! (`team=all`).
//!
//! It also writes the day's application profiles, as the core resolved them (app, team, base model,
//! pool), to `s3://<PROFILES_SNAPSHOT_BUCKET>/bedrock-meter/profiles/<day>.jsonl`: the Athena query
//! pack's profiles table, so the console queries can attribute and price application-profile calls.
//! A snapshot that cannot be written is a note in the summary, not a failure (the reports still go).
//!
//! Failure is loud: a query that fails, is cancelled or times out, a result that cannot be read, or a
//! message that cannot be published makes the invocation an error and sends a message to the alerts
//! topic. Nothing is ever reported as $0 because something failed.

use std::collections::BTreeSet;

use futures::StreamExt;

pub mod org;
pub mod reports;
use std::time::Duration;

use bedrock_meter_core::attribution::model_id::{classify, ModelRef};
use bedrock_meter_core::attribution::profiles::ProfileMap;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::daily::athena_sql::{
    day_rollup_from_rows, DayRollup, RollupQuery, RowError, TableRef,
};
use bedrock_meter_core::daily::daily_email::day_emails;
use bedrock_meter_core::daily::fanin;
use bedrock_meter_core::daily::profile_snapshot::{profile_rows, snapshot_jsonl, snapshot_key};
use bedrock_meter_core::daily::reconcile::{
    bill_check_line, bill_from_rows, bill_sql, latest_fully_billed, BilledLine, RECONCILE_DAYS,
};
use bedrock_meter_core::daily::report::Report;
use bedrock_meter_core::daily::rollup::{price_rows, PricedRow, Rollup};
use bedrock_meter_core::ports::notify::{Notification, Notifier};
use bedrock_meter_core::ports::objects::ObjectWriter;
use bedrock_meter_core::ports::profiles::ProfileSource;
use bedrock_meter_core::ports::query::{
    finish_query, start_query, PollOptions, QueryEngine, QueryError, StartQuery, Started,
};
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::settings::{flag, value};
use bedrock_meter_core::time::{Date, Timestamp};
use serde::Serialize;
use serde_json::Value;

/// The SNS message attribute subscribers filter on.
pub const TEAM_ATTRIBUTE: &str = "team";
/// Its value on the organisation summary.
pub const SUMMARY_TEAM: &str = bedrock_meter_core::attribution::resolution::ALL_TEAMS;

/// Configuration, from the environment the template sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub workgroup: String,
    pub table: TableRef,
    pub report_topic_arn: String,
    pub alert_topic_arn: String,
    pub attribution: AttributionConfig,
    pub query_timeout: Duration,
    /// Where the day's profile snapshot goes (`PROFILES_SNAPSHOT_BUCKET`); none = not written.
    pub profiles_snapshot_bucket: Option<String>,
    /// The CUR 2.0 table (`CUR_TABLE`, `database.table`) for the summary's bill check; none = no line.
    pub cur_table: Option<String>,
    /// Where the day's HTML pages go (`REPORTS_BUCKET`, in `AWS_REGION`); none = no pages, no links.
    pub reports: Option<reports::ReportsBucket>,
    /// `CHAT_FORMAT`: publish with the chat integrations' JSON message structure.
    pub chat_format: bool,
    /// The organisation's fan-in bucket (`FAN_IN_BUCKET`, `FAN_IN_PREFIX`, `FAN_IN_REGION`, with
    /// `AWS_ACCOUNT_ID` and `AWS_REGION` naming this member); none = no fan-in.
    pub fan_in: Option<FanIn>,
}

/// Where this member's daily fan-in object goes, and who this member is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanIn {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/`.
    pub prefix: String,
    /// The bucket's Region (the store's client is made for it).
    pub bucket_region: String,
    /// This member's account id and Region (the object's partition).
    pub account: String,
    pub region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid: {1:?}")]
    Invalid(&'static str, String),
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any variable lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let req = |k: &'static str| value(&get, k).ok_or(ConfigError::Missing(k));
        let opt = |k: &str, default: &str| value(&get, k).unwrap_or_else(|| default.to_string());
        let timeout_text = opt("QUERY_TIMEOUT_SECONDS", "600");
        let timeout: u64 = timeout_text
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or(ConfigError::Invalid("QUERY_TIMEOUT_SECONDS", timeout_text))?;
        Ok(Config {
            workgroup: req("ATHENA_WORKGROUP")?,
            table: TableRef {
                database: req("ATHENA_DATABASE")?,
                table: req("ATHENA_TABLE")?,
            },
            report_topic_arn: req("REPORT_TOPIC_ARN")?,
            alert_topic_arn: req("ALERT_TOPIC_ARN")?,
            attribution: AttributionConfig::from_lookup(&get)
                .map_err(|e| ConfigError::Invalid(e.name, e.value))?,
            query_timeout: Duration::from_secs(timeout),
            profiles_snapshot_bucket: value(&get, "PROFILES_SNAPSHOT_BUCKET"),
            cur_table: value(&get, "CUR_TABLE"),
            chat_format: match value(&get, "CHAT_FORMAT") {
                Some(v) => {
                    flag("CHAT_FORMAT", &v).map_err(|e| ConfigError::Invalid(e.name, e.value))?
                }
                None => false,
            },
            fan_in: match value(&get, "FAN_IN_BUCKET") {
                Some(bucket) => {
                    let region = req("AWS_REGION")?;
                    let account = req("AWS_ACCOUNT_ID")?;
                    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ConfigError::Invalid("AWS_ACCOUNT_ID", account));
                    }
                    let prefix = opt("FAN_IN_PREFIX", "bedrock-meter")
                        .trim_matches('/')
                        .to_string();
                    if prefix.is_empty() {
                        return Err(ConfigError::Invalid("FAN_IN_PREFIX", prefix));
                    }
                    Some(FanIn {
                        bucket,
                        prefix,
                        bucket_region: value(&get, "FAN_IN_REGION").unwrap_or(region.clone()),
                        account,
                        region,
                    })
                }
                None => None,
            },
            reports: match value(&get, "REPORTS_BUCKET") {
                Some(bucket) => Some(reports::ReportsBucket {
                    bucket,
                    region: req("AWS_REGION")?,
                }),
                None => None,
            },
        })
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    #[error("bad event: {0}")]
    Event(String),
    #[error("{which} query: {source}")]
    Query {
        which: &'static str,
        #[source]
        source: QueryError,
    },
    #[error("{which} query {query_id}: unreadable results: {source}")]
    Rows {
        which: &'static str,
        query_id: String,
        #[source]
        source: RowError,
    },
    #[error("stopped {}s before the function's deadline, so that this failure could still be reported (the run needed longer than the function's timeout allows)", reserve.as_secs())]
    Deadline { reserve: Duration },
    #[error("the fan-in object {url} could not be written: {reason}")]
    FanIn { url: String, reason: String },
    #[error("{} of {} report messages could not be published: {}", failed.len(), total,
        failed.iter().map(|(t, e)| format!("team {t}: {e}")).collect::<Vec<_>>().join("; "))]
    Publish {
        failed: Vec<(String, AwsError)>,
        total: usize,
    },
}

/// The day to report: `{"date": "YYYY-MM-DD"}` (a backfill), else the day before the scheduled event's
/// `time` (EventBridge), else the day before `now` — all UTC.
pub fn day_of(event: &Value, now: Timestamp) -> Result<Date, RollupError> {
    let today = now.date();
    if let Some(d) = event.get("date").filter(|d| !d.is_null()) {
        let text = d
            .as_str()
            .ok_or_else(|| RollupError::Event(format!("\"date\" must be a string, got {d}")))?;
        let date = Date::parse(text.trim()).ok_or_else(|| {
            RollupError::Event(format!("\"date\" {text:?} is not a YYYY-MM-DD date"))
        })?;
        if date > today {
            return Err(RollupError::Event(format!(
                "\"date\" {date} is in the future (today is {today} UTC)"
            )));
        }
        return Ok(date);
    }
    if let Some(t) = event.get("time").and_then(Value::as_str) {
        if let Some(ts) = Timestamp::parse_iso8601(t) {
            return Ok(ts.date().pred());
        }
    }
    Ok(today.pred())
}

/// What the handler talks to.
pub struct Deps<E, P, N, S> {
    pub engine: E,
    pub profiles: P,
    pub notifier: N,
    /// Where the profile snapshot is written (used only with `profiles_snapshot_bucket`).
    pub store: S,
    /// The organisation's fan-in bucket's store (its Region's client; used only with `fan_in`).
    pub fan_in_store: Option<S>,
    pub prices: PriceTable,
    /// The `AWS/BedrockMantle` metrics (the summary's "not in invocation logs" lines); `None`: not read.
    pub mantle: Option<bedrock_meter_core::aws::cloudwatch::CloudWatchMantle>,
    /// Batch inference jobs and their manifests (the summary's "Batch inference" lines); `None`: off
    /// (`BATCH_OUTPUT_BUCKETS` empty).
    pub batch: Option<Batch>,
}

/// The batch-jobs feature: Bedrock's job listing, S3 for the manifests, and the only buckets
/// manifests are read from (`BATCH_OUTPUT_BUCKETS`, the template's `BatchOutputBuckets`: the role may
/// read no other).
pub struct Batch {
    pub jobs: bedrock_meter_core::aws::bedrock::BedrockBatchJobs,
    pub objects: bedrock_meter_core::aws::s3::S3Store,
    pub buckets: Vec<String>,
}

/// What an invocation did (the Lambda's result).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Outcome {
    pub date: String,
    pub query_id: String,
    pub previous_query_id: String,
    pub rows: usize,
    pub total_usd: String,
    pub unpriced_requests: u64,
    /// Teams that got a message (the summary is `all`).
    pub teams: Vec<String>,
    pub notes: Vec<String>,
    /// `s3://bucket/key` of the profile snapshot written, if any.
    pub profiles_snapshot: Option<String>,
    /// `s3://bucket/key` of the organisation fan-in object written (with its row count), if any.
    pub fan_in: Option<(String, usize)>,
}

/// Time kept back from the Lambda deadline to send the failure alert: a run still going then is
/// stopped and reported, instead of being killed by Lambda with nothing sent.
pub const ALERT_RESERVE: Duration = Duration::from_secs(20);

/// Runs the day and, on failure, sends an alert before returning the error.
pub async fn handle<E: QueryEngine, P: ProfileSource, N: Notifier, S: ObjectWriter>(
    deps: &Deps<E, P, N, S>,
    cfg: &Config,
    event: &Value,
    now: Timestamp,
) -> Result<Outcome, RollupError> {
    handle_until(deps, cfg, event, now, None).await
}

/// [`handle`] within the Lambda's `deadline` (from the invocation context): the run is stopped
/// [`ALERT_RESERVE`] before it, and the failure alert sent in the time left.
pub async fn handle_until<E: QueryEngine, P: ProfileSource, N: Notifier, S: ObjectWriter>(
    deps: &Deps<E, P, N, S>,
    cfg: &Config,
    event: &Value,
    now: Timestamp,
    deadline: Option<std::time::Instant>,
) -> Result<Outcome, RollupError> {
    let date = day_of(event, now).ok();
    let result = match deadline {
        None => run(deps, cfg, event, now).await,
        Some(d) => {
            let stop =
                bedrock_meter_core::time::stop_before(d, ALERT_RESERVE, std::time::Instant::now());
            tokio::time::timeout_at(stop.into(), run(deps, cfg, event, now))
                .await
                .unwrap_or(Err(RollupError::Deadline {
                    reserve: d.saturating_duration_since(stop),
                }))
        }
    };
    match result {
        Ok(o) => Ok(o),
        Err(e) => {
            tracing::error!(error = %e, "daily rollup failed");
            let day = date.map_or_else(|| "(unknown day)".to_string(), |d| d.to_string());
            let alert = Notification {
                subject: format!("bedrock-meter: daily cost rollup FAILED for {day}"),
                body: format!(
                    "The daily Bedrock cost rollup for {day} (UTC) failed:\n\n  {e}\n\n{}\
                     Nothing was reported as $0. Re-run it for the day with the event {{\"date\": \"{day}\"}} \
                     once the cause is fixed.\n",
                    match &e {
                        RollupError::Publish { .. } =>
                            "The reports for the other teams were sent. ",
                        RollupError::FanIn { .. } =>
                            "The cost reports were sent; the organisation's copy of the day was not (the home account will name this account and Region missing). ",
                        _ => "No cost report was sent for this day. ",
                    }
                ),
                attributes: vec![
                    ("kind".into(), "rollup-failure".into()),
                    (TEAM_ATTRIBUTE.into(), SUMMARY_TEAM.into()),
                ],
            };
            let publish = deps.notifier.publish(&cfg.alert_topic_arn, &alert);
            let published = match deadline {
                Some(d) => tokio::time::timeout_at(d.into(), publish)
                    .await
                    .unwrap_or_else(|_| {
                        Err(AwsError::new(
                            "Publish",
                            "the function's deadline came first",
                        ))
                    }),
                None => publish.await,
            };
            if let Err(ae) = published {
                tracing::error!(error = %ae, "could not publish the failure alert either");
            }
            Err(e)
        }
    }
}

async fn start<E: QueryEngine>(
    engine: &E,
    cfg: &Config,
    q: &RollupQuery,
    which: &'static str,
) -> Result<Started, RollupError> {
    start_named(engine, q.sql(), &cfg.workgroup, &cfg.table.database, which).await
}

/// Publishes each (team, message) in order: the teams that got theirs, or every failure with the
/// number of messages.
pub(crate) async fn publish_reports<N: Notifier>(
    notifier: &N,
    topic: &str,
    messages: &[(String, Notification)],
    what: &str,
) -> Result<Vec<String>, RollupError> {
    let mut failed = Vec::new();
    let mut teams = Vec::new();
    for (team, n) in messages {
        match notifier.publish(topic, n).await {
            Ok(id) => {
                tracing::info!(%team, message_id = %id, "{what} published");
                teams.push(team.clone());
            }
            Err(e) => failed.push((team.clone(), e)),
        }
    }
    if failed.is_empty() {
        Ok(teams)
    } else {
        Err(RollupError::Publish {
            failed,
            total: messages.len(),
        })
    }
}

/// Starts one query of the run (`which` names it in the error: daily, previous-day, organisation…).
pub(crate) async fn start_named<E: QueryEngine>(
    engine: &E,
    sql: String,
    workgroup: &str,
    database: &str,
    which: &'static str,
) -> Result<Started, RollupError> {
    start_query(
        engine,
        &StartQuery {
            sql,
            workgroup: workgroup.to_string(),
            database: database.to_string(),
        },
    )
    .await
    .map_err(|source| RollupError::Query { which, source })
}

async fn finish<E: QueryEngine>(
    engine: &E,
    cfg: &Config,
    started: Started,
    q: &RollupQuery,
    which: &'static str,
) -> Result<(String, DayRollup), RollupError> {
    let out = finish_query(
        engine,
        started,
        &PollOptions::with_timeout(cfg.query_timeout),
    )
    .await
    .map_err(|source| RollupError::Query { which, source })?;
    let rollup = day_rollup_from_rows(&out.columns, &out.rows, q.metadata_keys.len(), q.date)
        .map_err(|source| RollupError::Rows {
            which,
            query_id: out.query_id.clone(),
            source,
        })?;
    Ok((out.query_id, rollup))
}

/// Profile look-ups in flight at once. Each is two Bedrock control-plane calls; the SDK's standard retry
/// absorbs throttling, and eight keeps a busy account's day to a few seconds without a burst of hundreds.
pub const PROFILE_LOOKUPS_IN_FLIGHT: usize = 8;

/// Looks up every application profile the rows name. A failed lookup leaves the profile unresolved
/// (its spend shows under team `unresolved`, unpriced — never $0) and is returned as a note.
async fn profiles_for<P: ProfileSource>(
    source: &P,
    rollups: &[&Rollup],
) -> (ProfileMap, Vec<String>) {
    let arns: BTreeSet<String> = rollups
        .iter()
        .flat_map(|r| r.rows.keys())
        .filter_map(|k| match classify(&k.model_id) {
            ModelRef::ApplicationProfile { arn } => Some(arn),
            _ => None,
        })
        .collect();
    // Bounded and concurrent: a 200-profile day was 400 control-plane calls one after another (the
    // adapter makes GetInferenceProfile + ListTagsForResource per profile). Results come back in ARN order,
    // so the notes read the same on every run.
    let looked_up: Vec<_> = futures::stream::iter(arns)
        .map(|arn| async move {
            let found = source.get_profile(&arn).await;
            (arn, found)
        })
        .buffered(PROFILE_LOOKUPS_IN_FLIGHT)
        .collect()
        .await;
    let mut map = ProfileMap::default();
    let mut notes = Vec::new();
    for (arn, found) in looked_up {
        match found {
            Ok(Some(p)) => map.insert(p),
            Ok(None) => notes.push(format!(
                "application inference profile {arn} no longer exists: its spend is under team \"unresolved\""
            )),
            Err(e) => {
                tracing::warn!(%arn, error = %e, "profile lookup failed");
                notes.push(format!(
                    "could not look up application inference profile {arn} ({e}): its spend is under team \"unresolved\", unpriced"
                ))
            }
        }
    }
    (map, notes)
}

async fn run<E: QueryEngine, P: ProfileSource, N: Notifier, S: ObjectWriter>(
    deps: &Deps<E, P, N, S>,
    cfg: &Config,
    event: &Value,
    now: Timestamp,
) -> Result<Outcome, RollupError> {
    let date = day_of(event, now)?;
    let prev_date = date.pred();
    let attribution = &cfg.attribution;
    let q = RollupQuery::new(cfg.table.clone(), date, attribution, &deps.prices);
    let pq = RollupQuery::new(cfg.table.clone(), prev_date, attribution, &deps.prices);
    tracing::info!(%date, workgroup = %cfg.workgroup, "daily rollup");
    // Both days at once (the function's time budget is one query timeout, not two), started in a
    // fixed order.
    let day_started = start(&deps.engine, cfg, &q, "daily").await?;
    let prev_started = start(&deps.engine, cfg, &pq, "previous-day").await?;
    // The bill check's query (optional), started third: its failure is a note, never the report's.
    let bill_started = match &cfg.cur_table {
        Some(cur) => Some(start_sql(&deps.engine, cfg, bill_sql(cur, date, RECONCILE_DAYS)).await),
        None => None,
    };
    let (day, prev, bill) = tokio::join!(
        finish(&deps.engine, cfg, day_started, &q, "daily"),
        finish(&deps.engine, cfg, prev_started, &pq, "previous-day"),
        finish_bill(&deps.engine, cfg, bill_started)
    );
    let ((query_id, day_rollup), (previous_query_id, prev_rollup)) = (day?, prev?);
    let DayRollup {
        total: rollup,
        by_hour,
    } = day_rollup;
    let prev_rollup = prev_rollup.total;

    let (profiles, mut notes) = profiles_for(&deps.profiles, &[&rollup, &prev_rollup]).await;
    let profiles_snapshot = write_snapshot(deps, cfg, &profiles, date, &mut notes).await;
    let keys = &attribution.metadata_keys;
    let rows = price_rows(&rollup.rows, &profiles, &deps.prices, attribution);
    let org = Report::build(&rows, Some(date), deps.prices.as_of, keys, 0);
    let prev_rows = price_rows(&prev_rollup.rows, &profiles, &deps.prices, attribution);
    if let Some(bill) = bill {
        notes.push(bill_check(deps, cfg, bill, (date, &rows), (prev_date, &prev_rows)).await);
    }
    let prev_org = Report::build(&prev_rows, Some(prev_date), deps.prices.as_of, keys, 0);
    if rows.is_empty() {
        notes.push(format!(
            "no invocation records were found for {date}: if Bedrock was used that day, check the \
             invocation-logging configuration and the table's S3 location"
        ));
    }

    // What invocation logs cannot see: the day's bedrock-mantle traffic (summary email and page).
    let mantle = match &deps.mantle {
        Some(m) => {
            use bedrock_meter_core::ports::mantle::MantleSource as _;
            let end = bedrock_meter_core::time::Timestamp(date.start().0 + 86_400);
            match m.usage(date.start(), end).await {
                Ok(u) => {
                    // The metrics are the Lambda's Region's: priced at its rates.
                    let region = std::env::var("AWS_REGION").ok();
                    bedrock_meter_core::daily::mantle::lines(&u, &deps.prices, region.as_deref())
                }
                Err(e) => {
                    notes.push(format!(
                        "could not read the bedrock-mantle metrics (AWS/BedrockMantle): {e}"
                    ));
                    Vec::new()
                }
            }
        }
        None => Vec::new(),
    };

    // Batch inference jobs that ended in the day, counted from their manifests (summary email and page).
    let (batch_lines, batch_problems) = match &deps.batch {
        Some(b) => {
            use bedrock_meter_core::daily::batch;
            let end = bedrock_meter_core::time::Timestamp(date.start().0 + 86_400);
            match batch::read_jobs(
                &b.jobs,
                &b.objects,
                Some(b.buckets.as_slice()),
                date.start(),
                end,
            )
            .await
            {
                Ok(day) => {
                    let region = std::env::var("AWS_REGION").ok();
                    (
                        batch::lines(&day, &deps.prices, region.as_deref()),
                        batch::problems(&day),
                    )
                }
                Err(e) => {
                    notes.push(format!(
                        "could not list the batch inference jobs (ListModelInvocationJobs): {e}; batch inference is not counted for {date}"
                    ));
                    (Vec::new(), Vec::new())
                }
            }
        }
        None => (Vec::new(), Vec::new()),
    };

    // Each hour's rows priced as the day's (same profiles and prices): the pages' chart and the fan-in.
    let rows_by_hour: std::collections::BTreeMap<i64, Vec<PricedRow>> =
        if cfg.reports.is_some() || cfg.fan_in.is_some() {
            by_hour
                .iter()
                .map(|(h, r)| {
                    (
                        *h,
                        price_rows(&r.rows, &profiles, &deps.prices, attribution),
                    )
                })
                .collect()
        } else {
            Default::default()
        };
    // The organisation's copy of the day, written before the emails; a failure fails the run after
    // the emails are sent (the home account would otherwise name this member missing, unexplained).
    let fan_in = match &cfg.fan_in {
        Some(f) => Some(write_fan_in(deps, f, date, &rows_by_hour).await),
        None => None,
    };

    // One email per team, then the summary: the same function `bedrock-meter report --format email`
    // prints, so a team's email can be previewed from log files.
    // With a reports bucket, each email links its HTML page (written first, so a failure is a note).
    let links = match &cfg.reports {
        Some(rb) => {
            let day = reports::Day {
                org: &org,
                rows: &rows,
                rows_by_hour: &rows_by_hour,
                date,
                metadata_keys: keys,
                mantle: &mantle,
            };
            reports::write_pages_with_batch(
                &deps.store,
                rb,
                &day,
                (&batch_lines, &batch_problems),
                &mut notes,
            )
            .await
        }
        None => Default::default(),
    };
    let messages: Vec<(String, Notification)> =
        day_emails(&org, &rows, &prev_org, date, keys, &notes)
            .into_iter()
            .map(|e| {
                let email = match links.get(&e.team) {
                    Some(url) => reports::with_link(e.email, url),
                    None => e.email,
                };
                let team = e.team.unwrap_or_else(|| SUMMARY_TEAM.into());
                let mut n = notification(email, &team);
                if team == SUMMARY_TEAM {
                    // Within SNS's message limit, with room for the chat format's envelope.
                    let budget = bedrock_meter_core::ports::notify::MAX_MESSAGE_BYTES - 4_096;
                    bedrock_meter_core::daily::email::add_mantle(&mut n, &mantle, budget);
                    bedrock_meter_core::daily::batch::add_to_email(
                        &mut n,
                        &batch_lines,
                        &batch_problems,
                        budget,
                    );
                }
                (team, n)
            })
            .collect();

    let teams = publish_reports(&deps.notifier, &cfg.report_topic_arn, &messages, "report").await?;
    let fan_in = match fan_in {
        Some(Err(e)) => return Err(e),
        Some(Ok(written)) => Some(written),
        None => None,
    };
    Ok(Outcome {
        date: date.to_string(),
        query_id,
        previous_query_id,
        rows: rows.len(),
        total_usd: org.totals.cost.to_decimal_string(6),
        unpriced_requests: org.totals.unpriced_requests,
        teams,
        notes,
        profiles_snapshot,
        fan_in,
    })
}

/// Writes this member's fan-in object of `date` (every hour's attributed rows, even none: an empty
/// object says the member ran) to the organisation's bucket, replacing a previous run's.
async fn write_fan_in<E, P, N, S: ObjectWriter>(
    deps: &Deps<E, P, N, S>,
    f: &FanIn,
    date: Date,
    rows_by_hour: &std::collections::BTreeMap<i64, Vec<PricedRow>>,
) -> Result<(String, usize), RollupError> {
    let key = match fanin::object_key(date, &f.account, &f.region) {
        Ok(k) => format!("{}/{k}", f.prefix),
        Err(e) => {
            return Err(RollupError::FanIn {
                url: format!("s3://{}/{}/", f.bucket, f.prefix),
                reason: e.to_string(),
            })
        }
    };
    let url = format!("s3://{}/{key}", f.bucket);
    let Some(store) = &deps.fan_in_store else {
        return Err(RollupError::FanIn {
            url,
            reason: "no store for the fan-in bucket".into(),
        });
    };
    let rows = fanin::rows_of_hours(
        date,
        &f.account,
        rows_by_hour.iter().map(|(h, r)| (*h, r.as_slice())),
    );
    let body = fanin::encode(&rows);
    match store
        .put_object_for_bucket_owner(&f.bucket, &key, body, "application/x-ndjson", Some("gzip"))
        .await
    {
        Ok(()) => {
            tracing::info!(%url, rows = rows.len(), "fan-in object written");
            Ok((url, rows.len()))
        }
        Err(e) => {
            tracing::error!(%url, error = %e, "could not write the fan-in object");
            Err(RollupError::FanIn {
                url,
                reason: e.to_string(),
            })
        }
    }
}

async fn start_sql<E: QueryEngine>(
    engine: &E,
    cfg: &Config,
    sql: String,
) -> Result<Started, String> {
    start_query(
        engine,
        &StartQuery {
            sql,
            workgroup: cfg.workgroup.clone(),
            database: cfg.table.database.clone(),
        },
    )
    .await
    .map_err(|e| e.to_string())
}

/// The bill check's rows, or why there are none.
async fn finish_bill<E: QueryEngine>(
    engine: &E,
    cfg: &Config,
    started: Option<Result<Started, String>>,
) -> Option<Result<Vec<BilledLine>, String>> {
    let started = match started? {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let out = finish_query(
        engine,
        started,
        &PollOptions::with_timeout(cfg.query_timeout),
    )
    .await;
    Some(match out {
        Ok(o) => bill_from_rows(&o.columns, &o.rows),
        Err(e) => Err(e.to_string()),
    })
}

/// The summary's bill-check line for the latest fully billed day: the estimate of that day (the
/// report's day or the day before, else one more rollup query) against the bill. Never fails the run.
async fn bill_check<E: QueryEngine, P: ProfileSource, N, S>(
    deps: &Deps<E, P, N, S>,
    cfg: &Config,
    bill: Result<Vec<BilledLine>, String>,
    day: (Date, &[PricedRow]),
    prev: (Date, &[PricedRow]),
) -> String {
    let lines = match bill {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "bill check query failed");
            return format!(
                "bill check: the CUR query failed ({e}); no comparison with the bill today"
            );
        }
    };
    let Some(billed_day) = latest_fully_billed(&lines) else {
        return format!(
            "bill check: no complete day of Bedrock usage in the bill (CUR) for the {RECONCILE_DAYS} days to {}",
            day.0
        );
    };
    if billed_day == day.0 {
        return bill_check_line(billed_day, &lines, day.1);
    }
    if billed_day == prev.0 {
        return bill_check_line(billed_day, &lines, prev.1);
    }
    let q = RollupQuery::new(
        cfg.table.clone(),
        billed_day,
        &cfg.attribution,
        &deps.prices,
    );
    let rollup = match start(&deps.engine, cfg, &q, "bill-check").await {
        Ok(s) => finish(&deps.engine, cfg, s, &q, "bill-check").await,
        Err(e) => Err(e),
    };
    match rollup {
        Ok((_, DayRollup { total: r, .. })) => {
            let (profiles, _) = profiles_for(&deps.profiles, &[&r]).await;
            let rows = price_rows(&r.rows, &profiles, &deps.prices, &cfg.attribution);
            bill_check_line(billed_day, &lines, &rows)
        }
        Err(e) => format!("bill check: the estimate of {billed_day} could not be computed ({e})"),
    }
}

/// Writes the day's profile snapshot (the profiles the rows named, resolved by the core) for the Athena
/// query pack. A failure is logged and noted in the summary: the reports do not depend on it.
async fn write_snapshot<E, P, N, S: ObjectWriter>(
    deps: &Deps<E, P, N, S>,
    cfg: &Config,
    profiles: &ProfileMap,
    date: Date,
    notes: &mut Vec<String>,
) -> Option<String> {
    let bucket = cfg.profiles_snapshot_bucket.as_deref()?;
    let rows = profile_rows(profiles, &cfg.attribution, date);
    if rows.is_empty() {
        return None;
    }
    let key = snapshot_key(date);
    let url = format!("s3://{bucket}/{key}");
    let body = snapshot_jsonl(&rows).into_bytes();
    match deps
        .store
        .put_object(bucket, &key, body, "application/x-ndjson")
        .await
    {
        Ok(()) => {
            tracing::info!(%url, profiles = rows.len(), "profile snapshot written");
            Some(url)
        }
        Err(e) => {
            tracing::error!(%url, error = %e, "could not write the profile snapshot");
            notes.push(format!(
                "could not write the application-profile snapshot {url} ({e}): the Athena query pack \
                 may show this day's new profiles as \"unresolved\" until the next run"
            ));
            None
        }
    }
}

/// The email addressed to its team's subscribers (they filter on the `team` attribute).
fn notification(mut email: Notification, team: &str) -> Notification {
    email.attributes.push((TEAM_ATTRIBUTE.into(), team.into()));
    email
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_meter_core::attribution::principal::{PrincipalRule, KEEP_SESSION_ROLES_ENV};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_iso8601(s).unwrap()
    }

    /// A profile source that counts the look-ups in flight; every fourth ARN fails, every fifth is gone.
    struct CountingProfiles {
        in_flight: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl ProfileSource for CountingProfiles {
        async fn get_profile(
            &self,
            arn: &str,
        ) -> Result<Option<bedrock_meter_core::attribution::profiles::Profile>, AwsError> {
            use std::sync::atomic::Ordering::SeqCst;
            self.calls.fetch_add(1, SeqCst);
            let now = self.in_flight.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.in_flight.fetch_sub(1, SeqCst);
            let n: usize = arn.rsplit('p').next().unwrap().parse().unwrap();
            if n.is_multiple_of(4) {
                return Err(AwsError {
                    operation: "GetInferenceProfile",
                    code: Some("ThrottlingException".into()),
                    message: "ThrottlingException: slow down".into(),
                });
            }
            if n.is_multiple_of(5) {
                return Ok(None);
            }
            Ok(Some(bedrock_meter_core::attribution::profiles::Profile {
                arn: arn.to_string(),
                id: format!("p{n}"),
                name: format!("p{n}"),
                model_arns: vec![],
                tags: [("app".to_string(), format!("app{n}"))].into(),
            }))
        }
        async fn list_application_profiles(
            &self,
        ) -> Result<Vec<bedrock_meter_core::attribution::profiles::Profile>, AwsError> {
            unreachable!("the rollup looks profiles up one by one")
        }
    }

    #[tokio::test]
    async fn profiles_are_looked_up_concurrently_and_bounded_once_each() {
        use bedrock_meter_core::records::record::Usage;
        use std::sync::atomic::Ordering::SeqCst;
        let arn = |n: usize| {
            format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p{n}")
        };
        let key = |model_id: String| bedrock_meter_core::daily::rollup::UsageKey {
            model_id,
            region: "us-east-1".into(),
            caller: "role/x".into(),
            metadata: vec![],
            prompt_band: 0,
            tier: "default".into(),
        };
        // 60 profiles over two days, 20 of them named on both, plus a foundation model.
        let mut day = Rollup::default();
        let mut prev = Rollup::default();
        for n in 1..=40 {
            day.rows.insert(key(arn(n)), Usage::default());
        }
        for n in 21..=60 {
            prev.rows.insert(key(arn(n)), Usage::default());
        }
        day.rows
            .insert(key("anthropic.claude-haiku-4-5".into()), Usage::default());
        let source = CountingProfiles {
            in_flight: 0.into(),
            most: 0.into(),
            calls: 0.into(),
        };
        let (map, notes) = profiles_for(&source, &[&day, &prev]).await;
        assert_eq!(
            source.calls.load(SeqCst),
            60,
            "one look-up per distinct profile"
        );
        let most = source.most.load(SeqCst);
        assert!(
            most > 1 && most <= PROFILE_LOOKUPS_IN_FLIGHT,
            "{most} in flight"
        );
        // 15 fail (multiples of 4), 9 more are gone (multiples of 5 that are not of 4): each one note.
        assert_eq!(notes.len(), 15 + 9, "{notes:#?}");
        assert_eq!(map.len(), 60 - 24);
        let failed: Vec<_> = notes
            .iter()
            .filter(|n| n.contains("ThrottlingException"))
            .collect();
        assert_eq!(failed.len(), 15);
        // The notes come in ARN order whatever order the look-ups finished in.
        let arns_in_notes: Vec<_> = notes
            .iter()
            .map(|n| {
                n.split_whitespace()
                    .find(|w| w.contains("profile/"))
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut arns_sorted = arns_in_notes.clone();
        arns_sorted.sort();
        assert_eq!(arns_in_notes, arns_sorted);
    }

    #[test]
    fn the_day_is_yesterday_or_the_backfill_date() {
        let now = ts("2026-11-26T06:00:07Z");
        let sched = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "time": "2026-11-26T06:00:00Z", "detail": {}});
        assert_eq!(day_of(&sched, now).unwrap().to_string(), "2026-11-25");
        // A late retry of the 00:00 schedule still reports the day before the schedule's time.
        let midnight = json!({"source": "aws.events", "time": "2026-11-26T00:00:00Z"});
        assert_eq!(
            day_of(&midnight, ts("2026-11-27T00:10:00Z"))
                .unwrap()
                .to_string(),
            "2026-11-25"
        );
        assert_eq!(day_of(&json!({}), now).unwrap().to_string(), "2026-11-25");
        assert_eq!(
            day_of(&json!({"date": "2026-01-31"}), now)
                .unwrap()
                .to_string(),
            "2026-01-31"
        );
        for bad in [
            json!({"date": "2026-02-30"}),
            json!({"date": 20261125}),
            json!({"date": "2026-11-27"}),
        ] {
            assert!(
                matches!(day_of(&bad, now), Err(RollupError::Event(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn config_from_the_environment() {
        let env: BTreeMap<&str, &str> = [
            ("ATHENA_WORKGROUP", "wg"),
            ("ATHENA_DATABASE", "db"),
            ("ATHENA_TABLE", "logs"),
            ("REPORT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:reports"),
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:alerts"),
            ("METADATA_KEYS", " tenant, ,env "),
            ("QUERY_TIMEOUT_SECONDS", "120"),
        ]
        .into();
        let c = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.attribution.metadata_keys, ["tenant", "env"]);
        assert_eq!(
            (
                c.attribution.app_tag.as_str(),
                c.attribution.team_tag.as_str()
            ),
            ("app", "team")
        );
        assert_eq!(c.query_timeout, Duration::from_secs(120));
        assert_eq!(c.profiles_snapshot_bucket, None);
        assert_eq!(c.reports, None);
        let reports = Config::from_lookup(|k| match k {
            "REPORTS_BUCKET" => Some(" my-reports ".into()),
            "AWS_REGION" => Some("eu-west-1".into()),
            _ => env.get(k).map(|v| v.to_string()),
        })
        .unwrap()
        .reports
        .unwrap();
        assert_eq!(
            (reports.bucket.as_str(), reports.region.as_str()),
            ("my-reports", "eu-west-1")
        );
        assert!(matches!(
            Config::from_lookup(|k| match k {
                "REPORTS_BUCKET" => Some("my-reports".into()),
                _ => env.get(k).map(|v| v.to_string()),
            }),
            Err(ConfigError::Missing("AWS_REGION"))
        ));
        // The organisation's fan-in: this member's account and Region, the bucket's Region.
        assert_eq!(c.fan_in, None);
        let fan_in = |extra: &'static [(&'static str, &'static str)]| {
            Config::from_lookup(|k| {
                extra
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
                    .or_else(|| env.get(k).map(|v| v.to_string()))
            })
        };
        let f = fan_in(&[
            ("FAN_IN_BUCKET", "org-fan-in"),
            ("FAN_IN_PREFIX", "/acme/bm/"),
            ("AWS_ACCOUNT_ID", "111111111111"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap()
        .fan_in
        .unwrap();
        assert_eq!(
            f,
            FanIn {
                bucket: "org-fan-in".into(),
                prefix: "acme/bm".into(),
                bucket_region: "eu-west-1".into(),
                account: "111111111111".into(),
                region: "eu-west-1".into(),
            }
        );
        let f = fan_in(&[
            ("FAN_IN_BUCKET", "org-fan-in"),
            ("FAN_IN_REGION", "us-east-1"),
            ("AWS_ACCOUNT_ID", "111111111111"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap()
        .fan_in
        .unwrap();
        assert_eq!(
            (f.prefix.as_str(), f.bucket_region.as_str()),
            ("bedrock-meter", "us-east-1")
        );
        assert!(matches!(
            fan_in(&[
                ("FAN_IN_BUCKET", "org-fan-in"),
                ("AWS_ACCOUNT_ID", "1111"),
                ("AWS_REGION", "eu-west-1"),
            ]),
            Err(ConfigError::Invalid("AWS_ACCOUNT_ID", _))
        ));
        assert!(matches!(
            fan_in(&[("FAN_IN_BUCKET", "org-fan-in"), ("AWS_REGION", "eu-west-1")]),
            Err(ConfigError::Missing("AWS_ACCOUNT_ID"))
        ));
        let with_bucket = Config::from_lookup(|k| {
            if k == "PROFILES_SNAPSHOT_BUCKET" {
                Some(" my-logs ".into())
            } else {
                env.get(k).map(|v| v.to_string())
            }
        })
        .unwrap();
        assert_eq!(
            with_bucket.profiles_snapshot_bucket.as_deref(),
            Some("my-logs")
        );
        let missing = Config::from_lookup(|k| {
            (k != "ALERT_TOPIC_ARN")
                .then(|| env.get(k).map(|v| v.to_string()))
                .flatten()
        });
        assert!(matches!(
            missing,
            Err(ConfigError::Missing("ALERT_TOPIC_ARN"))
        ));
        let bad = Config::from_lookup(|k| {
            if k == "QUERY_TIMEOUT_SECONDS" {
                Some("soon".into())
            } else {
                env.get(k).map(|v| v.to_string())
            }
        });
        assert!(matches!(bad, Err(ConfigError::Invalid(..))));
        // The caller rule: default, configured, invalid.
        assert_eq!(c.attribution.principal, PrincipalRule::default());
        let keep = |v: &'static str| {
            Config::from_lookup(|k| {
                if k == KEEP_SESSION_ROLES_ENV {
                    Some(v.into())
                } else {
                    env.get(k).map(|v| v.to_string())
                }
            })
        };
        assert_eq!(
            keep("Human-*").unwrap().attribution.principal.patterns(),
            ["Human-*"]
        );
        assert!(matches!(
            keep("a/b"),
            Err(ConfigError::Invalid("KEEP_SESSION_ROLES", _))
        ));
    }
}

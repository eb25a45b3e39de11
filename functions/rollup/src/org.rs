//! The organisation rollup (the home stack, `org/home.yaml`; the rollup function with
//! `ROLLUP_MODE=organization`): the day's fan-in rows of every member account and Region, read with
//! one Athena query over the home table (`athena_sql::org_sql`: one day partition, each row's account
//! checked against its object's path), priced by the core with the one price table
//! (`fanin::price`), then one SNS message per team covering all its accounts and Regions and one
//! organisation summary (`org::org_emails`), each with its HTML page when a reports bucket is set.
//!
//! Who should have reported comes from the fan-in objects' keys: a member (account × Region) that wrote
//! an object on any of the 7 days before and none today is named in every email ("1 of 4 accounts not
//! reported yet: …"), as is an account of `ORG_EXPECTED_ACCOUNTS` that never reported. A re-run of a
//! member's day replaced its object (one key per member and day), so nothing is counted twice.
//!
//! Failure is loud as in the member rollup: a query or listing that fails makes the invocation an error
//! and sends a message to the alerts topic.

use std::collections::BTreeSet;
use std::time::Duration;

use bedrock_meter_core::daily::athena_sql::{org_rows_from_results, org_sql, TableRef};
use bedrock_meter_core::daily::email::Audience;
use bedrock_meter_core::daily::fanin;
use bedrock_meter_core::daily::org::{org_emails, AccountRow, Members, OrgReport, EXPECTED_DAYS};
use bedrock_meter_core::daily::report::Report;
use bedrock_meter_core::daily::rollup::PricedRow;
use bedrock_meter_core::ports::notify::{Notification, Notifier};
use bedrock_meter_core::ports::objects::{KeyLister, ObjectWriter};
use bedrock_meter_core::ports::query::{finish_query, PollOptions, QueryEngine, Started};
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::settings::value;
use bedrock_meter_core::time::{Date, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::reports;
use crate::{day_of, ConfigError, RollupError, SUMMARY_TEAM, TEAM_ATTRIBUTE};

/// The environment variable that selects this mode, and its value.
pub const MODE_ENV: &str = "ROLLUP_MODE";
pub const MODE_ORGANIZATION: &str = "organization";

/// Configuration of the organisation rollup, from the home stack's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgConfig {
    pub workgroup: String,
    /// The fan-in table (`athena_sql::fanin_table_sql`'s columns, partitioned by `day`).
    pub table: TableRef,
    pub report_topic_arn: String,
    pub alert_topic_arn: String,
    /// The fan-in bucket and the folder above `fanin/` (`FAN_IN_BUCKET`, `FAN_IN_PREFIX`).
    pub bucket: String,
    pub prefix: String,
    /// `ORG_EXPECTED_ACCOUNTS`: accounts expected to report besides those seen in the 7 days before.
    pub expected_accounts: Vec<String>,
    pub query_timeout: Duration,
    pub reports: Option<reports::ReportsBucket>,
}

impl OrgConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<OrgConfig, ConfigError> {
        let req = |k: &'static str| value(&get, k).ok_or(ConfigError::Missing(k));
        let timeout_text = value(&get, "QUERY_TIMEOUT_SECONDS").unwrap_or_else(|| "600".into());
        let timeout: u64 = timeout_text
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or(ConfigError::Invalid("QUERY_TIMEOUT_SECONDS", timeout_text))?;
        let mut expected_accounts = Vec::new();
        for a in value(&get, "ORG_EXPECTED_ACCOUNTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            if !fanin::valid_account(a) {
                return Err(ConfigError::Invalid("ORG_EXPECTED_ACCOUNTS", a.to_string()));
            }
            expected_accounts.push(a.to_string());
        }
        Ok(OrgConfig {
            workgroup: req("ATHENA_WORKGROUP")?,
            table: TableRef {
                database: req("ATHENA_DATABASE")?,
                table: req("ATHENA_TABLE")?,
            },
            report_topic_arn: req("REPORT_TOPIC_ARN")?,
            alert_topic_arn: req("ALERT_TOPIC_ARN")?,
            bucket: req("FAN_IN_BUCKET")?,
            prefix: value(&get, "FAN_IN_PREFIX")
                .unwrap_or_else(|| "bedrock-meter".into())
                .trim_matches('/')
                .to_string(),
            expected_accounts,
            query_timeout: Duration::from_secs(timeout),
            reports: match value(&get, "REPORTS_BUCKET") {
                Some(bucket) => Some(reports::ReportsBucket {
                    bucket,
                    region: req("AWS_REGION")?,
                }),
                None => None,
            },
        })
    }

    /// The folder of one day's fan-in objects: `<prefix>/fanin/day=YYYY-MM-DD/`.
    pub fn day_prefix(&self, day: Date) -> String {
        let folder = format!("{}/day={day}/", fanin::PREFIX);
        if self.prefix.is_empty() {
            folder
        } else {
            format!("{}/{folder}", self.prefix)
        }
    }
}

/// What the organisation rollup talks to.
pub struct OrgDeps<E, N, S> {
    pub engine: E,
    pub notifier: N,
    /// The fan-in bucket (listed) and the reports bucket (pages written).
    pub store: S,
    pub prices: PriceTable,
}

/// What an invocation did.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OrgOutcome {
    pub date: String,
    pub query_id: String,
    pub rows: usize,
    pub total_usd: String,
    /// Accounts that reported / were expected.
    pub accounts_reported: usize,
    pub accounts_expected: usize,
    /// Accounts with a member (Region) missing.
    pub missing_accounts: Vec<String>,
    pub teams: Vec<String>,
    pub notes: Vec<String>,
}

/// Runs the organisation's day; on failure sends an alert and returns the error.
pub async fn handle_org<E, N, S>(
    deps: &OrgDeps<E, N, S>,
    cfg: &OrgConfig,
    event: &Value,
    now: Timestamp,
) -> Result<OrgOutcome, RollupError>
where
    E: QueryEngine,
    N: Notifier,
    S: KeyLister + ObjectWriter + Sync,
{
    let result = run_org(deps, cfg, event, now).await;
    if let Err(e) = &result {
        tracing::error!(error = %e, "organisation rollup failed");
        let day =
            day_of(event, now).map_or_else(|_| "(unknown day)".to_string(), |d| d.to_string());
        let alert = Notification {
            subject: format!("bedrock-meter: organisation cost rollup FAILED for {day}"),
            body: format!(
                "The organisation's daily Bedrock cost rollup for {day} (UTC) failed:\n\n  {e}\n\n\
                 Nothing was reported as $0. Re-run it for the day with the event {{\"date\": \"{day}\"}} \
                 once the cause is fixed.\n"
            ),
            attributes: vec![
                ("kind".into(), "rollup-failure".into()),
                (TEAM_ATTRIBUTE.into(), SUMMARY_TEAM.into()),
            ],
        };
        if let Err(ae) = deps.notifier.publish(&cfg.alert_topic_arn, &alert).await {
            tracing::error!(error = %ae, "could not publish the failure alert either");
        }
    }
    result
}

async fn start_day<E: QueryEngine>(
    engine: &E,
    cfg: &OrgConfig,
    day: Date,
    which: &'static str,
) -> Result<Started, RollupError> {
    crate::start_named(
        engine,
        org_sql(&cfg.table, day),
        &cfg.workgroup,
        &cfg.table.database,
        which,
    )
    .await
}

async fn query_rows<E: QueryEngine>(
    engine: &E,
    cfg: &OrgConfig,
    started: Started,
    which: &'static str,
) -> Result<(String, Vec<fanin::FanInRow>), RollupError> {
    let out = finish_query(
        engine,
        started,
        &PollOptions::with_timeout(cfg.query_timeout),
    )
    .await
    .map_err(|source| RollupError::Query { which, source })?;
    let rows =
        org_rows_from_results(&out.columns, &out.rows).map_err(|source| RollupError::Rows {
            which,
            query_id: out.query_id.clone(),
            source,
        })?;
    Ok((out.query_id, rows))
}

fn priced(rows: &[fanin::FanInRow], prices: &PriceTable) -> Vec<AccountRow> {
    rows.iter()
        .zip(fanin::price(rows, prices))
        .map(|(f, row)| AccountRow {
            account: f.account_id.clone(),
            row,
        })
        .collect()
}

async fn run_org<E, N, S>(
    deps: &OrgDeps<E, N, S>,
    cfg: &OrgConfig,
    event: &Value,
    now: Timestamp,
) -> Result<OrgOutcome, RollupError>
where
    E: QueryEngine,
    N: Notifier,
    S: KeyLister + ObjectWriter + Sync,
{
    let date = day_of(event, now)?;
    tracing::info!(%date, workgroup = %cfg.workgroup, "organisation rollup");
    // The day's and the day before's rows, and the keys of the day and the 7 before, at once: 2
    // queries and 8 listings (one folder each), whatever the number of members.
    let days: Vec<Date> = std::iter::successors(Some(date), |d| Some(d.pred()))
        .take(EXPECTED_DAYS as usize + 1)
        .collect();
    let listings = futures::future::join_all(days.iter().map(|d| {
        let prefix = cfg.day_prefix(*d);
        async move { deps.store.list_keys(&cfg.bucket, &prefix).await }
    }));
    // Started in a fixed order (the day, then the day before), finished together.
    let day_started = start_day(&deps.engine, cfg, date, "organisation").await?;
    let prev_started =
        start_day(&deps.engine, cfg, date.pred(), "organisation previous-day").await?;
    let (day, prev, listed) = tokio::join!(
        query_rows(&deps.engine, cfg, day_started, "organisation"),
        query_rows(&deps.engine, cfg, prev_started, "organisation previous-day"),
        listings
    );
    let ((query_id, day_rows), (_, prev_rows)) = (day?, prev?);
    let mut keys = Vec::new();
    for l in listed {
        keys.extend(l.map_err(|e: AwsError| {
            RollupError::Event(format!(
                "listing the fan-in objects in s3://{}: {e}",
                cfg.bucket
            ))
        })?);
    }
    let members = Members::from_keys(
        keys.iter().map(String::as_str),
        date,
        cfg.expected_accounts.iter().cloned(),
    );
    let rows = priced(&day_rows, &deps.prices);
    let no_keys: &[String] = &[];
    let org = OrgReport::build(
        &rows,
        Some(date),
        deps.prices.as_of,
        no_keys,
        0,
        Some(&members),
    );
    // The day-over-day change compares like with like: the day before of the accounts that reported.
    let reported: BTreeSet<&str> = members.reported.iter().map(|(a, _)| a.as_str()).collect();
    let prev_priced: Vec<PricedRow> = priced(&prev_rows, &deps.prices)
        .into_iter()
        .filter(|r| reported.contains(r.account.as_str()))
        .map(|r| r.row)
        .collect();
    let prev = Report::build(
        &prev_priced,
        Some(date.pred()),
        deps.prices.as_of,
        no_keys,
        0,
    );

    let mut notes = Vec::new();
    if members.reported.is_empty() {
        notes.push(format!(
            "no member account wrote its fan-in file for {date} to s3://{}/{}: check the member stacks' FanInBucket and their rollups",
            cfg.bucket,
            cfg.day_prefix(date)
        ));
    }
    let links = match &cfg.reports {
        Some(rb) => {
            let pages = org_pages(&org, &rows);
            reports::put_pages(&deps.store, rb, date, pages, &mut notes).await
        }
        None => Default::default(),
    };
    let emails = org_emails(&org, &rows, Some(&prev), date, no_keys, &notes);
    let messages: Vec<(String, Notification)> = emails
        .into_iter()
        .map(|e| {
            let mut n = match links.get(&e.team) {
                Some(url) => reports::with_link(e.email, url),
                None => e.email,
            };
            let team = e.team.unwrap_or_else(|| SUMMARY_TEAM.into());
            n.attributes.push((TEAM_ATTRIBUTE.into(), team.clone()));
            n.attributes.push(("scope".into(), "organization".into()));
            (team, n)
        })
        .collect();
    let teams = crate::publish_reports(
        &deps.notifier,
        &cfg.report_topic_arn,
        &messages,
        "organisation report",
    )
    .await?;
    Ok(OrgOutcome {
        date: date.to_string(),
        query_id,
        rows: rows.len(),
        total_usd: org.report.totals.cost.to_decimal_string(6),
        accounts_reported: reported.len(),
        accounts_expected: org.accounts_expected,
        missing_accounts: org.missing.iter().map(|m| m.account.clone()).collect(),
        teams,
        notes,
    })
}

/// The organisation's HTML pages: one per team (its spend in every account and Region, broken down
/// by account) and the summary's (every account, the missing members named), keyed as the member's
/// (`reports::page_key`). No per-hour chart: the organisation query sums the hours. No bedrock-mantle
/// lines either: those metrics are each member Region's, on the members' own pages.
pub fn org_pages(org: &OrgReport, rows: &[AccountRow]) -> Vec<(Option<String>, String)> {
    let no_keys: &[String] = &[];
    let mut pages: Vec<(Option<String>, String)> = org
        .report
        .by_team
        .iter()
        .map(|(team, _)| {
            let view = org.for_team(team, rows, no_keys);
            (
                Some(team.clone()),
                view.to_html(Audience::Team(team), None, None),
            )
        })
        .collect();
    pages.push((None, org.to_html(Audience::Summary, None, None)));
    pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn config_from_the_home_stack() {
        let env: BTreeMap<&str, &str> = [
            ("ATHENA_WORKGROUP", "wg"),
            ("ATHENA_DATABASE", "bedrock_meter_org"),
            ("ATHENA_TABLE", "fan_in"),
            ("REPORT_TOPIC_ARN", "arn:aws:sns:us-east-1:9:reports"),
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:9:alerts"),
            ("FAN_IN_BUCKET", "home"),
            ("FAN_IN_PREFIX", "/org/bm/"),
            ("ORG_EXPECTED_ACCOUNTS", "111111111111, 222222222222"),
        ]
        .into();
        let c = OrgConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.prefix, "org/bm");
        assert_eq!(c.expected_accounts, ["111111111111", "222222222222"]);
        assert_eq!(
            c.day_prefix(Date::parse("2026-11-25").unwrap()),
            "org/bm/fanin/day=2026-11-25/"
        );
        assert_eq!(c.reports, None);
        let bad = OrgConfig::from_lookup(|k| match k {
            "ORG_EXPECTED_ACCOUNTS" => Some("1111,222222222222".into()),
            _ => env.get(k).map(|v| v.to_string()),
        });
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid("ORG_EXPECTED_ACCOUNTS", _))
        ));
        let missing = OrgConfig::from_lookup(|k| {
            (k != "FAN_IN_BUCKET")
                .then(|| env.get(k).map(|v| v.to_string()))
                .flatten()
        });
        assert!(matches!(
            missing,
            Err(ConfigError::Missing("FAN_IN_BUCKET"))
        ));
    }
}

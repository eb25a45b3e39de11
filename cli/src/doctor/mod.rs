//! `bedrock-meter doctor`: checks each link of the chain in one account and Region and prints a
//! checklist with a verdict and the fix for each failure. Exit code 1 when a check fails.
//!
//! Two halves: [`facts`] reads the [`facts::Facts`] through the core's ports (adapters in
//! `bedrock_meter_core::aws`, wired in [`run`]); [`checklist`] is pure (facts in, checks out) and holds
//! every verdict, grouped by what it checks, in the order a record meets them:
//!
//! - [`logging`] — Bedrock's invocation-logging configuration and text delivery;
//! - [`live_path`] — the log group and the subscription filter to the ingest Lambda;
//! - [`daily_path`] — S3 delivery, the Glue table, the Athena workgroup;
//! - [`attribution`] — profile tags, calls bypassing profiles, prices of the models in use;
//!
//! with [`check`] (a check and its status) and [`render`] (table or JSON).

mod attribution;
mod batch;
mod check;
mod daily_path;
mod facts;
#[cfg(test)]
mod fixtures;
mod live_path;
mod logging;
mod mantle;
mod render;

use bedrock_meter_core::attribution::resolution::{DEFAULT_APP_TAG, DEFAULT_TEAM_TAG};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::aws::athena::AthenaEngine;
use bedrock_meter_core::aws::bedrock::{BedrockBatchJobs, BedrockProfiles};
use bedrock_meter_core::aws::cloudwatch::CloudWatchMantle;
use bedrock_meter_core::aws::glue::GlueCatalog;
use bedrock_meter_core::aws::logging::BedrockLogging;
use bedrock_meter_core::aws::logs::LogsClient;
use bedrock_meter_core::aws::s3::S3Store;
use bedrock_meter_core::ports::mantle::MantleSource;
use bedrock_meter_core::pricing::prices::PriceTable;

use self::check::{Check, Status};
use self::facts::{gather, Facts, Sources};
use self::render::{render_json, render_table};
use crate::common::{parse_duration, Format};

/// The names `template.yaml` gives the resources by default.
pub const DEFAULT_LOG_GROUP: &str = "/aws/bedrock/modelinvocations";
const DEFAULT_PREFIX: &str = "bedrock-logs";
const DEFAULT_DATABASE: &str = "bedrock_meter";
const DEFAULT_TABLE: &str = "invocation_logs";
const DEFAULT_WORKGROUP: &str = "bedrock-meter";
/// `--max-price-age-days` by default.
const DEFAULT_MAX_PRICE_AGE_DAYS: u32 = 120;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Region to check (default: the standard AWS configuration's).
    #[arg(long)]
    region: Option<String>,
    /// table (for people) or json (for automation; same checks, exit code 1 when one fails).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// The stack's outputs, as `aws cloudformation describe-stacks --stack-name NAME` prints them (or
    /// just its `Outputs` array): names the log group, bucket, database, table and workgroup.
    #[arg(long)]
    stack_outputs: Option<PathBuf>,
    /// Invocation log group (default: stack outputs, else the logging configuration's, else
    /// /aws/bedrock/modelinvocations).
    #[arg(long)]
    log_group: Option<String>,
    /// Invocation log bucket (default: stack outputs, else the logging configuration's).
    #[arg(long)]
    bucket: Option<String>,
    /// Key prefix of the logs in the bucket (default: the logging configuration's, else bedrock-logs).
    #[arg(long)]
    prefix: Option<String>,
    /// Glue database of the invocation-log table (default: stack outputs, else bedrock_meter).
    #[arg(long)]
    database: Option<String>,
    /// Glue table of the invocation logs (default: stack outputs, else invocation_logs).
    #[arg(long)]
    table: Option<String>,
    /// Athena workgroup (the template names it after the stack; default bedrock-meter).
    #[arg(long)]
    workgroup: Option<String>,
    /// Our subscription filter sends to a Lambda whose name or ARN contains this.
    #[arg(long, default_value = "IngestFunction")]
    ingest_function: String,
    /// How far back to read the log group for callers who bypass profiles and unpriced models.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    recent: Duration,
    /// Most log events read for that.
    #[arg(long, default_value_t = 10_000)]
    max_events: usize,
    /// Latest S3 log object older than this is a warning.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    max_delivery_age: Duration,
    /// A price table older than this many days (its `as_of`) is a warning.
    #[arg(long, default_value_t = DEFAULT_MAX_PRICE_AGE_DAYS)]
    max_price_age_days: u32,
    /// Price table file overriding the embedded one.
    #[arg(long, env = "BEDROCK_METER_PRICES")]
    prices: Option<PathBuf>,
    /// Profile tag key that names the app (checked on every application profile).
    #[arg(long, default_value = DEFAULT_APP_TAG, env = "APP_TAG_KEY")]
    app_tag: String,
    /// Profile tag key that names the team (checked on every application profile).
    #[arg(long, default_value = DEFAULT_TEAM_TAG, env = "TEAM_TAG_KEY")]
    team_tag: String,
}

/// Every verdict, from facts alone, in the order a record meets the links.
fn checklist(
    f: &Facts,
    prices: &PriceTable,
    cfg: &AttributionConfig,
    max_delivery_age: Duration,
    max_price_age_days: u32,
) -> Vec<Check> {
    let known = attribution::known_profiles(f);
    let mut out = logging::checks(f);
    out.push(live_path::log_group(f));
    out.push(live_path::subscription(f));
    out.push(daily_path::s3_delivery(f, max_delivery_age));
    out.push(daily_path::glue_table(f));
    out.push(daily_path::workgroup(f));
    out.push(attribution::profiles(f, cfg));
    out.push(attribution::app_claims(f, cfg));
    out.push(attribution::bypass(f, &known));
    out.push(attribution::prices(
        f,
        prices,
        cfg,
        &known,
        max_price_age_days,
    ));
    out
}

/// The one cause to fix first, when the checks point at it: the stack was never deployed in this
/// Region (its log group, Glue table and Athena workgroup are all missing).
fn headline(f: &Facts) -> Option<String> {
    let n = &f.names;
    let missing = matches!(f.log_group_exists, Ok(false))
        && matches!(f.table_exists, Ok(false))
        && matches!(f.workgroup, Ok(None));
    missing.then(|| {
        format!(
            "stack not found: no bedrock-meter stack in {} (no log group {}, no Glue table {}.{}, no Athena workgroup {}) → deploy it with `sam deploy --guided --region {}` (docs/deploy.md), then run doctor again; if it is deployed under other names, pass --stack-outputs",
            f.region, n.log_group, n.database, n.table, n.workgroup, f.region
        )
    })
}

/// `24h`, `90m`, `2d` (whole units) for the mantle line.
fn humantime_window(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// 1 when a check failed.
fn exit_code(checks: &[Check]) -> ExitCode {
    if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads the facts through the core's adapters, judges them and prints the checklist.
pub fn run(a: DoctorArgs) -> anyhow::Result<ExitCode> {
    let prices = crate::common::load_prices(a.prices.as_deref())?;
    let cfg = AttributionConfig {
        app_tag: a.app_tag.clone(),
        team_tag: a.team_tag.clone(),
        metadata_keys: Vec::new(),
        ..AttributionConfig::default()
    };
    crate::common::runtime()?.block_on(async {
        let config = crate::common::load_config(a.region.as_deref()).await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .context("no AWS Region: pass --region or set AWS_REGION")?;
        let sources = Sources {
            logs: LogsClient::new(&config),
            logging: BedrockLogging::from_conf(&config),
            objects: S3Store::new(&config),
            catalog: GlueCatalog::new(&config),
            workgroups: AthenaEngine::new(&config),
            profiles: BedrockProfiles::new(&config),
        };
        let facts = gather(&sources, &a, region).await?;
        let mut checks = checklist(
            &facts,
            &prices,
            &cfg,
            a.max_delivery_age,
            a.max_price_age_days,
        );
        // The blind spot: bedrock-mantle traffic over the same window (CloudWatch metrics).
        let start = facts.now.0 - a.recent.as_secs() as i64;
        let mantle_usage = CloudWatchMantle::new(&config)
            .usage(bedrock_meter_core::time::Timestamp(start), facts.now)
            .await
            .map_err(|e| e.to_string());
        checks.push(mantle::check(
            &mantle_usage,
            &prices,
            &facts.region,
            &humantime_window(a.recent),
            matches!(facts.logging, Ok(Some(_))),
        ));
        // And batch inference jobs that ended in the window, from their manifests.
        let batch_day = bedrock_meter_core::daily::batch::read_jobs(
            &BedrockBatchJobs::new(&config),
            &S3Store::new(&config),
            None,
            bedrock_meter_core::time::Timestamp(start),
            facts.now,
        )
        .await
        .map_err(|e| e.to_string());
        checks.push(batch::check(
            &batch_day,
            &prices,
            &facts.region,
            &humantime_window(a.recent),
            matches!(facts.logging, Ok(Some(_))),
        ));
        let first = headline(&facts);
        match a.format {
            Format::Table => print!("{}", render_table(&facts.region, first.as_deref(), &checks)),
            Format::Json => println!(
                "{}",
                render_json(&facts.region, first.as_deref(), &facts.names, &checks)
            ),
        }
        Ok(exit_code(&checks))
    })
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;

    use super::fixtures::{healthy, run_checks};
    use super::*;

    #[test]
    fn healthy_setup_passes_everything() {
        let checks = run_checks(&healthy());
        assert!(
            checks.iter().all(|c| c.status == Status::Pass),
            "{checks:#?}"
        );
        assert_eq!(exit_code(&checks), ExitCode::SUCCESS);
        assert!(render_table("us-east-1", None, &checks).contains("Verdict: healthy."));
    }
}

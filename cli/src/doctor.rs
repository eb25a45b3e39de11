//! `bedrock-meter doctor`: checks each link of the chain in one account and Region and prints a
//! checklist with a verdict and the fix for each failure. Exit code 1 when a check fails.
//!
//! Two halves: [`gather`] reads [`Facts`] through the core's ports (adapters in
//! `bedrock_meter_core::aws`); [`checklist`] is pure (facts in, checks out) and holds every verdict.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bedrock_meter_core::attribution::model_id::{classify, ModelRef};
use bedrock_meter_core::attribution::profiles::{Profile, ProfileDirectory, ProfileMap};
use bedrock_meter_core::attribution::resolution::{resolve, AttributionConfig};
use bedrock_meter_core::aws::athena::AthenaEngine;
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::glue::GlueCatalog;
use bedrock_meter_core::aws::logging::BedrockLogging;
use bedrock_meter_core::aws::logs::LogsClient;
use bedrock_meter_core::aws::s3::S3Store;
use bedrock_meter_core::ports::logging::{LoggingApi, LoggingConfig};
use bedrock_meter_core::ports::operator::{
    read_events, Catalog, LogGroups, ObjectEntry, ObjectLister, SubscriptionFilter, Workgroups,
};
use bedrock_meter_core::ports::profiles::ProfileSource;
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::time::now_millis;
use bedrock_meter_core::{PriceTable, Timestamp};
use serde::Serialize;

use crate::common::{parse_duration, Format};

/// The names `template.yaml` gives the resources by default.
pub const DEFAULT_LOG_GROUP: &str = "/aws/bedrock/modelinvocations";
pub const DEFAULT_PREFIX: &str = "bedrock-logs";
pub const DEFAULT_DATABASE: &str = "bedrock_meter";
pub const DEFAULT_TABLE: &str = "invocation_logs";
pub const DEFAULT_WORKGROUP: &str = "bedrock-meter";

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Region to check (default: the standard AWS configuration's).
    #[arg(long)]
    pub region: Option<String>,
    /// table (for people) or json (for automation; same checks, exit code 1 when one fails).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The stack's outputs, as `aws cloudformation describe-stacks --stack-name NAME` prints them (or
    /// just its `Outputs` array): names the log group, bucket, database, table and workgroup.
    #[arg(long)]
    pub stack_outputs: Option<PathBuf>,
    /// Invocation log group (default: stack outputs, else the logging configuration's, else
    /// /aws/bedrock/modelinvocations).
    #[arg(long)]
    pub log_group: Option<String>,
    /// Invocation log bucket (default: stack outputs, else the logging configuration's).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Key prefix of the logs in the bucket (default: the logging configuration's, else bedrock-logs).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Glue database of the invocation-log table (default: stack outputs, else bedrock_meter).
    #[arg(long)]
    pub database: Option<String>,
    /// Glue table of the invocation logs (default: stack outputs, else invocation_logs).
    #[arg(long)]
    pub table: Option<String>,
    /// Athena workgroup (the template names it after the stack; default bedrock-meter).
    #[arg(long)]
    pub workgroup: Option<String>,
    /// Our subscription filter sends to a Lambda whose name or ARN contains this.
    #[arg(long, default_value = "IngestFunction")]
    pub ingest_function: String,
    /// How far back to read the log group for callers who bypass profiles and unpriced models.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub recent: Duration,
    /// Most log events read for that.
    #[arg(long, default_value_t = 10_000)]
    pub max_events: usize,
    /// Latest S3 log object older than this is a warning.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    pub max_delivery_age: Duration,
    /// A price table older than this many days (its `as_of`) is a warning.
    #[arg(long, default_value_t = DEFAULT_MAX_PRICE_AGE_DAYS)]
    pub max_price_age_days: u32,
    /// Price table file overriding the embedded one.
    #[arg(long, env = "BEDROCK_METER_PRICES")]
    pub prices: Option<PathBuf>,
    /// Profile tag key that names the app (checked on every application profile).
    #[arg(long, default_value = "app", env = "APP_TAG_KEY")]
    pub app_tag: String,
    /// Profile tag key that names the team (checked on every application profile).
    #[arg(long, default_value = "team", env = "TEAM_TAG_KEY")]
    pub team_tag: String,
}

/// Names to check, and whether the user (flags or stack outputs) named them or they are defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Names {
    pub log_group: String,
    pub log_group_explicit: bool,
    pub bucket: Option<String>,
    pub bucket_explicit: bool,
    pub prefix: String,
    pub database: String,
    pub table: String,
    pub workgroup: String,
    pub ingest_function: String,
}

/// What the S3 listing found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The newest log object of today and yesterday (UTC).
    pub latest: Option<ObjectEntry>,
    /// Whether any log object exists under the prefix at all.
    pub any_object: bool,
}

/// Recent log records, reduced to what the checks need (never their text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    pub window: Duration,
    pub records: u64,
    pub malformed: u64,
    /// Stopped at --max-events.
    pub truncated: bool,
    /// Requests by (caller, logged modelId).
    pub calls: BTreeMap<(String, String), u64>,
}

/// A fact, or why it could not be read.
pub type Fact<T> = Result<T, String>;

#[derive(Clone, Debug)]
pub struct Facts {
    pub region: String,
    pub now: Timestamp,
    pub names: Names,
    /// The invocation-logging configuration; `None` when there is none or it delivers nowhere.
    pub logging: Fact<Option<LoggingConfig>>,
    pub log_group_exists: Fact<bool>,
    pub filters: Fact<Vec<SubscriptionFilter>>,
    pub delivery: Fact<Delivery>,
    pub table_exists: Fact<bool>,
    pub workgroup: Fact<Option<String>>,
    pub profiles: Fact<Vec<Profile>>,
    pub recent: Fact<Recent>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    pub summary: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(id: &'static str, title: &'static str, status: Status, summary: String) -> Check {
        Check {
            id,
            title,
            status,
            summary,
            details: Vec::new(),
            fix: None,
        }
    }
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
    fn details(mut self, d: Vec<String>) -> Check {
        self.details = d;
        self
    }
}

fn could_not(id: &'static str, title: &'static str, e: &str, permission: &str) -> Check {
    let fix = if e.contains("AccessDenied") || e.contains("UnauthorizedOperation") {
        format!("allow {permission} to whoever runs doctor")
    } else {
        format!(
            "retry; if it persists, check the Region and the network (doctor needs {permission})"
        )
    };
    Check::new(id, title, Status::Fail, format!("could not check: {e}")).fix(fix)
}

fn s3_url(bucket: &str, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("s3://{bucket}/{}", p.trim_end_matches('/')),
        _ => format!("s3://{bucket}"),
    }
}

fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Every verdict, from facts alone.
/// `--max-price-age-days` by default.
pub const DEFAULT_MAX_PRICE_AGE_DAYS: u32 = 120;

pub fn checklist(
    f: &Facts,
    prices: &PriceTable,
    cfg: &AttributionConfig,
    max_delivery_age: Duration,
    max_price_age_days: u32,
) -> Vec<Check> {
    let n = &f.names;
    let mut out = Vec::new();

    // 1. Invocation logging.
    const LOGGING: (&str, &str) = ("logging", "Bedrock invocation logging");
    let setup_fix = format!(
        "deploy the stack with ManageInvocationLogging=true (docs/deploy.md), or in the Bedrock console \
         (Settings > Model invocation logging) deliver to CloudWatch Logs {} and S3 {} with text on and \
         large data to S3",
        n.log_group,
        n.bucket
            .as_deref()
            .map_or_else(|| "<bucket>/<prefix>".to_string(), |b| s3_url(b, Some(&n.prefix)))
    );
    out.push(match &f.logging {
        Err(e) => could_not(LOGGING.0, LOGGING.1, e, "bedrock:GetModelInvocationLoggingConfiguration"),
        Ok(None) => Check::new(LOGGING.0, LOGGING.1, Status::Fail, format!("not configured in {}: Bedrock logs nothing, so nothing is metered", f.region))
            .fix(setup_fix),
        Ok(Some(c)) => {
            let mut problems = Vec::new();
            match c.log_group() {
                None => problems.push("no CloudWatch Logs delivery: live metrics and alerts see nothing".to_string()),
                Some(g) if n.log_group_explicit && g != n.log_group => problems.push(format!(
                    "logs go to the log group {g}, but the stack reads {}", n.log_group
                )),
                Some(_) => {}
            }
            match c.s3_delivery() {
                None => problems.push("no S3 delivery: the daily report and Athena see nothing".to_string()),
                Some(t) if n.bucket_explicit && Some(&t.bucket) != n.bucket.as_ref() => problems.push(format!(
                    "logs go to the bucket {}, but the stack reads {}", t.bucket, n.bucket.as_deref().unwrap_or("?")
                )),
                Some(_) => {}
            }
            if c.log_group().is_some() && c.large_data_delivery().is_none() {
                problems.push("no large-data delivery to S3: records whose bodies exceed 100 KB are not delivered to CloudWatch Logs".to_string());
            }
            let summary = format!(
                "CloudWatch Logs {}, S3 {}, text {}, large data {}",
                c.log_group().unwrap_or("off"),
                c.s3_delivery().map_or_else(|| "off".to_string(), |t| s3_url(&t.bucket, t.key_prefix())),
                if c.text_delivery() { "on" } else { "off" },
                c.large_data_delivery().map_or_else(|| "off".to_string(), |t| s3_url(&t.bucket, t.key_prefix())),
            );
            if problems.is_empty() {
                Check::new(LOGGING.0, LOGGING.1, Status::Pass, summary)
            } else {
                Check::new(LOGGING.0, LOGGING.1, Status::Fail, summary).details(problems).fix(setup_fix)
            }
        }
    });

    // 1b. Text delivery: optional (TextDataDelivery), but turning it off has a price.
    const TEXT: (&str, &str) = ("text-delivery", "Text data delivery");
    if let Ok(Some(c)) = &f.logging {
        out.push(if c.text_delivery() {
            Check::new(TEXT.0, TEXT.1, Status::Pass, "on: 1-hour cache writes are priced at their own rate (prompts and responses are kept in the invocation logs)".into())
        } else {
            Check::new(TEXT.0, TEXT.1, Status::Warn, "off: token counts are logged and metered, prompts and responses are not; 1-hour cache writes cannot be told from 5-minute ones and are priced as 5-minute (1.25x input instead of 2x), so spend on 1-hour prompt caching is under-reported".into())
                .fix("accept the under-reporting, or deploy with TextDataDelivery=true (prompts and responses are then kept in the invocation logs for their retention)")
        });
    }

    // 2. The log group.
    const GROUP: (&str, &str) = ("log-group", "Invocation log group");
    let group_exists = matches!(f.log_group_exists, Ok(true));
    out.push(match &f.log_group_exists {
        Err(e) => could_not(GROUP.0, GROUP.1, e, "logs:DescribeLogGroups"),
        Ok(true) => Check::new(GROUP.0, GROUP.1, Status::Pass, format!("{} exists", n.log_group)),
        Ok(false) => Check::new(GROUP.0, GROUP.1, Status::Fail, format!("{} does not exist in {}", n.log_group, f.region))
            .fix("deploy the stack (it creates the group), or pass --log-group / --stack-outputs naming the group logging writes to"),
    });

    // 3. Our subscription filter.
    const SUB: (&str, &str) = ("subscription", "Live-path subscription filter");
    let sub_fix = format!(
        "redeploy the stack (InvocationLogSubscription sends {} to the ingest Lambda); a log group takes at most 2 subscription filters",
        n.log_group
    );
    out.push(match (&f.filters, group_exists) {
        (_, false) => Check::new(SUB.0, SUB.1, Status::Skip, "no log group to check".into()),
        (Err(e), true) => could_not(SUB.0, SUB.1, e, "logs:DescribeSubscriptionFilters"),
        (Ok(filters), true) => {
            let ours = filters.iter().find(|x| {
                x.destination_arn.contains(":lambda:")
                    && x.destination_arn.contains(&n.ingest_function)
            });
            match ours {
                Some(x) if x.pattern.trim().is_empty() => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Pass,
                    format!("{} sends every record to {}", x.name, x.destination_arn),
                ),
                Some(x) => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Warn,
                    format!(
                        "{} sends to {} but only records matching {:?}",
                        x.name, x.destination_arn, x.pattern
                    ),
                )
                .fix("set the filter pattern to \"\" so every record reaches the live path"),
                None if filters.is_empty() => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Fail,
                    format!(
                        "{} has no subscription filter: no live metrics, no runaway alerts",
                        n.log_group
                    ),
                )
                .fix(sub_fix),
                None => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Fail,
                    format!(
                        "none of the {} filters on {} sends to a Lambda named like {:?}",
                        filters.len(),
                        n.log_group,
                        n.ingest_function
                    ),
                )
                .details(
                    filters
                        .iter()
                        .map(|x| format!("{} -> {}", x.name, x.destination_arn))
                        .collect(),
                )
                .fix(format!(
                    "{sub_fix}; or pass --ingest-function with the name of your ingest Lambda"
                )),
            }
        }
    });

    // Recent records (used by the S3 check to tell "no traffic" from "delivery broken").
    let recent_records = f.recent.as_ref().map_or(0, |r| r.records);

    // 4. S3 delivery.
    const S3: (&str, &str) = ("s3-delivery", "S3 log delivery");
    let where_ = n.bucket.as_deref().map(|b| s3_url(b, Some(&n.prefix)));
    out.push(match (&n.bucket, &f.delivery) {
        (None, _) => Check::new(S3.0, S3.1, Status::Fail, "no bucket: S3 delivery is not configured and no --bucket/--stack-outputs given".into())
            .fix("configure S3 delivery (see the logging check), or pass --bucket"),
        (Some(_), Err(e)) if e.contains("NoSuchBucket") => Check::new(S3.0, S3.1, Status::Fail, format!("the bucket does not exist: {e}"))
            .fix("deploy the stack or point logging and --bucket at an existing bucket in this account and Region"),
        (Some(_), Err(e)) => could_not(S3.0, S3.1, e, "s3:ListBucket on the log bucket"),
        (Some(_), Ok(d)) => match &d.latest {
            Some(o) => {
                let a = f.now.0 - o.last_modified;
                let summary = format!("latest log object {} ago: {}", age(a), o.key);
                if a as u64 <= max_delivery_age.as_secs() {
                    Check::new(S3.0, S3.1, Status::Pass, summary)
                } else {
                    Check::new(S3.0, S3.1, Status::Warn, summary)
                        .fix("no invocations since then, or delivery stopped: compare with the log group and check the bucket policy lets bedrock.amazonaws.com write")
                }
            }
            None if recent_records > 0 => Check::new(S3.0, S3.1, Status::Fail, format!(
                "no log object under {}/AWSLogs/ today or yesterday, though the log group has {recent_records} recent records",
                where_.as_deref().unwrap_or_default()))
                .fix("check the bucket policy lets bedrock.amazonaws.com s3:PutObject under the prefix (template: LogBucketPolicy) and that logging's S3 prefix matches --prefix"),
            None => Check::new(S3.0, S3.1, Status::Warn, format!(
                "no log object under {}/AWSLogs/ today or yesterday{}",
                where_.as_deref().unwrap_or_default(),
                if d.any_object { " (older ones exist)" } else { "" }))
                .fix("no recent invocations either: run `bedrock-meter smoke`, then check again"),
        },
    });

    // 5. Glue table.
    const TABLE: (&str, &str) = ("glue-table", "Glue table");
    out.push(match &f.table_exists {
        Err(e) => could_not(TABLE.0, TABLE.1, e, "glue:GetTable"),
        Ok(true) => Check::new(TABLE.0, TABLE.1, Status::Pass, format!("{}.{} exists", n.database, n.table)),
        Ok(false) => Check::new(TABLE.0, TABLE.1, Status::Fail, format!("{}.{} does not exist: the daily report has nothing to query", n.database, n.table))
            .fix("deploy the stack (InvocationLogTable), or create it with `bedrock-meter rollup-sql --create-table`, or pass --database/--table"),
    });

    // 6. Athena workgroup.
    const WG: (&str, &str) = ("workgroup", "Athena workgroup");
    out.push(match &f.workgroup {
        Err(e) => could_not(WG.0, WG.1, e, "athena:GetWorkGroup"),
        Ok(Some(s)) if s == "ENABLED" => Check::new(
            WG.0,
            WG.1,
            Status::Pass,
            format!("{} is enabled", n.workgroup),
        ),
        Ok(Some(s)) => {
            Check::new(WG.0, WG.1, Status::Fail, format!("{} is {s}", n.workgroup)).fix(format!(
                "aws athena update-work-group --work-group {} --state ENABLED",
                n.workgroup
            ))
        }
        Ok(None) => Check::new(
            WG.0,
            WG.1,
            Status::Fail,
            format!("{} does not exist", n.workgroup),
        )
        .fix("deploy the stack (the workgroup is named after it), or pass --workgroup"),
    });

    // 7. Application profiles and their tags.
    const PROF: (&str, &str) = ("profiles", "Application inference profiles");
    out.push(match &f.profiles {
        Err(e) => could_not(PROF.0, PROF.1, e, "bedrock:ListInferenceProfiles and bedrock:ListTagsForResource"),
        Ok(ps) if ps.is_empty() => Check::new(PROF.0, PROF.1, Status::Warn, "no application inference profiles: every call is unattributed".into())
            .fix("bedrock-meter profiles create --name NAME --app APP --team TEAM --from MODEL_ARN, then call Bedrock with its ARN"),
        Ok(ps) => {
            let missing: Vec<String> = ps.iter().filter_map(|p| {
                let lacks: Vec<&str> = [cfg.app_tag.as_str(), cfg.team_tag.as_str()].into_iter().filter(|k| p.tag(k).is_none()).collect();
                (!lacks.is_empty()).then(|| format!("{} ({}): no {} tag", p.name, p.arn, lacks.join(" or ")))
            }).collect();
            if missing.is_empty() {
                Check::new(PROF.0, PROF.1, Status::Pass, format!("{} profiles, each with {} and {} tags", ps.len(), cfg.app_tag, cfg.team_tag))
            } else {
                Check::new(PROF.0, PROF.1, Status::Fail, format!("{} of {} profiles lack {}/{} tags: their calls are reported as app = profile name, team untagged", missing.len(), ps.len(), cfg.app_tag, cfg.team_tag))
                    .details(missing)
                    .fix(format!("aws bedrock tag-resource --resource-arn ARN --tags key={},value=APP key={},value=TEAM", cfg.app_tag, cfg.team_tag))
            }
        }
    });

    // 8. Calls that bypass attribution.
    const BYPASS: (&str, &str) = ("bypass", "Calls not made through a profile");
    let known = match &f.profiles {
        Ok(ps) => ProfileMap::new(ps.iter().cloned()),
        Err(_) => ProfileMap::default(),
    };
    out.push(match (&f.recent, group_exists) {
        (_, false) => Check::new(BYPASS.0, BYPASS.1, Status::Skip, "no log group to read".into()),
        (Err(e), true) => could_not(BYPASS.0, BYPASS.1, e, "logs:FilterLogEvents"),
        (Ok(r), true) if r.records == 0 => Check::new(BYPASS.0, BYPASS.1, Status::Warn, format!("no invocation records in the last {}", age(r.window.as_secs() as i64)))
            .fix("no traffic, or logging does not reach this log group: run `bedrock-meter smoke`"),
        (Ok(r), true) => {
            let mut by_caller: BTreeMap<&str, (u64, Vec<&str>)> = BTreeMap::new();
            let mut gone: BTreeMap<&str, u64> = BTreeMap::new();
            let mut bypass = 0;
            for ((caller, model_id), c) in &r.calls {
                match classify(model_id) {
                    ModelRef::ApplicationProfile { arn } => {
                        if f.profiles.is_ok() && known.lookup(&arn).is_none() {
                            *gone.entry(model_id).or_default() += c;
                        }
                    }
                    _ => {
                        bypass += c;
                        let e = by_caller.entry(caller).or_default();
                        e.0 += c;
                        e.1.push(model_id);
                    }
                }
            }
            let scope = format!("{} records in the last {}{}", r.records, age(r.window.as_secs() as i64), if r.truncated { " (stopped at --max-events)" } else { "" });
            let mut details: Vec<String> = by_caller.iter().map(|(caller, (c, models))| format!("{caller}: {c} calls ({})", models.join(", "))).collect();
            details.extend(gone.iter().map(|(m, c)| format!("{m}: {c} calls through a profile that no longer exists (team unresolved)")));
            if bypass == 0 && gone.is_empty() {
                Check::new(BYPASS.0, BYPASS.1, Status::Pass, format!("every call went through an application profile ({scope})"))
            } else {
                Check::new(BYPASS.0, BYPASS.1, Status::Warn, format!("{bypass} calls by {} callers bypass application profiles: reported as unattributed ({scope})", by_caller.len()))
                    .details(details)
                    .fix("give these callers an application profile ARN as modelId; to enforce it, deny bedrock:InvokeModel on foundation-model and inference-profile ARNs in their policies")
            }
        }
    });

    // 9. The price table.
    const PRICES: (&str, &str) = ("prices", "Price table");
    let stale_days = f.now.date().days_since_epoch() - prices.as_of.days_since_epoch();
    let mut unpriced: BTreeMap<String, (u64, &'static str)> = BTreeMap::new();
    if let Ok(r) = &f.recent {
        let mut models: BTreeMap<&str, u64> = BTreeMap::new();
        for ((_, m), c) in &r.calls {
            *models.entry(m).or_default() += c;
        }
        for (m, c) in models {
            let res = resolve(m, &known, cfg);
            let reason = match &res.base_model {
                Some(b) if prices.model(b).is_some() => continue,
                Some(_) => "no price for this model",
                None if matches!(classify(m), ModelRef::ApplicationProfile { .. }) => continue, // counted above
                None => "not an on-demand model (provisioned, custom, imported, router)",
            };
            unpriced.insert(res.model.clone(), (c, reason));
        }
    }
    let summary = format!("prices as of {} ({stale_days} days old)", prices.as_of);
    let read_records = f.recent.as_ref().is_ok_and(|r| r.records > 0);
    out.push(if !unpriced.is_empty() {
        Check::new(PRICES.0, PRICES.1, Status::Warn, format!("{summary}; {} recently used models cannot be priced: reported as unpriced, not $0", unpriced.len()))
            .details(unpriced.iter().map(|(m, (c, why))| format!("{m}: {c} calls, {why}")).collect())
            .fix("add them to shared/data/prices.json (or pass --prices / BEDROCK_METER_PRICES) — see README, The price table")
    } else if stale_days > i64::from(max_price_age_days) {
        Check::new(PRICES.0, PRICES.1, Status::Warn, format!("{summary}: older than {max_price_age_days} days"))
            .fix("compare it with the AWS Price List (`bedrock-meter prices update --offer FILE`) or the Bedrock pricing page and update shared/data/prices.json (README, The price table)")
    } else if !read_records {
        // Nothing read, nothing checked: never a PASS for a check that could not be made.
        Check::new(PRICES.0, PRICES.1, Status::Skip, format!("{summary}; no recent records read, so the models in use could not be checked"))
    } else {
        Check::new(PRICES.0, PRICES.1, Status::Pass, format!("{summary}; every recently used model has a price"))
    });
    out
}

/// The one cause to fix first, when the checks point at it: the stack was never deployed in this
/// Region (its log group, Glue table and Athena workgroup are all missing).
pub fn headline(f: &Facts) -> Option<String> {
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

/// 1 when a check failed.
pub fn exit_code(checks: &[Check]) -> ExitCode {
    if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn render_table(region: &str, headline: Option<&str>, checks: &[Check]) -> String {
    use std::fmt::Write as _;
    let width = checks.iter().map(|c| c.title.len()).max().unwrap_or(0);
    let mut out = format!("bedrock-meter doctor: {region}\n\n");
    if let Some(h) = headline {
        let _ = writeln!(out, "FIRST: {h}\n");
    }
    for c in checks {
        let _ = writeln!(
            out,
            "{}  {:width$}  {}",
            c.status.label(),
            c.title,
            c.summary
        );
        for d in &c.details {
            let _ = writeln!(out, "      {:width$}  - {d}", "");
        }
        if let Some(fix) = &c.fix {
            if c.status >= Status::Warn {
                let _ = writeln!(out, "      {:width$}  fix: {fix}", "");
            }
        }
    }
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    let _ = writeln!(
        out,
        "\n{}",
        match (fails, warns) {
            (0, 0) => "Verdict: healthy.".to_string(),
            (0, w) => format!("Verdict: working, {w} warning(s)."),
            (f, w) => format!("Verdict: {f} check(s) failed, {w} warning(s)."),
        }
    );
    out
}

pub fn render_json(
    region: &str,
    headline: Option<&str>,
    names: &Names,
    checks: &[Check],
) -> String {
    serde_json::json!({
        "region": region,
        "ok": !checks.iter().any(|c| c.status == Status::Fail),
        "headline": headline,
        "names": names,
        "checks": checks,
    })
    .to_string()
}

/// Stack outputs by key, from `describe-stacks` output or a bare `Outputs` array.
pub fn read_stack_outputs(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let outputs = if v.is_array() {
        &v
    } else if let Some(o) = v.pointer("/Stacks/0/Outputs") {
        o
    } else if let Some(o) = v.get("Outputs") {
        o
    } else {
        anyhow::bail!("expected describe-stacks output or an Outputs array")
    };
    Ok(outputs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o.get("OutputKey")?.as_str()?.to_string(),
                o.get("OutputValue")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Lists the newest log object of today and yesterday under `<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/`.
pub async fn latest_delivery<S: ObjectLister>(
    s3: &S,
    bucket: &str,
    prefix: &str,
    region: &str,
    now: Timestamp,
) -> Result<Delivery, AwsError> {
    let base = if prefix.is_empty() {
        "AWSLogs/".to_string()
    } else {
        format!("{}/AWSLogs/", prefix.trim_end_matches('/'))
    };
    let is_log =
        |k: &str| !k.contains("/data/") && !k.ends_with("amazon-bedrock-logs-permission-check");
    let accounts = s3.list(bucket, &base, Some("/"), None).await?;
    let mut d = Delivery::default();
    for account in &accounts.common_prefixes {
        for day in [now.date(), now.date().pred()] {
            let p = format!(
                "{account}BedrockModelInvocationLogs/{region}/{}/",
                day.to_string().replace('-', "/")
            );
            let mut token = None;
            for _ in 0..50 {
                let page = s3.list(bucket, &p, None, token.take()).await?;
                for o in page.objects.into_iter().filter(|o| is_log(&o.key)) {
                    if d.latest
                        .as_ref()
                        .is_none_or(|l| o.last_modified > l.last_modified)
                    {
                        d.latest = Some(o);
                    }
                }
                match page.next_token {
                    Some(t) if !t.is_empty() => token = Some(t),
                    _ => break,
                }
            }
        }
    }
    d.any_object = d.latest.is_some()
        || s3
            .list(bucket, &base, None, None)
            .await?
            .objects
            .iter()
            .any(|o| is_log(&o.key));
    Ok(d)
}

/// Reads the recent records of the log group (their metadata only).
pub async fn recent_records<L: LogGroups>(
    logs: &L,
    group: &str,
    window: Duration,
    max: usize,
    now_ms: i64,
) -> Result<Recent, AwsError> {
    let (events, truncated) =
        read_events(logs, group, now_ms - window.as_millis() as i64, max).await?;
    let mut r = Recent {
        window,
        truncated,
        ..Recent::default()
    };
    for e in &events {
        match bedrock_meter_core::records::record::parse(&e.message) {
            Ok(rec) => {
                r.records += 1;
                let caller = rec.caller.as_deref().unwrap_or("unknown").to_string();
                *r.calls
                    .entry((caller, rec.model_id.to_string()))
                    .or_default() += 1;
            }
            Err(_) => r.malformed += 1,
        }
    }
    Ok(r)
}

/// The ports doctor reads through: one adapter per service (the core's `aws` in [`run`]).
pub struct Sources<L, B, S, C, W, P> {
    pub logs: L,
    pub logging: B,
    pub objects: S,
    pub catalog: C,
    pub workgroups: W,
    pub profiles: P,
}

/// Reads every fact through the ports.
pub async fn gather<L, B, S, C, W, P>(
    src: &Sources<L, B, S, C, W, P>,
    a: &DoctorArgs,
    region: String,
) -> anyhow::Result<Facts>
where
    L: LogGroups,
    B: LoggingApi,
    S: ObjectLister,
    C: Catalog,
    W: Workgroups,
    P: ProfileSource,
{
    let now_ms = now_millis();
    let now = Timestamp::from_millis(now_ms);
    let outputs = match &a.stack_outputs {
        Some(path) => read_stack_outputs(&crate::common::read_flag_file("--stack-outputs", path)?)
            .with_context(|| format!("--stack-outputs {}", path.display()))?,
        None => BTreeMap::new(),
    };
    // A configuration that names no log group and no bucket logs nothing: not configured.
    let logging = src
        .logging
        .get()
        .await
        .map(|c| c.filter(LoggingConfig::delivers));
    let configured = logging.as_ref().ok().and_then(|c| c.as_ref());
    let explicit_group = a
        .log_group
        .clone()
        .or_else(|| outputs.get("LogGroupName").cloned());
    let explicit_bucket = a
        .bucket
        .clone()
        .or_else(|| outputs.get("LogBucketName").cloned());
    let names = Names {
        log_group_explicit: explicit_group.is_some(),
        log_group: explicit_group
            .or_else(|| configured.and_then(|c| c.log_group().map(str::to_string)))
            .unwrap_or_else(|| DEFAULT_LOG_GROUP.into()),
        bucket_explicit: explicit_bucket.is_some(),
        bucket: explicit_bucket
            .or_else(|| configured.and_then(|c| c.s3_delivery().map(|t| t.bucket.clone()))),
        prefix: a
            .prefix
            .clone()
            .or_else(|| configured.and_then(|c| c.s3_delivery()?.key_prefix().map(str::to_string)))
            .unwrap_or_else(|| DEFAULT_PREFIX.into()),
        database: a
            .database
            .clone()
            .or_else(|| outputs.get("DatabaseName").cloned())
            .unwrap_or_else(|| DEFAULT_DATABASE.into()),
        table: a
            .table
            .clone()
            .or_else(|| outputs.get("TableName").cloned())
            .unwrap_or_else(|| DEFAULT_TABLE.into()),
        workgroup: a
            .workgroup
            .clone()
            .or_else(|| outputs.get("WorkGroupName").cloned())
            .unwrap_or_else(|| DEFAULT_WORKGROUP.into()),
        ingest_function: a.ingest_function.clone(),
    };
    let log_group_exists = src
        .logs
        .log_group_exists(&names.log_group)
        .await
        .map_err(|e| e.brief());
    let group_ok = matches!(log_group_exists, Ok(true));
    let filters = if group_ok {
        src.logs
            .subscription_filters(&names.log_group)
            .await
            .map_err(|e| e.brief())
    } else {
        Ok(Vec::new())
    };
    let recent = if group_ok {
        recent_records(&src.logs, &names.log_group, a.recent, a.max_events, now_ms)
            .await
            .map_err(|e| e.brief())
    } else {
        Err("no log group".into())
    };
    let delivery = match &names.bucket {
        Some(b) => latest_delivery(&src.objects, b, &names.prefix, &region, now)
            .await
            .map_err(|e| match &e.code {
                Some(code) if !e.brief().contains(code.as_str()) => {
                    format!("{code}: {}", e.brief())
                }
                _ => e.brief(),
            }),
        None => Ok(Delivery::default()),
    };
    Ok(Facts {
        table_exists: src
            .catalog
            .table_exists(&names.database, &names.table)
            .await
            .map_err(|e| e.brief()),
        workgroup: src
            .workgroups
            .workgroup_state(&names.workgroup)
            .await
            .map_err(|e| e.brief()),
        profiles: src
            .profiles
            .list_application_profiles()
            .await
            .map_err(|e| e.brief()),
        region,
        now,
        names,
        logging,
        log_group_exists,
        filters,
        delivery,
        recent,
    })
}

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
        let checks = checklist(
            &facts,
            &prices,
            &cfg,
            a.max_delivery_age,
            a.max_price_age_days,
        );
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
    use super::*;
    use bedrock_meter_core::ports::logging::{CloudWatchTarget, S3Target};

    const NOW: i64 = 1_795_000_000;
    const PROFILE: &str = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/p1";

    fn profile(id: &str, tags: &[(&str, &str)]) -> Profile {
        Profile {
            arn: format!(
                "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/{id}"
            ),
            id: id.into(),
            name: format!("{id}-name"),
            model_arns: vec![
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
            ],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn healthy() -> Facts {
        let mut calls = BTreeMap::new();
        calls.insert(
            (
                "arn:aws:sts::1:assumed-role/App/s".to_string(),
                PROFILE.to_string(),
            ),
            7,
        );
        Facts {
            region: "us-east-1".into(),
            now: Timestamp(NOW),
            names: Names {
                log_group: DEFAULT_LOG_GROUP.into(),
                bucket: Some("logs-bucket".into()),
                prefix: DEFAULT_PREFIX.into(),
                database: DEFAULT_DATABASE.into(),
                table: DEFAULT_TABLE.into(),
                workgroup: DEFAULT_WORKGROUP.into(),
                ingest_function: "IngestFunction".into(),
                ..Names::default()
            },
            logging: Ok(Some(LoggingConfig {
                cloudwatch: Some(CloudWatchTarget {
                    log_group: DEFAULT_LOG_GROUP.into(),
                    role_arn: "arn:aws:iam::1:role/bedrock-logging".into(),
                    large_data: Some(S3Target {
                        bucket: "logs-bucket".into(),
                        prefix: Some("bedrock-logs/large-data".into()),
                    }),
                }),
                s3: Some(S3Target {
                    bucket: "logs-bucket".into(),
                    prefix: Some("bedrock-logs".into()),
                }),
                text: Some(true),
                ..LoggingConfig::default()
            })),
            log_group_exists: Ok(true),
            filters: Ok(vec![SubscriptionFilter {
                name: "sub".into(),
                destination_arn: "arn:aws:lambda:us-east-1:1:function:stack-IngestFunction-AB"
                    .into(),
                pattern: String::new(),
            }]),
            delivery: Ok(Delivery {
                latest: Some(ObjectEntry {
                    key: "k.json.gz".into(),
                    last_modified: NOW - 600,
                }),
                any_object: true,
            }),
            table_exists: Ok(true),
            workgroup: Ok(Some("ENABLED".into())),
            profiles: Ok(vec![profile("p1", &[("app", "a"), ("team", "t")])]),
            recent: Ok(Recent {
                window: Duration::from_secs(86_400),
                records: 7,
                calls,
                ..Recent::default()
            }),
        }
    }

    fn run_checks(f: &Facts) -> Vec<Check> {
        let mut prices = PriceTable::embedded();
        prices.as_of = Timestamp(NOW).date();
        checklist(
            f,
            &prices,
            &AttributionConfig::default(),
            Duration::from_secs(7200),
            DEFAULT_MAX_PRICE_AGE_DAYS,
        )
    }

    fn status(checks: &[Check], id: &str) -> Status {
        checks.iter().find(|c| c.id == id).unwrap().status
    }

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

    #[test]
    fn logging_problems_each_named() {
        let mut f = healthy();
        f.logging = Ok(None);
        let c = run_checks(&f);
        assert_eq!(status(&c, "logging"), Status::Fail);
        assert_eq!(exit_code(&c), ExitCode::from(1));
        f.logging = Ok(Some(LoggingConfig {
            cloudwatch: Some(CloudWatchTarget {
                log_group: "/other".into(),
                role_arn: "arn:aws:iam::1:role/bedrock-logging".into(),
                large_data: None,
            }),
            text: Some(false),
            ..LoggingConfig::default()
        }));
        f.names.log_group_explicit = true;
        let c = run_checks(&f);
        let l = c.iter().find(|c| c.id == "logging").unwrap();
        assert_eq!(l.status, Status::Fail);
        let all = l.details.join("\n");
        for needle in ["/other", "no S3 delivery", "large-data"] {
            assert!(all.contains(needle), "{needle}: {all}");
        }
    }

    #[test]
    fn text_delivery_off_is_a_warning_that_names_its_cost() {
        let mut f = healthy();
        assert_eq!(status(&run_checks(&f), "text-delivery"), Status::Pass);
        if let Ok(Some(c)) = &mut f.logging {
            c.text = Some(false);
        }
        let c = run_checks(&f);
        assert_eq!(status(&c, "text-delivery"), Status::Warn);
        assert_eq!(
            status(&c, "logging"),
            Status::Pass,
            "metering works without text"
        );
        let t = c.iter().find(|c| c.id == "text-delivery").unwrap();
        assert!(t.summary.contains("priced as 5-minute"), "{}", t.summary);
        assert_eq!(exit_code(&c), ExitCode::SUCCESS);
    }

    #[test]
    fn subscription_missing_or_foreign() {
        let mut f = healthy();
        f.filters = Ok(vec![]);
        assert_eq!(status(&run_checks(&f), "subscription"), Status::Fail);
        f.filters = Ok(vec![SubscriptionFilter {
            name: "x".into(),
            destination_arn: "arn:aws:lambda:us-east-1:1:function:other".into(),
            pattern: String::new(),
        }]);
        let c = run_checks(&f);
        assert_eq!(status(&c, "subscription"), Status::Fail);
        f.filters = Ok(vec![SubscriptionFilter {
            name: "x".into(),
            destination_arn: "arn:aws:lambda:us-east-1:1:function:s-IngestFunction-1".into(),
            pattern: "ERROR".into(),
        }]);
        assert_eq!(status(&run_checks(&f), "subscription"), Status::Warn);
        f.log_group_exists = Ok(false);
        let c = run_checks(&f);
        assert_eq!(
            (
                status(&c, "log-group"),
                status(&c, "subscription"),
                status(&c, "bypass")
            ),
            (Status::Fail, Status::Skip, Status::Skip)
        );
    }

    #[test]
    fn untagged_profiles_are_listed_and_fail() {
        let mut f = healthy();
        f.profiles = Ok(vec![
            profile("p1", &[("app", "a"), ("team", "t")]),
            profile("p2", &[("app", "b")]),
            profile("p3", &[]),
        ]);
        let c = run_checks(&f);
        let p = c.iter().find(|c| c.id == "profiles").unwrap();
        assert_eq!(p.status, Status::Fail);
        assert_eq!(p.details.len(), 2);
        assert!(p.details[0].contains("p2-name") && p.details[0].contains("no team tag"));
        assert!(p.details[1].contains("no app or team tag"));
        f.profiles = Ok(vec![]);
        assert_eq!(status(&run_checks(&f), "profiles"), Status::Warn);
        f.profiles = Err("AccessDeniedException".into());
        assert_eq!(status(&run_checks(&f), "profiles"), Status::Fail);
    }

    #[test]
    fn bypassing_callers_and_unpriced_models_are_warnings() {
        let mut f = healthy();
        let r = f.recent.as_mut().unwrap();
        r.calls.insert(
            (
                "arn:aws:iam::1:user/alice".into(),
                "us.anthropic.claude-haiku-4-5-20251001-v1:0".into(),
            ),
            3,
        );
        r.calls.insert(
            (
                "arn:aws:iam::1:user/bob".into(),
                "acme.unknown-model-v1:0".into(),
            ),
            2,
        );
        r.calls.insert(
            (
                "arn:aws:iam::1:user/bob".into(),
                "arn:aws:bedrock:us-east-1:1:application-inference-profile/gone".into(),
            ),
            1,
        );
        r.records += 6;
        let c = run_checks(&f);
        let b = c.iter().find(|c| c.id == "bypass").unwrap();
        assert_eq!(b.status, Status::Warn);
        assert!(
            b.summary.starts_with("5 calls by 2 callers"),
            "{}",
            b.summary
        );
        assert!(b.details.iter().any(|d| d.contains("user/alice: 3 calls")));
        assert!(b
            .details
            .iter()
            .any(|d| d.contains("/gone: 1 calls through a profile that no longer exists")));
        let p = c.iter().find(|c| c.id == "prices").unwrap();
        assert_eq!(p.status, Status::Warn);
        assert_eq!(
            p.details,
            vec!["acme.unknown-model-v1:0: 2 calls, no price for this model".to_string()]
        );
        assert_eq!(exit_code(&c), ExitCode::SUCCESS, "warnings do not fail");
    }

    #[test]
    fn delivery_age_and_absence() {
        let mut f = healthy();
        f.delivery = Ok(Delivery {
            latest: Some(ObjectEntry {
                key: "k".into(),
                last_modified: NOW - 5 * 3600,
            }),
            any_object: true,
        });
        assert_eq!(status(&run_checks(&f), "s3-delivery"), Status::Warn);
        f.delivery = Ok(Delivery::default());
        assert_eq!(
            status(&run_checks(&f), "s3-delivery"),
            Status::Fail,
            "records in CloudWatch but none in S3"
        );
        f.recent = Ok(Recent::default());
        assert_eq!(
            status(&run_checks(&f), "s3-delivery"),
            Status::Warn,
            "no traffic at all"
        );
        f.delivery = Err("NoSuchBucket: the bucket does not exist".into());
        assert_eq!(status(&run_checks(&f), "s3-delivery"), Status::Fail);
        f.names.bucket = None;
        assert_eq!(status(&run_checks(&f), "s3-delivery"), Status::Fail);
    }

    #[test]
    fn catalog_and_stale_prices() {
        let mut f = healthy();
        f.table_exists = Ok(false);
        f.workgroup = Ok(Some("DISABLED".into()));
        let c = run_checks(&f);
        assert_eq!(
            (status(&c, "glue-table"), status(&c, "workgroup")),
            (Status::Fail, Status::Fail)
        );
        f.workgroup = Ok(None);
        assert_eq!(status(&run_checks(&f), "workgroup"), Status::Fail);
        let mut prices = PriceTable::embedded();
        prices.as_of = Timestamp(NOW - 200 * 86_400).date();
        let c = checklist(
            &healthy(),
            &prices,
            &AttributionConfig::default(),
            Duration::from_secs(7200),
            DEFAULT_MAX_PRICE_AGE_DAYS,
        );
        assert_eq!(status(&c, "prices"), Status::Warn);
        // N is configurable: a 45-day-old table passes at the default, warns at 30.
        prices.as_of = Timestamp(NOW - 45 * 86_400).date();
        let at = |n: u32| {
            let c = checklist(
                &healthy(),
                &prices,
                &AttributionConfig::default(),
                Duration::from_secs(7200),
                n,
            );
            c.into_iter().find(|c| c.id == "prices").unwrap()
        };
        assert_ne!(at(DEFAULT_MAX_PRICE_AGE_DAYS).status, Status::Warn);
        let warn = at(30);
        assert_eq!(warn.status, Status::Warn);
        assert!(
            warn.summary.contains("45 days old): older than 30 days"),
            "{}",
            warn.summary
        );
    }

    #[test]
    fn stack_outputs_both_shapes() {
        let bare = r#"[{"OutputKey":"LogGroupName","OutputValue":"/g"},{"OutputKey":"WorkGroupName","OutputValue":"wg"}]"#;
        let full = format!(r#"{{"Stacks":[{{"StackName":"s","Outputs":{bare}}}]}}"#);
        for t in [bare.to_string(), full] {
            let o = read_stack_outputs(&t).unwrap();
            assert_eq!(
                (o["LogGroupName"].as_str(), o["WorkGroupName"].as_str()),
                ("/g", "wg")
            );
        }
        assert!(read_stack_outputs("{}").is_err());
    }
}

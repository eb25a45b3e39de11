//! The facts doctor judges, and how they are read: [`gather`] reads them through the core's ports
//! (logging configuration, log group and filters, recent records, S3 listing, Glue, Athena, profiles),
//! naming the resources from flags, stack outputs or the logging configuration. Each fact is a
//! value or why it could not be read; nothing is judged here.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use bedrock_meter_core::attribution::profiles::Profile;
use bedrock_meter_core::ports::logging::{LoggingApi, LoggingConfig};
use bedrock_meter_core::ports::operator::{
    read_events, Catalog, LogGroups, ObjectEntry, ObjectLister, SubscriptionFilter, Workgroups,
};
use bedrock_meter_core::ports::profiles::ProfileSource;
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::time::now_millis;
use bedrock_meter_core::time::Timestamp;
use serde::Serialize;

use super::{
    DoctorArgs, DEFAULT_DATABASE, DEFAULT_LOG_GROUP, DEFAULT_PREFIX, DEFAULT_TABLE,
    DEFAULT_WORKGROUP,
};

/// Names to check, and whether the user (flags or stack outputs) named them or they are defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(super) struct Names {
    pub(super) log_group: String,
    pub(super) log_group_explicit: bool,
    pub(super) bucket: Option<String>,
    pub(super) bucket_explicit: bool,
    pub(super) prefix: String,
    pub(super) database: String,
    pub(super) table: String,
    pub(super) workgroup: String,
    pub(super) ingest_function: String,
}

/// What the S3 listing found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Delivery {
    /// The newest log object of today and yesterday (UTC).
    pub(super) latest: Option<ObjectEntry>,
    /// Whether any log object exists under the prefix at all.
    pub(super) any_object: bool,
}

/// Recent log records, reduced to what the checks need (never their text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Recent {
    pub(super) window: Duration,
    pub(super) records: u64,
    pub(super) malformed: u64,
    /// Stopped at --max-events.
    pub(super) truncated: bool,
    /// Requests by (caller, logged modelId).
    pub(super) calls: BTreeMap<(String, String), u64>,
}

/// A fact, or why it could not be read.
pub(super) type Fact<T> = Result<T, String>;

#[derive(Clone, Debug)]
pub(super) struct Facts {
    pub(super) region: String,
    pub(super) now: Timestamp,
    pub(super) names: Names,
    /// The invocation-logging configuration; `None` when there is none or it delivers nowhere.
    pub(super) logging: Fact<Option<LoggingConfig>>,
    pub(super) log_group_exists: Fact<bool>,
    pub(super) filters: Fact<Vec<SubscriptionFilter>>,
    pub(super) delivery: Fact<Delivery>,
    pub(super) table_exists: Fact<bool>,
    pub(super) workgroup: Fact<Option<String>>,
    pub(super) profiles: Fact<Vec<Profile>>,
    pub(super) recent: Fact<Recent>,
}

impl Facts {
    /// Whether the log group is known to exist (the checks that read it are skipped otherwise).
    pub(super) fn log_group_found(&self) -> bool {
        matches!(self.log_group_exists, Ok(true))
    }
}

/// Stack outputs by key, from `describe-stacks` output or a bare `Outputs` array.
pub(super) fn read_stack_outputs(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
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
pub(super) async fn latest_delivery<S: ObjectLister>(
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
pub(super) async fn recent_records<L: LogGroups>(
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

/// The ports doctor reads through: one adapter per service (the core's `aws`, in `doctor::run`).
pub(super) struct Sources<L, B, S, C, W, P> {
    pub(super) logs: L,
    pub(super) logging: B,
    pub(super) objects: S,
    pub(super) catalog: C,
    pub(super) workgroups: W,
    pub(super) profiles: P,
}

/// Reads every fact through the ports.
pub(super) async fn gather<L, B, S, C, W, P>(
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

#[cfg(test)]
mod tests {
    use super::*;

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

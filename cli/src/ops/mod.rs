//! AWS adapters only the operator commands (`doctor`, `tail`, `smoke`) need, each behind a small trait
//! so the command logic is written once against plain data: CloudWatch Logs (log group, subscription
//! filters, FilterLogEvents), Bedrock Runtime `Converse`, S3 `ListObjectsV2`, Glue `GetTable`, Athena
//! `GetWorkGroup`, and Bedrock `GetModelInvocationLoggingConfiguration`. [`sdk`] implements them with
//! the aws-sdk crates (which live in the CLI crate only, so the Lambdas never compile them).

pub mod sdk;

use std::future::Future;
use std::time::Duration;

use bedrock_meter_core::ports::AwsError;

/// The account's model-invocation logging configuration (`None` from the adapter: not configured).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoggingConfig {
    /// CloudWatch Logs delivery: the log group.
    pub log_group: Option<String>,
    /// S3 delivery: (bucket, key prefix).
    pub s3: Option<(String, Option<String>)>,
    /// Large bodies of CloudWatch-delivered records go to S3: (bucket, key prefix).
    pub large_data_s3: Option<(String, Option<String>)>,
    pub text_delivery: bool,
}

/// A subscription filter on a log group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SubscriptionFilter {
    pub name: String,
    pub destination_arn: String,
    pub pattern: String,
}

/// One log event (the message is a log record's JSON text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    pub id: String,
    pub timestamp_ms: i64,
    pub message: String,
}

/// One page of FilterLogEvents.
#[derive(Clone, Debug, Default)]
pub struct EventPage {
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

pub trait LogGroups {
    /// Whether the log group exists.
    fn log_group_exists(&self, name: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
    fn subscription_filters(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<SubscriptionFilter>, AwsError>> + Send;
    /// FilterLogEvents: events with `start_ms <= timestamp`, one page.
    fn events(
        &self,
        group: &str,
        start_ms: i64,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<EventPage, AwsError>> + Send;
}

/// Reads events from `start_ms` on, page after page, up to `max` events (`truncated` when it stopped there).
pub async fn read_events<L: LogGroups>(
    logs: &L,
    group: &str,
    start_ms: i64,
    max: usize,
) -> Result<(Vec<LogEvent>, bool), AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = logs.events(group, start_ms, token.take()).await?;
        out.extend(page.events);
        if out.len() >= max {
            out.truncate(max);
            return Ok((out, true));
        }
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok((out, false)),
        }
    }
}

pub trait InvocationLogging {
    fn logging_config(
        &self,
    ) -> impl Future<Output = Result<Option<LoggingConfig>, AwsError>> + Send;
}

/// An object listing entry: key and last-modified time (epoch seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified: i64,
}

#[derive(Clone, Debug, Default)]
pub struct ObjectPage {
    pub objects: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
    pub next_token: Option<String>,
}

pub trait ObjectStore {
    /// ListObjectsV2 (one page). A missing bucket is an error with code `NoSuchBucket`.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
    ) -> impl Future<Output = Result<ObjectPage, AwsError>> + Send;
}

pub trait Catalog {
    /// Glue GetTable: whether the table exists (a missing database counts as a missing table).
    fn table_exists(
        &self,
        database: &str,
        table: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Athena GetWorkGroup: the workgroup's state (`ENABLED`/`DISABLED`), `None` when it does not exist.
    fn workgroup_state(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
}

/// What one Converse call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConverseOutcome {
    /// The runtime request id (the log record's `requestId`).
    pub request_id: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

pub trait Runtime {
    /// One Converse call with a short user prompt and `max_tokens`.
    fn converse(
        &self,
        model_id: &str,
        prompt: &str,
        max_tokens: i32,
    ) -> impl Future<Output = Result<ConverseOutcome, AwsError>> + Send;
}

/// An AWS error in one line for people: the operation, the service's code and message, without the
/// SDK's debug dump of the raw response.
pub fn brief(e: &AwsError) -> String {
    e.brief()
}

/// `90s`, `15m`, `24h`, `2d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration like 90s, 15m, 24h or 2d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

pub use bedrock_meter_core::time::now_millis as now_ms;

/// The standard AWS configuration (environment, profile, SSO…), with an optional Region override.
pub async fn load_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_errors() {
        let e = AwsError {
            operation: "FilterLogEvents",
            code: Some("ResourceNotFoundException".into()),
            message: "service error: ResourceNotFoundException: The specified log group does not exist.: ResourceNotFoundException: The specified log group does not exist. (ServiceError(ServiceError { raw: .. }))".into(),
        };
        assert_eq!(
            brief(&e),
            "FilterLogEvents failed: ResourceNotFoundException: The specified log group does not exist."
        );
        let e = AwsError::new("Converse", "dispatch failure (DispatchFailure(x))");
        assert_eq!(brief(&e), "Converse failed: dispatch failure");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("m").is_err());
    }
}

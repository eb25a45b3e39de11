//! The operator ports: what the CLI's `doctor`, `tail` and `smoke` read and send, as plain data, so the
//! commands are written once against these traits (adapters in `aws::logs`, `aws::s3`, `aws::glue`,
//! `aws::athena`, `aws::runtime`, feature `operator`; the Lambdas never compile them).
//!
//! - [`LogGroups`] — CloudWatch Logs: a log group, its subscription filters, `FilterLogEvents` pages
//!   ([`FilteredEvent`]), and [`read_events`], the paging loop;
//! - [`ObjectLister`] — S3 `ListObjectsV2` (the writer is `objects::ObjectWriter`);
//! - [`Catalog`] — Glue `GetTable`; [`Workgroups`] — Athena `GetWorkGroup`;
//! - [`Runtime`] — Bedrock Runtime `Converse` ([`ConverseOutcome`]).

use std::future::Future;

use super::AwsError;

/// A subscription filter on a log group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SubscriptionFilter {
    pub name: String,
    pub destination_arn: String,
    pub pattern: String,
}

/// One event as `FilterLogEvents` returns it (the message is a log record's JSON text). Not the
/// subscription's `records::subscription::LogEvent`, which arrives pushed, gzipped, in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilteredEvent {
    pub id: String,
    pub timestamp_ms: i64,
    pub message: String,
}

/// One page of `FilterLogEvents`.
#[derive(Clone, Debug, Default)]
pub struct EventPage {
    pub events: Vec<FilteredEvent>,
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
) -> Result<(Vec<FilteredEvent>, bool), AwsError> {
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

/// An object listing entry: key and last-modified time (epoch seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified: i64,
}

/// One page of `ListObjectsV2`.
#[derive(Clone, Debug, Default)]
pub struct ObjectPage {
    pub objects: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
    pub next_token: Option<String>,
}

pub trait ObjectLister {
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
}

pub trait Workgroups {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages of three events each, `pages` of them.
    struct Pages {
        pages: usize,
    }

    impl LogGroups for Pages {
        async fn log_group_exists(&self, _: &str) -> Result<bool, AwsError> {
            Ok(true)
        }
        async fn subscription_filters(&self, _: &str) -> Result<Vec<SubscriptionFilter>, AwsError> {
            Ok(Vec::new())
        }
        async fn events(
            &self,
            _: &str,
            start_ms: i64,
            token: Option<String>,
        ) -> Result<EventPage, AwsError> {
            let page: usize = token.as_deref().map_or(0, |t| t.parse().unwrap());
            Ok(EventPage {
                events: (0..3)
                    .map(|i| FilteredEvent {
                        id: format!("{page}-{i}"),
                        timestamp_ms: start_ms,
                        message: String::new(),
                    })
                    .collect(),
                next_token: (page + 1 < self.pages).then(|| (page + 1).to_string()),
            })
        }
    }

    #[tokio::test]
    async fn reads_every_page_up_to_the_limit() {
        let (all, truncated) = read_events(&Pages { pages: 3 }, "g", 5, 100).await.unwrap();
        assert_eq!((all.len(), truncated), (9, false));
        assert_eq!(all[8].id, "2-2");
        let (cut, truncated) = read_events(&Pages { pages: 3 }, "g", 5, 4).await.unwrap();
        assert_eq!((cut.len(), truncated), (4, true));
        assert_eq!(cut[3].id, "1-0");
    }

    #[test]
    fn errors_of_the_operator_reads_are_one_line() {
        let e = AwsError {
            operation: "FilterLogEvents",
            code: Some("ResourceNotFoundException".into()),
            message: "service error: ResourceNotFoundException: The specified log group does not exist.: ResourceNotFoundException: The specified log group does not exist. (ServiceError(ServiceError { raw: .. }))".into(),
        };
        assert_eq!(
            e.brief(),
            "FilterLogEvents failed: ResourceNotFoundException: The specified log group does not exist."
        );
        let e = AwsError::new("Converse", "dispatch failure (DispatchFailure(x))");
        assert_eq!(e.brief(), "Converse failed: dispatch failure");
    }
}

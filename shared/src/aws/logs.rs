//! [`LogsClient`] implements the operator port [`LogGroups`] with aws-sdk-cloudwatchlogs:
//! `DescribeLogGroups`, `DescribeSubscriptionFilters`, `FilterLogEvents` (feature `operator`: the CLI's
//! `doctor`, `tail` and `smoke` read the invocation log group; the live path receives it pushed).

use crate::ports::operator::{EventPage, FilteredEvent, LogGroups, SubscriptionFilter};
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct LogsClient {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl LogsClient {
    pub fn new(config: &aws_config::SdkConfig) -> LogsClient {
        LogsClient {
            client: aws_sdk_cloudwatchlogs::Client::new(config),
        }
    }
}

impl LogGroups for LogsClient {
    async fn log_group_exists(&self, name: &str) -> Result<bool, AwsError> {
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(name)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeLogGroups", e))?;
            if out
                .log_groups()
                .iter()
                .any(|g| g.log_group_name() == Some(name))
            {
                return Ok(true);
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(false),
            }
        }
    }

    async fn subscription_filters(&self, group: &str) -> Result<Vec<SubscriptionFilter>, AwsError> {
        let out = self
            .client
            .describe_subscription_filters()
            .log_group_name(group)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeSubscriptionFilters", e))?;
        Ok(out
            .subscription_filters()
            .iter()
            .map(|f| SubscriptionFilter {
                name: f.filter_name().unwrap_or_default().to_string(),
                destination_arn: f.destination_arn().unwrap_or_default().to_string(),
                pattern: f.filter_pattern().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn events(
        &self,
        group: &str,
        start_ms: i64,
        next_token: Option<String>,
    ) -> Result<EventPage, AwsError> {
        let out = self
            .client
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("FilterLogEvents", e))?;
        Ok(EventPage {
            events: out
                .events()
                .iter()
                .map(|e| FilteredEvent {
                    id: e.event_id().unwrap_or_default().to_string(),
                    timestamp_ms: e.timestamp().unwrap_or_default(),
                    message: e.message().unwrap_or_default().to_string(),
                })
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }
}

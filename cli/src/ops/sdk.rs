//! The [`super`] traits implemented with the aws-sdk crates.

use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use bedrock_meter_core::ports::AwsError;

use super::{
    Catalog, ConverseOutcome, EventPage, InvocationLogging, LogEvent, LogGroups, LoggingConfig,
    ObjectEntry, ObjectPage, ObjectStore, Runtime, SubscriptionFilter,
};

/// Every client the operator commands use, from one SDK configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub bedrock: aws_sdk_bedrock::Client,
    pub runtime: aws_sdk_bedrockruntime::Client,
    pub s3: aws_sdk_s3::Client,
    pub glue: aws_sdk_glue::Client,
    pub athena: aws_sdk_athena::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            bedrock: aws_sdk_bedrock::Client::new(config),
            runtime: aws_sdk_bedrockruntime::Client::new(config),
            // Path-style addressing works with every endpoint (including local emulators).
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(true)
                    .build(),
            ),
            glue: aws_sdk_glue::Client::new(config),
            athena: aws_sdk_athena::Client::new(config),
        }
    }
}

impl LogGroups for Clients {
    async fn log_group_exists(&self, name: &str) -> Result<bool, AwsError> {
        let mut token = None;
        loop {
            let out = self
                .logs
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
            .logs
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
            .logs
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
                .map(|e| LogEvent {
                    id: e.event_id().unwrap_or_default().to_string(),
                    timestamp_ms: e.timestamp().unwrap_or_default(),
                    message: e.message().unwrap_or_default().to_string(),
                })
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }
}

impl InvocationLogging for Clients {
    async fn logging_config(&self) -> Result<Option<LoggingConfig>, AwsError> {
        let out = self
            .bedrock
            .get_model_invocation_logging_configuration()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetModelInvocationLoggingConfiguration", e))?;
        let Some(c) = out.logging_config() else {
            return Ok(None);
        };
        let s3 = |s: &aws_sdk_bedrock::types::S3Config| {
            (
                s.bucket_name().to_string(),
                s.key_prefix().filter(|p| !p.is_empty()).map(str::to_string),
            )
        };
        let cw = c
            .cloud_watch_config()
            .filter(|w| !w.log_group_name().is_empty());
        let config = LoggingConfig {
            log_group: cw.map(|w| w.log_group_name().to_string()),
            s3: c
                .s3_config()
                .filter(|s| !s.bucket_name().is_empty())
                .map(s3),
            large_data_s3: cw
                .and_then(|w| w.large_data_delivery_s3_config())
                .filter(|s| !s.bucket_name().is_empty())
                .map(s3),
            text_delivery: c.text_data_delivery_enabled().unwrap_or(false),
        };
        // An empty configuration (no destination at all) is "not configured".
        Ok((config.log_group.is_some() || config.s3.is_some()).then_some(config))
    }
}

impl ObjectStore for Clients {
    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<String>,
    ) -> Result<ObjectPage, AwsError> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_string))
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListObjectsV2", e))?;
        Ok(ObjectPage {
            objects: out
                .contents()
                .iter()
                .map(|o| ObjectEntry {
                    key: o.key().unwrap_or_default().to_string(),
                    last_modified: o.last_modified().map_or(0, |t| t.secs()),
                })
                .collect(),
            common_prefixes: out
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string))
                .collect(),
            next_token: out.next_continuation_token().map(str::to_string),
        })
    }
}

impl Catalog for Clients {
    async fn table_exists(&self, database: &str, table: &str) -> Result<bool, AwsError> {
        match self
            .glue
            .get_table()
            .database_name(database)
            .name(table)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = AwsError::from_sdk("GetTable", e);
                if e.code.as_deref() == Some("EntityNotFoundException") {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn workgroup_state(&self, name: &str) -> Result<Option<String>, AwsError> {
        match self.athena.get_work_group().work_group(name).send().await {
            Ok(out) => Ok(out.work_group().map(|w| {
                w.state()
                    .map_or("ENABLED", |s| s.as_str())
                    .to_ascii_uppercase()
            })),
            Err(e) => {
                let e = AwsError::from_sdk("GetWorkGroup", e);
                // Athena answers a missing workgroup with InvalidRequestException "... is not found".
                if e.code.as_deref() == Some("InvalidRequestException")
                    && e.message.to_ascii_lowercase().contains("not found")
                {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }
}

impl Runtime for Clients {
    async fn converse(
        &self,
        model_id: &str,
        prompt: &str,
        max_tokens: i32,
    ) -> Result<ConverseOutcome, AwsError> {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.to_string()))
            .build()
            .map_err(|e| AwsError::new("Converse", e.to_string()))?;
        let out = self
            .runtime
            .converse()
            .model_id(model_id)
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(max_tokens)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Converse", e))?;
        Ok(ConverseOutcome {
            request_id: out.request_id().map(str::to_string),
            input_tokens: out.usage().map_or(0, |u| u.input_tokens().max(0) as u64),
            output_tokens: out.usage().map_or(0, |u| u.output_tokens().max(0) as u64),
        })
    }
}

//! [`AthenaEngine`] implements the core's [`QueryEngine`] port with aws-sdk-athena, and (feature
//! `operator`) the operator port `Workgroups` with `GetWorkGroup`, which `doctor` checks.

use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};

use crate::ports::query::{QueryEngine, QueryState, QueryStatus, ResultPage, StartQuery};
use crate::ports::AwsError;

/// Athena through aws-sdk-athena.
#[derive(Clone, Debug)]
pub struct AthenaEngine {
    client: aws_sdk_athena::Client,
}

impl AthenaEngine {
    pub fn new(config: &aws_config::SdkConfig) -> AthenaEngine {
        AthenaEngine {
            client: aws_sdk_athena::Client::new(config),
        }
    }
}

impl QueryEngine for AthenaEngine {
    async fn start(&self, q: &StartQuery) -> Result<String, AwsError> {
        let out = self
            .client
            .start_query_execution()
            .query_string(&q.sql)
            .work_group(&q.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&q.database)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("StartQueryExecution", e))?;
        out.query_execution_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::new("StartQueryExecution", "no query execution id"))
    }

    async fn status(&self, id: &str) -> Result<QueryStatus, AwsError> {
        let out = self
            .client
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetQueryExecution", e))?;
        let qe = out
            .query_execution()
            .ok_or_else(|| AwsError::new("GetQueryExecution", "no query execution"))?;
        let status = qe.status();
        let state = match status.and_then(|s| s.state()) {
            Some(QueryExecutionState::Succeeded) => QueryState::Succeeded,
            Some(QueryExecutionState::Failed) => QueryState::Failed,
            Some(QueryExecutionState::Cancelled) => QueryState::Cancelled,
            Some(QueryExecutionState::Queued) => QueryState::Queued,
            // RUNNING, and states this SDK does not know yet: keep waiting (the deadline bounds it).
            _ => QueryState::Running,
        };
        let reason = status.and_then(|s| {
            s.state_change_reason().map(str::to_string).or_else(|| {
                s.athena_error()
                    .and_then(|e| e.error_message().map(str::to_string))
            })
        });
        Ok(QueryStatus {
            state,
            reason,
            scanned_bytes: qe.statistics().and_then(|s| s.data_scanned_in_bytes()),
        })
    }

    async fn page(&self, id: &str, next_token: Option<String>) -> Result<ResultPage, AwsError> {
        let out = self
            .client
            .get_query_results()
            .query_execution_id(id)
            .max_results(1000)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetQueryResults", e))?;
        let Some(rs) = out.result_set() else {
            return Ok(ResultPage {
                next_token: out.next_token().map(str::to_string),
                ..Default::default()
            });
        };
        Ok(ResultPage {
            columns: rs
                .result_set_metadata()
                .map(|m| {
                    m.column_info()
                        .iter()
                        .map(|c| c.name().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            rows: rs
                .rows()
                .iter()
                .map(|r| {
                    r.data()
                        .iter()
                        .map(|d| d.var_char_value().map(str::to_string))
                        .collect()
                })
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn stop(&self, id: &str) -> Result<(), AwsError> {
        self.client
            .stop_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("StopQueryExecution", e))?;
        Ok(())
    }
}

#[cfg(feature = "operator")]
impl crate::ports::operator::Workgroups for AthenaEngine {
    async fn workgroup_state(&self, name: &str) -> Result<Option<String>, AwsError> {
        match self.client.get_work_group().work_group(name).send().await {
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

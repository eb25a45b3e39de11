//! The ports: the small traits the core reaches AWS through, each with the pure logic around it, and
//! the one error type of a failed AWS call. The adapters in `aws` (feature `aws`) implement them with
//! the aws-sdk crates; tests implement them with fakes.
//!
//! - [`profiles`] — `ProfileSource` (Bedrock inference profiles and tags) and the TTL cache in front;
//! - [`metrics`] — `MetricsSink` (CloudWatch `PutMetricData`) and request splitting;
//! - [`notify`] — `Notifier` (SNS `Publish`), the `Notification` every alert and email renders to;
//! - [`objects`] — `ObjectWriter` (S3 `PutObject`), `ObjectReader` (S3 `GetObject`);
//! - [`batch`] — `BatchJobSource` (Bedrock `ListModelInvocationJobs`): batch inference jobs, which
//!   invocation logs never record, and the paging loop;
//! - [`mantle`] — `MantleSource` (the `AWS/BedrockMantle` CloudWatch metrics);
//! - [`query`] — `QueryEngine` (Athena) and the poll-and-page loop;
//! - [`queue`] — `MessageQueue` (SQS `SendMessage`): the live path's failure pointers;
//! - [`logging`] — `LoggingApi` and `RoleCheck` (Bedrock's invocation-logging configuration, IAM
//!   `GetRole`): the one `LoggingConfig` the custom resource and the CLI's `doctor` read;
//! - [`operator`] — what only the CLI's operator commands read: `LogGroups` (CloudWatch Logs),
//!   `ObjectLister` (S3 listing), `Catalog` (Glue), `Workgroups` (Athena), `Runtime` (Converse);
//! - [`encoding`] — IAM's URL-encoded policy documents: the one percent-decoder.
//!
//! Two components keep their store beside them, since nothing else uses it: the runaway detector's
//! `live::detector::StateStore` (DynamoDB) and containment's `IamPolicies` and `ContainmentLedger`
//! (IAM, DynamoDB).

pub mod batch;
pub mod encoding;
pub mod logging;
pub mod mantle;
pub mod metrics;
pub mod notify;
pub mod objects;
pub mod operator;
pub mod profiles;
pub mod query;
pub mod queue;

/// An AWS call that failed. Callers surface it as an error (so Lambda retries), never as $0. It
/// displays as one short line (see [`AwsError::brief`]); `message` keeps the SDK's full context.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.brief())]
pub struct AwsError {
    pub operation: &'static str,
    /// The service's error code, when it sent one (e.g. `ResourceNotFoundException`).
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn new(operation: &'static str, message: impl Into<String>) -> AwsError {
        AwsError {
            operation,
            code: None,
            message: message.into(),
        }
    }

    /// One line for people and logs: the operation, the service's code and message, without the
    /// SDK's debug dump of the raw response (at most about 400 characters).
    pub fn brief(&self) -> String {
        let mut m = self.message.as_str();
        for marker in [
            " (ServiceError(",
            " (DispatchFailure(",
            " (ResponseError(",
            " (TimeoutError(",
            " (ConstructionFailure(",
        ] {
            if let Some(i) = m.find(marker) {
                m = &m[..i];
            }
        }
        let m = m.strip_prefix("service error: ").unwrap_or(m);
        // The SDK repeats "Code: message" once more after the message.
        let m = match self.code.as_deref() {
            Some(code) => match m.match_indices(&format!(": {code}: ")).next() {
                Some((i, _)) if i > 0 => &m[..i],
                _ => m,
            },
            None => m,
        };
        let mut out = format!("{} failed: {m}", self.operation);
        if out.len() > 400 {
            let mut cut = 400;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "NotFoundException" | "ResourceNotFound")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_displays_as_one_short_line() {
        let e = AwsError {
            operation: "GetInferenceProfile",
            code: Some("UnknownOperationException".into()),
            message: format!(
                "service error: UnknownOperationException: not implemented: UnknownOperationException: not implemented (ServiceError(ServiceError {{ source: {}, raw: Response {{ .. }} }}))",
                "x".repeat(1500)
            ),
        };
        assert_eq!(
            e.to_string(),
            "GetInferenceProfile failed: UnknownOperationException: not implemented"
        );
        let long = AwsError::new("Converse", "y".repeat(2000));
        assert!(
            long.to_string().chars().count() <= 401,
            "at most about 400 characters"
        );
    }
}

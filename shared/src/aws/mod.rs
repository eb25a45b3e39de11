//! The imperative shell's AWS adapters. Each AWS service sits behind a small trait of the core's; the
//! real implementations here use the aws-sdk crates. Nothing in the pure core depends on this module.

pub mod athena;
pub mod bedrock;
pub mod cloudwatch;
pub mod containment_ledger;
pub mod dynamodb;
pub mod iam;
pub mod s3;
pub mod sns;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The Lambdas' logging: one JSON object per line (CloudWatch Logs adds the time), level from
/// `RUST_LOG`, `info` by default.
pub fn init_lambda_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .without_time()
        .init();
}

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

    /// From any SDK error, keeping the service's code and the full context.
    pub fn from_sdk<E, R>(
        operation: &'static str,
        e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = e
            .as_service_error()
            .and_then(|s| s.code())
            .map(str::to_string);
        let message = format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        );
        AwsError {
            operation,
            code,
            message,
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

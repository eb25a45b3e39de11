//! The imperative shell's AWS adapters. Each AWS service sits behind a small trait of the core's; the
//! real implementations here use the aws-sdk crates. Nothing in the pure core depends on this module.

pub mod athena;
pub mod bedrock;
pub mod cloudwatch;
pub mod dynamodb;
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

/// An AWS call that failed. Callers surface it as an error (so Lambda retries), never as $0.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {message}")]
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

    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "NotFoundException" | "ResourceNotFound")
        )
    }
}

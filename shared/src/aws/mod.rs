//! The adapters: every AWS service the project calls, one file a service, each implementing a port of
//! the core (`crate::ports`) with its aws-sdk crate — for the Lambdas and the CLI alike. Nothing in the
//! pure core depends on this module.

pub mod athena;
pub mod bedrock;
pub mod cloudwatch;
pub mod containment_ledger;
pub mod dynamodb;
pub mod iam;
pub mod s3;
pub mod sns;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ports::AwsError;

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

impl AwsError {
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
}

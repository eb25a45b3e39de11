//! The adapters: every AWS service the project calls, one file per adapter, each implementing a port
//! of the core (`crate::ports`, or a component's store) with its aws-sdk crate — for the Lambdas and the CLI alike. Nothing in the
//! pure core depends on this module.

// Features: `aws` compiles this module with Bedrock's control plane and IAM (`bedrock`, `iam`,
// `logging`); `services` adds the Lambdas' other services; `operator` adds the CLI's operator reads
// (`logs`, `glue`, `runtime`, S3 listing, Athena `GetWorkGroup`).

#[cfg(feature = "services")]
pub mod athena;
pub mod bedrock;
#[cfg(feature = "services")]
pub mod cloudwatch;
#[cfg(feature = "services")]
pub mod containment_ledger;
#[cfg(feature = "services")]
pub mod dynamodb;
#[cfg(feature = "operator")]
pub mod glue;
pub mod iam;
pub mod logging;
#[cfg(feature = "operator")]
pub mod logs;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "operator")]
pub mod runtime;
#[cfg(feature = "services")]
pub mod s3;
#[cfg(feature = "services")]
pub mod sns;
#[cfg(feature = "services")]
pub mod sqs;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ports::AwsError;

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

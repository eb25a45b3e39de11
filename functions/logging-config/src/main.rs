//! Lambda entry point of the `Custom::BedrockInvocationLogging` resource; the logic is in the library,
//! the Bedrock and IAM adapter in the core (`aws::logging`).

use bedrock_meter_core::aws::logging::BedrockLogging;
use bedrock_meter_core::time::deadline_instant;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use logging_config::run_until;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // One JSON object per line under the template's `LogFormat: JSON` (text locally); level from
    // AWS_LAMBDA_LOG_LEVEL, else RUST_LOG, else info.
    lambda_runtime::tracing::init_default_subscriber();
    let conf = aws_config::load_from_env().await;
    let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
    let api = BedrockLogging::from_conf(&conf);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (api, region) = (&api, region.as_str());
        async move {
            // CloudFormation has been answered (SUCCESS or FAILED) unless the PUT itself failed; only
            // then is this an error (logged; the function has no async retries, so nothing re-runs).
            let deadline = deadline_instant(
                event.context.deadline(),
                std::time::SystemTime::now(),
                std::time::Instant::now(),
            );
            run_until(api, region, event.payload, deadline)
                .await
                .map(|r| serde_json::json!({ "Status": r.status }))
        }
    }))
    .await
}

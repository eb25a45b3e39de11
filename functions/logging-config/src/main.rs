//! Lambda entry point of the `Custom::BedrockInvocationLogging` resource; the logic is in the library.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use logging_config::{run_until, BedrockLogging};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .init();
    let conf = aws_config::load_from_env().await;
    let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
    let api = BedrockLogging::from_conf(&conf);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (api, region) = (&api, region.as_str());
        async move {
            // CloudFormation has been answered (SUCCESS or FAILED) unless the PUT itself failed; only
            // then is this an error (logged; the function has no async retries, so nothing re-runs).
            // No deadline when it is not in the future: a local emulator (cargo lambda watch) sends
            // the timeout itself, not an epoch time (as the core's `time::deadline_instant`).
            let deadline = match event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
            {
                Ok(left) if !left.is_zero() => Some(std::time::Instant::now() + left),
                _ => None,
            };
            run_until(api, region, event.payload, deadline)
                .await
                .map(|r| serde_json::json!({ "Status": r.status }))
        }
    }))
    .await
}

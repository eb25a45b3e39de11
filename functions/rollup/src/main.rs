//! Lambda entry point of the daily rollup; the logic is in the library.

use bedrock_meter::aws::athena::AthenaEngine;
use bedrock_meter::aws::bedrock::BedrockProfiles;
use bedrock_meter::aws::s3::S3Store;
use bedrock_meter::aws::sns::SnsNotifier;
use bedrock_meter::{PriceTable, Timestamp};
use bedrock_meter_rollup::{handle_until, Config, Deps};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bedrock_meter::aws::init_lambda_logging();
    let cfg = Config::from_env()?;
    let conf = aws_config::load_from_env().await;
    let deps = Deps {
        engine: AthenaEngine::new(&conf),
        profiles: BedrockProfiles::new(&conf),
        notifier: SnsNotifier::new(&conf),
        store: S3Store::new(&conf),
        prices: PriceTable::embedded(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (deps, cfg) = (&deps, &cfg);
        async move {
            // The invocation's deadline, as an Instant (the context gives wall-clock time).
            let left = event
                .context
                .deadline()
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            let deadline = std::time::Instant::now() + left;
            let outcome =
                handle_until(deps, cfg, &event.payload, Timestamp::now(), Some(deadline)).await?;
            Ok::<Value, Error>(serde_json::to_value(outcome)?)
        }
    }))
    .await
}

//! Lambda entry point of the daily rollup; the logic is in the library.

use bedrock_meter_core::aws::athena::AthenaEngine;
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::s3::S3Store;
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_rollup::{handle_until, Config, Deps};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // One JSON object per line under the template's `LogFormat: JSON` (text locally); level from
    // AWS_LAMBDA_LOG_LEVEL, else RUST_LOG, else info.
    lambda_runtime::tracing::init_default_subscriber();
    let cfg = Config::from_env()?;
    let conf = aws_config::load_from_env().await;
    let deps = Deps {
        engine: AthenaEngine::new(&conf),
        profiles: BedrockProfiles::new(&conf),
        notifier: SnsNotifier::new(&conf).with_chat_format(cfg.chat_format),
        store: S3Store::new(&conf),
        prices: PriceTable::embedded(),
        mantle: Some(bedrock_meter_core::aws::cloudwatch::CloudWatchMantle::new(
            &conf,
        )),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (deps, cfg) = (&deps, &cfg);
        async move {
            // None under an emulator that sends no real deadline (`time::deadline_instant`).
            let deadline = bedrock_meter_core::time::deadline_instant(
                event.context.deadline(),
                std::time::SystemTime::now(),
                std::time::Instant::now(),
            );
            let outcome =
                handle_until(deps, cfg, &event.payload, Timestamp::now(), deadline).await?;
            Ok::<Value, Error>(serde_json::to_value(outcome)?)
        }
    }))
    .await
}

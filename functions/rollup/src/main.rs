//! Lambda entry point of the daily rollup; the logic is in the library. `ROLLUP_MODE=organization`
//! (the home stack, org/home.yaml) runs the organisation rollup over the fan-in table instead.
// The two modes' futures nest deeper than the default layout query limit allows.
#![recursion_limit = "256"]

use bedrock_meter_core::aws::athena::AthenaEngine;
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::s3::S3Store;
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_rollup::org::{handle_org, OrgConfig, OrgDeps, MODE_ENV, MODE_ORGANIZATION};
use bedrock_meter_rollup::{handle_until, Config, Deps};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // One JSON object per line under the template's `LogFormat: JSON` (text locally); level from
    // AWS_LAMBDA_LOG_LEVEL, else RUST_LOG, else info.
    lambda_runtime::tracing::init_default_subscriber();
    let conf = aws_config::load_from_env().await;
    if std::env::var(MODE_ENV).ok().as_deref() == Some(MODE_ORGANIZATION) {
        return organization(&conf).await;
    }
    let cfg = Config::from_env()?;
    let deps = Deps {
        engine: AthenaEngine::new(&conf),
        profiles: BedrockProfiles::new(&conf),
        notifier: SnsNotifier::new(&conf).with_chat_format(cfg.chat_format),
        store: S3Store::new(&conf),
        // The organisation's bucket may be in another Region (FAN_IN_REGION): a client of its Region.
        fan_in_store: cfg
            .fan_in
            .as_ref()
            .map(|f| S3Store::in_region(&conf, &f.bucket_region)),
        prices: PriceTable::embedded(),
        mantle: Some(bedrock_meter_core::aws::cloudwatch::CloudWatchMantle::new(
            &conf,
        )),
        // Batch inference (optional): on when BATCH_OUTPUT_BUCKETS names the buckets it may read.
        batch: bedrock_meter_core::daily::batch::buckets_from(
            std::env::var(bedrock_meter_core::daily::batch::BUCKETS_ENV)
                .ok()
                .as_deref(),
        )
        .map(|buckets| bedrock_meter_rollup::Batch {
            jobs: bedrock_meter_core::aws::bedrock::BedrockBatchJobs::new(&conf),
            objects: S3Store::new(&conf),
            buckets,
        }),
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

/// The home stack's organisation rollup.
async fn organization(conf: &aws_config::SdkConfig) -> Result<(), Error> {
    let cfg = OrgConfig::from_lookup(|k| std::env::var(k).ok())?;
    let deps = OrgDeps {
        engine: AthenaEngine::new(conf),
        notifier: SnsNotifier::new(conf),
        store: S3Store::new(conf),
        prices: PriceTable::embedded(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (deps, cfg) = (&deps, &cfg);
        async move {
            let outcome = handle_org(deps, cfg, &event.payload, Timestamp::now()).await?;
            Ok::<Value, Error>(serde_json::to_value(outcome)?)
        }
    }))
    .await
}

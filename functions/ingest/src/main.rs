//! Lambda entry point of the live path; the logic is in the library (`src/lib.rs`).

use bedrock_meter::aws::bedrock::BedrockProfiles;
use bedrock_meter::aws::cloudwatch::CloudWatchMetrics;
use bedrock_meter::aws::sns::SnsNotifier;
use bedrock_meter::detector::MemoryStore;
use ingest::{now, Config, Ingest, SubscriptionEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .without_time()
        .init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    // INTEGRATION POINT (detector store): replaced by the DynamoDB store once it exists.
    let store = MemoryStore::new();
    let ingest = Ingest::new(
        config,
        BedrockProfiles::new(&sdk),
        CloudWatchMetrics::new(&sdk),
        SnsNotifier::new(&sdk),
        store,
    );
    let ingest = &ingest;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<SubscriptionEvent>| async move {
            ingest
                .handle(&event.payload, now())
                .await
                .map_err(Error::from)
        },
    ))
    .await
}

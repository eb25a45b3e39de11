//! Lambda entry point of the live path; the logic is in the library (`src/lib.rs`).
// The handler's future (handle, then record a failure pointer) nests deeper than the default layout
// query limit allows.
#![recursion_limit = "256"]

use bedrock_meter_core::aws::bedrock::Profiles;
use bedrock_meter_core::aws::cloudwatch::CloudWatchMetrics;
use bedrock_meter_core::aws::containment_ledger::DynamoLedger;
use bedrock_meter_core::aws::dynamodb::DynamoStore;
use bedrock_meter_core::aws::iam::IamClient;
use bedrock_meter_core::aws::otlp::{OtlpConfig, OtlpMetrics};
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::aws::sqs::SqsQueue;
use bedrock_meter_core::live::detector::{MemoryStore, StateStore};
use bedrock_meter_core::time::Timestamp;
use ingest::contain::AnyLedger;
use ingest::failure::handle_recording_failures;
use ingest::{Config, Ingest, SubscriptionEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // One JSON object per line under the template's `LogFormat: JSON` (text locally); level from
    // AWS_LAMBDA_LOG_LEVEL, else RUST_LOG, else info.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    // PROFILES_FILE (local runs): profiles from a file read now, instead of the Bedrock API.
    let profiles = Profiles::new(&sdk, config.profiles_file.as_deref())?;
    if let Profiles::File(m) = &profiles {
        tracing::info!(
            profiles = m.len(),
            "PROFILES_FILE set: profiles read from the file, not looked up"
        );
    }
    match config.state_table.clone() {
        Some(table) => serve(config, &sdk, profiles, DynamoStore::new(&sdk, table)).await,
        None => {
            // Only for local runs (`cargo lambda watch`): windows then live in this one instance.
            tracing::warn!(
                "STATE_TABLE not set: runaway windows kept in memory, per instance only"
            );
            serve(config, &sdk, profiles, MemoryStore::new()).await
        }
    }
}

async fn serve<S: StateStore>(
    config: Config,
    sdk: &aws_config::SdkConfig,
    profiles: Profiles,
    store: S,
) -> Result<(), Error> {
    // Failed batches are recorded as pointers (never their records) in FAILURE_QUEUE_URL.
    let recorder = config
        .failure_queue_url
        .as_deref()
        .map(|url| SqsQueue::new(sdk, url));
    if recorder.is_none() {
        tracing::warn!("FAILURE_QUEUE_URL not set: failed batches are only logged");
    }
    // Containment: IAM for the denies; the state table remembers what each incident put.
    let ledger = match &config.state_table {
        Some(t) => AnyLedger::Dynamo(DynamoLedger::new(sdk, t.clone())),
        None => AnyLedger::Memory(Default::default()),
    };
    if config.containment.is_enabled() {
        tracing::info!(allow = ?config.containment.allow, dry_run = config.containment.dry_run, "runaway containment on for tagged apps");
    }
    let notifier = SnsNotifier::new(sdk).with_chat_format(config.chat_format);
    let ingest = Ingest::new(
        config,
        profiles,
        CloudWatchMetrics::new(sdk),
        notifier,
        store,
    )
    .with_containment(IamClient::new(sdk), ledger);
    // OTLP export of the GenAI metrics when OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT is set (docs/otel.md).
    let ingest = match OtlpConfig::from_lookup(|k| std::env::var(k).ok())? {
        Some(c) => {
            tracing::info!(endpoint = %c.endpoint, "OTLP metrics export on");
            ingest.with_otel(std::sync::Arc::new(OtlpMetrics::new(&c)?))
        }
        None => ingest,
    };
    let (ingest, recorder) = (&ingest, &recorder);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<SubscriptionEvent>| async move {
            // None under an emulator that sends no real deadline (`time::deadline_instant`).
            let deadline = bedrock_meter_core::time::deadline_instant(
                event.context.deadline(),
                std::time::SystemTime::now(),
                std::time::Instant::now(),
            );
            handle_recording_failures(ingest, recorder, &event.payload, Timestamp::now(), deadline)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}

//! moto behind the strict proxy (with its batch-jobs double), set up for one daily rollup with batch
//! inference on — for running the rollup under a Lambda emulator (`cargo lambda watch`), where the test
//! harness is not there to start them. Loopback only; everything stops when stdin closes.
//!
//!   cargo run -p bedrock-meter-integration-tests --example rollup_batch_moto -- 2026-12-06
//!
//! It creates the Athena workgroup, the reports and alerts topics, the reports bucket and the batch
//! output buckets; seeds Athena with two empty results (the day and the day before: no invocation
//! records); seeds batch jobs of the day in the double and their manifests in S3 (one job in a bucket
//! the rollup may not read, one in another account's bucket, one that failed), then prints the
//! environment the rollup needs (`KEY=VALUE` lines) and the expected per-model sums, and waits.

use std::io::{Read, Write};

use bedrock_meter_core::daily::athena_sql::result_columns;
use bedrock_meter_core::time::Date;
use bedrock_meter_integration_tests::batch_jobs::job_summary;
use bedrock_meter_integration_tests::Moto;
use serde_json::{json, Value};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA: &str = "amazon.nova-lite-v1:0";

fn empty_result() -> Value {
    let cols = result_columns(0);
    json!({
        "rows": [{"Data": cols.iter().map(|c| json!({"VarCharValue": c})).collect::<Vec<_>>()}],
        "column_info": cols.iter().map(|c| json!({
            "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
            "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true
        })).collect::<Vec<_>>()
    })
}

fn s3(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(true)
            .build(),
    )
}

#[tokio::main]
async fn main() {
    let day = std::env::args()
        .nth(1)
        .and_then(|d| Date::parse(&d))
        .expect("usage: rollup_batch_moto YYYY-MM-DD");
    let moto = Moto::start();
    let conf = moto.sdk_config().await;
    aws_sdk_athena::Client::new(&conf)
        .create_work_group()
        .name("bedrock-meter")
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&conf);
    let mut topics = Vec::new();
    for name in ["bedrock-meter-reports", "bedrock-meter-alerts"] {
        let t = sns.create_topic().name(name).send().await.unwrap();
        topics.push(t.topic_arn().unwrap().to_string());
    }
    let own = s3(&conf);
    for b in [
        "bedrock-meter-reports",
        "batch-out",
        "batch-out-2",
        "not-granted",
    ] {
        own.create_bucket().bucket(b).send().await.unwrap();
    }
    let partner = s3(&moto.sdk_config_as("222222222222", "us-east-1").await);
    partner
        .create_bucket()
        .bucket("partner-batch-out")
        .send()
        .await
        .unwrap();
    moto.post_json(
        "/moto-api/static/athena/query-results",
        &json!({"results": [empty_result(), empty_result()]}),
    );

    // (id, model, status, seconds into the day it ended, output URI, manifest counts)
    let start = day.start().0;
    type Seed = (
        &'static str,
        &'static str,
        &'static str,
        i64,
        &'static str,
        Option<(u64, u64, u64)>,
    );
    let seeds: [Seed; 8] = [
        (
            "haiku0000001",
            HAIKU,
            "Completed",
            3_600,
            "s3://batch-out/nightly/",
            Some((1_000, 2_000_000, 400_000)),
        ),
        (
            "haiku0000002",
            HAIKU,
            "PartiallyCompleted",
            7_200,
            "s3://batch-out/nightly/",
            Some((480, 950_000, 120_000)),
        ),
        (
            "nova00000001",
            NOVA,
            "Completed",
            30_000,
            "s3://batch-out-2/",
            Some((20_000, 9_000_000, 3_000_000)),
        ),
        (
            "denied000001",
            HAIKU,
            "Completed",
            40_000,
            "s3://partner-batch-out/x/",
            Some((5, 5, 5)),
        ),
        (
            "notgranted01",
            NOVA,
            "Completed",
            41_000,
            "s3://not-granted/",
            Some((5, 5, 5)),
        ),
        (
            "failed000001",
            HAIKU,
            "Failed",
            42_000,
            "s3://batch-out/nightly/",
            None,
        ),
        // The day before and the day after: not this day's.
        (
            "before000001",
            HAIKU,
            "Completed",
            -100,
            "s3://batch-out/nightly/",
            Some((9, 9, 9)),
        ),
        (
            "after0000001",
            HAIKU,
            "Completed",
            86_400 + 100,
            "s3://batch-out/nightly/",
            Some((9, 9, 9)),
        ),
    ];
    for (id, model, status, end, out, counts) in seeds {
        moto.batch_jobs().add(job_summary(
            id,
            &format!("nightly-{id}"),
            model,
            status,
            start + end - 4 * 3_600,
            Some(start + end),
            out,
        ));
        if let Some((records, input, output)) = counts {
            let rest = out.strip_prefix("s3://").unwrap();
            let (bucket, prefix) = rest.split_once('/').unwrap();
            let key = format!("{prefix}{id}/manifest.json.out");
            let body = format!(
                r#"{{"totalRecordCount":{records},"processedRecordCount":{records},"successRecordCount":{records},"errorRecordCount":0,"inputTokenCount":{input},"outputTokenCount":{output}}}"#
            );
            let client = if bucket == "partner-batch-out" {
                &partner
            } else {
                &own
            };
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body.into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    }
    let mut out = std::io::stdout();
    writeln!(out, "AWS_ENDPOINT_URL={}", moto.endpoint()).unwrap();
    writeln!(out, "MOTO_UPSTREAM_PORT={}", moto.upstream_port).unwrap();
    writeln!(out, "ATHENA_WORKGROUP=bedrock-meter").unwrap();
    writeln!(out, "ATHENA_DATABASE=bedrock_meter").unwrap();
    writeln!(out, "ATHENA_TABLE=invocation_logs").unwrap();
    writeln!(out, "REPORT_TOPIC_ARN={}", topics[0]).unwrap();
    writeln!(out, "ALERT_TOPIC_ARN={}", topics[1]).unwrap();
    writeln!(out, "REPORTS_BUCKET=bedrock-meter-reports").unwrap();
    writeln!(
        out,
        "BATCH_OUTPUT_BUCKETS=batch-out,batch-out-2,partner-batch-out"
    )
    .unwrap();
    writeln!(out, "# expected: {HAIKU}: 3 jobs (1 not read), 1,480 records, 2,950,000 input + 520,000 output tokens, no batch rate").unwrap();
    writeln!(out, "# expected: {NOVA}: 2 jobs (1 not read), 20,000 records, 9,000,000 input + 3,000,000 output tokens, no batch rate").unwrap();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    let sent = moto.sns_sent("bedrock-meter-reports");
    eprintln!(
        "{} report messages published; rejections: {:?}",
        sent.len(),
        moto.rejections()
    );
}

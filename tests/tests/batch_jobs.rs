//! Batch inference counted from the jobs' manifests, through the real adapters: the job listing
//! (`BedrockBatchJobs`, `ListModelInvocationJobs`) from the strict double the proxy serves (moto lacks
//! the operation), the manifests as real S3 objects in moto read with `S3Store` (`GetObject`) through
//! the strict proxy — one of them in another account's bucket, which S3 refuses (AccessDenied).

use bedrock_meter_core::aws::bedrock::BedrockBatchJobs;
use bedrock_meter_core::aws::s3::S3Store;
use bedrock_meter_core::daily::batch::{describe, lines, problems, read_jobs};
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::batch_jobs::job_summary;
use bedrock_meter_integration_tests::Moto;

const DAY: i64 = 1_764_028_800; // 2025-11-25T00:00:00Z
const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn s3(conf: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(true)
            .build(),
    )
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: String) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into_bytes().into())
        .send()
        .await
        .unwrap();
}

fn manifest(records: u64, input: u64, output: u64) -> String {
    format!(
        r#"{{"totalRecordCount":{records},"processedRecordCount":{records},"successRecordCount":{records},"errorRecordCount":0,"inputTokenCount":{input},"outputTokenCount":{output}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_days_jobs_are_listed_page_by_page_and_counted_from_their_manifests() {
    let moto = Moto::start();
    let conf = moto.sdk_config().await;
    let own = s3(&conf);
    own.create_bucket()
        .bucket("batch-out")
        .send()
        .await
        .unwrap();
    // Another account's bucket: its manifest exists, but this account may not read it.
    let other = s3(&moto.sdk_config_as("222222222222", "us-east-1").await);
    other
        .create_bucket()
        .bucket("partner-batch-out")
        .send()
        .await
        .unwrap();
    put(
        &other,
        "partner-batch-out",
        "runs/ppppppppppp1/manifest.json.out",
        manifest(5, 5, 5),
    )
    .await;

    // 300 jobs that ended the day before (pages of at most 100: the listing must follow the tokens),
    // then the day's: three counted, one in the partner's bucket, one whose manifest is missing, one
    // failed; one that ends the next day.
    let jobs = moto.batch_jobs();
    jobs.set_page_cap(100);
    for i in 0..300 {
        let id = format!("old{i:09}");
        jobs.add(job_summary(
            &id,
            &format!("old-{i}"),
            HAIKU,
            "Completed",
            DAY - 50_000 + i,
            Some(DAY - 1_000 + i),
            "s3://batch-out/results/",
        ));
    }
    let day_jobs = [
        (
            "aaaaaaaaaaa1",
            HAIKU,
            "Completed",
            3_600,
            "s3://batch-out/results/",
        ),
        (
            "aaaaaaaaaaa2",
            HAIKU,
            "PartiallyCompleted",
            7_200,
            "s3://batch-out/results",
        ),
        (
            "aaaaaaaaaaa3",
            "amazon.nova-lite-v1:0",
            "Completed",
            9_000,
            "s3://batch-out/",
        ),
        (
            "ppppppppppp1",
            HAIKU,
            "Completed",
            10_000,
            "s3://partner-batch-out/runs/",
        ),
        (
            "mmmmmmmmmmm1",
            HAIKU,
            "Completed",
            11_000,
            "s3://batch-out/results/",
        ),
        (
            "fffffffffff1",
            HAIKU,
            "Failed",
            12_000,
            "s3://batch-out/results/",
        ),
        (
            "nnnnnnnnnnn1",
            HAIKU,
            "Completed",
            90_000,
            "s3://batch-out/results/",
        ),
    ];
    for (id, model, status, end, out) in day_jobs {
        jobs.add(job_summary(
            id,
            &format!("job-{id}"),
            model,
            status,
            DAY + end - 5 * 3_600,
            Some(DAY + end),
            out,
        ));
    }
    for (key, m) in [
        (
            "results/aaaaaaaaaaa1/manifest.json.out",
            manifest(1_000, 2_000_000, 400_000),
        ),
        (
            "results/aaaaaaaaaaa2/manifest.json.out",
            manifest(500, 1_000_000, 100_000),
        ),
        (
            "aaaaaaaaaaa3/manifest.json.out",
            manifest(10, 1_000_000, 1_000_000),
        ),
        ("results/nnnnnnnnnnn1/manifest.json.out", manifest(9, 9, 9)),
    ] {
        put(&own, "batch-out", key, m).await;
    }

    let buckets = vec!["batch-out".to_string(), "partner-batch-out".to_string()];
    let day = read_jobs(
        &BedrockBatchJobs::new(&conf),
        &S3Store::new(&conf),
        Some(buckets.as_slice()),
        Timestamp(DAY),
        Timestamp(DAY + 86_400),
    )
    .await
    .expect("list the day's batch jobs");

    // Every page was read, each asking for the most the API allows and the submit-time window.
    let queries = jobs.queries();
    assert_eq!(queries.len(), 4, "{queries:?}");
    assert!(queries.iter().all(|q| q.contains("maxResults=1000")));
    assert!(
        queries[0].contains("submitTimeAfter=2025-11-17T00%3A00%3A00Z"),
        "{}",
        queries[0]
    );
    assert!(queries[0].contains("submitTimeBefore=2025-11-26T00%3A00%3A00Z"));
    assert!(queries[1].contains("nextToken="));

    assert_eq!(day.jobs.len(), 5);
    assert_eq!(
        day.other,
        vec![("job-fffffffffff1".to_string(), "Failed".to_string())]
    );
    let l = lines(&day, &PriceTable::embedded(), Some("us-east-1"));
    let haiku = l.iter().find(|x| x.model == HAIKU).unwrap();
    assert_eq!(
        describe(haiku),
        "batch inference: 4 jobs (2 not read: not counted), 1,500 records, 3,000,000 input + 500,000 output tokens, no price (no batch rate)"
    );
    let p = problems(&day);
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(
        p[0].starts_with("job job-ppppppppppp1: manifest s3://partner-batch-out/runs/ppppppppppp1/manifest.json.out not read: GetObject failed")
            && p[0].contains("AccessDenied"),
        "{}",
        p[0]
    );
    assert!(
        p[1].contains("mmmmmmmmmmm1/manifest.json.out not read: GetObject failed")
            && p[1].contains("NoSuchKey"),
        "{}",
        p[1]
    );
    // The proxy refused the cross-account read, as S3 does; nothing else.
    let r = moto.rejections();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].code, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_beyond_the_documented_limits_is_refused_as_the_service_does() {
    let moto = Moto::start();
    let conf = moto.sdk_config().await;
    let client = aws_sdk_bedrock::Client::new(&conf);
    let e = client
        .list_model_invocation_jobs()
        .max_results(1001)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e),
        Some("ValidationException")
    );
    let e = client
        .list_model_invocation_jobs()
        .next_token("forged")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_validation_exception());
    assert_eq!(moto.rejections().len(), 2);
}

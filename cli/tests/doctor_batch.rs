//! `bedrock-meter doctor` shows the batch inference jobs invocation logs cannot see: jobs that ended
//! in the `--recent` window, served by the strict proxy's batch-jobs double (moto has no
//! `ListModelInvocationJobs`), counted from their `manifest.json.out` in moto's S3 — a warning with
//! "batch inference: N jobs, R records, …" per model, the unreadable manifest named; none is a pass or
//! a skip.

use std::process::Command;

use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::batch_jobs::job_summary;
use bedrock_meter_integration_tests::logs_stub as seed;
use bedrock_meter_integration_tests::{offline_aws_env, Moto};

fn doctor_json(moto: &Moto) -> serde_json::Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"));
    let out = offline_aws_env(&mut c, &moto.endpoint())
        .args(["doctor", "--format", "json"])
        .output()
        .expect("run bedrock-meter");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn batch(v: &serde_json::Value) -> &serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "batch")
        .unwrap_or_else(|| panic!("no batch check in {v}"))
}

#[test]
fn batch_jobs_of_the_window_are_a_warning_counted_from_their_manifests() {
    let moto = Moto::start();
    // No jobs, no invocation logging: nothing to check.
    assert_eq!(batch(&doctor_json(&moto))["status"], "skip");

    let now = Timestamp::now().0;
    seed::create_bucket(moto.port, "batch-out");
    seed::put_object(
        moto.port,
        "batch-out",
        "nightly/aaaaaaaaaaa1/manifest.json.out",
        br#"{"totalRecordCount":1000,"processedRecordCount":1000,"successRecordCount":998,"errorRecordCount":2,"inputTokenCount":2000000,"outputTokenCount":400000}"#,
    );
    let jobs = moto.batch_jobs();
    for (id, end, out) in [
        ("aaaaaaaaaaa1", now - 600, "s3://batch-out/nightly/"),
        // Its manifest is missing: named, not counted.
        ("aaaaaaaaaaa2", now - 300, "s3://batch-out/nightly/"),
        // Ended before the 24-hour window.
        ("aaaaaaaaaaa3", now - 30 * 3_600, "s3://batch-out/nightly/"),
    ] {
        jobs.add(job_summary(
            id,
            &format!("nightly-{id}"),
            "amazon.nova-lite-v1:0",
            "Completed",
            end - 3_600,
            Some(end),
            out,
        ));
    }
    let v = doctor_json(&moto);
    let b = batch(&v);
    assert_eq!(b["status"], "warn", "{b}");
    assert!(
        b["summary"].as_str().unwrap().starts_with(
            "2 batch inference jobs ended in the last 1d (1 model; unpriced: no batch rate)"
        ),
        "{b}"
    );
    let details: Vec<&str> = b["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        details[0],
        "amazon.nova-lite-v1:0: batch inference: 2 jobs (1 not read: not counted), 1,000 records, 2,000,000 input + 400,000 output tokens, no price (no batch rate)"
    );
    assert!(
        details[1].starts_with("not counted: job nightly-aaaaaaaaaaa2: manifest s3://batch-out/nightly/aaaaaaaaaaa2/manifest.json.out not read"),
        "{details:?}"
    );
    assert!(b["fix"].as_str().unwrap().contains("BatchOutputBuckets"));
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

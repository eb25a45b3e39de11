//! `bedrock-meter doctor` end to end: the real binary, its real aws-sdk clients pointed at a moto server
//! (logging configuration, CloudWatch Logs, S3, Glue, Athena) and at the local Bedrock stub (profiles and
//! tags, which moto lacks) through one front that splits the Bedrock control plane between them.
//! A healthy setup and a broken one (logging missing, subscription missing, an untagged profile, a caller
//! bypassing profiles); verdicts and exit codes asserted.

use std::process::{Command, Output};

use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::bedrock_stub::{BedrockStub, StubProfile};
use bedrock_meter_integration_tests::logs_stub as seed;
use bedrock_meter_integration_tests::runtime_stub::SplitFront;
use bedrock_meter_integration_tests::{offline_aws_env, Moto};

const GROUP: &str = "/aws/bedrock/modelinvocations";
const BUCKET: &str = "meter-logs-111122223333";
const ACCOUNT: &str = "111122223333";

use bedrock_meter_core::time::now_millis as now_ms;

fn record(request_id: &str, caller: &str, model_id: &str, ts_ms: i64) -> String {
    let t = Timestamp::from_millis(ts_ms);
    let s = t.0.rem_euclid(86_400);
    serde_json::json!({
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
        "timestamp": format!("{}T{:02}:{:02}:{:02}Z", t.date(), s / 3600, s % 3600 / 60, s % 60),
        "accountId": ACCOUNT, "region": "us-east-1", "requestId": request_id,
        "operation": "Converse", "modelId": model_id,
        "identity": {"arn": caller},
        "input": {"inputTokenCount": 100, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0},
        "output": {"outputTokenCount": 20}
    })
    .to_string()
}

fn profile(id: &str, tags: &[(&str, &str)]) -> StubProfile {
    StubProfile::new(id, &format!("{id}-name"), "amazon.nova-lite-v1:0", tags)
}

struct Env {
    moto: Moto,
    stub: BedrockStub,
    front: SplitFront,
}

impl Env {
    fn start() -> Env {
        let moto = Moto::start();
        let stub = BedrockStub::start();
        let front = SplitFront::start("/logging/", moto.port, stub.port);
        Env { moto, stub, front }
    }

    fn doctor(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"));
        offline_aws_env(&mut c, &self.moto.endpoint())
            .arg("doctor")
            .args(args)
            .env("AWS_ENDPOINT_URL_BEDROCK", self.front.endpoint())
            .output()
            .expect("run bedrock-meter")
    }
}

fn checks(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor --format json: {e}\nstdout: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {v}"))
}

fn status<'a>(v: &'a serde_json::Value, id: &str) -> &'a str {
    check(v, id)["status"].as_str().unwrap()
}

#[test]
fn healthy_setup_passes_and_exits_zero() {
    let env = Env::start();
    let port = env.moto.port;
    let now = now_ms();
    seed::create_log_group(port, GROUP);
    let ingest = seed::create_lambda(port, "bedrock-meter-IngestFunction-AbC123");
    seed::put_subscription_filter(
        port,
        GROUP,
        "bedrock-meter-InvocationLogSubscription",
        &ingest,
    );
    seed::create_bucket(port, BUCKET);
    let day = Timestamp::from_millis(now)
        .date()
        .to_string()
        .replace('-', "/");
    let key = format!(
        "bedrock-logs/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1/{day}/00/20260101T000000000Z_abc.json.gz"
    );
    seed::put_object(port, BUCKET, &key, b"not read by doctor");
    seed::put_logging_config(
        port,
        serde_json::json!({
            "cloudWatchConfig": {"logGroupName": GROUP, "roleArn": "arn:aws:iam::123456789012:role/bedrock-logging",
                                 "largeDataDeliveryS3Config": {"bucketName": BUCKET, "keyPrefix": "bedrock-logs/large-data"}},
            "s3Config": {"bucketName": BUCKET, "keyPrefix": "bedrock-logs"},
            "textDataDeliveryEnabled": true, "imageDataDeliveryEnabled": false, "embeddingDataDeliveryEnabled": false
        }),
    );
    seed::create_glue_table(port, "bedrock_meter", "invocation_logs");
    seed::create_workgroup(port, "bedrock-meter");
    let p1 = profile("support01", &[("app", "support"), ("team", "cx")]);
    seed::put_log_events(
        port,
        GROUP,
        "aws/bedrock/modelinvocations",
        &[
            (
                now - 120_000,
                record(
                    "r1",
                    "arn:aws:sts::111122223333:assumed-role/Support/s",
                    &p1.arn,
                    now - 120_000,
                ),
            ),
            (
                now - 60_000,
                record(
                    "r2",
                    "arn:aws:sts::111122223333:assumed-role/Support/s",
                    &p1.arn,
                    now - 60_000,
                ),
            ),
        ],
    );
    env.stub.add_profile(p1);

    let out = env.doctor(&["--format", "json"]);
    let v = checks(&out);
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c}\nall: {v}");
    }
    assert_eq!(v["ok"], true);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert!(check(&v, "s3-delivery")["summary"]
        .as_str()
        .unwrap()
        .contains(&key));
    assert_eq!(
        v["names"]["bucket"], BUCKET,
        "the bucket comes from the logging configuration"
    );

    // The table form says the same.
    let out = env.doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Verdict: healthy."), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn broken_setup_names_each_failure_and_exits_one() {
    let env = Env::start();
    let port = env.moto.port;
    let now = now_ms();
    // No logging configuration, a log group without a subscription filter, no bucket, table or workgroup.
    seed::create_log_group(port, GROUP);
    let tagged = profile("support01", &[("app", "support"), ("team", "cx")]);
    let untagged = profile("orphan01", &[("app", "orphan")]);
    let bare = profile("bare01", &[]);
    seed::put_log_events(
        port,
        GROUP,
        "aws/bedrock/modelinvocations",
        &[
            (
                now - 90_000,
                record(
                    "r1",
                    "arn:aws:sts::111122223333:assumed-role/Support/s",
                    &tagged.arn,
                    now - 90_000,
                ),
            ),
            (
                now - 80_000,
                record(
                    "r2",
                    "arn:aws:iam::111122223333:user/alice",
                    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                    now - 80_000,
                ),
            ),
            (
                now - 70_000,
                record(
                    "r3",
                    "arn:aws:iam::111122223333:user/alice",
                    "amazon.nova-micro-v1:0",
                    now - 70_000,
                ),
            ),
            (
                now - 60_000,
                record(
                    "r4",
                    "arn:aws:iam::111122223333:user/bob",
                    "acme.mystery-model-v1:0",
                    now - 60_000,
                ),
            ),
        ],
    );
    env.stub.add_profile(tagged);
    env.stub.add_profile(untagged);
    env.stub.add_profile(bare);

    let out = env.doctor(&["--format", "json"]);
    let v = checks(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["ok"], false);
    assert_eq!(status(&v, "logging"), "fail");
    assert!(check(&v, "logging")["summary"]
        .as_str()
        .unwrap()
        .contains("not configured"));
    assert!(check(&v, "logging")["fix"]
        .as_str()
        .unwrap()
        .contains("ManageInvocationLogging"));
    assert_eq!(status(&v, "log-group"), "pass");
    assert_eq!(status(&v, "subscription"), "fail");
    assert!(check(&v, "subscription")["summary"]
        .as_str()
        .unwrap()
        .contains("no subscription filter"));
    assert_eq!(status(&v, "s3-delivery"), "fail", "no bucket known");
    assert_eq!(status(&v, "glue-table"), "fail");
    assert_eq!(status(&v, "workgroup"), "fail");
    let p = check(&v, "profiles");
    assert_eq!(p["status"], "fail");
    let details: Vec<&str> = p["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("orphan01-name") && d.contains("no team tag")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("bare01-name") && d.contains("no app or team tag")),
        "{details:?}"
    );
    let b = check(&v, "bypass");
    assert_eq!(b["status"], "warn");
    assert!(
        b["summary"]
            .as_str()
            .unwrap()
            .starts_with("3 calls by 2 callers"),
        "{b}"
    );
    let bd = b["details"].to_string();
    assert!(
        bd.contains("user/alice: 2 calls") && bd.contains("user/bob: 1 calls"),
        "{bd}"
    );
    let pr = check(&v, "prices");
    assert_eq!(pr["status"], "warn");
    assert!(
        pr["details"]
            .to_string()
            .contains("acme.mystery-model-v1:0: 1 calls"),
        "{pr}"
    );

    // The table form shows the fixes.
    let out = env.doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  Live-path subscription filter"),
        "{text}"
    );
    assert!(text.contains("fix: redeploy the stack"), "{text}");
    assert!(text.contains("Verdict: 6 check(s) failed"), "{text}");

    // Half-configured logging: CloudWatch only, text off, and not the log group the stack reads.
    seed::put_logging_config(
        port,
        serde_json::json!({
            "cloudWatchConfig": {"logGroupName": "/other/group", "roleArn": "arn:aws:iam::123456789012:role/r"},
            "textDataDeliveryEnabled": false
        }),
    );
    let v = checks(&env.doctor(&["--format", "json", "--log-group", GROUP]));
    let l = check(&v, "logging");
    assert_eq!(l["status"], "fail");
    let d = l["details"].to_string();
    for needle in ["/other/group", "no S3 delivery", "large-data"] {
        assert!(d.contains(needle), "{needle}: {d}");
    }
    // Text delivery off is its own check: a warning that names what it costs, not a failure.
    let t = check(&v, "text-delivery");
    assert_eq!(t["status"], "warn", "{t}");
    assert!(
        t["summary"]
            .as_str()
            .unwrap()
            .contains("priced as 5-minute"),
        "{t}"
    );
}

#[test]
fn a_stack_never_deployed_leads_with_the_one_cause_and_passes_nothing_unchecked() {
    let env = Env::start();
    let out = env.doctor(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = checks(&out);
    let headline = v["headline"]
        .as_str()
        .unwrap_or_else(|| panic!("no headline: {v}"));
    assert!(
        headline.starts_with("stack not found") && headline.contains("sam deploy"),
        "{headline}"
    );
    // It read no events: the price check could not be made, so it is not a PASS.
    assert_eq!(status(&v, "prices"), "skip", "{}", check(&v, "prices"));
    assert!(
        !v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "pass"),
        "nothing passes on an empty account: {v}"
    );

    let out = env.doctor(&[]);
    let t = String::from_utf8_lossy(&out.stdout);
    let first = t
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("bedrock-meter doctor"))
        .unwrap();
    assert!(
        first.starts_with("FIRST: stack not found"),
        "leads with the cause:\n{t}"
    );

    // `doctor 2>&1 | head -1`: the reader is gone before doctor writes; no panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let err = writer.try_clone().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"));
    let status = offline_aws_env(&mut c, &env.moto.endpoint())
        .arg("doctor")
        .env("AWS_ENDPOINT_URL_BEDROCK", env.front.endpoint())
        .stdout(writer)
        .stderr(err)
        .status()
        .unwrap();
    assert_ne!(status.code(), Some(101), "panicked on the closed pipe");
    assert!(status.code().is_some(), "killed by a signal");
}

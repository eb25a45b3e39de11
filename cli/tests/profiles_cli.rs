//! `bedrock-meter profiles create` and `profiles export` as a user runs them: the real binary, the
//! standard AWS configuration from the environment (`AWS_ENDPOINT_URL` pointed at the local Bedrock
//! stub, dummy credentials), never a real account.

use std::process::{Command, Output};

use bedrock_meter_integration_tests::bedrock_stub::{BedrockStub, StubProfile};

fn cli(stub: &BedrockStub, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
        .args(args)
        .env("AWS_ENDPOINT_URL", stub.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("runs")
}

#[test]
fn create_then_export_round_trips_the_attribution_tags() {
    let stub = BedrockStub::start();
    stub.add_profile(StubProfile::new(
        "existing1",
        "existing",
        "amazon.nova-lite-v1:0",
        &[("app", "old"), ("team", "t0")],
    ));
    let from =
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0";
    let out = cli(
        &stub,
        &[
            "profiles",
            "create",
            "--name",
            "ops-agent",
            "--app",
            "ops-agent",
            "--team",
            "platform",
            "--from",
            from,
            "--tag",
            "meter:max-cost-usd=25",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arn = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(arn.contains(":application-inference-profile/"), "{arn}");

    let out = cli(&stub, &["profiles", "export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("export prints JSON");
    let all = j["inferenceProfileSummaries"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    let created = all
        .iter()
        .find(|p| p["inferenceProfileArn"] == arn.as_str())
        .expect("created profile exported");
    assert_eq!(created["inferenceProfileName"], "ops-agent");
    assert_eq!(created["models"][0]["modelArn"], from);
    let tag = |k: &str| {
        created["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == k)
            .map(|t| t["value"].clone())
    };
    assert_eq!(tag("app"), Some("ops-agent".into()));
    assert_eq!(tag("team"), Some("platform".into()));
    assert_eq!(tag("meter:max-cost-usd"), Some("25".into()));
}

#[test]
fn create_refuses_bad_input_before_calling_aws() {
    let stub = BedrockStub::start();
    let from = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0";
    for args in [
        vec![
            "profiles",
            "create",
            "--name",
            "bad--name",
            "--app",
            "a",
            "--team",
            "t",
            "--from",
            from,
        ],
        vec![
            "profiles",
            "create",
            "--name",
            "ok",
            "--app",
            "a",
            "--team",
            "t",
            "--from",
            "amazon.nova-lite-v1:0",
        ],
        vec![
            "profiles", "create", "--name", "ok", "--app", "a", "--team", "t", "--from", from,
            "--tag", "novalue",
        ],
    ] {
        let out = cli(&stub, &args);
        assert!(!out.status.success(), "{args:?} should fail");
    }
    assert!(
        stub.requests().is_empty(),
        "nothing was sent: {:?}",
        stub.requests()
    );
}

#[test]
fn a_failed_export_prints_the_short_error_and_leaves_no_file() {
    use bedrock_meter_integration_tests::bedrock_stub::Failure;
    let stub = BedrockStub::start();
    stub.add_profile(StubProfile::new(
        "good1",
        "good",
        "amazon.nova-lite-v1:0",
        &[("app", "a"), ("team", "t")],
    ));
    stub.add_profile(StubProfile::new(
        "denied1",
        "denied",
        "amazon.nova-lite-v1:0",
        &[("app", "b"), ("team", "t")],
    ));
    stub.fail("denied1", Some(Failure::AccessDenied));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profiles.json");

    let out = cli(&stub, &["profiles", "export", "--region", "us-east-1"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        out.stdout.is_empty(),
        "a failed export prints nothing to stdout"
    );
    assert!(
        err.contains("ListTagsForResource failed: AccessDeniedException"),
        "{err}"
    );
    assert!(
        err.len() < 400 && !err.contains("ServiceError") && !err.contains("raw:"),
        "the short form, not the SDK's dump ({} chars): {err}",
        err.len()
    );

    let out = cli(
        &stub,
        &["profiles", "export", "--output", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!file.exists(), "no empty file left behind");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file left behind"
    );

    stub.fail("denied1", None);
    let out = cli(
        &stub,
        &[
            "profiles",
            "export",
            "--region",
            "us-east-1",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "--output writes the file instead");
    let map = bedrock_meter_core::attribution::profiles::ProfileMap::from_json(
        &std::fs::read_to_string(&file).unwrap(),
    )
    .unwrap();
    assert_eq!(map.len(), 2);
}

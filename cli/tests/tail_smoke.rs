//! `bedrock-meter tail` and `smoke` end to end: the real binary and aws-sdk clients against moto's
//! CloudWatch Logs, the local Bedrock Runtime stub (Converse) and the local Bedrock profile stub.

use std::process::{Command, Output};

use bedrock_meter_core::attribution::profiles::ProfileMap;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::daily::rollup::{price_rows, Rollup};
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::bedrock_stub::{BedrockStub, StubProfile};
use bedrock_meter_integration_tests::logs_stub as seed;
use bedrock_meter_integration_tests::runtime_stub::{Reply, RuntimeStub};
use bedrock_meter_integration_tests::{offline_aws_env, Moto};

const GROUP: &str = "/aws/bedrock/modelinvocations";
const STREAM: &str = "aws/bedrock/modelinvocations";

use bedrock_meter_core::time::now_millis as now_ms;

fn iso(ms: i64) -> String {
    let t = Timestamp::from_millis(ms);
    let s = t.0.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        t.date(),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

fn record(
    request_id: &str,
    caller: &str,
    model_id: &str,
    ts_ms: i64,
    input: u64,
    output: u64,
) -> String {
    serde_json::json!({
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": iso(ts_ms),
        "accountId": "111122223333", "region": "us-east-1", "requestId": request_id,
        "operation": "Converse", "modelId": model_id, "identity": {"arn": caller},
        "input": {"inputTokenCount": input, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0,
                  "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "SECRET-PROMPT-TEXT"}]}]}},
        "output": {"outputTokenCount": output,
                   "outputBodyJson": {"output": {"message": {"content": [{"text": "SECRET-ANSWER-TEXT"}]}}}}
    })
    .to_string()
}

fn bin(moto: &Moto) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"));
    offline_aws_env(&mut c, &moto.endpoint());
    c
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn profiles_file(dir: &std::path::Path, profiles: &[&StubProfile]) -> std::path::PathBuf {
    let file = serde_json::json!({ "inferenceProfileSummaries": profiles.iter().map(|p| serde_json::json!({
        "inferenceProfileName": p.name, "inferenceProfileArn": p.arn, "inferenceProfileId": p.id,
        "models": p.model_arns.iter().map(|m| serde_json::json!({"modelArn": m})).collect::<Vec<_>>(),
        "type": "APPLICATION",
        "tags": p.tags.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>() });
    let path = dir.join("profiles.json");
    std::fs::write(&path, file.to_string()).unwrap();
    path
}

#[test]
fn tail_attributes_and_prices_recent_records_without_their_text() {
    let moto = Moto::start();
    let now = now_ms();
    let support = StubProfile::new(
        "support01",
        "support-bot",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        &[("app", "support"), ("team", "cx")],
    );
    let fraud = StubProfile::new(
        "fraud01",
        "fraud",
        "amazon.nova-lite-v1:0",
        &[("app", "fraud-check"), ("team", "risk")],
    );
    let role = "arn:aws:sts::111122223333:assumed-role/Support/s1";
    // The caller `tail` names: the session's role (docs/callers.md).
    let principal = "arn:aws:sts::111122223333:assumed-role/Support";
    let alice = "arn:aws:iam::111122223333:user/alice";
    let mut events = vec![
        // An hour ago: outside --since 15m.
        (
            now - 3_600_000,
            record("old", role, &support.arn, now - 3_600_000, 9_999, 9_999),
        ),
        (now - 1_000, "{not json".to_string()),
    ];
    for i in 0..6 {
        let t = now - 600_000 + i * 60_000;
        events.push((
            t,
            record(
                &format!("s{i}"),
                role,
                &support.arn,
                t,
                1_000 + i as u64,
                200,
            ),
        ));
    }
    for i in 0..3 {
        let t = now - 300_000 + i * 10_000;
        events.push((t, record(&format!("f{i}"), role, &fraud.arn, t, 5_000, 50)));
        events.push((
            t + 1,
            record(
                &format!("a{i}"),
                alice,
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                t + 1,
                700,
                70,
            ),
        ));
    }
    seed::create_log_group(moto.port, GROUP);
    seed::put_log_events(moto.port, GROUP, STREAM, &events);

    // The expected money, through the core directly.
    let dir = tempfile::tempdir().unwrap();
    let file = profiles_file(dir.path(), &[&support, &fraud]);
    let profiles = ProfileMap::from_json(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let prices = PriceTable::embedded();
    let cfg = AttributionConfig::default();
    let mut rollup = Rollup::default();
    for (t, m) in &events {
        if *t >= now - 900_000 {
            if let Ok(r) = bedrock_meter_core::records::record::parse(m) {
                rollup.add_record(&r, &cfg, &prices);
            }
        }
    }
    let expected: bedrock_meter_core::pricing::money::Money =
        price_rows(&rollup.rows, &profiles, &prices, &cfg)
            .iter()
            .map(|r| *r.cost.as_ref().unwrap())
            .sum();

    let out = bin(&moto)
        .args([
            "tail",
            "--since",
            "15m",
            "--log-group",
            GROUP,
            "--format",
            "json",
            "--profiles",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains("SECRET"), "no prompt or response text: {all}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {all}"));
    assert_eq!(v["totals"]["requests"], 12, "{v}");
    assert_eq!(v["malformed_records"], 1);
    // A JSON number, like the report's.
    assert!(v["totals"]["cost_usd"].is_number(), "{v}");
    assert!(
        (v["totals"]["cost_usd"].as_f64().unwrap() - expected.as_f64()).abs() < 1e-9,
        "{v}"
    );
    let row = |team: &str, caller: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["team"] == team && r["caller"] == caller)
            .cloned()
            .unwrap_or_else(|| panic!("no row {team}/{caller} in {v}"))
    };
    let cx = row("cx", principal);
    assert_eq!(
        (cx["app"].as_str(), cx["requests"].as_u64()),
        (Some("support"), Some(6))
    );
    assert_eq!(cx["input_tokens"], 6 * 1_000 + 15);
    assert_eq!(row("risk", principal)["requests"], 3);
    let direct = row("unattributed", alice);
    assert_eq!(
        (direct["app"].as_str(), direct["requests"].as_u64()),
        (Some("unattributed"), Some(3))
    );
    assert!(cx["per_minute"].as_f64().unwrap() > 0.0);

    // Table form, with live profile lookups against the Bedrock stub (no --profiles).
    let stub = BedrockStub::start();
    stub.add_profile(support.clone());
    stub.add_profile(fraud.clone());
    let out = bin(&moto)
        .env("AWS_ENDPOINT_URL_BEDROCK", stub.endpoint())
        .args(["tail", "--since", "15m", "--log-group", GROUP])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("SECRET"), "{t}");
    assert!(t.contains("12 requests, 1 malformed"), "{t}");
    assert!(
        t.contains("cx")
            && t.contains("support")
            && t.contains("assumed-role/Support")
            && !t.contains("assumed-role/Support/s1"),
        "{t}"
    );
    assert!(t.contains("risk") && t.contains("fraud-check"), "{t}");
    assert!(t.contains("user/alice"), "{t}");
    assert!(
        t.contains(&expected.to_string()),
        "total {expected} in\n{t}"
    );

    // A missing log group is an error naming it.
    let out = bin(&moto)
        .args(["tail", "--log-group", "/nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the log group /nope does not exist")
            && text(&out).contains("--log-group")
            && text(&out).contains("ResourceNotFoundException"),
        "{}",
        text(&out)
    );
}

/// A logging configuration that delivers to `group` (and S3).
fn logging_to(group: &str) -> serde_json::Value {
    serde_json::json!({
        "cloudWatchConfig": {"logGroupName": group, "roleArn": "arn:aws:iam::123456789012:role/bedrock-logging"},
        "s3Config": {"bucketName": "logs", "keyPrefix": "bedrock-logs"},
        "textDataDeliveryEnabled": true, "imageDataDeliveryEnabled": false, "embeddingDataDeliveryEnabled": false
    })
}

#[test]
fn smoke_checks_the_chain_before_it_spends() {
    let moto = Moto::start();
    let runtime = RuntimeStub::start();
    let a = StubProfile::new(
        "a01",
        "support-bot",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        &[("app", "support"), ("team", "cx")],
    );
    let b = StubProfile::new(
        "b01",
        "scorer",
        "amazon.nova-lite-v1:0",
        &[("app", "scorer"), ("team", "risk")],
    );
    for p in [&a, &b] {
        runtime.reply(
            &p.arn,
            Reply::Ok {
                input_tokens: 14,
                output_tokens: 2,
            },
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = profiles_file(dir.path(), &[&a, &b]);
    let smoke = |format: &str| {
        bin(&moto)
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", runtime.endpoint())
            .args([
                "smoke",
                "--log-group",
                GROUP,
                "--wait",
                "2s",
                "--poll",
                "1s",
                "--format",
                format,
                "--profiles",
            ])
            .arg(&file)
            .output()
            .unwrap()
    };

    // No log group: nothing is sent, each profile says why, exit 1.
    let out = smoke("table");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        runtime.calls().is_empty(),
        "no billed call before the chain is checked"
    );
    assert!(
        t.contains("2 of 2 profiles failed."),
        "a per-profile table: {t}"
    );
    assert!(t.contains("support-bot") && t.contains("scorer"), "{t}");
    assert!(
        t.contains(&format!("not sent: the log group {GROUP} does not exist")),
        "{t}"
    );

    // The group exists but logging writes elsewhere: still nothing sent.
    seed::create_log_group(moto.port, GROUP);
    seed::put_logging_config(moto.port, logging_to("/aws/bedrock/other"));
    let out = smoke("json");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(runtime.calls().is_empty(), "{all}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {all}"));
    assert_eq!(v["profiles"].as_array().unwrap().len(), 2, "{v}");
    for p in v["profiles"].as_array().unwrap() {
        assert_eq!(p["ok"], false);
        assert!(
            p["problem"]
                .as_str()
                .unwrap()
                .contains("invocation logging writes to the log group /aws/bedrock/other"),
            "{p}"
        );
    }

    // Logging delivers to the group: the calls go out.
    seed::put_logging_config(moto.port, logging_to(GROUP));
    let out = smoke("json");
    assert_eq!(runtime.calls().len(), 2, "{}", text(&out));
}

#[test]
fn smoke_calls_each_profile_and_explains_each_failure() {
    let moto = Moto::start();
    seed::create_log_group(moto.port, GROUP);
    seed::put_logging_config(moto.port, logging_to(GROUP));
    let runtime = RuntimeStub::start();
    let ok = StubProfile::new(
        "ok01",
        "support-bot",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        &[("app", "support"), ("team", "cx")],
    );
    let denied = StubProfile::new(
        "denied01",
        "denied",
        "amazon.nova-lite-v1:0",
        &[("app", "a"), ("team", "t")],
    );
    let disabled = StubProfile::new(
        "disabled01",
        "disabled",
        "amazon.nova-pro-v1:0",
        &[("app", "b"), ("team", "t")],
    );
    let silent = StubProfile::new(
        "silent01",
        "silent",
        "amazon.nova-lite-v1:0",
        &[("app", "c"), ("team", "t")],
    );
    let untagged = StubProfile::new("untagged01", "untagged", "amazon.nova-lite-v1:0", &[]);
    runtime.reply(
        &ok.arn,
        Reply::Ok {
            input_tokens: 14,
            output_tokens: 2,
        },
    );
    runtime.reply(&denied.arn, Reply::access_denied());
    runtime.reply(&disabled.arn, Reply::model_not_enabled());
    runtime.reply(
        &silent.arn,
        Reply::Ok {
            input_tokens: 14,
            output_tokens: 2,
        },
    );
    runtime.reply(
        &untagged.arn,
        Reply::Ok {
            input_tokens: 14,
            output_tokens: 2,
        },
    );
    // Emulate invocation logging: every successful call but the silent profile's is logged.
    let (port, silent_arn) = (moto.port, silent.arn.clone());
    runtime.on_success(move |inv| {
        if inv.model_id == silent_arn {
            return;
        }
        let now = now_ms();
        let rec = record(
            &inv.request_id,
            "arn:aws:sts::111122223333:assumed-role/Ops/smoke",
            &inv.model_id,
            now,
            inv.input_tokens,
            inv.output_tokens,
        );
        seed::put_log_events(port, GROUP, STREAM, &[(now, rec)]);
    });
    let dir = tempfile::tempdir().unwrap();
    let file = profiles_file(dir.path(), &[&ok, &denied, &disabled, &silent, &untagged]);

    let out = bin(&moto)
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", runtime.endpoint())
        .args([
            "smoke",
            "--log-group",
            GROUP,
            "--wait",
            "4s",
            "--poll",
            "1s",
            "--format",
            "json",
            "--profiles",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {all}"));
    let get = |name: &str| {
        v["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["profile"] == name)
            .cloned()
            .unwrap()
    };
    let good = get("support-bot");
    assert_eq!(good["ok"], true, "{good}");
    assert_eq!(
        (good["app"].as_str(), good["team"].as_str()),
        (Some("support"), Some("cx"))
    );
    assert_eq!(good["model"], "anthropic.claude-haiku-4-5-20251001-v1:0");
    assert_eq!(
        (
            good["input_tokens"].as_u64(),
            good["output_tokens"].as_u64()
        ),
        (Some(14), Some(2))
    );
    // Haiku 4.5 in-Region: 14 × 1.10 + 2 × 5.50 per 1M tokens.
    assert_eq!(good["cost_usd"], "0.000026400");
    let problem = |name: &str| {
        get(name)["problem"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        problem("denied").starts_with("access denied: AccessDeniedException"),
        "{}",
        problem("denied")
    );
    assert!(problem("denied").contains("bedrock:InvokeModel"));
    assert!(
        problem("disabled").starts_with("model not enabled"),
        "{}",
        problem("disabled")
    );
    assert!(problem("disabled").contains("amazon.nova-pro-v1:0"));
    assert!(
        problem("silent").starts_with("no log record after 4 s in /aws/bedrock/modelinvocations"),
        "{}",
        problem("silent")
    );
    assert!(
        problem("untagged").contains("attributed to team untagged"),
        "{}",
        problem("untagged")
    );
    for name in ["denied", "disabled", "silent", "untagged"] {
        assert_eq!(get(name)["ok"], false);
    }
    // Each call was small: maxTokens as asked.
    let calls = runtime.calls();
    assert_eq!(calls.len(), 3, "successful calls");
    assert!(
        calls
            .iter()
            .all(|c| c.body["inferenceConfig"]["maxTokens"] == 8),
        "{:?}",
        calls[0].body
    );

    // Only the healthy profile, live profile listing from the Bedrock stub: exit 0 and a table.
    let stub = BedrockStub::start();
    stub.add_profile(ok.clone());
    let out = bin(&moto)
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", runtime.endpoint())
        .env("AWS_ENDPOINT_URL_BEDROCK", stub.endpoint())
        .args([
            "smoke",
            "--log-group",
            GROUP,
            "--wait",
            "10s",
            "--poll",
            "1s",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("All 1 profiles attributed and priced."), "{t}");
    assert!(
        t.contains("support-bot") && t.contains("cx") && t.contains("$0.000026400"),
        "{t}"
    );
}

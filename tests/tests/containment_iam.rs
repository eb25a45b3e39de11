//! Containment's IAM adapter (`shared/src/aws/iam.rs`) and the core's `contain`/`release` against
//! moto's IAM, behind the strict proxy (IAM name and inline-policy size limits).
//!
//! `MOTO_SERVER=$PWD/.venv/bin/moto_server cargo test -p bedrock-meter-integration-tests --test containment_iam`

use bedrock_meter_core::aws::iam::IamClient;
use bedrock_meter_core::live::containment::{
    contain, plan, read_document, release, ContainmentConfig, IamPolicies, IamPrincipal,
    IncidentFacts, StoredContainment,
};
use bedrock_meter_core::pricing::money::Money;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::Moto;

const ACCOUNT: &str = "123456789012";
const PROFILE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";

async fn setup(moto: &Moto) -> (aws_sdk_iam::Client, IamClient) {
    let sdk = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for (name, path) in [
        ("ops-agent", "/"),
        ("payments", "/"),
        ("ops-batch", "/svc/"),
    ] {
        iam.create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    iam.create_user()
        .user_name("batch-1")
        .path("/jobs/")
        .send()
        .await
        .unwrap();
    (iam, IamClient::new(&sdk))
}

fn facts(caller: &str) -> IncidentFacts {
    IncidentFacts {
        app: "ops-agent".into(),
        team: "platform".into(),
        caller: Some(caller.into()),
        callers: vec![],
        profile_arns: vec![PROFILE.into()],
        models: vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".into()],
        at: Timestamp::parse_iso8601("2026-11-25T02:00:30Z").unwrap(),
        opted_in: true,
        window_cost: Money::ZERO,
        window_requests: 30,
        threshold_cost: Money::ZERO,
        threshold_requests: 20,
    }
}

fn cfg() -> ContainmentConfig {
    ContainmentConfig {
        allow: vec!["role/ops-*".into(), "user/batch-*".into()],
        ..ContainmentConfig::default()
    }
}

async fn role_policies(iam: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    iam.list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contain_puts_one_expiring_deny_and_release_removes_it() {
    let moto = Moto::start();
    let (iam, client) = setup(&moto).await;
    let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/worker-1");
    let p = plan(&facts(&caller), &cfg());
    assert_eq!(p.contain.len(), 1);

    // Four concurrent puts of the same transition, then a redelivered one: one policy, same bytes.
    let c = &p.contain;
    let (a, b, d, e) = tokio::join!(
        contain(&client, c, false),
        contain(&client, c, false),
        contain(&client, c, false),
        contain(&client, c, false)
    );
    for r in [a, b, d, e].iter().flatten() {
        assert_eq!(r.result, Ok(true));
    }
    assert_eq!(contain(&client, c, false).await[0].result, Ok(true));
    assert_eq!(
        role_policies(&iam, "ops-agent").await,
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );
    for other in ["payments", "ops-batch"] {
        assert!(role_policies(&iam, other).await.is_empty(), "{other}");
    }

    // What IAM holds: Deny, both invoke actions, the profile ARN only, the expiry.
    let raw = iam
        .get_role_policy()
        .role_name("ops-agent")
        .policy_name("BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6")
        .send()
        .await
        .unwrap()
        .policy_document()
        .to_string();
    let doc: serde_json::Value =
        serde_json::from_str(&bedrock_meter_core::ports::encoding::decode_policy_document(&raw))
            .unwrap();
    let s = &doc["Statement"][0];
    assert_eq!(s["Effect"], "Deny");
    assert_eq!(
        s["Action"],
        serde_json::json!([
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream"
        ])
    );
    assert_eq!(s["Resource"], serde_json::json!([PROFILE]));
    assert_eq!(
        s["Condition"]["DateLessThan"]["aws:CurrentTime"],
        "2026-11-25T03:00:30Z"
    );

    // The port's read side (what `contain list` uses).
    let principal = IamPrincipal::parse("role/ops-agent").unwrap();
    let names = client.policy_names(&principal).await.unwrap();
    assert_eq!(
        names,
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );
    let stored = client
        .policy_document(&principal, &names[0])
        .await
        .unwrap()
        .and_then(|d| read_document(&d));
    assert_eq!(
        stored,
        Some(StoredContainment {
            resources: vec![PROFILE.into()],
            until: Timestamp::parse_iso8601("2026-11-25T03:00:30Z"),
        })
    );
    let all = client.principals().await.unwrap();
    let labels: Vec<String> = all.iter().map(IamPrincipal::label).collect();
    for want in ["role/ops-agent", "role/ops-batch", "user/batch-1"] {
        assert!(labels.contains(&want.to_string()), "{labels:?}");
    }

    // resolved: deleted; a second release finds nothing (not an error).
    assert_eq!(release(&client, c, false).await[0].result, Ok(true));
    assert!(role_policies(&iam, "ops-agent").await.is_empty());
    assert_eq!(release(&client, c, false).await[0].result, Ok(false));
    assert_eq!(
        client.policy_document(&principal, &names[0]).await,
        Ok(None)
    );
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_paths_dry_runs_and_refused_principals() {
    let moto = Moto::start();
    let (iam, client) = setup(&moto).await;

    // An IAM user with a path: addressed by its name.
    let p = plan(
        &facts(&format!("arn:aws:iam::{ACCOUNT}:user/jobs/batch-1")),
        &cfg(),
    );
    assert_eq!(
        contain(&client, &p.contain, false).await[0].result,
        Ok(true)
    );
    let names = iam
        .list_user_policies()
        .user_name("batch-1")
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec();
    assert_eq!(
        names,
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );

    // Dry run: reported, nothing put.
    let p = plan(
        &facts(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-batch/s")),
        &cfg(),
    );
    let r = contain(&client, &p.contain, true).await;
    assert!(r[0].dry_run && r[0].result == Ok(true));
    assert!(role_policies(&iam, "ops-batch").await.is_empty());

    // Outside the allow pattern and untagged apps: nothing to put at all.
    let p = plan(
        &facts(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/payments/s")),
        &cfg(),
    );
    assert!(p.contain.is_empty());
    let mut untagged = facts(&format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/s"));
    untagged.opted_in = false;
    assert!(plan(&untagged, &cfg()).contain.is_empty());
    assert!(role_policies(&iam, "payments").await.is_empty());
    assert!(role_policies(&iam, "ops-agent").await.is_empty());

    // The strict proxy refuses what IAM refuses, and the adapter surfaces it as an error with its code.
    let user = IamPrincipal::parse("user/batch-1").unwrap();
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*"}}]}}"#,
        "A".repeat(2100)
    );
    let e = client.put_policy(&user, "big", &big).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("LimitExceeded"), "{e}");
    let e = client
        .put_policy(&user, &"n".repeat(129), "{}")
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("ValidationError"), "{e}");
    // A principal that does not exist: an error, never silence.
    let ghost = IamPrincipal::parse("role/ops-ghost").unwrap();
    let e = client.put_policy(&ghost, "p", "{}").await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("NoSuchEntity"), "{e}");
}

/// The ledger in the detector's table on moto: what a runaway put is read back (strongly consistent)
/// by the resolved of the same incident, in another invocation; other incidents read nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_keeps_what_an_incident_contained() {
    use bedrock_meter_core::aws::containment_ledger::DynamoLedger;
    use bedrock_meter_core::aws::dynamodb::DynamoStore;
    use bedrock_meter_core::live::containment::{incident_key, ContainmentLedger};
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    DynamoStore::new(&sdk, "state")
        .create_table()
        .await
        .unwrap();
    let ledger = DynamoLedger::new(&sdk, "state");
    let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/worker-1");
    let f = facts(&caller);
    let p = plan(&f, &cfg());
    let key = incident_key(&f.app, Some(&caller), f.at);
    ledger.record(&key, &p.contain).await.unwrap();
    assert_eq!(
        ledger.recorded(&key).await.unwrap(),
        Some(p.contain.clone())
    );
    // Lifted: an empty record, not an absent one.
    ledger.record(&key, &[]).await.unwrap();
    assert_eq!(ledger.recorded(&key).await.unwrap(), Some(vec![]));
    let other = incident_key(&f.app, Some(&caller), Timestamp(f.at.0 + 60));
    assert_eq!(ledger.recorded(&other).await.unwrap(), None);
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

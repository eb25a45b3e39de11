//! `bedrock-meter contain list | lift` as an operator runs them: the real binary against moto's IAM
//! (behind the strict proxy), dummy credentials, never a real account. The denies are put by the same
//! core code the live path uses (`containment::contain` with the IAM adapter).

use bedrock_meter_core::pricing::money::Money;
use std::process::{Command, Output};

use bedrock_meter_core::aws::iam::IamClient;
use bedrock_meter_core::live::containment::{contain, plan, ContainmentConfig, IncidentFacts};
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::{offline_aws_env, Moto};

const PROFILE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";

fn cli(moto: &Moto, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"));
    offline_aws_env(&mut c, &moto.endpoint());
    c.args(args).output().expect("runs")
}

fn facts(caller: &str, at: Timestamp) -> IncidentFacts {
    IncidentFacts {
        app: "ops-agent".into(),
        team: "platform".into(),
        caller: Some(caller.into()),
        callers: vec![],
        profile_arns: vec![PROFILE.into()],
        models: vec![],
        at,
        opted_in: true,
        window_cost: Money::ZERO,
        window_requests: 30,
        threshold_cost: Money::ZERO,
        threshold_requests: 20,
    }
}

fn names(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn list_and_lift_containment_policies() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let iam = rt.block_on(async {
        let sdk = moto.sdk_config().await;
        let iam = aws_sdk_iam::Client::new(&sdk);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        for r in ["ops-agent", "payments"] {
            iam.create_role().role_name(r).assume_role_policy_document(trust).send().await.unwrap();
        }
        iam.create_user().user_name("batch-1").send().await.unwrap();
        // Not ours: never listed, never lifted.
        iam.put_role_policy()
            .role_name("payments")
            .policy_name("app-permissions")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
        let client = IamClient::new(&sdk);
        let cfg = ContainmentConfig { allow: vec!["role/ops-*".into(), "user/batch-*".into()], ..Default::default() };
        let now = Timestamp::now();
        let active = plan(&facts("arn:aws:sts::123456789012:assumed-role/ops-agent/w-1", now), &cfg);
        let expired = plan(&facts("arn:aws:iam::123456789012:user/batch-1", Timestamp(now.0 - 7200)), &cfg);
        for p in [&active, &expired] {
            assert_eq!(p.contain.len(), 1);
            assert_eq!(contain(&client, &p.contain, false).await[0].result, Ok(true));
        }
        iam
    });

    let out = cli(&moto, &["contain", "list", "--format", "json"]);
    assert!(out.status.success(), "{}", names(&out));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{}", names(&out));
    let role = rows
        .iter()
        .find(|r| r["principal"] == "role/ops-agent")
        .unwrap();
    assert_eq!(
        role["policy"],
        "BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"
    );
    assert_eq!(role["active"], true);
    assert_eq!(role["resources"], serde_json::json!([PROFILE]));
    assert_eq!(
        role["lift"],
        "bedrock-meter contain lift role/ops-agent a1b2c3d4e5f6"
    );
    let user = rows
        .iter()
        .find(|r| r["principal"] == "user/batch-1")
        .unwrap();
    assert_eq!(user["active"], false, "expired an hour ago");

    let table = cli(&moto, &["contain", "list", "--principal", "role/ops-agent"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains(
            "role/ops-agent  BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6  until "
        ),
        "{text}"
    );
    assert!(
        text.contains("(active)") && !text.contains("batch-1"),
        "{text}"
    );

    // Dry run: says so, changes nothing.
    let out = cli(
        &moto,
        &["contain", "lift", "role/ops-agent", PROFILE, "--dry-run"],
    );
    assert!(out.status.success(), "{}", names(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "would remove BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6 from role/ops-agent"
    ));
    let policies = |role: &'static str| {
        rt.block_on(async {
            iam.list_role_policies()
                .role_name(role)
                .send()
                .await
                .unwrap()
                .policy_names()
                .to_vec()
        })
    };
    assert_eq!(
        policies("ops-agent"),
        vec!["BedrockMeterContain-bedrock-meter.local.a1b2c3d4e5f6"]
    );

    // Lift by the caller ARN from the alert and the profile id: removed; again: nothing to lift (1).
    let out = cli(
        &moto,
        &[
            "contain",
            "lift",
            "arn:aws:sts::123456789012:assumed-role/ops-agent/w-1",
            "a1b2c3d4e5f6",
        ],
    );
    assert!(out.status.success(), "{}", names(&out));
    assert!(policies("ops-agent").is_empty());
    let out = cli(&moto, &["contain", "lift", "role/ops-agent", PROFILE]);
    assert_eq!(out.status.code(), Some(1), "{}", names(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to lift"));
    assert_eq!(policies("payments"), vec!["app-permissions"]);

    // A principal that is not one: exit 2 before any AWS call.
    let out = cli(&moto, &["contain", "lift", "group/admins", PROFILE]);
    assert_eq!(out.status.code(), Some(2), "{}", names(&out));
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

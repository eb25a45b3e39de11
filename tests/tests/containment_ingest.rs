//! Containment on the live path, end to end: the real ingest handler with containment on — IAM,
//! SNS, CloudWatch and the detector's DynamoDB table (and the containment ledger in it) on moto behind
//! the strict proxy; profiles (one tagged `meter:on-runaway=contain`, one not) from the local Bedrock
//! stub. Real aws-sdk clients, dummy credentials.
//!
//! `MOTO_SERVER=$PWD/.venv/bin/moto_server cargo test -p bedrock-meter-integration-tests --test containment_ingest`

use std::collections::HashMap;

use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::cloudwatch::CloudWatchMetrics;
use bedrock_meter_core::aws::containment_ledger::DynamoLedger;
use bedrock_meter_core::aws::dynamodb::DynamoStore;
use bedrock_meter_core::aws::iam::IamClient;
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::ports::encoding::decode_policy_document;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::bedrock_stub::{BedrockStub, StubProfile};
use bedrock_meter_integration_tests::{minute_ago, sdk_config_for, subscription_event_json, Moto};
use ingest::{Config, Ingest, SubscriptionEvent};

const ACCOUNT: &str = "111122223333";
const SONNET45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const TABLE: &str = "bedrock-meter-state";

fn record(ts: i64, model_id: &str, caller: &str, id: &str) -> String {
    format!(
        r#"{{"timestamp":"{}","accountId":"{ACCOUNT}","identity":{{"arn":"{caller}"}},"region":"us-east-1","requestId":"{id}","operation":"Converse","modelId":"{model_id}","input":{{"inputContentType":"application/json","inputTokenCount":100,"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0}},"output":{{"outputContentType":"application/json","outputTokenCount":10}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
        Timestamp(ts)
    )
}

fn event(messages: &[(i64, String)]) -> SubscriptionEvent {
    serde_json::from_str(&subscription_event_json(
        ACCOUNT,
        "/aws/bedrock/modelinvocations",
        messages,
    ))
    .unwrap()
}

struct World {
    moto: Moto,
    _stub: BedrockStub,
    iam: aws_sdk_iam::Client,
    tagged: StubProfile,
    untagged: StubProfile,
    forged: StubProfile,
    ingest: Ingest<
        BedrockProfiles,
        CloudWatchMetrics,
        SnsNotifier,
        DynamoStore,
        IamClient,
        DynamoLedger,
    >,
}

async fn world(extra: &[(&str, &str)]) -> World {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let tagged = StubProfile::new(
        "opsagent01",
        "ops-agent-prod",
        SONNET45,
        &[
            ("app", "ops-agent"),
            ("team", "platform"),
            ("meter:on-runaway", "contain"),
        ],
    );
    let untagged = StubProfile::new(
        "batchjob01",
        "batch-prod",
        SONNET45,
        &[("app", "batch"), ("team", "data")],
    );
    // A profile anyone allowed to tag could create: it claims the app `ops-agent` with a limit of
    // one request and opts in to containment.
    let forged = StubProfile::new(
        "forged0001",
        "forged",
        SONNET45,
        &[
            ("app", "ops-agent"),
            ("team", "platform"),
            ("meter:max-requests", "1"),
            ("meter:max-cost-usd", "1000000"),
            ("meter:on-runaway", "contain"),
        ],
    );
    stub.add_profile(tagged.clone());
    stub.add_profile(untagged.clone());
    stub.add_profile(forged.clone());
    let iam = aws_sdk_iam::Client::new(&sdk);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for role in ["ops-agent", "ops-batch", "payments", "ops-attacker"] {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let mut env: HashMap<String, String> = [
        ("ALERT_TOPIC_ARN", topic.as_str()),
        ("METRICS_NAMESPACE", "BedrockMeterTest"),
        ("WINDOW_MINUTES", "15"),
        ("MAX_COST_USD", "10"),
        ("MAX_REQUESTS", "5"),
        ("CONTAINMENT_ALLOW", "role/ops-*"),
        ("CONTAINMENT_COOLDOWN_MINUTES", "30"),
        ("ACCOUNT_ID", ACCOUNT),
        ("STACK_NAME", "meter-test"),
        ("AWS_REGION", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let store = DynamoStore::new(&sdk, TABLE);
    store.create_table().await.unwrap();
    let ingest = Ingest::new(
        Config::from_lookup(|k| env.get(k).cloned()).unwrap(),
        BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await),
        CloudWatchMetrics::new(&sdk),
        SnsNotifier::new(&sdk),
        store,
    )
    .with_containment(IamClient::new(&sdk), DynamoLedger::new(&sdk, TABLE));
    World {
        moto,
        _stub: stub,
        iam,
        tagged,
        untagged,
        forged,
        ingest,
    }
}

impl World {
    async fn policies(&self, role: &str) -> Vec<String> {
        self.iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .unwrap()
            .policy_names()
            .to_vec()
    }

    async fn document(&self, role: &str, name: &str) -> serde_json::Value {
        let raw = self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .unwrap()
            .policy_document()
            .to_string();
        serde_json::from_str(&decode_policy_document(&raw)).unwrap()
    }

    /// The SNS messages whose subject starts with `prefix`: (body, containment attribute).
    fn sent(&self, prefix: &str) -> Vec<(String, Option<String>)> {
        self.moto
            .sns_sent("alerts")
            .iter()
            .filter(|n| n[2].as_str().is_some_and(|s| s.starts_with(prefix)))
            .map(|n| {
                let c = &n[3]["containment"];
                (
                    n[1].as_str().unwrap_or_default().to_string(),
                    c["StringValue"]
                        .as_str()
                        .or_else(|| c["Value"].as_str())
                        .map(str::to_string),
                )
            })
            .collect()
    }
}

/// A loop of 8 calls per caller within one minute (threshold: 5 requests): the tagged app's allowed
/// role, the tagged app's role outside the allow pattern, and an allowed role of an untagged app.
fn loops(w: &World, m: i64) -> SubscriptionEvent {
    let mut msgs = Vec::new();
    for i in 0..8 {
        for (profile, role, tag) in [
            (&w.tagged.arn, "ops-agent", "a"),
            (&w.tagged.arn, "payments", "p"),
            (&w.untagged.arn, "ops-batch", "b"),
        ] {
            let caller = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/session-{i}");
            msgs.push((m + i, record(m + i, profile, &caller, &format!("{tag}{i}"))));
        }
    }
    event(&msgs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tagged_loop_is_contained_once_and_lifted_on_resolved() {
    let w = world(&[]).await;
    let m = minute_ago(2);
    let ev = loops(&w, m);
    let now = Timestamp(m + 59);

    // Two concurrent deliveries of the batch, then a redelivery: one transition, one deny.
    let (a, b) = tokio::join!(w.ingest.handle(&ev, now), w.ingest.handle(&ev, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    let again = w.ingest.handle(&ev, Timestamp(now.0 + 5)).await.unwrap();
    assert_eq!(
        a.contained + b.contained + again.contained,
        1,
        "{a:?}\n{b:?}\n{again:?}"
    );
    assert_eq!(a.containment_failures + b.containment_failures, 0);

    let name = "BedrockMeterContain-meter-test.us-east-1.opsagent01";
    assert_eq!(w.policies("ops-agent").await, vec![name]);
    assert!(
        w.policies("payments").await.is_empty(),
        "outside the allow pattern"
    );
    assert!(w.policies("ops-batch").await.is_empty(), "untagged app");
    let doc = w.document("ops-agent", name).await;
    let s = &doc["Statement"][0];
    assert_eq!(s["Effect"], "Deny");
    assert_eq!(
        s["Action"],
        serde_json::json!([
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream"
        ])
    );
    assert_eq!(s["Resource"], serde_json::json!([w.tagged.arn]));
    let until = Timestamp::parse_iso8601(
        s["Condition"]["DateLessThan"]["aws:CurrentTime"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(until.0 - now.0, 30 * 60, "the alert's time + the cool-down");

    // The runaway alert of the contained caller says so, with the command that lifts it.
    let runaway: Vec<_> = w
        .sent("Bedrock runaway: ops-agent")
        .into_iter()
        .filter(|(b, _)| b.contains("CONTAINED:"))
        .collect();
    assert_eq!(runaway.len(), 1, "{:?}", w.sent("Bedrock runaway"));
    assert!(
        runaway[0].0.contains(&format!(
            "CONTAINED: role/ops-agent may not invoke {} until {until}",
            w.tagged.arn
        )),
        "{}",
        runaway[0].0
    );
    assert!(runaway[0]
        .0
        .contains("Lift now: bedrock-meter contain lift role/ops-agent opsagent01"));
    assert_eq!(runaway[0].1.as_deref(), Some("contained"));

    // Past `until` (30 minutes), the tick's sweep removes the expired deny (found by its name).
    let later = Timestamp(now.0 + 31 * 60);
    let out = w.ingest.tick(later).await.unwrap();
    assert!(out.released >= 1, "{out:?}");
    assert!(w.policies("ops-agent").await.is_empty());
    for role in ["payments", "ops-batch"] {
        assert!(w.policies(role).await.is_empty(), "{role}");
    }
    assert!(w.moto.rejections().is_empty(), "{:?}", w.moto.rejections());
}

/// The deny's own effect: a denied caller's calls never reach the log, its window goes quiet and the
/// incident resolves. The deny must stay its whole term all the same, and go after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_lasts_its_term_through_quiet_and_resolved() {
    let w = world(&[("CONTAINMENT_COOLDOWN_MINUTES", "60")]).await;
    let m = minute_ago(2);
    let now = Timestamp(m + 59);
    let out = w.ingest.handle(&loops(&w, m), now).await.unwrap();
    assert_eq!(out.contained, 1, "{out:?}");
    let name = "BedrockMeterContain-meter-test.us-east-1.opsagent01";
    // Ticks every 5 minutes with no records: the incidents resolve after a quiet window (about 30
    // minutes in), and the deny stays.
    let mut resolved = 0;
    for k in 1..=9 {
        let out = w.ingest.tick(Timestamp(now.0 + k * 5 * 60)).await.unwrap();
        resolved += out
            .alerts
            .iter()
            .filter(|a| a.starts_with("resolved"))
            .count();
        assert_eq!(
            w.policies("ops-agent").await,
            vec![name],
            "tick {k}: {out:?}"
        );
    }
    assert!(resolved >= 1, "the incidents resolved during the quiet");
    // 45 minutes after the runaway: still there.
    assert_eq!(w.policies("ops-agent").await, vec![name]);
    // After `until` (60 minutes): gone.
    let out = w.ingest.tick(Timestamp(now.0 + 61 * 60)).await.unwrap();
    assert_eq!(out.released, 1, "{out:?}");
    assert!(w.policies("ops-agent").await.is_empty());
    assert!(w.moto.rejections().is_empty(), "{:?}", w.moto.rejections());
}

/// An expired deny the ledger does not know (its write failed, or it outlived the ledger's TTL) is
/// swept all the same; an active one, another stack's and a policy not ours stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tick_sweeps_expired_denies_the_ledger_does_not_know() {
    let w = world(&[]).await;
    let now = Timestamp(minute_ago(0));
    let doc = |until: Timestamp| {
        bedrock_meter_core::live::containment::policy_document(
            std::slice::from_ref(&w.tagged.arn),
            until,
        )
    };
    let put = |role: &'static str, name: &'static str, d: String| {
        let iam = w.iam.clone();
        async move {
            iam.put_role_policy()
                .role_name(role)
                .policy_name(name)
                .policy_document(d)
                .send()
                .await
                .unwrap();
        }
    };
    let expired = "BedrockMeterContain-meter-test.us-east-1.opsagent01";
    let active = "BedrockMeterContain-meter-test.us-east-1.batchjob01";
    let other_region = "BedrockMeterContain-meter-test.eu-west-1.opsagent01";
    put("ops-agent", expired, doc(Timestamp(now.0 - 60))).await;
    put("ops-agent", active, doc(Timestamp(now.0 + 3600))).await;
    put("ops-agent", other_region, doc(Timestamp(now.0 - 60))).await;
    put("ops-batch", "app-permissions", doc(Timestamp(now.0 - 60))).await;
    let out = w.ingest.tick(now).await.unwrap();
    assert_eq!(out.released, 1, "{out:?}");
    let mut left = w.policies("ops-agent").await;
    left.sort();
    assert_eq!(left, vec![other_region, active]);
    assert_eq!(w.policies("ops-batch").await, vec!["app-permissions"]);
}

/// A profile tagged `app=ops-agent`, `meter:max-requests=1`, created by someone allowed to tag
/// profiles, called twice by its creator: the real app's role (3 calls on its own profile, under its
/// limit of 5) is never denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_profile_gets_no_victim_denied() {
    let w = world(&[]).await;
    let m = minute_ago(2);
    let mut msgs = Vec::new();
    for i in 0..3 {
        let victim = format!("arn:aws:sts::{ACCOUNT}:assumed-role/ops-agent/s{i}");
        msgs.push((
            m + i,
            record(m + i, &w.tagged.arn, &victim, &format!("v{i}")),
        ));
    }
    for i in 0..2 {
        let attacker = format!("arn:aws:sts::{ACCOUNT}:assumed-role/attacker/s{i}");
        msgs.push((
            m + 10 + i,
            record(m + 10 + i, &w.forged.arn, &attacker, &format!("x{i}")),
        ));
    }
    let out = w
        .ingest
        .handle(&event(&msgs), Timestamp(m + 59))
        .await
        .unwrap();
    assert!(w.policies("ops-agent").await.is_empty(), "{out:?}");
    // What alerted is the forged profile itself, never the victim's profile.
    for (body, _) in w.sent("Bedrock runaway") {
        assert!(!body.contains(&w.tagged.arn), "{body}");
    }
}

/// A shared (centralised) log group: another account's `assumed-role/ops-agent/s` runs away on a
/// tagged profile. This account's `ops-agent` is never denied; the alert still goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_accounts_caller_is_reported_never_contained() {
    let w = world(&[]).await;
    let m = minute_ago(2);
    let foreign = "arn:aws:sts::444455556666:assumed-role/ops-agent/s";
    let msgs: Vec<(i64, String)> = (0..8)
        .map(|i| {
            (
                m + i,
                record(m + i, &w.tagged.arn, foreign, &format!("f{i}")),
            )
        })
        .collect();
    let out = w
        .ingest
        .handle(&event(&msgs), Timestamp(m + 59))
        .await
        .unwrap();
    assert!(!out.alerts.is_empty(), "{out:?}");
    assert_eq!(out.contained, 0, "{out:?}");
    assert!(w.policies("ops-agent").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing_and_says_what_it_would_have_done() {
    let w = world(&[("CONTAINMENT_DRY_RUN", "true")]).await;
    let m = minute_ago(2);
    let now = Timestamp(m + 59);
    let out = w.ingest.handle(&loops(&w, m), now).await.unwrap();
    assert_eq!(out.contained, 1, "{out:?}");
    for role in ["ops-agent", "payments", "ops-batch"] {
        assert!(w.policies(role).await.is_empty(), "{role}");
    }
    let dry: Vec<_> = w
        .sent("Bedrock runaway: ops-agent")
        .into_iter()
        .filter(|(b, _)| b.contains("DRY RUN: would have denied role/ops-agent"))
        .collect();
    assert_eq!(dry.len(), 1, "{:?}", w.sent("Bedrock runaway"));
    assert_eq!(dry[0].1.as_deref(), Some("dry-run"));
    // Resolved removes nothing, dry run or not (nothing was put).
    let out = w.ingest.tick(Timestamp(now.0 + 31 * 60)).await.unwrap();
    assert_eq!(out.released, 0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_allow_pattern_nobody_is_contained() {
    let w = world(&[("CONTAINMENT_ALLOW", "")]).await;
    let m = minute_ago(2);
    let out = w
        .ingest
        .handle(&loops(&w, m), Timestamp(m + 59))
        .await
        .unwrap();
    assert!(!out.alerts.is_empty(), "the loops alert: {out:?}");
    assert_eq!((out.contained, out.containment_failures), (0, 0));
    for role in ["ops-agent", "payments", "ops-batch"] {
        assert!(w.policies(role).await.is_empty(), "{role}");
    }
    assert!(w
        .sent("Bedrock runaway")
        .iter()
        .all(|(b, c)| !b.contains("CONTAINED") && c.is_none()));
}

//! The live path (`functions/ingest`) end to end: the real handler with the real aws-sdk clients —
//! CloudWatch and SNS against moto over HTTP, Bedrock profile lookups against the local Bedrock stub —
//! fed subscription events built the way CloudWatch Logs builds them (gzip + padded base64).
//!
//! Every expected value is computed here from the price table's published rates and the generated
//! records, not read back from the code under test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::DateTime;
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::cloudwatch::CloudWatchMetrics;
use bedrock_meter_core::aws::dynamodb::DynamoStore;
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::live::detector::{
    Alert, Attention, Bucket, Claim, Incident, Scope, ScopeState, StateStore, StoreError,
};
use bedrock_meter_core::ports::metrics::Datum;
use bedrock_meter_core::ports::metrics::MetricsSink;
use bedrock_meter_core::ports::notify::{Notification, Notifier};
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::records::subscription::{control_message, encode};
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::bedrock_stub::{BedrockStub, Failure, StubProfile};
use bedrock_meter_integration_tests::{minute_ago, sdk_config_for, subscription_event_json, Moto};
use ingest::{Config, Ingest, SubscriptionEvent};

const NS: &str = "BedrockMeterTest";
const LOG_GROUP: &str = "/aws/bedrock/modelinvocations";
const SONNET45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const LOOP_CALLER: &str = "arn:aws:sts::111122223333:assumed-role/OpsAgent/loop";
/// The caller every path names for `LOOP_CALLER`: its role (docs/callers.md).
const LOOP_PRINCIPAL: &str = "arn:aws:sts::111122223333:assumed-role/OpsAgent";
const OTHER_CALLER: &str = "arn:aws:sts::111122223333:assumed-role/OpsCron/cron";
const HUMAN: &str = "arn:aws:iam::111122223333:user/alice";

/// Sonnet 4.5 in-Region ("regional") rates, USD per 1M tokens × 1000 (from docs/bedrock-facts §5:
/// 3.30 / 16.50 / 0.33 / 4.125).
const SONNET45_REGIONAL_MILLI: [u64; 4] = [3300, 16500, 330, 4125];
/// Nova Lite: 0.06 / 0.24 / 0.015 / 0.
const NOVA_LITE_MILLI: [u64; 4] = [60, 240, 15, 0];

/// Cost in nano-dollars (exact): Σ tokens × (USD per 1M × 1000) / 1e9 USD.
fn cost_nano(rates: [u64; 4], t: [u64; 4]) -> u64 {
    rates.iter().zip(t).map(|(r, n)| r * n).sum::<u64>()
}

/// The same, as USD (for comparison with CloudWatch values).
fn usd(rates: [u64; 4], t: [u64; 4], n: u64) -> f64 {
    (rates.iter().zip(t).map(|(r, k)| r * k).sum::<u64>() * n) as f64 / 1e9
}

fn record(ts: i64, model_id: &str, caller: &str, t: [u64; 4], request_id: &str) -> String {
    format!(
        r#"{{"timestamp":"{}","accountId":"111122223333","identity":{{"arn":"{caller}"}},"region":"us-east-1","requestId":"{request_id}","operation":"Converse","modelId":"{model_id}","input":{{"inputContentType":"application/json","inputBodyJson":{{"messages":[{{"role":"user","content":[{{"text":"SECRET PROMPT TEXT"}}]}}]}},"inputTokenCount":{},"cacheReadInputTokenCount":{},"cacheWriteInputTokenCount":{}}},"output":{{"outputContentType":"application/json","outputBodyJson":{{"output":{{"message":{{"content":[{{"text":"SECRET RESPONSE TEXT"}}]}}}}}},"outputTokenCount":{}}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
        Timestamp(ts),
        t[0],
        t[2],
        t[3],
        t[1]
    )
}

fn event(messages: &[(i64, String)]) -> SubscriptionEvent {
    serde_json::from_str(&subscription_event_json(
        "111122223333",
        LOG_GROUP,
        messages,
    ))
    .unwrap()
}

fn config(topic_arn: &str, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("METRICS_NAMESPACE", NS),
        ("ALERT_TOPIC_ARN", topic_arn),
        ("LOG_GROUP_NAME", LOG_GROUP),
        ("WINDOW_MINUTES", "15"),
        ("MAX_COST_USD", "10"),
        ("MAX_REQUESTS", "600"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| env.get(k).cloned()).unwrap()
}

/// The detector's state table in the emulator, in the shape the SAM template creates.
async fn state_table(sdk: &aws_config::SdkConfig) -> DynamoStore {
    let store = DynamoStore::new(sdk, "bedrock-meter-state");
    store.create_table().await.expect("create the state table");
    store
}

/// The live handler as deployed: profiles from the Bedrock stub; CloudWatch, SNS and the detector's
/// DynamoDB table on moto; configuration from `topic_arn` and `extra`.
async fn live_ingest(
    sdk: &aws_config::SdkConfig,
    stub: &BedrockStub,
    topic_arn: &str,
    extra: &[(&str, &str)],
) -> Ingest<BedrockProfiles, CloudWatchMetrics, SnsNotifier, DynamoStore> {
    Ingest::new(
        config(topic_arn, extra),
        BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await),
        CloudWatchMetrics::new(sdk),
        SnsNotifier::new(sdk),
        state_table(sdk).await,
    )
}

async fn create_topic(sdk: &aws_config::SdkConfig, name: &str) -> String {
    aws_sdk_sns::Client::new(sdk)
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string()
}

/// Sum of a metric series over `[start, start + minutes)`, per minute, read back with GetMetricData.
async fn read_metric(
    cw: &aws_sdk_cloudwatch::Client,
    metric: &str,
    dims: &[(&str, &str)],
    start: i64,
    minutes: i64,
) -> Vec<(i64, f64)> {
    let m = Metric::builder()
        .namespace(NS)
        .metric_name(metric)
        .set_dimensions(Some(
            dims.iter()
                .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                .collect(),
        ))
        .build();
    let q = MetricDataQuery::builder()
        .id("q")
        .metric_stat(
            MetricStat::builder()
                .metric(m)
                .period(60)
                .stat("Sum")
                .build(),
        )
        .build();
    let out = cw
        .get_metric_data()
        .metric_data_queries(q)
        .start_time(DateTime::from_secs(start))
        .end_time(DateTime::from_secs(start + minutes * 60))
        .send()
        .await
        .unwrap();
    let r = &out.metric_data_results()[0];
    let mut v: Vec<(i64, f64)> = r
        .timestamps()
        .iter()
        .map(|t| t.secs())
        .zip(r.values().iter().copied())
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn attr(n: &serde_json::Value, name: &str) -> String {
    let a = &n[3][name];
    a["StringValue"]
        .as_str()
        .or_else(|| a["Value"].as_str())
        .unwrap_or_else(|| panic!("attribute {name} in {n}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_alert_end_to_end() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let ops = StubProfile::new(
        "opsagent01",
        "ops-agent-prod",
        SONNET45,
        &[("app", "ops-agent"), ("team", "platform")],
    );
    stub.add_profile(ops.clone());
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = live_ingest(&sdk, &stub, &topic, &[]).await;

    // Two minutes of traffic: a loop (110 requests of one caller through the ops-agent profile), a
    // second caller of the same app, a person calling Nova Lite directly, and two broken records.
    let m1 = minute_ago(3);
    let m2 = m1 + 60;
    let loop_t = [10_000, 2_000, 100_000, 0]; // input, output, cache read, cache write
    let cron_t = [1_000, 500, 0, 2_000];
    let nova_t = [4_000, 1_000, 0, 0];
    let mut msgs = Vec::new();
    for i in 0..110 {
        let ts = if i < 60 { m1 + (i % 60) } else { m2 + (i % 50) };
        msgs.push((
            ts,
            // A new session name on every call (as SDKs in pods and containers do): one caller.
            record(
                ts,
                &ops.arn,
                &format!("{LOOP_PRINCIPAL}/loop-session-{i}"),
                loop_t,
                &format!("loop-{i}"),
            ),
        ));
    }
    for i in 0..10 {
        msgs.push((
            m1 + 5 * i,
            record(
                m1 + 5 * i,
                &ops.arn,
                OTHER_CALLER,
                cron_t,
                &format!("cron-{i}"),
            ),
        ));
    }
    for i in 0..3 {
        msgs.push((
            m2 + i,
            record(
                m2 + i,
                "us.amazon.nova-lite-v1:0",
                HUMAN,
                nova_t,
                &format!("h-{i}"),
            ),
        ));
    }
    msgs.push((
        m2 + 30,
        r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"x","input":{"inputTokenCount":"#
            .to_string(),
    ));
    msgs.push((
        m2 + 31,
        r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"x","input":{"inputTokenCount":"12"}}"#
            .to_string(),
    ));
    let ev = event(&msgs);
    let now = Timestamp(m2 + 59);

    let out = ingest.handle(&ev, now).await.expect("handler succeeds");
    assert_eq!(out.log_events, 125);
    assert_eq!(out.records, 123, "the good records survive the bad ones");
    assert_eq!(
        out.malformed.get("invalid_json").copied().unwrap_or(0)
            + out.malformed.get("wrong_type").copied().unwrap_or(0),
        2,
        "{:?}",
        out.malformed
    );
    assert_eq!(out.profile_lookups, 1);
    assert_eq!(out.profile_lookup_failures, 0);
    assert_eq!(out.unresolved_records, 0);
    assert!(out.metric_requests >= 1);

    // Metrics, read back from the emulator.
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let team = [("Team", "platform")];
    let app = [("Team", "platform"), ("App", "ops-agent")];
    let model = [
        ("Team", "platform"),
        ("App", "ops-agent"),
        ("Model", SONNET45),
    ];
    let reqs = read_metric(&cw, "Requests", &team, m1, 2).await;
    assert_eq!(
        reqs,
        vec![(m1, 70.0), (m2, 50.0)],
        "60 loop + 10 cron, then 50 loop"
    );
    let cost = read_metric(&cw, "EstimatedCostUSD", &model, m1, 2).await;
    let want_m1 =
        usd(SONNET45_REGIONAL_MILLI, loop_t, 60) + usd(SONNET45_REGIONAL_MILLI, cron_t, 10);
    let want_m2 = usd(SONNET45_REGIONAL_MILLI, loop_t, 50);
    assert_eq!(cost.len(), 2, "{cost:?}");
    assert!(close(cost[0].1, want_m1), "{} vs {want_m1}", cost[0].1);
    assert!(close(cost[1].1, want_m2), "{} vs {want_m2}", cost[1].1);
    let input = read_metric(&cw, "InputTokens", &app, m1, 2).await;
    assert_eq!(
        input,
        vec![
            (m1, (60 * 10_000 + 10 * 1_000) as f64),
            (m2, (50 * 10_000) as f64)
        ]
    );
    let cr = read_metric(&cw, "CacheReadTokens", &app, m1, 2).await;
    assert_eq!(cr, vec![(m1, 6_000_000.0), (m2, 5_000_000.0)]);
    let cwr = read_metric(&cw, "CacheWriteTokens", &team, m1, 2).await;
    assert_eq!(cwr, vec![(m1, 20_000.0)]);
    let out_tok = read_metric(&cw, "OutputTokens", &team, m1, 2).await;
    assert_eq!(
        out_tok,
        vec![
            (m1, (60 * 2_000 + 10 * 500) as f64),
            (m2, (50 * 2_000) as f64)
        ]
    );
    let nova = [
        ("Team", "unattributed"),
        ("App", "unattributed"),
        ("Model", "amazon.nova-lite-v1:0"),
    ];
    assert_eq!(
        read_metric(&cw, "Requests", &nova, m1, 2).await,
        vec![(m2, 3.0)]
    );
    let nova_cost = read_metric(&cw, "EstimatedCostUSD", &nova, m1, 2).await;
    assert!(
        close(nova_cost[0].1, usd(NOVA_LITE_MILLI, nova_t, 3)),
        "{nova_cost:?}"
    );
    assert_eq!(
        read_metric(&cw, "MalformedRecords", &[], m1, 2).await,
        vec![(m2, 2.0)]
    );
    assert!(
        read_metric(&cw, "Errors", &team, m1, 2).await.is_empty(),
        "zeros are not sent"
    );
    assert!(read_metric(&cw, "UnpricedRequests", &team, m1, 2)
        .await
        .is_empty());

    // Dimension sets: exactly [Team], [Team, App], [Team, App, Model] (no caller: not configured).
    let listed = cw
        .list_metrics()
        .namespace(NS)
        .metric_name("Requests")
        .send()
        .await
        .unwrap();
    let mut sets: Vec<Vec<String>> = listed
        .metrics()
        .iter()
        .map(|m| {
            let mut d: Vec<String> = m
                .dimensions()
                .iter()
                .map(|d| d.name().unwrap().to_string())
                .collect();
            d.sort();
            d
        })
        .collect();
    sets.sort();
    sets.dedup();
    assert_eq!(
        sets,
        vec![
            vec!["App", "Model", "Team"],
            vec!["App", "Team"],
            vec!["Team"]
        ]
    );

    // The alert: one, for the looping caller (its 110 requests cost more than $10 in the window).
    let sent = moto.sns_sent("alerts");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let n = &sent[0];
    let loop_cost_nano = cost_nano(SONNET45_REGIONAL_MILLI, loop_t) * 110;
    let dollars = format!(
        "${}.{:02}",
        loop_cost_nano / 1_000_000_000,
        (loop_cost_nano % 1_000_000_000 + 5_000_000) / 10_000_000
    );
    assert_eq!(dollars, "$10.89");
    assert_eq!(
        n[2].as_str().unwrap(),
        format!("Bedrock runaway: ops-agent (platform) {dollars} in 15 min")
    );
    assert_eq!(attr(n, "team"), "platform");
    let id = attr(n, "alert_id");
    assert!(
        // The caller's scope within the profile it used (`Q#app#profile#caller`): another profile
        // claiming the same app never shares its window.
        id.starts_with(&format!(
            "Q#ops-agent#arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/opsagent01#{LOOP_PRINCIPAL}/"
        )),
        "{id}"
    );
    assert!(n[1]
        .as_str()
        .unwrap()
        .contains(&format!("Alert id:    {id}")));
    assert_eq!(attr(n, "app"), "ops-agent");
    assert_eq!(attr(n, "severity"), "high");
    let body = n[1].as_str().unwrap();
    for want in [
        "App:         ops-agent".to_string(),
        "Team:        platform".to_string(),
        format!("Caller:      {LOOP_PRINCIPAL}"),
        format!("Models:      {SONNET45}"),
        format!("Profile ARN: {}", ops.arn),
        "Requests:    110".to_string(),
        format!("Est. cost:   {dollars}"),
        "Threshold:   $10.00 or 600 requests per 15 min".to_string(),
        format!("Tokens:      {} (input 1,100,000, output 220,000, cache read 11,000,000, cache write 0)", "12,320,000"),
        format!("log group {LOG_GROUP}"),
        format!(
            "| filter modelId = \"{}\" and identity.arn like \"{LOOP_PRINCIPAL}/\"",
            ops.arn
        ),
    ] {
        assert!(body.contains(&want), "missing {want:?} in:\n{body}");
    }
    assert!(
        !body.contains("SECRET"),
        "no prompt or response text in alerts"
    );

    // The same batch delivered again (a Lambda retry): no second alert.
    ingest.handle(&ev, now).await.unwrap();
    assert_eq!(moto.sns_sent("alerts").len(), 1);

    // No traffic afterwards: a scheduled tick (any event without awslogs) closes the incident after a
    // full quiet window, with a short "resolved" message.
    let tick: SubscriptionEvent =
        serde_json::from_str(r#"{"source":"aws.events","detail-type":"Scheduled Event"}"#).unwrap();
    let out = ingest.handle(&tick, Timestamp(m2 + 5 * 60)).await.unwrap();
    assert!(out.tick && out.alerts.is_empty(), "{out:?}");
    let out = ingest
        .handle(&tick, Timestamp(m2 + 60 + 30 * 60))
        .await
        .unwrap();
    assert_eq!(out.alerts.len(), 1, "{out:?}");
    let sent = moto.sns_sent("alerts");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1][2].as_str().unwrap(),
        "Bedrock runaway resolved: ops-agent (platform)"
    );
    assert_eq!(attr(&sent[1], "severity"), "info");
    assert!(
        sent[1][1]
            .as_str()
            .unwrap()
            .starts_with("RESOLVED: one caller of ops-agent (team platform)"),
        "{}",
        sent[1][1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_message_is_ignored() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = live_ingest(&sdk, &stub, &topic, &[]).await;
    let ev: SubscriptionEvent =
        serde_json::from_str(&encode(&control_message(1_764_000_000_000))).unwrap();
    let out = ingest
        .handle(&ev, bedrock_meter_core::time::Timestamp::now())
        .await
        .unwrap();
    assert!(out.control_message);
    assert_eq!((out.records, out.metric_requests), (0, 0));
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    assert!(cw
        .list_metrics()
        .namespace(NS)
        .send()
        .await
        .unwrap()
        .metrics()
        .is_empty());
    assert!(moto.sns_sent("alerts").is_empty());
    assert!(stub.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_profile_lookups_serve_stale_tags_or_unresolved() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let search = StubProfile::new(
        "search01",
        "search",
        "amazon.nova-lite-v1:0",
        &[("app", "search"), ("team", "discovery")],
    );
    let fresh = StubProfile::new(
        "newapp01",
        "newapp",
        "amazon.nova-lite-v1:0",
        &[("app", "newapp"), ("team", "growth")],
    );
    stub.add_profile(search.clone());
    stub.add_profile(fresh.clone());
    let topic = create_topic(&sdk, "alerts").await;
    // TTL 0: every batch looks its profiles up again.
    let ingest = live_ingest(&sdk, &stub, &topic, &[("PROFILE_CACHE_TTL_SECONDS", "0")]).await;
    let t = [1_000, 100, 0, 0];
    let m1 = minute_ago(4);
    let first = event(&[(m1, record(m1, &search.arn, HUMAN, t, "a"))]);
    let out = ingest.handle(&first, Timestamp(m1 + 59)).await.unwrap();
    assert_eq!((out.profile_lookups, out.profile_lookup_failures), (1, 0));
    // The real client asked the stub with the ARN percent-encoded in the path, then for the tags.
    let reqs = stub.requests();
    assert_eq!(
        reqs[0],
        format!(
            "GET /inference-profiles/{}",
            search.arn.replace(':', "%3A").replace('/', "%2F")
        ),
        "{reqs:?}"
    );
    assert_eq!(reqs[1], "POST /listTagsForResource");

    // Now the control plane refuses both: search keeps its last known tags, newapp is unresolved.
    stub.fail(&search.arn, Some(Failure::AccessDenied));
    stub.fail(&fresh.id, Some(Failure::AccessDenied));
    let m2 = m1 + 60;
    let second = event(&[
        (m2, record(m2, &search.arn, HUMAN, t, "b")),
        (m2 + 1, record(m2 + 1, &fresh.arn, HUMAN, t, "c")),
        (m2 + 2, record(m2 + 2, &fresh.arn, HUMAN, t, "d")),
    ]);
    let out = ingest
        .handle(&second, Timestamp(m2 + 59))
        .await
        .expect("a failed lookup never fails the batch");
    assert_eq!(out.profile_lookup_failures, 2);
    assert_eq!(out.unresolved_records, 2);
    assert_eq!(
        out.unpriced_requests, 2,
        "an unresolved profile has no known model"
    );

    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    assert_eq!(
        read_metric(
            &cw,
            "Requests",
            &[("Team", "discovery"), ("App", "search")],
            m1,
            2
        )
        .await,
        vec![(m1, 1.0), (m2, 1.0)],
        "stale tags served"
    );
    let search_cost = read_metric(&cw, "EstimatedCostUSD", &[("Team", "discovery")], m1, 2).await;
    assert!(
        close(search_cost[1].1, usd(NOVA_LITE_MILLI, t, 1)),
        "{search_cost:?}"
    );
    let unresolved = [("Team", "unresolved"), ("App", "newapp01")];
    assert_eq!(
        read_metric(&cw, "Requests", &unresolved, m1, 2).await,
        vec![(m2, 2.0)]
    );
    assert_eq!(
        read_metric(&cw, "UnpricedRequests", &unresolved, m1, 2).await,
        vec![(m2, 2.0)]
    );

    // The control plane recovers: newapp is attributed to its tags.
    stub.fail(&fresh.id, None);
    let m3 = m2 + 60;
    let third = event(&[(m3, record(m3, &fresh.arn, HUMAN, t, "e"))]);
    let out = ingest.handle(&third, Timestamp(m3 + 59)).await.unwrap();
    assert_eq!(out.unresolved_records, 0);
    assert_eq!(
        read_metric(
            &cw,
            "Requests",
            &[("Team", "growth"), ("App", "newapp")],
            m1,
            3
        )
        .await,
        vec![(m3, 1.0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_cached_across_invocations() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let p = StubProfile::new(
        "cached01",
        "cached",
        "amazon.nova-lite-v1:0",
        &[("app", "c"), ("team", "t")],
    );
    stub.add_profile(p.clone());
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = live_ingest(&sdk, &stub, &topic, &[("CALLER_DIMENSIONS", "true")]).await;
    let m = minute_ago(2);
    for i in 0..3 {
        let ev = event(&[(
            m + i,
            record(m + i, &p.arn, LOOP_CALLER, [1, 1, 0, 0], &format!("r{i}")),
        )]);
        ingest.handle(&ev, Timestamp(m + 59)).await.unwrap();
    }
    assert_eq!(stub.get_profile_calls(), 1, "{:?}", stub.requests());
    // Caller dimensions when configured: the role, without the session name.
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let caller = [
        ("Team", "t"),
        ("App", "c"),
        ("Caller", "arn:aws:sts::111122223333:assumed-role/OpsAgent"),
    ];
    assert_eq!(
        read_metric(&cw, "Requests", &caller, m, 1).await,
        vec![(m, 3.0)]
    );
}

/// A metrics sink that fails while `broken` is set, else sends with the real CloudWatch adapter.
struct Flaky {
    real: CloudWatchMetrics,
    broken_client: CloudWatchMetrics,
    broken: AtomicBool,
}

impl MetricsSink for Flaky {
    async fn put_metric_data(&self, namespace: &str, datums: &[Datum]) -> Result<(), AwsError> {
        if self.broken.load(Ordering::SeqCst) {
            self.broken_client.put_metric_data(namespace, datums).await
        } else {
            self.real.put_metric_data(namespace, datums).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_metric_data_failure_is_an_invocation_error_after_alerts_went_out() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    // The "broken" CloudWatch is the Bedrock stub: every PutMetricData gets a 404 error answer.
    let broken_sdk = sdk_config_for(&stub.endpoint()).await;
    let ingest = Ingest::new(
        config(&topic, &[("MAX_REQUESTS", "5")]),
        BedrockProfiles::new(&broken_sdk),
        Flaky {
            real: CloudWatchMetrics::new(&sdk),
            broken_client: CloudWatchMetrics::new(&broken_sdk),
            broken: AtomicBool::new(true),
        },
        SnsNotifier::new(&sdk),
        state_table(&sdk).await,
    );
    let m = minute_ago(2);
    let msgs: Vec<(i64, String)> = (0..8)
        .map(|i| {
            (
                m + i,
                record(
                    m + i,
                    "us.amazon.nova-lite-v1:0",
                    HUMAN,
                    [10, 10, 0, 0],
                    &format!("q{i}"),
                ),
            )
        })
        .collect();
    let ev = event(&msgs);
    let err = ingest
        .handle(&ev, Timestamp(m + 59))
        .await
        .expect_err("a failed PutMetricData fails the invocation");
    assert!(matches!(err, ingest::IngestError::Metrics(_)), "{err}");
    assert!(err.to_string().contains("PutMetricData"), "{err}");
    // The alert (8 requests > 5) was published before the metrics failed...
    let sent = moto.sns_sent("alerts");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0][2].as_str().unwrap(),
        "Bedrock runaway: unattributed (unattributed) 8 requests in 15 min"
    );
    // ...and Lambda's retry of the same batch sends the metrics without alerting again.
    ingest.metrics().broken.store(false, Ordering::SeqCst);
    let out = ingest.handle(&ev, Timestamp(m + 59)).await.unwrap();
    assert!(out.alerts.is_empty());
    assert_eq!(moto.sns_sent("alerts").len(), 1);
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    assert_eq!(
        read_metric(&cw, "Requests", &[("Team", "unattributed")], m, 1).await,
        vec![(m, 8.0)]
    );
}

/// The sample events in `events/` (generated with `bedrock-meter event`) are what the handler expects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_events_in_the_repository() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    stub.add_profile(StubProfile::new(
        "opsagent01",
        "ops-agent-prod",
        SONNET45,
        &[("app", "ops-agent"), ("team", "platform")],
    ));
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = live_ingest(&sdk, &stub, &topic, &[]).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
    let load = |name: &str| -> SubscriptionEvent {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let now = Timestamp::parse_iso8601("2026-11-25T02:01:00Z").unwrap();
    let out = ingest
        .handle(&load("control-message.json"), now)
        .await
        .unwrap();
    assert!(out.control_message);
    let out = ingest
        .handle(&load("subscription-event.json"), now)
        .await
        .unwrap();
    assert_eq!((out.log_events, out.records), (5, 5));
    assert!(out.malformed.is_empty());
    assert_eq!((out.profile_lookups, out.unresolved_records), (1, 0));
    let out = ingest
        .handle(&load("subscription-event-with-malformed.json"), now)
        .await
        .unwrap();
    assert_eq!(out.log_events, 10);
    assert_eq!(
        out.malformed.get("bad_timestamp"),
        Some(&1),
        "{:?}",
        out.malformed
    );
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let m = Timestamp::parse_iso8601("2026-11-25T02:00:00Z").unwrap().0;
    let errors = read_metric(&cw, "Errors", &[("Team", "platform")], m, 1).await;
    assert_eq!(
        errors,
        vec![(m, 2.0)],
        "one throttled call in each of the two events"
    );
}

/// More series than one PutMetricData request may carry: the datums are split, and all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_are_chunked_to_the_api_limits() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = live_ingest(
        &sdk,
        &stub,
        &topic,
        &[("CALLER_DIMENSIONS", "true"), ("MAX_REQUESTS", "100000")],
    )
    .await;
    let m = minute_ago(2);
    let t = [100, 10, 0, 0];
    // 260 callers (distinct roles) × 4 non-zero metrics (Requests, InputTokens, OutputTokens,
    // EstimatedCostUSD) = 1,040 caller datums, plus the team, app and model series.
    let msgs: Vec<(i64, String)> = (0..260)
        .map(|i| {
            let caller = format!("arn:aws:sts::111122223333:assumed-role/Role{i:03}/s");
            (
                m + i % 60,
                record(
                    m + i % 60,
                    "amazon.nova-lite-v1:0",
                    &caller,
                    t,
                    &format!("r{i}"),
                ),
            )
        })
        .collect();
    let out = ingest
        .handle(&event(&msgs), Timestamp(m + 59))
        .await
        .unwrap();
    assert_eq!(out.metric_datums, 4 * 263);
    assert_eq!(out.metric_requests, 2);
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let team = [("Team", "unattributed")];
    assert_eq!(
        read_metric(&cw, "Requests", &team, m, 1).await,
        vec![(m, 260.0)]
    );
    let last = [
        ("Team", "unattributed"),
        ("App", "unattributed"),
        ("Caller", "arn:aws:sts::111122223333:assumed-role/Role259"),
    ];
    assert_eq!(
        read_metric(&cw, "InputTokens", &last, m, 1).await,
        vec![(m, 100.0)]
    );
    let cost = read_metric(&cw, "EstimatedCostUSD", &team, m, 1).await;
    assert!(close(cost[0].1, usd(NOVA_LITE_MILLI, t, 260)), "{cost:?}");
}

/// Values CloudWatch refuses — a team tag `Équipe`, an app tag with an emoji, a `requestMetadata`
/// value of one space — reach CloudWatch sanitised (the strict proxy in front of moto answers the
/// raw values with the 400 AWS sends), and the batch's metrics are not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_cloudwatch_refuses_are_sanitised_not_lost() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let p = StubProfile::new(
        "equipe01",
        "équipe-chat",
        SONNET45,
        &[("app", "chat 😀"), ("team", "Équipe")],
    );
    stub.add_profile(p.clone());
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = live_ingest(&sdk, &stub, &topic, &[("METADATA_KEYS", "tenant")]).await;
    let m = minute_ago(2);
    let t = [100, 10, 0, 0];
    let with_tenant = |ts: i64, tenant: &str, id: &str| {
        record(ts, &p.arn, HUMAN, t, id).replace(
            r#""operation":"Converse""#,
            &format!(r#""operation":"Converse","requestMetadata":{{"tenant":"{tenant}"}}"#),
        )
    };
    let msgs = vec![
        (m + 1, with_tenant(m + 1, " ", "a")),
        (m + 2, with_tenant(m + 2, "acme", "b")),
        (m + 3, with_tenant(m + 3, "\\t", "c")),
    ];
    let out = ingest
        .handle(&event(&msgs), Timestamp(m + 59))
        .await
        .expect("the batch is accepted by (strict) CloudWatch");
    assert_eq!(out.records, 3);
    assert!(out.metric_requests >= 1);
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let team = bedrock_meter_core::live::metrics::dimension_value("Équipe");
    assert!(team.starts_with("Equipe~"), "{team}");
    assert_eq!(
        read_metric(&cw, "Requests", &[("Team", &team)], m, 1).await,
        vec![(m, 3.0)]
    );
    let app = bedrock_meter_core::live::metrics::dimension_value("chat 😀");
    let blank = bedrock_meter_core::live::metrics::dimension_value(" ");
    let tab = bedrock_meter_core::live::metrics::dimension_value("\t");
    assert_ne!(
        blank, tab,
        "two values that both sanitise to blank stay apart"
    );
    for (tenant, n) in [(blank.as_str(), 1.0), (tab.as_str(), 1.0), ("acme", 1.0)] {
        assert_eq!(
            read_metric(
                &cw,
                "Requests",
                &[("Team", &team), ("App", &app), ("tenant", tenant)],
                m,
                1
            )
            .await,
            vec![(m, n)],
            "{tenant}"
        );
    }
}

/// The strict proxy refuses what CloudWatch refuses: the raw values this deployment used to send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_proxy_refuses_raw_values_cloudwatch_refuses() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let metrics = CloudWatchMetrics::new(&sdk);
    for bad in ["Équipe", " ", "a\u{7}b"] {
        let d = Datum {
            metric: bedrock_meter_core::live::metrics::REQUESTS,
            dimensions: vec![("Team".into(), bad.into())].into(),
            timestamp: Timestamp(minute_ago(1)),
            value: 1.0,
            unit: bedrock_meter_core::ports::metrics::Unit::Count,
        };
        let e = metrics.put_metric_data(NS, &[d]).await.unwrap_err();
        assert_eq!(
            e.code.as_deref(),
            Some("InvalidParameterValue"),
            "{bad:?}: {e}"
        );
    }
    assert_eq!(moto.rejections().len(), 3);
}

/// A `MakeWriter` into a shared buffer: what the function logs, at every level.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

/// What the failure-queue tests share: every log line at every level captured (until `_guard` drops),
/// moto with an alerts topic and the failure queue, and the Bedrock stub.
struct FailureWorld {
    logs: LogBuffer,
    _guard: tracing::subscriber::DefaultGuard,
    moto: Moto,
    sdk: aws_config::SdkConfig,
    stub: BedrockStub,
    topic: String,
    queue_url: String,
}

async fn failure_world() -> FailureWorld {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let queue_url = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name("failed-invocations")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    FailureWorld {
        logs,
        _guard,
        moto,
        sdk,
        stub,
        topic,
        queue_url,
    }
}

impl FailureWorld {
    /// The failure queue, as the handler records to it.
    fn recorder(&self) -> bedrock_meter_core::aws::sqs::SqsQueue {
        bedrock_meter_core::aws::sqs::SqsQueue::new(&self.sdk, &self.queue_url)
    }

    /// The one message in the failure queue, a pointer to the batch: its JSON, after checking it is
    /// the only one, is a pointer, and holds none of `canary`.
    async fn the_pointer(&self, canary: &str) -> serde_json::Value {
        let got = aws_sdk_sqs::Client::new(&self.sdk)
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let bodies: Vec<&str> = got.messages().iter().filter_map(|m| m.body()).collect();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        let p: serde_json::Value = serde_json::from_str(bodies[0]).unwrap();
        assert_eq!(p["kind"], "bedrock-meter-ingest-failure");
        assert!(!bodies[0].contains(canary), "{}", bodies[0]);
        p
    }

    /// Every log line so far, at every level; the failure is among them.
    fn logged(&self) -> String {
        let text = String::from_utf8(self.logs.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("batch failed"), "the failure is logged");
        text
    }
}

/// No prompt or response text at rest outside the log destinations: a canary string in the prompts,
/// the responses and a broken record goes through a batch that alerts, writes the detector's state and
/// then fails (CloudWatch down). It is in none of: the failure queue's message (a pointer to the batch
/// instead), the function's logs at every level (TRACE and up, the SDK's included), the DynamoDB
/// items, the published alerts.
#[tokio::test]
async fn no_prompt_text_reaches_the_failure_queue_logs_table_or_alerts() {
    use ingest::failure::handle_recording_failures;
    const CANARY: &str = "CANARY-3e1f-do-not-store";
    let w = failure_world().await;
    let sdk = &w.sdk;
    let broken_sdk = sdk_config_for(&w.stub.endpoint()).await;
    let ingest = Ingest::new(
        config(
            &w.topic,
            &[("MAX_REQUESTS", "5"), ("METADATA_KEYS", "tenant")],
        ),
        BedrockProfiles::new(&broken_sdk),
        CloudWatchMetrics::new(&broken_sdk),
        SnsNotifier::new(sdk),
        state_table(sdk).await,
    );
    let recorder = w.recorder();
    let m = minute_ago(2);
    let mut msgs: Vec<(i64, String)> = (0..8)
        .map(|i| {
            let r = record(
                m + i,
                "us.amazon.nova-lite-v1:0",
                HUMAN,
                [10, 10, 0, 0],
                &format!("q{i}"),
            )
            .replace("SECRET PROMPT TEXT", &format!("prompt {CANARY}"))
            .replace("SECRET RESPONSE TEXT", &format!("response {CANARY}"));
            (m + i, r)
        })
        .collect();
    msgs.push((
        m + 9,
        format!(r#"{{"timestamp":"2026-11-25T10:00:00Z","modelId":"x","input":{{"inputBodyJson":"{CANARY}"#),
    ));
    let ev = event(&msgs);
    let raw = serde_json::to_string(&ev).unwrap();
    assert!(!raw.contains(CANARY), "the payload is compressed");
    let err = handle_recording_failures(&ingest, &recorder, &ev, Timestamp(m + 59), None)
        .await
        .expect_err("CloudWatch is down: the invocation fails");
    assert!(matches!(err, ingest::IngestError::Metrics(_)), "{err}");

    // The failure queue holds a pointer to the batch, not the batch.
    let p = w.the_pointer(CANARY).await;
    assert_eq!(p["log_group"], LOG_GROUP);
    assert_eq!(p["log_events"], 9);
    assert_eq!(p["start_ms"], m * 1000);
    assert_eq!(p["end_ms"], (m + 9) * 1000);
    assert!(p["first_event_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(p["error"].as_str().unwrap().contains("PutMetricData"));

    // The alert went out, and holds no text either.
    let sent = w.moto.sns_sent("alerts");
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].to_string().contains(CANARY));

    // The detector's table.
    let items = aws_sdk_dynamodb::Client::new(sdk)
        .scan()
        .table_name("bedrock-meter-state")
        .send()
        .await
        .unwrap();
    assert!(items.count() > 0);
    assert!(!format!("{:?}", items.items()).contains(CANARY));

    // Every log line, at every level.
    let text = w.logged();
    assert!(text.contains("records that could not be read"));
    assert!(!text.contains(CANARY), "a log line holds record text");
}

/// An event whose `awslogs.data` is not base64 (its text out of base64 as the event is read): the
/// handler fails it as a decoding error for Lambda to retry, and the failure queue gets a pointer with
/// the text's length and none of its text; no log line holds it either.
#[tokio::test]
async fn an_event_that_is_not_base64_fails_with_a_pointer_and_no_text() {
    use bedrock_meter_core::records::subscription::SubscriptionError;
    use ingest::failure::handle_recording_failures;
    const CANARY: &str = "CANARY-77b2-not-base64";
    let w = failure_world().await;
    let stub_sdk = sdk_config_for(&w.stub.endpoint()).await;
    let ingest = Ingest::new(
        config(&w.topic, &[]),
        BedrockProfiles::new(&stub_sdk),
        CloudWatchMetrics::new(&w.sdk),
        SnsNotifier::new(&w.sdk),
        state_table(&w.sdk).await,
    );
    let recorder = w.recorder();
    let text = format!("H4sI {CANARY} !!");
    let ev: SubscriptionEvent =
        serde_json::from_slice(format!(r#"{{"awslogs":{{"data":"{text}"}}}}"#).as_bytes())
            .expect("a string that is not base64 is still an event");
    let err = handle_recording_failures(&ingest, &recorder, &ev, Timestamp(minute_ago(0)), None)
        .await
        .expect_err("not base64: the invocation fails, for Lambda to retry");
    assert!(
        matches!(
            err,
            ingest::IngestError::Decode(SubscriptionError::Base64(_))
        ),
        "{err}"
    );
    let p = w.the_pointer(CANARY).await;
    assert_eq!(p["payload_bytes"], text.len());
    assert!(w.moto.sns_sent("alerts").is_empty());
    assert!(
        !w.logged().contains(CANARY),
        "a log line holds the event's text"
    );
}

/// CloudWatch that never answers.
struct Hanging;

impl MetricsSink for Hanging {
    async fn put_metric_data(&self, _: &str, _: &[Datum]) -> Result<(), AwsError> {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        Ok(())
    }
}

/// A batch still being handled near the Lambda deadline is stopped and leaves its pointer in the
/// failure queue before the deadline (a Lambda timeout would leave nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_past_the_deadline_leaves_its_pointer_first() {
    use bedrock_meter_core::aws::sqs::SqsQueue;
    use ingest::failure::{handle_recording_failures, POINTER_RESERVE};
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("failed-invocations")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let ingest = Ingest::new(
        config(&topic, &[]),
        BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await),
        Hanging,
        SnsNotifier::new(&sdk),
        state_table(&sdk).await,
    );
    let m = minute_ago(2);
    let msgs = vec![(
        m,
        record(m, "amazon.nova-lite-v1:0", HUMAN, [1, 1, 0, 0], "r"),
    )];
    let deadline = std::time::Instant::now() + POINTER_RESERVE + std::time::Duration::from_secs(2);
    let err = handle_recording_failures(
        &ingest,
        &SqsQueue::new(&sdk, &queue_url),
        &event(&msgs),
        Timestamp(m + 59),
        Some(deadline),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ingest::IngestError::Deadline(_)), "{err}");
    assert!(
        std::time::Instant::now() < deadline,
        "recorded before the deadline"
    );
    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap();
    let p: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(p["log_events"], 1);
    assert!(p["error"].as_str().unwrap().contains("deadline"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Scale, the principal, and the alert path's failure points (issue 11)
// ---------------------------------------------------------------------------------------------

/// The state store, counted in process: calls, and the most calls in flight at once. Wraps the real
/// DynamoDB adapter (or any store), so the counts are of real round trips to the emulator.
struct Counting<S> {
    inner: S,
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl<S> Counting<S> {
    fn new(inner: S) -> Self {
        Counting {
            inner,
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    async fn around<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let r = f.await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }

    fn reset(&self) {
        self.calls.store(0, Ordering::SeqCst);
        self.max_in_flight.store(0, Ordering::SeqCst);
    }
}

impl<S: StateStore> StateStore for Counting<S> {
    async fn apply(
        &self,
        s: &Scope,
        b: &str,
        d: &[Bucket],
        e: Timestamp,
    ) -> Result<ScopeState, StoreError> {
        self.around(self.inner.apply(s, b, d, e)).await
    }
    async fn read(&self, s: &Scope) -> Result<ScopeState, StoreError> {
        self.around(self.inner.read(s)).await
    }
    async fn forget(&self, s: &Scope, t: &[Timestamp], m: &[Timestamp]) -> Result<(), StoreError> {
        self.around(self.inner.forget(s, t, m)).await
    }
    async fn transition(
        &self,
        s: &Scope,
        v: u64,
        n: &Incident,
        a: &Alert,
        c: &Claim,
    ) -> Result<bool, StoreError> {
        self.around(self.inner.transition(s, v, n, a, c)).await
    }
    async fn attention(&self) -> Result<Attention, StoreError> {
        self.around(self.inner.attention()).await
    }
    async fn claim(&self, id: &str, c: &Claim) -> Result<bool, StoreError> {
        self.around(self.inner.claim(id, c)).await
    }
    async fn delivered(&self, id: &str) -> Result<(), StoreError> {
        self.around(self.inner.delivered(id)).await
    }
}

/// A direct call (no application profile) of Nova Lite.
fn direct_call(ts: i64, caller: &str, id: &str) -> (i64, String) {
    (
        ts,
        record(ts, "us.amazon.nova-lite-v1:0", caller, [100, 10, 0, 0], id),
    )
}

/// The handler on moto with a counted DynamoDB store.
async fn counted_ingest(
    moto: &Moto,
    stub: &BedrockStub,
    topic: &str,
    extra: &[(&str, &str)],
) -> Ingest<BedrockProfiles, CloudWatchMetrics, SnsNotifier, Counting<DynamoStore>> {
    let sdk = moto.sdk_config().await;
    Ingest::new(
        config(topic, extra),
        BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await),
        CloudWatchMetrics::new(&sdk),
        SnsNotifier::new(&sdk),
        Counting::new(state_table(&sdk).await),
    )
}

/// (a) 5,000 records from 5,000 session names of one role: one caller, one scope, one batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_sessions_of_one_role_are_one_caller_in_one_batch() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = counted_ingest(
        &moto,
        &stub,
        &topic,
        &[("MAX_REQUESTS", "100000"), ("CALLER_DIMENSIONS", "true")],
    )
    .await;
    let m = minute_ago(2);
    let role = "arn:aws:sts::111122223333:assumed-role/eks-pods";
    let msgs: Vec<(i64, String)> = (0..5000)
        .map(|i| {
            direct_call(
                m + i % 60,
                &format!("{role}/botocore-session-{i}"),
                &format!("r{i}"),
            )
        })
        .collect();
    let out = ingest
        .handle(&event(&msgs), Timestamp(m + 60))
        .await
        .unwrap();
    assert_eq!(out.records, 5000);
    // Calls without a profile have no app-level window: one scope, the role's.
    assert_eq!(out.scopes, 1, "{out:?}");
    let store = ingest.detector().store();
    // Its add (which returns its window) and the attention query, side by side.
    assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    assert_eq!((out.store_calls, out.store_chain), (2, 1));
    let st = store
        .inner
        .read(&Scope::caller("unattributed", role))
        .await
        .unwrap();
    assert_eq!(st.buckets.iter().map(|b| b.requests).sum::<u64>(), 5000);
    // The metrics name the same one caller.
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let caller = [
        ("Team", "unattributed"),
        ("App", "unattributed"),
        ("Caller", role),
    ];
    assert_eq!(
        read_metric(&cw, "Requests", &caller, m, 1).await,
        vec![(m, 5000.0)]
    );
}

/// (b) 500 records from 500 distinct roles: one store call per scope, issued concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_roles_cost_one_concurrent_store_call_each() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = counted_ingest(&moto, &stub, &topic, &[]).await;
    let m = minute_ago(2);
    let msgs: Vec<(i64, String)> = (0..500)
        .map(|i| {
            direct_call(
                m + i % 60,
                &format!("arn:aws:sts::111122223333:assumed-role/role-{i}/s"),
                &format!("r{i}"),
            )
        })
        .collect();
    let ev = event(&msgs);
    let out = ingest.handle(&ev, Timestamp(m + 60)).await.unwrap();
    assert_eq!(out.scopes, 500);
    let store = ingest.detector().store();
    let calls = store.calls.load(Ordering::SeqCst);
    let max = store.max_in_flight.load(Ordering::SeqCst);
    // One add per scope plus the attention query; nothing read item by item.
    assert_eq!(calls, 501);
    assert_eq!(out.store_calls, calls);
    assert_eq!(out.store_chain, 1);
    // Concurrent, within the bound.
    assert!(
        max > 1 && max <= bedrock_meter_core::live::detector::STORE_CONCURRENCY,
        "max in flight {max}"
    );
    // The redelivery adds nothing and costs the same: one add per scope, refused, which answers
    // with the scope's window all the same.
    store.reset();
    let again = ingest.handle(&ev, Timestamp(m + 60)).await.unwrap();
    assert!(again.alerts.is_empty());
    assert_eq!(store.calls.load(Ordering::SeqCst), 501);
    let st = store
        .inner
        .read(&Scope::caller(
            "unattributed",
            "arn:aws:sts::111122223333:assumed-role/role-7",
        ))
        .await
        .unwrap();
    assert_eq!(st.buckets.iter().map(|b| b.requests).sum::<u64>(), 1);
}

/// (c) A loop calling Bedrock directly (no profile) with a new session name on every call alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotating_session_direct_call_loop_alerts() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = live_ingest(&sdk, &stub, &topic, &[]).await;
    let m = minute_ago(3);
    let role = "arn:aws:sts::111122223333:assumed-role/batch-worker";
    // 700 calls over two minutes, each from its own session: above 600 requests in the window.
    let msgs: Vec<(i64, String)> = (0..700)
        .map(|i| {
            direct_call(
                m + (i * 120) / 700,
                &format!("{role}/i-{i:05}"),
                &format!("r{i}"),
            )
        })
        .collect();
    let out = ingest
        .handle(&event(&msgs), Timestamp(m + 120))
        .await
        .unwrap();
    assert_eq!(out.alerts.len(), 1, "{out:?}");
    let sent = moto.sns_sent("alerts");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0][2].as_str().unwrap(),
        "Bedrock runaway: unattributed (unattributed) 700 requests in 15 min"
    );
    let body = sent[0][1].as_str().unwrap();
    assert!(body.contains(&format!("Caller:      {role}\n")), "{body}");
    assert!(
        body.contains(&format!("identity.arn like \"{role}/\"")),
        "{body}"
    );
}

/// Where the alert path fails, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The batch's add fails (before any decision).
    Apply,
    /// The compare-and-set fails without being made.
    TransitionBefore,
    /// The compare-and-set is made, then the answer is lost (the store or the network fails after).
    TransitionAfter,
    /// SNS refuses every attempt.
    Publish,
    /// The alert is published, then recording its delivery fails.
    Delivered,
    /// The invocation times out between the compare-and-set and the publish.
    Timeout,
}

fn injected(op: &'static str) -> StoreError {
    StoreError {
        operation: op,
        message: "injected failure".into(),
    }
}

/// A store that fails once at one step.
struct Faulty<S> {
    inner: S,
    fault: std::sync::Mutex<Option<Fault>>,
}

impl<S> Faulty<S> {
    fn take(&self, f: Fault) -> bool {
        let mut g = self.fault.lock().unwrap();
        if *g == Some(f) {
            *g = None;
            true
        } else {
            false
        }
    }
}

impl<S: StateStore> StateStore for Faulty<S> {
    async fn apply(
        &self,
        s: &Scope,
        b: &str,
        d: &[Bucket],
        e: Timestamp,
    ) -> Result<ScopeState, StoreError> {
        if self.take(Fault::Apply) {
            return Err(injected("UpdateItem"));
        }
        self.inner.apply(s, b, d, e).await
    }
    async fn read(&self, s: &Scope) -> Result<ScopeState, StoreError> {
        self.inner.read(s).await
    }
    async fn forget(&self, s: &Scope, t: &[Timestamp], m: &[Timestamp]) -> Result<(), StoreError> {
        self.inner.forget(s, t, m).await
    }
    async fn transition(
        &self,
        s: &Scope,
        v: u64,
        n: &Incident,
        a: &Alert,
        c: &Claim,
    ) -> Result<bool, StoreError> {
        if self.take(Fault::TransitionBefore) {
            return Err(injected("TransactWriteItems"));
        }
        let r = self.inner.transition(s, v, n, a, c).await;
        if self.take(Fault::TransitionAfter) {
            assert_eq!(r, Ok(true), "the transition was made");
            return Err(injected("TransactWriteItems"));
        }
        r
    }
    async fn attention(&self) -> Result<Attention, StoreError> {
        self.inner.attention().await
    }
    async fn claim(&self, id: &str, c: &Claim) -> Result<bool, StoreError> {
        self.inner.claim(id, c).await
    }
    async fn delivered(&self, id: &str) -> Result<(), StoreError> {
        if self.take(Fault::Delivered) {
            return Err(injected("DeleteItem"));
        }
        self.inner.delivered(id).await
    }
}

/// SNS through the real adapter, failing or hanging on demand.
struct Sns {
    real: SnsNotifier,
    fail: AtomicBool,
    hang: AtomicBool,
}

impl Notifier for Sns {
    async fn publish(&self, topic: &str, n: &Notification) -> Result<String, AwsError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(AwsError::new("Publish", "injected failure"));
        }
        self.real.publish(topic, n).await
    }
}

/// (d) One failure at `fault`, then what Lambda or the schedule does next: exactly one alert.
async fn exactly_one_alert_despite(fault: Fault) {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let stub = BedrockStub::start();
    let topic = create_topic(&sdk, "alerts").await;
    let ingest = Ingest::new(
        config(&topic, &[("MAX_REQUESTS", "5")]),
        BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await),
        CloudWatchMetrics::new(&sdk),
        Sns {
            real: SnsNotifier::new(&sdk),
            fail: AtomicBool::new(fault == Fault::Publish),
            hang: AtomicBool::new(fault == Fault::Timeout),
        },
        Faulty {
            inner: state_table(&sdk).await,
            fault: std::sync::Mutex::new(Some(fault)),
        },
    );
    let m = minute_ago(2);
    let msgs: Vec<(i64, String)> = (0..8)
        .map(|i| direct_call(m + i, HUMAN, &format!("q{i}")))
        .collect();
    let ev = event(&msgs);
    let now = Timestamp(m + 59);
    let lease = bedrock_meter_core::live::detector::DELIVERY_LEASE_SECS;
    match fault {
        Fault::Apply | Fault::TransitionBefore | Fault::TransitionAfter => {
            let err = ingest
                .handle(&ev, now)
                .await
                .expect_err("a store failure fails");
            assert!(matches!(err, ingest::IngestError::Detector(_)), "{err}");
            assert!(moto.sns_sent("alerts").is_empty());
            // Lambda retries the same batch.
            let out = ingest.handle(&ev, Timestamp(now.0 + 60)).await.unwrap();
            assert_eq!(out.alerts.len(), 1, "{out:?}");
        }
        Fault::Publish => {
            let out = ingest.handle(&ev, now).await.unwrap();
            assert_eq!(out.alert_publish_failures, 1);
            assert!(moto.sns_sent("alerts").is_empty());
            let cw = aws_sdk_cloudwatch::Client::new(&sdk);
            assert_eq!(
                read_metric(&cw, "AlertPublishFailures", &[], now.minute().0, 1).await,
                vec![(now.minute().0, 1.0)]
            );
            ingest.notifier().fail.store(false, Ordering::SeqCst);
            // A batch within the lease leaves it alone; the tick after the lease sends it.
            let other = event(&[direct_call(m + 30, "arn:aws:iam::1:user/z", "z")]);
            assert!(ingest
                .handle(&other, Timestamp(now.0 + 30))
                .await
                .unwrap()
                .alerts
                .is_empty());
            let out = ingest.tick(Timestamp(now.0 + lease + 1)).await.unwrap();
            assert_eq!(out.alerts.len(), 1, "{out:?}");
        }
        Fault::Delivered => {
            let out = ingest.handle(&ev, now).await.unwrap();
            assert_eq!(out.alert_confirm_failures, 1);
            assert_eq!(moto.sns_sent("alerts").len(), 1);
            // After the lease the outbox hands it out again: this instance knows it sent it.
            let out = ingest.tick(Timestamp(now.0 + lease + 1)).await.unwrap();
            assert_eq!(out.alerts.len(), 1, "{out:?}");
        }
        Fault::Timeout => {
            let r = tokio::time::timeout(Duration::from_secs(2), ingest.handle(&ev, now)).await;
            assert!(r.is_err(), "the invocation timed out");
            assert!(moto.sns_sent("alerts").is_empty());
            ingest.notifier().hang.store(false, Ordering::SeqCst);
            // Lambda retries the timed-out batch: its own alert is taken back at once.
            let out = ingest.handle(&ev, Timestamp(now.0 + 60)).await.unwrap();
            assert_eq!(out.alerts.len(), 1, "{out:?}");
        }
    }
    // Whatever comes later sends nothing more, and nothing is left undelivered.
    for later in [now.0 + 61, now.0 + 2 * lease + 2, now.0 + 4 * lease] {
        let out = ingest.tick(Timestamp(later)).await.unwrap();
        assert!(out.alerts.is_empty(), "{fault:?}: {out:?}");
    }
    let sent = moto.sns_sent("alerts");
    assert_eq!(sent.len(), 1, "{fault:?}: {sent:?}");
    assert_eq!(
        sent[0][2].as_str().unwrap(),
        "Bedrock runaway: unattributed (unattributed) 8 requests in 15 min"
    );
    let pending = ingest
        .detector()
        .store()
        .inner
        .attention()
        .await
        .unwrap()
        .pending;
    assert!(pending.is_empty(), "{pending:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_when_the_add_fails() {
    exactly_one_alert_despite(Fault::Apply).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_when_the_compare_and_set_fails() {
    exactly_one_alert_despite(Fault::TransitionBefore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_when_the_store_fails_after_the_compare_and_set() {
    exactly_one_alert_despite(Fault::TransitionAfter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_when_sns_fails() {
    exactly_one_alert_despite(Fault::Publish).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_when_recording_the_delivery_fails() {
    exactly_one_alert_despite(Fault::Delivered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_when_the_invocation_times_out_between_compare_and_set_and_publish() {
    exactly_one_alert_despite(Fault::Timeout).await;
}

//! OTLP export of the live path (docs/otel.md) against a real receiver: `scripts/otlp_receiver.py`
//! decodes every request with the official OTLP protobuf definitions (PyPI `opentelemetry-proto`).
//! The real ingest handler runs with CloudWatch on moto (behind the strict proxy), profiles from the
//! Bedrock stub, and the real OTLP adapter (`aws::otlp`).
//!
//! What is checked: the token and dollar sums the receiver decoded equal the `report` path's (the
//! daily rollup priced with `price_rows`, as `bedrock-meter report` does) for the same records, under
//! the GenAI convention names; and a failing collector (HTTP 500, closed port) fails no batch and
//! costs no CloudWatch datum.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bedrock_meter_core::attribution::profiles::ProfileDirectory;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::aws::bedrock::BedrockProfiles;
use bedrock_meter_core::aws::cloudwatch::CloudWatchMetrics;
use bedrock_meter_core::aws::otlp::{OtlpConfig, OtlpMetrics};
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::daily::rollup::{price_rows, Rollup};
use bedrock_meter_core::live::detector::MemoryStore;
use bedrock_meter_core::live::otel::OTLP_EXPORT_FAILURES;
use bedrock_meter_core::ports::metrics::{Datum, MetricsSink};
use bedrock_meter_core::ports::profiles::CachedProfiles;
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::pricing::money::Money;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::records::record::parse;
use bedrock_meter_core::time::Timestamp;
use bedrock_meter_integration_tests::bedrock_stub::{BedrockStub, StubProfile};
use bedrock_meter_integration_tests::{
    free_port, http_request, minute_ago, sdk_config_for, subscription_event_json, Moto,
};
use ingest::{Config, Ingest, SubscriptionEvent};
use serde_json::Value;

const LOG_GROUP: &str = "/aws/bedrock/modelinvocations";
const SONNET45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA_LITE: &str = "amazon.nova-lite-v1:0";

/// The receiver, a child process on its own port.
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(status: Option<u16>) -> Receiver {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        // The venv of scripts/setup-venv.sh (the one MOTO_SERVER points into when set).
        let python = std::env::var("MOTO_SERVER")
            .ok()
            .map(|m| PathBuf::from(m).with_file_name("python"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        let port = free_port();
        let mut cmd = Command::new(&python);
        cmd.arg(root.join("scripts/otlp_receiver.py"))
            .arg(port.to_string());
        if let Some(s) = status {
            cmd.args(["--status", &s.to_string()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (scripts/setup-venv.sh)",
                    python.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_request(port, "GET", "/health", None).is_none() {
            assert!(Instant::now() < deadline, "OTLP receiver did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Receiver { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn received(&self) -> Value {
        serde_json::from_str(&http_request(self.port, "GET", "/received", None).unwrap()).unwrap()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CloudWatch on moto, with every datum put kept for comparison.
struct Recording {
    inner: CloudWatchMetrics,
    put: Arc<Mutex<Vec<Datum>>>,
}

impl MetricsSink for Recording {
    async fn put_metric_data(&self, namespace: &str, datums: &[Datum]) -> Result<(), AwsError> {
        self.inner.put_metric_data(namespace, datums).await?;
        self.put.lock().unwrap().extend_from_slice(datums);
        Ok(())
    }
}

/// A record as Bedrock logs it (t = input, output, cache read, cache write).
fn record(ts: i64, model_id: &str, caller: &str, t: [u64; 4], error: bool) -> String {
    let err = if error {
        r#""errorCode":"ThrottlingException","#
    } else {
        ""
    };
    format!(
        r#"{{"timestamp":"{}","accountId":"111122223333","identity":{{"arn":"{caller}"}},"region":"us-east-1","requestId":"r-{ts}-{}","operation":"Converse","modelId":"{model_id}",{err}"input":{{"inputContentType":"application/json","inputBodyJson":{{"messages":[{{"role":"user","content":[{{"text":"SECRET PROMPT TEXT"}}]}}]}},"inputTokenCount":{},"cacheReadInputTokenCount":{},"cacheWriteInputTokenCount":{}}},"output":{{"outputContentType":"application/json","outputTokenCount":{}}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
        Timestamp(ts),
        t.iter().sum::<u64>(),
        t[0],
        t[2],
        t[3],
        t[1]
    )
}

fn batch() -> Vec<(i64, String)> {
    let m = minute_ago(2);
    let alice = "arn:aws:iam::111122223333:user/alice";
    let agent = "arn:aws:sts::111122223333:assumed-role/OpsAgent/s-1";
    let agent2 = "arn:aws:sts::111122223333:assumed-role/OpsAgent/s-2";
    let profile = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/opsagent01";
    let mut v = vec![
        (m, record(m, SONNET45, alice, [1200, 300, 5000, 800], false)),
        (m + 1, record(m + 1, SONNET45, alice, [10, 5, 0, 0], false)),
        (
            m + 2,
            record(m + 2, NOVA_LITE, agent, [400, 90, 100, 0], false),
        ),
        (m + 3, record(m + 3, profile, agent, [77, 33, 0, 0], false)),
        (m + 4, record(m + 4, profile, agent2, [50, 0, 0, 0], true)),
        // Unknown model: unpriced, counted, never $0 spend.
        (
            m + 5,
            record(m + 5, "made.up-model-v9:0", alice, [9, 9, 0, 0], false),
        ),
    ];
    for i in 0..40 {
        v.push((
            m + 60 + i,
            record(
                m + 60 + i,
                NOVA_LITE,
                agent2,
                [100 + i as u64, 7, 0, 0],
                false,
            ),
        ));
    }
    v
}

fn event(messages: &[(i64, String)]) -> SubscriptionEvent {
    serde_json::from_str(&subscription_event_json(
        "111122223333",
        LOG_GROUP,
        messages,
    ))
    .unwrap()
}

fn config(ns: &str) -> Config {
    let env = [
        ("METRICS_NAMESPACE", ns.to_string()),
        ("LOG_GROUP_NAME", LOG_GROUP.to_string()),
        ("MAX_COST_USD", "1000".to_string()),
        ("MAX_REQUESTS", "100000".to_string()),
    ];
    Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

async fn stub() -> BedrockStub {
    let stub = BedrockStub::start();
    stub.add_profile(StubProfile::new(
        "opsagent01",
        "ops-agent-prod",
        SONNET45,
        &[("app", "ops-agent"), ("team", "platform")],
    ));
    stub
}

type Live = Ingest<BedrockProfiles, Recording, SnsNotifier, MemoryStore>;
type Put = Arc<Mutex<Vec<Datum>>>;

async fn live(moto: &Moto, stub: &BedrockStub, ns: &str, otlp: Option<&str>) -> (Live, Put) {
    let sdk = moto.sdk_config().await;
    let put: Put = Default::default();
    let mut ingest = Ingest::new(
        config(ns),
        BedrockProfiles::new(&sdk_config_for(&stub.endpoint()).await),
        Recording {
            inner: CloudWatchMetrics::new(&sdk),
            put: put.clone(),
        },
        SnsNotifier::new(&sdk),
        MemoryStore::new(),
    );
    if let Some(endpoint) = otlp {
        let c = OtlpConfig::from_lookup(|k| {
            (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| endpoint.to_string())
        })
        .unwrap()
        .unwrap();
        // Short, so the closed-port and 500 cases stay quick.
        let c = OtlpConfig {
            timeout: Duration::from_secs(3),
            ..c
        };
        ingest = ingest.with_otel(Arc::new(OtlpMetrics::new(&c).unwrap()));
    }
    (ingest, put)
}

/// What `bedrock-meter report` sums for the records: the rollup, priced per row.
struct ReportSums {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    cost: Money,
    requests: u64,
    unpriced: u64,
}

async fn report_of(messages: &[(i64, String)], stub: &BedrockStub) -> ReportSums {
    let cfg = AttributionConfig::default();
    let prices = PriceTable::embedded();
    let mut rollup = Rollup::default();
    for (_, m) in messages {
        rollup.add_record(&parse(m).unwrap(), &cfg, &prices);
    }
    // The profiles as the report reads them (looked up in the same Bedrock stub).
    let sdk = sdk_config_for(&stub.endpoint()).await;
    let mut profiles = CachedProfiles::new(BedrockProfiles::new(&sdk), Duration::from_secs(300));
    let arns: Vec<String> = rollup
        .rows
        .keys()
        .filter(|k| k.model_id.contains("application-inference-profile"))
        .map(|k| k.model_id.clone())
        .collect();
    let r = profiles.prefetch(arns.iter().map(String::as_str)).await;
    assert!(r.failed.is_empty());
    let dir: &dyn ProfileDirectory = &profiles;
    let rows = price_rows(rollup.rows.iter(), dir, &prices, &cfg);
    let mut s = ReportSums {
        input: 0,
        output: 0,
        cache_read: 0,
        cache_write: 0,
        cost: Money::ZERO,
        requests: 0,
        unpriced: 0,
    };
    for r in rows {
        let t = r.usage.tokens;
        s.input += t.input;
        s.output += t.output;
        s.cache_read += t.cache_read;
        s.cache_write += t.cache_write;
        s.requests += r.usage.requests;
        match r.cost {
            Ok(c) => s.cost += c,
            Err(_) => s.unpriced += r.usage.requests,
        }
    }
    s
}

fn points<'a>(got: &'a Value, metric: &str) -> Vec<&'a Value> {
    got["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metric"] == metric)
        .collect()
}

fn sum_values(ps: &[&Value]) -> f64 {
    ps.iter().map(|p| p["value"].as_f64().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_sums_equal_the_reports() {
    let moto = Moto::start();
    let stub = stub().await;
    let receiver = Receiver::start(None);
    let (ingest, _) = live(&moto, &stub, "OtlpSums", Some(&receiver.endpoint())).await;
    let msgs = batch();
    let out = ingest
        .handle(&event(&msgs), Timestamp::now())
        .await
        .expect("batch handled");
    assert_eq!(out.records, msgs.len());
    assert_eq!(out.otlp_export_failures, 0);

    let got = receiver.received();
    assert_eq!(got["undecodable"], 0);
    assert_eq!(got["requests"], 1, "one OTLP request a batch");
    let want = report_of(&msgs, &stub).await;

    // gen_ai.client.token.usage: one histogram value per request and token type; input includes the
    // cache tokens Bedrock's inputTokenCount leaves out.
    let usage = points(&got, "gen_ai.client.token.usage");
    assert!(!usage.is_empty());
    let by_type = |ty: &str| -> (f64, u64) {
        usage
            .iter()
            .filter(|p| p["attributes"]["gen_ai.token.type"] == ty)
            .fold((0.0, 0), |(s, n), p| {
                (
                    s + p["sum"].as_f64().unwrap(),
                    n + p["count"].as_u64().unwrap(),
                )
            })
    };
    let (input, n_in) = by_type("input");
    let (output, n_out) = by_type("output");
    assert_eq!(
        input as u64,
        want.input + want.cache_read + want.cache_write
    );
    assert_eq!(output as u64, want.output);
    assert_eq!((n_in, n_out), (want.requests, want.requests));
    for p in &usage {
        assert_eq!(p["kind"], "histogram");
        assert_eq!(p["unit"], "{token}");
        assert_eq!(p["attributes"]["gen_ai.provider.name"], "aws.bedrock");
        assert_eq!(p["temporality"], 1, "delta");
        assert_eq!(p["explicit_bounds"][0], 1.0);
    }
    // The cache counters (convention names), the requests, and the dollars under our namespace.
    let read = points(
        &got,
        "gen_ai.client.inference.usage.cache_read.input_tokens",
    );
    let write = points(
        &got,
        "gen_ai.client.inference.usage.cache_write.input_tokens",
    );
    assert_eq!(sum_values(&read) as u64, want.cache_read);
    assert_eq!(sum_values(&write) as u64, want.cache_write);
    assert!(read
        .iter()
        .all(|p| p["attributes"]["gen_ai.token.modality"] == "unknown"));
    assert_eq!(
        sum_values(&points(&got, "bedrock_meter.requests")) as u64,
        want.requests
    );
    assert_eq!(
        sum_values(&points(&got, "bedrock_meter.unpriced.requests")) as u64,
        want.unpriced
    );
    assert_eq!(want.unpriced, 1);
    let cost = points(&got, "bedrock_meter.cost");
    assert!(cost
        .iter()
        .all(|p| p["unit"] == "USD" && p["kind"] == "sum"));
    let usd = sum_values(&cost);
    assert!(want.cost > Money::ZERO);
    assert!(
        (usd - want.cost.as_f64()).abs() < 1e-9,
        "OTLP ${usd} vs report ${}",
        want.cost.as_f64()
    );

    // Attribution: the profile's app, team and ARN; the caller is the role, not the session.
    let profile_usage: Vec<&&Value> = usage
        .iter()
        .filter(|p| p["attributes"]["bedrock_meter.app"] == "ops-agent")
        .collect();
    assert!(!profile_usage.is_empty());
    for p in profile_usage {
        let a = &p["attributes"];
        assert_eq!(a["bedrock_meter.team"], "platform");
        assert_eq!(
            a["bedrock_meter.profile"],
            "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/opsagent01"
        );
        assert_eq!(a["gen_ai.request.model"], SONNET45);
        assert_eq!(
            a["bedrock_meter.caller"],
            "arn:aws:sts::111122223333:assumed-role/OpsAgent"
        );
        assert_eq!(a["gen_ai.operation.name"], "chat");
    }
    assert!(usage
        .iter()
        .any(|p| p["attributes"]["error.type"] == "ThrottlingException"));
    // Never the prompt or response text.
    assert!(!got.to_string().contains("SECRET"));
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_collector_costs_no_cloudwatch_datum() {
    let moto = Moto::start();
    let stub = stub().await;
    let msgs = batch();
    let now = Timestamp::now();
    // Without OTLP: the datums CloudWatch gets for this batch.
    let (plain, plain_rec) = live(&moto, &stub, "OtlpPlain", None).await;
    plain.handle(&event(&msgs), now).await.unwrap();
    let baseline = plain_rec.lock().unwrap().clone();
    assert!(!baseline.is_empty());

    let failing = Receiver::start(Some(500));
    let closed = format!("http://127.0.0.1:{}", free_port());
    for (ns, endpoint) in [
        ("OtlpFailing500", failing.endpoint()),
        ("OtlpClosed", closed),
    ] {
        let (ingest, rec) = live(&moto, &stub, ns, Some(&endpoint)).await;
        let out = ingest
            .handle(&event(&msgs), now)
            .await
            .unwrap_or_else(|e| panic!("{ns}: the batch must not fail: {e}"));
        assert_eq!(out.otlp_export_failures, 1, "{ns}");
        let put = rec.lock().unwrap().clone();
        let (failures, rest): (Vec<Datum>, Vec<Datum>) = put
            .into_iter()
            .partition(|d| d.metric == OTLP_EXPORT_FAILURES);
        assert_eq!(
            rest, baseline,
            "{ns}: every CloudWatch datum, as without OTLP"
        );
        assert_eq!(failures.len(), 1, "{ns}");
        assert_eq!(failures[0].value, 1.0);
        // And moto holds the failure count.
        let cw = aws_sdk_cloudwatch::Client::new(&moto.sdk_config().await);
        let listed = cw
            .list_metrics()
            .namespace(ns)
            .metric_name(OTLP_EXPORT_FAILURES)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.metrics().len(), 1, "{ns}");
    }
    assert!(
        failing.received()["requests"].as_u64().unwrap() >= 1,
        "the 500 collector was called"
    );
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());
}

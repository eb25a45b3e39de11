//! The daily rollup end to end: the real handler with the real aws-sdk-athena and aws-sdk-sns clients
//! against moto (Athena answers with seeded results; SNS records what was published).
//!
//! moto's Athena cannot produce a FAILED query and returns all seeded rows in one page (no NextToken),
//! so two cases point the same real Athena client at a small local endpoint speaking Athena's JSON
//! protocol ([`AthenaStub`]), with the real SNS client on moto: results over several pages, and a
//! FAILED query. A query that never finishes is real moto (its state manager holds the execution in
//! QUEUED/RUNNING) and is stopped with the real client.
//! moto has no Bedrock inference profiles: profiles come from a fake [`ProfileSource`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_meter_core::attribution::profiles::Profile;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::aws::athena::AthenaEngine;
use bedrock_meter_core::aws::s3::S3Store;
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::daily::athena_sql::{result_columns, RollupQuery, TableRef};
use bedrock_meter_core::ports::profiles::ProfileSource;
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::{Date, Timestamp};
use bedrock_meter_integration_tests::{athena_result, sdk_config_for, Moto};
use bedrock_meter_rollup::{handle, handle_until, Config, Deps, RollupError, ALERT_RESERVE};
use serde_json::{json, Value};

const ACCT: &str = "123456789012";
const WORKGROUP: &str = "bedrock-meter-wg";

fn arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/{id}")
}

fn fm(region: &str, model: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{model}")
}

const HAIKU: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";
const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

/// Profiles from memory (moto has no Bedrock inference profiles).
struct FakeProfiles(Vec<Profile>);

impl ProfileSource for FakeProfiles {
    async fn get_profile(&self, arn: &str) -> Result<Option<Profile>, AwsError> {
        Ok(self.0.iter().find(|p| p.arn == arn).cloned())
    }
    async fn list_application_profiles(&self) -> Result<Vec<Profile>, AwsError> {
        Ok(self.0.clone())
    }
}

fn profiles() -> FakeProfiles {
    let us3 = |m: &str| {
        ["us-east-1", "us-east-2", "us-west-2"]
            .iter()
            .map(|r| fm(r, m))
            .collect::<Vec<_>>()
    };
    let p = |id: &str, models: Vec<String>, app: &str, team: &str| Profile {
        arn: arn(id),
        id: id.into(),
        name: app.into(),
        model_arns: models,
        tags: [("app".into(), app.into()), ("team".into(), team.into())].into(),
    };
    FakeProfiles(vec![
        p(
            "fraud01",
            vec![fm("us-east-1", "amazon.nova-lite-v1:0")],
            "fraud-scorer",
            "fraud-risk",
        ),
        p("fraudagent01", us3(HAIKU), "fraud-agent", "fraud-risk"),
        p("support01", us3(SONNET), "support-bot", "cx"),
    ])
}

fn day() -> Date {
    Date::parse("2026-11-25").unwrap()
}

fn now() -> Timestamp {
    Timestamp::parse_iso8601("2026-11-26T06:00:03Z").unwrap()
}

fn config(report_topic: &str, alert_topic: &str, timeout: Duration) -> Config {
    Config {
        workgroup: WORKGROUP.into(),
        table: TableRef {
            database: "bedrock_meter".into(),
            table: "invocation_logs".into(),
        },
        report_topic_arn: report_topic.into(),
        alert_topic_arn: alert_topic.into(),
        attribution: AttributionConfig {
            metadata_keys: vec!["tenant".into()],
            ..Default::default()
        },
        query_timeout: timeout,
        profiles_snapshot_bucket: None,
        cur_table: None,
        reports: None,
        chat_format: false,
        fan_in: None,
    }
}

type Row = Vec<Option<String>>;

fn row(v: [&str; 13]) -> Row {
    v.iter()
        .map(|s| (*s != "NULL").then(|| s.to_string()))
        .collect()
}

/// The day's rows, and what they cost — computed here by hand from the published rates (USD per 1M
/// tokens, US Regions), not by the core:
/// - fraud-scorer (Nova Lite, in-Region): 10M in × 0.06 + 2M out × 0.24 = 0.60 + 0.48 = 1.08
/// - fraud-agent (Haiku 4.5, `us` geography): 1M in × 1.10 + 0.1M out × 5.50 + 2M cache read × 0.11
///   + 0.4M cache write × 1.375 = 1.10 + 0.55 + 0.22 + 0.55 = 2.42        → fraud-risk 3.50
/// - support-bot (Sonnet 4.5, `us`): long context 0.3M in × 6.60 + 0.01M out × 24.75 = 2.2275, and
///   1M in × 3.30 + 0.1M out × 16.50 = 4.95                               → cx 7.1775
/// - direct `us.` Haiku 4.5: 2M in × 1.10 = 2.20; an unpriced model        → unattributed 2.20 + unpriced
///
/// Rows are per UTC hour (the `hour_utc` column): both fraud-risk apps in hour 2; support-bot's long
/// context and 0.6M in + 0.06M out (1.98 + 0.99 = 2.97) in hour 9, its other 0.4M in + 0.04M out
/// (1.32 + 0.66 = 1.98) in hour 14 — the same key in two hours, summed back to 4.95 for the day; the
/// direct Haiku calls and the unpriced model in hour 14.
fn day_rows() -> Vec<Row> {
    let scorer = arn("fraud01");
    let agent = arn("fraudagent01");
    let support = arn("support01");
    let role = |r: &str| format!("arn:aws:sts::{ACCT}:assumed-role/{r}/s1");
    vec![
        row([
            &scorer,
            "us-east-1",
            &role("FraudScorer"),
            "acme",
            "0",
            "2",
            "100",
            "0",
            "10000000",
            "2000000",
            "0",
            "0",
            "0",
        ]),
        row([
            &agent,
            "us-east-1",
            &role("FraudAgent"),
            "",
            "0",
            "2",
            "50",
            "2",
            "1000000",
            "100000",
            "2000000",
            "400000",
            "0",
        ]),
        row([
            &support,
            "us-east-1",
            &role("Support"),
            "globex",
            // Prompt band 2: 300K is over the table's 100K (Haiku 5.5) and 200K (Sonnet 4 / 4.5)
            // thresholds, not its 272K (GPT-5.6) one.
            "2",
            "9",
            "1",
            "0",
            "300000",
            "10000",
            "0",
            "0",
            "0",
        ]),
        row([
            &support,
            "us-east-1",
            &role("Support"),
            "globex",
            "0",
            "9",
            "12",
            "0",
            "600000",
            "60000",
            "0",
            "0",
            "0",
        ]),
        row([
            &support,
            "us-east-1",
            &role("Support"),
            "globex",
            "0",
            "14",
            "8",
            "0",
            "400000",
            "40000",
            "0",
            "0",
            "0",
        ]),
        row([
            &format!("us.{HAIKU}"),
            "us-east-1",
            &format!("arn:aws:iam::{ACCT}:user/alice"),
            "NULL",
            "0",
            "14",
            "30",
            "3",
            "2000000",
            "0",
            "0",
            "0",
            "0",
        ]),
        row([
            "amazon.titan-text-express-v1",
            "us-east-1",
            &format!("arn:aws:iam::{ACCT}:user/carol"),
            "",
            "0",
            "14",
            "5",
            "0",
            "1000",
            "100",
            "0",
            "0",
            "0",
        ]),
    ]
}

/// The previous day: fraud-risk only, 5M Nova Lite in (0.30) + 2M Haiku `us` in (2.20) = 2.50.
fn prev_rows() -> Vec<Row> {
    let role = |r: &str| format!("arn:aws:sts::{ACCT}:assumed-role/{r}/s1");
    vec![
        row([
            &arn("fraud01"),
            "us-east-1",
            &role("FraudScorer"),
            "",
            "0",
            "3",
            "40",
            "0",
            "5000000",
            "0",
            "0",
            "0",
            "0",
        ]),
        row([
            &arn("fraudagent01"),
            "us-east-1",
            &role("FraudAgent"),
            "",
            "0",
            "4",
            "10",
            "0",
            "2000000",
            "0",
            "0",
            "0",
            "0",
        ]),
    ]
}

fn expected_subjects() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "cx",
            "Bedrock spend 2026-11-25 - cx: $7.18 (new vs 2026-11-24)",
        ),
        (
            "fraud-risk",
            "Bedrock spend 2026-11-25 - fraud-risk: $3.50 (+40% vs 2026-11-24)",
        ),
        (
            "unattributed",
            "Bedrock spend 2026-11-25 - unattributed: $2.20 + unpriced (new vs 2026-11-24)",
        ),
        // 12.8775 vs 2.50: +415%
        (
            "all",
            "Bedrock spend 2026-11-25 - all teams: $12.88 + unpriced (+415% vs 2026-11-24)",
        ),
    ]
}

/// Athena's result shape for moto's seeding endpoint: header row first.
fn seeded(rows: &[Row]) -> Value {
    athena_result(&result_columns(1), rows)
}

/// The handler's dependencies: SNS and S3 on moto, the test's profiles, Athena as given.
fn deps_with<E>(e: &Env, engine: E) -> Deps<E, FakeProfiles, SnsNotifier, S3Store> {
    Deps {
        engine,
        profiles: profiles(),
        notifier: SnsNotifier::new(&e.conf),
        store: S3Store::new(&e.conf),
        fan_in_store: None,
        prices: PriceTable::embedded(),
        mantle: None,
        batch: None,
    }
}

/// Moto's Athena answers the day's query and the previous day's with the seeded rows.
fn seed_results(e: &Env) {
    e.moto.post_json(
        "/moto-api/static/athena/query-results",
        &json!({"results": [seeded(&day_rows()), seeded(&prev_rows())]}),
    );
}

struct Env {
    moto: Moto,
    conf: aws_config::SdkConfig,
    reports: String,
    alerts: String,
}

async fn env() -> Env {
    let moto = Moto::start();
    let conf = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&conf);
    let topic = |name: &'static str| {
        let sns = sns.clone();
        async move {
            sns.create_topic()
                .name(name)
                .send()
                .await
                .unwrap()
                .topic_arn()
                .unwrap()
                .to_string()
        }
    };
    let reports = topic("bedrock-meter-reports").await;
    let alerts = topic("bedrock-meter-alerts").await;
    aws_sdk_athena::Client::new(&conf)
        .create_work_group()
        .name(WORKGROUP)
        .send()
        .await
        .unwrap();
    Env {
        moto,
        conf,
        reports,
        alerts,
    }
}

/// (team attribute, subject, body) of each message published to a topic.
fn published(moto: &Moto, topic: &str) -> Vec<(String, String, String)> {
    moto.published(topic)
}

fn check_reports(msgs: &[(String, String, String)]) {
    let mut got: Vec<(&str, &str)> = msgs
        .iter()
        .map(|(t, s, _)| (t.as_str(), s.as_str()))
        .collect();
    let all = got.pop().expect("a summary");
    got.sort();
    got.push(all);
    assert_eq!(
        got,
        expected_subjects(),
        "one message per team, then the summary"
    );
    let body = |team: &str| {
        msgs.iter()
            .find(|(t, _, _)| t == team)
            .map(|(_, _, b)| b.as_str())
            .unwrap()
    };
    let fraud = body("fraud-risk");
    assert!(
        fraud.contains("Total         $3.50   (+40% vs $2.50 on 2026-11-24)"),
        "{fraud}"
    );
    assert!(fraud.contains("fraud-agent "), "{fraud}");
    assert!(fraud.contains("$2.42"), "{fraud}");
    assert!(fraud.contains("fraud-scorer "));
    assert!(fraud.contains("$1.08"));
    assert!(
        !fraud.contains("support-bot"),
        "a team sees only its own apps"
    );
    assert!(fraud.contains("Requests      150 (2 errors)"));
    assert!(fraud.contains("By tenant\n  (none) "), "{fraud}");
    assert!(fraud.contains("\n  acme "), "{fraud}");
    let cx = body("cx");
    assert!(cx.contains("$7.18"), "{cx}");
    assert!(cx.contains("anthropic.claude-sonnet-4-5-20250929-v1:0"));
    let summary = body("all");
    assert!(summary.contains("By team\n"));
    assert!(summary.contains(
        "Unattributed direct spend (calls that bypass application profiles): $2.20 + unpriced in 35 requests"
    ));
    assert!(summary.contains(
        "Unpriced models (NOT included in the totals)\n  amazon.titan-text-express-v1 — unknown model: 5 requests"
    ));
    let as_of = bedrock_meter_core::pricing::prices::PriceTable::embedded().as_of;
    assert!(summary.contains(&format!("price table as of {as_of}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_reports_per_team_and_summary_from_athena_on_moto() {
    let e = env().await;
    seed_results(&e);
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    let cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert_eq!(out.date, "2026-11-25");
    assert_eq!(out.total_usd, "12.877500");
    assert_eq!(out.unpriced_requests, 5);

    // The queries ran in the configured workgroup, with exactly the SQL `rollup-sql` prints.
    let athena = aws_sdk_athena::Client::new(&e.conf);
    let mut sent = Vec::new();
    for id in [&out.query_id, &out.previous_query_id] {
        let qe = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap();
        let qe = qe.query_execution().unwrap();
        assert_eq!(qe.work_group(), Some(WORKGROUP));
        assert_eq!(
            qe.query_execution_context().and_then(|c| c.database()),
            Some("bedrock_meter")
        );
        sent.push(qe.query().unwrap().to_string());
    }
    let prices = PriceTable::embedded();
    let sql = |d: Date| RollupQuery::new(cfg.table.clone(), d, &cfg.attribution, &prices).sql();
    assert_eq!(sent, [sql(day()), sql(day().pred())]);
    assert!(sent[0].contains("datehour BETWEEN '2026/11/25/00' AND '2026/11/26/00'"));
    let listed = athena
        .list_query_executions()
        .work_group(WORKGROUP)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.query_execution_ids().len(), 2);

    let msgs = published(&e.moto, "bedrock-meter-reports");
    for (team, subject, body) in &msgs {
        println!("--- team={team}\nSubject: {subject}\n\n{body}");
    }
    check_reports(&msgs);
    assert!(published(&e.moto, "bedrock-meter-alerts").is_empty());
}

/// The day's application profiles land in the log bucket as the Athena query pack's profiles table
/// (one JSON line per profile, resolved by the core), with least surprise: same run, same reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_profile_snapshot_for_the_query_pack_to_s3_on_moto() {
    let e = env().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&e.conf)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("bedrock-meter-logs")
        .send()
        .await
        .unwrap();
    seed_results(&e);
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    let mut cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    cfg.profiles_snapshot_bucket = Some("bedrock-meter-logs".into());
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert_eq!(
        out.profiles_snapshot.as_deref(),
        Some("s3://bedrock-meter-logs/bedrock-meter/profiles/2026-11-25.jsonl")
    );
    let obj = s3
        .get_object()
        .bucket("bedrock-meter-logs")
        .key("bedrock-meter/profiles/2026-11-25.jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(obj.content_type(), Some("application/x-ndjson"));
    let text = String::from_utf8(obj.body.collect().await.unwrap().to_vec()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["profile_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {text}"))
            .clone()
    };
    assert_eq!(
        by_id("fraudagent01"),
        json!({"snapshot_date": "2026-11-25", "profile_arn": arn("fraudagent01"),
               "profile_id": "fraudagent01", "name": "fraud-agent", "app": "fraud-agent",
               "team": "fraud-risk", "model_id": HAIKU, "pool": "geographic"})
    );
    assert_eq!(by_id("fraud01")["pool"], "in-region");
    assert_eq!(by_id("support01")["model_id"], SONNET);
    // The reports are unchanged by it.
    check_reports(&published(&e.moto, "bedrock-meter-reports"));
}

/// A snapshot that cannot be written (here: no such bucket) is a note in the summary; the reports go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_cannot_be_written_is_a_note_not_a_failure() {
    let e = env().await;
    seed_results(&e);
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    let mut cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    cfg.profiles_snapshot_bucket = Some("no-such-bucket".into());
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert_eq!(out.profiles_snapshot, None);
    assert!(
        out.notes.iter().any(|n| n.contains(
            "could not write the application-profile snapshot s3://no-such-bucket/bedrock-meter/profiles/2026-11-25.jsonl"
        ) && n.contains("NoSuchBucket")),
        "{:?}",
        out.notes
    );
    let msgs = published(&e.moto, "bedrock-meter-reports");
    assert_eq!(msgs.len(), 4);
    assert!(
        msgs[3].2.contains("application-profile snapshot"),
        "{}",
        msgs[3].2
    );
    assert!(published(&e.moto, "bedrock-meter-alerts").is_empty());
}

type Log<T> = Arc<Mutex<Vec<T>>>;

/// A local Athena endpoint speaking the JSON 1.1 protocol of the real service, for what moto's Athena
/// cannot do: it pages `GetQueryResults` (`page_size` rows per page, with `NextToken`) and can end
/// every query in FAILED. Query `i` (in start order) answers with `results[i]` (header row first).
struct AthenaStub {
    endpoint: String,
    /// (workgroup, database, query) of each StartQueryExecution.
    started: Log<(String, String, String)>,
    /// (query id, NextToken) of each GetQueryResults.
    reads: Log<(String, Option<String>)>,
}

impl AthenaStub {
    fn start(results: Vec<Vec<Row>>, page_size: usize, fail: Option<&'static str>) -> AthenaStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let started = Arc::new(Mutex::new(Vec::new()));
        let reads = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (started.clone(), reads.clone());
        let cols = result_columns(1);
        let pages: Vec<Vec<Vec<Row>>> = results
            .iter()
            .map(|rows| {
                let mut all: Vec<Row> = vec![cols.iter().map(|c| Some(c.clone())).collect()];
                all.extend(rows.iter().cloned());
                all.chunks(page_size).map(|c| c.to_vec()).collect()
            })
            .collect();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let (target, body) = read_request(&stream);
                let op = target.rsplit('.').next().unwrap_or_default().to_string();
                let id_of = |b: &Value| b["QueryExecutionId"].as_str().unwrap_or("").to_string();
                let out = match op.as_str() {
                    "StartQueryExecution" => {
                        let mut s = s.lock().unwrap();
                        s.push((
                            body["WorkGroup"].as_str().unwrap_or("").to_string(),
                            body["QueryExecutionContext"]["Database"]
                                .as_str()
                                .unwrap_or("")
                                .to_string(),
                            body["QueryString"].as_str().unwrap_or("").to_string(),
                        ));
                        json!({"QueryExecutionId": (s.len() - 1).to_string()})
                    }
                    "GetQueryExecution" => {
                        let id = id_of(&body);
                        let status = match fail {
                            Some(reason) => json!({"State": "FAILED", "StateChangeReason": reason}),
                            None => json!({"State": "SUCCEEDED"}),
                        };
                        json!({"QueryExecution": {"QueryExecutionId": id, "Status": status,
                            "Statistics": {"DataScannedInBytes": 123456}}})
                    }
                    "GetQueryResults" => {
                        let id = id_of(&body);
                        let token = body["NextToken"].as_str().map(str::to_string);
                        r.lock().unwrap().push((id.clone(), token.clone()));
                        let q: usize = id.parse().unwrap();
                        let p: usize =
                            token.map_or(0, |t| t.trim_start_matches("page-").parse().unwrap());
                        let cell = |v: &Option<String>| match v {
                            Some(s) => json!({ "VarCharValue": s }),
                            None => json!({}),
                        };
                        let mut out = json!({"ResultSet": {
                            "Rows": pages[q][p].iter().map(|row| json!({"Data": row.iter().map(cell).collect::<Vec<_>>()})).collect::<Vec<_>>(),
                            "ResultSetMetadata": {"ColumnInfo": cols.iter().map(|c| json!({"Name": c, "Label": c, "Type": "varchar"})).collect::<Vec<_>>()}
                        }});
                        if p + 1 < pages[q].len() {
                            out["NextToken"] = json!(format!("page-{}", p + 1));
                        }
                        out
                    }
                    other => panic!("unexpected Athena operation {other}"),
                };
                let text = out.to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        AthenaStub {
            endpoint,
            started,
            reads,
        }
    }

    async fn engine(&self) -> AthenaEngine {
        AthenaEngine::new(&sdk_config_for(&self.endpoint).await)
    }
}

/// (X-Amz-Target, JSON body) of one HTTP/1.1 request.
fn read_request(stream: &std::net::TcpStream) -> (String, Value) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let (mut len, mut target) = (0usize, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap(),
            "x-amz-target" => target = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (target, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_over_many_pages_give_the_same_reports() {
    let e = env().await;
    let stub = AthenaStub::start(vec![day_rows(), prev_rows()], 2, None);
    let deps = deps_with(&e, stub.engine().await);
    let cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert_eq!(out.total_usd, "12.877500");
    let reads = stub.reads.lock().unwrap().clone();
    // 1 header + 6 rows in pages of 2 → 4 pages; 1 header + 2 rows → 2 pages; each token followed.
    let tokens = |q: &str| -> Vec<Option<String>> {
        reads
            .iter()
            .filter(|(id, _)| id == q)
            .map(|(_, t)| t.clone())
            .collect()
    };
    assert_eq!(
        tokens("0"),
        [
            None,
            Some("page-1".into()),
            Some("page-2".into()),
            Some("page-3".into())
        ]
    );
    assert_eq!(tokens("1"), [None, Some("page-1".into())]);
    let started = stub.started.lock().unwrap().clone();
    assert_eq!(started.len(), 2);
    assert!(started
        .iter()
        .all(|(wg, db, _)| wg == WORKGROUP && db == "bedrock_meter"));
    check_reports(&published(&e.moto, "bedrock-meter-reports"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_query_is_an_error_and_an_alert_and_no_report() {
    let e = env().await;
    let stub = AthenaStub::start(
        vec![day_rows(), prev_rows()],
        100,
        Some("HIVE_BAD_DATA: Error parsing field value for field 11: For input string"),
    );
    let deps = deps_with(&e, stub.engine().await);
    let cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    let err = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap_err();
    assert!(matches!(err, RollupError::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("FAILED: HIVE_BAD_DATA"), "{err}");
    assert!(stub.reads.lock().unwrap().is_empty(), "no results read");
    assert!(published(&e.moto, "bedrock-meter-reports").is_empty());
    let alerts = e.moto.sns_sent("bedrock-meter-alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0][2].as_str(),
        Some("bedrock-meter: daily cost rollup FAILED for 2026-11-25")
    );
    let body = alerts[0][1].as_str().unwrap();
    assert!(body.contains("HIVE_BAD_DATA"), "{body}");
    assert!(body.contains("No cost report was sent"), "{body}");
    assert!(!body.contains("$0.00"), "{body}");
}

/// A run that would outlast the Lambda's deadline (a query still running, its own timeout far off) is
/// stopped [`ALERT_RESERVE`] before the deadline, and the failure alert is sent before the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_the_lambda_deadline_sends_its_failure_alert_first() {
    let e = env().await;
    e.moto.post_json(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 100000}}),
    );
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    // The query timeout (600 s) is far beyond the function's deadline (3 s after the reserve).
    let cfg = config(&e.reports, &e.alerts, Duration::from_secs(600));
    let t0 = std::time::Instant::now();
    let deadline = t0 + ALERT_RESERVE + Duration::from_secs(3);
    let err = handle_until(&deps, &cfg, &json!({}), now(), Some(deadline))
        .await
        .unwrap_err();
    assert!(matches!(err, RollupError::Deadline { .. }), "{err}");
    assert!(
        std::time::Instant::now() < deadline,
        "answered before the deadline"
    );
    assert!(published(&e.moto, "bedrock-meter-reports").is_empty());
    let alerts = e.moto.sns_sent("bedrock-meter-alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0][2].as_str(),
        Some("bedrock-meter: daily cost rollup FAILED for 2026-11-25")
    );
    assert!(
        alerts[0][1].as_str().unwrap().contains("deadline"),
        "{}",
        alerts[0][1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_never_finishes_is_stopped_an_error_and_an_alert() {
    let e = env().await;
    // Hold moto's executions in QUEUED/RUNNING (they advance only on many status reads).
    e.moto.post_json(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 100000}}),
    );
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    let cfg = config(&e.reports, &e.alerts, Duration::from_secs(2));
    let t0 = std::time::Instant::now();
    let err = handle(&deps, &cfg, &json!({}), now()).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert!(err.to_string().contains("still running after 2s"), "{err}");
    let athena = aws_sdk_athena::Client::new(&e.conf);
    let ids = athena
        .list_query_executions()
        .work_group(WORKGROUP)
        .send()
        .await
        .unwrap();
    let mut cancelled = 0;
    for id in ids.query_execution_ids() {
        let qe = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap();
        let state = qe
            .query_execution()
            .and_then(|q| q.status())
            .and_then(|s| s.state())
            .map(|s| s.as_str().to_string());
        cancelled += usize::from(state.as_deref() == Some("CANCELLED"));
    }
    assert!(cancelled >= 1, "the timed-out query was stopped");
    assert!(published(&e.moto, "bedrock-meter-reports").is_empty());
    let alerts = e.moto.sns_sent("bedrock-meter-alerts");
    assert_eq!(alerts.len(), 1);
    // The scheduled default: yesterday.
    assert_eq!(
        alerts[0][2].as_str(),
        Some("bedrock-meter: daily cost rollup FAILED for 2026-11-25")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_published_is_an_error_and_an_alert() {
    let e = env().await;
    let stub = AthenaStub::start(vec![day_rows(), prev_rows()], 100, None);
    let deps = deps_with(&e, stub.engine().await);
    let missing = format!("arn:aws:sns:us-east-1:{ACCT}:no-such-topic");
    let cfg = config(&missing, &e.alerts, Duration::from_secs(60));
    let err = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap_err();
    match &err {
        RollupError::Publish { failed, total } => assert_eq!((failed.len(), *total), (4, 4)),
        other => panic!("{other:?}"),
    }
    let alerts = e.moto.sns_sent("bedrock-meter-alerts");
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0][1]
        .as_str()
        .unwrap()
        .contains("could not be published"));
}

/// The bars of a page's chart of spend per hour: (hour, series, cost in USD without trailing zeros),
/// sorted.
fn bars(html: &str) -> Vec<(String, String, String)> {
    let attr = |line: &str, name: &str| -> String {
        let from = line.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        line[from..from + line[from..].find('"').unwrap()].to_string()
    };
    let mut v: Vec<(String, String, String)> = html
        .lines()
        .filter(|l| l.starts_with("<rect class=\"bar\""))
        .map(|l| {
            let cost = attr(l, "data-cost-usd");
            let cost = cost.trim_end_matches('0').trim_end_matches('.').to_string();
            (attr(l, "data-hour"), attr(l, "data-series"), cost)
        })
        .collect();
    v.sort();
    v
}

/// A seeded result with these columns (header row first), all varchar.
fn seeded_with(cols: &[&str], rows: &[Vec<&str>]) -> Value {
    let rows: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| r.iter().map(|v| Some(v.to_string())).collect())
        .collect();
    athena_result(cols, &rows)
}

/// With CUR_TABLE set, the summary gains the bill check of the latest fully billed day. The bill
/// (seeded as the CUR query's result) has lines for 2026-11-24 and 2026-11-25, so the 24th is the
/// latest complete day; its estimate is the previous-day rows: fraud-scorer 5M Nova Lite in × 0.06 =
/// 0.30 and fraud-agent 2M Haiku 4.5 `us` in × 1.10 = 2.20. The bill has fraud-scorer at 0.30 and
/// fraud-agent at 2.70: +0.50, all on fraud-agent's profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_reconciles_the_latest_fully_billed_day_with_the_cur_on_moto() {
    let e = env().await;
    let (scorer, agent) = (arn("fraud01"), arn("fraudagent01"));
    let bill = seeded_with(
        &["day", "key", "billed_usd"],
        &[
            vec!["2026-11-24", &scorer, "0.3000000000"],
            vec!["2026-11-24", &agent, "2.7000000000"],
            vec!["2026-11-25", &scorer, "1.0000000000"],
        ],
    );
    e.moto.post_json(
        "/moto-api/static/athena/query-results",
        &json!({"results": [seeded(&day_rows()), seeded(&prev_rows()), bill]}),
    );
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    let mut cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    cfg.cur_table = Some("cur_db.cur2".into());
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    // The reports themselves are unchanged.
    assert_eq!(out.total_usd, "12.877500");
    let msgs = published(&e.moto, "bedrock-meter-reports");
    check_reports(&msgs);
    let want = format!(
        "Bill check 2026-11-24 (latest fully billed day): billed $3.00, estimated $2.50, difference +$0.50; \
         most of it: {agent} [fraud-agent (fraud-risk)] +$0.50"
    );
    let summary = &msgs.last().unwrap().2;
    assert!(summary.contains(&want), "{summary}");
    assert!(out.notes.contains(&want), "{:?}", out.notes);
    // Team messages do not carry it.
    assert!(msgs[..msgs.len() - 1]
        .iter()
        .all(|(_, _, b)| !b.contains("Bill check")));
    // The CUR query went to the same workgroup, over the configured table.
    let athena = aws_sdk_athena::Client::new(&e.conf);
    let ids = athena
        .list_query_executions()
        .work_group(WORKGROUP)
        .send()
        .await
        .unwrap()
        .query_execution_ids()
        .to_vec();
    let mut sqls = Vec::new();
    for id in &ids {
        let q = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap();
        sqls.push(
            q.query_execution()
                .unwrap()
                .query()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert_eq!(sqls.len(), 3, "daily, previous day, bill: {sqls:?}");
    let cur = sqls
        .iter()
        .find(|q| q.contains("line_item_unblended_cost"))
        .unwrap();
    assert_eq!(
        cur,
        &bedrock_meter_core::daily::reconcile::bill_sql("cur_db.cur2", day(), 7)
    );
    assert!(cur.contains("FROM \"cur_db\".\"cur2\""));
}

/// Without CUR_TABLE: no bill query, no line (the other tests' runs), and `CUR_TABLE` is read from the
/// environment.
#[test]
fn the_bill_check_is_optional() {
    fn env(cur: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |k: &str| match k {
            "ATHENA_WORKGROUP" | "ATHENA_DATABASE" | "ATHENA_TABLE" | "REPORT_TOPIC_ARN"
            | "ALERT_TOPIC_ARN" => Some("x".to_string()),
            "CUR_TABLE" => cur.map(str::to_string),
            _ => None,
        }
    }
    assert_eq!(Config::from_lookup(env(None)).unwrap().cur_table, None);
    assert_eq!(
        Config::from_lookup(env(Some("  "))).unwrap().cur_table,
        None
    );
    assert_eq!(
        Config::from_lookup(env(Some("cur_db.cur2")))
            .unwrap()
            .cur_table
            .as_deref(),
        Some("cur_db.cur2")
    );
}

/// With a reports bucket, every team's HTML page and the summary's land under
/// `bedrock-meter/reports/<day>/` (private objects; the template makes the bucket encrypted, private
/// and expiring), and each email ends with the S3 console URL of its own page. A bucket that cannot be
/// written is a note, and the emails go without links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_each_teams_html_page_and_links_it_from_the_email_on_moto() {
    use bedrock_meter_rollup::reports::{console_url, page_key, ReportsBucket};
    let e = env().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&e.conf)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("bedrock-meter-reports")
        .send()
        .await
        .unwrap();
    seed_results(&e);
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    let mut cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    let rb = ReportsBucket {
        bucket: "bedrock-meter-reports".into(),
        region: "us-east-1".into(),
    };
    cfg.reports = Some(rb.clone());
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    let msgs = published(&e.moto, "bedrock-meter-reports");
    assert_eq!(msgs.len(), expected_subjects().len());
    let listed = s3
        .list_objects_v2()
        .bucket("bedrock-meter-reports")
        .prefix("bedrock-meter/reports/2026-11-25/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), msgs.len(), "one page per email");
    for (team, _, body) in &msgs {
        let team = (team != "all").then_some(team.as_str());
        let key = page_key(day(), team);
        let obj = s3
            .get_object()
            .bucket("bedrock-meter-reports")
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|err| panic!("{key}: {err:?}"));
        assert_eq!(obj.content_type(), Some("text/html; charset=utf-8"));
        let html = String::from_utf8(obj.body.collect().await.unwrap().to_vec()).unwrap();
        let who = team.map_or_else(|| "all teams".to_string(), |t| format!("team {t}"));
        assert!(
            html.contains(&format!(
                "<h1>Bedrock spend on 2026-11-25 (UTC) — {who}</h1>"
            )),
            "{key}"
        );
        // The chart of spend per hour, with the figures of the seeded hourly rows (see `day_rows`):
        // by team on the summary, by app on a team's page.
        let h = |n: i64| Timestamp(day().start().0 + n * 3_600).to_string();
        let expected: Vec<(String, &str, &str)> = match team {
            None => vec![
                (h(2), "fraud-risk", "3.5"),
                (h(9), "cx", "5.1975"),
                (h(14), "cx", "1.98"),
                (h(14), "unattributed", "2.2"),
            ],
            Some("fraud-risk") => vec![
                (h(2), "fraud-agent", "2.42"),
                (h(2), "fraud-scorer", "1.08"),
            ],
            Some("cx") => vec![
                (h(9), "support-bot", "5.1975"),
                (h(14), "support-bot", "1.98"),
            ],
            Some(_) => vec![],
        };
        let got = bars(&html);
        if team == Some("unattributed") {
            // One series (the direct calls' app), all in hour 14.
            let hours: Vec<(&str, &str)> = got
                .iter()
                .map(|(h, _, c)| (h.as_str(), c.as_str()))
                .collect();
            assert_eq!(hours, [(h(14).as_str(), "2.2")], "{key}");
        } else {
            let got: Vec<(String, &str, &str)> = got
                .iter()
                .map(|(h, s, c)| (h.clone(), s.as_str(), c.as_str()))
                .collect();
            assert_eq!(got, expected, "{key}");
        }
        // The unpriced model's 5 requests are marked in their hour, not drawn as $0.
        let marked = html.contains(&format!(
            "data-hour=\"{}\" data-unpriced-requests=\"5\"",
            h(14)
        ));
        assert_eq!(marked, matches!(team, None | Some("unattributed")), "{key}");
        assert!(!html.contains("No per-hour data in this report."), "{key}");
        // No detector runs here: the page says where incidents are, never "none".
        assert!(
            html.contains("Not on this page: runaway incidents are in the live alerts"),
            "{key}"
        );
        let url = console_url(&rb, &key);
        assert!(body.ends_with(&format!("\n{url}\n")), "{team:?}: {body}");
        assert!(url.starts_with(
            "https://us-east-1.console.aws.amazon.com/s3/object/bedrock-meter-reports?"
        ));
        assert!(!url.contains("X-Amz-Signature"), "never a presigned URL");
    }
    let acl = s3
        .get_object_acl()
        .bucket("bedrock-meter-reports")
        .key(page_key(day(), None))
        .send()
        .await
        .unwrap();
    assert!(
        acl.grants().iter().all(|g| g
            .grantee()
            .and_then(|g| g.uri())
            .is_none_or(|u| !u.contains("AllUsers") && !u.contains("AuthenticatedUsers"))),
        "the page is not public: {:?}",
        acl.grants()
    );

    // S3 refuses keys over 1,024 bytes (the strict proxy too); a team named with the longest tag
    // value still gets a key S3 takes.
    use bedrock_meter_core::ports::objects::ObjectWriter;
    let store = S3Store::new(&e.conf);
    let too_long = store
        .put_object(
            "bedrock-meter-reports",
            &"k".repeat(1_025),
            b"x".to_vec(),
            "text/plain",
        )
        .await
        .unwrap_err();
    assert!(
        too_long.to_string().contains("KeyTooLongError"),
        "{too_long}"
    );
    store
        .put_object(
            "bedrock-meter-reports",
            &page_key(day(), Some(&"é".repeat(256))),
            b"x".to_vec(),
            "text/html; charset=utf-8",
        )
        .await
        .unwrap();

    // A bucket that is not there: a note in the summary, the emails go without links.
    let e = env().await;
    seed_results(&e);
    let deps = deps_with(&e, AthenaEngine::new(&e.conf));
    let mut cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    cfg.reports = Some(ReportsBucket {
        bucket: "no-such-bucket".into(),
        region: "us-east-1".into(),
    });
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert!(
        out.notes.iter().any(
            |n| n.contains("could not write 4 of the day's HTML report pages")
                && n.contains("NoSuchBucket")
        ),
        "{:?}",
        out.notes
    );
    let msgs = published(&e.moto, "bedrock-meter-reports");
    assert_eq!(msgs.len(), 4);
    assert!(msgs
        .iter()
        .all(|(_, _, b)| !b.contains("console.aws.amazon.com")));
    check_reports(&msgs);
}

/// The bedrock-mantle blind spot end to end: `AWS/BedrockMantle` datums of the report's day seeded in
/// moto are read by the real adapter (through the strict proxy) and shown, per model and with no caller,
/// in the summary email and the summary page, never in a team's email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_email_and_page_show_the_mantle_traffic_on_moto() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    use bedrock_meter_core::aws::cloudwatch::CloudWatchMantle;
    use bedrock_meter_core::ports::mantle::NAMESPACE;
    use bedrock_meter_rollup::reports::{page_key, ReportsBucket};
    const MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let e = env().await;
    // Straight to moto: AWS (and the strict proxy) refuse `AWS/` namespaces to callers.
    let upstream = sdk_config_for(&format!("http://127.0.0.1:{}", e.moto.upstream_port)).await;
    let datum = |metric: &str, dims: &[(&str, &str)], at: i64, v: f64| {
        MetricDatum::builder()
            .metric_name(metric)
            .set_dimensions(Some(
                dims.iter()
                    .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                    .collect(),
            ))
            .timestamp(aws_smithy_types::DateTime::from_secs(at))
            .value(v)
            .unit(StandardUnit::Count)
            .build()
    };
    let (t1, t2) = (day().start().0 + 10 * 3_600, day().start().0 + 20 * 3_600);
    let mut d = Vec::new();
    for (at, n, tokens_in, tokens_out) in [
        (t1, 2.0, 600_000.0, 400_000.0),
        (t2, 1.0, 400_000.0, 600_000.0),
    ] {
        d.push(datum("Inferences", &[("Model", MODEL)], at, n));
        d.push(datum(
            "TotalInputTokens",
            &[("Model", MODEL)],
            at,
            tokens_in,
        ));
        d.push(datum(
            "TotalOutputTokens",
            &[("Model", MODEL)],
            at,
            tokens_out,
        ));
        // The project level repeats the same traffic: never counted twice.
        d.push(datum(
            "Inferences",
            &[("Project", "proj_a"), ("Model", MODEL)],
            at,
            n,
        ));
    }
    // The day after the report's: left out.
    d.push(datum(
        "Inferences",
        &[("Model", MODEL)],
        day().start().0 + 30 * 3_600,
        500.0,
    ));
    aws_sdk_cloudwatch::Client::new(&upstream)
        .put_metric_data()
        .namespace(NAMESPACE)
        .set_metric_data(Some(d))
        .send()
        .await
        .expect("seed AWS/BedrockMantle in moto");

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&e.conf)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("bedrock-meter-reports")
        .send()
        .await
        .unwrap();
    seed_results(&e);
    let mut deps = deps_with(&e, AthenaEngine::new(&e.conf));
    deps.mantle = Some(CloudWatchMantle::new(&e.conf));
    let mut cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    cfg.reports = Some(ReportsBucket {
        bucket: "bedrock-meter-reports".into(),
        region: "us-east-1".into(),
    });
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    let line = format!("{MODEL}: not in invocation logs: 3 inferences, 2,000,000 tokens");
    let msgs = published(&e.moto, "bedrock-meter-reports");
    let (team, _, summary) = msgs.last().unwrap();
    assert_eq!(team, "all");
    assert!(summary.contains(&line), "{summary}");
    for (team, _, body) in &msgs[..msgs.len() - 1] {
        assert!(!body.contains("not in invocation logs"), "{team}: {body}");
    }
    let page = s3
        .get_object()
        .bucket("bedrock-meter-reports")
        .key(page_key(day(), None))
        .send()
        .await
        .unwrap();
    let html = String::from_utf8(page.body.collect().await.unwrap().to_vec()).unwrap();
    assert!(
        html.contains("not in invocation logs: 3 inferences, 2,000,000 tokens"),
        "summary page"
    );
}

/// Batch inference end to end: jobs of the report's day served by the strict proxy's batch-jobs double
/// (moto lacks `ListModelInvocationJobs`), their manifests real S3 objects in moto, read by the real
/// adapters; the summary email and the summary page count them per model (unpriced: the price table
/// has no batch rate), name the job whose manifest was not readable, and no team's email has them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_email_and_page_count_the_batch_jobs_on_moto() {
    use bedrock_meter_core::aws::bedrock::BedrockBatchJobs;
    use bedrock_meter_integration_tests::batch_jobs::job_summary;
    use bedrock_meter_rollup::reports::{page_key, ReportsBucket};
    use bedrock_meter_rollup::Batch;
    const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    let e = env().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&e.conf)
            .force_path_style(true)
            .build(),
    );
    for b in ["bedrock-meter-reports", "batch-out", "not-granted"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let start = day().start().0;
    let jobs = e.moto.batch_jobs();
    for (id, status, end, out) in [
        (
            "aaaaaaaaaaa1",
            "Completed",
            3_600,
            "s3://batch-out/results/",
        ),
        (
            "aaaaaaaaaaa2",
            "PartiallyCompleted",
            7_200,
            "s3://batch-out/results/",
        ),
        // The role may not read this bucket (not among BATCH_OUTPUT_BUCKETS): named, not counted.
        ("aaaaaaaaaaa3", "Completed", 8_000, "s3://not-granted/"),
        // Ended the next day: the next report's.
        (
            "aaaaaaaaaaa4",
            "Completed",
            90_000,
            "s3://batch-out/results/",
        ),
    ] {
        jobs.add(job_summary(
            id,
            &format!("nightly-{id}"),
            MODEL,
            status,
            start + end - 3_600,
            Some(start + end),
            out,
        ));
    }
    for (id, records, input, output) in [
        ("aaaaaaaaaaa1", 1_000, 2_000_000, 400_000),
        ("aaaaaaaaaaa2", 500, 1_000_000, 100_000),
        ("aaaaaaaaaaa4", 7, 7, 7),
    ] {
        s3.put_object()
            .bucket("batch-out")
            .key(format!("results/{id}/manifest.json.out"))
            .body(
                format!(
                    r#"{{"totalRecordCount":{records},"processedRecordCount":{records},"successRecordCount":{records},"errorRecordCount":0,"inputTokenCount":{input},"outputTokenCount":{output}}}"#
                )
                .into_bytes()
                .into(),
            )
            .send()
            .await
            .unwrap();
    }
    seed_results(&e);
    let mut deps = deps_with(&e, AthenaEngine::new(&e.conf));
    deps.batch = Some(Batch {
        jobs: BedrockBatchJobs::new(&e.conf),
        objects: S3Store::new(&e.conf),
        buckets: vec!["batch-out".into()],
    });
    let mut cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    cfg.reports = Some(ReportsBucket {
        bucket: "bedrock-meter-reports".into(),
        region: "us-east-1".into(),
    });
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    let line = format!(
        "  {MODEL}: batch inference: 3 jobs (1 not read: not counted), 1,500 records, 3,000,000 input + 500,000 output tokens, no price (no batch rate)\n"
    );
    let msgs = published(&e.moto, "bedrock-meter-reports");
    let (team, _, summary) = msgs.last().unwrap();
    assert_eq!(team, "all");
    assert!(summary.contains(&line), "{summary}");
    assert!(
        summary.contains("  not counted: job nightly-aaaaaaaaaaa3: manifest s3://not-granted/aaaaaaaaaaa3/manifest.json.out not read: bucket not-granted is not among the buckets the stack may read"),
        "{summary}"
    );
    // The day's totals are the invocation logs' alone.
    check_reports(&msgs);
    for (team, _, body) in &msgs[..msgs.len() - 1] {
        assert!(!body.contains("Batch inference"), "{team}: {body}");
    }
    let page = s3
        .get_object()
        .bucket("bedrock-meter-reports")
        .key(page_key(day(), None))
        .send()
        .await
        .unwrap();
    let html = String::from_utf8(page.body.collect().await.unwrap().to_vec()).unwrap();
    assert!(html.contains("<section id=\"batch\">"), "summary page");
    assert!(html.contains(
        "batch inference: 3 jobs (1 not read: not counted), 1,500 records, 3,000,000 input + 500,000 output tokens, no price (no batch rate)"
    ));
    assert!(e.moto.rejections().is_empty(), "{:?}", e.moto.rejections());
}

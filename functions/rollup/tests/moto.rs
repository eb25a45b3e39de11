//! The daily rollup end to end: the real handler with the real aws-sdk-athena and aws-sdk-sns clients
//! against moto (Athena answers with seeded results; SNS records what was published).
//!
//! moto's Athena cannot produce a FAILED query and returns all seeded rows in one page (no NextToken),
//! so two cases use a scripted [`QueryEngine`] (the adapter's trait) with the real SNS client on moto:
//! results over several pages, and a FAILED query. A query that never finishes is real moto (its
//! state manager holds the execution in QUEUED/RUNNING) and is stopped with the real client.
//! moto has no Bedrock inference profiles: profiles come from a fake [`ProfileSource`].

use std::sync::Mutex;
use std::time::Duration;

use bedrock_meter::athena_sql::{result_columns, RollupQuery, TableRef};
use bedrock_meter::aws::athena::{
    AthenaEngine, QueryEngine, QueryState, QueryStatus, ResultPage, StartQuery,
};
use bedrock_meter::aws::bedrock::ProfileSource;
use bedrock_meter::aws::sns::SnsNotifier;
use bedrock_meter::aws::AwsError;
use bedrock_meter::profiles::Profile;
use bedrock_meter::rollup::AttributionConfig;
use bedrock_meter::{Date, PriceTable, Timestamp};
use bedrock_meter_integration_tests::Moto;
use bedrock_meter_rollup::{handle, Config, Deps, RollupError};
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
    }
}

type Row = Vec<Option<String>>;

fn row(v: [&str; 12]) -> Row {
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
            "false",
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
            "false",
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
            "true",
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
            "false",
            "20",
            "0",
            "1000000",
            "100000",
            "0",
            "0",
            "0",
        ]),
        row([
            &format!("us.{HAIKU}"),
            "us-east-1",
            &format!("arn:aws:iam::{ACCT}:user/alice"),
            "NULL",
            "false",
            "30",
            "3",
            "2000000",
            "0",
            "0",
            "0",
            "0",
        ]),
        row([
            "writer.palmyra-x5-v1:0",
            "us-east-1",
            &format!("arn:aws:iam::{ACCT}:user/carol"),
            "",
            "false",
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
            "false",
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
            "false",
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
            "Bedrock spend 2026-11-25 — cx: $7.18 (new vs 2026-11-24)",
        ),
        (
            "fraud-risk",
            "Bedrock spend 2026-11-25 — fraud-risk: $3.50 (+40% vs 2026-11-24)",
        ),
        (
            "unattributed",
            "Bedrock spend 2026-11-25 — unattributed: $2.20 + unpriced (new vs 2026-11-24)",
        ),
        // 12.8775 vs 2.50: +415%
        (
            "all",
            "Bedrock spend 2026-11-25 — all teams: $12.88 + unpriced (+415% vs 2026-11-24)",
        ),
    ]
}

/// Athena's result shape for moto's seeding endpoint: header row first.
fn seeded(rows: &[Row]) -> Value {
    let cols = result_columns(1);
    let cell = |v: &Option<String>| match v {
        Some(s) => json!({ "VarCharValue": s }),
        None => json!({}),
    };
    let mut out =
        vec![json!({"Data": cols.iter().map(|c| json!({"VarCharValue": c})).collect::<Vec<_>>()})];
    out.extend(
        rows.iter()
            .map(|r| json!({"Data": r.iter().map(cell).collect::<Vec<_>>()})),
    );
    json!({
        "rows": out,
        "column_info": cols.iter().map(|c| json!({
            "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
            "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": true
        })).collect::<Vec<_>>()
    })
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
    moto.sns_sent(topic)
        .iter()
        .map(|m| {
            let attrs = &m[3];
            let team = attrs["team"]["Value"]
                .as_str()
                .or_else(|| attrs["team"]["StringValue"].as_str())
                .unwrap_or_else(|| panic!("team attribute in {attrs}"))
                .to_string();
            (
                team,
                m[2].as_str().unwrap_or_default().to_string(),
                m[1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
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
        "Unpriced models (NOT included in the totals)\n  writer.palmyra-x5-v1:0 — no price for this model: 5 requests"
    ));
    assert!(summary.contains("price table as of 2026-11-01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_reports_per_team_and_summary_from_athena_on_moto() {
    let e = env().await;
    e.moto.post_json(
        "/moto-api/static/athena/query-results",
        &json!({"results": [seeded(&day_rows()), seeded(&prev_rows())]}),
    );
    let deps = Deps {
        engine: AthenaEngine::new(&e.conf),
        profiles: profiles(),
        notifier: SnsNotifier::new(&e.conf),
        prices: PriceTable::embedded(),
    };
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

/// A scripted engine: query `i` (in start order) answers with `pages[i]`, or ends in `fail`.
struct Scripted {
    pages: Vec<Vec<ResultPage>>,
    fail: Option<QueryState>,
    started: Mutex<Vec<StartQuery>>,
    reads: Mutex<Vec<(String, Option<String>)>>,
}

impl Scripted {
    fn paged(results: &[Vec<Row>], page_size: usize) -> Scripted {
        let cols = result_columns(1);
        let pages = results
            .iter()
            .map(|rows| {
                let mut all: Vec<Row> = vec![cols.iter().map(|c| Some(c.clone())).collect()];
                all.extend(rows.iter().cloned());
                let chunks: Vec<Vec<Row>> = all.chunks(page_size).map(|c| c.to_vec()).collect();
                let n = chunks.len();
                chunks
                    .into_iter()
                    .enumerate()
                    .map(|(i, rows)| ResultPage {
                        columns: cols.clone(),
                        rows,
                        next_token: (i + 1 < n).then(|| format!("{}", i + 1)),
                    })
                    .collect()
            })
            .collect();
        Scripted {
            pages,
            fail: None,
            started: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
        }
    }
}

impl QueryEngine for Scripted {
    async fn start(&self, q: &StartQuery) -> Result<String, AwsError> {
        let mut s = self.started.lock().unwrap();
        s.push(q.clone());
        Ok((s.len() - 1).to_string())
    }
    async fn status(&self, _: &str) -> Result<QueryStatus, AwsError> {
        Ok(QueryStatus {
            state: self.fail.unwrap_or(QueryState::Succeeded),
            reason: self.fail.map(|_| {
                "HIVE_BAD_DATA: Error parsing field value for field 11: For input string".into()
            }),
            scanned_bytes: Some(1234),
        })
    }
    async fn page(&self, id: &str, token: Option<String>) -> Result<ResultPage, AwsError> {
        self.reads
            .lock()
            .unwrap()
            .push((id.to_string(), token.clone()));
        let q: usize = id.parse().unwrap();
        let p: usize = token.map_or(0, |t| t.parse().unwrap());
        Ok(self.pages[q][p].clone())
    }
    async fn stop(&self, _: &str) -> Result<(), AwsError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_over_many_pages_give_the_same_reports() {
    let e = env().await;
    let deps = Deps {
        engine: Scripted::paged(&[day_rows(), prev_rows()], 2),
        profiles: profiles(),
        notifier: SnsNotifier::new(&e.conf),
        prices: PriceTable::embedded(),
    };
    let cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    let out = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap();
    assert_eq!(out.total_usd, "12.877500");
    let reads = deps.engine.reads.lock().unwrap().clone();
    // 1 header + 6 rows in pages of 2 → 4 pages; 1 + 2 → 2 pages.
    assert_eq!(reads.iter().filter(|(q, _)| q == "0").count(), 4);
    assert_eq!(reads.iter().filter(|(q, _)| q == "1").count(), 2);
    let started = deps.engine.started.lock().unwrap().clone();
    assert!(started.iter().all(|q| q.workgroup == WORKGROUP));
    check_reports(&published(&e.moto, "bedrock-meter-reports"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_query_is_an_error_and_an_alert_and_no_report() {
    let e = env().await;
    let mut engine = Scripted::paged(&[day_rows(), prev_rows()], 100);
    engine.fail = Some(QueryState::Failed);
    let deps = Deps {
        engine,
        profiles: profiles(),
        notifier: SnsNotifier::new(&e.conf),
        prices: PriceTable::embedded(),
    };
    let cfg = config(&e.reports, &e.alerts, Duration::from_secs(60));
    let err = handle(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .unwrap_err();
    assert!(matches!(err, RollupError::Query { .. }), "{err:?}");
    assert!(err.to_string().contains("FAILED: HIVE_BAD_DATA"), "{err}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_never_finishes_is_stopped_an_error_and_an_alert() {
    let e = env().await;
    // Hold moto's executions in QUEUED/RUNNING (they advance only on many status reads).
    e.moto.post_json(
        "/moto-api/state-manager/set-transition",
        &json!({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 100000}}),
    );
    let deps = Deps {
        engine: AthenaEngine::new(&e.conf),
        profiles: profiles(),
        notifier: SnsNotifier::new(&e.conf),
        prices: PriceTable::embedded(),
    };
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
    let deps = Deps {
        engine: Scripted::paged(&[day_rows(), prev_rows()], 100),
        profiles: profiles(),
        notifier: SnsNotifier::new(&e.conf),
        prices: PriceTable::embedded(),
    };
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

//! One caller identity on every path (docs/callers.md): on the same log records, `report`, `replay`, and
//! the live path's metrics (`Caller` dimension) and detector observations name the same callers. (The
//! Athena SQL — daily rollup and query pack — is checked against `report` by the SQL tests,
//! `scripts/test.d/40-sql.sh`, on fixture logs with the same kinds of callers.)

use std::collections::BTreeSet;
use std::process::Command;

use bedrock_meter_core::attribution::profiles::ProfileMap;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::live::batch;
use bedrock_meter_core::live::metrics::{MetricsConfig, CALLER};
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::records::subscription::LogEvent;
use bedrock_meter_core::time::Timestamp;

const ROLE: &str = "arn:aws:sts::111122223333:assumed-role/eks-pods";
const SSO: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123abcd";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

fn record(second: u32, caller: Option<&str>) -> String {
    let identity = caller.map_or(String::new(), |c| format!(r#""identity":{{"arn":"{c}"}},"#));
    format!(
        r#"{{"schemaType":"ModelInvocationLog","timestamp":"2026-11-25T10:00:{second:02}Z","region":"us-east-1",{identity}"modelId":"us.amazon.nova-lite-v1:0","input":{{"inputTokenCount":100}},"output":{{"outputTokenCount":10}}}}"#
    )
}

/// Two calls (in one minute) of each: six pod sessions of one role, two IAM Identity Center users,
/// an IAM user, and calls without an identity.
fn records() -> Vec<String> {
    let mut v = Vec::new();
    for k in 0..6 {
        v.push(record(k, Some(&format!("{ROLE}/botocore-session-{k}"))));
    }
    for (k, who) in [
        "jane@example.com",
        "jane@example.com",
        "raj@example.com",
        "raj@example.com",
    ]
    .iter()
    .enumerate()
    {
        v.push(record(10 + k as u32, Some(&format!("{SSO}/{who}"))));
    }
    v.push(record(20, Some(ALICE)));
    v.push(record(21, Some(ALICE)));
    v.push(record(30, None));
    v.push(record(31, Some("")));
    v
}

fn expected() -> BTreeSet<String> {
    [
        ROLE.to_string(),
        format!("{SSO}/jane@example.com"),
        format!("{SSO}/raj@example.com"),
        ALICE.to_string(),
        "unknown".to_string(),
    ]
    .into_iter()
    .collect()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
        .args(args)
        .env_remove("KEEP_SESSION_ROLES")
        .output()
        .expect("run bedrock-meter");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn report_replay_metrics_and_detector_name_the_same_callers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.jsonl");
    std::fs::write(&file, records().join("\n") + "\n").unwrap();
    let path = file.to_str().unwrap();

    // report
    let report: serde_json::Value = serde_json::from_str(&run(&[
        "report",
        "--date",
        "2026-11-25",
        "--format",
        "json",
        path,
    ]))
    .unwrap();
    let from_report: BTreeSet<String> = report["by_caller"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["caller"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(from_report, expected());

    // replay: every caller made two calls in a minute, over a threshold of one request.
    let lines = run(&["replay", "--format", "json", "--max-requests", "1", path]);
    let from_replay: BTreeSet<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["type"] == "runaway")
        .filter_map(|a| a["caller"].as_str().map(str::to_string))
        .collect();
    assert_eq!(from_replay, expected());

    // The live path: metrics with the Caller dimension, and the detector's observations.
    let texts = records();
    let ids: Vec<String> = (0..texts.len()).map(|i| i.to_string()).collect();
    let events: Vec<LogEvent> = texts
        .iter()
        .zip(&ids)
        .map(|(m, id)| LogEvent {
            id,
            timestamp: 1_795_600_000_000,
            message: m.as_str().into(),
        })
        .collect();
    let parsed = batch::parse_events(&events);
    let attribution = AttributionConfig::default();
    let profiles = ProfileMap::default();
    let resolutions = batch::resolve_all(&parsed.model_ids(), &profiles, &attribution);
    let agg = batch::aggregate(
        &parsed,
        &resolutions,
        &PriceTable::embedded(),
        &attribution,
        &MetricsConfig {
            caller_dimensions: true,
            metadata_keys: Vec::new(),
        },
        Timestamp(1_795_600_000),
    );
    let from_metrics: BTreeSet<String> = agg
        .datums
        .iter()
        .flat_map(|d| d.dimensions.iter())
        .filter(|(k, _)| k == CALLER)
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(from_metrics, expected());
    let from_detector: BTreeSet<String> =
        agg.observations.iter().map(|o| o.caller.clone()).collect();
    assert_eq!(from_detector, expected());
}

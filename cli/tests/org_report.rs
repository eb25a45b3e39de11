//! The organisation view (issue 24) end to end with the binary: log files of three accounts, each
//! account's own `report`, the `report` over all three (per-account breakdown), the fan-in files each
//! member would write (`report --write-fan-in`), and `report --fan-in` over them — whose figures must
//! equal the sum of the per-account reports to the cent, with a member that did not report named, and a
//! re-run day never counted twice.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const DAY: &str = "2026-11-25";
const PREV: &str = "2026-11-24";
const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
/// Reported on the day before only: must be named as not reported.
const GONE: &str = "444444444444";

fn gz(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
}

fn profiles(account: &str) -> String {
    format!(
        r#"{{"inferenceProfileSummaries":[
 {{"inferenceProfileName":"agent","inferenceProfileArn":"arn:aws:bedrock:us-east-1:{account}:application-inference-profile/agent1","type":"APPLICATION",
  "models":[{{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"}},{{"modelArn":"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"}}],
  "tags":[{{"key":"app","value":"agent"}},{{"key":"team","value":"platform"}}]}},
 {{"inferenceProfileName":"scorer","inferenceProfileArn":"arn:aws:bedrock:eu-west-1:{account}:application-inference-profile/score1","type":"APPLICATION",
  "models":[{{"modelArn":"arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"}}],
  "tags":[{{"key":"app","value":"scorer"}},{{"key":"team","value":"fraud"}}]}}]}}"#
    )
}

/// One record; `k` varies the amounts.
fn record(account: &str, day: &str, hour: u32, region: &str, model: &str, k: u64) -> String {
    let error = if k.is_multiple_of(7) {
        r#","errorCode":"ThrottlingException""#
    } else {
        ""
    };
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"{day}T{hour:02}:{:02}:07Z","accountId":"{account}","identity":{{"arn":"arn:aws:sts::{account}:assumed-role/Svc{}/s"}},"region":"{region}","requestId":"r-{account}-{k}","operation":"Converse","modelId":"{model}","input":{{"inputTokenCount":{},"cacheReadInputTokenCount":{},"cacheWriteInputTokenCount":{}}},"output":{{"outputTokenCount":{}}}{error}}}"#,
        k % 60,
        k % 2,
        1_000 + k * 7_919 % 90_001,
        k * 104_729 % 20_011,
        k * 31 % 5_003,
        17 * k + 3
    )
}

/// Writes one account's logs of `day` in the S3 layout, in two Regions and several hours.
fn write_logs(root: &Path, account: &str, day: &str, scale: u64) {
    let models_east = [
        format!("arn:aws:bedrock:us-east-1:{account}:application-inference-profile/agent1"),
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0".to_string(),
        "global.anthropic.claude-opus-4-5-20251101-v1:0".to_string(),
        "acme.unknown-model-v1:0".to_string(), // unpriced
    ];
    let models_west = [
        format!("arn:aws:bedrock:eu-west-1:{account}:application-inference-profile/score1"),
        "amazon.nova-lite-v1:0".to_string(),
    ];
    for (region, models) in [
        ("us-east-1", &models_east[..]),
        ("eu-west-1", &models_west[..]),
    ] {
        for hour in [0u32, 9, 23] {
            let lines: Vec<String> = (0..6 * scale)
                .map(|i| {
                    let k = i + u64::from(hour) * 13 + scale * 101;
                    record(
                        account,
                        day,
                        hour,
                        region,
                        &models[(i as usize) % models.len()],
                        k,
                    )
                })
                .collect();
            let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
            gz(
                &root.join(format!(
                    "AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{y}/{m}/{d}/{hour:02}/{day}T{hour:02}_{account}.json.gz"
                )),
                &(lines.join("\n") + "\n"),
            );
        }
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
}

fn run(args: &[&str], paths: &[&Path]) -> String {
    let out = bin().args(args).args(paths).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// USD as integer nano-dollars (the JSON has 9 decimals).
fn nanos(v: &serde_json::Value) -> i128 {
    let s = v.to_string();
    let (i, f) = s.split_once('.').unwrap_or((&s, ""));
    let f = format!("{f:0<9}");
    i.parse::<i128>().unwrap() * 1_000_000_000 + f[..9].parse::<i128>().unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    logs: Vec<PathBuf>,
    profiles: Vec<PathBuf>,
    all_logs: PathBuf,
    all_profiles: PathBuf,
    fanin: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let all_logs = dir.path().join("all");
    let mut logs = Vec::new();
    let mut profile_files = Vec::new();
    let mut all_summaries = Vec::new();
    for (i, a) in ACCOUNTS.iter().enumerate() {
        let root = dir.path().join(format!("logs-{a}"));
        write_logs(&root, a, DAY, 1 + i as u64);
        write_logs(&root, a, PREV, 2);
        write_logs(&all_logs, a, DAY, 1 + i as u64);
        let p = dir.path().join(format!("profiles-{a}.json"));
        std::fs::write(&p, profiles(a)).unwrap();
        let v = json(&profiles(a));
        all_summaries.extend(v["inferenceProfileSummaries"].as_array().unwrap().clone());
        logs.push(root);
        profile_files.push(p);
    }
    let all_profiles = dir.path().join("profiles-all.json");
    std::fs::write(
        &all_profiles,
        serde_json::json!({ "inferenceProfileSummaries": all_summaries }).to_string(),
    )
    .unwrap();
    let gone = dir.path().join(format!("logs-{GONE}"));
    write_logs(&gone, GONE, PREV, 1);
    let fanin = dir.path().join("home");
    Fixture {
        _dir: dir,
        logs,
        profiles: profile_files,
        all_logs,
        all_profiles,
        fanin,
    }
}

fn write_fan_in(f: &Fixture, i: usize, day: &str) {
    let out = bin()
        .args([
            "report",
            "--date",
            day,
            "--format",
            "json",
            "--write-fan-in",
        ])
        .arg(&f.fanin)
        .arg("--profiles")
        .arg(&f.profiles[i])
        .arg(&f.logs[i])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote 2 fan-in files"));
}

#[test]
fn fan_in_figures_equal_the_sum_of_the_accounts_reports() {
    let f = fixture();
    // Each account's own report.
    let mut per_account = Vec::new();
    for (i, a) in ACCOUNTS.iter().enumerate() {
        let p = f.profiles[i].to_str().unwrap();
        let j = json(&run(
            &["report", "--date", DAY, "--format", "json", "--profiles", p],
            &[&f.logs[i]],
        ));
        assert!(
            j["totals"]["unpriced_requests"].as_u64().unwrap() > 0,
            "{a}"
        );
        per_account.push(j);
    }
    let sum = |field: &str| -> i128 {
        per_account
            .iter()
            .map(|j| match field {
                "cost_usd" => nanos(&j["totals"]["cost_usd"]),
                _ => i128::from(j["totals"][field].as_u64().unwrap()),
            })
            .sum()
    };

    // The members write their fan-in files (the day before too, and a fourth account only then).
    for i in 0..3 {
        write_fan_in(&f, i, DAY);
        write_fan_in(&f, i, PREV);
    }
    let gone_profiles = f.profiles[0].to_str().unwrap();
    run(
        &[
            "report",
            "--date",
            PREV,
            "--write-fan-in",
            f.fanin.to_str().unwrap(),
            "--profiles",
            gone_profiles,
        ],
        &[&f.logs[0].parent().unwrap().join(format!("logs-{GONE}"))],
    );
    for a in ACCOUNTS {
        for r in ["us-east-1", "eu-west-1"] {
            let key = format!("fanin/day={DAY}/account={a}/region={r}/rows.json.gz");
            assert!(f.fanin.join(&key).is_file(), "{key}");
        }
    }

    let home = f.fanin.to_str().unwrap();
    let org = json(&run(
        &[
            "report", "--fan-in", home, "--date", DAY, "--format", "json",
        ],
        &[],
    ));
    let cents = |n: i128| (n + 5_000_000).div_euclid(10_000_000);
    let org_cost = nanos(&org["totals"]["cost_usd"]);
    assert!(org_cost > 0);
    assert_eq!(cents(org_cost), cents(sum("cost_usd")), "to the cent");
    // Integer money: in fact to the nano-dollar.
    assert!(
        (org_cost - sum("cost_usd")).abs() <= 3,
        "{org_cost} vs {}",
        sum("cost_usd")
    );
    for field in [
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "unpriced_requests",
    ] {
        assert_eq!(
            i128::from(org["totals"][field].as_u64().unwrap()),
            sum(field),
            "{field}"
        );
    }
    // Per account and per team × account: each account's own report.
    for (i, a) in ACCOUNTS.iter().enumerate() {
        let row = org["by_account"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["account"] == *a)
            .unwrap();
        assert_eq!(
            nanos(&row["cost_usd"]),
            nanos(&per_account[i]["totals"]["cost_usd"]),
            "{a}"
        );
        assert_eq!(row["requests"], per_account[i]["totals"]["requests"], "{a}");
        for t in per_account[i]["by_team"].as_array().unwrap() {
            let team = t["team"].as_str().unwrap();
            let got = org["by_team_account"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["account"] == *a && r["team"] == team)
                .unwrap_or_else(|| panic!("{team} {a}"));
            assert_eq!(got["requests"], t["requests"], "{team} {a}");
            assert_eq!(got["cost_usd"], t["cost_usd"], "{team} {a}");
        }
    }
    // The member that reported the day before and not today is named.
    assert_eq!(org["accounts_expected"], 4);
    assert_eq!(
        org["accounts_missing"],
        serde_json::json!([{ "account": GONE, "regions": ["eu-west-1", "us-east-1"] }])
    );
    let table = run(&["report", "--fan-in", home, "--date", DAY], &[]);
    assert!(
        table.contains(&format!(
            "1 of 4 accounts not reported yet: {GONE} (eu-west-1, us-east-1)"
        )),
        "{table}"
    );
    assert!(table.contains("By team and account:"), "{table}");

    // A re-run of a member's day replaces its files: nothing counted twice.
    write_fan_in(&f, 0, DAY);
    let again = json(&run(
        &[
            "report", "--fan-in", home, "--date", DAY, "--format", "json",
        ],
        &[],
    ));
    assert_eq!(again["totals"], org["totals"]);

    // The team's organisation email: all its accounts and Regions, the missing member named.
    let email = run(
        &[
            "report", "--fan-in", home, "--date", DAY, "--format", "email", "--team", "platform",
        ],
        &[],
    );
    assert!(
        email.starts_with("Subject: Bedrock spend 2026-11-25 — platform: $"),
        "{email}"
    );
    assert!(email.contains("— 3 accounts, 1 not reported"), "{email}");
    assert!(email.contains(&format!(
        "NOT REPORTED  1 of 4 accounts not reported yet: {GONE}"
    )));
    for a in ACCOUNTS {
        assert!(email.contains(&format!("{a} us-east-1")), "{email}");
    }
    // The CSV carries the account, and its rows sum to the total.
    let csv = run(
        &["report", "--fan-in", home, "--date", DAY, "--format", "csv"],
        &[],
    );
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&head[..3], &["date", "account", "caller"]);
    let req = head.iter().position(|h| *h == "requests").unwrap();
    let total: u64 = lines
        .map(|l| l.split(',').nth(req).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(i128::from(total), sum("requests"));
}

#[test]
fn report_over_several_accounts_breaks_down_per_account() {
    let f = fixture();
    let p = f.all_profiles.to_str().unwrap();
    let j = json(&run(
        &["report", "--date", DAY, "--format", "json", "--profiles", p],
        &[&f.all_logs],
    ));
    let by_account = j["by_account"].as_array().unwrap();
    assert_eq!(by_account.len(), 3);
    let mut sum = 0;
    for (i, a) in ACCOUNTS.iter().enumerate() {
        let own = json(&run(
            &[
                "report",
                "--date",
                DAY,
                "--format",
                "json",
                "--profiles",
                f.profiles[i].to_str().unwrap(),
            ],
            &[&f.logs[i]],
        ));
        let row = by_account.iter().find(|r| r["account"] == *a).unwrap();
        assert_eq!(row["cost_usd"], own["totals"]["cost_usd"], "{a}");
        assert_eq!(row["requests"], own["totals"]["requests"], "{a}");
        sum += nanos(&own["totals"]["cost_usd"]);
    }
    assert!((nanos(&j["totals"]["cost_usd"]) - sum).abs() <= 3);
    assert_eq!(
        j["by_account_region"].as_array().unwrap().len(),
        6,
        "3 accounts x 2 Regions"
    );
    let table = run(&["report", "--date", DAY, "--profiles", p], &[&f.all_logs]);
    assert!(table.contains("By account:"), "{table}");
    assert!(table.contains("333333333333 eu-west-1"), "{table}");
    // No expected set over log files: no "not reported" line.
    assert!(!table.contains("not reported"), "{table}");
    let csv = run(
        &["report", "--date", DAY, "--format", "csv", "--profiles", p],
        &[&f.all_logs],
    );
    assert!(
        csv.starts_with("date,account,caller,team,app,model,"),
        "{csv}"
    );
}

#[test]
fn fan_in_input_that_is_bad_or_forged_is_counted_not_fatal() {
    let f = fixture();
    write_fan_in(&f, 0, DAY);
    write_fan_in(&f, 1, DAY);
    let home = f.fanin.to_str().unwrap();
    let good = json(&run(
        &[
            "report", "--fan-in", home, "--date", DAY, "--format", "json",
        ],
        &[],
    ));
    // Account 2's file gets a broken line and a row claiming account 1's spend; a third file is not
    // gzip at all.
    let key = f.fanin.join(format!(
        "fanin/day={DAY}/account={}/region=us-east-1/rows.json.gz",
        ACCOUNTS[1]
    ));
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&key).unwrap()),
        &mut text,
    )
    .unwrap();
    let first = text.lines().next().unwrap().to_string();
    let forged = first.replace(ACCOUNTS[1], ACCOUNTS[0]);
    gz(&key, &format!("{text}not json\n{forged}\n"));
    let bad = f.fanin.join(format!(
        "fanin/day={DAY}/account={}/region=us-east-1/rows.json.gz",
        ACCOUNTS[2]
    ));
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, b"this is not gzip").unwrap();
    let out = bin()
        .args([
            "report", "--fan-in", home, "--date", DAY, "--format", "json",
        ])
        .args(["--expect-accounts", ACCOUNTS[2]])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping unreadable file"));
    let j = json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        j["totals"], good["totals"],
        "the good rows all count, the rest none"
    );
    assert_eq!(j["fan_in_bad_lines"], 1);
    assert_eq!(j["fan_in_foreign_rows"], 1);
    assert_eq!(j["fan_in_unreadable_files"], 1);
    assert_eq!(j["accounts_missing"][0]["account"], ACCOUNTS[2]);
    // An expected account that is not an account id is refused.
    let out = bin()
        .args(["report", "--fan-in", home, "--expect-accounts", "1111/../2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Nothing for the day: said, and a failure (never a $0 report).
    let out = bin()
        .args(["report", "--fan-in", home, "--date", "2026-01-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no readable fan-in file for 2026-01-01"));
}

//! What a first-time user meets, run on the real binary without AWS: a report that found nothing says
//! so and fails; unknown money is never a zero; unreadable files are one warning and one count in every
//! command; a closed pipe ends the command quietly; errors name the flag, the file and the cause; and
//! the attribution and window rules that no other test pinned down.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ACCT: &str = "111122223333";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"));
    c.env_remove("BEDROCK_METER_PROFILES")
        .env_remove("BEDROCK_METER_PRICES")
        .env_remove("BEDROCK_METER_LOG")
        .env_remove("METADATA_KEYS")
        .env_remove("WINDOW_MINUTES")
        .env_remove("MAX_COST_USD")
        .env_remove("MAX_REQUESTS");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn record(
    ts: &str,
    model_id: &str,
    caller: &str,
    tokens: [u64; 4],
    tenant: Option<&str>,
) -> String {
    let [input, output, cache_read, cache_write] = tokens;
    let meta = tenant.map_or(String::new(), |t| {
        format!(r#","requestMetadata":{{"tenant":"{t}"}}"#)
    });
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"{ts}","accountId":"{ACCT}","identity":{{"arn":"{caller}"}},"region":"us-east-1","requestId":"r-{ts}-{input}","operation":"Converse","modelId":"{model_id}"{meta},"input":{{"inputTokenCount":{input},"cacheReadInputTokenCount":{cache_read},"cacheWriteInputTokenCount":{cache_write}}},"output":{{"outputTokenCount":{output}}}}}"#
    )
}

fn gz(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
}

fn hour_dir(root: &Path, day: &str, hour: u32) -> PathBuf {
    root.join(format!(
        "AWSLogs/{ACCT}/BedrockModelInvocationLogs/us-east-1/{}/{hour:02}",
        day.replace('-', "/")
    ))
}

fn user(name: &str) -> String {
    format!("arn:aws:iam::{ACCT}:user/{name}")
}

const NOVA_LITE: &str = "amazon.nova-lite-v1:0";
const TITAN: &str = "amazon.titan-text-express-v1"; // not in the price table

/// Three days of records (two on the 25th), gzipped in the S3 layout.
fn three_days(root: &Path) {
    for (day, n) in [("2026-11-24", 1), ("2026-11-25", 2), ("2026-11-26", 1)] {
        let text: String = (0..n)
            .map(|i| {
                record(
                    &format!("{day}T10:0{i}:00Z"),
                    NOVA_LITE,
                    &user("a"),
                    [100, 10, 0, 0],
                    None,
                ) + "\n"
            })
            .collect();
        gz(
            &hour_dir(root, day, 10).join("20261125T100000000Z_a.json.gz"),
            &text,
        );
    }
}

#[test]
fn a_report_that_found_nothing_says_what_it_read_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&["report", "--date", "2026-11-25", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "no $0 table");
    assert!(
        stderr(&out).contains("no log files in") && stderr(&out).contains("empty"),
        "{}",
        stderr(&out)
    );

    let txt = dir.path().join("txt");
    std::fs::create_dir_all(&txt).unwrap();
    std::fs::write(txt.join("readme.txt"), "notes").unwrap();
    for format in ["table", "json", "csv"] {
        let out = run(&["report", "--format", format, txt.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{format}");
        assert!(
            stderr(&out).contains("readme.txt"),
            "names what it ignored: {}",
            stderr(&out)
        );
    }

    let logs = dir.path().join("logs");
    three_days(&logs);
    let out = run(&["report", "--date", "2026-12-25", logs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains(
            "read 4 records in 3 files; none on 2026-12-25; records span 2026-11-24…2026-11-26"
        ),
        "{}",
        stderr(&out)
    );
    // The day that has records still reports, and exits 0.
    let out = run(&[
        "report",
        "--date",
        "2026-11-25",
        "--format",
        "json",
        logs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["totals"]["requests"], 2);
}

#[test]
fn unpriced_money_is_null_in_json_and_empty_in_csv_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("day.jsonl");
    let text = [
        record(
            "2026-11-25T10:00:00Z",
            NOVA_LITE,
            &user("a"),
            [1_000_000, 1_000_000, 0, 0],
            Some("acme"),
        ),
        record(
            "2026-11-25T10:01:00Z",
            TITAN,
            &user("a"),
            [500, 50, 0, 0],
            Some("acme"),
        ),
        record(
            "2026-11-25T10:02:00Z",
            TITAN,
            &user("b"),
            [500, 50, 0, 0],
            None,
        ),
    ]
    .join("\n");
    std::fs::write(&f, text + "\n").unwrap();
    let path = f.to_str().unwrap();
    let out = run(&[
        "report",
        "--format",
        "json",
        "--metadata-keys",
        "tenant",
        path,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Totals and the unattributed team are partly priced: the priced part and the unpriced count.
    assert_eq!(
        j["totals"]["cost_usd"].as_f64(),
        Some(0.3),
        "{}",
        j["totals"]
    );
    assert_eq!(j["totals"]["unpriced_requests"], 2);
    let find = |list: &str, key: &str, value: &str| -> serde_json::Value {
        j[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g[key] == value)
            .cloned()
            .unwrap_or_else(|| panic!("no {key}={value} in {list}: {j}"))
    };
    let titan = find("by_model", "model", TITAN);
    assert!(
        titan["cost_usd"].is_null(),
        "every request unpriced: null, not 0: {titan}"
    );
    assert_eq!(titan["unpriced_requests"], 2);
    let b = find("by_caller", "caller", &user("b"));
    assert!(b["cost_usd"].is_null(), "{b}");
    let a = find("by_caller", "caller", &user("a"));
    assert_eq!(
        (a["cost_usd"].as_f64(), a["unpriced_requests"].as_u64()),
        (Some(0.3), Some(1))
    );
    let none = j["by_metadata"]["tenant"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["value"] == "(none)")
        .cloned()
        .unwrap();
    assert!(none["cost_usd"].is_null(), "{none}");
    assert_eq!(
        j["unreadable_files"], 0,
        "the count is part of the contract"
    );

    let out = run(&[
        "report",
        "--format",
        "csv",
        "--metadata-keys",
        "tenant",
        path,
    ]);
    let csv = stdout(&out);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "date,caller,team,app,model,tenant,requests,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,unpriced_requests,unpriced_reasons"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let row = |caller: &str, model: &str| {
        *rows
            .iter()
            .find(|r| r.contains(caller) && r.contains(model))
            .unwrap_or_else(|| panic!("no {caller} {model} row in {csv}"))
    };
    assert!(
        row("user/a", NOVA_LITE).ends_with(",acme,1,0,1000000,1000000,0,0,0.300000000,0,"),
        "9 decimals like the JSON: {csv}"
    );
    assert!(
        row("user/a", TITAN).ends_with(",acme,1,0,500,50,0,0,,1,unknown model"),
        "{csv}"
    );
    assert!(
        row("user/b", TITAN).ends_with(",,1,0,500,50,0,0,,1,unknown model"),
        "{csv}"
    );
}

#[test]
fn every_unreadable_file_is_one_plain_warning_and_one_count_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let hour = hour_dir(&logs, "2026-11-25", 10);
    gz(
        &hour.join("good.json.gz"),
        &(record(
            "2026-11-25T10:00:00Z",
            NOVA_LITE,
            &user("a"),
            [10, 1, 0, 0],
            None,
        ) + "\n"),
    );
    // A .json.gz that is not gzip, and a gzip cut in half.
    std::fs::write(
        hour.join("fake.json.gz"),
        record(
            "2026-11-25T10:00:00Z",
            NOVA_LITE,
            &user("a"),
            [1, 1, 0, 0],
            None,
        ),
    )
    .unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..200 {
        e.write_all(
            (record(
                &format!("2026-11-25T10:{:02}:00Z", i % 60),
                NOVA_LITE,
                &user("c"),
                [i, 1, 0, 0],
                None,
            ) + "\n")
                .as_bytes(),
        )
        .unwrap();
    }
    let bytes = e.finish().unwrap();
    std::fs::write(hour.join("cut.json.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let root = logs.to_str().unwrap();

    let check_warnings = |what: &str, err: &str| {
        assert!(
            !err.contains('\u{1b}'),
            "{what}: no colour codes when stderr is not a terminal: {err:?}"
        );
        for name in ["fake.json.gz", "cut.json.gz"] {
            let n = err.lines().filter(|l| l.contains(name)).count();
            assert_eq!(n, 1, "{what}: one warning for {name}:\n{err}");
            let line = err.lines().find(|l| l.contains(name)).unwrap();
            assert!(
                line.starts_with("warning: skipping unreadable file "),
                "{what}: {line}"
            );
        }
        assert!(
            err.contains("Skipped: 2 unreadable files"),
            "{what}: the same words: {err}"
        );
    };

    let out = run(&["report", root]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Skipped: 2 unreadable files"),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("alformed"),
        "a broken file is not a malformed record: {}",
        stdout(&out)
    );
    let err = stderr(&out) + &stdout(&out);
    check_warnings("report", &err);

    let out = run(&["report", "--format", "json", root]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            j["unreadable_files"].as_u64(),
            j["malformed_records"].as_u64()
        ),
        (Some(2), Some(0))
    );
    assert_eq!(j["totals"]["requests"], 1);

    let out = run(&["replay", root]);
    assert!(out.status.success(), "{}", stderr(&out));
    check_warnings("replay", &stderr(&out));

    let out = run(&["event", root]);
    assert!(
        out.status.success(),
        "event takes folders like report and replay: {}",
        stderr(&out)
    );
    check_warnings("event", &stderr(&out));
    assert!(stdout(&out).contains("\"awslogs\""), "{}", stdout(&out));
}

/// Runs the binary with stdout and stderr on a pipe whose reader is already gone.
fn closed_pipe(args: &[&str]) -> std::process::ExitStatus {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let err = writer.try_clone().unwrap();
    bin()
        .args(args)
        .stdout(writer)
        .stderr(err)
        .status()
        .unwrap()
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    three_days(&logs);
    let root = logs.to_str().unwrap();
    for args in [
        vec!["report", root],
        vec!["report", "--format", "json", root],
        vec![
            "replay",
            "--max-requests",
            "1",
            "--window-minutes",
            "1",
            root,
        ],
        vec!["event", root],
        vec!["rollup-sql", "--date", "2026-11-25"],
        vec!["report", "--date", "2026-12-25", root],
        vec!["report", "/nonexistent"],
    ] {
        let status = closed_pipe(&args);
        assert_ne!(
            status.code(),
            Some(101),
            "{args:?} panicked on the closed pipe"
        );
        assert!(status.code().is_some(), "{args:?}: killed by a signal");
    }
}

#[test]
fn errors_name_the_flag_the_file_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    three_days(&logs);
    let root = logs.to_str().unwrap();
    let err_of = |args: &[&str]| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        stderr(&out)
    };

    let e = err_of(&["report", "--prices", "nonexist.json", root]);
    assert!(e.contains("--prices nonexist.json: no such file"), "{e}");
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{\"as_of\": ").unwrap();
    let e = err_of(&["report", "--prices", not_json.to_str().unwrap(), root]);
    assert!(
        e.contains("--prices") && e.contains("broken.json") && e.contains("not valid JSON"),
        "{e}"
    );
    let no_date = dir.path().join("nodate.json");
    std::fs::write(&no_date, "{\"models\": []}").unwrap();
    let e = err_of(&["report", "--prices", no_date.to_str().unwrap(), root]);
    assert!(e.contains("--prices") && e.contains("nodate.json"), "{e}");
    assert!(
        e.contains("missing field `as_of`") && !e.contains("not valid JSON"),
        "valid JSON missing a field: {e}"
    );
    assert_eq!(
        e.matches("price table").count(),
        1,
        "the parser's text is not repeated: {e}"
    );

    let empty = dir.path().join("profiles.json");
    std::fs::write(&empty, "").unwrap();
    let e = err_of(&["report", "--profiles", empty.to_str().unwrap(), root]);
    assert!(
        e.contains("--profiles") && e.contains("is empty") && e.contains("profiles export"),
        "{e}"
    );

    let e = err_of(&["report", "--date", "2026-11-31", root]);
    assert!(
        e.contains("does not exist") && e.contains("November 2026 has 30 days"),
        "{e}"
    );
}

#[test]
fn the_table_shows_every_caller_on_request_and_says_how_many_are_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("many.jsonl");
    let text: String = (0..30)
        .map(|i| {
            record(
                "2026-11-25T10:00:00Z",
                NOVA_LITE,
                &user(&format!("u{i:02}")),
                [1000 + i, 10, 0, 0],
                None,
            ) + "\n"
        })
        .collect();
    std::fs::write(&f, text).unwrap();
    let path = f.to_str().unwrap();
    let t = stdout(&run(&["report", path]));
    assert!(t.contains("… 5 more lines (--all shows them)"), "{t}");
    let t = stdout(&run(&["report", "--all", path]));
    assert!(!t.contains("more lines"), "{t}");
    assert_eq!(
        (0..30)
            .filter(|i| t.contains(&format!("user/u{i:02} ")))
            .count(),
        30,
        "{t}"
    );
    let t = stdout(&run(&["report", "--top", "3", path]));
    assert!(t.contains("… 27 more lines"), "{t}");
}

#[test]
fn demo_headers_on_stdout_and_replay_names_the_overrides_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo-out");
    let out = run(&["demo", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        o.contains("=== Daily report") && o.contains("=== Runaway alerts"),
        "{o}"
    );
    assert!(
        !e.contains("==="),
        "the headers go with their sections: {e}"
    );
    let report_at = o.find("=== Daily report").unwrap();
    assert!(
        o[report_at..].contains("TOTAL"),
        "header before its section"
    );

    let profiles = out_dir.join("profiles.json");
    let logs = out_dir.join("logs");
    let out = run(&[
        "replay",
        "--max-cost",
        "25",
        "--profiles",
        profiles.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("thresholds $25.00"), "{e}");
    assert!(
        e.contains(
            "ticket-triage (support): max cost $10.00 instead of $25.00 (meter:max-cost-usd=10)"
        ),
        "the override that explains an alert at $10: {e}"
    );
    assert!(
        stdout(&out).contains("thresholds $10.00"),
        "{}",
        stdout(&out)
    );
}

const PROFILES: &str = r#"{"inferenceProfileSummaries":[
 {"inferenceProfileName":"tagged-app-only","inferenceProfileArn":"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/apponly1","type":"APPLICATION",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}],
  "tags":[{"key":"app","value":"scorer"}]},
 {"inferenceProfileName":"bare-profile","inferenceProfileArn":"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/bare1","type":"APPLICATION",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}],
  "tags":[]}]}"#;

#[test]
fn an_application_profile_without_a_team_tag_is_untagged() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles.json");
    std::fs::write(&profiles, PROFILES).unwrap();
    let arn =
        |id: &str| format!("arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/{id}");
    let f = dir.path().join("day.jsonl");
    let text = [
        record(
            "2026-11-25T10:00:00Z",
            &arn("apponly1"),
            &user("a"),
            [100, 10, 0, 0],
            None,
        ),
        record(
            "2026-11-25T10:00:00Z",
            &arn("bare1"),
            &user("a"),
            [100, 10, 0, 0],
            None,
        ),
    ]
    .join("\n");
    std::fs::write(&f, text).unwrap();
    let out = run(&[
        "report",
        "--format",
        "json",
        "--profiles",
        profiles.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let apps: Vec<(String, String)> = j["by_app"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["app"].as_str().unwrap().to_string(),
                a["team"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        apps.contains(&("scorer".into(), "untagged".into())),
        "app tag, no team tag: {apps:?}"
    );
    assert!(
        apps.contains(&("bare-profile".into(), "untagged".into())),
        "no tags: the profile's name: {apps:?}"
    );
    assert_eq!(j["by_team"].as_array().unwrap().len(), 1);
    assert_eq!(j["by_team"][0]["team"], "untagged");
}

/// Replays records at the given times (one request each) with a 3-minute window and at most 2
/// requests; returns the runaway alerts.
fn runaways(times: &[&str]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("calls.jsonl");
    let text: String = times
        .iter()
        .map(|t| record(t, NOVA_LITE, &user("loop"), [10, 1, 0, 0], None) + "\n")
        .collect();
    std::fs::write(&f, text).unwrap();
    let out = run(&[
        "replay",
        "--window-minutes",
        "3",
        "--max-requests",
        "2",
        "--format",
        "json",
        f.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["type"] == "runaway")
        .collect()
}

#[test]
fn the_alert_window_is_exactly_window_minutes_long() {
    // Minutes 10:00 and 10:02 are in one 3-minute window: 3 requests > 2 (a 2-minute window sees 2).
    let alerts = runaways(&[
        "2026-11-25T10:00:30Z",
        "2026-11-25T10:02:10Z",
        "2026-11-25T10:02:20Z",
    ]);
    assert!(!alerts.is_empty(), "the first minute of the window counts");
    for a in &alerts {
        assert_eq!(
            (a["window_minutes"].as_u64(), a["window_requests"].as_u64()),
            (Some(3), Some(3)),
            "{a}"
        );
        assert_eq!(a["at"], "2026-11-25T10:03:00Z", "{a}");
    }
    // Minutes 10:00 and 10:03 are not (a 4-minute window would alert).
    let alerts = runaways(&[
        "2026-11-25T10:00:30Z",
        "2026-11-25T10:03:10Z",
        "2026-11-25T10:03:20Z",
    ]);
    assert!(
        alerts.is_empty(),
        "a minute before the window does not count: {alerts:?}"
    );
}

#[test]
fn long_context_pricing_counts_cache_tokens_end_to_end() {
    // Sonnet 4.5 through the global profile: $3 / $15 / $0.30 / $3.75 per 1M tokens, and the whole
    // request at $6 / $22.50 / $0.60 / $7.50 when input + cache read + cache write exceeds 200,000.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("long.jsonl");
    let sonnet = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let text = [
        record(
            "2026-11-25T10:00:00Z",
            sonnet,
            &user("reads"),
            [150_000, 1_000, 60_000, 0],
            None,
        ),
        record(
            "2026-11-25T10:00:00Z",
            sonnet,
            &user("short"),
            [150_000, 1_000, 40_000, 0],
            None,
        ),
        record(
            "2026-11-25T10:00:00Z",
            sonnet,
            &user("writes"),
            [150_000, 1_000, 0, 60_000],
            None,
        ),
    ]
    .join("\n");
    std::fs::write(&f, text).unwrap();
    let out = run(&["report", "--format", "json", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cost = |name: &str| {
        j["by_caller"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["caller"] == user(name))
            .and_then(|c| c["cost_usd"].as_f64())
            .unwrap()
    };
    let close = |got: f64, want: f64, what: &str| {
        assert!((got - want).abs() < 1e-9, "{what}: {got} != {want}")
    };
    // 210,000 prompt tokens with cache reads: long context.
    close(
        cost("reads"),
        0.150_000 * 6.0 + 0.001 * 22.5 + 0.060 * 0.6,
        "input + cache read > 200k",
    );
    // 190,000: standard.
    close(
        cost("short"),
        0.150_000 * 3.0 + 0.001 * 15.0 + 0.040 * 0.3,
        "input + cache read <= 200k",
    );
    // 210,000 with cache writes: long context.
    close(
        cost("writes"),
        0.150_000 * 6.0 + 0.001 * 22.5 + 0.060 * 7.5,
        "input + cache write > 200k",
    );
}

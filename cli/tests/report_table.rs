//! The terminal table of `report` on the demo day, run on the real binary (issue 27): every line fits
//! in 160 columns (characters, not bytes), long names are shortened in the table only (the deleted
//! profile's ARN to its id), JSON and CSV keep them whole, and a count of one is singular.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
        .args(args)
        .env_remove("KEEP_SESSION_ROLES")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

const GONE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/deleted00001";

#[test]
fn the_demo_table_fits_160_columns_and_json_and_csv_keep_full_names() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo-out");
    let out = out_dir.to_str().unwrap();
    stdout(&run(&["demo", "--no-run", "--out", out]));
    let profiles = out_dir.join("profiles.json");
    let logs = out_dir.join("logs");
    // The report the demo prints (cli/src/demo.rs: its "Daily report" step).
    let report = |format: &str| {
        stdout(&run(&[
            "report",
            "--date",
            "2026-11-25",
            "--metadata-keys",
            "tenant",
            "--format",
            format,
            "--profiles",
            profiles.to_str().unwrap(),
            logs.to_str().unwrap(),
        ]))
    };
    let table = report("table");
    assert!(table.contains("TOTAL"), "{table}");
    for line in table.lines() {
        let n = line.chars().count();
        assert!(n <= 160, "{n} columns:\n{line}\n\n{table}");
    }
    // The deleted profile: shortened on its table line, whole in the By-model section.
    let line = table
        .lines()
        .find(|l| l.contains(" deleted00001 "))
        .unwrap_or_else(|| panic!("the deleted profile's line: {table}"));
    assert!(line.contains("…profile/deleted00001"), "{line}");
    assert!(!line.contains(GONE), "{line}");
    assert!(table.contains(&format!("  {GONE}  ")), "{table}");
    assert!(!table.contains(" 1 requests"), "{table}");

    let json: serde_json::Value = serde_json::from_str(&report("json")).unwrap();
    assert!(
        json["by_model"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["model"] == GONE),
        "{json}"
    );
    let csv = report("csv");
    assert!(
        csv.lines().any(|l| l.split(',').nth(4) == Some(GONE)),
        "{csv}"
    );
    assert!(!csv.contains('…') && !json.to_string().contains('…'));
}

fn one_record(dir: &Path) -> String {
    let f = dir.join("one.jsonl");
    std::fs::write(&f, "{\"timestamp\":\"2026-11-25T10:00:00Z\",\"modelId\":\"amazon.titan-text-express-v1\",\"identity\":{\"arn\":\"arn:aws:iam::1:user/a\"},\"input\":{\"inputTokenCount\":10},\"output\":{\"outputTokenCount\":1}}\n").unwrap();
    f.to_str().unwrap().to_string()
}

#[test]
fn one_request_is_singular_in_the_table_and_the_messages() {
    let dir = tempfile::tempdir().unwrap();
    let f = one_record(dir.path());
    let t = stdout(&run(&["report", &f]));
    assert!(!t.contains("1 requests"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("  unattributed ") && l.ends_with("unpriced          1 request")),
        "the By-team line: {t}"
    );
    assert!(t.contains("(1 request, 10 in / 1 out tokens)"), "{t}");
    assert!(t.contains("in 1 request\n"), "the unattributed line: {t}");
    let none = run(&["report", "--date", "2026-11-26", &f]);
    assert_eq!(none.status.code(), Some(1));
    let e = String::from_utf8_lossy(&none.stderr);
    assert!(
        e.contains("read 1 record in 1 file; none on 2026-11-26"),
        "{e}"
    );

    // The email and the page say it the same way.
    let email = stdout(&run(&[
        "report",
        "--format",
        "email",
        "--date",
        "2026-11-25",
        &f,
    ]));
    assert!(!email.contains("1 requests"), "{email}");
    assert!(
        email.contains("UNPRICED      1 request has no price"),
        "{email}"
    );
    assert!(email.contains("in 1 request\n"), "{email}");
    let html = stdout(&run(&["report", "--format", "html", &f]));
    assert!(!html.contains("1 requests"), "{html}");
    assert!(
        html.contains("<strong>Unpriced: 1 request</strong>"),
        "{html}"
    );
    assert!(html.contains("(1 request)"), "{html}");
}

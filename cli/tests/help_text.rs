//! Every option of every command says what it is for: `-h` shows a description beside each flag.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
        .args(args)
        .arg("-h")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Options listed without a description. clap prints the description beside the flag, or (when
/// some line is long) on the lines below it, indented further; `[default: …]` and `[env: …]` are not
/// descriptions.
fn undescribed(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_description = |t: &str| !t.is_empty() && !t.starts_with('[');
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if !(t.starts_with('-') && (2..=6).contains(&indent(line))) {
            continue;
        }
        let beside = t
            .split("  ")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .nth(1)
            .is_some_and(is_description);
        let below = lines
            .get(i + 1)
            .is_some_and(|next| indent(next) > 8 && is_description(next.trim()));
        if !beside && !below {
            out.push(t.to_string());
        }
    }
    out
}

#[test]
fn every_option_has_a_description() {
    let commands: &[&[&str]] = &[
        &["report"],
        &["replay"],
        &["demo"],
        &["rollup-sql"],
        &["profiles", "export"],
        &["profiles", "create"],
        &["doctor"],
        &["tail"],
        &["smoke"],
        &["event"],
        &["contain", "list"],
        &["contain", "lift"],
    ];
    let mut missing = Vec::new();
    for c in commands {
        for o in undescribed(&help(c)) {
            missing.push(format!("{}: {o}", c.join(" ")));
        }
    }
    assert!(
        missing.is_empty(),
        "options without a description:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_check_finds_an_undescribed_option() {
    let sample = "Usage: x\n\nOptions:\n      --database <DATABASE>\n      --app-tag <APP_TAG>  [default: app]\n      --region <REGION>  Region to check\n  -h, --help  Print help\n";
    assert_eq!(
        undescribed(sample),
        vec![
            "--database <DATABASE>",
            "--app-tag <APP_TAG>  [default: app]"
        ]
    );
    let below = "Options:\n      --table <TABLE>\n          Glue table\n\n      --format <FORMAT>\n          [default: table]\n\n  -h, --help\n          Print help\n";
    assert_eq!(undescribed(below), vec!["--format <FORMAT>"]);
}

#[test]
fn profiles_export_takes_a_region() {
    assert!(help(&["profiles", "export"]).contains("--region"));
}

//! `replay` shows what containment would have done: on the demo's overnight loop (its app tagged
//! `meter:on-runaway=contain`), a `contain` line after the runaway alert and a `release` line when the
//! deny stops applying, with the documented keys; untagged apps and principals outside
//! `--contain-allow` get none.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
        .args(args)
        .env_remove("BEDROCK_METER_PROFILES")
        .env_remove("BEDROCK_METER_PRICES")
        .output()
        .unwrap()
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn replay_of_the_demo_shows_contain_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let o = run(&["demo", "--no-run", "--out", out_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let profiles = out_dir.join("profiles.json");
    let logs = out_dir.join("logs");
    let (p, l) = (profiles.to_str().unwrap(), logs.to_str().unwrap());

    let all = lines(&run(&["replay", "--format", "json", "--profiles", p, l]));
    let kinds: Vec<&str> = all.iter().map(|v| v["type"].as_str().unwrap()).collect();
    let c = kinds
        .iter()
        .position(|k| *k == "contain")
        .expect("a contain line");
    assert_eq!(kinds[c - 1], "runaway", "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "contain").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "release").count(),
        1,
        "{kinds:?}"
    );
    let contain = &all[c];
    // The keys, in the documented order on the line itself.
    let raw = run(&["replay", "--format", "json", "--profiles", p, l]);
    let line = String::from_utf8_lossy(&raw.stdout)
        .lines()
        .nth(c)
        .unwrap()
        .to_string();
    let mut pos = 0;
    for k in ["type", "app", "team", "caller", "at", "until", "resource"] {
        let i = line[pos..]
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} in order in {line}"));
        pos += i;
    }
    assert_eq!(contain.as_object().unwrap().len(), 7, "{line}");
    assert_eq!(contain["app"], "ticket-triage");
    assert_eq!(contain["team"], "support");
    assert_eq!(
        contain["caller"],
        "arn:aws:sts::123456789012:assumed-role/support-bot"
    );
    assert_eq!(contain["at"], all[c - 1]["at"], "put at the runaway alert");
    assert_eq!(
        contain["resource"],
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/triage000001"
    );
    let at = bedrock_meter_core::time::Timestamp::parse_iso8601(contain["at"].as_str().unwrap())
        .unwrap();
    let until =
        bedrock_meter_core::time::Timestamp::parse_iso8601(contain["until"].as_str().unwrap())
            .unwrap();
    assert_eq!(until.0 - at.0, 3600, "the default cool-down");
    let release = all.iter().find(|v| v["type"] == "release").unwrap();
    assert_eq!(release["resource"], contain["resource"]);
    assert_eq!(
        release["at"], contain["until"],
        "the loop outlasts the deny: it expires"
    );

    // A shorter cool-down shows in `until`; a principal outside the allow pattern is never contained.
    let short = lines(&run(&[
        "replay",
        "--format",
        "json",
        "--contain-cool-down",
        "20",
        "--profiles",
        p,
        l,
    ]));
    let c2 = short.iter().find(|v| v["type"] == "contain").unwrap();
    let until2 =
        bedrock_meter_core::time::Timestamp::parse_iso8601(c2["until"].as_str().unwrap()).unwrap();
    assert_eq!(until2.0 - at.0, 1200);
    for allow in ["role/payments-*", "none"] {
        let none = lines(&run(&[
            "replay",
            "--format",
            "json",
            "--contain-allow",
            allow,
            "--profiles",
            p,
            l,
        ]));
        assert!(
            none.iter()
                .all(|v| v["type"] != "contain" && v["type"] != "release"),
            "{allow}"
        );
        assert_eq!(
            none.len(),
            all.len() - 2,
            "the alerts themselves do not change"
        );
    }
    // Without the profiles file no app is tagged: no containment.
    let untagged = lines(&run(&["replay", "--format", "json", l]));
    assert!(untagged.iter().all(|v| v["type"] != "contain"));
}

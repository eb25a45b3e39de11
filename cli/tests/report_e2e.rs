//! End to end: build an S3-layout directory of generated logs, run `bedrock-meter report --format json`
//! and compare every total with values computed here, independently, from the published prices (typed
//! in below from the pricing reference, not read from the project's price table).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

const ACCT: &str = "111122223333";

/// Published rates, micro-dollars per 1M tokens: input, output, cache read, cache write 5m, cache write 1h.
type Rates = [i128; 5];
const HAIKU45_GEO: Rates = [1_100_000, 5_500_000, 110_000, 1_375_000, 2_200_000];
const SONNET45_GLOBAL: Rates = [3_000_000, 15_000_000, 300_000, 3_750_000, 6_000_000];
const SONNET45_GLOBAL_LONG: Rates = [6_000_000, 22_500_000, 600_000, 7_500_000, 12_000_000];
const SONNET45_GEO_LONG: Rates = [6_600_000, 24_750_000, 660_000, 8_250_000, 13_200_000];
const OPUS45_GLOBAL: Rates = [5_000_000, 25_000_000, 500_000, 6_250_000, 10_000_000];
const NOVA_LITE: Rates = [60_000, 240_000, 15_000, 0, 0];
const NOVA_MICRO_TOKYO: Rates = [42_000, 168_000, 10_500, 0, 0];
const CLAUDE3_HAIKU: Rates = [250_000, 1_250_000, 0, 0, 0];

struct Call {
    team: &'static str,
    caller: String,
    model_id: String,
    region: &'static str,
    ts: String,
    tokens: [u64; 5], // input, output, cache read, cache write, of which 1h
    rates: Option<Rates>,
    error: bool,
}

/// Cost in pico-dollars (1e-12 USD).
fn cost(c: &Call) -> i128 {
    let r = c.rates.expect("priced");
    let t = c.tokens.map(i128::from);
    t[0] * r[0] + t[1] * r[1] + t[2] * r[2] + (t[3] - t[4]) * r[3] + t[4] * r[4]
}

fn app_arn(id: &str) -> String {
    format!("arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/{id}")
}

fn record(c: &Call, i: usize) -> String {
    let [input, output, cr, cw, cw1h] = c.tokens;
    let body = if cw1h > 0 {
        format!(
            r#","outputBodyJson":{{"output":{{"message":{{"role":"assistant","content":[{{"text":"synthetic"}}]}}}},"usage":{{"inputTokens":{input},"outputTokens":{output},"cacheDetails":[{{"ttl":"1h","inputTokens":{cw1h}}}]}}}}"#
        )
    } else {
        String::new()
    };
    let tokens = if c.error {
        String::from(
            r#""input":{"inputContentType":"application/json"},"output":{"outputContentType":"application/json"},"errorCode":"ThrottlingException""#,
        )
    } else {
        format!(
            r#""input":{{"inputTokenCount":{input},"cacheReadInputTokenCount":{cr},"cacheWriteInputTokenCount":{cw}}},"output":{{"outputTokenCount":{output}{body}}}"#
        )
    };
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"{}","accountId":"{ACCT}","identity":{{"arn":"{}"}},"region":"{}","requestId":"req-{i}","operation":"Converse","modelId":"{}",{tokens}}}"#,
        c.ts, c.caller, c.region, c.model_id
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

/// splitmix64
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const PROFILES: &str = r#"{"inferenceProfileSummaries":[
 {"inferenceProfileName":"agent","inferenceProfileArn":"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/agent1","type":"APPLICATION",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"},{"modelArn":"arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"}],
  "tags":[{"key":"app","value":"agent"},{"key":"team","value":"platform"}]},
 {"inferenceProfileName":"qa","inferenceProfileArn":"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/qa1","type":"APPLICATION",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"},{"modelArn":"arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"}],
  "tags":[{"key":"app","value":"qa"},{"key":"team","value":"search"}]},
 {"inferenceProfileName":"scorer","inferenceProfileArn":"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/score1","type":"APPLICATION",
  "models":[{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}],
  "tags":[{"key":"app","value":"scorer"},{"key":"team","value":"fraud"}]}]}"#;

#[test]
fn report_json_matches_independently_computed_totals() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    let mut rng = Rng(42);
    let mut calls: Vec<Call> = Vec::new();
    let day = "2026-11-25";
    for i in 0..600u64 {
        let (h, m, s) = (rng.range(0, 23), rng.range(0, 59), rng.range(0, 59));
        let ts = format!("{day}T{h:02}:{m:02}:{s:02}Z");
        let kind = i % 8;
        let mut c = match kind {
            0 => Call { team: "platform", caller: format!("arn:aws:sts::{ACCT}:assumed-role/agent/run{}", i % 3), model_id: app_arn("agent1"), region: "us-east-1", ts, tokens: [rng.range(1, 500), rng.range(1, 2000), rng.range(0, 150_000), rng.range(0, 20_000), 0], rates: Some(HAIKU45_GEO), error: false },
            1 => {
                let long = i % 24 == 1;
                let input = if long { rng.range(190_000, 400_000) } else { rng.range(1, 50_000) };
                let cr = rng.range(0, 30_000);
                let rates = if input + cr > 200_000 { SONNET45_GLOBAL_LONG } else { SONNET45_GLOBAL };
                Call { team: "search", caller: format!("arn:aws:sts::{ACCT}:assumed-role/qa/web"), model_id: app_arn("qa1"), region: "us-east-1", ts, tokens: [input, rng.range(1, 3000), cr, 0, 0], rates: Some(rates), error: false }
            }
            2 => Call { team: "fraud", caller: format!("arn:aws:sts::{ACCT}:assumed-role/fraud/svc"), model_id: app_arn("score1"), region: "us-east-1", ts, tokens: [rng.range(1, 5000), rng.range(1, 300), rng.range(0, 4000), 0, 0], rates: Some(NOVA_LITE), error: false },
            3 => {
                let cw = rng.range(1, 50_000);
                let one_h = if i % 2 == 1 { cw / 3 } else { 0 };
                Call { team: "unattributed", caller: format!("arn:aws:iam::{ACCT}:user/BedrockAPIKey-abcd"), model_id: "global.anthropic.claude-opus-4-5-20251101-v1:0".into(), region: "us-west-2", ts, tokens: [rng.range(1, 900), rng.range(1, 900), 0, cw, one_h], rates: Some(OPUS45_GLOBAL), error: false }
            }
            4 => {
                let input = rng.range(150_000, 260_000);
                let rates = if input > 200_000 { SONNET45_GEO_LONG } else { [3_300_000, 16_500_000, 330_000, 4_125_000, 6_600_000] };
                Call { team: "unattributed", caller: format!("arn:aws:iam::{ACCT}:user/jane"), model_id: "us.anthropic.claude-sonnet-4-5-20250929-v1:0".into(), region: "us-east-1", ts, tokens: [input, rng.range(1, 900), 0, 0, 0], rates: Some(rates), error: false }
            }
            5 => Call { team: "unattributed", caller: format!("arn:aws:sts::{ACCT}:assumed-role/jp/app"), model_id: "apac.amazon.nova-micro-v1:0".into(), region: "ap-northeast-1", ts, tokens: [rng.range(1, 9000), rng.range(1, 900), rng.range(0, 900), 0, 0], rates: Some(NOVA_MICRO_TOKYO), error: false },
            6 => Call { team: "unattributed", caller: format!("arn:aws:sts::{ACCT}:assumed-role/ci/build"), model_id: "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(), region: "us-east-1", ts, tokens: [rng.range(1, 9000), rng.range(1, 900), 0, 0, 0], rates: Some(CLAUDE3_HAIKU), error: i % 40 == 6 },
            _ => Call { team: "unattributed", caller: format!("arn:aws:sts::{ACCT}:assumed-role/legacy/batch"), model_id: "amazon.titan-text-express-v1".into(), region: "us-east-1", ts, tokens: [rng.range(1, 900), rng.range(1, 900), 0, 0, 0], rates: None, error: false },
        };
        if c.error {
            c.tokens = [0; 5];
        }
        calls.push(c);
    }
    // Records of the day before and after, delivered into this day's folders: filtered by timestamp.
    let outside: Vec<Call> = ["2026-11-24T23:59:58Z", "2026-11-26T00:00:01Z"]
        .iter()
        .map(|ts| Call {
            team: "platform",
            caller: "x".into(),
            model_id: app_arn("agent1"),
            region: "us-east-1",
            ts: ts.to_string(),
            tokens: [1000, 1000, 0, 0, 0],
            rates: Some(HAIKU45_GEO),
            error: false,
        })
        .collect();

    // Lay the records out as Bedrock does: hour folders, several gzip files per hour, some late.
    let hour_dir = |d: &str, h: u64| {
        root.join(format!(
            "AWSLogs/{ACCT}/BedrockModelInvocationLogs/us-east-1/{}/{h:02}",
            d.replace('-', "/")
        ))
    };
    let mut files: BTreeMap<std::path::PathBuf, String> = BTreeMap::new();
    for (i, c) in calls.iter().enumerate() {
        let h: u64 = c.ts[11..13].parse().unwrap();
        let folder = if i % 10 == 0 && h < 23 {
            hour_dir(day, h + 1)
        } else {
            hour_dir(day, h)
        };
        files
            .entry(folder.join(format!("2026112{}T{h:02}0000000Z_{:04x}.json.gz", 5, i % 3)))
            .or_default()
            .push_str(&(record(c, i) + "\n"));
    }
    files
        .entry(hour_dir(day, 0).join("20261125T000000000Z_late.json.gz"))
        .or_default()
        .push_str(&(record(&outside[0], 9000) + "\n"));
    files
        .entry(hour_dir(day, 23).join("20261125T230000000Z_early.json.gz"))
        .or_default()
        .push_str(&(record(&outside[1], 9001) + "\n"));
    files.entry(hour_dir(day, 12).join("20261125T120000000Z_broken.json.gz")).or_default().push_str("{\"timestamp\":\"2026-11-25T12:00:00Z\",\"modelId\":\"x.y\",\"input\":{\"inputTokenCount\":\"many\"}}\n{\"truncated\n");
    for (p, t) in &files {
        gz(p, t);
    }
    gz(
        &hour_dir(day, 5).join("data/req-5_input.json.gz"),
        "{\"messages\":[]}",
    );
    gz(
        &hour_dir(day, 5).join("data/req-5_output.json.gz"),
        "not a record",
    );
    std::fs::write(
        root.join(format!(
            "AWSLogs/{ACCT}/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check"
        )),
        b"",
    )
    .unwrap();
    let profiles = dir.path().join("profiles.json");
    std::fs::write(&profiles, PROFILES).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
        .args(["report", "--date", day, "--format", "json", "--profiles"])
        .arg(&profiles)
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Expected, computed here.
    let usd = |pico: i128| pico as f64 / 1e12;
    let priced: Vec<&Call> = calls.iter().filter(|c| c.rates.is_some()).collect();
    let total: i128 = priced.iter().map(|c| cost(c)).sum();
    let close = |got: &serde_json::Value, want: i128, what: &str| {
        let g = got
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: {got} is not a number"));
        assert!(
            (g - usd(want)).abs() < 1e-6,
            "{what}: got {g}, want {}",
            usd(want)
        );
    };
    assert_eq!(j["date"], day);
    assert_eq!(j["prices_as_of"].as_str().map(str::len), Some(10));
    close(&j["totals"]["cost_usd"], total, "total cost");
    let sum = |f: fn(&Call) -> u64| calls.iter().map(f).sum::<u64>();
    assert_eq!(j["totals"]["requests"], calls.len() as u64);
    assert_eq!(
        j["totals"]["errors"],
        calls.iter().filter(|c| c.error).count() as u64
    );
    assert_eq!(j["totals"]["input_tokens"], sum(|c| c.tokens[0]));
    assert_eq!(j["totals"]["output_tokens"], sum(|c| c.tokens[1]));
    assert_eq!(j["totals"]["cache_read_tokens"], sum(|c| c.tokens[2]));
    assert_eq!(j["totals"]["cache_write_tokens"], sum(|c| c.tokens[3]));
    assert_eq!(j["malformed_records"], 2);

    let mut by_team: BTreeMap<&str, (i128, u64)> = BTreeMap::new();
    for c in &calls {
        let e = by_team.entry(c.team).or_default();
        e.0 += c.rates.map_or(0, |_| cost(c));
        e.1 += 1;
    }
    let teams = j["by_team"].as_array().unwrap();
    assert_eq!(teams.len(), by_team.len());
    for (team, (pico, n)) in &by_team {
        let t = teams
            .iter()
            .find(|t| t["team"] == *team)
            .unwrap_or_else(|| panic!("team {team} missing"));
        close(&t["cost_usd"], *pico, team);
        assert_eq!(t["requests"], *n, "{team}");
    }
    let apps = j["by_app"].as_array().unwrap();
    let agent = apps.iter().find(|a| a["app"] == "agent").unwrap();
    assert_eq!(agent["team"], "platform");
    close(
        &agent["cost_usd"],
        calls
            .iter()
            .filter(|c| c.team == "platform")
            .map(cost)
            .sum(),
        "app agent",
    );

    // The caller is the principal (docs/callers.md): `…:assumed-role/agent/run1` is `…:assumed-role/agent`.
    let principal = |arn: &str| -> String {
        match arn.split_once(":assumed-role/") {
            Some((head, rest)) => {
                format!("{head}:assumed-role/{}", rest.split('/').next().unwrap())
            }
            None => arn.to_string(),
        }
    };
    let mut by_caller: BTreeMap<String, i128> = BTreeMap::new();
    for c in &priced {
        *by_caller.entry(principal(&c.caller)).or_default() += cost(c);
    }
    for (caller, pico) in by_caller {
        let caller = caller.as_str();
        let g = j["by_caller"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["caller"] == caller)
            .unwrap();
        close(&g["cost_usd"], pico, caller);
    }
    let opus = j["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "anthropic.claude-opus-4-5-20251101-v1:0")
        .unwrap();
    close(
        &opus["cost_usd"],
        calls
            .iter()
            .filter(|c| c.model_id.contains("opus"))
            .map(cost)
            .sum(),
        "opus (1h cache writes)",
    );

    let unpriced = j["unpriced"].as_array().unwrap();
    assert_eq!(unpriced.len(), 1);
    assert_eq!(unpriced[0]["model_id"], "amazon.titan-text-express-v1");
    let titan: Vec<&Call> = calls.iter().filter(|c| c.rates.is_none()).collect();
    assert_eq!(unpriced[0]["requests"], titan.len() as u64);
    assert_eq!(
        unpriced[0]["input_tokens"],
        titan.iter().map(|c| c.tokens[0]).sum::<u64>()
    );
    assert_eq!(
        unpriced[0]["output_tokens"],
        titan.iter().map(|c| c.tokens[1]).sum::<u64>()
    );

    // cost_usd is a JSON number with at least 6 decimals.
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.split("\"cost_usd\": ").nth(1).unwrap();
    let number: String = first
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert!(
        number.split('.').nth(1).is_some_and(|f| f.len() >= 6),
        "{number}"
    );
}

#[test]
fn table_and_csv_formats_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("one.jsonl");
    std::fs::write(&f, "{\"timestamp\":\"2026-11-25T10:00:00Z\",\"region\":\"us-east-1\",\"modelId\":\"amazon.nova-lite-v1:0\",\"identity\":{\"arn\":\"arn:aws:iam::1:user/a\"},\"input\":{\"inputTokenCount\":1000000},\"output\":{\"outputTokenCount\":1000000}}\n").unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
            .args(args)
            .output()
            .unwrap()
    };
    let path = f.to_str().unwrap();
    let table = run(&["report", path]);
    assert!(table.status.success());
    let t = String::from_utf8(table.stdout).unwrap();
    assert!(t.contains("Bedrock spend 2026-11-25"), "{t}");
    assert!(t.contains("$0.30"), "0.06 + 0.24 per 1M in and out: {t}");
    let csv = String::from_utf8(run(&["report", "--format", "csv", path]).stdout).unwrap();
    assert!(
        csv.lines().nth(1).unwrap().ends_with(",0.300000000,0,"),
        "{csv}"
    );
    assert!(!run(&["report", "--date", "2026-13-01", path])
        .status
        .success());
    assert!(!run(&["report", "/nonexistent/path"]).status.success());
    let bad_prices = dir.path().join("prices.json");
    std::fs::write(&bad_prices, "{}").unwrap();
    let out = run(&["report", "--prices", bad_prices.to_str().unwrap(), path]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("price table"));
}

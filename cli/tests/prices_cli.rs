//! `bedrock-meter prices check` / `prices update`, and `report` on late-2026 traffic: Claude Sonnet 4.6
//! in all three pools, a served service tier, a model without a price. Expected money is typed in
//! here from the published rates (Sonnet 4.6: $3 / $15 per 1M global, 1.1× regional), not read from
//! the project's table.

use std::path::Path;
use std::process::{Command, Output};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bedrock-meter"))
        .args(args)
        .env_remove("BEDROCK_METER_PRICES")
        .env_remove("BEDROCK_METER_PROFILES")
        .env_remove("METADATA_KEYS")
        .output()
        .unwrap()
}

fn record(model: &str, input: u64, output: u64, extra: &str) -> String {
    format!(
        r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-11-30T10:00:00Z","accountId":"111122223333","region":"us-east-1","requestId":"r","operation":"Converse","modelId":"{model}","identity":{{"arn":"arn:aws:iam::111122223333:user/dev"}},"input":{{"inputTokenCount":{input}{extra}}},"output":{{"outputTokenCount":{output}}}}}"#
    )
}

fn write(dir: &Path, name: &str, lines: &[String]) {
    std::fs::write(dir.join(name), lines.join("\n") + "\n").unwrap();
}

#[test]
fn report_prices_sonnet_46_in_every_pool_and_check_finds_the_unpriced() {
    let dir = tempfile::tempdir().unwrap();
    let m = 1_000_000;
    write(
        dir.path(),
        "priced.jsonl",
        &[
            record("global.anthropic.claude-sonnet-4-6", m, m, ""),
            record("us.anthropic.claude-sonnet-4-6", m, m, ""),
            record("eu.anthropic.claude-sonnet-4-6", m, m, ""),
            record("anthropic.claude-sonnet-4-6", m, m, ""),
            record(
                "arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-sonnet-4-6",
                m,
                0,
                "",
            ),
        ],
    );
    let priced = dir.path().join("priced.jsonl");
    let out = bin(&["report", "--format", "json", priced.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // global: 3 + 15; us, eu, in-Region: 3.3 + 16.5 each; the global ARN: 3 (input only).
    let expect = 18.0 + 3.0 * 19.8 + 3.0;
    let total = json["totals"]["cost_usd"].as_f64().unwrap();
    assert!((total - expect).abs() < 1e-9, "{total} vs {expect}");
    assert_eq!(json["totals"]["unpriced_requests"], 0);
    // Logged without bodies: the tier is not in the log; priced as Standard and said so, per model.
    assert_eq!(json["by_tier"][0]["tier"], "unread");
    assert_eq!(
        json["tier_unread"][0]["model"],
        "anthropic.claude-sonnet-4-6"
    );
    assert_eq!(json["tier_unread"][0]["requests"], 5);
    let check = bin(&["prices", "check", priced.to_str().unwrap()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("every model in the logs has a price"));

    // A model without a price and a call served in the flex tier (no flex rate in the table).
    write(
        dir.path(),
        "unpriced.jsonl",
        &[
            record("amazon.titan-text-express-v1", 10, 20, ""),
            record(
                "us.anthropic.claude-sonnet-4-6",
                m,
                m,
                r#","inputBodyJson":{"messages":[],"serviceTier":{"type":"flex"}}"#,
            ),
        ],
    );
    let check = bin(&["prices", "check", dir.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(
        text.contains("2 models in the logs cannot be priced"),
        "{text}"
    );
    assert!(
        text.contains("amazon.titan-text-express-v1 — unknown model: 1 requests"),
        "{text}"
    );
    assert!(
        text.contains("anthropic.claude-sonnet-4-6 — no rate for tier: 1 requests"),
        "{text}"
    );
    let out = bin(&["report", "--format", "json", dir.path().to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let flex = json["by_tier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tier"] == "flex")
        .unwrap();
    assert_eq!(
        (
            flex["requests"].as_u64(),
            flex["unpriced_requests"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // The flex call is not priced at the standard rate: the total is still the priced calls only.
    let total = json["totals"]["cost_usd"].as_f64().unwrap();
    assert!((total - (expect)).abs() < 1e-9, "{total}");
}

#[test]
fn update_prints_the_diff_against_an_offer_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    // GetProducts output shape (PriceList items are JSON strings); see shared/src/pricing/price_list.rs tests
    // for where the attribute values come from.
    let item = |model: &str, ut: &str, inference: &str, usd: &str| {
        serde_json::json!({
            "product": {"attributes": {"servicecode": "AmazonBedrock", "regionCode": "us-east-1",
                "model": model, "feature": "On-demand Inference", "inferenceType": inference, "usagetype": ut}},
            "serviceCode": "AmazonBedrock",
            "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {
                "unit": "1K tokens", "description": "", "pricePerUnit": {"USD": usd}}}}}}
        })
        .to_string()
    };
    let doc = serde_json::json!({"PriceList": [
        item("Nova Lite", "USE1-NovaLite-input-tokens", "Input tokens", "0.0000600000"),
        item("Nova Lite", "USE1-NovaLite-output-tokens", "Output tokens", "0.0002400000"),
        item("Nova Pro", "USE1-NovaPro-input-tokens", "Input tokens", "0.0009000000"),
        item("Nova Lite", "USE1-NovaLite-input-tokens-batch", "Input tokens", "0.0000300000"),
    ]});
    let f = dir.path().join("bedrock.json");
    std::fs::write(&f, doc.to_string()).unwrap();
    let out = bin(&["prices", "update", "--offer", f.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("3 on-demand token rates read, 1 other rows skipped"),
        "{text}"
    );
    assert!(text.contains("= Amazon Nova Lite: unchanged\n"), "{text}");
    assert!(
        text.contains("~ Amazon Nova Pro: regional.us.input 0.8 -> 0.9\n"),
        "{text}"
    );
    assert!(
        text.contains("? Amazon Nova Micro: no on-demand rate for Nova Micro in the offer"),
        "{text}"
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = bin(&["prices", "update", "--offer", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_query_pack_names_the_cur_table_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(&[
        "rollup-sql",
        "--query-pack",
        dir.path().to_str().unwrap(),
        "--cur-table",
        "cur_db.cur2_daily",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = std::fs::read_to_string(dir.path().join("06-estimate-vs-bill.sql")).unwrap();
    assert!(sql.contains("  FROM \"cur_db\".\"cur2_daily\"\n"), "{sql}");
    assert!(!sql.contains("YOUR_CUR"));
    // Without it, the placeholder stays (the committed file).
    let out = bin(&["rollup-sql", "--query-pack", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let sql = std::fs::read_to_string(dir.path().join("06-estimate-vs-bill.sql")).unwrap();
    assert!(sql.contains("FROM \"YOUR_CUR_DATABASE\".\"YOUR_CUR_TABLE\""));
}

/// `prices update` over the Price List records in `tests/fixtures/price-list` (published SKUs, usage
/// types, descriptions and prices; see its README for where each comes from): the Amazon models and
/// the Marketplace-sold Claude Haiku 4.5 come out as the committed entries, and every token row is
/// read — the Marketplace output rows ("Million Response Tokens …") included.
#[test]
fn update_over_published_offer_records_reproduces_the_committed_entries() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/price-list");
    let amazon = dir.join("AmazonBedrock-us-east-1.json");
    let marketplace = dir.join("AmazonBedrockFoundationModels-us-east-1.json");
    let out = bin(&[
        "prices",
        "update",
        "--offer",
        amazon.to_str().unwrap(),
        "--offer",
        marketplace.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 16 AmazonBedrock rows (Nova 2 Lite in-Region and global, Nova Lite, Nova Pro; Qwen3 32B
    // standard, Flex and Priority; Qwen3 Coder Next) and 4 Marketplace rows (Haiku 4.5 input /
    // output, regional / global): none skipped. The Flex and Priority rows are read as tiers and
    // left out of the standard rates' comparison.
    assert!(
        text.contains("20 on-demand token rates read, 0 other rows skipped"),
        "{text}"
    );
    for model in [
        "Claude Haiku 4.5",
        "Amazon Nova 2 Lite",
        "Amazon Nova Lite",
        "Amazon Nova Pro",
        "Qwen3 32B",
        "Qwen3 Coder Next",
    ] {
        assert!(
            text.contains(&format!("= {model}: unchanged\n")),
            "{model}: {text}"
        );
    }
    assert!(!text.contains("\n~ "), "{text}");
    assert!(!text.contains("\n+ "), "{text}");

    // The Haiku 4.5 output rows are what a changed price shows on: one cent more per million
    // regional output must be reported against the committed 5.50.
    let doc = std::fs::read_to_string(&marketplace)
        .unwrap()
        .replace("5.5000000000", "5.6000000000");
    let tmp = tempfile::tempdir().unwrap();
    let changed = tmp.path().join("fm.json");
    std::fs::write(&changed, doc).unwrap();
    let out = bin(&["prices", "update", "--offer", changed.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("~ Claude Haiku 4.5: regional.us.output 5.5 -> 5.6\n"),
        "{text}"
    );
}

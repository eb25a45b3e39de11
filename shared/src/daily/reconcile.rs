//! The estimate reconciled with the bill: the query pack's `06 estimate vs bill` and the daily email's
//! bill check, pure SQL text and row reading.
//!
//! The bill is the CUR 2.0 data export (AWS Data Exports, table `COST_AND_USAGE_REPORT`) queried in
//! Athena. Column names are CUR 2.0's (AWS Data Exports user guide, "Cost and Usage Report (CUR) 2.0"
//! table dictionary): `line_item_usage_start_date` (timestamp), `line_item_line_item_type` (`Usage`,
//! `Tax`, `Credit`, …), `line_item_product_code`, `product_servicecode`, `product` (a
//! `map<string,string>` of the other product attributes, `product_name` among them),
//! `line_item_resource_id` (with the export's `INCLUDE_RESOURCES`; for a call through an application
//! inference profile: the profile ARN — the resource its tags are on), `line_item_iam_principal` (with
//! the export's `INCLUDE_IAM_PRINCIPAL_DATA`: the calling IAM principal, CUR 2.0 only) and
//! `line_item_unblended_cost`.
//!
//! **Which lines are Bedrock** ([`bedrock_usage_lines`]). Amazon's own models bill under product codes
//! starting `AmazonBedrock`. Anthropic's Claude models are sold through AWS Marketplace: their lines
//! carry a Marketplace product code of their own, the product name `Claude … (Amazon Bedrock Edition)`
//! and usage types like `USW2-MP:USW2_InputTokenCount-Units` — a filter on `AmazonBedrock*` codes alone
//! misses all of them. AWS's own CUR 2.0 Bedrock query (re:Invent 2025 COP401,
//! github.com/awssteph/reinvent25-cop401 `BedrockCostAllocation.sql`) adds
//! `product['product_name'] LIKE '%Bedrock%'` for exactly these lines (its comment: "example p_n =
//! 'Claude 3 Haiku (Amazon Bedrock Edition)'", "Marketplace 'USW2-MP:USW2_InputTokenCount-Units'").
//! Here the match is the edition suffix, so no other Marketplace product's `-MP:` lines are counted.
//!
//! **Which caller.** CUR 2.0 records a role-based caller in the assumed-role session form,
//! `arn:aws:sts::ACCT:assumed-role/<Role>/<Session>` (aws-samples/sample-bedrock-spend-budget-guardrails,
//! `docs/cur-reconciliation.md`, "Principal-key canonicalization"; AWS's launch post of IAM-principal
//! cost allocation for Bedrock: federated users appear as `assumed-role/Role/user@…`) — the same form as
//! the invocation log's `identity.arn`. The query applies the caller rule of docs/callers.md (generated
//! by [`crate::attribution::principal::PrincipalRule::sql`], the generator the estimate's side uses) to
//! `line_item_iam_principal` before it joins, so the sessions of a workload role meet the role's
//! estimate and IAM Identity Center sessions stay people on both sides.
//!
//! Per UTC day, the query puts the estimate (the pack's `priced` rows) beside the billed Bedrock usage
//! twice: per application profile ARN (with app and team; calls without a profile in one row) and per
//! IAM principal. `difference_usd` = billed − estimated: positive where the bill is higher (usage the
//! logs do not price: batch jobs, images, unpriced models, tiers without a rate), negative where the
//! estimate is. `bill_complete` is false for days with no Bedrock line in the bill yet (CUR data lags
//! by a day or more): their difference means nothing yet.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::daily::athena_sql::sql_string;
use crate::daily::query_pack::QueryPack;
use crate::daily::rollup::PricedRow;
use crate::pricing::money::Money;
use crate::records::record::UNKNOWN_CALLER;
use crate::time::Date;

/// The CUR 2.0 table the committed query names: replace it (or `rollup-sql --query-pack DIR
/// --cur-table DATABASE.TABLE`).
pub const CUR_TABLE_PLACEHOLDER: &str = "\"YOUR_CUR_DATABASE\".\"YOUR_CUR_TABLE\"";

/// The key of estimate and bill rows of calls made without an application profile.
const NO_PROFILE: &str = "(no application profile)";

/// The window of the reconciliation: the bill lags, so a week of complete days.
pub const RECONCILE_DAYS: u32 = 7;

/// An application inference profile ARN.
const APP_PROFILE_ARN: &str = "^arn:[^:]*:bedrock:[^:]*:[^:]*:application-inference-profile/.+$";

/// The product name of a model Bedrock sells through AWS Marketplace (Anthropic's Claude models:
/// `Claude Sonnet 4.5 (Amazon Bedrock Edition)`), in CUR 2.0's `product` map under `product_name`.
/// Such lines have a Marketplace product code of their own (not `AmazonBedrock…`), billing entity
/// `AWS Marketplace` and usage types like `USW2-MP:USW2_InputTokenCount-Units`.
pub const MARKETPLACE_BEDROCK_PRODUCT: &str = "%(Amazon Bedrock Edition)%";

/// The bill's Bedrock usage lines, a SQL condition over CUR 2.0 columns (`indent` before each
/// continuation line): usage only (no tax, credits, refunds or fees), of Bedrock's own product codes
/// (`AmazonBedrock`, `AmazonBedrockFoundationModels`, …, in `line_item_product_code` or
/// `product_servicecode`) or of a model sold through AWS Marketplace as an Amazon Bedrock Edition. One
/// definition for the query pack's `06 estimate vs bill` and the daily email's bill check.
///
/// `element_at` (NULL for a missing key) rather than `product['product_name']`, which fails the query
/// on a line whose map has no such key.
pub fn bedrock_usage_lines(indent: &str) -> String {
    format!(
        "line_item_line_item_type = 'Usage'\n\
         {indent}AND (line_item_product_code LIKE 'AmazonBedrock%'\n\
         {indent}  OR product_servicecode LIKE 'AmazonBedrock%'\n\
         {indent}  OR element_at(product, 'product_name') LIKE {})",
        sql_string(MARKETPLACE_BEDROCK_PRODUCT)
    )
}

/// `06 estimate vs bill` over `cur_table` (a quoted `database.table`).
pub(crate) fn estimate_vs_bill_sql(
    pack: &QueryPack<'_>,
    title: &str,
    description: &str,
    cur_table: &str,
) -> String {
    let week = QueryPack {
        days: RECONCILE_DAYS,
        ..pack.clone()
    };
    let d = week.days;
    let arn = sql_string(APP_PROFILE_ARN);
    let none = sql_string(NO_PROFILE);
    let lines = bedrock_usage_lines("    ");
    // The bill names the calling session (`…:assumed-role/Role/session`); the estimate names callers by
    // the rule of docs/callers.md. The same rule, generated from the same code, applied to the bill's
    // principal before the join, so a role's sessions meet the role's estimate.
    let principal = week.principal.sql("coalesce(line_item_iam_principal, '')");
    let unknown = sql_string(UNKNOWN_CALLER);
    let mut s = week.header(title, description);
    s.push_str(&week.window_comment());
    s.push_str(&format!(
        "-- The bill: the CUR 2.0 table {cur_table} (replace it with yours; README, Reconciliation with the bill).\n\
         -- difference_usd = billed - estimated. bill_complete = false: no Bedrock line for that day in the bill yet.\n"
    ));
    s.push_str(week.shared_ctes().trim_end());
    s.push_str(&format!(
        ",\n\
         estimate AS (\n  \
         SELECT day, 'profile' AS dimension,\n    \
         CASE WHEN regexp_like(model_id, {arn}) THEN model_id ELSE {none} END AS key,\n    \
         app, team,\n    \
         sum(cost_usd) AS estimated_usd,\n    \
         sum(CASE WHEN cost_usd IS NULL THEN requests ELSE 0 END) AS unpriced_requests\n  \
         FROM priced\n  \
         GROUP BY 1, 2, 3, 4, 5\n  \
         UNION ALL\n  \
         SELECT day, 'principal', caller, NULL, NULL,\n    \
         sum(cost_usd),\n    \
         sum(CASE WHEN cost_usd IS NULL THEN requests ELSE 0 END)\n  \
         FROM priced\n  \
         GROUP BY 1, 2, 3\n\
         ),\n\
         bill_lines AS (\n  \
         -- Bedrock usage lines of the bill (Usage only: no tax, credits, refunds or fees): Bedrock's own product codes\n  \
         -- and the models sold through AWS Marketplace ('Claude ... (Amazon Bedrock Edition)', usage types '...-MP:...').\n  \
         -- principal: line_item_iam_principal under the caller rule of the estimate (a role's sessions are the role).\n  \
         SELECT\n    \
         date(line_item_usage_start_date) AS day,\n    \
         coalesce(line_item_resource_id, '') AS resource_id,\n    \
         coalesce(nullif({principal}, ''), {unknown}) AS principal,\n    \
         line_item_unblended_cost AS cost\n  \
         FROM {cur_table}\n  \
         WHERE {lines}\n    \
         AND line_item_usage_start_date >= CAST(current_date - INTERVAL '{d}' DAY AS timestamp)\n    \
         AND line_item_usage_start_date < CAST(current_date AS timestamp)\n\
         ),\n\
         bill AS (\n  \
         SELECT day, 'profile' AS dimension,\n    \
         CASE WHEN regexp_like(resource_id, {arn}) THEN resource_id ELSE {none} END AS key,\n    \
         sum(cost) AS billed_usd\n  \
         FROM bill_lines\n  \
         GROUP BY 1, 2, 3\n  \
         UNION ALL\n  \
         SELECT day, 'principal', principal, sum(cost)\n  \
         FROM bill_lines\n  \
         GROUP BY 1, 2, 3\n\
         )\n\
         SELECT\n  \
         coalesce(e.day, b.day) AS day,\n  \
         coalesce(e.dimension, b.dimension) AS dimension,\n  \
         coalesce(e.key, b.key) AS key,\n  \
         e.app,\n  \
         e.team,\n  \
         CAST(e.estimated_usd AS DECIMAL(38, 6)) AS estimated_cost_usd,\n  \
         CAST(b.billed_usd AS DECIMAL(38, 6)) AS billed_cost_usd,\n  \
         CAST(coalesce(b.billed_usd, 0) - coalesce(e.estimated_usd, 0) AS DECIMAL(38, 6)) AS difference_usd,\n  \
         coalesce(e.unpriced_requests, 0) AS unpriced_requests,\n  \
         coalesce(e.day, b.day) IN (SELECT DISTINCT day FROM bill_lines) AS bill_complete\n\
         FROM estimate e\n\
         FULL OUTER JOIN bill b ON e.day = b.day AND e.dimension = b.dimension AND e.key = b.key\n\
         ORDER BY 1, 2, abs(coalesce(b.billed_usd, 0) - coalesce(e.estimated_usd, 0)) DESC, 3;\n"
    ));
    s
}

// ---- The daily email's bill check (functions/rollup, optional: CUR_TABLE) ----

/// Billed Bedrock usage of one UTC day and key (an application-profile ARN or [`NO_PROFILE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BilledLine {
    pub day: Date,
    pub key: String,
    pub billed: Money,
}

/// The bill's Bedrock usage per UTC day and profile key for the `days` days up to and including
/// `date`, from the CUR 2.0 table `cur_table` (`database.table`, each part quoted here). Columns: `day`
/// (YYYY-MM-DD), `key`, `billed_usd` (a plain decimal).
pub fn bill_sql(cur_table: &str, date: Date, days: u32) -> String {
    let table = cur_table
        .split('.')
        .map(crate::daily::athena_sql::sql_ident)
        .collect::<Vec<_>>()
        .join(".");
    let mut from = date;
    for _ in 1..days.max(1) {
        from = from.pred();
    }
    let to = date.succ();
    let arn = sql_string(APP_PROFILE_ARN);
    let none = sql_string(NO_PROFILE);
    let lines = bedrock_usage_lines("  ");
    format!(
        "-- bedrock-meter daily bill check: Bedrock usage of the CUR 2.0 export per UTC day and application profile.\n\
         SELECT\n  \
         CAST(date(line_item_usage_start_date) AS varchar) AS day,\n  \
         CASE WHEN regexp_like(coalesce(line_item_resource_id, ''), {arn}) THEN line_item_resource_id ELSE {none} END AS key,\n  \
         CAST(CAST(sum(line_item_unblended_cost) AS DECIMAL(38, 10)) AS varchar) AS billed_usd\n\
         FROM {table}\n\
         WHERE {lines}\n  \
         AND line_item_usage_start_date >= TIMESTAMP '{from} 00:00:00'\n  \
         AND line_item_usage_start_date < TIMESTAMP '{to} 00:00:00'\n\
         GROUP BY 1, 2\n"
    )
}

/// The rows of [`bill_sql`].
pub fn bill_from_rows(
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<Vec<BilledLine>, String> {
    let col = |name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("no column {name:?} in {columns:?}"))
    };
    let (d, k, b) = (col("day")?, col("key")?, col("billed_usd")?);
    rows.iter()
        .map(|r| {
            let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            let day = Date::parse(get(d).trim()).ok_or_else(|| format!("day {:?}", get(d)))?;
            let billed = Money::from_usd_text(&get(b))
                .map_err(|e| format!("billed_usd {:?}: {e}", get(b)))?;
            Ok(BilledLine {
                day,
                key: get(k),
                billed,
            })
        })
        .collect()
}

/// The latest fully billed day: the day before the latest day the bill has Bedrock usage for (a day
/// is complete once the bill has moved on to the next one).
pub fn latest_fully_billed(lines: &[BilledLine]) -> Option<Date> {
    let last = lines.iter().map(|l| l.day).max()?;
    let day = last.pred();
    lines.iter().any(|l| l.day <= day).then_some(day)
}

/// The summary email's line for `day`: billed vs estimated, the difference, and the profile key
/// where most of it is (with the estimate's app and team).
pub fn bill_check_line(day: Date, lines: &[BilledLine], estimate: &[PricedRow]) -> String {
    let mut billed: BTreeMap<String, Money> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.day == day) {
        *billed.entry(l.key.clone()).or_default() += l.billed;
    }
    let mut estimated: BTreeMap<String, Money> = BTreeMap::new();
    let mut who: BTreeMap<String, String> = BTreeMap::new();
    let mut unpriced = 0u64;
    for r in estimate {
        let key = match &r.resolution.profile_arn {
            Some(arn) => arn.clone(),
            None => NO_PROFILE.to_string(),
        };
        who.entry(key.clone())
            .or_insert_with(|| format!("{} ({})", r.resolution.app, r.resolution.team));
        match r.cost {
            Ok(c) => *estimated.entry(key).or_default() += c,
            Err(_) => unpriced += r.usage.requests,
        }
    }
    let total_billed: Money = billed.values().copied().sum();
    let total_estimated: Money = estimated.values().copied().sum();
    let diff = total_billed - total_estimated;
    let keys: std::collections::BTreeSet<&String> = billed.keys().chain(estimated.keys()).collect();
    let largest = keys
        .into_iter()
        .map(|k| {
            let d = billed.get(k).copied().unwrap_or_default()
                - estimated.get(k).copied().unwrap_or_default();
            (d, k)
        })
        .max_by(|a, b| a.0 .0.abs().cmp(&b.0 .0.abs()).then(b.1.cmp(a.1)));
    let sign = |m: Money| {
        if m.0 >= 0 {
            format!("+{m}")
        } else {
            m.to_string()
        }
    };
    let mut line = format!(
        "Bill check {day} (latest fully billed day): billed {total_billed}, estimated {total_estimated}, difference {}",
        sign(diff)
    );
    if let Some((d, k)) = largest.filter(|(d, _)| d.0 != 0) {
        let name = who.get(k).cloned().unwrap_or_else(|| "bill only".into());
        let _ = write!(line, "; most of it: {k} [{name}] {}", sign(d));
    }
    if unpriced > 0 {
        let _ = write!(line, "; {unpriced} unpriced requests not in the estimate");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::{Profile, ProfileMap};
    use crate::attribution::resolution::AttributionConfig;
    use crate::daily::rollup::{price_rows, Rollup, UsageKey};
    use crate::pricing::prices::PriceTable;
    use crate::records::record::Tokens;
    use crate::records::record::Usage;

    const ARN: &str = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/ops01";

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn usd(s: &str) -> Money {
        Money::from_usd_text(s).unwrap()
    }

    #[test]
    fn bill_query_reads_cur_2_columns_for_the_window() {
        let sql = bill_sql("cur.cur2_daily", d("2026-11-25"), 7);
        assert!(sql.contains("FROM \"cur\".\"cur2_daily\"\n"));
        assert!(sql.contains("line_item_usage_start_date >= TIMESTAMP '2026-11-19 00:00:00'"));
        assert!(sql.contains("line_item_usage_start_date < TIMESTAMP '2026-11-26 00:00:00'"));
        for c in [
            "line_item_resource_id",
            "line_item_unblended_cost",
            "line_item_line_item_type = 'Usage'",
            "line_item_product_code",
            "product_servicecode",
        ] {
            assert!(sql.contains(c), "{c}");
        }
    }

    #[test]
    fn both_bill_queries_count_marketplace_claude_lines() {
        // Claude's lines are AWS Marketplace lines: their own product code, `Claude … (Amazon Bedrock
        // Edition)`. The old filter (AmazonBedrock* codes only) matched none of them.
        let marketplace =
            "OR element_at(product, 'product_name') LIKE '%(Amazon Bedrock Edition)%')";
        let bill = bill_sql("cur.cur2_daily", d("2026-11-25"), 7);
        let t = PriceTable::embedded();
        let pack = crate::daily::query_pack::QueryPack::default_for(&t).files();
        let reconcile = &pack
            .iter()
            .find(|f| f.file_name == "06-estimate-vs-bill.sql")
            .unwrap()
            .sql;
        for (name, sql, indent) in [("bill check", &bill, "  "), ("06", reconcile, "    ")] {
            assert!(sql.contains(marketplace), "{name}: {sql}");
            // One definition: the same condition in both, usage lines only.
            assert!(
                sql.contains(&format!("WHERE {}\n", bedrock_usage_lines(indent))),
                "{name}"
            );
            assert!(sql.contains("line_item_line_item_type = 'Usage'"), "{name}");
            assert!(
                !sql.contains("product['product_name']"),
                "{name}: a map subscript fails on a line without the key"
            );
        }
    }

    #[test]
    fn the_bills_principal_is_put_through_the_callers_rule() {
        use crate::attribution::principal::PrincipalRule;
        let t = PriceTable::embedded();
        for rule in [
            PrincipalRule::default(),
            PrincipalRule::parse("Human-*,AWSReservedSSO_*").unwrap(),
            PrincipalRule::parse("none").unwrap(),
        ] {
            let pack = crate::daily::query_pack::QueryPack {
                principal: rule.clone(),
                ..crate::daily::query_pack::QueryPack::default_for(&t)
            };
            let sql = estimate_vs_bill_sql(&pack, "06", "d", CUR_TABLE_PLACEHOLDER);
            // The bill's side and the estimate's side: one generator, the same patterns.
            let bill_side = format!(
                "coalesce(nullif({}, ''), 'unknown') AS principal",
                rule.sql("coalesce(line_item_iam_principal, '')")
            );
            let log_side = format!(
                "coalesce(nullif({}, ''), 'unknown') AS caller",
                rule.sql("coalesce(identity.arn, '')")
            );
            assert!(sql.contains(&bill_side), "{:?}: {sql}", rule.patterns());
            assert!(sql.contains(&log_side), "{:?}", rule.patterns());
            // The raw column is never a join key by itself.
            assert!(!sql.contains("nullif(line_item_iam_principal, '')"));
        }
    }

    #[test]
    fn the_line_names_the_day_the_difference_and_where_it_is() {
        let cols: Vec<String> = ["day", "key", "billed_usd"].map(String::from).to_vec();
        let row = |day: &str, key: &str, usd: &str| {
            vec![
                Some(day.to_string()),
                Some(key.to_string()),
                Some(usd.to_string()),
            ]
        };
        let lines = bill_from_rows(
            &cols,
            &[
                row("2026-11-23", ARN, "6.6000000000"),
                row("2026-11-23", NO_PROFILE, "1.5000000000"),
                row("2026-11-24", ARN, "0.1000000000"),
            ],
        )
        .unwrap();
        // The bill has reached the 24th: the 23rd is the latest complete day.
        assert_eq!(latest_fully_billed(&lines), Some(d("2026-11-23")));
        assert_eq!(latest_fully_billed(&lines[2..]), None);
        assert!(bill_from_rows(&cols, &[row("x", ARN, "1")]).is_err());
        assert!(bill_from_rows(&cols[..2], &[]).is_err());

        // The estimate of the 23rd: 1M input + 1M output tokens of Haiku 4.5 through the us. profile
        // (1.10 + 5.50 = 6.60), and 1M Nova Lite input tokens called directly (0.06).
        let prices = PriceTable::embedded();
        let profiles = ProfileMap::new([Profile {
            arn: ARN.into(),
            id: "ops01".into(),
            name: "ops-agent".into(),
            model_arns: vec![
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0".into(),
                "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0".into(),
            ],
            tags: [("app".into(), "ops-agent".into()), ("team".into(), "platform".into())].into(),
        }]);
        let key = |m: &str| UsageKey {
            model_id: m.into(),
            region: "us-east-1".into(),
            caller: "arn:aws:iam::1:user/u".into(),
            metadata: vec![],
            prompt_band: 0,
            tier: "default".into(),
        };
        let mut r = Rollup::default();
        let m = 1_000_000;
        r.add_row(
            key(ARN),
            &Usage {
                requests: 4,
                errors: 0,
                tokens: Tokens {
                    input: m,
                    output: m,
                    ..Default::default()
                },
            },
        );
        r.add_row(
            key("amazon.nova-lite-v1:0"),
            &Usage {
                requests: 2,
                errors: 0,
                tokens: Tokens {
                    input: m,
                    ..Default::default()
                },
            },
        );
        r.add_row(
            key("acme.unknown-v1"),
            &Usage {
                requests: 3,
                errors: 0,
                tokens: Tokens::default(),
            },
        );
        let rows = price_rows(&r.rows, &profiles, &prices, &AttributionConfig::default());
        let line = bill_check_line(d("2026-11-23"), &lines, &rows);
        // billed 8.10, estimated 6.66: +1.44, all of it on the calls without a profile (1.50 - 0.06).
        assert_eq!(
            line,
            "Bill check 2026-11-23 (latest fully billed day): billed $8.10, estimated $6.66, difference +$1.44; \
             most of it: (no application profile) [unattributed (unattributed)] +$1.44; 3 unpriced requests not in the estimate"
        );
        assert_eq!(usd("8.10") - usd("6.66"), usd("1.44"));
        // Where the estimate is higher, the difference is negative and points at the profile.
        let over = bill_check_line(d("2026-11-24"), &lines, &rows);
        assert!(
            over.contains("billed $0.10, estimated $6.66, difference -$6.56"),
            "{over}"
        );
        assert!(
            over.contains(&format!("most of it: {ARN} [ops-agent (platform)] -$6.50")),
            "{over}"
        );
    }
}

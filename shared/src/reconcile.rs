//! The estimate reconciled with the bill: the query pack's `06 estimate vs bill`, pure SQL text.
//!
//! The bill is the CUR 2.0 data export (AWS Data Exports, table `COST_AND_USAGE_REPORT`) queried in
//! Athena. Column names are CUR 2.0's (AWS Data Exports user guide, "Cost and Usage Report (CUR) 2.0"
//! table dictionary): `line_item_usage_start_date` (timestamp), `line_item_line_item_type` (`Usage`,
//! `Tax`, `Credit`, …), `line_item_product_code`, `product_servicecode`, `line_item_resource_id` (for a
//! call through an application inference profile: the profile ARN — the resource its tags are on),
//! `line_item_iam_principal` (the calling IAM principal, CUR 2.0 only, with Bedrock's IAM-principal
//! cost allocation) and `line_item_unblended_cost`.
//!
//! Per UTC day, the query puts the estimate (the pack's `priced` rows) beside the billed Bedrock usage
//! twice: per application profile ARN (with app and team; calls without a profile in one row) and per
//! IAM principal (the logged `identity.arn`). `difference_usd` = billed − estimated: positive where the
//! bill is higher (usage the logs do not price: batch jobs, images, unpriced models, tiers without a
//! rate), negative where the estimate is. `bill_complete` is false for days with no Bedrock line in
//! the bill yet (CUR data lags by a day or more): their difference means nothing yet.

use crate::athena_sql::sql_string;
use crate::query_pack::QueryPack;

/// The CUR 2.0 table the committed query names: replace it (or `rollup-sql --query-pack DIR
/// --cur-table DATABASE.TABLE`).
pub const CUR_TABLE_PLACEHOLDER: &str = "\"YOUR_CUR_DATABASE\".\"YOUR_CUR_TABLE\"";

/// The key of estimate and bill rows of calls made without an application profile.
pub const NO_PROFILE: &str = "(no application profile)";

/// The window of the reconciliation: the bill lags, so a week of complete days.
pub const RECONCILE_DAYS: u32 = 7;

/// An application inference profile ARN.
const APP_PROFILE_ARN: &str = "^arn:[^:]*:bedrock:[^:]*:[^:]*:application-inference-profile/.+$";

/// `06 estimate vs bill` over `cur_table` (a quoted `database.table`).
pub fn estimate_vs_bill_sql(
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
         -- Bedrock usage lines of the bill (Usage only: no tax, credits, refunds or fees).\n  \
         SELECT\n    \
         date(line_item_usage_start_date) AS day,\n    \
         coalesce(line_item_resource_id, '') AS resource_id,\n    \
         coalesce(nullif(line_item_iam_principal, ''), 'unknown') AS principal,\n    \
         line_item_unblended_cost AS cost\n  \
         FROM {cur_table}\n  \
         WHERE line_item_line_item_type = 'Usage'\n    \
         AND (line_item_product_code LIKE 'AmazonBedrock%' OR product_servicecode LIKE 'AmazonBedrock%')\n    \
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

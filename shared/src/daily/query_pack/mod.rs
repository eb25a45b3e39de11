//! The Athena query pack, pure: the five console queries of the article this project grows from
//! (create table; daily usage by profile; estimated cost per app; spend per IAM caller; caller + app +
//! cost) and the estimate-vs-bill query, generated from the one table definition
//! (`shared/sql/table.sql`) and the price table, plus the pricing CTE they share ([`pricing_cte`]) and
//! the `AWS::Athena::NamedQuery` resources of `template.yaml`. The profiles they join are the daily
//! Lambda's snapshot (`daily::profile_snapshot`). Nothing here is hand-edited SQL: the files
//! under `queries/` and the template's named queries are this module's output (tests compare them).
//!
//! How the SQL prices and attributes a call, the way the core does (`model_id::classify`,
//! `resolution::resolve`, `PriceTable::rates`):
//! - the logged `modelId` is classified with the core's rules (ARN forms stripped, geographic prefix →
//!   pool: `global.` → global rates, other prefixes and in-Region calls → regional rates);
//! - an application-profile ARN is looked up by profile id in the profiles snapshot table (app, team,
//!   base model and pool, resolved by the core when the Lambda wrote it; newest snapshot per profile);
//!   one that is not there goes to app = profile id, team `unresolved`, unpriced;
//! - the pricing CTE has one row per `match` prefix × pool × Region key (Region, Region group, or any
//!   Region for global rates) × long-context flag, each the core's rates, so the join only has to find
//!   the longest matching prefix (the core's rule), then the source Region's own row, else its first
//!   Region group's (`region_groups`, the table's order); a model in its long-context tier from the
//!   prompt band its row names;
//! - usage is summed per (logged `modelId`, Region, caller, prompt band) — the core's `UsageKey`
//!   without metadata — and priced once per sum; a model without a price, a Region without a rate, or
//!   cache tokens without a cache rate leave the cost NULL with the core's reason (`unpriced_reason`)
//!   and are counted in `unpriced_requests` / named in `unpriced_models` and `unpriced_reasons`, never
//!   $0;
//! - cache writes are priced as 5-minute writes: the log does not say which TTL was used (the daily
//!   path does the same; docs/daily-path.md).

use std::fmt::Write as _;

use crate::attribution::model_id::{Pool, GEO_PREFIXES};
use crate::attribution::principal::PrincipalRule;
use crate::attribution::resolution::{UNATTRIBUTED, UNRESOLVED};
use crate::daily::athena_sql::{
    create_table_sql, prompt_band_sql, sql_ident, sql_string, PARTITION_COLUMN,
};
use crate::daily::profile_snapshot::ProfileRow;
use crate::pricing::money::Rate;
use crate::pricing::prices::{PriceTable, Rates};
use crate::records::record::UNKNOWN_CALLER;

mod pricing_cte;

#[cfg(test)]
pub(crate) use pricing_cte::{price_pool, pricing_cte_rows};
pub use pricing_cte::{pricing_cte, region_groups_cte, PriceRow};

/// The profiles table DDL with `{{database}}`, `{{table}}`, `{{location}}` placeholders.
const PROFILES_TABLE_DDL_TEMPLATE: &str = include_str!("../../../sql/profiles_table.sql");

/// Names the committed query files use (the template's defaults).
pub const DEFAULT_DATABASE: &str = "bedrock_meter";
pub const DEFAULT_TABLE: &str = "invocation_logs";
pub const DEFAULT_PROFILES_TABLE: &str = "invocation_logs_profiles";
/// The location the committed `01-create-table.sql` names: replace the capitals before running it.
pub const DEFAULT_LOCATION: &str =
    "s3://YOUR-LOG-BUCKET/bedrock-logs/AWSLogs/YOUR-ACCOUNT-ID/BedrockModelInvocationLogs/YOUR-REGION/";

/// The profiles table's `CREATE EXTERNAL TABLE` statement (`location` gets a trailing slash).
pub fn create_profiles_table_sql(database: &str, table: &str, location: &str) -> String {
    crate::daily::athena_sql::fill_ddl(PROFILES_TABLE_DDL_TEMPLATE, database, table, location)
}

/// Where the queries find application profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfilesFrom {
    /// The snapshot table the daily Lambda fills (the stack's second Glue table).
    Table(String),
    /// Rows written into the query (`rollup-sql --query-pack DIR --inline-profiles --profiles FILE`),
    /// for set-ups without the Lambda's snapshots.
    Inline(Vec<ProfileRow>),
}

/// Everything the query pack depends on.
#[derive(Clone, Debug)]
pub struct QueryPack<'a> {
    pub database: String,
    pub table: String,
    pub profiles: ProfilesFrom,
    /// The invocation-log location `01-create-table.sql` names.
    pub location: String,
    /// The window: the last `days` complete UTC days before `current_date`.
    pub days: u32,
    pub prices: &'a PriceTable,
    /// The caller rule (docs/callers.md), applied in the SQL.
    pub principal: PrincipalRule,
}

/// One generated query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryFile {
    pub file_name: &'static str,
    /// The template's logical id of its named query.
    pub logical_id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub sql: String,
}

const QUERIES: [(&str, &str, &str, &str); 6] = [
    (
        "01-create-table.sql",
        "NamedQueryCreateTable",
        "01 create table",
        "The invocation-log table (the stack already creates it; for manual set-up: replace the location's capitals).",
    ),
    (
        "02-daily-usage-by-profile.sql",
        "NamedQueryDailyUsageByProfile",
        "02 daily usage by profile",
        "Requests, tokens and estimated cost per UTC day and inference profile (or logged model id), with app and team.",
    ),
    (
        "03-estimated-cost-per-app.sql",
        "NamedQueryCostPerApp",
        "03 estimated cost per app",
        "Estimated cost per app and team (application-profile tags; calls without a profile are unattributed).",
    ),
    (
        "04-spend-per-iam-caller.sql",
        "NamedQuerySpendPerCaller",
        "04 spend per IAM caller",
        "Estimated cost per IAM caller (the principal of identity.arn: a role for its sessions), whatever profile they called through.",
    ),
    (
        "05-caller-app-cost.sql",
        "NamedQueryCallerAppCost",
        "05 caller app cost",
        "Estimated cost per IAM caller, app and team combined.",
    ),
    (
        "06-estimate-vs-bill.sql",
        "NamedQueryEstimateVsBill",
        "06 estimate vs bill",
        "The estimate beside the bill (CUR 2.0) per UTC day: per application profile ARN with app and team, and per IAM principal.",
    ),
];

/// `^(us|eu|…|global)\.(.*\..*)$`: a system inference profile id (`model_id::classify`).
fn system_profile_regex() -> String {
    format!("^({})\\.(.*\\..*)$", GEO_PREFIXES.join("|"))
}
/// A base model id: `provider.model…`, provider in `[a-z0-9-]`, no whitespace or `/`.
const MODEL_ID_REGEX: &str = "^[a-z0-9-]+\\.[^/ \\t\\n\\f\\r]+$";
/// `arn:<partition>:bedrock:<region>:<account>:<type>/<id>`.
const ARN_REGEX: &str = "^arn:[^:]*:bedrock:[^:]*:[^:]*:([^/]*)/(.*)$";

impl QueryPack<'_> {
    /// The pack with the committed files' names and the embedded or given price table.
    pub fn default_for(prices: &PriceTable) -> QueryPack<'_> {
        QueryPack {
            database: DEFAULT_DATABASE.into(),
            table: DEFAULT_TABLE.into(),
            profiles: ProfilesFrom::Table(DEFAULT_PROFILES_TABLE.into()),
            location: DEFAULT_LOCATION.into(),
            days: 1,
            prices,
            principal: PrincipalRule::default(),
        }
    }

    fn logs(&self) -> String {
        format!("{}.{}", sql_ident(&self.database), sql_ident(&self.table))
    }

    pub(crate) fn window_comment(&self) -> String {
        format!(
            "-- Window: the last {d} complete UTC day{s} before today (current_date), by each record's own timestamp{same}.\n\
             -- Another window: replace current_date with DATE 'YYYY-MM-DD' (the day after the last day wanted) and/or\n\
             -- INTERVAL '{d}' DAY with the number of days.\n",
            d = self.days,
            s = if self.days == 1 { "" } else { "s" },
            same = if self.days == 1 {
                " (the day of the daily cost email)"
            } else {
                ""
            },
        )
    }

    fn profiles_cte(&self) -> String {
        let mut s = String::from("profiles AS (\n");
        match &self.profiles {
            ProfilesFrom::Table(t) => {
                s.push_str(
                    "  -- Application inference profiles as the daily Lambda resolved them (newest snapshot per profile).\n",
                );
                s.push_str("  SELECT profile_id,\n");
                for c in ["name", "app", "team", "model_id", "pool"] {
                    let _ = writeln!(
                        s,
                        "    max_by({c}, snapshot_date) AS {c}{}",
                        if c == "pool" { "" } else { "," }
                    );
                }
                let _ = write!(
                    s,
                    "  FROM {}.{}\n  GROUP BY profile_id\n)",
                    sql_ident(&self.database),
                    sql_ident(t)
                );
            }
            ProfilesFrom::Inline(rows) => {
                s.push_str(
                    "  -- Application inference profiles written in by `bedrock-meter rollup-sql --inline-profiles`.\n",
                );
                s.push_str(
                    "  SELECT profile_id, name, app, team, model_id, pool\n  FROM (\n    VALUES\n",
                );
                // A row that never matches keeps VALUES valid when there are no profiles.
                let mut lines: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        format!(
                            "      ({}, {}, {}, {}, {}, {})",
                            sql_string(&r.profile_id),
                            sql_string(&r.name),
                            sql_string(&r.app),
                            sql_string(&r.team),
                            sql_string(&r.model_id),
                            sql_string(&r.pool)
                        )
                    })
                    .collect();
                if lines.is_empty() {
                    lines.push("      ('', '', '', '', '', '')".into());
                }
                s.push_str(&lines.join(",\n"));
                s.push_str("\n  ) AS t (profile_id, name, app, team, model_id, pool)\n)");
            }
        }
        s
    }

    /// The CTEs every usage query shares, ending with `priced`: one row per UTC day, logged model id,
    /// Region, caller and prompt band, with app, team, profile, model and `cost_usd` (NULL when
    /// unpriced).
    pub(crate) fn shared_ctes(&self) -> String {
        let d = self.days;
        let from = format!("current_date - INTERVAL '{d}' DAY");
        let to = "current_date";
        let ts = "try(from_iso8601_timestamp(\"timestamp\"))";
        let sys = sql_string(&system_profile_regex());
        let model = sql_string(MODEL_ID_REGEX);
        let arn = sql_string(ARN_REGEX);
        let mut s = String::from("WITH\n");
        s.push_str(&pricing_cte(self.prices));
        s.push_str(",\n");
        s.push_str(&region_groups_cte(self.prices));
        s.push_str(",\n");
        s.push_str(&self.profiles_cte());
        s.push_str(",\n");
        let _ = write!(
            s,
            "usage AS (\n  \
             -- The window's records summed by what pricing and attribution look at (the core's UsageKey).\n  \
             SELECT\n    \
             date({ts}) AS day,\n    \
             modelId AS model_id,\n    \
             coalesce(region, '') AS region,\n    \
             coalesce(nullif({principal}, ''), {unknown}) AS caller,\n    \
             {band} AS prompt_band,\n    \
             count(*) AS requests,\n    \
             count(errorCode) AS errors,\n    \
             sum(coalesce(input.inputTokenCount, 0)) AS input_tokens,\n    \
             sum(coalesce(output.outputTokenCount, 0)) AS output_tokens,\n    \
             sum(coalesce(input.cacheReadInputTokenCount, 0)) AS cache_read_tokens,\n    \
             sum(coalesce(input.cacheWriteInputTokenCount, 0)) AS cache_write_tokens\n  \
             FROM {logs}\n  \
             WHERE {PARTITION_COLUMN} BETWEEN date_format({from}, '%Y/%m/%d/00') AND date_format({to}, '%Y/%m/%d/00')\n    \
             AND schemaType = 'ModelInvocationLog'\n    \
             AND modelId <> ''\n    \
             AND {ts} >= from_iso8601_timestamp(date_format({from}, '%Y-%m-%dT00:00:00Z'))\n    \
             AND {ts} < from_iso8601_timestamp(date_format({to}, '%Y-%m-%dT00:00:00Z'))\n  \
             GROUP BY 1, 2, 3, 4, 5\n),\n",
            unknown = sql_string(UNKNOWN_CALLER),
            principal = crate::daily::athena_sql::caller_sql(&self.principal),
            band = prompt_band_sql(&self.prices.long_context_thresholds),
            logs = self.logs(),
        );
        let _ = write!(
            s,
            "model_ids AS (\n  \
             -- What each logged modelId names, by the rules of bedrock-meter's core (shared/src/attribution/model_id.rs).\n  \
             SELECT\n    \
             model_id,\n    \
             starts_with(model_id, 'arn:') AS is_arn,\n    \
             coalesce(regexp_extract(model_id, {arn}, 1), '') AS arn_type,\n    \
             coalesce(regexp_extract(model_id, {arn}, 2), '') AS arn_id\n  \
             FROM (SELECT DISTINCT model_id FROM usage)\n),\n\
             forms AS (\n  \
             SELECT\n    \
             model_id,\n    \
             CASE\n      \
             WHEN NOT is_arn AND regexp_like(model_id, {sys}) THEN 'system-profile'\n      \
             WHEN NOT is_arn AND regexp_like(model_id, {model}) THEN 'base'\n      \
             WHEN arn_type = 'foundation-model' AND regexp_like(arn_id, {model}) THEN 'base'\n      \
             WHEN arn_type = 'inference-profile' AND regexp_like(arn_id, {sys}) THEN 'system-profile'\n      \
             WHEN arn_type = 'application-inference-profile' AND arn_id <> '' THEN 'application-profile'\n      \
             ELSE 'other'\n    \
             END AS form,\n    \
             CASE WHEN is_arn THEN arn_id ELSE model_id END AS ref,\n    \
             coalesce(regexp_extract(model_id, '[^/]*$'), '') AS profile_id\n  \
             FROM model_ids\n),\n\
             resolved AS (\n  \
             -- App and team from the profile (calls without one are unattributed), base model and pool for the price.\n  \
             SELECT\n    \
             f.model_id,\n    \
             CASE WHEN f.form = 'application-profile' THEN coalesce(p.app, f.profile_id) ELSE {unattributed} END AS app,\n    \
             CASE WHEN f.form = 'application-profile' THEN coalesce(p.team, {unresolved}) ELSE {unattributed} END AS team,\n    \
             CASE WHEN f.form = 'application-profile' THEN coalesce(nullif(p.name, ''), f.profile_id) ELSE f.model_id END AS profile,\n    \
             CASE f.form\n      \
             WHEN 'base' THEN f.ref\n      \
             WHEN 'system-profile' THEN regexp_extract(f.ref, {sys}, 2)\n      \
             WHEN 'application-profile' THEN nullif(p.model_id, '')\n    \
             END AS base_model,\n    \
             CASE f.form\n      \
             WHEN 'system-profile' THEN CASE WHEN regexp_extract(f.ref, {sys}, 1) = 'global' THEN 'global' ELSE 'geographic' END\n      \
             WHEN 'application-profile' THEN p.pool\n      \
             ELSE 'in-region'\n    \
             END AS pool\n  \
             FROM forms f\n  \
             LEFT JOIN profiles p ON f.form = 'application-profile' AND p.profile_id = f.profile_id\n),\n",
            unattributed = sql_string(UNATTRIBUTED),
            unresolved = sql_string(UNRESOLVED),
        );
        s.push_str(
            "rates AS (\n  \
             -- The price row of each (model id, Region, prompt band): the longest matching prefix, then the row that fits\n  \
             -- the pool, the long-context flag and the Region (its own row, else its first group's, else any Region's).\n  \
             -- The picked row does not fit when the model has no rate for the call's Region.\n  \
             SELECT\n    \
             k.model_id,\n    \
             k.region,\n    \
             k.prompt_band,\n    \
             pr.price_match,\n    \
             pr.fits,\n    \
             pr.input_rate,\n    \
             pr.output_rate,\n    \
             pr.cache_read_rate,\n    \
             pr.cache_write_rate,\n    \
             row_number() OVER (PARTITION BY k.model_id, k.region, k.prompt_band ORDER BY length(pr.price_match) DESC, pr.fits DESC, pr.region_rank) AS pick\n  \
             FROM (SELECT DISTINCT model_id, region, prompt_band FROM usage) k\n  \
             JOIN resolved r ON r.model_id = k.model_id\n  \
             LEFT JOIN (\n    \
             SELECT\n      \
             k2.model_id,\n      \
             k2.region,\n      \
             k2.prompt_band,\n      \
             p.*,\n      \
             (p.pool = CASE WHEN r2.pool = 'global' THEN 'global' ELSE 'regional' END\n        \
             AND p.long_context = coalesce(k2.prompt_band >= p.long_context_from, false)\n        \
             AND (p.region = '' OR (k2.region <> '' AND (p.region = k2.region OR g.group_name IS NOT NULL)))) AS fits,\n      \
             CASE WHEN p.region = k2.region THEN 0 WHEN p.region = '' THEN 1000 ELSE coalesce(g.group_rank, 1001) END AS region_rank\n    \
             FROM (SELECT DISTINCT model_id, region, prompt_band FROM usage) k2\n    \
             JOIN resolved r2 ON r2.model_id = k2.model_id\n    \
             JOIN prices p\n      \
             ON r2.base_model = p.price_match\n        \
             OR (starts_with(r2.base_model, p.price_match) AND substr(r2.base_model, length(p.price_match) + 1, 1) IN ('-', ':', '.'))\n    \
             LEFT JOIN region_groups g ON g.region = k2.region AND g.group_name = p.region\n  \
             ) pr ON pr.model_id = k.model_id AND pr.region = k.region AND pr.prompt_band = k.prompt_band\n),\n\
             priced AS (\n  \
             -- Each sum priced once (exact decimals); NULL = unpriced, with the core's reason.\n  \
             SELECT\n    \
             u.*,\n    \
             r.app,\n    \
             r.team,\n    \
             r.profile,\n    \
             coalesce(r.base_model, u.model_id) AS model,\n    \
             CASE\n      \
             WHEN x.price_match IS NULL THEN 'unknown model'\n      \
             WHEN NOT x.fits THEN 'no rate for region'\n      \
             WHEN u.cache_read_tokens > 0 AND x.cache_read_rate IS NULL THEN 'no cache_read rate'\n      \
             WHEN u.cache_write_tokens > 0 AND x.cache_write_rate IS NULL THEN 'no cache_write_5m rate'\n    \
             END AS unpriced_reason,\n    \
             CASE\n      \
             WHEN x.price_match IS NULL OR NOT x.fits THEN NULL\n      \
             WHEN u.cache_read_tokens > 0 AND x.cache_read_rate IS NULL THEN NULL\n      \
             WHEN u.cache_write_tokens > 0 AND x.cache_write_rate IS NULL THEN NULL\n      \
             ELSE u.input_tokens * x.input_rate + u.output_tokens * x.output_rate\n        \
             + u.cache_read_tokens * coalesce(x.cache_read_rate, 0) + u.cache_write_tokens * coalesce(x.cache_write_rate, 0)\n    \
             END AS cost_usd\n  \
             FROM usage u\n  \
             JOIN resolved r ON r.model_id = u.model_id\n  \
             JOIN rates x ON x.model_id = u.model_id AND x.region = u.region AND x.prompt_band = u.prompt_band AND x.pick = 1\n)\n",
        );
        s
    }

    fn usage_query(&self, title: &str, description: &str, group: &[(&str, &str)]) -> String {
        let mut s = self.header(title, description);
        s.push_str(&self.window_comment());
        s.push_str(
            "-- estimated_cost_usd: priced with the pricing CTE below; NULL when nothing in the row could be priced.\n\
             -- unpriced_requests / unpriced_models / unpriced_reasons: requests whose cost is NOT included (unknown model,\n\
             -- no rate for the call's Region, cache tokens without a cache rate) - never $0.\n",
        );
        s.push_str(&self.shared_ctes());
        s.push_str("SELECT\n");
        for (expr, name) in group {
            if expr == name {
                let _ = writeln!(s, "  {name},");
            } else {
                let _ = writeln!(s, "  {expr} AS {name},");
            }
        }
        s.push_str(
            "  sum(requests) AS requests,\n  \
             sum(errors) AS errors,\n  \
             sum(input_tokens) AS input_tokens,\n  \
             sum(output_tokens) AS output_tokens,\n  \
             sum(cache_read_tokens) AS cache_read_tokens,\n  \
             sum(cache_write_tokens) AS cache_write_tokens,\n  \
             CAST(sum(cost_usd) AS DECIMAL(38, 6)) AS estimated_cost_usd,\n  \
             sum(CASE WHEN cost_usd IS NULL THEN requests ELSE 0 END) AS unpriced_requests,\n  \
             array_join(array_sort(array_distinct(array_agg(model) FILTER (WHERE cost_usd IS NULL))), ', ') AS unpriced_models,\n  \
             array_join(array_sort(array_distinct(array_agg(unpriced_reason) FILTER (WHERE cost_usd IS NULL))), ', ') AS unpriced_reasons\n\
             FROM priced\n",
        );
        let keys: Vec<String> = (1..=group.len()).map(|i| i.to_string()).collect();
        let _ = writeln!(s, "GROUP BY {}", keys.join(", "));
        let order: Vec<&str> = group.iter().map(|(_, n)| *n).collect();
        let lead = if group[0].1 == "day" { "day, " } else { "" };
        let rest: Vec<&str> = order.iter().copied().filter(|n| *n != "day").collect();
        let _ = writeln!(
            s,
            "ORDER BY {lead}estimated_cost_usd DESC NULLS LAST, {};",
            rest.join(", ")
        );
        s
    }

    pub(crate) fn header(&self, title: &str, description: &str) -> String {
        format!(
            "-- @generated by `bedrock-meter rollup-sql --query-pack queries` from shared/sql/table.sql and the\n\
             -- price table as of {}: do not edit, regenerate (docs/daily-path.md).\n\
             -- bedrock-meter query pack: {title}\n\
             -- {description}\n",
            self.prices.as_of
        )
    }

    /// The queries, in order.
    pub fn files(&self) -> Vec<QueryFile> {
        QUERIES
            .iter()
            .map(|(file_name, logical_id, title, description)| {
                let sql = match *file_name {
                    "01-create-table.sql" => {
                        let mut s = self.header(title, description);
                        s.push_str(
                            create_table_sql(&self.database, &self.table, &self.location)
                                .trim_end(),
                        );
                        s.push_str(";\n");
                        s
                    }
                    "02-daily-usage-by-profile.sql" => self.usage_query(
                        title,
                        description,
                        &[
                            ("day", "day"),
                            ("profile", "profile"),
                            ("app", "app"),
                            ("team", "team"),
                            ("model", "model"),
                        ],
                    ),
                    "03-estimated-cost-per-app.sql" => {
                        self.usage_query(title, description, &[("app", "app"), ("team", "team")])
                    }
                    "04-spend-per-iam-caller.sql" => {
                        self.usage_query(title, description, &[("caller", "caller")])
                    }
                    "06-estimate-vs-bill.sql" => crate::daily::reconcile::estimate_vs_bill_sql(
                        self,
                        title,
                        description,
                        crate::daily::reconcile::CUR_TABLE_PLACEHOLDER,
                    ),
                    _ => self.usage_query(
                        title,
                        description,
                        &[("caller", "caller"), ("app", "app"), ("team", "team")],
                    ),
                };
                QueryFile {
                    file_name,
                    logical_id,
                    title,
                    description,
                    sql,
                }
            })
            .collect()
    }
}

const SENTINEL_DATABASE: &str = "\u{1}database\u{1}";
const SENTINEL_TABLE: &str = "\u{1}table\u{1}";
const SENTINEL_PROFILES: &str = "\u{1}profiles\u{1}";
const SENTINEL_LOCATION: &str = "\u{1}location\u{1}/";

/// The template's `AWS::Athena::NamedQuery` resources (what `bedrock-meter rollup-sql --named-queries`
/// prints, pasted between the markers in template.yaml): the committed files with the stack's
/// database, tables and log location substituted in by `!Sub`.
pub fn named_queries_yaml(prices: &PriceTable) -> String {
    let pack = QueryPack {
        database: SENTINEL_DATABASE.into(),
        table: SENTINEL_TABLE.into(),
        profiles: ProfilesFrom::Table(SENTINEL_PROFILES.into()),
        location: SENTINEL_LOCATION.into(),
        ..QueryPack::default_for(prices)
    };
    let mut s = String::from(
        "  # BEGIN generated by `bedrock-meter rollup-sql --named-queries`: do not edit (docs/daily-path.md).\n",
    );
    for f in pack.files() {
        let sql = f
            .sql
            .replace("${", "${!")
            .replace(SENTINEL_DATABASE, "${GlueDatabase}")
            .replace(SENTINEL_TABLE, "${InvocationLogTable}")
            .replace(SENTINEL_PROFILES, "${ProfilesTable}")
            .replace(
                SENTINEL_LOCATION,
                "s3://${Bucket}/${LogKeyPrefix}/AWSLogs/${AWS::AccountId}/BedrockModelInvocationLogs/${AWS::Region}/",
            );
        let _ = write!(
            s,
            "  {}:\n    Type: AWS::Athena::NamedQuery\n    Properties:\n      \
             Name: !Sub \"${{AWS::StackName}} {}\"\n      \
             Description: \"{}\"\n      \
             Database: !Ref GlueDatabase\n      \
             WorkGroup: !Ref AthenaWorkGroup\n      \
             QueryString: !Sub\n        - |\n",
            f.logical_id,
            f.title,
            f.description.replace('"', "'")
        );
        for line in sql.lines() {
            if line.is_empty() {
                s.push('\n');
            } else {
                let _ = writeln!(s, "          {line}");
            }
        }
        s.push_str(
            "        - Bucket: !If [CreateLogBucket, !Ref LogBucket, !Ref ExistingLogBucketName]\n",
        );
    }
    s.push_str("  # END generated\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::resolution::AttributionConfig;
    use crate::daily::profile_snapshot::profile_row;
    use crate::daily::profile_snapshot::tests::profile;
    use crate::time::Date;

    fn table() -> PriceTable {
        PriceTable::embedded()
    }

    #[test]
    fn the_sql_regexes_are_built_from_the_core_prefixes() {
        // Executed against the core's classification by tests/sql/test_query_pack.py.
        assert_eq!(
            system_profile_regex(),
            "^(us|eu|apac|jp|au|ca|us-gov|global)\\.(.*\\..*)$"
        );
    }

    #[test]
    fn the_files_share_one_table_and_price_definition() {
        let t = table();
        let files = QueryPack::default_for(&t).files();
        let names: Vec<&str> = files.iter().map(|f| f.file_name).collect();
        assert_eq!(
            names,
            [
                "01-create-table.sql",
                "02-daily-usage-by-profile.sql",
                "03-estimated-cost-per-app.sql",
                "04-spend-per-iam-caller.sql",
                "05-caller-app-cost.sql",
                "06-estimate-vs-bill.sql"
            ]
        );
        assert!(files[0]
            .sql
            .contains("CREATE EXTERNAL TABLE IF NOT EXISTS `bedrock_meter`.`invocation_logs` ("));
        assert!(files[0].sql.contains(DEFAULT_LOCATION));
        let cte = pricing_cte(&t);
        for f in &files[1..] {
            let days = if f.file_name.starts_with("06") { 7 } else { 1 };
            assert!(f.sql.contains(&cte), "{}", f.file_name);
            assert!(f
                .sql
                .contains("FROM \"bedrock_meter\".\"invocation_logs\"\n"));
            assert!(f
                .sql
                .contains("FROM \"bedrock_meter\".\"invocation_logs_profiles\"\n"));
            assert!(f.sql.contains(&format!("datehour BETWEEN date_format(current_date - INTERVAL '{days}' DAY, '%Y/%m/%d/00') AND date_format(current_date, '%Y/%m/%d/00')")));
            // The prompt band over the table's thresholds (100K Haiku 5.5, 200K Sonnet 4 / 4.5,
            // 272K GPT-5.6): the highest first.
            assert!(f.sql.contains(&format!(
                "{} AS prompt_band,",
                prompt_band_sql(&t.long_context_thresholds)
            )));
            assert!(f
                .sql
                .contains(") > 100000 THEN 1 ELSE 0 END AS prompt_band,"));
            assert!(f.sql.ends_with(";\n"));
            assert!(!f.sql.contains("\n\n"));
        }
    }

    #[test]
    fn inline_profiles_replace_the_table() {
        let t = table();
        let date = Date::parse("2026-11-25").unwrap();
        let rows = vec![profile_row(&profile(), &AttributionConfig::default(), date)];
        let pack = QueryPack {
            profiles: ProfilesFrom::Inline(rows),
            ..QueryPack::default_for(&t)
        };
        let sql = &pack.files()[2].sql;
        assert!(!sql.contains("invocation_logs_profiles"));
        assert!(sql.contains(
            "('ops01', 'ops-agent', 'ops-agent', 'platform', 'anthropic.claude-haiku-4-5-20251001-v1:0', 'geographic')"
        ));
        let empty = QueryPack {
            profiles: ProfilesFrom::Inline(vec![]),
            ..QueryPack::default_for(&t)
        };
        assert!(empty.files()[2].sql.contains("('', '', '', '', '', '')"));
    }

    #[test]
    fn named_queries_are_the_files_with_the_stack_names() {
        let t = table();
        let yaml = named_queries_yaml(&t);
        assert_eq!(yaml.matches("Type: AWS::Athena::NamedQuery").count(), 6);
        assert!(yaml.contains("FROM \"${GlueDatabase}\".\"${InvocationLogTable}\""));
        assert!(yaml.contains("'storage.location.template' = 's3://${Bucket}/${LogKeyPrefix}/AWSLogs/${AWS::AccountId}/BedrockModelInvocationLogs/${AWS::Region}/${!datehour}/'"));
        assert!(!yaml.contains('\u{1}'));
        assert!(!yaml.contains('\t'));
    }

    #[test]
    fn profiles_ddl_is_filled_in() {
        let sql = create_profiles_table_sql("db", "t", "s3://b/bedrock-meter/profiles");
        assert!(sql.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `db`.`t` ("));
        assert!(sql.contains("LOCATION 's3://b/bedrock-meter/profiles/'"));
        assert!(!sql.contains("{{"));
    }
}

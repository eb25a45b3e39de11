//! The daily path's SQL, pure: the Athena table's DDL (kept in `shared/sql/table.sql`), the rollup
//! query the Lambda sends (and `bedrock-meter rollup-sql` prints), and the reading of its result rows
//! back into the core's [`UsageKey`]/[`Usage`] rows.
//!
//! The query groups a day's records by exactly what [`Rollup::key_of`] keys on — logged `modelId`,
//! source Region, caller, the configured `requestMetadata` values, the prompt band — and sums what
//! [`Usage::of_record`] counts. The rows then go through the same [`crate::daily::rollup::price_rows`] and
//! [`crate::daily::report::Report::build`] as the per-record path, so both paths give the same money.
//!
//! Two differences from the per-record path, both documented in `docs/daily-path.md`:
//! - the 1-hour cache-write split is only in response bodies, which the table does not declare: the
//!   daily path prices every cache write as a 5-minute write (as the live path does when bodies are not
//!   logged). `bedrock-meter report` reads the split from logged bodies and can be higher by exactly
//!   1-hour tokens × (1-hour − 5-minute rate).
//! - records without `schemaType` (only seen in third-party fixtures; Bedrock always writes it) are
//!   read by `bedrock-meter report` but not by the table query, which must drop `data/` body objects.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::attribution::principal::PrincipalRule;
use crate::attribution::resolution::AttributionConfig;
use crate::daily::rollup::{Rollup, UsageKey};
use crate::pricing::prices::PriceTable;
use crate::records::record::Tokens;
use crate::records::record::Usage;
use crate::records::record::UNKNOWN_CALLER;
use crate::time::{Date, Timestamp};

/// The table DDL with `{{database}}`, `{{table}}`, `{{location}}` placeholders.
const TABLE_DDL_TEMPLATE: &str = include_str!("../../sql/table.sql");

/// The partition column (hour folders `yyyy/MM/dd/HH`, projected).
pub(crate) const PARTITION_COLUMN: &str = "datehour";

/// Where the query reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    pub database: String,
    pub table: String,
}

/// Everything the rollup query depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupQuery {
    pub table: TableRef,
    /// The UTC day (by each record's own `timestamp`).
    pub date: Date,
    /// `requestMetadata` keys that are grouped on, in order (as in `AttributionConfig`).
    pub metadata_keys: Vec<String>,
    /// The price table's long-context thresholds, ascending: a row's prompt band is how many of them
    /// its prompt exceeds (`PriceTable::prompt_band`).
    pub long_context_thresholds: Vec<u64>,
    /// The caller rule (`AttributionConfig::principal`), applied in the SQL.
    pub principal: PrincipalRule,
}

impl RollupQuery {
    /// The query for `date` under an attribution configuration and price table: the one constructor
    /// both the Lambda and `bedrock-meter rollup-sql` use, so they send and print the same text.
    pub fn new(
        table: TableRef,
        date: Date,
        cfg: &AttributionConfig,
        prices: &PriceTable,
    ) -> RollupQuery {
        RollupQuery {
            table,
            date,
            metadata_keys: cfg.metadata_keys.clone(),
            long_context_thresholds: prices.long_context_thresholds.clone(),
            principal: cfg.principal.clone(),
        }
    }

    pub fn sql(&self) -> String {
        rollup_sql(self)
    }
}

/// Result columns, in order (then one `metadata_<n>` per metadata key, [`PROMPT_BAND_COLUMN`],
/// [`HOUR_COLUMN`], then [`SUM_COLUMNS`]).
const KEY_COLUMNS: [&str; 3] = ["model_id", "region", "caller"];
const PROMPT_BAND_COLUMN: &str = "prompt_band";
/// The UTC hour (0–23) of the records' own `timestamp`: the rows are per hour, so the daily pages can
/// draw spend per hour; the day's figures are their sum.
const HOUR_COLUMN: &str = "hour_utc";
const SUM_COLUMNS: [&str; 7] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
];

/// The result column names the query produces for `n` metadata keys.
pub fn result_columns(n_metadata: usize) -> Vec<String> {
    let mut v: Vec<String> = KEY_COLUMNS.iter().map(|s| s.to_string()).collect();
    v.extend((1..=n_metadata).map(|i| format!("metadata_{i}")));
    v.push(PROMPT_BAND_COLUMN.into());
    v.push(HOUR_COLUMN.into());
    v.extend(SUM_COLUMNS.iter().map(|s| s.to_string()));
    v
}

/// The hour folders one day's query reads: the day's 24 plus the first hour of the next day (records
/// land in the folder of their delivery, which can be a little after their `timestamp`). Inclusive
/// bounds, as `yyyy/MM/dd/HH` strings (which sort as they should).
fn partition_range(date: Date) -> (String, String) {
    let hour = |d: Date, h: u8| format!("{:04}/{:02}/{:02}/{:02}", d.year, d.month, d.day, h);
    (hour(date, 0), hour(date.succ(), 0))
}

/// Every hour folder [`partition_range`] covers (25 of them).
pub fn partition_hours(date: Date) -> Vec<String> {
    let mut v: Vec<String> = (0..24)
        .map(|h| format!("{:04}/{:02}/{:02}/{h:02}", date.year, date.month, date.day))
        .collect();
    v.push(partition_range(date).1);
    v
}

/// A SQL string literal.
pub(crate) fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A quoted SQL identifier.
pub fn sql_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn iso(t: Timestamp) -> String {
    t.to_string()
}

/// The Athena (Trino) query that rolls one day up into the core's usage rows.
/// The caller (docs/callers.md) of a row of the invocation-log table, as a Trino expression: the
/// principal rule over `identity.arn` (empty when missing). The daily rollup, the query pack and
/// `bench/report.sh`'s DuckDB query (through `rollup-sql --caller-sql`) all use this one expression.
pub fn caller_sql(rule: &PrincipalRule) -> String {
    rule.sql("coalesce(identity.arn, '')")
}

pub fn rollup_sql(q: &RollupQuery) -> String {
    let (first_hour, last_hour) = partition_range(q.date);
    let n = q.metadata_keys.len();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "-- bedrock-meter daily rollup for {} (UTC): one row per model, Region, caller, metadata values, prompt band and UTC hour",
        q.date
    );
    s.push_str("SELECT\n");
    s.push_str("  modelId AS model_id,\n");
    s.push_str("  coalesce(region, '') AS region,\n");
    let _ = writeln!(s, "  {} AS caller,", caller_sql(&q.principal));
    for (i, k) in q.metadata_keys.iter().enumerate() {
        let _ = writeln!(
            s,
            "  coalesce(element_at(requestMetadata, {}), '') AS metadata_{},",
            sql_string(k),
            i + 1
        );
    }
    let _ = writeln!(
        s,
        "  {} AS {PROMPT_BAND_COLUMN},",
        prompt_band_sql(&q.long_context_thresholds)
    );
    let _ = writeln!(
        s,
        "  hour(try(from_iso8601_timestamp(\"timestamp\"))) AS {HOUR_COLUMN},"
    );
    s.push_str("  count(*) AS requests,\n");
    s.push_str("  count(errorCode) AS errors,\n");
    s.push_str("  sum(coalesce(input.inputTokenCount, 0)) AS input_tokens,\n");
    s.push_str("  sum(coalesce(output.outputTokenCount, 0)) AS output_tokens,\n");
    s.push_str("  sum(coalesce(input.cacheReadInputTokenCount, 0)) AS cache_read_tokens,\n");
    s.push_str("  sum(coalesce(input.cacheWriteInputTokenCount, 0)) AS cache_write_tokens,\n");
    s.push_str(
        "  -- the 1-hour cache-write split is only in response bodies, which the table does not declare\n",
    );
    s.push_str("  0 AS cache_write_1h_tokens\n");
    let _ = writeln!(
        s,
        "FROM {}.{}",
        sql_ident(&q.table.database),
        sql_ident(&q.table.table)
    );
    let _ = writeln!(
        s,
        "WHERE {PARTITION_COLUMN} BETWEEN {} AND {}",
        sql_string(&first_hour),
        sql_string(&last_hour)
    );
    s.push_str("  AND schemaType = 'ModelInvocationLog'\n");
    s.push_str("  AND modelId <> ''\n");
    let _ = writeln!(
        s,
        "  AND try(from_iso8601_timestamp(\"timestamp\")) >= from_iso8601_timestamp({})",
        sql_string(&iso(q.date.start()))
    );
    let _ = writeln!(
        s,
        "  AND try(from_iso8601_timestamp(\"timestamp\")) < from_iso8601_timestamp({})",
        sql_string(&iso(q.date.succ().start()))
    );
    let group: Vec<String> = (1..=n + 5).map(|i| i.to_string()).collect();
    let _ = writeln!(s, "GROUP BY {}", group.join(", "));
    let _ = write!(s, "ORDER BY {}", group.join(", "));
    s
}

/// The SQL expression of a record's prompt band (`PriceTable::prompt_band`): how many of
/// `thresholds` (ascending) its input + cache read + cache write tokens exceed.
pub(crate) fn prompt_band_sql(thresholds: &[u64]) -> String {
    const PROMPT: &str = "coalesce(input.inputTokenCount, 0) + coalesce(input.cacheReadInputTokenCount, 0) + coalesce(input.cacheWriteInputTokenCount, 0)";
    if thresholds.is_empty() {
        return "0".to_string();
    }
    let mut s = String::from("CASE");
    for (i, t) in thresholds.iter().enumerate().rev() {
        let _ = write!(s, " WHEN ({PROMPT}) > {t} THEN {}", i + 1);
    }
    s.push_str(" ELSE 0 END");
    s
}

/// The `CREATE EXTERNAL TABLE` statement for manual use (`location` is the
/// `…/BedrockModelInvocationLogs/<region>/` prefix; a missing trailing slash is added).
pub fn create_table_sql(database: &str, table: &str, location: &str) -> String {
    fill_ddl(TABLE_DDL_TEMPLATE, database, table, location)
}

/// A DDL template (`{{database}}`, `{{table}}`, `{{location}}`) filled in, without its `--` comment
/// lines; `location` gets a trailing slash.
pub(crate) fn fill_ddl(template: &str, database: &str, table: &str, location: &str) -> String {
    let location = if location.ends_with('/') {
        location.to_string()
    } else {
        format!("{location}/")
    };
    let body: String = template
        .lines()
        .filter(|l| !l.starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    body.replace("{{database}}", &database.replace('`', ""))
        .replace("{{table}}", &table.replace('`', ""))
        .replace("{{location}}", &location.replace('\'', ""))
}

/// The table's columns `(name, hive type)` as the DDL declares them (partition column excluded).
pub fn table_columns() -> Vec<(String, String)> {
    let start = TABLE_DDL_TEMPLATE
        .find("` (\n")
        .expect("the DDL has a column list");
    let end = TABLE_DDL_TEMPLATE
        .find("\n)\nPARTITIONED BY")
        .expect("the DDL has a partition clause");
    TABLE_DDL_TEMPLATE[start + 4..end]
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_end_matches(',');
            let rest = l.strip_prefix('`')?;
            let (name, ty) = rest.split_once("` ")?;
            Some((name.to_string(), ty.trim().to_string()))
        })
        .collect()
}

/// A result row that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("unexpected result columns {got:?} (expected {expected:?})")]
    Columns {
        got: Vec<String>,
        expected: Vec<String>,
    },
    #[error("row {row}: {column} is {value:?}, expected {what}")]
    Value {
        row: usize,
        column: String,
        value: Option<String>,
        what: &'static str,
    },
    #[error("row {row}: {len} values for {expected} columns")]
    Width {
        row: usize,
        len: usize,
        expected: usize,
    },
}

/// The day's rollup as the query returns it: the day's rows (summed over hours, exactly as the
/// per-record path sums the same records) and the rows of each UTC hour.
#[derive(Clone, Debug, Default)]
pub struct DayRollup {
    pub total: Rollup,
    /// Hour start (Unix seconds) → that hour's rows; only hours with records.
    pub by_hour: BTreeMap<i64, Rollup>,
}

/// Reads the query's result rows (values as Athena returns them: text, `None` for NULL) into a
/// [`Rollup`] of the whole day, exactly as the per-record path would have summed the same records.
pub fn rollup_from_rows(
    columns: &[String],
    rows: &[Vec<Option<String>>],
    n_metadata: usize,
) -> Result<Rollup, RowError> {
    let mut rollup = Rollup::default();
    read_rows(columns, rows, n_metadata, |_, key, usage| {
        rollup.add_row(key, &usage)
    })?;
    Ok(rollup)
}

/// As [`rollup_from_rows`], and the rows of each UTC hour of `date` as well (for the pages' chart of
/// spend per hour).
pub fn day_rollup_from_rows(
    columns: &[String],
    rows: &[Vec<Option<String>>],
    n_metadata: usize,
    date: Date,
) -> Result<DayRollup, RowError> {
    let mut day = DayRollup::default();
    read_rows(columns, rows, n_metadata, |hour, key, usage| {
        day.total.add_row(key.clone(), &usage);
        day.by_hour
            .entry(date.start().0 + i64::from(hour) * 3_600)
            .or_default()
            .add_row(key, &usage);
    })?;
    Ok(day)
}

fn read_rows(
    columns: &[String],
    rows: &[Vec<Option<String>>],
    n_metadata: usize,
    mut each: impl FnMut(u8, UsageKey, Usage),
) -> Result<(), RowError> {
    let expected = result_columns(n_metadata);
    let got: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
    if got != expected {
        return Err(RowError::Columns {
            got: columns.to_vec(),
            expected,
        });
    }
    for (i, row) in rows.iter().enumerate() {
        let (hour, key, usage) = read_row(i, row, &expected, n_metadata)?;
        each(hour, key, usage);
    }
    Ok(())
}

fn read_row(
    i: usize,
    row: &[Option<String>],
    columns: &[String],
    n: usize,
) -> Result<(u8, UsageKey, Usage), RowError> {
    if row.len() != columns.len() {
        return Err(RowError::Width {
            row: i,
            len: row.len(),
            expected: columns.len(),
        });
    }
    let bad = |c: usize, what: &'static str| RowError::Value {
        row: i,
        column: columns[c].clone(),
        value: row[c].clone(),
        what,
    };
    let text = |c: usize| row[c].clone().unwrap_or_default();
    let count = |c: usize| -> Result<u64, RowError> {
        match row[c].as_deref() {
            None => Ok(0),
            Some(v) => v.trim().parse::<u64>().map_err(|_| bad(c, "a count")),
        }
    };
    let model_id = text(0);
    if model_id.is_empty() {
        return Err(bad(0, "a model id"));
    }
    let caller = text(2);
    let lc = 3 + n;
    let prompt_band = match row[lc].as_deref().map(str::trim).map(str::parse::<u8>) {
        Some(Ok(b)) => b,
        _ => return Err(bad(lc, "a prompt band 0-255")),
    };
    let hc = lc + 1;
    let hour = match row[hc].as_deref().map(str::trim).map(str::parse::<u8>) {
        Some(Ok(h)) if h < 24 => h,
        _ => return Err(bad(hc, "an hour 0-23")),
    };
    let s = hc + 1;
    let tokens = Tokens {
        input: count(s + 2)?,
        output: count(s + 3)?,
        cache_read: count(s + 4)?,
        cache_write: count(s + 5)?,
        cache_write_1h: count(s + 6)?,
    };
    if tokens.cache_write_1h > tokens.cache_write {
        return Err(bad(s + 6, "at most cache_write_tokens"));
    }
    Ok((
        hour,
        UsageKey {
            model_id,
            region: text(1),
            caller: if caller.is_empty() {
                UNKNOWN_CALLER.to_string()
            } else {
                caller
            },
            metadata: (0..n).map(|m| text(3 + m)).collect(),
            prompt_band,
            // The Athena table declares no body columns: the tier is not read there (README).
            tier: crate::pricing::prices::TIER_UNREAD.to_string(),
        },
        Usage {
            requests: count(s)?,
            errors: count(s + 1)?,
            tokens,
        },
    ))
}

// ---- The organisation (issue 24): the home account's table over the fan-in files and its query ----

/// The Glue/Athena table over the fan-in objects (`fanin::object_key`): the row columns
/// ([`crate::daily::fanin::COLUMNS`]), gzip JSON Lines read by the OpenX JSON SerDe, partitioned by
/// `day` with partition projection (`location` is `s3://<bucket>/fanin/`; the account and Region
/// folders under a day are read as its subfolders).
pub fn fanin_table_sql(database: &str, table: &str, location: &str) -> String {
    let location = location.replace('\'', "");
    let location = if location.ends_with('/') {
        location
    } else {
        format!("{location}/")
    };
    let mut s = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`.`{}` (\n",
        database.replace('`', ""),
        table.replace('`', "")
    );
    let cols: Vec<String> = crate::daily::fanin::COLUMNS
        .iter()
        .map(|(n, t)| format!("  `{n}` {t}"))
        .collect();
    s.push_str(&cols.join(",\n"));
    s.push_str("\n)\nPARTITIONED BY (`day` string)\n");
    s.push_str("ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n");
    s.push_str("WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')\n");
    let _ = writeln!(s, "LOCATION '{location}'");
    s.push_str("TBLPROPERTIES (\n");
    s.push_str("  'projection.enabled' = 'true',\n");
    s.push_str("  'projection.day.type' = 'date',\n");
    s.push_str("  'projection.day.format' = 'yyyy-MM-dd',\n");
    s.push_str("  'projection.day.range' = '2024-01-01,NOW',\n");
    s.push_str("  'projection.day.interval' = '1',\n");
    s.push_str("  'projection.day.interval.unit' = 'DAYS',\n");
    let _ = writeln!(
        s,
        "  'storage.location.template' = '{location}day=${{day}}/'"
    );
    s.push(')');
    s
}

/// The organisation query's key columns (its result: these, then [`ORG_SUM_COLUMNS`]).
pub const ORG_KEY_COLUMNS: [&str; 10] = [
    "account_id",
    "source_region",
    "app",
    "team",
    "caller",
    "model",
    "base_model",
    "pool",
    "tier",
    "prompt_band",
];
/// The organisation query's sums.
pub const ORG_SUM_COLUMNS: [&str; 8] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "unpriced_requests",
];

/// The organisation rollup of `date`: the fan-in rows of every member for that day (one partition),
/// summed over the hours per account × source Region × app × team × caller × model × pool × tier ×
/// prompt band. The rows are priced by the core (`org_rows_from_results`, `fanin::price`), with the
/// one price table, as the per-account reports price them.
///
/// It keeps exactly the rows `fanin::decode` keeps: every column present, the values
/// `FanInRow::invalid` accepts, and the row's `account_id` the account folder of its object
/// (`"$path"`): a member cannot put rows in another account's name. (`decode` also refuses lines
/// with unknown fields, which the SerDe ignores; no such line carries another count.)
pub fn org_sql(table: &TableRef, date: Date) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "-- bedrock-meter organisation rollup for {date} (UTC): the fan-in rows of every member account and Region, summed over the hours"
    );
    s.push_str("SELECT\n");
    for c in ORG_KEY_COLUMNS {
        let _ = writeln!(s, "  {c},");
    }
    let sums: Vec<String> = ORG_SUM_COLUMNS
        .iter()
        .map(|c| format!("  sum({c}) AS {c}"))
        .collect();
    s.push_str(&sums.join(",\n"));
    let _ = writeln!(
        s,
        "\nFROM {}.{}",
        sql_ident(&table.database),
        sql_ident(&table.table)
    );
    let _ = writeln!(s, "WHERE day = {}", sql_string(&date.to_string()));
    for (c, _) in crate::daily::fanin::COLUMNS {
        let _ = writeln!(s, "  AND {c} IS NOT NULL");
    }
    s.push_str("  AND regexp_like(account_id, '^[0-9]{12}$')\n");
    s.push_str("  AND strpos(\"$path\", '/account=' || account_id || '/') > 0\n");
    s.push_str("  AND (source_region = '' OR (length(source_region) <= 32 AND regexp_like(source_region, '^[a-z]+(-[a-z]+)+-[0-9]{1,2}$')))\n");
    s.push_str("  AND hour_utc BETWEEN 0 AND 23\n");
    s.push_str("  AND prompt_band BETWEEN 0 AND 255\n");
    s.push_str("  AND length(pool) <= 16 AND regexp_like(pool, '^[a-z]+(-[a-z]+)*$')\n");
    for c in ["app", "team", "caller", "model", "base_model", "tier"] {
        let _ = writeln!(s, "  AND length({c}) <= {}", crate::daily::fanin::MAX_TEXT);
    }
    for c in ORG_SUM_COLUMNS {
        let _ = writeln!(s, "  AND {c} >= 0");
    }
    s.push_str("  AND cache_write_1h_tokens <= cache_write_tokens\n");
    s.push_str("  AND errors <= requests AND unpriced_requests <= requests\n");
    let group: Vec<String> = (1..=ORG_KEY_COLUMNS.len()).map(|i| i.to_string()).collect();
    let _ = writeln!(s, "GROUP BY {}", group.join(", "));
    let _ = write!(s, "ORDER BY {}", group.join(", "));
    s
}

/// Reads the organisation query's result rows (text values as Athena returns them) back into fan-in
/// rows (hour 0: summed over the day), to be priced by `fanin::price`.
pub fn org_rows_from_results(
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<Vec<crate::daily::fanin::FanInRow>, RowError> {
    let expected: Vec<String> = ORG_KEY_COLUMNS
        .iter()
        .chain(ORG_SUM_COLUMNS.iter())
        .map(|c| c.to_string())
        .collect();
    let got: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
    if got != expected {
        return Err(RowError::Columns {
            got: columns.to_vec(),
            expected,
        });
    }
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        if row.len() != expected.len() {
            return Err(RowError::Width {
                row: i,
                len: row.len(),
                expected: expected.len(),
            });
        }
        let bad = |c: usize, what: &'static str| RowError::Value {
            row: i,
            column: expected[c].clone(),
            value: row[c].clone(),
            what,
        };
        let text = |c: usize| row[c].clone().unwrap_or_default();
        let count = |c: usize| -> Result<u64, RowError> {
            row[c]
                .as_deref()
                .map(str::trim)
                .unwrap_or("0")
                .parse::<u64>()
                .map_err(|_| bad(c, "a count"))
        };
        let prompt_band = row[9]
            .as_deref()
            .map(str::trim)
            .and_then(|v| v.parse::<u8>().ok())
            .ok_or_else(|| bad(9, "a prompt band 0-255"))?;
        let s = ORG_KEY_COLUMNS.len();
        let r = crate::daily::fanin::FanInRow {
            hour_utc: 0,
            account_id: text(0),
            source_region: text(1),
            app: text(2),
            team: text(3),
            caller: text(4),
            model: text(5),
            base_model: text(6),
            pool: text(7),
            tier: text(8),
            prompt_band,
            requests: count(s)?,
            errors: count(s + 1)?,
            input_tokens: count(s + 2)?,
            output_tokens: count(s + 3)?,
            cache_read_tokens: count(s + 4)?,
            cache_write_tokens: count(s + 5)?,
            cache_write_1h_tokens: count(s + 6)?,
            unpriced_requests: count(s + 7)?,
        };
        if let Some(why) = r.invalid() {
            return Err(RowError::Value {
                row: i,
                column: "row".into(),
                value: None,
                what: why,
            });
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::NoProfiles;
    use crate::daily::rollup::price_rows;
    use crate::pricing::money::Money;

    fn q(keys: &[&str]) -> RollupQuery {
        RollupQuery {
            table: TableRef {
                database: "bedrock_meter".into(),
                table: "invocation_logs".into(),
            },
            date: Date::parse("2026-11-25").unwrap(),
            metadata_keys: keys.iter().map(|s| s.to_string()).collect(),
            long_context_thresholds: vec![200_000],
            principal: PrincipalRule::default(),
        }
    }

    #[test]
    fn org_sql_reads_one_day_and_checks_what_decode_checks() {
        let t = TableRef {
            database: "bedrock_meter".into(),
            table: "fanin".into(),
        };
        let sql = org_sql(&t, Date::parse("2026-11-25").unwrap());
        assert!(sql.contains("FROM \"bedrock_meter\".\"fanin\"\nWHERE day = '2026-11-25'\n"));
        assert!(sql.contains("strpos(\"$path\", '/account=' || account_id || '/') > 0"));
        assert!(sql.contains("GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n"));
        for (c, _) in crate::daily::fanin::COLUMNS {
            assert!(sql.contains(&format!("  AND {c} IS NOT NULL\n")), "{c}");
        }
        let ddl = fanin_table_sql("db", "fanin", "s3://home/fanin");
        assert!(ddl.contains("LOCATION 's3://home/fanin/'"));
        assert!(ddl.contains("'storage.location.template' = 's3://home/fanin/day=${day}/'"));
        assert!(ddl.contains("  `account_id` string,\n"));
        assert!(ddl.contains("PARTITIONED BY (`day` string)"));
        // Result rows back: the columns are checked, values are validated like decode's.
        let cols: Vec<String> = ORG_KEY_COLUMNS
            .iter()
            .chain(ORG_SUM_COLUMNS.iter())
            .map(|c| c.to_string())
            .collect();
        let row = |account: &str| -> Vec<Option<String>> {
            [
                account,
                "us-east-1",
                "app",
                "team",
                "caller",
                "amazon.nova-lite-v1:0",
                "amazon.nova-lite-v1:0",
                "in-region",
                "default",
                "0",
                "4",
                "1",
                "1000",
                "10",
                "0",
                "0",
                "0",
                "0",
            ]
            .iter()
            .map(|v| Some(v.to_string()))
            .collect()
        };
        let rows = org_rows_from_results(&cols, &[row("111122223333")]).unwrap();
        assert_eq!((rows[0].requests, rows[0].input_tokens), (4, 1000));
        assert!(org_rows_from_results(&cols, &[row("1111")]).is_err());
        assert!(org_rows_from_results(&cols[1..], &[row("111122223333")]).is_err());
    }

    #[test]
    fn partitions_are_the_day_plus_the_next_hour() {
        let d = Date::parse("2026-12-31").unwrap();
        assert_eq!(
            partition_range(d),
            ("2026/12/31/00".to_string(), "2027/01/01/00".to_string())
        );
        let hours = partition_hours(d);
        assert_eq!(hours.len(), 25);
        assert_eq!(hours[23], "2026/12/31/23");
        assert!(hours.windows(2).all(|w| w[0] < w[1]), "sorted as strings");
        let sql = rollup_sql(&RollupQuery { date: d, ..q(&[]) });
        assert!(sql.contains("WHERE datehour BETWEEN '2026/12/31/00' AND '2027/01/01/00'\n"));
        assert!(sql.contains(">= from_iso8601_timestamp('2026-12-31T00:00:00Z')"));
        assert!(sql.contains("< from_iso8601_timestamp('2027-01-01T00:00:00Z')"));
    }

    #[test]
    fn sql_groups_on_the_core_key_and_quotes_what_it_embeds() {
        let sql = rollup_sql(&q(&["tenant", "o'brien"]));
        assert!(sql.contains("element_at(requestMetadata, 'tenant'), '') AS metadata_1,"));
        assert!(sql.contains("element_at(requestMetadata, 'o''brien'), '') AS metadata_2,"));
        assert!(sql.contains("+ coalesce(input.cacheWriteInputTokenCount, 0)) > 200000 THEN 1 ELSE 0 END AS prompt_band,"));
        assert!(sql.contains("FROM \"bedrock_meter\".\"invocation_logs\"\n"));
        assert!(sql.contains("GROUP BY 1, 2, 3, 4, 5, 6, 7\n"));
        assert!(sql.contains("hour(try(from_iso8601_timestamp(\"timestamp\"))) AS hour_utc,"));
        assert!(sql.contains("schemaType = 'ModelInvocationLog'"));
        let plain = rollup_sql(&q(&[]));
        assert!(plain.contains("GROUP BY 1, 2, 3, 4, 5\n"));
        assert!(!plain.contains("metadata_"));
        // Every result column is produced, in order.
        let mut at = 0;
        for c in result_columns(2) {
            let p = sql[at..]
                .find(&format!(" AS {c}"))
                .unwrap_or_else(|| panic!("{c}"));
            at += p;
        }
    }

    #[test]
    fn ddl_declares_the_reference_columns() {
        let cols = table_columns();
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "schemaType",
                "schemaVersion",
                "timestamp",
                "accountId",
                "region",
                "requestId",
                "operation",
                "modelId",
                "inferenceRegion",
                "errorCode",
                "identity",
                "requestMetadata",
                "input",
                "output"
            ]
        );
        assert_eq!(cols[11].1, "map<string,string>");
        assert_eq!(cols[12].1, "struct<inputTokenCount:bigint,cacheReadInputTokenCount:bigint,cacheWriteInputTokenCount:bigint,inputBodyS3Path:string>");
        let ddl = create_table_sql(
            "db",
            "logs",
            "s3://b/p/AWSLogs/1/BedrockModelInvocationLogs/us-east-1",
        );
        assert!(ddl.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `db`.`logs` ("));
        assert!(ddl.contains(
            "'storage.location.template' = 's3://b/p/AWSLogs/1/BedrockModelInvocationLogs/us-east-1/${datehour}/'"
        ));
        assert!(!ddl.contains("{{"));
    }

    fn row(v: &[&str]) -> Vec<Option<String>> {
        v.iter()
            .map(|s| (*s != "NULL").then(|| s.to_string()))
            .collect()
    }

    #[test]
    fn rows_read_back_into_the_same_rollup_as_records() {
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig {
            metadata_keys: vec!["tenant".into()],
            ..Default::default()
        };
        let recs = [
            r#"{"timestamp":"2026-11-25T01:00:00Z","region":"us-east-1","modelId":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","identity":{"arn":"arn:aws:iam::1:user/a"},"requestMetadata":{"tenant":"t1"},"input":{"inputTokenCount":10,"cacheReadInputTokenCount":5,"cacheWriteInputTokenCount":7},"output":{"outputTokenCount":3}}"#,
            r#"{"timestamp":"2026-11-25T02:00:00Z","region":"us-east-1","modelId":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","identity":{"arn":"arn:aws:iam::1:user/a"},"requestMetadata":{"tenant":"t1"},"input":{"inputTokenCount":20},"output":{"outputTokenCount":4},"errorCode":"ThrottlingException"}"#,
            r#"{"timestamp":"2026-11-25T03:00:00Z","region":"us-east-1","modelId":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","input":{"inputTokenCount":250000},"output":{"outputTokenCount":1}}"#,
        ];
        let mut per_record = Rollup::default();
        for t in recs {
            per_record.add_record(&crate::records::record::parse(t).unwrap(), &cfg, &prices);
        }
        let m = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        // The 250K-token record's prompt band under the table's thresholds (100K, 200K, 272K: 2).
        let band = prices
            .prompt_band(&crate::records::record::Tokens {
                input: 250_000,
                ..Default::default()
            })
            .to_string();
        let cols = result_columns(1);
        let rows = vec![
            row(&[
                m,
                "us-east-1",
                "arn:aws:iam::1:user/a",
                "t1",
                "0",
                "1",
                "1",
                "0",
                "10",
                "3",
                "5",
                "7",
                "0",
            ]),
            row(&[
                m,
                "us-east-1",
                "arn:aws:iam::1:user/a",
                "t1",
                "0",
                "2",
                "1",
                "1",
                "20",
                "4",
                "0",
                "0",
                "0",
            ]),
            row(&[
                m,
                "us-east-1",
                "",
                "",
                &band,
                "3",
                "1",
                "0",
                "250000",
                "1",
                "0",
                "0",
                "0",
            ]),
        ];
        let sql_path = rollup_from_rows(&cols, &rows, 1).unwrap();
        let mut a: Vec<_> = per_record.rows.iter().collect();
        let mut b: Vec<_> = sql_path.rows.iter().collect();
        a.sort_by(|x, y| x.0.cmp(y.0));
        b.sort_by(|x, y| x.0.cmp(y.0));
        assert_eq!(a, b);
        let cost = |r: &Rollup| -> Money {
            price_rows(&r.rows, &NoProfiles, &prices, &cfg)
                .iter()
                .map(|p| p.cost.clone().unwrap())
                .sum()
        };
        assert_eq!(cost(&per_record), cost(&sql_path));
        // Per hour: each hour's rows are the per-record rollup of that hour's record, and the day's
        // rows are their sum.
        let d = Date::parse("2026-11-25").unwrap();
        let day = day_rollup_from_rows(&cols, &rows, 1, d).unwrap();
        assert_eq!(day.total.rows, sql_path.rows);
        let hours: Vec<i64> = day
            .by_hour
            .keys()
            .map(|h| (h - d.start().0) / 3_600)
            .collect();
        assert_eq!(hours, [1, 2, 3]);
        for (t, h) in recs.iter().zip(day.by_hour.values()) {
            let mut one = Rollup::default();
            one.add_record(&crate::records::record::parse(t).unwrap(), &cfg, &prices);
            assert_eq!(one.rows, h.rows);
        }
    }

    #[test]
    fn bad_results_are_errors_not_zeroes() {
        let cols = result_columns(0);
        assert!(matches!(
            rollup_from_rows(&cols[1..], &[], 0),
            Err(RowError::Columns { .. })
        ));
        let ok = ["m", "r", "c", "0", "23", "1", "0", "1", "1", "0", "0", "0"];
        assert!(rollup_from_rows(&cols, &[row(&ok)], 0).is_ok());
        for (i, v) in [
            (5, "x"),
            (3, "maybe"),
            (0, ""),
            (11, "5"),
            (7, "-1"),
            (4, "24"),
            (4, "-1"),
            (4, "NULL"),
        ] {
            let mut r = ok;
            r[i] = v;
            assert!(rollup_from_rows(&cols, &[row(&r)], 0).is_err(), "{i} = {v}");
        }
        assert!(matches!(
            rollup_from_rows(&cols, &[row(&ok[1..])], 0),
            Err(RowError::Width { .. })
        ));
        // Upper-case headers (some drivers) are fine; NULL sums are 0.
        let upper: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
        let mut r = ok;
        r[7] = "NULL";
        assert!(rollup_from_rows(&upper, &[row(&r)], 0).is_ok());
    }

    /// No prompt or response text can reach the daily path's emails or the profile snapshot: they are
    /// built from this table, which declares no body column (only the S3 path of offloaded bodies),
    /// and from the rollup query over it.
    #[test]
    fn the_table_and_the_rollup_query_read_no_body_text() {
        let cols = table_columns();
        let ddl = create_table_sql("db", "logs", "s3://b/p");
        let sql = rollup_sql(&q(&["tenant"]));
        for text in cols
            .iter()
            .flat_map(|(n, t)| [n.as_str(), t.as_str()])
            .chain([ddl.as_str(), sql.as_str()])
        {
            let t = text.to_ascii_lowercase();
            for body in [
                "inputbodyjson",
                "outputbodyjson",
                "inputbodybase64",
                "outputbodybase64",
            ] {
                assert!(!t.contains(body), "{body} in {text}");
            }
        }
    }
}

//! `bedrock-meter rollup-sql`: prints the exact Athena (Trino) SQL the daily Lambda sends for a day
//! (built by the same `athena_sql::RollupQuery::new`), or the table's `CREATE EXTERNAL TABLE` statement.
//!
//! The Athena query pack (`query_pack`): `--pricing-cte` prints the pricing CTE generated from the
//! price table, `--query-pack DIR` writes the five console queries (`queries/` in the repository),
//! `--named-queries` prints template.yaml's `AWS::Athena::NamedQuery` resources, `--profiles-snapshot`
//! prints the profiles snapshot the daily Lambda writes (from `--profiles FILE`), and
//! `--create-profiles-table` the snapshot table's DDL. `--caller-sql` prints the caller rule's SQL
//! expression alone (the one the rollup and the query pack embed; `bench/report.sh` runs it in DuckDB).
//!
//! A hidden `--price-rows FILE` prices query results (`{"columns": [...], "rows": [[text|null, ...]]}`,
//! the values as Athena returns them) through the same row reader, pricing and report code as the
//! Lambda: the SQL tests use it to run the SQL elsewhere (DuckDB) and compare with `report`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bedrock_meter_core::daily::athena_sql::{
    create_table_sql, rollup_from_rows, RollupQuery, TableRef,
};
use bedrock_meter_core::daily::profile_snapshot::{profile_rows, snapshot_jsonl};
use bedrock_meter_core::daily::query_pack::{
    create_profiles_table_sql, named_queries_yaml, pricing_cte, ProfilesFrom, QueryPack,
    DEFAULT_LOCATION, DEFAULT_PROFILES_TABLE,
};
use bedrock_meter_core::daily::report::Report;
use bedrock_meter_core::daily::rollup::price_rows;
use bedrock_meter_core::time::Date;

use crate::common::CoreOpts;
use crate::report::parse_date;

/// Output formats of `--price-rows` (the report's text formats).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceRowsFormat {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct RollupSqlArgs {
    /// The UTC day to roll up (the Lambda's default is yesterday).
    #[arg(long, value_parser = parse_date, required_unless_present_any = ["create_table", "pricing_cte", "query_pack", "named_queries", "create_profiles_table", "caller_sql", "create_fanin_table"])]
    pub date: Option<Date>,
    /// Glue database of the invocation-log table.
    #[arg(long, default_value = "bedrock_meter", env = "ATHENA_DATABASE")]
    pub database: String,
    /// Glue table over the S3 invocation logs.
    #[arg(long, default_value = "invocation_logs", env = "ATHENA_TABLE")]
    pub table: String,
    /// Print the table's CREATE EXTERNAL TABLE statement instead (for manual set-up).
    #[arg(long, requires = "location", conflicts_with = "date")]
    pub create_table: bool,
    /// With --create-table: s3://<bucket>/<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/
    /// (with --create-profiles-table: s3://<bucket>/bedrock-meter/profiles/)
    #[arg(long)]
    pub location: Option<String>,
    /// Print the caller rule (docs/callers.md, `--keep-session-roles`) as the Trino expression over
    /// `identity.arn` the rollup SQL and the query pack use (bench/report.sh transpiles it to DuckDB).
    #[arg(long, conflicts_with = "date")]
    pub caller_sql: bool,
    /// Print the pricing CTE (`prices AS (...)`, to follow WITH) generated from the price table.
    #[arg(long, conflicts_with = "date")]
    pub pricing_cte: bool,
    /// Write the Athena query pack (01-create-table.sql ... 05-caller-app-cost.sql) into this directory.
    /// The repository's queries/ is `--query-pack queries` with the defaults.
    #[arg(long, value_name = "DIR", conflicts_with = "date")]
    pub query_pack: Option<PathBuf>,
    /// Glue table of the profile snapshots the daily Lambda writes (read by the query pack).
    #[arg(long, default_value = DEFAULT_PROFILES_TABLE)]
    pub profiles_table: String,
    /// With --query-pack: write the profiles of --profiles FILE into the queries instead of reading the
    /// snapshot table (for set-ups without the daily Lambda).
    #[arg(long, requires = "query_pack")]
    pub inline_profiles: bool,
    /// With --query-pack: the window, in complete UTC days before today.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// With --query-pack: the CUR 2.0 table (`database.table`) `06-estimate-vs-bill.sql` reads, instead
    /// of the placeholder to replace.
    #[arg(long, requires = "query_pack")]
    pub cur_table: Option<String>,
    /// Print template.yaml's AWS::Athena::NamedQuery resources (the query pack with the stack's names).
    #[arg(long, conflicts_with = "date")]
    pub named_queries: bool,
    /// Print the profiles snapshot (JSON lines) the daily Lambda would write for --date, from --profiles.
    #[arg(long, requires = "date")]
    pub profiles_snapshot: bool,
    /// Print the profile-snapshot table's CREATE EXTERNAL TABLE statement.
    #[arg(long, requires = "location", conflicts_with = "date")]
    pub create_profiles_table: bool,
    /// Price query results from this JSON file (`{"columns": [...], "rows": [[...]]}`) and print the
    /// report, as the Lambda would (for tests).
    #[arg(long, hide = true)]
    pub price_rows: Option<PathBuf>,
    /// The organisation query of --date over the home account's fan-in table (docs/organization.md):
    /// every member's rows of the day, summed over the hours, priced by the core.
    #[arg(long, requires = "date")]
    pub org: bool,
    /// The fan-in table's name (with --org and --create-fanin-table).
    #[arg(long, default_value = "fanin")]
    pub fanin_table: String,
    /// Print the home account's fan-in table DDL (--location s3://<home bucket>/fanin/).
    #[arg(long, requires = "location", conflicts_with = "date")]
    pub create_fanin_table: bool,
    /// Prices the organisation query's results (`{"columns", "rows"}`) with the core: the organisation
    /// report without the members (hidden; the SQL tests use it).
    #[arg(long, hide = true, requires = "org")]
    pub price_org_rows: Option<PathBuf>,
    /// With --price-rows: write the member's fan-in object of the day from the query's rows (what the
    /// member's rollup Lambda writes) under DIR, for account --account and Region --region (hidden;
    /// the SQL tests use it).
    #[arg(long, hide = true, requires_all = ["price_rows", "account", "region"])]
    pub write_fan_in: Option<PathBuf>,
    #[arg(long, hide = true)]
    pub account: Option<String>,
    #[arg(long, hide = true)]
    pub region: Option<String>,
    /// Output format of --price-rows.
    #[arg(long, value_enum, default_value = "json", hide = true)]
    pub format: PriceRowsFormat,
    #[command(flatten)]
    pub core: CoreOpts,
}

#[derive(serde::Deserialize)]
struct ResultFile {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

pub fn run(a: RollupSqlArgs) -> anyhow::Result<ExitCode> {
    if a.create_table {
        let location = a.location.as_deref().unwrap_or_default();
        if !location.starts_with("s3://") {
            anyhow::bail!("--location must be an s3:// URL, got {location:?}");
        }
        println!(
            "{};",
            create_table_sql(&a.database, &a.table, location).trim_end()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if a.create_profiles_table {
        let location = a.location.as_deref().unwrap_or_default();
        if !location.starts_with("s3://") {
            anyhow::bail!("--location must be an s3:// URL, got {location:?}");
        }
        println!(
            "{};",
            create_profiles_table_sql(&a.database, &a.profiles_table, location).trim_end()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if a.create_fanin_table {
        let location = a.location.as_deref().unwrap_or_default();
        if !location.starts_with("s3://") {
            anyhow::bail!("--location must be an s3:// URL, got {location:?}");
        }
        println!(
            "{};",
            bedrock_meter_core::daily::athena_sql::fanin_table_sql(
                &a.database,
                &a.fanin_table,
                location
            )
        );
        return Ok(ExitCode::SUCCESS);
    }
    let core = a.core.load()?;
    if a.caller_sql {
        println!(
            "{}",
            bedrock_meter_core::daily::athena_sql::caller_sql(&core.attribution.principal)
        );
        return Ok(ExitCode::SUCCESS);
    }
    if a.pricing_cte {
        println!("{}", pricing_cte(&core.prices));
        return Ok(ExitCode::SUCCESS);
    }
    if a.named_queries {
        print!("{}", named_queries_yaml(&core.prices));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = &a.query_pack {
        let profiles = if a.inline_profiles {
            if a.core.profiles.is_none() {
                anyhow::bail!("--inline-profiles needs --profiles FILE");
            }
            let today = bedrock_meter_core::time::Timestamp::now().date();
            ProfilesFrom::Inline(profile_rows(&core.profiles, &core.attribution, today))
        } else {
            ProfilesFrom::Table(a.profiles_table.clone())
        };
        let pack = QueryPack {
            database: a.database.clone(),
            table: a.table.clone(),
            profiles,
            location: a
                .location
                .clone()
                .unwrap_or_else(|| DEFAULT_LOCATION.to_string()),
            days: a.days,
            prices: &core.prices,
            principal: core.attribution.principal.clone(),
        };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let cur = a.cur_table.as_deref().map(|t| {
            t.split('.')
                .map(bedrock_meter_core::daily::athena_sql::sql_ident)
                .collect::<Vec<_>>()
                .join(".")
        });
        for f in pack.files() {
            let path = dir.join(f.file_name);
            let sql = match &cur {
                Some(t) => f.sql.replace(
                    bedrock_meter_core::daily::reconcile::CUR_TABLE_PLACEHOLDER,
                    t,
                ),
                None => f.sql,
            };
            std::fs::write(&path, &sql).with_context(|| format!("writing {}", path.display()))?;
            println!("{}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let date = a.date.context("--date is required")?;
    if a.profiles_snapshot {
        print!(
            "{}",
            snapshot_jsonl(&profile_rows(&core.profiles, &core.attribution, date))
        );
        return Ok(ExitCode::SUCCESS);
    }
    if a.org {
        return org(&a, date, &core.prices);
    }
    let query = RollupQuery::new(
        TableRef {
            database: a.database.clone(),
            table: a.table.clone(),
        },
        date,
        &core.attribution,
        &core.prices,
    );
    let Some(path) = &a.price_rows else {
        println!("{}", query.sql());
        return Ok(ExitCode::SUCCESS);
    };
    let text = crate::common::read_flag_file("--price-rows", path)?;
    let results: ResultFile = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "--price-rows {}: expected {{\"columns\", \"rows\"}} ({e})",
            path.display()
        )
    })?;
    if let Some(dir) = &a.write_fan_in {
        use bedrock_meter_core::daily::fanin;
        let day = bedrock_meter_core::daily::athena_sql::day_rollup_from_rows(
            &results.columns,
            &results.rows,
            core.attribution.metadata_keys.len(),
            date,
        )?;
        let account = a.account.as_deref().unwrap_or_default();
        let region = a.region.as_deref().unwrap_or_default();
        let key = fanin::object_key(date, account, region)?;
        let rows = fanin::rows_of_day_rollup(
            date,
            account,
            &day,
            &core.profiles,
            &core.prices,
            &core.attribution,
        );
        let path = dir.join(&key);
        std::fs::create_dir_all(path.parent().expect("a key has folders"))?;
        std::fs::write(&path, fanin::encode(&rows))?;
        println!("{}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let rollup = rollup_from_rows(
        &results.columns,
        &results.rows,
        core.attribution.metadata_keys.len(),
    )?;
    let rows = price_rows(
        &rollup.rows,
        &core.profiles,
        &core.prices,
        &core.attribution,
    );
    let report = Report::build(
        &rows,
        Some(date),
        core.prices.as_of,
        &core.attribution.metadata_keys,
        0,
    );
    let out = match a.format {
        PriceRowsFormat::Table => report.to_table(),
        PriceRowsFormat::Json => report.to_json() + "\n",
        PriceRowsFormat::Csv => report.to_csv(),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `rollup-sql --org`: the organisation query, or (`--price-org-rows`) its results priced.
fn org(
    a: &RollupSqlArgs,
    date: Date,
    prices: &bedrock_meter_core::pricing::prices::PriceTable,
) -> anyhow::Result<ExitCode> {
    use bedrock_meter_core::daily::athena_sql::{org_rows_from_results, org_sql};
    use bedrock_meter_core::daily::fanin;
    use bedrock_meter_core::daily::org::{AccountRow, OrgReport};
    let table = TableRef {
        database: a.database.clone(),
        table: a.fanin_table.clone(),
    };
    let Some(path) = &a.price_org_rows else {
        println!("{}", org_sql(&table, date));
        return Ok(ExitCode::SUCCESS);
    };
    let text = crate::common::read_flag_file("--price-org-rows", path)?;
    let results: ResultFile = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "--price-org-rows {}: expected {{\"columns\", \"rows\"}} ({e})",
            path.display()
        )
    })?;
    let rows = org_rows_from_results(&results.columns, &results.rows)?;
    let priced: Vec<AccountRow> = rows
        .iter()
        .zip(fanin::price(&rows, prices))
        .map(|(f, row)| AccountRow {
            account: f.account_id.clone(),
            row,
        })
        .collect();
    let org = OrgReport::build(&priced, Some(date), prices.as_of, &[], 0, None);
    let out = match a.format {
        PriceRowsFormat::Table => org.to_table_top(None),
        PriceRowsFormat::Json => org.to_json() + "\n",
        PriceRowsFormat::Csv => org.to_csv(),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

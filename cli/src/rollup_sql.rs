//! `bedrock-meter rollup-sql`: prints the exact Athena (Trino) SQL the daily Lambda sends for a day
//! (built by the same `athena_sql::RollupQuery::new`), or the table's `CREATE EXTERNAL TABLE` statement.
//!
//! A hidden `--price-rows FILE` prices query results (`{"columns": [...], "rows": [[text|null, ...]]}`,
//! the values as Athena returns them) through the same row reader, pricing and report code as the
//! Lambda: the SQL tests use it to run the SQL elsewhere (DuckDB) and compare with `report`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bedrock_meter::athena_sql::{create_table_sql, rollup_from_rows, RollupQuery, TableRef};
use bedrock_meter::report::Report;
use bedrock_meter::rollup::price_rows;
use bedrock_meter::Date;

use crate::common::CoreOpts;
use crate::report::{parse_date, Format};

#[derive(clap::Args, Debug)]
pub struct RollupSqlArgs {
    /// The UTC day to roll up (the Lambda's default is yesterday).
    #[arg(long, value_parser = parse_date, required_unless_present = "create_table")]
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
    #[arg(long)]
    pub location: Option<String>,
    /// Price query results from this JSON file (`{"columns": [...], "rows": [[...]]}`) and print the
    /// report, as the Lambda would (for tests).
    #[arg(long, hide = true)]
    pub price_rows: Option<PathBuf>,
    /// Output format of --price-rows.
    #[arg(long, value_enum, default_value = "json", hide = true)]
    pub format: Format,
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
    let date = a.date.context("--date is required")?;
    let core = a.core.load()?;
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
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let results: ResultFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected {{\"columns\", \"rows\"}}", path.display()))?;
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
        Format::Table => report.to_table(),
        Format::Json => report.to_json() + "\n",
        Format::Csv => report.to_csv(),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

//! `bedrock-meter report`: the daily cost report over log files on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use bedrock_meter::report::Report;
use bedrock_meter::rollup::{price_rows, Rollup};
use bedrock_meter::Date;

use crate::common::{ensure_paths, read_logs, CoreOpts};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The UTC day to report (records are kept by their own `timestamp`); default: every record read.
    #[arg(long, value_parser = parse_date)]
    pub date: Option<Date>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[command(flatten)]
    pub core: CoreOpts,
    /// Log files and directories (read recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s).ok_or_else(|| format!("{s:?} is not a YYYY-MM-DD date"))
}

pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    ensure_paths(&a.paths)?;
    let core = a.core.load()?;
    let (rollups, file_errors) = read_logs(&a.paths, Rollup::default, |rollup, rec| match rec {
        Ok(r) => {
            if a.date.is_none_or(|d| d.contains(r.timestamp)) {
                rollup.add_record(&r, &core.attribution, &core.prices);
            }
        }
        Err(e) => {
            rollup.malformed += 1;
            tracing::debug!(kind = e.kind(), "malformed record");
        }
    })?;
    let mut rollup = Rollup::default();
    for r in rollups {
        rollup.merge(r);
    }
    let rows = price_rows(
        &rollup.rows,
        &core.profiles,
        &core.prices,
        &core.attribution,
    );
    let date = a.date.or_else(|| match (rollup.first, rollup.last) {
        (Some(f), Some(l)) if f.date() == l.date() => Some(f.date()),
        _ => None,
    });
    let report = Report::build(
        &rows,
        date,
        core.prices.as_of,
        &core.attribution.metadata_keys,
        rollup.malformed + file_errors as u64,
    );
    let text = match a.format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json() + "\n",
        Format::Csv => report.to_csv(),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

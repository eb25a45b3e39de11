//! `bedrock-meter report`: the daily cost report over log files on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use bedrock_meter::report::{skipped_summary, thousands, Report, DEFAULT_TABLE_LINES};
use bedrock_meter::rollup::{price_rows, Rollup};
use bedrock_meter::{Date, Timestamp};

use crate::common::{ensure_paths, read_logs, CoreOpts, ReadSummary};

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
    /// table (for people), json (the contract in README) or csv (one row per caller, team, app,
    /// model and metadata values).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Table: show the N costliest caller/team/app/model lines and sum the rest into one line.
    #[arg(long, default_value_t = DEFAULT_TABLE_LINES, conflicts_with = "all")]
    pub top: usize,
    /// Table: show every line.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub core: CoreOpts,
    /// Log files and directories (read recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `YYYY-MM-DD`, a day that exists.
pub fn parse_date(s: &str) -> Result<Date, String> {
    if let Some(d) = Date::parse(s) {
        return Ok(d);
    }
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, len: usize| {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse::<u32>().ok())?
    };
    if let [y, m, d] = parts[..] {
        if let (Some(y), Some(m), Some(_)) = (num(y, 4), num(m, 2), num(d, 2)) {
            if !(1..=12).contains(&m) {
                return Err(format!(
                    "{s:?}: there is no month {m} (months are 01 to 12)"
                ));
            }
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let days = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            const MONTHS: [&str; 12] = [
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ];
            return Err(format!(
                "{s:?}: that day does not exist ({} {y} has {days} days)",
                MONTHS[m as usize - 1]
            ));
        }
    }
    Err(format!("{s:?} is not a YYYY-MM-DD date"))
}

/// What the report read, beside what it kept.
#[derive(Default)]
struct Read {
    rollup: Rollup,
    records: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// Why there is nothing to report, in words: what was read and what was kept.
fn nothing_to_report(
    paths: &[PathBuf],
    summary: &ReadSummary,
    read: &Read,
    date: Option<Date>,
) -> String {
    let names = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let skipped = skipped_summary(read.rollup.malformed, summary.unreadable_files)
        .map(|s| format!("; {}", s.to_lowercase()))
        .unwrap_or_default();
    if summary.files == 0 {
        let others = match summary.other_files.len() {
            0 => "the folder is empty".to_string(),
            n => format!(
                "{n} other file{} ignored, e.g. {}",
                if n == 1 { "" } else { "s" },
                summary.other_files[0].display()
            ),
        };
        return format!(
            "nothing to report: no log files in {names} (looked for .json.gz, .jsonl.gz, .json, .jsonl; {others})"
        );
    }
    let files = format!(
        "{} file{}",
        thousands(summary.files as u64),
        if summary.files == 1 { "" } else { "s" }
    );
    match (date, read.first, read.last) {
        (Some(d), Some(first), Some(last)) => format!(
            "nothing to report: read {} records in {files}; none on {d}; records span {}…{}{skipped}",
            thousands(read.records),
            first.date(),
            last.date()
        ),
        _ => format!("nothing to report: read {files}, no valid record in them{skipped}"),
    }
}

pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    ensure_paths(&a.paths)?;
    let core = a.core.load()?;
    let (reads, summary) = read_logs(&a.paths, Read::default, |st, rec| match rec {
        Ok(r) => {
            st.records += 1;
            st.first = Some(st.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
            st.last = Some(st.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
            if a.date.is_none_or(|d| d.contains(r.timestamp)) {
                st.rollup.add_record(&r, &core.attribution, &core.prices);
            }
        }
        Err(e) => {
            st.rollup.malformed += 1;
            tracing::debug!(kind = e.kind(), "malformed record");
        }
    })?;
    let mut read = Read::default();
    for r in reads {
        read.rollup.merge(r.rollup);
        read.records += r.records;
        read.first = [read.first, r.first].into_iter().flatten().min();
        read.last = [read.last, r.last].into_iter().flatten().max();
    }
    if read.rollup.rows.is_empty() {
        // Never a report of $0 for "found nothing": say what was read, and fail.
        eprintln!(
            "bedrock-meter: {}",
            nothing_to_report(&a.paths, &summary, &read, a.date)
        );
        return Ok(ExitCode::from(1));
    }
    let rollup = read.rollup;
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
    let mut report = Report::build(
        &rows,
        date,
        core.prices.as_of,
        &core.attribution.metadata_keys,
        rollup.malformed,
    );
    report.unreadable_files = summary.unreadable_files;
    let text = match a.format {
        Format::Table => report.to_table_top((!a.all).then_some(a.top)),
        Format::Json => report.to_json() + "\n",
        Format::Csv => report.to_csv(),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_that_do_not_exist_say_so() {
        assert!(parse_date("2026-11-30").is_ok());
        assert!(parse_date("2028-02-29").is_ok());
        let e = parse_date("2026-11-31").unwrap_err();
        assert!(
            e.contains("does not exist") && e.contains("November 2026 has 30 days"),
            "{e}"
        );
        let e = parse_date("2026-02-29").unwrap_err();
        assert!(e.contains("February 2026 has 28 days"), "{e}");
        let e = parse_date("2026-13-01").unwrap_err();
        assert!(e.contains("no month 13"), "{e}");
        let e = parse_date("25/11/2026").unwrap_err();
        assert!(e.contains("YYYY-MM-DD"), "{e}");
    }
}

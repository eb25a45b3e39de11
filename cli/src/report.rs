//! `bedrock-meter report`: the daily cost report over log files on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use std::collections::BTreeMap;

use bedrock_meter_core::daily::report::{skipped_summary, Report, DEFAULT_TABLE_LINES};

use bedrock_meter_core::daily::rollup::{price_rows, Rollup};
use bedrock_meter_core::text::count;
use bedrock_meter_core::time::{Date, Timestamp};

use crate::common::{ensure_paths, read_logs, CoreOpts, ReadSummary};
use crate::replay::Seen;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
/// `report --format`: the text formats, the HTML page and the daily email.
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    /// One self-contained HTML page with charts (README "HTML day report").
    Html,
    /// The daily email exactly as the rollup Lambda sends it (subject line, blank line, body).
    Email,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The UTC day to report (records are kept by their own `timestamp`); default: every record read.
    #[arg(long, value_parser = parse_date)]
    pub date: Option<Date>,
    /// table (for people), json (the contract in README), csv (one row per caller, team, app,
    /// model and metadata values), html (a page with charts) or email (the daily Lambda's email).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// One team's view: its apps, models and callers (the email that team gets, for --format email).
    #[arg(long)]
    pub team: Option<String>,
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
    /// Html: the kept records by hour (start of the hour → rollup).
    hours: BTreeMap<i64, Rollup>,
    /// Html: every valid record read, for the runaway detector.
    seen: Vec<Seen>,
    /// Email: the day before `--date` (for the day-over-day change).
    prev: Rollup,
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
    let files = count(summary.files as u64, "file");
    match (date, read.first, read.last) {
        (Some(d), Some(first), Some(last)) => format!(
            "nothing to report: read {} in {files}; none on {d}; records span {}…{}{skipped}",
            count(read.records, "record"),
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
                if a.format == ReportFormat::Html {
                    let hour = r.timestamp.0 - r.timestamp.0.rem_euclid(3600);
                    st.hours.entry(hour).or_default().add_record(
                        &r,
                        &core.attribution,
                        &core.prices,
                    );
                }
            } else if a.format == ReportFormat::Email
                && a.date.is_some_and(|d| d.pred().contains(r.timestamp))
            {
                st.prev.add_record(&r, &core.attribution, &core.prices);
            }
            if a.format == ReportFormat::Html {
                st.seen.push(Seen::of(&r));
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
        read.prev.merge(r.prev);
        read.seen.extend(r.seen);
        for (h, rollup) in r.hours {
            read.hours.entry(h).or_default().merge(rollup);
        }
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
    let keys = &core.attribution.metadata_keys;
    let view = match &a.team {
        None => report.clone(),
        Some(team) => {
            if !report.by_team.iter().any(|(t, _)| t == team) {
                let teams: Vec<&str> = report.by_team.iter().map(|(t, _)| t.as_str()).collect();
                anyhow::bail!(
                    "--team {team}: no such team in this report (teams: {})",
                    teams.join(", ")
                );
            }
            let mut v = report.for_team(team, &rows, keys);
            v.malformed_records = report.malformed_records;
            v.unreadable_files = report.unreadable_files;
            v
        }
    };
    let text = match a.format {
        ReportFormat::Table => view.to_table_top((!a.all).then_some(a.top)),
        ReportFormat::Json => view.to_json() + "\n",
        ReportFormat::Csv => view.to_csv(),
        ReportFormat::Html => html(&core, &view, a.team.as_deref(), read.hours, read.seen)?,
        ReportFormat::Email => {
            let Some(date) = date else {
                anyhow::bail!(
                    "--format email is one day's email: give --date (the records span {}…{})",
                    rollup
                        .first
                        .map_or_else(String::new, |t| t.date().to_string()),
                    rollup
                        .last
                        .map_or_else(String::new, |t| t.date().to_string())
                );
            };
            email(&core, &report, &rows, &read.prev, date, a.team.as_deref())
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The page of `report --format html`: the report, its spend per hour, and the incidents the live
/// path's detector (the same code as `replay`, thresholds from the same environment variables) finds
/// in the records read.
fn html(
    core: &crate::common::Core,
    view: &Report,
    team: Option<&str>,
    hours: BTreeMap<i64, Rollup>,
    seen: Vec<Seen>,
) -> anyhow::Result<String> {
    use bedrock_meter_core::daily::email::Audience;
    use bedrock_meter_core::daily::report_html::{incidents, render, Hourly, Page};
    use bedrock_meter_core::live::detector::DetectorConfig;
    let by_hour: BTreeMap<i64, _> = hours
        .into_iter()
        .map(|(h, r)| {
            (
                h,
                price_rows(&r.rows, &core.profiles, &core.prices, &core.attribution),
            )
        })
        .collect();
    let hourly = Hourly::build(view.date, &by_hour, team, core.prices.as_of);
    let config = DetectorConfig::from_lookup(|k| std::env::var(k).ok())?;
    let mut observed = crate::replay::observe(core, seen);
    let alerts = crate::replay::detect(config, &mut observed.observations)?;
    let spans = incidents(&alerts);
    Ok(render(&Page {
        report: view,
        audience: team.map_or(Audience::Summary, Audience::Team),
        hourly: Some(&hourly),
        incidents: Some(&spans),
    }))
}

/// The email of `report --format email`: what the daily Lambda sends for the day (the team's, or the
/// organisation summary), with the day before from the same files when they hold it.
fn email(
    core: &crate::common::Core,
    org: &Report,
    rows: &[bedrock_meter_core::daily::rollup::PricedRow],
    prev: &Rollup,
    date: Date,
    team: Option<&str>,
) -> String {
    use bedrock_meter_core::daily::daily_email::day_emails;
    let keys = &core.attribution.metadata_keys;
    let prev_rows = price_rows(&prev.rows, &core.profiles, &core.prices, &core.attribution);
    let prev_org = Report::build(&prev_rows, Some(date.pred()), core.prices.as_of, keys, 0);
    let all = day_emails(org, rows, &prev_org, date, keys, &[]);
    let e = all
        .into_iter()
        .find(|e| e.team.as_deref() == team)
        .expect("the team was checked and the summary is always there");
    format!("Subject: {}\n\n{}", e.email.subject, e.email.body)
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

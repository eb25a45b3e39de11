//! `bedrock-meter report`: the daily cost report over log files on disk.

use std::path::PathBuf;
use std::process::ExitCode;

use std::collections::BTreeMap;

use bedrock_meter_core::daily::report::{skipped_summary, Report, DEFAULT_TABLE_LINES};

use bedrock_meter_core::daily::org::{org_emails, AccountRow, OrgReport};
use bedrock_meter_core::daily::rollup::{price_rows, PricedRow, Rollup};
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
    /// The organisation report from fan-in files instead of log files: DIR holds the home account's
    /// `fanin/day=…/account=…/region=…/rows.json.gz` objects (`aws s3 sync s3://<home bucket>/fanin
    /// DIR/fanin`). Reports --date (default: the latest day found), priced with this price table.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["paths", "write_fan_in"])]
    pub fan_in: Option<PathBuf>,
    /// With --fan-in: accounts expected to report (comma-separated 12-digit ids), besides every
    /// account and Region that reported on any of the 7 days before.
    #[arg(long, value_delimiter = ',', requires = "fan_in")]
    pub expect_accounts: Vec<String>,
    /// Also write the fan-in files of the records read under DIR, exactly as the member stacks' daily
    /// rollup writes them (one per UTC day, account and source Region).
    #[arg(long, value_name = "DIR")]
    pub write_fan_in: Option<PathBuf>,
    #[command(flatten)]
    pub core: CoreOpts,
    /// Log files and directories (read recursively).
    #[arg(required_unless_present = "fan_in")]
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
    /// The kept records per account (`accountId`; `unknown` when absent): the per-account breakdown.
    accounts: BTreeMap<String, Rollup>,
    /// The day before per account (the organisation email's change).
    prev_accounts: BTreeMap<String, Rollup>,
    /// --write-fan-in: the kept records per (account, hour start).
    fan: BTreeMap<(String, i64), Rollup>,
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

/// The account a record is counted in: its `accountId`, or `unknown`.
fn account_of<'r>(r: &'r bedrock_meter_core::records::record::Record<'_>) -> &'r str {
    r.account_id
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("unknown")
}

/// The rollup of `account` in `m` (looked up without allocating: one entry per account).
fn rollup_of<'m>(m: &'m mut BTreeMap<String, Rollup>, account: &str) -> &'m mut Rollup {
    if !m.contains_key(account) {
        m.insert(account.to_string(), Rollup::default());
    }
    m.get_mut(account).expect("inserted above")
}

pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &a.fan_in {
        return run_fan_in(&a, dir);
    }
    ensure_paths(&a.paths)?;
    let core = a.core.load()?;
    let (reads, summary) = read_logs(&a.paths, Read::default, |st, rec| match rec {
        Ok(r) => {
            st.records += 1;
            st.first = Some(st.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
            st.last = Some(st.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
            if a.date.is_none_or(|d| d.contains(r.timestamp)) {
                // Summed per account only; the whole rollup is their merge (rows, not records).
                rollup_of(&mut st.accounts, account_of(&r)).add_record(
                    &r,
                    &core.attribution,
                    &core.prices,
                );
                if a.write_fan_in.is_some() {
                    let hour = r.timestamp.0 - r.timestamp.0.rem_euclid(3600);
                    st.fan
                        .entry((account_of(&r).to_string(), hour))
                        .or_default()
                        .add_record(&r, &core.attribution, &core.prices);
                }
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
                rollup_of(&mut st.prev_accounts, account_of(&r)).add_record(
                    &r,
                    &core.attribution,
                    &core.prices,
                );
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
    for mut r in reads {
        for a in r.accounts.values() {
            r.rollup.merge(a.clone());
        }
        for a in r.prev_accounts.values() {
            r.prev.merge(a.clone());
        }
        read.rollup.merge(r.rollup);
        read.prev.merge(r.prev);
        for (k, rollup) in r.accounts {
            read.accounts.entry(k).or_default().merge(rollup);
        }
        for (k, rollup) in r.prev_accounts {
            read.prev_accounts.entry(k).or_default().merge(rollup);
        }
        for (k, rollup) in r.fan {
            read.fan.entry(k).or_default().merge(rollup);
        }
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
    if let Some(dir) = &a.write_fan_in {
        let hours: BTreeMap<(String, i64), Vec<PricedRow>> = read
            .fan
            .iter()
            .map(|(k, r)| {
                (
                    k.clone(),
                    price_rows(&r.rows, &core.profiles, &core.prices, &core.attribution),
                )
            })
            .collect();
        let (n, skipped) = crate::fanin::write(dir, &hours)?;
        eprintln!(
            "wrote {} under {}",
            count(n as u64, "fan-in file"),
            dir.display()
        );
        if skipped > 0 {
            eprintln!(
                "warning: {} without a 12-digit accountId or a Region name not written to fan-in files",
                count(skipped, "request")
            );
        }
    }
    // Several accounts: the organisation view (per-account breakdown) in the text formats and the email.
    if read.accounts.len() > 1 && a.format != ReportFormat::Html {
        let account_rows = |m: &BTreeMap<String, Rollup>| -> Vec<AccountRow> {
            m.iter()
                .flat_map(|(account, r)| {
                    price_rows(&r.rows, &core.profiles, &core.prices, &core.attribution)
                        .into_iter()
                        .map(|row| AccountRow {
                            account: account.clone(),
                            row,
                        })
                })
                .collect()
        };
        let rows = account_rows(&read.accounts);
        let mut org =
            OrgReport::build(&rows, date, core.prices.as_of, keys, rollup.malformed, None);
        org.report.unreadable_files = summary.unreadable_files;
        let prev = (a.format == ReportFormat::Email).then(|| {
            let prev_rows: Vec<PricedRow> = account_rows(&read.prev_accounts)
                .into_iter()
                .map(|r| r.row)
                .collect();
            Report::build(&prev_rows, date.map(Date::pred), core.prices.as_of, keys, 0)
        });
        print!(
            "{}",
            org_output(&a, &org, &rows, prev.as_ref(), keys, date)?
        );
        return Ok(ExitCode::SUCCESS);
    }
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

/// `report --fan-in DIR`: the organisation's figures from the fan-in files.
fn run_fan_in(a: &ReportArgs, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        anyhow::bail!("--fan-in {}: not a directory", dir.display());
    }
    let core = a.core.load()?;
    let keys: &[String] = &[];
    let day = match crate::fanin::read_day(dir, a.date, &a.expect_accounts, &core.prices) {
        Ok(d) => d,
        Err(e) if e.to_string().starts_with("nothing to report") => {
            eprintln!("bedrock-meter: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e),
    };
    let mut org = OrgReport::build(
        &day.rows,
        Some(day.day),
        core.prices.as_of,
        keys,
        0,
        Some(&day.members),
    );
    org.bad_rows = day.bad_lines;
    org.foreign_rows = day.foreign_rows;
    org.unreadable_objects = day.unreadable;
    let prev_rows: Vec<PricedRow> = day.prev_rows.iter().map(|r| r.row.clone()).collect();
    let prev = Report::build(&prev_rows, Some(day.day.pred()), core.prices.as_of, keys, 0);
    print!(
        "{}",
        org_output(a, &org, &day.rows, Some(&prev), keys, Some(day.day))?
    );
    Ok(ExitCode::SUCCESS)
}

/// The organisation report in `a.format` (one team's view with `--team`).
fn org_output(
    a: &ReportArgs,
    org: &OrgReport,
    rows: &[AccountRow],
    prev: Option<&Report>,
    keys: &[String],
    date: Option<Date>,
) -> anyhow::Result<String> {
    let view = match &a.team {
        None => org.clone(),
        Some(team) => {
            if !org.report.by_team.iter().any(|(t, _)| t == team) {
                let teams: Vec<&str> = org.report.by_team.iter().map(|(t, _)| t.as_str()).collect();
                anyhow::bail!(
                    "--team {team}: no such team in this report (teams: {})",
                    teams.join(", ")
                );
            }
            let mut v = org.for_team(team, rows, keys);
            v.report.malformed_records = org.report.malformed_records;
            v.report.unreadable_files = org.report.unreadable_files;
            v.bad_rows = org.bad_rows;
            v.foreign_rows = org.foreign_rows;
            v.unreadable_objects = org.unreadable_objects;
            v
        }
    };
    Ok(match a.format {
        ReportFormat::Table => view.to_table_top((!a.all).then_some(a.top)),
        ReportFormat::Json => view.to_json() + "\n",
        ReportFormat::Csv => view.to_csv(),
        // The organisation's page (as the organisation rollup writes it): no per-hour chart (the
        // organisation's figures are per day) and no incidents (those are in the live alerts).
        ReportFormat::Html => view.to_html(
            a.team
                .as_deref()
                .map_or(bedrock_meter_core::daily::email::Audience::Summary, |t| {
                    bedrock_meter_core::daily::email::Audience::Team(t)
                }),
            None,
            None,
        ),
        ReportFormat::Email => {
            let Some(date) = date else {
                anyhow::bail!("--format email is one day's email: give --date");
            };
            let mut notes = Vec::new();
            if let Some(l) = org.skipped_line() {
                notes.push(l);
            }
            let e = org_emails(org, rows, prev, date, keys, &notes)
                .into_iter()
                .find(|e| e.team.as_deref() == a.team.as_deref())
                .expect("the team was checked and the summary is always there");
            format!("Subject: {}\n\n{}", e.email.subject, e.email.body)
        }
    })
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

//! The organisation view (issue 24), pure: the report over the rows of several accounts (from log files
//! of several accounts, or from the fan-in files of the home account) with the per-account breakdown,
//! the members that did not report, and the per-team organisation emails.
//!
//! The organisation figures are [`Report::build`] over every account's priced rows — the same code as
//! one account's report — so they equal the sum of the per-account reports to the cent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::daily::daily_email::DayEmail;
use crate::daily::email::{render_with, section, Audience, PreviousDay};
use crate::daily::report::{cost_cell, priced_cost, Group, Line, Report, SECTION_NAME_MAX};
use crate::daily::report_html::{
    self, cost_bar, esc, exact, money_html, Hourly, IncidentSpan, Page,
};
use crate::daily::rollup::PricedRow;
use crate::pricing::money::Money;
use crate::text::{clean_line, count, cut, thousands};
use crate::time::Date;

/// SNS allows 256 KiB per message; as the daily emails.
const BODY_BUDGET: usize = 262_144 - 4_096;
/// Members that reported on any of this many days before are expected.
pub const EXPECTED_DAYS: i64 = 7;
/// How many missing accounts a line names before "… and N more".
const MISSING_NAMED: usize = 20;

/// One priced row and the account it was counted in.
#[derive(Clone, Debug)]
pub struct AccountRow {
    pub account: String,
    pub row: PricedRow,
}

/// Which members (account × Region stacks) reported for the day and which were expected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members {
    /// (account, Region) whose object for the day exists (even with no rows: nobody called Bedrock).
    pub reported: BTreeSet<(String, String)>,
    /// (account, Region) expected: those that reported on any of the previous 7 days.
    pub expected: BTreeSet<(String, String)>,
    /// Accounts expected in at least one Region (a given list).
    pub expected_accounts: BTreeSet<String>,
}

/// An account with members that did not report: the Regions that reported before and not today
/// (empty: the account was expected by the given list and reported in no Region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingAccount {
    pub account: String,
    pub regions: Vec<String>,
}

impl Members {
    /// The members of `day` from the fan-in object keys (`fanin::object_key`) found for `day` and the
    /// 7 days before: reported = objects of `day`; expected = (account, Region) with an object on any
    /// of the previous 7 days, plus `listed` accounts. Keys that are not fan-in keys are ignored.
    pub fn from_keys<'k>(
        keys: impl IntoIterator<Item = &'k str>,
        day: Date,
        listed: impl IntoIterator<Item = String>,
    ) -> Members {
        let first = day.days_since_epoch() - EXPECTED_DAYS;
        let mut m = Members {
            expected_accounts: listed.into_iter().collect(),
            ..Default::default()
        };
        for k in keys {
            let Ok((d, account, region)) = crate::daily::fanin::parse_key(k) else {
                continue;
            };
            if d == day {
                m.reported.insert((account, region));
            } else if (first..day.days_since_epoch()).contains(&d.days_since_epoch()) {
                m.expected.insert((account, region));
            }
        }
        m
    }

    /// Every account known: reported, expected by Region, or listed.
    pub fn accounts(&self) -> BTreeSet<&str> {
        self.reported
            .iter()
            .chain(&self.expected)
            .map(|(a, _)| a.as_str())
            .chain(self.expected_accounts.iter().map(String::as_str))
            .collect()
    }

    /// The accounts with a member missing, in account order.
    pub fn missing(&self) -> Vec<MissingAccount> {
        let reported_accounts: BTreeSet<&str> =
            self.reported.iter().map(|(a, _)| a.as_str()).collect();
        let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (a, r) in &self.expected {
            if !self.reported.contains(&(a.clone(), r.clone())) {
                out.entry(a).or_default().push(r.clone());
            }
        }
        for a in &self.expected_accounts {
            if !reported_accounts.contains(a.as_str()) {
                out.entry(a).or_default();
            }
        }
        out.into_iter()
            .map(|(a, regions)| MissingAccount {
                account: a.to_string(),
                regions,
            })
            .collect()
    }
}

/// The organisation report: the whole report plus the per-account breakdown and the missing members.
#[derive(Clone, Debug)]
pub struct OrgReport {
    pub report: Report,
    /// Per account, costliest first.
    pub by_account: Vec<(String, Group)>,
    /// Per account and source Region.
    pub by_account_region: Vec<((String, String), Group)>,
    /// Per team and account (team, account).
    pub by_team_account: Vec<((String, String), Group)>,
    /// The caller × team × app × model (× metadata) lines of each account (the CSV rows).
    pub account_detail: Vec<(String, Line)>,
    /// How many accounts were expected (0: not known, e.g. a report over log files).
    pub accounts_expected: usize,
    /// The accounts that reported the day and their Regions, in account order (empty when who
    /// reported is not known, and in one team's view).
    pub reported: Vec<(String, Vec<String>)>,
    pub missing: Vec<MissingAccount>,
    /// Fan-in lines that were not rows, and rows of another account than their object's: skipped.
    pub bad_rows: u64,
    pub foreign_rows: u64,
    /// Fan-in objects that could not be read at all: skipped (and named by the reader).
    pub unreadable_objects: u64,
}

use super::report::sorted;

impl OrgReport {
    /// The report over every account's rows; `members` = None when who should have reported is not
    /// known (log files).
    pub fn build(
        rows: &[AccountRow],
        date: Option<Date>,
        prices_as_of: Date,
        metadata_keys: &[String],
        malformed_records: u64,
        members: Option<&Members>,
    ) -> OrgReport {
        let all: Vec<PricedRow> = rows.iter().map(|r| r.row.clone()).collect();
        let report = Report::build(&all, date, prices_as_of, metadata_keys, malformed_records);
        let mut acct: BTreeMap<String, Group> = BTreeMap::new();
        let mut acct_region: BTreeMap<(String, String), Group> = BTreeMap::new();
        let mut team_acct: BTreeMap<(String, String), Group> = BTreeMap::new();
        let mut per_account: BTreeMap<&str, Vec<PricedRow>> = BTreeMap::new();
        for r in rows {
            acct.entry(r.account.clone()).or_default().add(&r.row);
            acct_region
                .entry((r.account.clone(), r.row.key.region.clone()))
                .or_default()
                .add(&r.row);
            team_acct
                .entry((r.row.resolution.team.clone(), r.account.clone()))
                .or_default()
                .add(&r.row);
            per_account
                .entry(r.account.as_str())
                .or_default()
                .push(r.row.clone());
        }
        let mut account_detail = Vec::new();
        for (a, rows) in per_account {
            let one = Report::build(&rows, date, prices_as_of, metadata_keys, 0);
            account_detail.extend(one.detail.into_iter().map(|l| (a.to_string(), l)));
        }
        let (accounts_expected, missing) = match members {
            Some(m) => (m.accounts().len(), m.missing()),
            None => (0, Vec::new()),
        };
        let mut reported: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (a, r) in members.into_iter().flat_map(|m| &m.reported) {
            reported.entry(a.clone()).or_default().push(r.clone());
        }
        OrgReport {
            report,
            by_account: sorted(acct),
            by_account_region: sorted(acct_region),
            by_team_account: sorted(team_acct),
            account_detail,
            accounts_expected,
            reported: reported.into_iter().collect(),
            missing,
            bad_rows: 0,
            foreign_rows: 0,
            unreadable_objects: 0,
        }
    }

    /// One team's part (its rows in every account and Region), with the organisation's missing
    /// members (a missing account may hold the team's spend).
    pub fn for_team(&self, team: &str, rows: &[AccountRow], metadata_keys: &[String]) -> OrgReport {
        let mine: Vec<AccountRow> = rows
            .iter()
            .filter(|r| r.row.resolution.team == team)
            .cloned()
            .collect();
        let mut o = OrgReport::build(
            &mine,
            self.report.date,
            self.report.prices_as_of,
            metadata_keys,
            0,
            None,
        );
        o.accounts_expected = self.accounts_expected;
        o.missing = self.missing.clone();
        o
    }

    /// `1 of 4 accounts not reported yet` (whether or not any is missing).
    fn missing_head(&self) -> String {
        format!(
            "{} of {} not reported yet",
            thousands(self.missing.len() as u64),
            count(
                self.accounts_expected.max(self.missing.len()) as u64,
                "account"
            )
        )
    }

    /// `1 of 4 accounts not reported yet: 444455556666 (eu-west-1)`; `None` when none is missing.
    pub fn missing_line(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .missing
            .iter()
            .take(MISSING_NAMED)
            .map(|m| {
                if m.regions.is_empty() {
                    format!("{} (no Region)", clean_line(&m.account))
                } else {
                    format!(
                        "{} ({})",
                        clean_line(&m.account),
                        clean_line(&m.regions.join(", "))
                    )
                }
            })
            .collect();
        let more = match self.missing.len().saturating_sub(MISSING_NAMED) {
            0 => String::new(),
            n => format!(", … and {} more", thousands(n as u64)),
        };
        Some(format!(
            "{}: {}{more}",
            self.missing_head(),
            names.join(", ")
        ))
    }

    /// Fan-in input skipped, in words (`None` when nothing was).
    pub fn skipped_line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.unreadable_objects > 0 {
            parts.push(count(self.unreadable_objects, "unreadable fan-in file"));
        }
        if self.bad_rows > 0 {
            parts.push(count(self.bad_rows, "bad fan-in line"));
        }
        if self.foreign_rows > 0 {
            parts.push(count(
                self.foreign_rows,
                "row of another account or Region than its file",
            ));
        }
        (!parts.is_empty()).then(|| format!("Skipped: {}", parts.join(", ")))
    }

    /// The report's table, then by account, by account and Region, by team and account, and the
    /// missing members.
    pub fn to_table_top(&self, top: Option<usize>) -> String {
        let mut out = self.report.to_table_top(top);
        let sections: [(&str, Vec<(String, &Group)>); 3] = [
            (
                "account",
                self.by_account
                    .iter()
                    .map(|(a, g)| (a.clone(), g))
                    .collect(),
            ),
            (
                "account and Region",
                self.by_account_region
                    .iter()
                    .map(|((a, r), g)| (format!("{a} {}", if r.is_empty() { "-" } else { r }), g))
                    .collect(),
            ),
            (
                "team and account",
                self.by_team_account
                    .iter()
                    .map(|((t, a), g)| (format!("{t} / {a}"), g))
                    .collect(),
            ),
        ];
        for (title, groups) in sections {
            let _ = writeln!(out, "\nBy {title}:");
            let groups: Vec<(String, &Group)> = groups
                .into_iter()
                .map(|(k, g)| (cut(&clean_line(&k), SECTION_NAME_MAX), g))
                .collect();
            let width = groups
                .iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(0)
                .max(20);
            for (k, g) in groups {
                let _ = writeln!(
                    out,
                    "  {k:<width$}  {:>18}  {:>17}",
                    cost_cell(g),
                    count(g.requests, "request")
                );
            }
        }
        out.push('\n');
        if self.accounts_expected > 0 {
            let _ = writeln!(
                out,
                "Accounts: {} reported of {} expected",
                thousands(self.by_account.len() as u64),
                thousands(self.accounts_expected as u64)
            );
        }
        if let Some(l) = self.missing_line() {
            let _ = writeln!(out, "{l}");
        }
        if let Some(l) = self.skipped_line() {
            let _ = writeln!(out, "{l}");
        }
        out
    }

    /// The report's JSON contract with `by_account`, `by_account_region`, `by_team_account`,
    /// `accounts_expected`, `accounts_missing` and the fan-in skips added.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct G<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            team: Option<&'a str>,
            account: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            region: Option<&'a str>,
            requests: u64,
            errors: u64,
            input_tokens: u64,
            output_tokens: u64,
            cache_read_tokens: u64,
            cache_write_tokens: u64,
            cost_usd: Option<Box<RawValue>>,
            unpriced_requests: u64,
        }
        fn g<'a>(
            team: Option<&'a str>,
            account: &'a str,
            region: Option<&'a str>,
            grp: &Group,
        ) -> G<'a> {
            G {
                team,
                account,
                region,
                requests: grp.requests,
                errors: grp.errors,
                input_tokens: grp.input_tokens,
                output_tokens: grp.output_tokens,
                cache_read_tokens: grp.cache_read_tokens,
                cache_write_tokens: grp.cache_write_tokens,
                cost_usd: priced_cost(grp).map(|c| {
                    RawValue::from_string(c.to_decimal_string(9))
                        .expect("a decimal is a JSON number")
                }),
                unpriced_requests: grp.unpriced_requests,
            }
        }
        #[derive(Serialize)]
        struct M<'a> {
            account: &'a str,
            regions: &'a [String],
        }
        let extra: Vec<(&str, String)> = vec![
            (
                "by_account",
                pretty(
                    &self
                        .by_account
                        .iter()
                        .map(|(a, grp)| g(None, a, None, grp))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "by_account_region",
                pretty(
                    &self
                        .by_account_region
                        .iter()
                        .map(|((a, r), grp)| g(None, a, Some(r), grp))
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "by_team_account",
                pretty(
                    &self
                        .by_team_account
                        .iter()
                        .map(|((t, a), grp)| g(Some(t), a, None, grp))
                        .collect::<Vec<_>>(),
                ),
            ),
            ("accounts_expected", self.accounts_expected.to_string()),
            (
                "accounts_missing",
                pretty(
                    &self
                        .missing
                        .iter()
                        .map(|m| M {
                            account: &m.account,
                            regions: &m.regions,
                        })
                        .collect::<Vec<_>>(),
                ),
            ),
            ("fan_in_bad_lines", self.bad_rows.to_string()),
            ("fan_in_foreign_rows", self.foreign_rows.to_string()),
            (
                "fan_in_unreadable_files",
                self.unreadable_objects.to_string(),
            ),
        ];
        let base = self.report.to_json();
        let body = base
            .strip_suffix("\n}")
            .expect("the report's JSON is an object");
        let mut out = body.to_string();
        for (k, v) in extra {
            let _ = write!(out, ",\n  \"{k}\": {}", v.replace('\n', "\n  "));
        }
        out.push_str("\n}");
        out
    }

    /// `date,account,caller,team,app,model[,<metadata key>…],requests,…` — the report's CSV with the
    /// account after the date: one row per account × caller × team × app × model (× metadata values).
    pub fn to_csv(&self) -> String {
        let mut out = self.report.csv_head().replacen("date,", "date,account,", 1);
        out.push('\n');
        let date = self.report.date.map(|d| d.to_string()).unwrap_or_default();
        for (a, l) in &self.account_detail {
            self.report.csv_row(&mut out, &date, Some(a), l);
        }
        out
    }

    /// The email section after the totals: the missing members, then by account and Region (and for
    /// the summary, by team and account).
    fn email_section(&self, summary: bool, limit: usize) -> String {
        let mut out = String::new();
        out.push('\n');
        let _ = writeln!(
            out,
            "Accounts      {} with spend{}",
            thousands(self.by_account.len() as u64),
            if self.accounts_expected > 0 {
                format!(
                    " · {} expected to report",
                    thousands(self.accounts_expected as u64)
                )
            } else {
                String::new()
            }
        );
        match self.missing_line() {
            Some(l) => {
                let _ = writeln!(out, "NOT REPORTED  {l} — their spend is NOT in the totals");
            }
            None if self.accounts_expected > 0 => {
                let _ = writeln!(out, "Reported      every expected account");
            }
            None => {}
        }
        if let Some(l) = self.skipped_line() {
            let _ = writeln!(out, "              {l}");
        }
        let limit = limit.max(1);
        section(
            &mut out,
            "By account and Region",
            &self.by_account_region,
            limit.max(10),
            |((a, r), _)| format!("{a} {}", if r.is_empty() { "-" } else { r }),
            |(_, g)| g,
        );
        if summary {
            section(
                &mut out,
                "By team and account",
                &self.by_team_account,
                limit,
                |((t, a), _)| format!("{t} / {a}"),
                |(_, g)| g,
            );
        }
        out
    }
}

/// The organisation's HTML pages: the day page of [`report_html`] (same model, charts, escaping and
/// rules: unknown money never drawn as $0) with the organisation's parts after the call-outs — the
/// members that did not report, the fan-in input skipped, and the per-account breakdown.
impl OrgReport {
    /// The page of `audience`: one team's view ([`OrgReport::for_team`]: its spend in every account
    /// and Region) or the whole organisation's (the summary, which lists every account: with spend,
    /// reported without any, and not reported). `hourly` as [`Page::hourly`] (`None`: the
    /// organisation query sums the hours away, the page says there is no per-hour data).
    pub fn to_html(
        &self,
        audience: Audience<'_>,
        hourly: Option<&Hourly>,
        incidents: Option<&[IncidentSpan]>,
    ) -> String {
        let page = Page {
            report: &self.report,
            audience,
            hourly,
            incidents,
        };
        report_html::render_with(&page, ", all accounts", &|o| {
            self.html_sections(o, matches!(audience, Audience::Summary))
        })
    }

    fn html_sections(&self, o: &mut String, summary: bool) {
        // Who did not report: named, and never silently out of the totals.
        if !self.missing.is_empty() {
            let _ = writeln!(
                o,
                "<section class=\"bad callout\" id=\"not-reported\" data-missing-accounts=\"{}\" \
                 data-accounts-expected=\"{}\"><p><strong>{}</strong>: their spend is <strong>not</strong> \
                 in any total on this page.</p><ul class=\"missing\">",
                self.missing.len(),
                self.accounts_expected,
                esc(&self.missing_head())
            );
            for m in &self.missing {
                let _ = writeln!(
                    o,
                    "<li class=\"missing-account\" data-account=\"{}\" data-regions=\"{}\">{} ({})</li>",
                    esc(&m.account),
                    esc(&m.regions.join(" ")),
                    esc(&m.account),
                    if m.regions.is_empty() {
                        "no Region reported".to_string()
                    } else {
                        esc(&m.regions.join(", "))
                    }
                );
            }
            let _ = writeln!(o, "</ul></section>");
        } else if self.accounts_expected > 0 {
            let _ = writeln!(
                o,
                "<section class=\"callout\" id=\"not-reported\" data-missing-accounts=\"0\" \
                 data-accounts-expected=\"{0}\"><p>Every expected account reported ({0}).</p></section>",
                self.accounts_expected
            );
        }
        if let Some(l) = self.skipped_line() {
            let _ = writeln!(
                o,
                "<section class=\"bad callout\" id=\"fan-in-skipped\" data-bad-lines=\"{}\" \
                 data-foreign-rows=\"{}\" data-unreadable-objects=\"{}\"><p><strong>{}</strong> (what \
                 they held is not on this page).</p></section>",
                self.bad_rows,
                self.foreign_rows,
                self.unreadable_objects,
                esc(&l)
            );
        }
        self.accounts_section(o, summary);
    }

    /// The per-account table: account, Region(s), requests, tokens, cost, unpriced; a footer with the
    /// page's totals (the sum of the rows).
    fn accounts_section(&self, o: &mut String, summary: bool) {
        let t = &self.report.totals;
        let _ = writeln!(
            o,
            "<section id=\"accounts\" data-accounts=\"{}\"><h2>By account</h2><p class=\"muted\">{} with spend{}.</p>",
            self.by_account.len(),
            count(self.by_account.len() as u64, "account"),
            if self.accounts_expected > 0 {
                format!(
                    " · {} expected to report",
                    thousands(self.accounts_expected as u64)
                )
            } else {
                String::new()
            }
        );
        let max = self
            .by_account
            .iter()
            .filter_map(|(_, g)| priced_cost(g))
            .map(Money::as_f64)
            .fold(0.0, f64::max);
        let _ = writeln!(
            o,
            "<table class=\"cards accounts\"><thead><tr><th>account</th><th>Region(s)</th><th class=\"bar\"></th>\
             <th style=\"text-align:right\">requests</th><th style=\"text-align:right\">tokens</th>\
             <th style=\"text-align:right\">cost</th><th style=\"text-align:right\">unpriced</th></tr></thead><tbody>"
        );
        let missing_regions = |account: &str| -> Vec<String> {
            self.missing
                .iter()
                .find(|m| m.account == account)
                .map(|m| m.regions.clone())
                .unwrap_or_default()
        };
        for (account, g) in &self.by_account {
            let regions: Vec<(&str, &Group)> = self
                .by_account_region
                .iter()
                .filter(|((a, _), _)| a == account)
                .map(|((_, r), g)| (r.as_str(), g))
                .collect();
            let mut cell: Vec<String> = regions
                .iter()
                .map(|(r, rg)| {
                    format!(
                        "<span class=\"region\" data-region=\"{}\" data-cost-usd=\"{}\" data-requests=\"{}\" \
                         title=\"{} in {}\">{}</span>",
                        esc(r),
                        priced_cost(rg).map_or_else(|| "unpriced".into(), exact),
                        rg.requests,
                        esc(&cost_cell(rg)),
                        esc(&count(rg.requests, "request")),
                        if r.is_empty() { "-".to_string() } else { esc(r) }
                    )
                })
                .collect();
            let late = missing_regions(account);
            if !late.is_empty() {
                cell.push(format!(
                    "<span class=\"unpriced\">{} not reported</span>",
                    esc(&late.join(", "))
                ));
            }
            account_row(
                o,
                account,
                &regions.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
                &cell.join(", "),
                g,
                max,
            );
        }
        if summary {
            // Every account: those that reported without spend (a true zero), then those that did not.
            let with_spend = |a: &str| self.by_account.iter().any(|(x, _)| x == a);
            for (account, regions) in self.reported.iter().filter(|(a, _)| !with_spend(a)) {
                let rs: Vec<&str> = regions.iter().map(String::as_str).collect();
                account_row(
                    o,
                    account,
                    &rs,
                    &format!("{} (no calls)", esc(&regions.join(", "))),
                    &Group::default(),
                    max,
                );
            }
            let reported = |a: &str| self.reported.iter().any(|(x, _)| x == a);
            for m in self
                .missing
                .iter()
                .filter(|m| !with_spend(&m.account) && !reported(&m.account))
            {
                let _ = writeln!(
                    o,
                    "<tr class=\"account-row not-reported\" data-account=\"{}\" data-regions=\"{}\" data-reported=\"false\">\
                     <td class=\"name\">{}</td><td data-label=\"Region(s)\">{}</td><td class=\"bar\"></td>\
                     <td class=\"num unpriced\" colspan=\"4\">not reported: not in the totals</td></tr>",
                    esc(&m.account),
                    esc(&m.regions.join(" ")),
                    esc(&m.account),
                    if m.regions.is_empty() {
                        "-".to_string()
                    } else {
                        esc(&m.regions.join(", "))
                    }
                );
            }
        }
        let _ = writeln!(
            o,
            "</tbody><tfoot><tr class=\"account-total\" data-requests=\"{}\" data-tokens=\"{}\" data-cost-usd=\"{}\" \
             data-unpriced-requests=\"{}\"><td class=\"name\"><strong>total</strong></td><td></td><td class=\"bar\"></td>\
             <td class=\"num\" data-label=\"requests\">{}</td><td class=\"num\" data-label=\"tokens\">{}</td>\
             <td class=\"num\" data-label=\"cost\"><strong>{}</strong></td><td class=\"num\" data-label=\"unpriced\">{}</td></tr></tfoot></table></section>",
            t.requests,
            tokens(t),
            priced_cost(t).map_or_else(|| "unpriced".into(), exact),
            t.unpriced_requests,
            thousands(t.requests),
            thousands(tokens(t)),
            money_html(t),
            unpriced_cell(t)
        );
    }
}

/// Every token of a group (input, output, cache read, cache write).
fn tokens(g: &Group) -> u64 {
    g.input_tokens + g.output_tokens + g.cache_read_tokens + g.cache_write_tokens
}

fn unpriced_cell(g: &Group) -> String {
    if g.unpriced_requests == 0 {
        "—".into()
    } else {
        format!(
            "<span class=\"unpriced\">{}</span>",
            count(g.unpriced_requests, "request")
        )
    }
}

/// One row of the accounts table (an account that reported); `regions_html` is already escaped.
fn account_row(
    o: &mut String,
    account: &str,
    regions: &[&str],
    regions_html: &str,
    g: &Group,
    max: f64,
) {
    let cost = priced_cost(g);
    let _ = writeln!(
        o,
        "<tr class=\"account-row\" data-account=\"{}\" data-regions=\"{}\" data-reported=\"true\" \
         data-requests=\"{}\" data-tokens=\"{}\" data-cost-usd=\"{}\" data-unpriced-requests=\"{}\">\
         <td class=\"name\">{}</td><td data-label=\"Region(s)\">{regions_html}</td><td class=\"bar\">{}</td>\
         <td class=\"num\" data-label=\"requests\">{}</td>\
         <td class=\"num\" data-label=\"tokens\" title=\"in {} / out {} / cache read {} / cache write {}\">{}</td>\
         <td class=\"num\" data-label=\"cost\">{}</td><td class=\"num\" data-label=\"unpriced\">{}</td></tr>",
        esc(account),
        esc(&regions.join(" ")),
        g.requests,
        tokens(g),
        cost.map_or_else(|| "unpriced".into(), exact),
        g.unpriced_requests,
        esc(account),
        cost_bar(cost, max),
        thousands(g.requests),
        thousands(g.input_tokens),
        thousands(g.output_tokens),
        thousands(g.cache_read_tokens),
        thousands(g.cache_write_tokens),
        thousands(tokens(g)),
        money_html(g),
        unpriced_cell(g)
    );
}

fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("serialises")
}

/// The organisation's emails of `date`: one per team (all its accounts and Regions, the per-account
/// breakdown, the missing members named), then the organisation summary. `prev` is the previous
/// day's organisation report (for the day-over-day change), `None` when not known; build it from the
/// accounts that reported today only, so a missing member does not read as a drop in spend.
pub fn org_emails(
    org: &OrgReport,
    rows: &[AccountRow],
    prev: Option<&Report>,
    date: Date,
    metadata_keys: &[String],
    notes: &[String],
) -> Vec<DayEmail> {
    let prev_date = date.pred();
    let prev_team = |team: &str| -> Option<PreviousDay> {
        let p = prev?;
        Some(PreviousDay::of(
            prev_date,
            p.by_team
                .iter()
                .find(|(t, _)| t == team)
                .map(|(_, g)| g)
                .unwrap_or(&Group::default()),
        ))
    };
    let mut out = Vec::with_capacity(org.report.by_team.len() + 1);
    for (team, _) in &org.report.by_team {
        let view = org.for_team(team, rows, metadata_keys);
        let previous = prev_team(team);
        let mut email = render_with(
            &view.report,
            date,
            Audience::Team(team),
            previous.as_ref(),
            &[],
            &|limit| view.email_section(false, limit),
            BODY_BUDGET,
        );
        email.subject = org_subject(&email.subject, &view);
        out.push(DayEmail {
            team: Some(team.clone()),
            email,
        });
    }
    let previous = prev.map(|p| PreviousDay::of(prev_date, &p.totals));
    let mut email = render_with(
        &org.report,
        date,
        Audience::Summary,
        previous.as_ref(),
        notes,
        &|limit| org.email_section(true, limit),
        BODY_BUDGET,
    );
    email.subject = org_subject(&email.subject, org);
    out.push(DayEmail { team: None, email });
    out
}

/// The subject with the organisation's reach: `… — 3 accounts` or `… — 3 accounts, 1 not reported`.
fn org_subject(subject: &str, org: &OrgReport) -> String {
    let mut s = format!(
        "{subject} — {}",
        count(org.by_account.len() as u64, "account")
    );
    if !org.missing.is_empty() {
        let _ = write!(s, ", {} not reported", thousands(org.missing.len() as u64));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::NoProfiles;
    use crate::attribution::resolution::AttributionConfig;
    use crate::daily::rollup::{price_rows, Rollup, UsageKey};
    use crate::pricing::money::Money;
    use crate::pricing::prices::PriceTable;
    use crate::records::record::{Tokens, Usage};

    fn d() -> Date {
        Date::parse("2026-11-25").unwrap()
    }

    /// Rows of three accounts: the same caller and model in each, different amounts.
    fn rows() -> Vec<AccountRow> {
        let prices = PriceTable::embedded();
        let mut out = Vec::new();
        for (i, account) in ["111111111111", "222222222222", "333333333333"]
            .iter()
            .enumerate()
        {
            let mut r = Rollup::default();
            for (model, region) in [
                ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1"),
                ("amazon.nova-lite-v1:0", "eu-west-1"),
                ("acme.unknown-v1:0", "us-east-1"),
            ] {
                r.add_row(
                    UsageKey {
                        model_id: model.into(),
                        region: region.into(),
                        caller: format!("arn:aws:iam::{account}:user/u"),
                        metadata: vec![],
                        prompt_band: 0,
                        tier: "default".into(),
                    },
                    &Usage {
                        requests: 3 + i as u64,
                        errors: 1,
                        tokens: Tokens {
                            input: 1_000_003 * (i as u64 + 1),
                            output: 70_001,
                            ..Default::default()
                        },
                    },
                );
            }
            for row in price_rows(&r.rows, &NoProfiles, &prices, &AttributionConfig::default()) {
                out.push(AccountRow {
                    account: account.to_string(),
                    row,
                });
            }
        }
        out
    }

    fn members() -> Members {
        let m = |a: &str, r: &str| (a.to_string(), r.to_string());
        Members {
            reported: [
                m("111111111111", "us-east-1"),
                m("222222222222", "us-east-1"),
                m("333333333333", "us-east-1"),
            ]
            .into(),
            expected: [
                m("111111111111", "us-east-1"),
                m("333333333333", "eu-west-1"),
                m("444444444444", "us-east-1"),
            ]
            .into(),
            expected_accounts: ["555555555555".to_string()].into(),
        }
    }

    #[test]
    fn organisation_equals_the_sum_of_its_accounts() {
        let prices = PriceTable::embedded();
        let rows = rows();
        let org = OrgReport::build(&rows, Some(d()), prices.as_of, &[], 0, Some(&members()));
        let mut sum = Money::ZERO;
        let mut requests = 0;
        for (account, g) in &org.by_account {
            let mine: Vec<PricedRow> = rows
                .iter()
                .filter(|r| &r.account == account)
                .map(|r| r.row.clone())
                .collect();
            let one = Report::build(&mine, Some(d()), prices.as_of, &[], 0);
            assert_eq!(one.totals, *g, "{account}");
            sum += one.totals.cost;
            requests += one.totals.requests;
        }
        assert_eq!(org.by_account.len(), 3);
        assert!(sum > Money::ZERO);
        assert_eq!(org.report.totals.cost, sum);
        assert_eq!(org.report.totals.requests, requests);
        // Costliest account first (account 3 has the most tokens).
        assert_eq!(org.by_account[0].0, "333333333333");
        // Team × account and account × Region partition the total.
        let by_ta: Money = org.by_team_account.iter().map(|(_, g)| g.cost).sum();
        let by_ar: Money = org.by_account_region.iter().map(|(_, g)| g.cost).sum();
        assert_eq!((by_ta, by_ar), (sum, sum));
        assert_eq!(org.by_account_region.len(), 6);
        // CSV rows per account sum to the total too, and carry the account.
        let csv = org.to_csv();
        assert!(csv.starts_with("date,account,caller,team,app,model,requests"));
        assert_eq!(csv.lines().count(), 1 + org.account_detail.len());
        assert!(csv.lines().skip(1).all(|l| l.starts_with("2026-11-25,")));
        // JSON: the report's contract plus the breakdown, valid.
        let j: serde_json::Value = serde_json::from_str(&org.to_json()).unwrap();
        assert_eq!(j["by_account"].as_array().unwrap().len(), 3);
        assert_eq!(j["by_account"][0]["account"], "333333333333");
        assert_eq!(j["accounts_expected"], 5);
        assert_eq!(j["accounts_missing"].as_array().unwrap().len(), 3);
        assert_eq!(j["totals"]["requests"].as_u64(), Some(requests));
    }

    #[test]
    fn members_from_keys_expect_the_previous_seven_days() {
        let day = d();
        let key = |d: &str, a: &str, r: &str| {
            crate::daily::fanin::object_key(Date::parse(d).unwrap(), a, r).unwrap()
        };
        let keys = [
            key("2026-11-25", "111111111111", "us-east-1"),
            key("2026-11-24", "111111111111", "eu-west-1"), // yesterday: expected, missing
            key("2026-11-18", "222222222222", "us-east-1"), // 7 days before: expected, missing
            key("2026-11-17", "333333333333", "us-east-1"), // 8 days before: not expected
            key("2026-11-26", "444444444444", "us-east-1"), // the day after: not expected
            "fanin/day=2026-11-24/account=1/region=us-east-1/rows.json.gz".to_string(),
        ];
        let m = Members::from_keys(keys.iter().map(String::as_str), day, []);
        let missing: Vec<(String, Vec<String>)> = m
            .missing()
            .into_iter()
            .map(|x| (x.account, x.regions))
            .collect();
        assert_eq!(
            missing,
            vec![
                ("111111111111".to_string(), vec!["eu-west-1".to_string()]),
                ("222222222222".to_string(), vec!["us-east-1".to_string()]),
            ]
        );
        assert_eq!(m.accounts().len(), 2);
        let m = Members::from_keys(
            keys.iter().map(String::as_str),
            day,
            ["999999999999".to_string()],
        );
        assert_eq!(m.missing().len(), 3);
    }

    #[test]
    fn missing_members_are_named() {
        let m = members();
        let missing = m.missing();
        assert_eq!(
            missing,
            vec![
                MissingAccount {
                    account: "333333333333".into(),
                    regions: vec!["eu-west-1".into()]
                },
                MissingAccount {
                    account: "444444444444".into(),
                    regions: vec!["us-east-1".into()]
                },
                MissingAccount {
                    account: "555555555555".into(),
                    regions: vec![]
                },
            ]
        );
        let prices = PriceTable::embedded();
        let org = OrgReport::build(&rows(), Some(d()), prices.as_of, &[], 0, Some(&m));
        let line = org.missing_line().unwrap();
        assert_eq!(
            line,
            "3 of 5 accounts not reported yet: 333333333333 (eu-west-1), 444444444444 (us-east-1), 555555555555 (no Region)"
        );
        assert!(org.to_table_top(None).contains(&line));
        // Everyone reported: no line.
        let all = Members {
            reported: m.expected.clone(),
            expected: m.expected.clone(),
            expected_accounts: Default::default(),
        };
        let org = OrgReport::build(&rows(), Some(d()), prices.as_of, &[], 0, Some(&all));
        assert_eq!(org.missing_line(), None);
        // Many missing: named up to a limit.
        let many = Members {
            expected_accounts: (0..30).map(|i| format!("{:012}", i)).collect(),
            ..Default::default()
        };
        let org = OrgReport::build(&[], Some(d()), prices.as_of, &[], 0, Some(&many));
        let l = org.missing_line().unwrap();
        assert!(
            l.starts_with("30 of 30 accounts not reported yet: 000000000000"),
            "{l}"
        );
        assert!(l.ends_with(", … and 10 more"), "{l}");
    }

    #[test]
    fn one_email_per_team_across_accounts_with_the_missing_named() {
        let prices = PriceTable::embedded();
        let rows = rows();
        let org = OrgReport::build(&rows, Some(d()), prices.as_of, &[], 0, Some(&members()));
        let emails = org_emails(&org, &rows, None, d(), &[], &[]);
        assert_eq!(emails.len(), org.report.by_team.len() + 1);
        let team = &emails[0];
        assert_eq!(team.team.as_deref(), Some("unattributed"));
        let body = &team.email.body;
        for a in ["111111111111", "222222222222", "333333333333"] {
            assert!(body.contains(&format!("{a} us-east-1")), "{body}");
            assert!(body.contains(&format!("{a} eu-west-1")), "{body}");
        }
        assert!(
            body.contains("NOT REPORTED  3 of 5 accounts not reported yet"),
            "{body}"
        );
        assert!(team.email.subject.ends_with("— 3 accounts, 3 not reported"));
        // The team's total is the sum over its accounts.
        let team_total: Money = org
            .by_team_account
            .iter()
            .filter(|((t, _), _)| t == "unattributed")
            .map(|(_, g)| g.cost)
            .sum();
        assert!(team.email.subject.contains(&team_total.to_string()));
        let summary = emails.last().unwrap();
        assert_eq!(summary.team, None);
        assert!(summary.email.body.contains("By team and account"));
        assert!(!body.contains("By team and account"));
    }

    // ---- The organisation's pages ----

    fn parse(html: &str) -> roxmltree::Document<'_> {
        crate::daily::report_html::parse_page(html)
    }

    /// The priced money of a `data-cost-usd` value: none for `unpriced` (no part of it has a price;
    /// never drawn as $0).
    fn money(s: &str) -> Money {
        if s == "unpriced" {
            return Money::ZERO;
        }
        Money::from_usd_text(s).unwrap_or_else(|e| panic!("not money: {s}: {e:?}"))
    }

    fn rows_of<'d>(doc: &'d roxmltree::Document<'d>, class: &str) -> Vec<roxmltree::Node<'d, 'd>> {
        doc.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split(' ').any(|x| x == class))
            })
            .collect()
    }

    fn num(n: &roxmltree::Node<'_, '_>, attr: &str) -> u64 {
        n.attribute(attr).unwrap().parse().unwrap()
    }

    /// Two teams in three accounts (a tagged app in two of them, direct calls in all three).
    fn team_rows(team: &str, app: &str, accounts: &[&str]) -> Vec<AccountRow> {
        use crate::attribution::profiles::{Profile, ProfileMap};
        let prices = PriceTable::embedded();
        let mut out = rows();
        for (i, account) in accounts.iter().enumerate() {
            let arn = format!("arn:aws:bedrock:us-east-1:1:application-inference-profile/p{i}");
            let profiles = ProfileMap::new([Profile {
                arn: arn.clone(),
                id: format!("p{i}"),
                name: app.into(),
                model_arns: vec![
                    "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
                ],
                tags: [("app".into(), app.into()), ("team".into(), team.into())].into(),
            }]);
            let mut r = Rollup::default();
            r.add_row(
                UsageKey {
                    model_id: arn,
                    region: "us-east-1".into(),
                    caller: format!("arn:aws:iam::{account}:user/\"><script>x</script>"),
                    metadata: vec![],
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests: 7,
                    errors: 0,
                    tokens: Tokens {
                        input: 3_000_017 * (i as u64 + 1),
                        output: 10_001,
                        cache_read: 20_000,
                        ..Default::default()
                    },
                },
            );
            for row in price_rows(&r.rows, &profiles, &prices, &AttributionConfig::default()) {
                out.push(AccountRow {
                    account: account.to_string(),
                    row,
                });
            }
        }
        out
    }

    /// Checks one page's accounts table against its report: every reported row's figures sum to the
    /// footer and to the report's totals, each row's Regions sum to the row, and each row is the
    /// account's figures in `by_account`. Returns the accounts of the rows, in order.
    fn check_accounts_table(html: &str, view: &OrgReport) -> Vec<String> {
        let doc = parse(html);
        let rows: Vec<_> = rows_of(&doc, "account-row")
            .into_iter()
            .filter(|r| r.attribute("data-reported") == Some("true"))
            .collect();
        let total = rows_of(&doc, "account-total");
        assert_eq!(total.len(), 1);
        let total = total[0];
        let (mut cost, mut requests, mut tokens_sum, mut unpriced) = (Money::ZERO, 0, 0, 0);
        for r in &rows {
            let account = r.attribute("data-account").unwrap();
            let row_cost = money(r.attribute("data-cost-usd").unwrap());
            if r.attribute("data-cost-usd") == Some("unpriced") {
                assert!(num(r, "data-unpriced-requests") > 0, "{account}");
            }
            cost += row_cost;
            requests += num(r, "data-requests");
            tokens_sum += num(r, "data-tokens");
            unpriced += num(r, "data-unpriced-requests");
            if let Some((_, g)) = view.by_account.iter().find(|(a, _)| a == account) {
                assert_eq!(row_cost, g.cost, "{account}");
                assert_eq!(num(r, "data-requests"), g.requests, "{account}");
                assert_eq!(num(r, "data-tokens"), tokens(g), "{account}");
            } else {
                assert_eq!(
                    num(r, "data-requests"),
                    0,
                    "{account}: no spend, no requests"
                );
            }
            // The Regions of the row add up to it.
            let regions = rows_of(&doc, "region")
                .into_iter()
                .filter(|s| s.ancestors().any(|a| a == *r))
                .map(|s| money(s.attribute("data-cost-usd").unwrap()))
                .fold(Money::ZERO, |a, b| a + b);
            if num(r, "data-requests") > 0 {
                assert_eq!(regions, row_cost, "{account}'s Regions");
            }
        }
        let t = &view.report.totals;
        assert_eq!(money(total.attribute("data-cost-usd").unwrap()), t.cost);
        assert_eq!(
            (cost, requests, unpriced),
            (t.cost, t.requests, t.unpriced_requests)
        );
        assert_eq!(tokens_sum, tokens(t));
        assert_eq!(num(&total, "data-requests"), t.requests);
        rows.iter()
            .map(|r| r.attribute("data-account").unwrap().to_string())
            .collect()
    }

    #[test]
    fn org_pages_break_down_by_account_and_their_rows_sum_to_the_totals() {
        let prices = PriceTable::embedded();
        let rows = team_rows("search", "finder", &["111111111111", "333333333333"]);
        let org = OrgReport::build(&rows, Some(d()), prices.as_of, &[], 0, Some(&members()));
        assert_eq!(org.report.by_team.len(), 2);
        // The summary: every account with spend, the organisation's totals.
        let html = org.to_html(Audience::Summary, None, None);
        let accounts = check_accounts_table(&html, &org);
        assert_eq!(
            accounts,
            org.by_account
                .iter()
                .map(|(a, _)| a.clone())
                .collect::<Vec<_>>()
        );
        assert!(html.contains("— all teams, all accounts</h1>"));
        // Each team's page: only its accounts, summing to the team's total in the organisation.
        for (team, g) in &org.report.by_team {
            let view = org.for_team(team, &rows, &[]);
            assert_eq!(view.report.totals, *g, "{team}");
            let html = view.to_html(Audience::Team(team), None, None);
            let accounts = check_accounts_table(&html, &view);
            let want: BTreeSet<&str> = org
                .by_team_account
                .iter()
                .filter(|((t, _), _)| t == team)
                .map(|((_, a), _)| a.as_str())
                .collect();
            assert_eq!(
                accounts.iter().map(String::as_str).collect::<BTreeSet<_>>(),
                want,
                "{team}"
            );
            // Summary-only rows (accounts without the team's spend) are not on a team's page.
            assert!(!html.contains("data-reported=\"false\""), "{team}");
        }
        let search = org.for_team("search", &rows, &[]);
        assert_eq!(search.by_account.len(), 2);
    }

    #[test]
    fn org_pages_name_the_missing_members_and_list_every_account() {
        let prices = PriceTable::embedded();
        let rows = rows();
        let mut m = members();
        // Reported, without a call: a true zero on the summary page.
        m.reported
            .insert(("666666666666".into(), "eu-west-1".into()));
        let org = OrgReport::build(&rows, Some(d()), prices.as_of, &[], 0, Some(&m));
        let html = org.to_html(Audience::Summary, None, None);
        check_accounts_table(&html, &org);
        let doc = parse(&html);
        let callout = doc
            .descendants()
            .find(|n| n.attribute("id") == Some("not-reported"))
            .expect("the not-reported call-out");
        assert_eq!(callout.attribute("data-missing-accounts"), Some("3"));
        assert_eq!(callout.attribute("data-accounts-expected"), Some("6"));
        let text: String = callout
            .descendants()
            .filter(|n| n.is_text())
            .map(|n| n.text().unwrap())
            .collect();
        assert!(text.contains("3 of 6 accounts not reported yet"), "{text}");
        let named: Vec<(&str, &str)> = rows_of(&doc, "missing-account")
            .iter()
            .map(|n| {
                (
                    n.attribute("data-account").unwrap(),
                    n.attribute("data-regions").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            named,
            [
                ("333333333333", "eu-west-1"),
                ("444444444444", "us-east-1"),
                ("555555555555", "")
            ]
        );
        // The table lists every account: three with spend (333333333333 also marked for its missing
        // Region), one reported without calls, two not reported.
        let table: Vec<(&str, &str)> = rows_of(&doc, "account-row")
            .iter()
            .map(|n| {
                (
                    n.attribute("data-account").unwrap(),
                    n.attribute("data-reported").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            table,
            [
                ("333333333333", "true"),
                ("222222222222", "true"),
                ("111111111111", "true"),
                ("666666666666", "true"),
                ("444444444444", "false"),
                ("555555555555", "false"),
            ]
        );
        let row_333 = rows_of(&doc, "account-row")[0];
        assert!(row_333
            .descendants()
            .any(|n| n.text() == Some("eu-west-1 not reported")));
        // A team's page names them too: a missing account may hold the team's spend.
        let team = org.for_team("unattributed", &rows, &[]);
        let page = team.to_html(Audience::Team("unattributed"), None, None);
        assert!(page.contains("data-missing-accounts=\"3\""));
        assert!(page.contains("444444444444 (us-east-1)"));
        // Everyone reported: said so, no call-out.
        let all = Members {
            reported: m.expected.clone(),
            expected: m.expected.clone(),
            expected_accounts: Default::default(),
        };
        let org = OrgReport::build(&rows, Some(d()), prices.as_of, &[], 0, Some(&all));
        let html = org.to_html(Audience::Summary, None, None);
        assert!(
            html.contains("Every expected account reported (3)."),
            "{html}"
        );
        assert!(!html.contains("class=\"missing-account\""));
        // Fan-in input skipped is on the page.
        let mut org = org;
        org.bad_rows = 2;
        let html = org.to_html(Audience::Summary, None, None);
        parse(&html);
        assert!(html.contains("data-bad-lines=\"2\""), "{html}");
        assert!(html.contains("Skipped: 2 bad fan-in lines"));
    }

    #[test]
    fn org_pages_escape_account_team_app_and_caller() {
        const EVIL_TEAM: &str = "<script>alert('t')</script>&";
        const EVIL_APP: &str = "\"><img src=x onerror=alert(1)>";
        const EVIL_ACCOUNT: &str = "12<b onmouseover=\"x\">&amp;";
        let prices = PriceTable::embedded();
        let rows = team_rows(EVIL_TEAM, EVIL_APP, &[EVIL_ACCOUNT, "222222222222"]);
        let m = Members {
            reported: [(EVIL_ACCOUNT.to_string(), "us-east-1".to_string())].into(),
            expected: [("</li><script>".to_string(), "<x>".to_string())].into(),
            expected_accounts: Default::default(),
        };
        let org = OrgReport::build(&rows, Some(d()), prices.as_of, &[], 0, Some(&m));
        let team = org.for_team(EVIL_TEAM, &rows, &[]);
        for html in [
            org.to_html(Audience::Summary, None, None),
            team.to_html(Audience::Team(EVIL_TEAM), None, None),
        ] {
            assert!(!html.contains("<script"), "markup from a value");
            assert!(!html.contains("<img"), "markup from a value");
            assert!(!html.contains("<b "), "markup from a value");
            let doc = parse(&html);
            for n in doc.descendants().filter(|n| n.is_element()) {
                assert!(
                    !matches!(n.tag_name().name(), "script" | "img" | "b" | "iframe"),
                    "{:?}",
                    n.tag_name()
                );
                for a in n.attributes() {
                    assert!(!a.name().starts_with("on"), "event handler {}", a.name());
                }
            }
            // The values survive as text and attributes.
            assert!(doc
                .descendants()
                .any(|n| n.attribute("data-account") == Some(EVIL_ACCOUNT)));
            assert!(doc
                .descendants()
                .any(|n| n.is_text() && n.text().unwrap().contains(EVIL_TEAM)));
            check_accounts_table(
                &html,
                if html.contains("all teams") {
                    &org
                } else {
                    &team
                },
            );
        }
        let html = org.to_html(Audience::Summary, None, None);
        let doc = parse(&html);
        assert!(doc
            .descendants()
            .any(|n| n.attribute("data-account") == Some("</li><script>")
                && n.attribute("data-regions") == Some("<x>")));
        assert!(doc
            .descendants()
            .any(|n| n.attribute("data-name") == Some(EVIL_APP)));
    }
}

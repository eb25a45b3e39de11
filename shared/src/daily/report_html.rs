//! The day report as one self-contained HTML page, pure: inline CSS, charts as inline SVG drawn here,
//! no script, no font, nothing loaded from the network. Rendered from the same [`Report`] model as the
//! CLI table, the JSON and the emails, plus what only a picture shows: spend per hour stacked by team
//! (by app in one team's view) with the day's runaway incidents on the same time axis.
//!
//! Rules the page keeps:
//! - Unknown money is never drawn as $0: a group with no price shows the word "unpriced" and no bar; an
//!   hour with unpriced requests gets a marker; the totals say how many requests are not in them.
//! - Every string from the logs or the profiles (tags, caller ARNs, model ids) is escaped.
//! - The document is well-formed XML (polyglot XHTML), so tests and tools can parse it; every figure a
//!   chart draws is also in a `data-*` attribute (money as exact decimals, 15 places).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::daily::email::Audience;
use crate::daily::report::{cost_cell, priced_cost, short_caller, skipped_summary, Group, Report};
use crate::daily::rollup::PricedRow;
use crate::live::detector::{Alert, AlertKind};
use crate::pricing::money::Money;
use crate::text::{count, thousands};
use crate::time::{Date, Timestamp};

const HOUR: i64 = 3600;
/// Series drawn by name in the hourly chart; the rest are summed into one "other" series.
const MAX_SERIES: usize = 7;
/// Rows in the top apps / top callers tables.
const TOP_ROWS: usize = 10;
/// The `data-series` of the summed rest (not a valid team or app label: it has parentheses and spaces).
const OTHER_SERIES: &str = "(all others)";

const PALETTE: [&str; MAX_SERIES] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f",
];
const OTHER_COLOR: &str = "#bab0ac";
const TOKEN_COLORS: [&str; 4] = ["#4e79a7", "#f28e2b", "#59a14f", "#edc948"];

/// Escapes text for HTML/XML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 (C0, and U+FFFE/U+FFFF, which are not
            // XML characters at all) or discouraged (DEL, C1); they carry nothing a reader needs.
            c if ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{fffe}' | '\u{ffff}') =>
            {
                out.push('\u{fffd}')
            }
            c => out.push(c),
        }
    }
    out
}

/// Exact money for `data-*` attributes (femto-dollar precision, so sums of bars are exact).
pub(crate) fn exact(m: Money) -> String {
    m.to_decimal_string(15)
}

/// Spend per hour: one slot per hour from `start`, each with its groups by series (team, or app in one
/// team's view).
#[derive(Clone, Debug)]
pub struct Hourly {
    pub start: Timestamp,
    pub slots: Vec<Vec<(String, Group)>>,
}

impl Hourly {
    /// Groups the rows of each hour (`hour start → rows`) by team, or by app for `team`. The axis is
    /// the report's day when there is one (24 slots), else from the first to the last hour seen.
    pub fn build(
        date: Option<Date>,
        rows_by_hour: &BTreeMap<i64, Vec<PricedRow>>,
        team: Option<&str>,
        prices_as_of: Date,
    ) -> Hourly {
        let (start, end) = match (date, rows_by_hour.keys().next(), rows_by_hour.keys().last()) {
            (Some(d), _, _) => (d.start().0, d.start().0 + 24 * HOUR),
            (None, Some(f), Some(l)) => (*f, *l + HOUR),
            _ => {
                return Hourly {
                    start: Timestamp(0),
                    slots: Vec::new(),
                }
            }
        };
        let n = ((end - start) / HOUR).max(0) as usize;
        let mut slots = vec![Vec::new(); n];
        for (hour, rows) in rows_by_hour {
            if *hour < start || *hour >= end {
                continue;
            }
            let r = Report::build(rows, date, prices_as_of, &[], 0);
            slots[((hour - start) / HOUR) as usize] = match team {
                None => r.by_team,
                Some(t) => r
                    .by_app
                    .into_iter()
                    .filter(|((_, tm), _)| tm == t)
                    .map(|((app, _), g)| (app, g))
                    .collect(),
            };
        }
        Hourly {
            start: Timestamp(start),
            slots,
        }
    }
}

/// One runaway incident of the day, from the detector's alerts (the same detector as `replay`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentSpan {
    pub app: String,
    pub team: String,
    /// `None`: all callers of the app together.
    pub caller: Option<String>,
    pub started: Timestamp,
    /// When the `resolved` alert fired; `None` while still open at the end of the data.
    pub resolved: Option<Timestamp>,
    /// The largest window spend alerted on, and its requests.
    pub peak_cost: Money,
    pub peak_requests: u64,
    pub peak_unpriced: u64,
    /// Alerts sent (runaway, escalations, resolved).
    pub alerts: u32,
}

/// Groups alerts into incidents (by scope and start), in order of start.
pub fn incidents(alerts: &[Alert]) -> Vec<IncidentSpan> {
    let mut by: BTreeMap<(Timestamp, String, String, Option<String>), IncidentSpan> =
        BTreeMap::new();
    for a in alerts {
        let key = (
            a.incident_started,
            a.app.clone(),
            a.team.clone(),
            a.caller.clone(),
        );
        let span = by.entry(key).or_insert_with(|| IncidentSpan {
            app: a.app.clone(),
            team: a.team.clone(),
            caller: a.caller.clone(),
            started: a.incident_started,
            resolved: None,
            peak_cost: Money::ZERO,
            peak_requests: 0,
            peak_unpriced: 0,
            alerts: 0,
        });
        span.alerts += 1;
        match a.kind {
            AlertKind::Resolved => span.resolved = Some(a.at),
            AlertKind::Runaway | AlertKind::Escalation => {
                if (a.window_cost, a.window_requests) > (span.peak_cost, span.peak_requests) {
                    span.peak_cost = a.window_cost;
                    span.peak_requests = a.window_requests;
                    span.peak_unpriced = a.window_unpriced;
                }
            }
        }
    }
    by.into_values().collect()
}

/// Everything the page shows.
pub struct Page<'a> {
    pub report: &'a Report,
    pub audience: Audience<'a>,
    /// `None` when the source has no per-hour data (the chart then says so).
    pub hourly: Option<&'a Hourly>,
    /// The incidents to show (the page keeps the audience's team and the ones that touch its axis);
    /// `None` when the source runs no detector (the daily Lambda's pages: the section says so).
    pub incidents: Option<&'a [IncidentSpan]>,
}

const CSS: &str = "
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1d232b; font: 16px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 16px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 0 0 10px; }
p, li, td, th { font-size: 15px; }
.sub { color: #4a5360; font-size: 15px; margin: 0 0 12px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 16px; margin: 14px 0; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; }
.kpi { flex: 1 1 200px; border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 12px; background: #fff; }
.kpi .v { font-size: 24px; font-weight: 650; }
.kpi .l { font-size: 14px; color: #4a5360; }
.warn { background: #fff6e5; border-color: #f0b44c; }
.bad { background: #fdecec; border-color: #e58a8a; }
.callout { padding: 10px 16px; }
.callout p { margin: 0; }
.scroll { overflow-x: auto; }
svg.hourly { width: 100%; min-width: 720px; height: auto; display: block; }
svg.hourly text { font-size: 12px; fill: #333b45; }
svg.hourly text.inc { fill: #a61b1b; font-weight: 600; }
svg.share { width: 100%; height: 28px; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 8px 0 0; padding: 0; list-style: none; }
.legend li { font-size: 14px; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: 14px; color: #4a5360; font-weight: 600; border-bottom: 1px solid #dde1e6; padding: 4px 6px; }
td { padding: 5px 6px; border-bottom: 1px solid #eef0f3; vertical-align: middle; }
td.name { overflow-wrap: anywhere; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.bar { width: 32%; min-width: 60px; }
td.bar svg { width: 100%; height: 14px; display: block; }
.unpriced { color: #9a5b00; font-weight: 600; }
.muted { color: #4a5360; }
footer { font-size: 14px; color: #4a5360; margin: 18px 0 30px; }
@media (max-width: 600px) {
  main { padding: 10px; }
  section { padding: 12px; }
  h1 { font-size: 21px; }
  .kpi { flex: 1 1 150px; }
  .kpi .v { font-size: 20px; }
  th.bar, td.bar { display: none; }
  td.num { white-space: normal; }
  table.top { table-layout: fixed; }
  table.top th.name { width: 52%; }
  table.top th.cost { width: 28%; }
  table.top th.req { width: 20%; }
  table.cards thead { display: none; }
  table.cards tr { display: block; padding: 6px 0; border-bottom: 1px solid #dde1e6; }
  table.cards td { display: block; border: 0; padding: 1px 6px; text-align: left; }
  table.cards td[data-label]::before { content: attr(data-label) ': '; color: #4a5360; }
}
";

fn audience_title(a: Audience<'_>) -> String {
    match a {
        Audience::Team(t) => format!("team {t}"),
        Audience::Summary => "all teams".into(),
    }
}

fn money_text(g: &Group) -> String {
    cost_cell(g)
}

/// Renders the page.
pub fn render(page: &Page<'_>) -> String {
    render_with(page, "", &|_| {})
}

/// Renders the page with `scope` after the audience in its title (`", organisation"`) and the
/// sections `extra` writes after the call-outs (the organisation view's accounts:
/// `org::OrgReport::to_html`).
pub(crate) fn render_with(page: &Page<'_>, scope: &str, extra: &dyn Fn(&mut String)) -> String {
    let r = page.report;
    let t = &r.totals;
    let day = r
        .date
        .map_or_else(|| "several days".to_string(), |d| d.to_string());
    let title = format!("{}{scope}", audience_title(page.audience));
    let mut o = String::with_capacity(32 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
         <meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>Bedrock spend {} — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&day),
        esc(&title)
    );
    let _ = writeln!(
        o,
        "<h1>Bedrock spend on {} (UTC) — {}</h1>",
        esc(&day),
        esc(&title)
    );
    let _ = writeln!(
        o,
        "<p class=\"sub\">Estimated from the invocation logs with the price table as of \
         <span id=\"prices-as-of\">{}</span>; the AWS bill is authoritative.</p>",
        r.prices_as_of
    );
    kpis(&mut o, r);
    callouts(&mut o, r);
    extra(&mut o);
    hourly_section(&mut o, page);
    incident_section(&mut o, page);
    tokens_section(&mut o, t);
    let apps: Vec<(String, Option<&str>, &Group)> = r
        .by_app
        .iter()
        .map(|((a, tm), g)| (a.clone(), Some(tm.as_str()), g))
        .collect();
    top_section(
        &mut o,
        "top-apps",
        "Top apps",
        matches!(page.audience, Audience::Summary),
        &apps,
        |name| name.to_string(),
    );
    let callers: Vec<(String, Option<&str>, &Group)> = r
        .by_caller
        .iter()
        .map(|(c, g)| (c.clone(), None, g))
        .collect();
    top_section(
        &mut o,
        "top-callers",
        "Top callers",
        false,
        &callers,
        short_caller,
    );
    unpriced_section(&mut o, r);
    tier_unread_section(&mut o, r);
    let _ = writeln!(
        o,
        "<footer>bedrock-meter day report · price table as of {} · cache writes of unknown TTL \
         priced as 5-minute writes · no request or response text is read or shown.</footer>",
        r.prices_as_of
    );
    o.push_str("</main>\n</body>\n</html>\n");
    o
}

/// Adds the "not in invocation logs" section (bedrock-mantle traffic, `daily::mantle`) to a rendered
/// page, before its footer; the page is unchanged when there is none. No caller: the metrics have none.
pub fn add_mantle(html: &str, lines: &[crate::daily::mantle::MantleLine]) -> String {
    if lines.is_empty() {
        return html.to_string();
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<section id=\"mantle\"><h2>Not in invocation logs (bedrock-mantle)</h2>\
         <p class=\"muted\">Calls through the OpenAI-compatible bedrock-mantle endpoint, from the \
         AWS/BedrockMantle CloudWatch metrics: no caller, no app, not in the totals above.</p><ul>"
    );
    for l in lines {
        let _ = writeln!(
            o,
            "<li><b>{}</b>: {}</li>",
            esc(&l.model),
            esc(&crate::daily::mantle::describe(l))
        );
    }
    o.push_str("</ul></section>\n");
    match html.rfind("<footer>") {
        Some(i) => format!("{}{o}{}", &html[..i], &html[i..]),
        None => format!("{html}{o}"),
    }
}

fn kpis(o: &mut String, r: &Report) {
    let t = &r.totals;
    let cost_class = if t.unpriced_requests > 0 { " warn" } else { "" };
    let _ = writeln!(o, "<div class=\"kpis\">");
    let _ = writeln!(
        o,
        "<div class=\"kpi{cost_class}\" id=\"total\" data-cost-usd=\"{}\" data-unpriced-requests=\"{}\">\
         <div class=\"v\">{}</div><div class=\"l\">priced spend{}</div></div>",
        priced_cost(t).map_or_else(|| "unpriced".into(), exact),
        t.unpriced_requests,
        esc(&money_text(t)),
        if t.unpriced_requests > 0 {
            format!(
                " · {} unpriced, not included",
                count(t.unpriced_requests, "request")
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        "<div class=\"kpi\" data-requests=\"{}\"><div class=\"v\">{}</div><div class=\"l\">requests ({} errors)</div></div>",
        t.requests,
        thousands(t.requests),
        thousands(t.errors)
    );
    let _ = writeln!(
        o,
        "<div class=\"kpi\"><div class=\"v\">{:.1}%</div><div class=\"l\">of prompt tokens read from cache</div></div>",
        100.0 * t.cache_share()
    );
    let un = r.unattributed();
    let _ = writeln!(
        o,
        "<div class=\"kpi\" id=\"unattributed\"><div class=\"v\">{}</div><div class=\"l\">direct calls without an application profile ({})</div></div>",
        if un.requests == 0 { "none".to_string() } else { esc(&money_text(&un)) },
        count(un.requests, "request")
    );
    let _ = writeln!(o, "</div>");
}

fn callouts(o: &mut String, r: &Report) {
    let t = &r.totals;
    if t.unpriced_requests > 0 {
        let _ = writeln!(
            o,
            "<section class=\"warn callout\" id=\"unpriced-callout\" data-unpriced-requests=\"{}\">\
             <p><strong>Unpriced: {}</strong> used models or rates the price table does not know. Their cost is \
             <strong>not</strong> in any total or bar on this page (never counted as $0); see \
             <a href=\"#unpriced\">unpriced models</a>.</p></section>",
            t.unpriced_requests,
            count(t.unpriced_requests, "request")
        );
    }
    if let Some(skipped) = skipped_summary(r.malformed_records, r.unreadable_files) {
        let _ = writeln!(
            o,
            "<section class=\"bad callout\" id=\"skipped\" data-malformed-records=\"{}\" data-unreadable-files=\"{}\">\
             <p><strong>{}</strong> (what they held is not in this report).</p></section>",
            r.malformed_records,
            r.unreadable_files,
            esc(&skipped),
        );
    }
}

/// A round step for about `ticks` gridlines up to `max` (1, 2 or 5 × 10^k).
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / ticks;
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let f = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * p
}

fn axis_usd(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("${v:.0}")
    } else if step >= 0.01 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

fn hour_label(t: Timestamp) -> String {
    let s = t.0.rem_euclid(86_400);
    format!("{:02}:00", s / 3600)
}

fn hourly_section(o: &mut String, page: &Page<'_>) {
    let by = match page.audience {
        Audience::Team(_) => "app",
        Audience::Summary => "team",
    };
    let _ = writeln!(
        o,
        "<section id=\"hourly\"><h2>Spend per hour (UTC), by {by}</h2>"
    );
    let Some(h) = page.hourly.filter(|h| !h.slots.is_empty()) else {
        let _ = writeln!(
            o,
            "<p class=\"muted\">No per-hour data in this report.</p></section>"
        );
        return;
    };
    // Series: the costliest of the day by name (the report's order), the rest summed.
    let order: Vec<String> = match page.audience {
        Audience::Team(_) => page
            .report
            .by_app
            .iter()
            .map(|((a, _), _)| a.clone())
            .collect(),
        Audience::Summary => page.report.by_team.iter().map(|(t, _)| t.clone()).collect(),
    };
    let named: Vec<&String> = order.iter().take(MAX_SERIES).collect();
    let color = |s: &str| {
        named
            .iter()
            .position(|n| n.as_str() == s)
            .map_or(OTHER_COLOR, |i| PALETTE[i])
    };
    // Per slot: (series, cost) stacked in the legend's order, plus unpriced requests.
    let slots: Vec<(Vec<(String, Money)>, u64)> = h
        .slots
        .iter()
        .map(|groups| {
            let mut costs: Vec<(String, Money)> = Vec::new();
            let mut other = Money::ZERO;
            let mut unpriced = 0;
            for (s, g) in groups {
                unpriced += g.unpriced_requests;
                if named.contains(&s) {
                    costs.push((s.clone(), g.cost));
                } else {
                    other += g.cost;
                }
            }
            costs.sort_by_key(|(s, _)| named.iter().position(|n| *n == s));
            if other.0 != 0 {
                costs.push((OTHER_SERIES.into(), other));
            }
            (costs, unpriced)
        })
        .collect();
    let max = slots
        .iter()
        .map(|(c, _)| c.iter().map(|(_, m)| m.as_f64()).sum::<f64>())
        .fold(0.0, f64::max);
    let (w, ht) = (720.0, 300.0);
    let (left, right, top, bottom) = (58.0, 10.0, 40.0, 34.0);
    let pw = w - left - right;
    let ph = ht - top - bottom;
    let n = slots.len() as f64;
    let step = nice_step(max, 4.0);
    let ymax = if max > 0.0 {
        (max / step).ceil() * step
    } else {
        step
    };
    let y = |v: f64| top + ph - v / ymax * ph;
    let slot_w = pw / n;
    let bar_w = (slot_w * 0.78).max(1.0);
    let x_of = |t: i64| left + (t - h.start.0) as f64 / HOUR as f64 * slot_w;
    let _ = writeln!(
        o,
        "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"hourly\" viewBox=\"0 0 {w} {ht}\" \
         role=\"img\" aria-label=\"Spend per hour by {by}\" data-start=\"{}\" data-slots=\"{}\">",
        h.start,
        slots.len()
    );
    // Gridlines and y labels.
    let mut v = 0.0;
    while v <= ymax + step / 2.0 {
        let yy = y(v);
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e6ea\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            yy + 4.0,
            axis_usd(v, step)
        );
        v += step;
    }
    // Incident bands under the bars.
    let (axis_start, axis_end) = (h.start.0, h.start.0 + slots.len() as i64 * HOUR);
    for (i, inc) in visible_incidents(page, axis_start, axis_end)
        .iter()
        .enumerate()
    {
        let from = inc.started.0.max(axis_start);
        let to = inc
            .resolved
            .map_or(axis_end, |r| r.0)
            .min(axis_end)
            .max(from + 60);
        let (x1, x2) = (x_of(from), x_of(to));
        let _ = writeln!(
            o,
            "<g class=\"incident\" data-app=\"{}\" data-team=\"{}\" data-started=\"{}\" data-resolved=\"{}\">\
             <rect x=\"{x1:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{ph}\" fill=\"#e15759\" fill-opacity=\"0.13\" stroke=\"#c0392b\" stroke-opacity=\"0.5\"/>\
             <text class=\"inc\" x=\"{:.1}\" y=\"{:.1}\">⚠ {}</text><title>{}</title></g>",
            esc(&inc.app),
            esc(&inc.team),
            inc.started,
            inc.resolved.map_or_else(|| "open".into(), |r| r.to_string()),
            (x2 - x1).max(2.0),
            x1 + 2.0,
            16.0 + (i % 2) as f64 * 15.0,
            esc(&inc.app),
            esc(&incident_text(inc)),
        );
    }
    for (i, (costs, unpriced)) in slots.iter().enumerate() {
        let slot_start = Timestamp(h.start.0 + i as i64 * HOUR);
        let x = left + i as f64 * slot_w + (slot_w - bar_w) / 2.0;
        let mut acc = 0.0;
        for (s, m) in costs {
            if m.0 <= 0 {
                continue;
            }
            let v0 = acc;
            acc += m.as_f64();
            let (y0, y1) = (y(v0), y(acc));
            let _ = writeln!(
                o,
                "<rect class=\"bar\" x=\"{x:.2}\" y=\"{y1:.2}\" width=\"{bar_w:.2}\" height=\"{:.2}\" fill=\"{}\" \
                 data-hour=\"{slot_start}\" data-series=\"{}\" data-cost-usd=\"{}\"><title>{} {}: {}</title></rect>",
                (y0 - y1).max(0.0),
                color(s),
                esc(s),
                exact(*m),
                hour_label(slot_start),
                esc(s),
                m
            );
        }
        if *unpriced > 0 {
            let cx = x + bar_w / 2.0;
            let cy = y(acc) - 7.0;
            let _ = writeln!(
                o,
                "<path class=\"unpriced-mark\" d=\"M{:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\" fill=\"#d98a00\" \
                 data-hour=\"{slot_start}\" data-unpriced-requests=\"{unpriced}\"><title>{} {} unpriced requests \
                 (not in the bar: their cost is unknown)</title></path>",
                cx - 4.0,
                cy - 3.0,
                cx + 4.0,
                cy - 3.0,
                cx,
                cy + 4.0,
                hour_label(slot_start),
                thousands(*unpriced)
            );
        }
        if i % 3 == 0 {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                left + i as f64 * slot_w + slot_w / 2.0,
                ht - bottom + 16.0,
                hour_label(slot_start)
            );
        }
    }
    let _ = writeln!(
        o,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#8a939e\"/></svg></div>",
        w - right,
        y(0.0),
        y(0.0)
    );
    // Legend (HTML, so it stays legible on a phone).
    let _ = write!(o, "<ul class=\"legend\">");
    for (i, s) in named.iter().enumerate() {
        let _ = write!(
            o,
            "<li><span class=\"sw\" style=\"background:{}\"></span>{}</li>",
            PALETTE[i],
            esc(s)
        );
    }
    if order.len() > named.len() {
        let _ = write!(
            o,
            "<li><span class=\"sw\" style=\"background:{OTHER_COLOR}\"></span>{} more</li>",
            order.len() - named.len()
        );
    }
    if slots.iter().any(|(_, u)| *u > 0) {
        let _ = write!(
            o,
            "<li><span class=\"unpriced\">▼</span> hour with unpriced requests (their cost is unknown, not drawn)</li>"
        );
    }
    if !visible_incidents(page, axis_start, axis_end).is_empty() {
        let _ = write!(
            o,
            "<li><span class=\"sw\" style=\"background:#f6d3d4;border:1px solid #c0392b\"></span>runaway incident</li>"
        );
    }
    let _ = writeln!(o, "</ul></section>");
}

fn visible_incidents<'a>(page: &Page<'a>, start: i64, end: i64) -> Vec<&'a IncidentSpan> {
    page.incidents
        .unwrap_or_default()
        .iter()
        .filter(|i| match page.audience {
            Audience::Team(t) => i.team == t,
            Audience::Summary => true,
        })
        .filter(|i| i.started.0 < end && i.resolved.is_none_or(|r| r.0 >= start))
        .collect()
}

fn incident_text(i: &IncidentSpan) -> String {
    let who = match &i.caller {
        Some(c) => format!("caller {}", short_caller(c)),
        None => "all callers".into(),
    };
    let peak = if i.peak_unpriced > 0 && i.peak_unpriced >= i.peak_requests {
        "unpriced".to_string()
    } else if i.peak_unpriced > 0 {
        format!("{} + unpriced", i.peak_cost)
    } else {
        i.peak_cost.to_string()
    };
    format!(
        "{} ({}), {who}: from {} to {}; peak window {peak} in {} requests; {} alert{}",
        i.app,
        i.team,
        i.started,
        i.resolved.map_or_else(
            || "still open at the end of the data".into(),
            |r| r.to_string()
        ),
        thousands(i.peak_requests),
        i.alerts,
        if i.alerts == 1 { "" } else { "s" }
    )
}

fn incident_section(o: &mut String, page: &Page<'_>) {
    let (start, end) = match page.hourly.filter(|h| !h.slots.is_empty()) {
        Some(h) => (h.start.0, h.start.0 + h.slots.len() as i64 * HOUR),
        None => (i64::MIN, i64::MAX),
    };
    if page.incidents.is_none() {
        let _ = writeln!(
            o,
            "<section id=\"incidents\"><h2>Runaway incidents</h2><p class=\"muted\">Not on this page: \
             runaway incidents are in the live alerts and in <code>bedrock-meter report --format html</code>.\
             </p></section>"
        );
        return;
    }
    let list = visible_incidents(page, start, end);
    let _ = writeln!(
        o,
        "<section id=\"incidents\" data-count=\"{}\"><h2>Runaway incidents</h2>",
        list.len()
    );
    if list.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"muted\">None: no app or caller crossed the runaway thresholds this day.</p></section>"
        );
        return;
    }
    let _ = writeln!(
        o,
        "<table class=\"cards\"><thead><tr><th>app (team)</th><th>who</th><th>from</th><th>to</th><th>peak window</th></tr></thead><tbody>"
    );
    for i in list {
        let who = i
            .caller
            .as_deref()
            .map_or_else(|| "all callers".into(), short_caller);
        let peak = if i.peak_unpriced > 0 && i.peak_unpriced >= i.peak_requests {
            "<span class=\"unpriced\">unpriced</span>".to_string()
        } else if i.peak_unpriced > 0 {
            format!("{} + <span class=\"unpriced\">unpriced</span>", i.peak_cost)
        } else {
            i.peak_cost.to_string()
        };
        let _ = writeln!(
            o,
            "<tr class=\"incident-row\" data-app=\"{}\" data-started=\"{}\"><td class=\"name\">{} ({})</td>\
             <td class=\"name\" data-label=\"who\" title=\"{}\">{}</td><td class=\"num\" data-label=\"from\">{}</td>\
             <td class=\"num\" data-label=\"to\">{}</td><td class=\"num\" data-label=\"peak window\">{peak} · {} req</td></tr>",
            esc(&i.app),
            i.started,
            esc(&i.app),
            esc(&i.team),
            esc(i.caller.as_deref().unwrap_or("")),
            esc(&who),
            hour_minute(i.started),
            i.resolved
                .map_or_else(|| "open".into(), hour_minute),
            thousands(i.peak_requests)
        );
    }
    let _ = writeln!(o, "</tbody></table></section>");
}

fn hour_minute(t: Timestamp) -> String {
    let s = t.0.rem_euclid(86_400);
    format!("{} {:02}:{:02}", t.date(), s / 3600, (s / 60) % 60)
}

fn tokens_section(o: &mut String, t: &Group) {
    let parts = [
        ("input", t.input_tokens),
        ("output", t.output_tokens),
        ("cache read", t.cache_read_tokens),
        ("cache write", t.cache_write_tokens),
    ];
    let all: u64 = parts.iter().map(|(_, n)| n).sum();
    let _ = writeln!(
        o,
        "<section id=\"tokens\"><h2>Tokens: input, output, cache read, cache write</h2>"
    );
    if all == 0 {
        let _ = writeln!(o, "<p class=\"muted\">No tokens.</p></section>");
        return;
    }
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"share\" viewBox=\"0 0 1000 28\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"Token shares\">"
    );
    let mut x = 0.0;
    for (i, (name, n)) in parts.iter().enumerate() {
        let wdt = *n as f64 / all as f64 * 1000.0;
        let _ = write!(
            o,
            "<rect class=\"share\" x=\"{x:.3}\" y=\"0\" width=\"{wdt:.3}\" height=\"28\" fill=\"{}\" data-kind=\"{name}\" \
             data-tokens=\"{n}\"><title>{name}: {} tokens</title></rect>",
            TOKEN_COLORS[i],
            thousands(*n)
        );
        x += wdt;
    }
    let _ = writeln!(o, "</svg>");
    let _ = write!(o, "<ul class=\"legend\">");
    for (i, (name, n)) in parts.iter().enumerate() {
        let _ = write!(
            o,
            "<li><span class=\"sw\" style=\"background:{}\"></span>{name} {:.1}% ({})</li>",
            TOKEN_COLORS[i],
            *n as f64 / all as f64 * 100.0,
            thousands(*n)
        );
    }
    let _ = writeln!(o, "</ul></section>");
}

/// A group's cost cell: the money, `+ unpriced` when part of it has no price, `unpriced` when none
/// has (never $0 for unknown money).
pub(crate) fn money_html(g: &Group) -> String {
    match priced_cost(g) {
        None => "<span class=\"unpriced\">unpriced</span>".to_string(),
        Some(c) if g.unpriced_requests > 0 => {
            format!("{c} + <span class=\"unpriced\">unpriced</span>")
        }
        Some(c) => c.to_string(),
    }
}

/// A table row's bar: `cost` against the largest cost `max` of the table; none for no or unknown
/// money.
pub(crate) fn cost_bar(cost: Option<Money>, max: f64) -> String {
    match cost {
        Some(c) if max > 0.0 && c.0 > 0 => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\">\
             <rect class=\"bar\" x=\"0\" y=\"0\" width=\"{:.3}\" height=\"10\" fill=\"#4e79a7\"/></svg>",
            (c.as_f64() / max * 100.0).max(0.5)
        ),
        _ => String::new(),
    }
}

fn top_section(
    o: &mut String,
    id: &str,
    title: &str,
    show_team: bool,
    items: &[(String, Option<&str>, &Group)],
    label: impl Fn(&str) -> String,
) {
    let _ = writeln!(o, "<section id=\"{id}\"><h2>{title}</h2>");
    if items.is_empty() {
        let _ = writeln!(o, "<p class=\"muted\">None.</p></section>");
        return;
    }
    let max = items
        .iter()
        .filter_map(|(_, _, g)| priced_cost(g))
        .map(Money::as_f64)
        .fold(0.0, f64::max);
    let _ = writeln!(
        o,
        "<table class=\"top\"><thead><tr><th class=\"name\">name</th><th class=\"bar\"></th><th class=\"cost\" style=\"text-align:right\">cost</th><th class=\"req\" style=\"text-align:right\">requests</th></tr></thead><tbody>"
    );
    for (name, team, g) in items.iter().take(TOP_ROWS) {
        let cost = priced_cost(g);
        let shown = match (show_team, team) {
            (true, Some(t)) => format!("{} ({})", label(name), t),
            _ => label(name),
        };
        let bar = cost_bar(cost, max);
        let money = money_html(g);
        let _ = writeln!(
            o,
            "<tr class=\"top-row\" data-name=\"{}\"{} data-cost-usd=\"{}\" data-requests=\"{}\" data-unpriced-requests=\"{}\">\
             <td class=\"name\" title=\"{}\">{}</td><td class=\"bar\">{bar}</td><td class=\"num\">{money}</td><td class=\"num\">{}</td></tr>",
            esc(name),
            team.map_or_else(String::new, |t| format!(" data-team=\"{}\"", esc(t))),
            cost.map_or_else(|| "unpriced".into(), exact),
            g.requests,
            g.unpriced_requests,
            esc(name),
            esc(&shown),
            thousands(g.requests)
        );
    }
    let _ = writeln!(o, "</tbody></table>");
    if items.len() > TOP_ROWS {
        let mut rest = Group::default();
        for (_, _, g) in &items[TOP_ROWS..] {
            rest.merge(g);
        }
        let _ = writeln!(
            o,
            "<p class=\"muted\">… and {} more: {} in {}</p>",
            thousands((items.len() - TOP_ROWS) as u64),
            esc(&cost_cell(&rest)),
            count(rest.requests, "request")
        );
    }
    let _ = writeln!(o, "</section>");
}

fn unpriced_section(o: &mut String, r: &Report) {
    if r.unpriced.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<section id=\"unpriced\"><h2>Unpriced models (not in any total)</h2><table class=\"cards\"><thead><tr><th>model</th>\
         <th>why</th><th style=\"text-align:right\">requests</th><th style=\"text-align:right\">tokens in / out</th></tr></thead><tbody>"
    );
    for u in &r.unpriced {
        let _ = writeln!(
            o,
            "<tr class=\"unpriced-row\" data-model=\"{}\" data-requests=\"{}\"><td class=\"name\">{}</td><td data-label=\"why\">{}</td>\
             <td class=\"num\" data-label=\"requests\">{}</td><td class=\"num\" data-label=\"tokens in / out\">{} / {}</td></tr>",
            esc(&u.model_id),
            u.requests,
            esc(&u.model_id),
            esc(&u.reason),
            thousands(u.requests),
            thousands(u.input_tokens),
            thousands(u.output_tokens)
        );
    }
    let _ = writeln!(o, "</tbody></table>");
    let _ = writeln!(
        o,
        "<h3>Unpriced by reason</h3><ul class=\"unpriced-reasons\">"
    );
    for u in &r.unpriced_by_reason {
        let _ = writeln!(
            o,
            "<li data-reason=\"{}\" data-requests=\"{}\">{}: {}, {} / {} tokens in / out</li>",
            esc(&u.reason),
            u.requests,
            esc(&u.reason),
            count(u.requests, "request"),
            thousands(u.input_tokens),
            thousands(u.output_tokens)
        );
    }
    let _ = writeln!(o, "</ul></section>");
}

/// The calls whose service tier the log does not show (no body logged), per model.
fn tier_unread_section(o: &mut String, r: &Report) {
    if r.tier_unread.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<section id=\"tier-unread\"><h2>Service tier not in the logs (priced at the Standard rate)</h2>\
         <p>Without a logged request or response body the log does not say whether a call was served Standard, Flex or Priority.</p><ul>"
    );
    for (m, n) in &r.tier_unread {
        let _ = writeln!(
            o,
            "<li data-model=\"{}\" data-requests=\"{n}\">{}: {}</li>",
            esc(m),
            esc(m),
            count(*n, "call")
        );
    }
    let _ = writeln!(o, "</ul></section>");
}

/// Parses a page the way the tests read it: well-formed XML, its DOCTYPE allowed.
#[cfg(test)]
pub(crate) fn parse_page(html: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse_with_options(
        html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the page is well-formed XML")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::{Profile, ProfileMap};
    use crate::attribution::resolution::AttributionConfig;
    use crate::daily::rollup::{price_rows, UsageKey};
    use crate::live::detector::DetectorConfig;
    use crate::pricing::prices::PriceTable;
    use crate::records::record::Tokens;
    use crate::records::record::Usage;

    const EVIL_TEAM: &str = "<script>alert('t')</script>&";
    const EVIL_CALLER: &str = "arn:aws:sts::1:assumed-role/R/\"><img src=x onerror=alert(1)>";

    fn d() -> Date {
        Date::parse("2026-11-25").unwrap()
    }

    fn profiles() -> ProfileMap {
        ProfileMap::new([Profile {
            arn: "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1".into(),
            id: "p1".into(),
            name: "scorer".into(),
            model_arns: vec![
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
            ],
            tags: [
                ("app".into(), "scorer".into()),
                ("team".into(), EVIL_TEAM.into()),
            ]
            .into(),
        }])
    }

    fn row(model: &str, caller: &str, input: u64) -> (UsageKey, Usage) {
        (
            UsageKey {
                model_id: model.into(),
                region: "us-east-1".into(),
                caller: caller.into(),
                metadata: vec![],
                prompt_band: 0,
                tier: "default".into(),
            },
            Usage {
                requests: 3,
                errors: 0,
                tokens: Tokens {
                    input,
                    output: input / 10,
                    cache_read: input / 2,
                    cache_write: input / 7,
                    ..Default::default()
                },
            },
        )
    }

    /// A day: a tagged app in hours 2 and 9, direct calls in hour 9 and an unpriced model in hour 14.
    fn day() -> (Report, BTreeMap<i64, Vec<PricedRow>>, Vec<PricedRow>) {
        let p = profiles();
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig::default();
        let app = "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1";
        let hours: Vec<(i64, Vec<(UsageKey, Usage)>)> = vec![
            (2, vec![row(app, EVIL_CALLER, 1_234_567)]),
            (
                9,
                vec![
                    row(app, EVIL_CALLER, 3_000_001),
                    row(
                        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                        "arn:aws:iam::1:user/direct",
                        777_777,
                    ),
                ],
            ),
            (
                14,
                vec![row("acme.unknown-v1:0", "arn:aws:iam::1:user/direct", 10)],
            ),
        ];
        let mut by_hour = BTreeMap::new();
        let mut all = Vec::new();
        for (h, rows) in hours {
            let priced = price_rows(rows.iter().map(|(k, u)| (k, u)), &p, &prices, &cfg);
            all.extend(priced.iter().cloned());
            by_hour.insert(d().start().0 + h * HOUR, priced);
        }
        let report = Report::build(&all, Some(d()), prices.as_of, &[], 2);
        (report, by_hour, all)
    }

    fn alert(kind: AlertKind, at: i64, cost: &str) -> Alert {
        let start = d().start().0;
        Alert {
            kind,
            app: "scorer".into(),
            team: EVIL_TEAM.into(),
            caller: Some(EVIL_CALLER.into()),
            models: vec![],
            profile_arns: vec![],
            window_minutes: 15,
            at: Timestamp(start + at),
            window_start: Timestamp(start + at - 900),
            window_cost: Money::from_usd_text(cost).unwrap(),
            window_requests: 100,
            window_unpriced: 0,
            tokens: Tokens::default(),
            threshold_cost: DetectorConfig::default().max_cost,
            threshold_requests: 600,
            incident_started: Timestamp(start + 2 * HOUR),
            previous_alert_cost: None,
            profile: None,
            callers: vec![],
            id: "x".into(),
        }
    }

    fn parse(html: &str) -> roxmltree::Document<'_> {
        parse_page(html)
    }

    fn money(s: &str) -> Money {
        Money::from_usd_text(s).unwrap()
    }

    /// Rounded as the JSON writes money (9 decimals).
    fn nine(m: Money) -> Money {
        money(&m.to_decimal_string(9))
    }

    /// A JSON number (well within f64's exact decimal digits here).
    fn json_money(v: &serde_json::Value) -> Money {
        assert!(v.is_number(), "{v}");
        money(&v.to_string())
    }

    #[test]
    fn chart_figures_equal_the_reports_json() {
        let (report, by_hour, _) = day();
        let hourly = Hourly::build(report.date, &by_hour, None, report.prices_as_of);
        assert_eq!(hourly.slots.len(), 24);
        let spans = incidents(&[
            alert(AlertKind::Runaway, 2 * HOUR + 600, "12"),
            alert(AlertKind::Escalation, 2 * HOUR + 1200, "30"),
            alert(AlertKind::Resolved, 4 * HOUR, "0"),
        ]);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].peak_cost, money("30"));
        let html = render(&Page {
            report: &report,
            audience: Audience::Summary,
            hourly: Some(&hourly),
            incidents: Some(&spans),
        });
        let doc = parse(&html);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let bars: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("data-hour").is_some())
            .collect();
        assert!(!bars.is_empty());
        // Every bar's series summed over the day is that team's cost in the JSON; all bars, the total.
        let mut by_series: BTreeMap<&str, Money> = BTreeMap::new();
        let mut total = Money::ZERO;
        for b in &bars {
            let m = money(b.attribute("data-cost-usd").unwrap());
            assert!(m.0 > 0, "no bar for zero or unknown money");
            *by_series
                .entry(b.attribute("data-series").unwrap())
                .or_default() += m;
            total += m;
        }
        assert_eq!(nine(total), json_money(&json["totals"]["cost_usd"]));
        for t in json["by_team"].as_array().unwrap() {
            let name = t["team"].as_str().unwrap();
            match t["cost_usd"].as_f64() {
                Some(_) => assert_eq!(nine(by_series[name]), json_money(&t["cost_usd"]), "{name}"),
                // A team with no price draws no bar at all (not a $0 bar).
                None => assert!(!by_series.contains_key(name), "{name}"),
            }
        }
        // The hour with the unpriced model has a marker that counts its requests.
        let marks: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("unpriced-mark"))
            .collect();
        assert_eq!(marks.len(), 1);
        assert_eq!(
            marks[0].attribute("data-hour"),
            Some("2026-11-25T14:00:00Z")
        );
        assert_eq!(
            marks[0].attribute("data-unpriced-requests").unwrap(),
            json["totals"]["unpriced_requests"].to_string()
        );
        // Top apps and callers: the same figures as by_app / by_caller.
        for (section, key, name_key) in [
            ("top-apps", "by_app", "app"),
            ("top-callers", "by_caller", "caller"),
        ] {
            let rows: Vec<_> = doc
                .descendants()
                .find(|n| n.attribute("id") == Some(section))
                .unwrap()
                .descendants()
                .filter(|n| n.attribute("class") == Some("top-row"))
                .collect();
            let want = json[key].as_array().unwrap();
            assert_eq!(rows.len(), want.len().min(TOP_ROWS));
            for (row, w) in rows.iter().zip(want) {
                assert_eq!(row.attribute("data-name"), w[name_key].as_str());
                assert_eq!(
                    row.attribute("data-requests").unwrap(),
                    w["requests"].to_string()
                );
                match row.attribute("data-cost-usd").unwrap() {
                    "unpriced" => {
                        assert!(w["cost_usd"].is_null());
                        let text: String = row
                            .descendants()
                            .filter(|n| n.is_text())
                            .map(|n| n.text().unwrap())
                            .collect();
                        assert!(text.contains("unpriced") && !text.contains("$0"), "{text}");
                    }
                    c => assert_eq!(nine(money(c)), json_money(&w["cost_usd"])),
                }
            }
        }
        // Token shares: each segment is the total's tokens.
        for (kind, field) in [
            ("input", "input_tokens"),
            ("output", "output_tokens"),
            ("cache read", "cache_read_tokens"),
            ("cache write", "cache_write_tokens"),
        ] {
            let seg = doc
                .descendants()
                .find(|n| n.attribute("data-kind") == Some(kind))
                .unwrap();
            assert_eq!(
                seg.attribute("data-tokens").unwrap(),
                json["totals"][field].to_string()
            );
        }
        // Call-outs: unpriced and malformed counts, the price table's date.
        let by_id = |id: &str| doc.descendants().find(|n| n.attribute("id") == Some(id));
        assert_eq!(
            by_id("skipped")
                .unwrap()
                .attribute("data-malformed-records"),
            Some("2")
        );
        assert_eq!(
            by_id("unpriced-callout")
                .unwrap()
                .attribute("data-unpriced-requests")
                .unwrap(),
            json["totals"]["unpriced_requests"].to_string()
        );
        assert_eq!(
            by_id("prices-as-of").unwrap().text(),
            json["prices_as_of"].as_str()
        );
        // The incident is on the time axis: its band starts at 02:00 and ends at 04:00.
        let band = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("incident"))
            .unwrap();
        assert_eq!(band.attribute("data-started"), Some("2026-11-25T02:00:00Z"));
        assert_eq!(
            band.attribute("data-resolved"),
            Some("2026-11-25T04:00:00Z")
        );
        assert_eq!(
            by_id("incidents").unwrap().attribute("data-count"),
            Some("1")
        );
    }

    #[test]
    fn untrusted_strings_are_escaped() {
        let (report, by_hour, _) = day();
        let hourly = Hourly::build(report.date, &by_hour, None, report.prices_as_of);
        let spans = incidents(&[alert(AlertKind::Runaway, 2 * HOUR + 600, "12")]);
        let html = render(&Page {
            report: &report,
            audience: Audience::Summary,
            hourly: Some(&hourly),
            incidents: Some(&spans),
        });
        assert!(!html.contains("<script"), "a tag value became markup");
        assert!(!html.contains("<img"), "a caller ARN became markup");
        let doc = parse(&html);
        // No element but the page's own; the strings survive as text and attribute values.
        for n in doc.descendants().filter(|n| n.is_element()) {
            assert!(
                !matches!(n.tag_name().name(), "script" | "img" | "iframe" | "link"),
                "{:?}",
                n.tag_name()
            );
            for a in n.attributes() {
                assert!(!a.name().starts_with("on"), "event handler {}", a.name());
            }
        }
        assert!(doc
            .descendants()
            .any(|n| n.attribute("data-series") == Some(EVIL_TEAM)));
        assert!(doc
            .descendants()
            .any(|n| n.attribute("data-name") == Some(EVIL_CALLER)));
        assert!(doc
            .descendants()
            .any(|n| n.is_text() && n.text().unwrap().contains(EVIL_TEAM)));
        assert_eq!(esc("a\u{1}b"), "a\u{fffd}b");
        // Not XML characters (the page would not parse) or discouraged ones: replaced too.
        assert_eq!(
            esc("a\u{fffe}b\u{ffff}c\u{85}d"),
            "a\u{fffd}b\u{fffd}c\u{fffd}d"
        );
        parse(&format!("<p>{}</p>", esc("x\u{fffe}\u{1b}y")));
    }

    #[test]
    fn one_teams_view_stacks_by_app_and_keeps_its_incidents() {
        let (org, by_hour, rows) = day();
        let report = org.for_team(EVIL_TEAM, &rows, &[]);
        let hourly = Hourly::build(org.date, &by_hour, Some(EVIL_TEAM), org.prices_as_of);
        let mut other = alert(AlertKind::Runaway, 9 * HOUR, "50");
        other.team = "someone-else".into();
        other.app = "other-app".into();
        let spans = incidents(&[alert(AlertKind::Runaway, 2 * HOUR + 600, "12"), other]);
        assert_eq!(spans.len(), 2);
        let html = render(&Page {
            report: &report,
            audience: Audience::Team(EVIL_TEAM),
            hourly: Some(&hourly),
            incidents: Some(&spans),
        });
        let doc = parse(&html);
        let series: std::collections::BTreeSet<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("data-series"))
            .collect();
        assert_eq!(series.into_iter().collect::<Vec<_>>(), vec!["scorer"]);
        let apps: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("incident"))
            .filter_map(|n| n.attribute("data-app"))
            .collect();
        assert_eq!(apps, vec!["scorer"]);
        // An open incident runs to the end of the axis.
        assert!(html.contains("data-resolved=\"open\""));
    }

    #[test]
    fn more_series_than_colours_sum_into_one_other_series() {
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig::default();
        let mut profs = Vec::new();
        let mut rows = Vec::new();
        for i in 0..10 {
            let arn = format!("arn:aws:bedrock:us-east-1:1:application-inference-profile/p{i}");
            profs.push(Profile {
                arn: arn.clone(),
                id: format!("p{i}"),
                name: format!("app{i}"),
                model_arns: vec![
                    "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
                ],
                tags: [("team".into(), format!("team{i}"))].into(),
            });
            rows.push(row(&arn, "arn:aws:iam::1:user/u", 100_000 * (i + 1)));
        }
        let priced = price_rows(
            rows.iter().map(|(k, u)| (k, u)),
            &ProfileMap::new(profs),
            &prices,
            &cfg,
        );
        let report = Report::build(&priced, Some(d()), prices.as_of, &[], 0);
        let by_hour = BTreeMap::from([(d().start().0 + 5 * HOUR, priced)]);
        let hourly = Hourly::build(report.date, &by_hour, None, report.prices_as_of);
        let html = render(&Page {
            report: &report,
            audience: Audience::Summary,
            hourly: Some(&hourly),
            incidents: Some(&[]),
        });
        let doc = parse(&html);
        let bars: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("data-series").is_some())
            .collect();
        assert_eq!(bars.len(), MAX_SERIES + 1);
        let other: Money = report.by_team[MAX_SERIES..]
            .iter()
            .map(|(_, g)| g.cost)
            .fold(Money::ZERO, |a, b| a + b);
        let drawn = bars
            .iter()
            .find(|b| b.attribute("data-series") == Some(OTHER_SERIES))
            .unwrap();
        assert_eq!(money(drawn.attribute("data-cost-usd").unwrap()), other);
        assert!(html.contains("3 more</li>"));
    }

    #[test]
    fn no_hourly_data_says_so_and_nice_steps_are_round() {
        let (report, _, _) = day();
        let html = render(&Page {
            report: &report,
            audience: Audience::Summary,
            hourly: None,
            incidents: Some(&[]),
        });
        parse(&html);
        assert!(html.contains("No per-hour data in this report."));
        assert!(html.contains("None: no app or caller crossed"));
        let html = render(&Page {
            report: &report,
            audience: Audience::Summary,
            hourly: None,
            incidents: None,
        });
        parse(&html);
        assert!(html.contains("Not on this page: runaway incidents are in the live alerts"));
        assert!(!html.contains("None: no app or caller crossed"));
        assert_eq!(nice_step(7.3, 4.0), 2.0);
        assert_eq!(nice_step(0.0, 4.0), 1.0);
        assert!((nice_step(0.031, 4.0) - 0.01).abs() < 1e-12);
    }
}

//! The daily cost emails, pure: one per team and one organisation summary, rendered from the same
//! [`Report`] model as the CLI `report`. Plain text a person scans in 30 seconds: the total and its
//! day-over-day change first, then per app, per model, top callers, cache share, unattributed direct
//! spend, unpriced models and the price table's date. Long tails are cut with a count ("… and 12 more"),
//! and the whole body is kept under a byte budget (SNS: 256 KiB) — rendering never fails.

use crate::ports::notify::Notification;
use std::fmt::Write as _;

use crate::daily::report::{cost_cell, short_caller, Group, Report};

use crate::pricing::money::Money;
use crate::text::{clean_line, count, cut, cut_bytes, thousands};
use crate::time::Date;

/// Who an email is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience<'a> {
    Team(&'a str),
    /// The organisation summary (every team).
    Summary,
}

/// The previous day's total for the same audience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviousDay {
    pub date: Date,
    /// Priced spend (what the previous day's report called `cost`).
    pub cost: Money,
    pub requests: u64,
    pub unpriced_requests: u64,
}

impl PreviousDay {
    pub fn of(date: Date, g: &Group) -> PreviousDay {
        PreviousDay {
            date,
            cost: g.cost,
            requests: g.requests,
            unpriced_requests: g.unpriced_requests,
        }
    }
}

/// How many entries each list shows before "… and N more" (shrunk when the body is too big).
const DEFAULT_LIST_LIMIT: usize = 10;
const LABEL_WIDTH: usize = 44;

/// `+12%`, `-3%`, `±0%`; `new` when there was no spend the day before.
pub fn change(current: Money, previous: Money) -> String {
    if previous.0 == 0 {
        return if current.0 == 0 { "±0%" } else { "new" }.into();
    }
    let diff = current.0 - previous.0;
    // Rounded half away from zero, in integers.
    let pct = (diff * 200 / previous.0 + diff.signum()) / 2;
    match pct {
        0 => "±0%".into(),
        p if p > 0 => format!("+{p}%"),
        p => format!("{p}%"),
    }
}

fn audience_name(a: Audience<'_>) -> String {
    match a {
        Audience::Team(t) => clean_line(t).into_owned(),
        Audience::Summary => "all teams".into(),
    }
}

/// `Bedrock spend 2026-11-25 — fraud-risk: $20.50 (+12% vs 2026-11-24)`.
pub fn subject(
    report: &Report,
    date: Date,
    audience: Audience<'_>,
    previous: Option<&PreviousDay>,
) -> String {
    let t = &report.totals;
    let cmp = match previous {
        Some(p) => format!(" ({} vs {})", change(t.cost, p.cost), p.date),
        None => String::new(),
    };
    format!(
        "Bedrock spend {date} — {}: {}{cmp}",
        audience_name(audience),
        cost_cell(t)
    )
}

pub(crate) fn group_line(out: &mut String, label: &str, g: &Group) {
    let _ = writeln!(
        out,
        "  {:<w$} {:>16}  {:>9} req",
        cut(&clean_line(label), LABEL_WIDTH),
        cost_cell(g),
        thousands(g.requests),
        w = LABEL_WIDTH
    );
}

pub(crate) fn section<T>(
    out: &mut String,
    title: &str,
    items: &[T],
    limit: usize,
    label: impl Fn(&T) -> String,
    group: impl Fn(&T) -> &Group,
) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", clean_line(title));
    for it in items.iter().take(limit) {
        group_line(out, &label(it), group(it));
    }
    if items.len() > limit {
        let mut rest = Group::default();
        for it in &items[limit..] {
            let g = group(it);
            rest.requests += g.requests;
            rest.cost += g.cost;
            rest.unpriced_requests += g.unpriced_requests;
        }
        let _ = writeln!(
            out,
            "  … and {} more: {} in {}",
            thousands((items.len() - limit) as u64),
            cost_cell(&rest),
            count(rest.requests, "request")
        );
    }
}

fn body(
    report: &Report,
    date: Date,
    audience: Audience<'_>,
    previous: Option<&PreviousDay>,
    notes: &[String],
    limit: usize,
    extra: &dyn Fn(usize) -> String,
) -> String {
    let t = &report.totals;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Bedrock spend on {date} (UTC) — {}",
        match audience {
            Audience::Team(name) => format!("team {}", clean_line(name)),
            Audience::Summary => "all teams".into(),
        }
    );
    out.push('\n');
    let cmp = match previous {
        Some(p) => format!(
            "   ({} vs {} on {})",
            change(t.cost, p.cost),
            p.cost,
            p.date
        ),
        None => "   (previous day not available)".into(),
    };
    let _ = writeln!(out, "Total         {}{cmp}", cost_cell(t));
    let _ = writeln!(
        out,
        "Requests      {} ({} errors)",
        thousands(t.requests),
        thousands(t.errors)
    );
    let _ = writeln!(
        out,
        "Tokens        {} in · {} out · {} cache read · {} cache write",
        thousands(t.input_tokens),
        thousands(t.output_tokens),
        thousands(t.cache_read_tokens),
        thousands(t.cache_write_tokens)
    );
    let _ = writeln!(
        out,
        "Cache share   {:.1}% of prompt tokens read from cache",
        100.0 * t.cache_share()
    );
    if t.unpriced_requests > 0 {
        let _ = writeln!(
            out,
            "UNPRICED      {} {} NOT in the total (see below)",
            count(t.unpriced_requests, "request"),
            if t.unpriced_requests == 1 {
                "has no price and is"
            } else {
                "have no price and are"
            }
        );
    }
    out.push_str(&extra(limit));
    if audience == Audience::Summary {
        section(
            &mut out,
            "By team",
            &report.by_team,
            limit,
            |(team, _)| team.clone(),
            |(_, g)| g,
        );
    }
    section(
        &mut out,
        "By app",
        &report.by_app,
        limit,
        |((app, team), _)| match audience {
            Audience::Summary => format!("{app} ({team})"),
            Audience::Team(_) => app.clone(),
        },
        |(_, g)| g,
    );
    section(
        &mut out,
        "By model",
        &report.by_model,
        limit,
        |(m, _)| m.clone(),
        |(_, g)| g,
    );
    section(
        &mut out,
        "Top callers",
        &report.by_caller,
        limit,
        |(c, _)| short_caller(c),
        |(_, g)| g,
    );
    for (key, values) in &report.by_metadata {
        section(
            &mut out,
            &format!("By {key}"),
            values,
            limit,
            |(v, _)| v.clone(),
            |(_, g)| g,
        );
    }
    let un = report.unattributed();
    if audience == Audience::Summary || un.requests > 0 {
        out.push('\n');
        if un.requests == 0 {
            let _ = writeln!(
                out,
                "Unattributed direct spend: none (every call went through an application profile)"
            );
        } else {
            let _ = writeln!(
                out,
                "Unattributed direct spend (calls that bypass application profiles): {} in {}",
                cost_cell(&un),
                count(un.requests, "request")
            );
        }
    }
    if !report.unpriced.is_empty() {
        let _ = writeln!(out, "\nUnpriced models (NOT included in the totals)");
        for u in report.unpriced.iter().take(limit.max(1)) {
            let _ = writeln!(
                out,
                "  {} — {}: {}, {} in / {} out tokens",
                cut(&clean_line(&u.model_id), 80),
                clean_line(&u.reason),
                count(u.requests, "request"),
                thousands(u.input_tokens),
                thousands(u.output_tokens)
            );
        }
        if report.unpriced.len() > limit.max(1) {
            let _ = writeln!(
                out,
                "  … and {} more unpriced models",
                report.unpriced.len() - limit.max(1)
            );
        }
        let _ = writeln!(out, "Unpriced by reason");
        for u in &report.unpriced_by_reason {
            let _ = writeln!(
                out,
                "  {}: {}, {} in / {} out tokens",
                clean_line(&u.reason),
                count(u.requests, "request"),
                thousands(u.input_tokens),
                thousands(u.output_tokens)
            );
        }
    }
    let unread: u64 = report.tier_unread.iter().map(|(_, n)| n).sum();
    if unread > 0 {
        let _ = writeln!(
            out,
            "\nService tier not in the logs for {} ({}): priced at the Standard rate",
            count(unread, "request"),
            count(report.tier_unread.len() as u64, "model")
        );
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes");
        for n in notes.iter().take(limit.max(1)) {
            let _ = writeln!(out, "  - {}", cut(&clean_line(n), 300));
        }
        if notes.len() > limit.max(1) {
            let _ = writeln!(out, "  … and {} more notes", notes.len() - limit.max(1));
        }
    }
    let _ = writeln!(
        out,
        "\nPrices: bedrock-meter price table as of {}. Costs are estimates from the invocation logs \
         (cache writes of unknown TTL priced as 5-minute writes); the AWS bill is authoritative.",
        report.prices_as_of
    );
    out
}

/// Renders one email whose body is at most `max_body_bytes` bytes: lists are shortened first, and as
/// a last resort the text is cut at a line boundary with a note.
pub fn render(
    report: &Report,
    date: Date,
    audience: Audience<'_>,
    previous: Option<&PreviousDay>,
    notes: &[String],
    max_body_bytes: usize,
) -> Notification {
    render_with(
        report,
        date,
        audience,
        previous,
        notes,
        &|_| String::new(),
        max_body_bytes,
    )
}

/// [`render`] with `extra(limit)` (a section with lists of at most `limit` entries, e.g. the
/// organisation's accounts) after the totals; shortened with the rest to fit the budget.
pub fn render_with(
    report: &Report,
    date: Date,
    audience: Audience<'_>,
    previous: Option<&PreviousDay>,
    notes: &[String],
    extra: &dyn Fn(usize) -> String,
    max_body_bytes: usize,
) -> Notification {
    let subject = subject(report, date, audience, previous);
    for limit in [DEFAULT_LIST_LIMIT, 5, 3, 1, 0] {
        let b = body(report, date, audience, previous, notes, limit, extra);
        if b.len() <= max_body_bytes {
            return Notification {
                subject,
                body: b,
                attributes: Vec::new(),
            };
        }
    }
    let full = body(report, date, audience, previous, notes, 0, extra);
    Notification {
        subject,
        body: cut_bytes(&full, max_body_bytes),
        attributes: Vec::new(),
    }
}

/// Adds the "not in invocation logs" lines (bedrock-mantle traffic, `daily::mantle`) to a rendered
/// email, before its closing "Prices:" paragraph, keeping the body within `max_body_bytes` (lines that
/// do not fit are counted instead). Unchanged when there is none.
pub fn add_mantle(
    n: &mut Notification,
    lines: &[crate::daily::mantle::MantleLine],
    max_body_bytes: usize,
) {
    if lines.is_empty() {
        return;
    }
    let at = n.body.rfind("\nPrices: ").unwrap_or(n.body.len());
    let mut section = String::from(
        "\nNot in invocation logs (bedrock-mantle endpoint; no caller, not in the totals above)\n",
    );
    let room = max_body_bytes.saturating_sub(n.body.len());
    for (i, l) in lines.iter().enumerate() {
        let line = format!(
            "  {}: {}\n",
            cut(&clean_line(&l.model), 120),
            crate::daily::mantle::describe(l)
        );
        let more = format!("  … and {} more models\n", lines.len() - i);
        if section.len() + line.len() + more.len() > room {
            section.push_str(&more);
            break;
        }
        section.push_str(&line);
    }
    if section.len() <= room {
        n.body.insert_str(at, &section);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::{Profile, ProfileMap};
    use crate::attribution::resolution::AttributionConfig;
    use crate::daily::rollup::{price_rows, Rollup, UsageKey};
    use crate::pricing::prices::PriceTable;
    use crate::records::record::Tokens;
    use crate::records::record::Usage;

    fn d() -> Date {
        Date::parse("2026-11-25").unwrap()
    }

    fn report(callers: usize) -> (Report, Vec<crate::daily::rollup::PricedRow>) {
        let profiles = ProfileMap::new([Profile {
            arn: "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1".into(),
            id: "p1".into(),
            name: "scorer".into(),
            model_arns: vec![
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
            ],
            tags: [
                ("app".into(), "scorer".into()),
                ("team".into(), "fraud-risk".into()),
            ]
            .into(),
        }]);
        let mut r = Rollup::default();
        for i in 0..callers {
            r.add_row(
                UsageKey {
                    model_id: "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1".into(),
                    region: "us-east-1".into(),
                    caller: format!("arn:aws:sts::1:assumed-role/Role/session-{i:05}"),
                    metadata: vec![],
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests: 10,
                    errors: 1,
                    tokens: Tokens {
                        input: 1_000_000,
                        output: 100_000,
                        cache_read: 500_000,
                        ..Default::default()
                    },
                },
            );
        }
        r.add_row(
            UsageKey {
                model_id: "us.anthropic.claude-haiku-4-5-20251001-v1:0".into(),
                region: "us-east-1".into(),
                caller: "arn:aws:iam::1:user/direct".into(),
                metadata: vec![],
                prompt_band: 0,
                // Logged without a body: the tier is not known (priced as Standard, and said so).
                tier: crate::pricing::prices::TIER_UNREAD.into(),
            },
            &Usage {
                requests: 3,
                errors: 0,
                tokens: Tokens {
                    input: 1_000_000,
                    ..Default::default()
                },
            },
        );
        r.add_row(
            UsageKey {
                model_id: "acme.unknown-model-v1:0".into(),
                region: "us-east-1".into(),
                caller: "arn:aws:iam::1:user/direct".into(),
                metadata: vec![],
                prompt_band: 0,
                tier: "default".into(),
            },
            &Usage {
                requests: 2,
                errors: 0,
                tokens: Tokens {
                    input: 10,
                    output: 5,
                    ..Default::default()
                },
            },
        );
        let prices = PriceTable::embedded();
        let rows = price_rows(&r.rows, &profiles, &prices, &AttributionConfig::default());
        (Report::build(&rows, Some(d()), prices.as_of, &[], 0), rows)
    }

    #[test]
    fn changes_round_and_say_new() {
        let m = |s: &str| Money::from_usd_text(s).unwrap();
        assert_eq!(change(m("20.50"), m("18.30")), "+12%");
        assert_eq!(change(m("18.30"), m("20.50")), "-11%");
        assert_eq!(change(m("1.005"), m("1")), "+1%");
        assert_eq!(change(m("1.004"), m("1")), "±0%");
        assert_eq!(change(m("3"), m("0")), "new");
        assert_eq!(change(m("0"), m("0")), "±0%");
        assert_eq!(change(m("0"), m("2")), "-100%");
    }

    #[test]
    fn team_and_summary_emails_say_what_matters() {
        let (org, rows) = report(3);
        let team = org.for_team("fraud-risk", &rows, &[]);
        let prev = PreviousDay {
            date: d().pred(),
            cost: Money::from_usd_text("0.30").unwrap(),
            requests: 1,
            unpriced_requests: 0,
        };
        let e = render(
            &team,
            d(),
            Audience::Team("fraud-risk"),
            Some(&prev),
            &[],
            262_144,
        );
        // 3 callers × (1M in × 0.06 + 0.1M out × 0.24 + 0.5M read × 0.015) = 3 × 0.0915
        assert_eq!(
            e.subject,
            "Bedrock spend 2026-11-25 — fraud-risk: $0.27 (-9% vs 2026-11-24)"
        );
        assert!(e
            .body
            .contains("Total         $0.27   (-9% vs $0.30 on 2026-11-24)"));
        assert!(e.body.contains("By app\n  scorer "));
        assert!(e.body.contains("By model\n  amazon.nova-lite-v1:0"));
        assert!(e.body.contains("assumed-role/Role/session-00000"));
        assert!(e.body.contains("Cache share   33.3% of prompt tokens"));
        assert!(e.body.contains(&format!(
            "price table as of {}",
            PriceTable::embedded().as_of
        )));
        assert!(!e.body.contains("Unattributed"), "{}", e.body);
        assert!(!e.body.contains("By team"));

        let s = render(
            &org,
            d(),
            Audience::Summary,
            None,
            &["a note".into()],
            262_144,
        );
        assert!(s
            .subject
            .starts_with("Bedrock spend 2026-11-25 — all teams: $"));
        assert!(s.subject.ends_with("+ unpriced"), "{}", s.subject);
        assert!(s.body.contains("(previous day not available)"));
        assert!(s.body.contains("By team\n"));
        assert!(s.body.contains("scorer (fraud-risk)"));
        assert!(s.body.contains(
            "Unattributed direct spend (calls that bypass application profiles): $1.10 + unpriced in 5 requests"
        ));
        assert!(s.body.contains("Unpriced models (NOT included in the totals)\n  acme.unknown-model-v1:0 — unknown model: 2 requests"));
        assert!(s.body.contains("UNPRICED      2 requests"));
        assert!(s
            .body
            .contains("Unpriced by reason\n  unknown model: 2 requests, 10 in / 5 out tokens\n"));
        assert!(s.body.contains(
            "Service tier not in the logs for 3 requests (1 model): priced at the Standard rate"
        ));
        assert!(s.body.contains("  - a note"));
    }

    #[test]
    fn long_tails_are_cut_with_a_count_and_the_body_fits() {
        let (org, rows) = report(5_000);
        let team = org.for_team("fraud-risk", &rows, &[]);
        let e = render(&team, d(), Audience::Team("fraud-risk"), None, &[], 262_144);
        assert!(e.body.contains("  … and 4,990 more: $"), "{}", e.body);
        assert!(e.body.len() <= 262_144);
        // A tiny budget: lists shrink, then the text is cut — never an error, never over budget.
        for max in [2_000, 900, 300, 50, 0] {
            let e = render(&team, d(), Audience::Team("fraud-risk"), None, &[], max);
            assert!(e.body.len() <= max, "{max}: {}", e.body.len());
        }
        let small = render(&team, d(), Audience::Team("fraud-risk"), None, &[], 1_500);
        assert!(small.body.contains("Total "));
        let cutting = render(&team, d(), Audience::Team("fraud-risk"), None, &[], 400);
        assert!(cutting
            .body
            .ends_with("[truncated to fit the message size limit]\n"));
    }

    /// No line of an email starts with what a forged value carried after its line break.
    fn assert_no_forged_line(text: &str) {
        for line in text.lines() {
            assert!(
                !line.trim_start().starts_with("Charts:"),
                "forged line {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn forged_values_cannot_add_lines() {
        let forged = |what: &str| format!("{what}\nCharts: https://evil.example/{what}\r\n");
        let arn = "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1";
        let profiles = ProfileMap::new([Profile {
            arn: arn.into(),
            id: "p1".into(),
            name: "scorer".into(),
            model_arns: vec![
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
            ],
            tags: [
                ("app".into(), forged("app")),
                ("team".into(), forged("team")),
            ]
            .into(),
        }]);
        let mut r = Rollup::default();
        for model in [arn.to_string(), forged("acme.model")] {
            r.add_row(
                UsageKey {
                    model_id: model,
                    region: "us-east-1".into(),
                    caller: forged("arn:aws:sts::1:assumed-role/Role/s"),
                    metadata: vec![forged("tenant")],
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests: 1,
                    errors: 0,
                    tokens: Tokens {
                        input: 1_000,
                        ..Default::default()
                    },
                },
            );
        }
        let prices = PriceTable::embedded();
        let keys = vec![forged("tenant-key")];
        let rows = price_rows(&r.rows, &profiles, &prices, &AttributionConfig::default());
        let org = Report::build(&rows, Some(d()), prices.as_of, &keys, 0);
        let team = org.for_team(&forged("team"), &rows, &keys);
        assert_eq!(team.totals.requests, 1);
        let notes = vec![forged("note")];
        for e in [
            render(&org, d(), Audience::Summary, None, &notes, 262_144),
            render(
                &team,
                d(),
                Audience::Team(&forged("team")),
                None,
                &[],
                262_144,
            ),
        ] {
            assert_no_forged_line(&e.body);
            assert!(!e.subject.contains(['\n', '\r']), "{}", e.subject);
            assert!(
                e.body.contains("\\nCharts: https://evil.example/"),
                "{}",
                e.body
            );
        }
    }

    #[test]
    fn long_labels_are_cut_on_their_line() {
        let (org, rows) = report(1);
        let mut team = org.for_team("fraud-risk", &rows, &[]);
        team.by_app[0].0 .0 = "a".repeat(200);
        let e = render(&team, d(), Audience::Team("fraud-risk"), None, &[], 262_144);
        assert!(
            e.body
                .contains(&format!("  {}… ", "a".repeat(LABEL_WIDTH - 1))),
            "{}",
            e.body
        );
        assert!(!e.body.contains("[truncated"), "{}", e.body);
    }
}

//! Rendering a detector [`Alert`] into a notification: a subject under 100 characters, a plain-text
//! body a person can act on in ten seconds, and message attributes (`team`, `app`, `severity`,
//! `alert_type`) for SNS subscription filter policies. Pure; no prompt or response text exists in an
//! [`Alert`], so none can reach a message.
//!
//! Subjects:
//! - `Bedrock runaway: ops-agent (platform) $41.20 in 15 min`
//! - `Bedrock runaway: ops-agent (platform) 812 requests in 15 min` (when only the request count crossed)
//! - `Bedrock runaway escalating: ops-agent (platform) $82.40 in 15 min`
//! - `Bedrock runaway resolved: ops-agent (platform)`
//!
//! Every value in an [`Alert`] (app, team, caller, models, profile ARNs, the id built from them) comes
//! from tags and log records, so it is attacker-written: subject, body and attributes are rendered
//! from a copy whose values went through [`clean_line`], and none can forge a line of the message.

use std::borrow::Cow;

use crate::live::detector::{Alert, AlertKind};
use crate::ports::notify::{Notification, MAX_SUBJECT_CHARS};
use crate::pricing::money::Money;
use crate::text::{clean_line, cut};
use crate::time::Timestamp;

/// Where the records live, for the Logs Insights query in the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertContext {
    /// The invocation log group (`LOG_GROUP_NAME`); the query is still shown without it.
    pub log_group: Option<String>,
}

pub fn severity(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Runaway => "high",
        AlertKind::Escalation => "critical",
        AlertKind::Resolved => "info",
    }
}

fn cost_crossed(a: &Alert) -> bool {
    a.window_cost > a.threshold_cost
}

fn requests_crossed(a: &Alert) -> bool {
    a.window_requests > a.threshold_requests
}

/// What the window holds, as the subject shows it: the spend, or the request count when only the
/// request threshold was crossed.
fn headline_amount(a: &Alert) -> String {
    if requests_crossed(a) && !cost_crossed(a) {
        format!("{} requests", crate::text::thousands(a.window_requests))
    } else {
        a.window_cost.to_string()
    }
}

/// The alert with every attacker-written value cleaned for one line of text ([`clean_line`]).
fn cleaned(a: &Alert) -> Alert {
    let c = |s: &String| clean_line(s).into_owned();
    Alert {
        app: c(&a.app),
        team: c(&a.team),
        caller: a.caller.as_ref().map(c),
        models: a.models.iter().map(c).collect(),
        profile_arns: a.profile_arns.iter().map(c).collect(),
        id: c(&a.id),
        ..a.clone()
    }
}

pub fn subject(a: &Alert) -> String {
    let a = &cleaned(a);
    let (lead, tail) = match a.kind {
        AlertKind::Runaway => (
            "Bedrock runaway: ",
            format!(" {} in {} min", headline_amount(a), a.window_minutes),
        ),
        AlertKind::Escalation => (
            "Bedrock runaway escalating: ",
            format!(" {} in {} min", headline_amount(a), a.window_minutes),
        ),
        AlertKind::Resolved => ("Bedrock runaway resolved: ", String::new()),
    };
    let (app, team) = (&a.app, &a.team);
    let fixed = lead.chars().count() + tail.chars().count() + " ()".len();
    let room = MAX_SUBJECT_CHARS.saturating_sub(fixed);
    // Share the room: the team gets at most a third, the app the rest.
    let team_max = (room / 3).max(8).min(team.chars().count());
    let app_max = room.saturating_sub(team_max);
    let s = format!(
        "{lead}{} ({}){tail}",
        cut(app, app_max),
        cut(team, team_max)
    );
    cut(&s, MAX_SUBJECT_CHARS)
}

fn query_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn regex_literal(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if matches!(
            c,
            '.' | '/'
                | '\\'
                | '+'
                | '*'
                | '?'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '|'
                | '^'
                | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A CloudWatch Logs Insights query listing the alert's records (metadata fields only, never bodies).
fn insights_query(a: &Alert) -> String {
    let mut filters = Vec::new();
    match a.profile_arns.len() {
        0 => {
            // Calls without an application profile: match the models (the logged modelId may carry a
            // geographic prefix or be an ARN, hence a pattern).
            if !a.models.is_empty() {
                let alts: Vec<String> = a.models.iter().map(|m| regex_literal(m)).collect();
                filters.push(format!("modelId like /{}/", alts.join("|")));
            }
        }
        1 => filters.push(format!("modelId = {}", query_string(&a.profile_arns[0]))),
        _ => filters.push(format!(
            "modelId in [{}]",
            a.profile_arns
                .iter()
                .map(|p| query_string(p))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    if let Some(c) = &a.caller {
        if crate::attribution::principal::is_role_principal(c) {
            // A role's principal: its calls are logged under every session name of the role.
            filters.push(format!(
                "identity.arn like {}",
                query_string(&format!("{c}/"))
            ));
        } else {
            filters.push(format!("identity.arn = {}", query_string(c)));
        }
    }
    let mut q = String::from(
        "fields @timestamp, requestId, identity.arn, modelId, input.inputTokenCount, \
         input.cacheReadInputTokenCount, input.cacheWriteInputTokenCount, output.outputTokenCount, errorCode",
    );
    if !filters.is_empty() {
        q.push_str("\n| filter ");
        q.push_str(&filters.join(" and "));
    }
    q.push_str("\n| sort @timestamp desc\n| limit 1000");
    q
}

fn minutes_later(t: Timestamp, minutes: u32) -> Timestamp {
    Timestamp(t.0 + i64::from(minutes) * 60)
}

fn tokens_line(a: &Alert) -> String {
    let t = &a.tokens;
    let total = t
        .input
        .saturating_add(t.output)
        .saturating_add(t.cache_read)
        .saturating_add(t.cache_write);
    format!(
        "{} (input {}, output {}, cache read {}, cache write {})",
        crate::text::thousands(total),
        crate::text::thousands(t.input),
        crate::text::thousands(t.output),
        crate::text::thousands(t.cache_read),
        crate::text::thousands(t.cache_write)
    )
}

fn crossed_line(a: &Alert) -> String {
    match (cost_crossed(a), requests_crossed(a)) {
        (true, true) => "spend and request count".into(),
        (true, false) => "spend".into(),
        (false, true) => "request count".into(),
        (false, false) => "none (window back under the thresholds)".into(),
    }
}

pub fn body(a: &Alert, ctx: &AlertContext) -> String {
    let a = &cleaned(a);
    let who = match &a.caller {
        Some(_) => "one caller of",
        None => "all callers of",
    };
    let window_end = minutes_later(a.window_start, a.window_minutes);
    let mut b = String::with_capacity(2048);
    let lead = match a.kind {
        AlertKind::Runaway => format!(
            "RUNAWAY: {who} {} (team {}) made {} requests costing an estimated {} in the last {} minutes — over the threshold of {} or {} requests.",
            a.app, a.team, crate::text::thousands(a.window_requests), a.window_cost, a.window_minutes,
            a.threshold_cost, crate::text::thousands(a.threshold_requests)
        ),
        AlertKind::Escalation => format!(
            "ESCALATING: the runaway of {who} {} (team {}) keeps growing: {} in the last {} minutes, up from {} at the previous alert.",
            a.app, a.team, a.window_cost, a.window_minutes,
            a.previous_alert_cost.unwrap_or(Money::ZERO)
        ),
        AlertKind::Resolved => format!(
            "RESOLVED: {who} {} (team {}) has stayed under the thresholds for a full {}-minute window. The incident that started at {} is over.",
            a.app, a.team, a.window_minutes, a.incident_started
        ),
    };
    b.push_str(&lead);
    b.push_str("\n\n");
    let mut row = |k: &str, v: &str| {
        b.push_str(&format!("{k:<13}{v}\n"));
    };
    row("App:", &a.app);
    row("Team:", &a.team);
    row(
        "Caller:",
        a.caller
            .as_deref()
            .unwrap_or("all callers (app-level alert)"),
    );
    row(
        "Models:",
        &if a.models.is_empty() {
            "-".to_string()
        } else {
            a.models.join(", ")
        },
    );
    row(
        "Profile ARN:",
        &if a.profile_arns.is_empty() {
            "- (no application inference profile)".to_string()
        } else {
            a.profile_arns.join(", ")
        },
    );
    row(
        "Window:",
        &format!(
            "{} min, {} to {}",
            a.window_minutes, a.window_start, window_end
        ),
    );
    let unpriced = if a.window_unpriced > 0 {
        format!(
            " ({} unpriced, not in the cost)",
            crate::text::thousands(a.window_unpriced)
        )
    } else {
        String::new()
    };
    row(
        "Requests:",
        &format!("{}{unpriced}", crate::text::thousands(a.window_requests)),
    );
    row("Tokens:", &tokens_line(a));
    row("Est. cost:", &a.window_cost.to_string());
    row(
        "Threshold:",
        &format!(
            "{} or {} requests per {} min (crossed: {})",
            a.threshold_cost,
            crate::text::thousands(a.threshold_requests),
            a.window_minutes,
            crossed_line(a)
        ),
    );
    row("Started at:", &a.incident_started.to_string());
    row("Alert at:", &a.at.to_string());
    row("Alert id:", &a.id);
    b.push('\n');
    if a.kind != AlertKind::Resolved {
        b.push_str(
            "Act: check the caller's loop or retry logic; to stop spend at once, deny bedrock:InvokeModel* \
             on the profile ARN for the caller's role (bedrock-meter does it for apps tagged meter:on-runaway=contain). \
             Another alert comes only if the window's spend doubles; \
             a short \"resolved\" message follows after a full quiet window.\n\n",
        );
    }
    let group = ctx
        .log_group
        .as_deref()
        .filter(|g| !g.is_empty())
        .map_or(Cow::Borrowed("<your invocation log group>"), clean_line);
    b.push_str(&format!(
        "Records (CloudWatch Logs Insights, log group {group}, time range {} to {}):\n\n",
        minutes_later(a.window_start, 0).min(a.incident_started),
        if a.kind == AlertKind::Resolved {
            a.at.to_string()
        } else {
            "now".to_string()
        }
    ));
    b.push_str(&insights_query(a));
    b.push_str(
        "\n\nEstimated cost from the bedrock-meter price table; the bill is authoritative.\n",
    );
    b
}

pub fn attributes(a: &Alert) -> Vec<(String, String)> {
    let a = &cleaned(a);
    let nonempty = |s: &str| {
        if s.is_empty() {
            "none".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        ("team".into(), nonempty(&a.team)),
        ("app".into(), nonempty(&a.app)),
        ("severity".into(), severity(a.kind).into()),
        ("alert_type".into(), a.kind.as_str().into()),
        // Stable per transition: a consumer can drop the rare second delivery (docs/detection.md).
        ("alert_id".into(), nonempty(&a.id)),
    ]
}

pub fn render(a: &Alert, ctx: &AlertContext) -> Notification {
    Notification {
        subject: subject(a),
        body: body(a, ctx),
        attributes: attributes(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record::Tokens;

    fn usd(s: &str) -> Money {
        Money::from_usd_text(s).unwrap()
    }

    fn alert() -> Alert {
        Alert {
            kind: AlertKind::Runaway,
            app: "ops-agent".into(),
            team: "platform".into(),
            caller: Some("arn:aws:sts::111122223333:assumed-role/OpsAgent/worker-1".into()),
            models: vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".into()],
            profile_arns: vec![
                "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123"
                    .into(),
            ],
            window_minutes: 15,
            at: Timestamp::parse_iso8601("2026-11-25T02:00:30Z").unwrap(),
            window_start: Timestamp::parse_iso8601("2026-11-25T01:45:00Z").unwrap(),
            window_cost: usd("41.2"),
            window_requests: 320,
            window_unpriced: 0,
            tokens: Tokens {
                input: 1000,
                output: 2000,
                cache_read: 3_000_000,
                cache_write: 4000,
                cache_write_1h: 0,
            },
            threshold_cost: usd("10"),
            threshold_requests: 600,
            incident_started: Timestamp::parse_iso8601("2026-11-25T02:00:30Z").unwrap(),
            previous_alert_cost: None,
            profile: None,
            callers: vec![],
            id: "x".into(),
        }
    }

    #[test]
    fn subjects() {
        let a = alert();
        assert_eq!(
            subject(&a),
            "Bedrock runaway: ops-agent (platform) $41.20 in 15 min"
        );
        let mut r = a.clone();
        r.window_cost = usd("2");
        r.window_requests = 1812;
        assert_eq!(
            subject(&r),
            "Bedrock runaway: ops-agent (platform) 1,812 requests in 15 min"
        );
        let mut e = a.clone();
        e.kind = AlertKind::Escalation;
        e.window_cost = usd("82.4");
        assert_eq!(
            subject(&e),
            "Bedrock runaway escalating: ops-agent (platform) $82.40 in 15 min"
        );
        let mut z = a.clone();
        z.kind = AlertKind::Resolved;
        assert_eq!(
            subject(&z),
            "Bedrock runaway resolved: ops-agent (platform)"
        );
        let mut long = a.clone();
        long.app = "a".repeat(200);
        long.team = "t\n".repeat(100);
        let s = subject(&long);
        assert!(s.chars().count() <= MAX_SUBJECT_CHARS, "{s}");
        assert!(s.ends_with("$41.20 in 15 min"), "{s}");
        assert!(!s.contains('\n'));
    }

    #[test]
    fn body_has_what_a_person_needs() {
        let a = alert();
        let b = body(
            &a,
            &AlertContext {
                log_group: Some("/aws/bedrock/modelinvocations".into()),
            },
        );
        for want in [
            "App:         ops-agent",
            "Team:        platform",
            "Caller:      arn:aws:sts::111122223333:assumed-role/OpsAgent/worker-1",
            "Models:      anthropic.claude-sonnet-4-5-20250929-v1:0",
            "Profile ARN: arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123",
            "Window:      15 min, 2026-11-25T01:45:00Z to 2026-11-25T02:00:00Z",
            "Requests:    320",
            "Tokens:      3,007,000 (input 1,000, output 2,000, cache read 3,000,000, cache write 4,000)",
            "Est. cost:   $41.20",
            "Threshold:   $10.00 or 600 requests per 15 min (crossed: spend)",
            "Started at:  2026-11-25T02:00:30Z",
            "log group /aws/bedrock/modelinvocations",
            "| filter modelId = \"arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123\" and identity.arn = \"arn:aws:sts::111122223333:assumed-role/OpsAgent/worker-1\"",
        ] {
            assert!(b.contains(want), "missing {want:?} in\n{b}");
        }
        assert!(!b.contains("inputBodyJson"));
        let attrs = attributes(&a);
        assert_eq!(
            attrs,
            vec![
                ("team".into(), "platform".into()),
                ("app".into(), "ops-agent".into()),
                ("severity".into(), "high".into()),
                ("alert_type".into(), "runaway".into()),
                ("alert_id".into(), a.id.clone()),
            ]
        );
    }

    #[test]
    fn queries_for_app_level_and_unattributed() {
        let mut a = alert();
        a.caller = None;
        a.profile_arns = vec![];
        a.models = vec!["amazon.nova-lite-v1:0".into()];
        let q = insights_query(&a);
        assert!(
            q.contains("| filter modelId like /amazon\\.nova-lite-v1:0/"),
            "{q}"
        );
        a.profile_arns = vec!["p1".into(), "p2".into()];
        assert!(insights_query(&a).contains("modelId in [\"p1\", \"p2\"]"));
        let r = render(&a, &AlertContext::default());
        assert!(r.body.contains("all callers (app-level alert)"));
        assert!(r.body.contains("<your invocation log group>"));
    }

    #[test]
    fn forged_values_cannot_add_lines() {
        let forged = |what: &str| format!("{what}\nCharts: https://evil.example/{what}\u{2028}x");
        let mut a = alert();
        a.app = forged("app");
        a.team = forged("team");
        a.caller = Some(forged("arn:aws:sts::1:assumed-role/R/s"));
        a.models = vec![forged("model")];
        a.profile_arns = vec![forged(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/p",
        )];
        a.id = forged("C#app");
        for kind in [
            AlertKind::Runaway,
            AlertKind::Escalation,
            AlertKind::Resolved,
        ] {
            a.kind = kind;
            let r = render(
                &a,
                &AlertContext {
                    log_group: Some(forged("/aws/group")),
                },
            );
            for line in r.body.lines() {
                assert!(!line.starts_with("Charts:"), "{line:?} in\n{}", r.body);
            }
            assert!(!r.body.contains('\u{2028}'));
            assert!(r
                .body
                .contains("App:         app\\nCharts: https://evil.example/app\\u{2028}x\n"));
            assert!(!r.subject.contains(['\n', '\u{2028}']), "{}", r.subject);
            for (_, v) in &r.attributes {
                assert!(!v.contains(['\n', '\u{2028}']), "{v:?}");
            }
        }
    }

    #[test]
    fn containment_lines_stay_one_line_each() {
        use crate::live::containment::{
            add_to_alert, Applied, Containment, IamError, IamPrincipal,
        };
        let a = alert();
        let c = Containment {
            principal: IamPrincipal::parse("role/OpsAgent").unwrap(),
            caller: a.caller.clone().unwrap(),
            app: a.app.clone(),
            team: a.team.clone(),
            profile: "arn:aws:bedrock:us-east-1:1:application-inference-profile/p\nCharts: x".into(),
            policy_name: "BedrockMeterContain-p".into(),
            resources: vec!["arn:aws:bedrock:us-east-1:1:application-inference-profile/p\nCharts: https://evil.example/r".into()],
            at: a.at,
            until: a.at,
        };
        for (result, release) in [
            (Ok(true), false),
            (Ok(true), true),
            (
                Err(IamError {
                    operation: "PutRolePolicy",
                    code: Some("MalformedPolicyDocument".into()),
                    message: "bad\nCharts: https://evil.example/e".into(),
                }),
                false,
            ),
        ] {
            let mut r = render(&a, &AlertContext::default());
            add_to_alert(
                &mut r,
                &[Applied {
                    containment: c.clone(),
                    result,
                    dry_run: false,
                }],
                release,
            );
            for line in r.body.lines() {
                assert!(!line.starts_with("Charts:"), "{line:?} in\n{}", r.body);
            }
            assert!(
                r.body.contains("\\nCharts: https://evil.example/r"),
                "{}",
                r.body
            );
        }
    }
}

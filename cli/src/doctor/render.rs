//! The checklist printed: a table for people (`FIRST:` headline, one line per check, details and fix
//! under failures and warnings, the verdict) or one JSON document for automation.

use super::check::{Check, Status};
use super::facts::Names;

pub(super) fn render_table(region: &str, headline: Option<&str>, checks: &[Check]) -> String {
    use std::fmt::Write as _;
    let width = checks.iter().map(|c| c.title.len()).max().unwrap_or(0);
    let mut out = format!("bedrock-meter doctor: {region}\n\n");
    if let Some(h) = headline {
        let _ = writeln!(out, "FIRST: {h}\n");
    }
    for c in checks {
        let _ = writeln!(
            out,
            "{}  {:width$}  {}",
            c.status.label(),
            c.title,
            c.summary
        );
        for d in &c.details {
            let _ = writeln!(out, "      {:width$}  - {d}", "");
        }
        if let Some(fix) = &c.fix {
            if c.status >= Status::Warn {
                let _ = writeln!(out, "      {:width$}  fix: {fix}", "");
            }
        }
    }
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    let _ = writeln!(
        out,
        "\n{}",
        match (fails, warns) {
            (0, 0) => "Verdict: healthy.".to_string(),
            (0, w) => format!("Verdict: working, {w} warning(s)."),
            (f, w) => format!("Verdict: {f} check(s) failed, {w} warning(s)."),
        }
    );
    out
}

pub(super) fn render_json(
    region: &str,
    headline: Option<&str>,
    names: &Names,
    checks: &[Check],
) -> String {
    serde_json::json!({
        "region": region,
        "ok": !checks.iter().any(|c| c.status == Status::Fail),
        "headline": headline,
        "names": names,
        "checks": checks,
    })
    .to_string()
}

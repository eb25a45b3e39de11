//! The blind spot, in words: mantle traffic (`ports::mantle`) as "not in invocation logs: N inferences,
//! M tokens, about $X" per model — for `doctor`, the daily email and the HTML page. No caller: the
//! `AWS/BedrockMantle` metrics carry none. The dollars are "about": on-demand standard-tier rates of
//! the model in the Region, applied to CloudWatch's billable token sums (no cache split, no tier, no
//! long-context band: the sums do not say how long each prompt was);
//! a model without a price says so instead of a guess.

use crate::attribution::profiles::NoProfiles;
use crate::attribution::resolution::{resolve, AttributionConfig};
use crate::ports::mantle::MantleUsage;
use crate::pricing::money::Money;
use crate::pricing::prices::{PriceTable, Unpriced};
use crate::records::record::Tokens;
use crate::text::count;

/// One model's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MantleLine {
    pub model: String,
    pub inferences: u64,
    pub tokens: u64,
    pub cost: Result<Money, Unpriced>,
    pub projects: Vec<String>,
}

/// Prices each model's sums with `prices` in `region`; models with no inferences and no tokens are
/// left out; costliest first.
pub fn lines(usage: &[MantleUsage], prices: &PriceTable, region: Option<&str>) -> Vec<MantleLine> {
    let cfg = AttributionConfig::default();
    let mut out: Vec<MantleLine> = usage
        .iter()
        .filter(|u| u.inferences > 0 || u.input_tokens > 0 || u.output_tokens > 0)
        .map(|u| {
            let res = resolve(&u.model, &NoProfiles, &cfg);
            let tokens = Tokens {
                input: u.input_tokens,
                output: u.output_tokens,
                ..Tokens::default()
            };
            // Band 0: these are sums over many requests, whose prompt sizes the metrics do not give
            // (a long-context rate would need each request's prompt).
            let cost = prices
                .rates_of(&res, region, 0, "default")
                .and_then(|r| r.cost(&tokens));
            MantleLine {
                model: u.model.clone(),
                inferences: u.inferences,
                tokens: u.input_tokens.saturating_add(u.output_tokens),
                cost,
                projects: u.projects.clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let c = |l: &MantleLine| l.cost.as_ref().copied().unwrap_or(Money::ZERO);
        c(b).cmp(&c(a)).then_with(|| a.model.cmp(&b.model))
    });
    out
}

/// `not in invocation logs: 1,200 inferences, 3,400,000 tokens, about $12.34` (or `no price: unknown
/// model`).
pub fn describe(l: &MantleLine) -> String {
    let money = match &l.cost {
        Ok(m) => format!("about {m}"),
        Err(e) => format!("no price ({})", e.reason()),
    };
    format!(
        "not in invocation logs: {}, {}, {money}",
        count(l.inferences, "inference"),
        count(l.tokens, "token")
    )
}

/// The lines' total priced dollars (unpriced lines add nothing).
pub fn total(lines: &[MantleLine]) -> Money {
    lines
        .iter()
        .filter_map(|l| l.cost.as_ref().ok())
        .copied()
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(model: &str, n: u64, i: u64, o: u64) -> MantleUsage {
        MantleUsage {
            model: model.into(),
            inferences: n,
            input_tokens: i,
            output_tokens: o,
            projects: vec![],
        }
    }

    #[test]
    fn priced_per_model_costliest_first_and_unknown_models_unpriced() {
        let prices = PriceTable::embedded();
        let l = lines(
            &[
                u("amazon.nova-lite-v1:0", 10, 1_000_000, 100_000),
                u(
                    "anthropic.claude-sonnet-4-5-20250929-v1:0",
                    3,
                    1_000_000,
                    1_000_000,
                ),
                u("made.up-model", 5, 10, 10),
                u("idle.model", 0, 0, 0),
            ],
            &prices,
            Some("us-east-1"),
        );
        assert_eq!(l.len(), 3, "idle models are left out");
        assert_eq!(l[0].model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
        // Sonnet 4.5 in-Region 3.30 + 16.50 per 1M (bedrock-facts §5).
        assert_eq!(l[0].cost, Ok(Money::from_usd_text("19.80").unwrap()));
        // Nova Lite 0.06 + 0.1 × 0.24.
        assert_eq!(l[1].cost, Ok(Money::from_usd_text("0.084").unwrap()));
        assert_eq!(l[2].cost, Err(Unpriced::UnknownModel));
        assert_eq!(
            describe(&l[0]),
            "not in invocation logs: 3 inferences, 2,000,000 tokens, about $19.80"
        );
        assert_eq!(
            describe(&l[2]),
            "not in invocation logs: 5 inferences, 20 tokens, no price (unknown model)"
        );
        assert_eq!(total(&l), Money::from_usd_text("19.884").unwrap());
    }

    #[test]
    fn the_email_and_the_page_carry_the_lines() {
        use crate::ports::notify::Notification;
        let prices = PriceTable::embedded();
        let l = lines(
            &[u(
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                3,
                1_000_000,
                1_000_000,
            )],
            &prices,
            Some("us-east-1"),
        );
        let mut n = Notification {
            subject: "s".into(),
            body: "Total $1.00\n\nPrices: table as of 2026-11-01.\n".into(),
            attributes: vec![],
        };
        crate::daily::email::add_mantle(&mut n, &l, 10_000);
        assert_eq!(
            n.body,
            "Total $1.00\n\nNot in invocation logs (bedrock-mantle endpoint; no caller, not in the totals above)\n  anthropic.claude-sonnet-4-5-20250929-v1:0: not in invocation logs: 3 inferences, 2,000,000 tokens, about $19.80\n\nPrices: table as of 2026-11-01.\n"
        );
        // Within the size limit: the section is left out rather than cutting the email.
        let mut small = Notification {
            subject: "s".into(),
            body: "Total\n".into(),
            attributes: vec![],
        };
        crate::daily::email::add_mantle(&mut small, &l, 20);
        assert_eq!(small.body, "Total\n");
        let html = "<main><h1>x</h1>\n<footer>f</footer>\n</main>";
        let page = crate::daily::report_html::add_mantle(html, &l);
        assert!(page.contains("<section id=\"mantle\">"));
        assert!(page.find("id=\"mantle\"").unwrap() < page.find("<footer>").unwrap());
        assert!(
            page.contains("not in invocation logs: 3 inferences, 2,000,000 tokens, about $19.80")
        );
        assert_eq!(crate::daily::report_html::add_mantle(html, &[]), html);
    }
}

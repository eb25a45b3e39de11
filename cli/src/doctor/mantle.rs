//! What the meter cannot see: traffic through the OpenAI-compatible `bedrock-mantle` endpoint, which
//! invocation logging never records. Read from the `AWS/BedrockMantle` CloudWatch metrics over the
//! `--recent` window and shown per model as "not in invocation logs: N inferences, M tokens, about $X"
//! (no caller: those metrics carry none).

use bedrock_meter_core::daily::mantle::{describe, lines, total};
use bedrock_meter_core::ports::mantle::MantleUsage;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::text::count;

use super::check::{could_not, Check, Status};

const ID: (&str, &str) = (
    "mantle",
    "Traffic invocation logs cannot see (bedrock-mantle)",
);

/// A warning when the mantle endpoint served anything in the window (the reports leave it out). When it
/// served nothing: a pass if invocation logging is on (`logging_on`: the logs then see all the traffic),
/// else a skip (there are no logs to be complete).
pub(super) fn check(
    usage: &Result<Vec<MantleUsage>, String>,
    prices: &PriceTable,
    region: &str,
    window: &str,
    logging_on: bool,
) -> Check {
    let usage = match usage {
        Ok(u) => u,
        Err(e) => {
            return could_not(
                ID.0,
                ID.1,
                e,
                "cloudwatch:ListMetrics and cloudwatch:GetMetricData",
            )
        }
    };
    let l = lines(usage, prices, Some(region));
    if l.is_empty() {
        return Check::new(
            ID.0,
            ID.1,
            if logging_on { Status::Pass } else { Status::Skip },
            format!("no bedrock-mantle inferences in the last {window} (AWS/BedrockMantle): no traffic outside invocation logs"),
        );
    }
    let n: u64 = l.iter().map(|x| x.inferences).sum();
    Check::new(
        ID.0,
        ID.1,
        Status::Warn,
        format!(
            "{} through bedrock-mantle in the last {window} ({}, about {}) are not in invocation logs: no caller, no app, not in the reports",
            count(n, "inference"),
            count(l.len() as u64, "model"),
            total(&l)
        ),
    )
    .details(
        l.iter()
            .map(|x| {
                let projects = if x.projects.is_empty() {
                    String::new()
                } else {
                    format!(" (projects: {})", x.projects.join(", "))
                };
                format!("{}: {}{projects}", x.model, describe(x))
            })
            .collect(),
    )
    .fix("attribute it with bedrock-mantle projects (one per team or app) and CloudTrail (eventSource bedrock-mantle.amazonaws.com), or move the callers to Converse/InvokeModel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mantle_traffic_is_a_warning_with_a_line_per_model() {
        let prices = PriceTable::embedded();
        let usage = vec![
            MantleUsage {
                model: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
                inferences: 3,
                input_tokens: 1_000_000,
                output_tokens: 1_000_000,
                projects: vec!["proj_a".into()],
            },
            MantleUsage {
                model: "quiet.model".into(),
                ..MantleUsage::default()
            },
        ];
        let c = check(&Ok(usage), &prices, "us-east-1", "24h", true);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.summary.starts_with(
                "3 inferences through bedrock-mantle in the last 24h (1 model, about $19.80)"
            ),
            "{}",
            c.summary
        );
        assert_eq!(
            c.details,
            vec!["anthropic.claude-sonnet-4-5-20250929-v1:0: not in invocation logs: 3 inferences, 2,000,000 tokens, about $19.80 (projects: proj_a)"]
        );
        let none = check(&Ok(vec![]), &prices, "us-east-1", "24h", true);
        assert_eq!(none.status, Status::Pass);
        let no_logs = check(&Ok(vec![]), &prices, "us-east-1", "24h", false);
        assert_eq!(no_logs.status, Status::Skip);
        let denied = check(
            &Err("AccessDenied: no".into()),
            &prices,
            "us-east-1",
            "24h",
            true,
        );
        assert_eq!(denied.status, Status::Fail);
        assert!(denied.fix.unwrap().contains("cloudwatch:GetMetricData"));
    }
}

//! Checks of the live path's input: the invocation log group exists, and our subscription filter
//! sends every record in it to the ingest Lambda.

use super::check::{could_not, Check, Status};
use super::facts::Facts;

const GROUP: (&str, &str) = ("log-group", "Invocation log group");
const SUB: (&str, &str) = ("subscription", "Live-path subscription filter");

/// The log group exists.
pub(super) fn log_group(f: &Facts) -> Check {
    let n = &f.names;
    match &f.log_group_exists {
        Err(e) => could_not(GROUP.0, GROUP.1, e, "logs:DescribeLogGroups"),
        Ok(true) => Check::new(GROUP.0, GROUP.1, Status::Pass, format!("{} exists", n.log_group)),
        Ok(false) => Check::new(GROUP.0, GROUP.1, Status::Fail, format!("{} does not exist in {}", n.log_group, f.region))
            .fix("deploy the stack (it creates the group), or pass --log-group / --stack-outputs naming the group logging writes to"),
    }
}

/// A subscription filter on the group sends every record to the ingest Lambda.
pub(super) fn subscription(f: &Facts) -> Check {
    let n = &f.names;
    let sub_fix = format!(
        "redeploy the stack (InvocationLogSubscription sends {} to the ingest Lambda); a log group takes at most 2 subscription filters",
        n.log_group
    );
    match (&f.filters, f.log_group_found()) {
        (_, false) => Check::new(SUB.0, SUB.1, Status::Skip, "no log group to check".into()),
        (Err(e), true) => could_not(SUB.0, SUB.1, e, "logs:DescribeSubscriptionFilters"),
        (Ok(filters), true) => {
            let ours = filters.iter().find(|x| {
                x.destination_arn.contains(":lambda:")
                    && x.destination_arn.contains(&n.ingest_function)
            });
            match ours {
                Some(x) if x.pattern.trim().is_empty() => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Pass,
                    format!("{} sends every record to {}", x.name, x.destination_arn),
                ),
                Some(x) => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Warn,
                    format!(
                        "{} sends to {} but only records matching {:?}",
                        x.name, x.destination_arn, x.pattern
                    ),
                )
                .fix("set the filter pattern to \"\" so every record reaches the live path"),
                None if filters.is_empty() => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Fail,
                    format!(
                        "{} has no subscription filter: no live metrics, no runaway alerts",
                        n.log_group
                    ),
                )
                .fix(sub_fix),
                None => Check::new(
                    SUB.0,
                    SUB.1,
                    Status::Fail,
                    format!(
                        "none of the {} filters on {} sends to a Lambda named like {:?}",
                        filters.len(),
                        n.log_group,
                        n.ingest_function
                    ),
                )
                .details(
                    filters
                        .iter()
                        .map(|x| format!("{} -> {}", x.name, x.destination_arn))
                        .collect(),
                )
                .fix(format!(
                    "{sub_fix}; or pass --ingest-function with the name of your ingest Lambda"
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bedrock_meter_core::ports::operator::SubscriptionFilter;

    use super::super::fixtures::{healthy, run_checks, status};
    use super::*;

    #[test]
    fn subscription_missing_or_foreign() {
        let mut f = healthy();
        f.filters = Ok(vec![]);
        assert_eq!(status(&run_checks(&f), "subscription"), Status::Fail);
        f.filters = Ok(vec![SubscriptionFilter {
            name: "x".into(),
            destination_arn: "arn:aws:lambda:us-east-1:1:function:other".into(),
            pattern: String::new(),
        }]);
        let c = run_checks(&f);
        assert_eq!(status(&c, "subscription"), Status::Fail);
        f.filters = Ok(vec![SubscriptionFilter {
            name: "x".into(),
            destination_arn: "arn:aws:lambda:us-east-1:1:function:s-IngestFunction-1".into(),
            pattern: "ERROR".into(),
        }]);
        assert_eq!(status(&run_checks(&f), "subscription"), Status::Warn);
        f.log_group_exists = Ok(false);
        let c = run_checks(&f);
        assert_eq!(
            (
                status(&c, "log-group"),
                status(&c, "subscription"),
                status(&c, "bypass")
            ),
            (Status::Fail, Status::Skip, Status::Skip)
        );
    }
}

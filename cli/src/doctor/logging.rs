//! Checks of Bedrock's invocation-logging configuration (the start of the chain): it is configured,
//! delivers to the log group and bucket the stack reads, with large data to S3; and whether text is
//! delivered, which decides how 1-hour cache writes are priced.

use super::check::{could_not, s3_url, Check, Status};
use super::facts::Facts;

const LOGGING: (&str, &str) = ("logging", "Bedrock invocation logging");
const TEXT: (&str, &str) = ("text-delivery", "Text data delivery");

/// Logging configured and delivering where the stack reads; then text delivery, when it is.
pub(super) fn checks(f: &Facts) -> Vec<Check> {
    let n = &f.names;
    let mut out = Vec::new();
    let setup_fix = format!(
        "deploy the stack with ManageInvocationLogging=true (docs/deploy.md), or in the Bedrock console \
         (Settings > Model invocation logging) deliver to CloudWatch Logs {} and S3 {} with text on and \
         large data to S3",
        n.log_group,
        n.bucket
            .as_deref()
            .map_or_else(|| "<bucket>/<prefix>".to_string(), |b| s3_url(b, Some(&n.prefix)))
    );
    out.push(match &f.logging {
        Err(e) => could_not(LOGGING.0, LOGGING.1, e, "bedrock:GetModelInvocationLoggingConfiguration"),
        Ok(None) => Check::new(LOGGING.0, LOGGING.1, Status::Fail, format!("not configured in {}: Bedrock logs nothing, so nothing is metered", f.region))
            .fix(setup_fix),
        Ok(Some(c)) => {
            let mut problems = Vec::new();
            match c.log_group() {
                None => problems.push("no CloudWatch Logs delivery: live metrics and alerts see nothing".to_string()),
                Some(g) if n.log_group_explicit && g != n.log_group => problems.push(format!(
                    "logs go to the log group {g}, but the stack reads {}", n.log_group
                )),
                Some(_) => {}
            }
            match c.s3_delivery() {
                None => problems.push("no S3 delivery: the daily report and Athena see nothing".to_string()),
                Some(t) if n.bucket_explicit && Some(&t.bucket) != n.bucket.as_ref() => problems.push(format!(
                    "logs go to the bucket {}, but the stack reads {}", t.bucket, n.bucket.as_deref().unwrap_or("?")
                )),
                Some(_) => {}
            }
            if c.log_group().is_some() && c.large_data_delivery().is_none() {
                problems.push("no large-data delivery to S3: records whose bodies exceed 100 KB are not delivered to CloudWatch Logs".to_string());
            }
            let summary = format!(
                "CloudWatch Logs {}, S3 {}, text {}, large data {}",
                c.log_group().unwrap_or("off"),
                c.s3_delivery().map_or_else(|| "off".to_string(), |t| s3_url(&t.bucket, t.key_prefix())),
                if c.text_delivery() { "on" } else { "off" },
                c.large_data_delivery().map_or_else(|| "off".to_string(), |t| s3_url(&t.bucket, t.key_prefix())),
            );
            if problems.is_empty() {
                Check::new(LOGGING.0, LOGGING.1, Status::Pass, summary)
            } else {
                Check::new(LOGGING.0, LOGGING.1, Status::Fail, summary).details(problems).fix(setup_fix)
            }
        }
    });

    // Text delivery: optional (TextDataDelivery), but turning it off has a price.
    if let Ok(Some(c)) = &f.logging {
        out.push(if c.text_delivery() {
            Check::new(TEXT.0, TEXT.1, Status::Pass, "on: 1-hour cache writes are priced at their own rate (prompts and responses are kept in the invocation logs)".into())
        } else {
            Check::new(TEXT.0, TEXT.1, Status::Warn, "off: token counts are logged and metered, prompts and responses are not; 1-hour cache writes cannot be told from 5-minute ones and are priced as 5-minute (1.25x input instead of 2x), so spend on 1-hour prompt caching is under-reported".into())
                .fix("accept the under-reporting, or deploy with TextDataDelivery=true (prompts and responses are then kept in the invocation logs for their retention)")
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::process::ExitCode;

    use bedrock_meter_core::ports::logging::{CloudWatchTarget, LoggingConfig};

    use super::super::exit_code;
    use super::super::fixtures::{healthy, run_checks, status};
    use super::*;

    #[test]
    fn logging_problems_each_named() {
        let mut f = healthy();
        f.logging = Ok(None);
        let c = run_checks(&f);
        assert_eq!(status(&c, "logging"), Status::Fail);
        assert_eq!(exit_code(&c), ExitCode::from(1));
        f.logging = Ok(Some(LoggingConfig {
            cloudwatch: Some(CloudWatchTarget {
                log_group: "/other".into(),
                role_arn: "arn:aws:iam::1:role/bedrock-logging".into(),
                large_data: None,
            }),
            text: Some(false),
            ..LoggingConfig::default()
        }));
        f.names.log_group_explicit = true;
        let c = run_checks(&f);
        let l = c.iter().find(|c| c.id == "logging").unwrap();
        assert_eq!(l.status, Status::Fail);
        let all = l.details.join("\n");
        for needle in ["/other", "no S3 delivery", "large-data"] {
            assert!(all.contains(needle), "{needle}: {all}");
        }
    }

    #[test]
    fn text_delivery_off_is_a_warning_that_names_its_cost() {
        let mut f = healthy();
        assert_eq!(status(&run_checks(&f), "text-delivery"), Status::Pass);
        if let Ok(Some(c)) = &mut f.logging {
            c.text = Some(false);
        }
        let c = run_checks(&f);
        assert_eq!(status(&c, "text-delivery"), Status::Warn);
        assert_eq!(
            status(&c, "logging"),
            Status::Pass,
            "metering works without text"
        );
        let t = c.iter().find(|c| c.id == "text-delivery").unwrap();
        assert!(t.summary.contains("priced as 5-minute"), "{}", t.summary);
        assert_eq!(exit_code(&c), ExitCode::SUCCESS);
    }
}

//! Checks of the daily path's input: log objects arrive in the bucket (recently), and the Glue table
//! and the Athena workgroup the daily report queries through exist.

use std::time::Duration;

use super::check::{age, could_not, s3_url, Check, Status};
use super::facts::Facts;

const S3: (&str, &str) = ("s3-delivery", "S3 log delivery");
const TABLE: (&str, &str) = ("glue-table", "Glue table");
const WG: (&str, &str) = ("workgroup", "Athena workgroup");

/// The newest log object in the bucket is younger than `max_delivery_age`; recent records in the log
/// group tell "no traffic" from "delivery broken".
pub(super) fn s3_delivery(f: &Facts, max_delivery_age: Duration) -> Check {
    let n = &f.names;
    let recent_records = f.recent.as_ref().map_or(0, |r| r.records);
    let where_ = n.bucket.as_deref().map(|b| s3_url(b, Some(&n.prefix)));
    match (&n.bucket, &f.delivery) {
        (None, _) => Check::new(S3.0, S3.1, Status::Fail, "no bucket: S3 delivery is not configured and no --bucket/--stack-outputs given".into())
            .fix("configure S3 delivery (see the logging check), or pass --bucket"),
        (Some(_), Err(e)) if e.contains("NoSuchBucket") => Check::new(S3.0, S3.1, Status::Fail, format!("the bucket does not exist: {e}"))
            .fix("deploy the stack or point logging and --bucket at an existing bucket in this account and Region"),
        (Some(_), Err(e)) => could_not(S3.0, S3.1, e, "s3:ListBucket on the log bucket"),
        (Some(_), Ok(d)) => match &d.latest {
            Some(o) => {
                let a = f.now.0 - o.last_modified;
                let summary = format!("latest log object {} ago: {}", age(a), o.key);
                if a as u64 <= max_delivery_age.as_secs() {
                    Check::new(S3.0, S3.1, Status::Pass, summary)
                } else {
                    Check::new(S3.0, S3.1, Status::Warn, summary)
                        .fix("no invocations since then, or delivery stopped: compare with the log group and check the bucket policy lets bedrock.amazonaws.com write")
                }
            }
            None if recent_records > 0 => Check::new(S3.0, S3.1, Status::Fail, format!(
                "no log object under {}/AWSLogs/ today or yesterday, though the log group has {recent_records} recent records",
                where_.as_deref().unwrap_or_default()))
                .fix("check the bucket policy lets bedrock.amazonaws.com s3:PutObject under the prefix (template: LogBucketPolicy) and that logging's S3 prefix matches --prefix"),
            None => Check::new(S3.0, S3.1, Status::Warn, format!(
                "no log object under {}/AWSLogs/ today or yesterday{}",
                where_.as_deref().unwrap_or_default(),
                if d.any_object { " (older ones exist)" } else { "" }))
                .fix("no recent invocations either: run `bedrock-meter smoke`, then check again"),
        },
    }
}

/// The invocation-log table exists.
pub(super) fn glue_table(f: &Facts) -> Check {
    let n = &f.names;
    match &f.table_exists {
        Err(e) => could_not(TABLE.0, TABLE.1, e, "glue:GetTable"),
        Ok(true) => Check::new(TABLE.0, TABLE.1, Status::Pass, format!("{}.{} exists", n.database, n.table)),
        Ok(false) => Check::new(TABLE.0, TABLE.1, Status::Fail, format!("{}.{} does not exist: the daily report has nothing to query", n.database, n.table))
            .fix("deploy the stack (InvocationLogTable), or create it with `bedrock-meter rollup-sql --create-table`, or pass --database/--table"),
    }
}

/// The workgroup exists and is enabled.
pub(super) fn workgroup(f: &Facts) -> Check {
    let n = &f.names;
    match &f.workgroup {
        Err(e) => could_not(WG.0, WG.1, e, "athena:GetWorkGroup"),
        Ok(Some(s)) if s == "ENABLED" => Check::new(
            WG.0,
            WG.1,
            Status::Pass,
            format!("{} is enabled", n.workgroup),
        ),
        Ok(Some(s)) => {
            Check::new(WG.0, WG.1, Status::Fail, format!("{} is {s}", n.workgroup)).fix(format!(
                "aws athena update-work-group --work-group {} --state ENABLED",
                n.workgroup
            ))
        }
        Ok(None) => Check::new(
            WG.0,
            WG.1,
            Status::Fail,
            format!("{} does not exist", n.workgroup),
        )
        .fix("deploy the stack (the workgroup is named after it), or pass --workgroup"),
    }
}

#[cfg(test)]
mod tests {
    use bedrock_meter_core::ports::operator::ObjectEntry;

    use super::super::facts::{Delivery, Recent};
    use super::super::fixtures::{healthy, run_checks, status, NOW};
    use super::*;

    #[test]
    fn delivery_age_and_absence() {
        let mut f = healthy();
        f.delivery = Ok(Delivery {
            latest: Some(ObjectEntry {
                key: "k".into(),
                last_modified: NOW - 5 * 3600,
            }),
            any_object: true,
        });
        assert_eq!(status(&run_checks(&f), "s3-delivery"), Status::Warn);
        f.delivery = Ok(Delivery::default());
        assert_eq!(
            status(&run_checks(&f), "s3-delivery"),
            Status::Fail,
            "records in CloudWatch but none in S3"
        );
        f.recent = Ok(Recent::default());
        assert_eq!(
            status(&run_checks(&f), "s3-delivery"),
            Status::Warn,
            "no traffic at all"
        );
        f.delivery = Err("NoSuchBucket: the bucket does not exist".into());
        assert_eq!(status(&run_checks(&f), "s3-delivery"), Status::Fail);
        f.names.bucket = None;
        assert_eq!(status(&run_checks(&f), "s3-delivery"), Status::Fail);
    }

    #[test]
    fn catalog_missing_or_disabled() {
        let mut f = healthy();
        f.table_exists = Ok(false);
        f.workgroup = Ok(Some("DISABLED".into()));
        let c = run_checks(&f);
        assert_eq!(
            (status(&c, "glue-table"), status(&c, "workgroup")),
            (Status::Fail, Status::Fail)
        );
        f.workgroup = Ok(None);
        assert_eq!(status(&run_checks(&f), "workgroup"), Status::Fail);
    }
}

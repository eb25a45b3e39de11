//! What the meter cannot see, continued: batch inference jobs, which invocation logging never records.
//! The jobs that ended in the `--recent` window (`ListModelInvocationJobs`) and their manifests
//! (`GetObject` of `manifest.json.out`, on the operator's own credentials), per model as "batch
//! inference: N jobs, R records, input/output tokens, cost" (`daily::batch`).

use bedrock_meter_core::daily::batch::{describe, lines, problems, total, BatchDay};
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::text::count;

use super::check::{could_not, Check, Status};

const ID: (&str, &str) = ("batch", "Batch inference jobs (not in invocation logs)");

/// A warning when batch jobs ended in the window (invocation logs and the reports leave them out
/// unless the stack's `BatchOutputBuckets` lets the daily summary read their manifests). None: a pass
/// if invocation logging is on, else a skip.
pub(super) fn check(
    day: &Result<BatchDay, String>,
    prices: &PriceTable,
    region: &str,
    window: &str,
    logging_on: bool,
) -> Check {
    let day =
        match day {
            Ok(d) => d,
            Err(e) => return could_not(
                ID.0,
                ID.1,
                e,
                "bedrock:ListModelInvocationJobs (and s3:GetObject on the jobs' output buckets)",
            ),
        };
    let l = lines(day, prices, Some(region));
    let p = problems(day);
    if l.is_empty() && day.other.is_empty() {
        return Check::new(
            ID.0,
            ID.1,
            if logging_on {
                Status::Pass
            } else {
                Status::Skip
            },
            format!("no batch inference job ended in the last {window}"),
        );
    }
    let jobs: u64 = l.iter().map(|x| x.jobs).sum::<u64>() + day.other.len() as u64;
    let reasons: std::collections::BTreeSet<&str> = l
        .iter()
        .filter_map(|x| x.cost.as_ref().err().map(String::as_str))
        .collect();
    let reasons = reasons.into_iter().collect::<Vec<_>>().join(", ");
    let money = if l.is_empty() {
        "none with outputs to count".to_string()
    } else if l.iter().all(|x| x.cost.is_ok()) {
        format!("{} at batch rates", total(&l))
    } else if l.iter().all(|x| x.cost.is_err()) {
        format!("unpriced: {reasons}")
    } else {
        format!("{} priced, the rest unpriced: {reasons}", total(&l))
    };
    let mut details: Vec<String> = l
        .iter()
        .map(|x| format!("{}: {}", x.model, describe(x)))
        .collect();
    details.extend(p.iter().map(|x| format!("not counted: {x}")));
    Check::new(
        ID.0,
        ID.1,
        Status::Warn,
        format!(
            "{} ended in the last {window} ({}; {money}): batch inference is not in invocation logs, so the live path and `report` never count it",
            count(jobs, "batch inference job"),
            count(l.len() as u64, "model"),
        ),
    )
    .details(details)
    .fix("set the stack's BatchOutputBuckets to the jobs' output buckets: the daily summary then counts each job from its manifest.json.out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_meter_core::daily::batch::{JobCount, Manifest};
    use bedrock_meter_core::ports::batch::BatchJob;
    use bedrock_meter_core::time::Timestamp;

    fn job(id: &str, model: &str, manifest: Result<Manifest, String>) -> JobCount {
        JobCount {
            job: BatchJob {
                arn: format!("arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/{id}"),
                name: format!("job-{id}"),
                model_id: model.into(),
                status: "Completed".into(),
                submit_time: Timestamp(0),
                end_time: Some(Timestamp(10)),
                output_uri: Some("s3://out/".into()),
            },
            manifest_url: Some(format!("s3://out/{id}/manifest.json.out")),
            manifest,
        }
    }

    #[test]
    fn batch_jobs_are_a_warning_with_a_line_per_model_and_the_unread_named() {
        let prices = PriceTable::embedded();
        let m = Manifest {
            records: 1_000,
            errors: 0,
            input_tokens: 2_000_000,
            output_tokens: 400_000,
        };
        let day = BatchDay {
            jobs: vec![
                job("aaaaaaaaaaa1", "amazon.nova-lite-v1:0", Ok(m)),
                job(
                    "aaaaaaaaaaa2",
                    "amazon.nova-lite-v1:0",
                    Err("GetObject failed: AccessDenied: Access Denied".into()),
                ),
            ],
            other: vec![("job-x".into(), "Failed".into())],
        };
        let c = check(&Ok(day), &prices, "us-east-1", "24h", true);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.summary.starts_with(
                "3 batch inference jobs ended in the last 24h (1 model; unpriced: no batch rate)"
            ),
            "{}",
            c.summary
        );
        assert_eq!(
            c.details,
            vec![
                "amazon.nova-lite-v1:0: batch inference: 2 jobs (1 not read: not counted), 1,000 records, 2,000,000 input + 400,000 output tokens, no price (no batch rate)".to_string(),
                "not counted: job job-aaaaaaaaaaa2: manifest s3://out/aaaaaaaaaaa2/manifest.json.out not read: GetObject failed: AccessDenied: Access Denied".to_string(),
                "not counted: 1 job ended without outputs to count (job-x Failed)".to_string(),
            ]
        );
        assert!(c.fix.unwrap().contains("BatchOutputBuckets"));
        let none = check(&Ok(BatchDay::default()), &prices, "us-east-1", "24h", true);
        assert_eq!(none.status, Status::Pass);
        let no_logs = check(&Ok(BatchDay::default()), &prices, "us-east-1", "24h", false);
        assert_eq!(no_logs.status, Status::Skip);
        let denied = check(
            &Err("ListModelInvocationJobs failed: AccessDeniedException: no".into()),
            &prices,
            "us-east-1",
            "24h",
            true,
        );
        assert_eq!(denied.status, Status::Fail);
        assert!(denied
            .fix
            .unwrap()
            .contains("bedrock:ListModelInvocationJobs"));
    }
}

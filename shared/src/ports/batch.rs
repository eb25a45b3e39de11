//! The batch-jobs port: Bedrock batch inference jobs (`CreateModelInvocationJob`), which invocation
//! logging never records (they are not among its four operations). [`BatchJobSource`] lists the jobs
//! one page at a time (the adapter: `aws::bedrock::BedrockBatchJobs`, `ListModelInvocationJobs`);
//! [`list_jobs`] pages through them; the core (`daily::batch`) reads each job's `manifest.json.out`
//! through `objects::ObjectReader` and turns the counts into report lines.
//!
//! `ListModelInvocationJobs` (Bedrock API reference; the service model `bedrock/2023-04-20`):
//! `GET /model-invocation-jobs`, filters `submitTimeAfter` / `submitTimeBefore` (ISO 8601),
//! `statusEquals`, `nameContains`; `maxResults` 1–1,000; `nextToken` 1–2,048 characters. It cannot
//! filter by end time, so the day's jobs are asked for by submit time over [`SUBMIT_LOOKBACK_SECS`] and
//! kept by their `endTime` in the core.

use std::future::Future;

use super::AwsError;
use crate::time::Timestamp;

/// `maxResults` of every page asked for: the API's largest (1–1,000).
pub const MAX_RESULTS: i32 = 1000;
/// A listing stops with an error after this many pages (100,000 jobs), rather than loop on a service
/// that keeps answering with a next token.
pub const MAX_PAGES: usize = 100;
/// How long before the day a job that ended in it can have been submitted: a job times out at most
/// 168 hours after submission (`timeoutDurationInHours` 24–168; a job still `Scheduled` then is
/// `Expired`), plus a day of slack.
pub const SUBMIT_LOOKBACK_SECS: i64 = (168 + 24) * 3_600;

/// The two statuses whose jobs wrote their outputs and manifest ("View the output files in the output
/// S3 location"); `Stopped`, `Failed` and `Expired` jobs are counted apart, unread.
pub const COMPLETED: &str = "Completed";
pub const PARTIALLY_COMPLETED: &str = "PartiallyCompleted";

/// One job, as `ListModelInvocationJobs` summarises it (only what the meter reads; never its input or
/// output records).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchJob {
    pub arn: String,
    pub name: String,
    /// `modelId`: a model id, a foundation-model ARN or an inference profile (ARN or id).
    pub model_id: String,
    /// `status` as the service names it (`Completed`, `PartiallyCompleted`, `Failed`, …).
    pub status: String,
    pub submit_time: Timestamp,
    pub end_time: Option<Timestamp>,
    /// `outputDataConfig.s3OutputDataConfig.s3Uri`, when the job has one.
    pub output_uri: Option<String>,
}

/// Jobs submitted in `(submitted_after, submitted_before)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobQuery {
    pub submitted_after: Timestamp,
    pub submitted_before: Timestamp,
}

/// One page of jobs and the token of the next, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobPage {
    pub jobs: Vec<BatchJob>,
    pub next_token: Option<String>,
}

/// Lists batch inference jobs (Bedrock `ListModelInvocationJobs`), one page per call.
pub trait BatchJobSource {
    fn list_page(
        &self,
        query: &JobQuery,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<JobPage, AwsError>> + Send;
}

/// Every job of `query`, page after page (at most [`MAX_PAGES`]). An empty next token ends the
/// listing as none does.
pub async fn list_jobs<S: BatchJobSource>(
    source: &S,
    query: &JobQuery,
) -> Result<Vec<BatchJob>, AwsError> {
    let mut jobs = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let page = source.list_page(query, token).await?;
        jobs.extend(page.jobs);
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(jobs),
        }
    }
    Err(AwsError::new(
        "ListModelInvocationJobs",
        format!("more than {MAX_PAGES} pages of batch inference jobs"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on;
    use std::sync::Mutex;

    /// Pages of `per_page` jobs out of `total`; records the tokens it was given.
    struct Pages {
        total: usize,
        per_page: usize,
        seen: Mutex<Vec<Option<String>>>,
        endless: bool,
    }

    impl BatchJobSource for Pages {
        async fn list_page(
            &self,
            _q: &JobQuery,
            token: Option<String>,
        ) -> Result<JobPage, AwsError> {
            self.seen.lock().unwrap().push(token.clone());
            let from: usize = token.as_deref().map_or(0, |t| t.parse().unwrap());
            let to = (from + self.per_page).min(self.total);
            let jobs = (from..to)
                .map(|i| BatchJob {
                    arn: format!(
                        "arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/{i:012}"
                    ),
                    name: format!("job-{i}"),
                    model_id: "amazon.nova-lite-v1:0".into(),
                    status: COMPLETED.into(),
                    submit_time: Timestamp(i as i64),
                    end_time: None,
                    output_uri: None,
                })
                .collect();
            let next_token = if self.endless {
                Some("0".into())
            } else if to < self.total {
                Some(to.to_string())
            } else {
                None
            };
            Ok(JobPage { jobs, next_token })
        }
    }

    fn q() -> JobQuery {
        JobQuery {
            submitted_after: Timestamp(0),
            submitted_before: Timestamp(10),
        }
    }

    #[test]
    fn every_page_is_read_with_the_token_of_the_one_before() {
        let src = Pages {
            total: 2_500,
            per_page: 1_000,
            seen: Mutex::new(Vec::new()),
            endless: false,
        };
        let jobs = block_on(list_jobs(&src, &q())).unwrap();
        assert_eq!(jobs.len(), 2_500);
        assert_eq!(jobs[2_499].name, "job-2499");
        assert_eq!(
            *src.seen.lock().unwrap(),
            vec![None, Some("1000".into()), Some("2000".into())]
        );
    }

    #[test]
    fn a_service_that_never_stops_paging_is_an_error() {
        let src = Pages {
            total: 1,
            per_page: 1,
            seen: Mutex::new(Vec::new()),
            endless: true,
        };
        let e = block_on(list_jobs(&src, &q())).unwrap_err();
        assert_eq!(e.operation, "ListModelInvocationJobs");
        assert_eq!(src.seen.lock().unwrap().len(), MAX_PAGES);
    }
}

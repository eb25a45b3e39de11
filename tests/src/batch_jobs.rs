//! A strict test double of Bedrock's `ListModelInvocationJobs`, which moto 5.2.5 does not implement
//! (its Bedrock backend has model-customization jobs and the logging configuration, no invocation
//! jobs). The strict proxy answers `GET /model-invocation-jobs` (SigV4 service `bedrock`) from it, and
//! the Bedrock stub (`bedrock_stub`) does the same for the tests that route Bedrock there; the jobs'
//! manifests are real S3 objects in moto, written by the tests.
//!
//! It enforces what the API reference and the service model (`bedrock/2023-04-20`) document for the
//! request, answering `ValidationException` (400) as the service does: `maxResults` an integer 1–1,000;
//! `nextToken` 1–2,048 non-whitespace characters, and one this double issued for the same filters;
//! `statusEquals` one of the ten statuses; `nameContains` 1–63 characters of the job-name pattern;
//! `sortBy` `CreationTime`; `sortOrder` `Ascending` or `Descending`; `submitTimeAfter` /
//! `submitTimeBefore` ISO 8601 timestamps. It filters by submit time (strictly after / before), status
//! and name, sorts by submit time (descending unless asked), and pages: at most `maxResults` jobs a
//! page, and never more than its page cap (AWS may return fewer than asked; a cap below 1,000 makes the
//! tests page). Seeded jobs are checked against the documented patterns (job ARN with a 12-character
//! id, job name, S3 URI), so a test cannot seed what the service would never return.

use std::sync::Mutex;

use bedrock_meter_core::ports::encoding::percent_decode;
use bedrock_meter_core::time::Timestamp;
use serde_json::{json, Value};

/// `maxResults` bounds and the `nextToken` length (API reference, ListModelInvocationJobs).
pub const MAX_RESULTS: u64 = 1000;
pub const MAX_TOKEN_CHARS: usize = 2048;
/// `ModelInvocationJobStatus`.
pub const STATUSES: [&str; 10] = [
    "Submitted",
    "InProgress",
    "Completed",
    "Failed",
    "Stopping",
    "Stopped",
    "PartiallyCompleted",
    "Expired",
    "Validating",
    "Scheduled",
];

/// The jobs the double serves, and how many it puts on a page at most.
pub struct BatchJobs {
    jobs: Mutex<Vec<Value>>,
    page_cap: Mutex<usize>,
    /// Every `ListModelInvocationJobs` query string received.
    queries: Mutex<Vec<String>>,
}

impl Default for BatchJobs {
    fn default() -> Self {
        BatchJobs {
            jobs: Mutex::new(Vec::new()),
            page_cap: Mutex::new(MAX_RESULTS as usize),
            queries: Mutex::new(Vec::new()),
        }
    }
}

/// A job summary as `ListModelInvocationJobs` returns it (times in epoch seconds).
pub fn job_summary(
    id: &str,
    name: &str,
    model_id: &str,
    status: &str,
    submit: i64,
    end: Option<i64>,
    output_uri: &str,
) -> Value {
    let iso = |t: i64| Timestamp(t).to_string();
    let mut j = json!({
        "jobArn": format!("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{id}"),
        "jobName": name,
        "modelId": model_id,
        "roleArn": "arn:aws:iam::123456789012:role/BedrockBatchRole",
        "status": status,
        "submitTime": iso(submit),
        "lastModifiedTime": iso(end.unwrap_or(submit)),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://batch-in/records.jsonl", "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": output_uri}},
        "timeoutDurationInHours": 24,
        "jobExpirationTime": iso(submit + 24 * 3_600),
    });
    if let Some(e) = end {
        j["endTime"] = iso(e).into();
    }
    j
}

fn job_name_ok(s: &str) -> bool {
    // [a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}, at most 63 characters.
    (1..=63).contains(&s.len())
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Whether a seeded job is one the service could return.
fn check_seed(j: &Value) -> Result<(), String> {
    let arn = j["jobArn"].as_str().unwrap_or("");
    let id = arn
        .strip_prefix("arn:aws:bedrock:")
        .and_then(|r| r.split_once(":model-invocation-job/"))
        .map(|(_, id)| id)
        .unwrap_or("");
    if id.len() != 12
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(format!(
            "jobArn {arn:?}: not a model-invocation-job ARN with a 12-character id"
        ));
    }
    let name = j["jobName"].as_str().unwrap_or("");
    if !job_name_ok(name) {
        return Err(format!(
            "jobName {name:?} does not match the job-name pattern"
        ));
    }
    let status = j["status"].as_str().unwrap_or("");
    if !STATUSES.contains(&status) {
        return Err(format!("status {status:?} is not a job status"));
    }
    let uri = j["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        .as_str()
        .unwrap_or("");
    if !uri.starts_with("s3://") || uri.len() > 1024 {
        return Err(format!(
            "s3Uri {uri:?} is not an S3 URI of at most 1,024 characters"
        ));
    }
    for t in ["submitTime", "endTime"] {
        if let Some(v) = j.get(t) {
            if v.as_str().and_then(Timestamp::parse_iso8601).is_none() {
                return Err(format!("{t} {v} is not an ISO 8601 timestamp"));
            }
        }
    }
    Ok(())
}

/// A refusal: (HTTP status, error code, message).
pub type Refusal = (u16, &'static str, String);

fn invalid(message: String) -> Refusal {
    (400, "ValidationException", message)
}

fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

/// One page of `ListModelInvocationJobs` over `jobs` for the request's query string, or the
/// refusal the service would answer.
pub fn list_page(jobs: &[Value], query: &str, page_cap: usize) -> Result<Value, Refusal> {
    let p = params(query);
    let get = |name: &str| p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let max = match get("maxResults") {
        None => MAX_RESULTS as usize,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=MAX_RESULTS).contains(&n) => n as usize,
            _ => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {MAX_RESULTS}"
                )))
            }
        },
    };
    let time = |name: &str| -> Result<Option<Timestamp>, Refusal> {
        match get(name) {
            None => Ok(None),
            Some(v) => Timestamp::parse_iso8601(v).map(Some).ok_or_else(|| {
                invalid(format!("Value '{v}' at '{name}' is not a valid timestamp"))
            }),
        }
    };
    let after = time("submitTimeAfter")?;
    let before = time("submitTimeBefore")?;
    let status = get("statusEquals");
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(invalid(format!(
                "Value '{s}' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: {STATUSES:?}"
            )));
        }
    }
    let name = get("nameContains");
    if let Some(n) = name {
        if !job_name_ok(n) {
            return Err(invalid(format!(
                "Value '{n}' at 'nameContains' failed to satisfy constraint: Member must satisfy the job-name pattern, length 1-63"
            )));
        }
    }
    if let Some(s) = get("sortBy") {
        if s != "CreationTime" {
            return Err(invalid(format!("Value '{s}' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [CreationTime]")));
        }
    }
    let ascending = match get("sortOrder") {
        None | Some("Descending") => false,
        Some("Ascending") => true,
        Some(s) => {
            return Err(invalid(format!("Value '{s}' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]")))
        }
    };
    // The filters a token is bound to: a token is good only for the same listing.
    let filters = format!("{after:?}|{before:?}|{status:?}|{name:?}|{ascending}");
    let bind = |offset: usize| format!("{offset}.{:016x}", fnv(&filters));
    let start = match get("nextToken") {
        None => 0,
        Some(t) => {
            let ok_text = (1..=MAX_TOKEN_CHARS).contains(&t.chars().count())
                && !t.chars().any(char::is_whitespace);
            let offset = t
                .split_once('.')
                .and_then(|(o, _)| o.parse::<usize>().ok())
                .filter(|o| ok_text && bind(*o) == t);
            match offset {
                Some(o) => o,
                None => {
                    return Err(invalid(format!(
                        "The nextToken '{t}' is not valid for this request"
                    )))
                }
            }
        }
    };
    let submit = |j: &Value| {
        j["submitTime"]
            .as_str()
            .and_then(Timestamp::parse_iso8601)
            .unwrap_or(Timestamp(0))
    };
    let mut matched: Vec<&Value> = jobs
        .iter()
        .filter(|j| after.is_none_or(|a| submit(j) > a))
        .filter(|j| before.is_none_or(|b| submit(j) < b))
        .filter(|j| status.is_none_or(|s| j["status"] == s))
        .filter(|j| name.is_none_or(|n| j["jobName"].as_str().is_some_and(|x| x.contains(n))))
        .collect();
    matched.sort_by_key(|j| (submit(j), j["jobArn"].as_str().unwrap_or("").to_string()));
    if !ascending {
        matched.reverse();
    }
    let take = max.min(page_cap.max(1));
    let page: Vec<Value> = matched
        .iter()
        .skip(start)
        .take(take)
        .map(|j| (*j).clone())
        .collect();
    let mut out = json!({ "invocationJobSummaries": page });
    if start + take < matched.len() {
        out["nextToken"] = bind(start + take).into();
    }
    Ok(out)
}

/// FNV-1a, to bind tokens to their listing.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl BatchJobs {
    /// Adds a job (panics on one the service could not return: a test's mistake).
    pub fn add(&self, job: Value) {
        if let Err(e) = check_seed(&job) {
            panic!("batch-jobs double: {e}");
        }
        self.jobs.lock().unwrap().push(job);
    }

    /// At most `n` jobs a page, whatever `maxResults` asks.
    pub fn set_page_cap(&self, n: usize) {
        *self.page_cap.lock().unwrap() = n.max(1);
    }

    /// The query strings received so far.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }

    /// The answer to `GET /model-invocation-jobs?query`.
    pub fn answer(&self, query: &str) -> Result<Value, Refusal> {
        self.queries.lock().unwrap().push(query.to_string());
        let cap = *self.page_cap.lock().unwrap();
        list_page(&self.jobs.lock().unwrap(), query, cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                job_summary(
                    &format!("{i:012}"),
                    &format!("job-{i}"),
                    "amazon.nova-lite-v1:0",
                    if i % 2 == 0 { "Completed" } else { "Failed" },
                    1_000 + i as i64,
                    Some(2_000 + i as i64),
                    "s3://out/",
                )
            })
            .collect()
    }

    #[test]
    fn limits_are_enforced_as_documented() {
        let j = jobs(3);
        for q in [
            "maxResults=0",
            "maxResults=1001",
            "maxResults=ten",
            "statusEquals=Done",
            "sortBy=Name",
            "sortOrder=Up",
            "submitTimeAfter=yesterday",
            "nameContains=",
            "nameContains=-x",
            "nextToken=",
            "nextToken=5.0000000000000000",
        ] {
            let e = list_page(&j, q, 1000).unwrap_err();
            assert_eq!((e.0, e.1), (400, "ValidationException"), "{q}");
        }
        let long = format!("nextToken={}", "a".repeat(2049));
        assert!(list_page(&j, &long, 1000).is_err());
        assert!(list_page(
            &j,
            "maxResults=1000&sortOrder=Ascending&sortBy=CreationTime",
            1000
        )
        .is_ok());
    }

    #[test]
    fn filters_pages_and_binds_tokens_to_their_listing() {
        let j = jobs(25);
        let q = "submitTimeAfter=1970-01-01T00%3A16%3A44Z&submitTimeBefore=1970-01-01T00%3A17%3A00Z&maxResults=1000";
        // Strictly after 1,004 and before 1,020: 15 jobs, pages of at most 10.
        let p1 = list_page(&j, q, 10).unwrap();
        assert_eq!(p1["invocationJobSummaries"].as_array().unwrap().len(), 10);
        assert_eq!(
            p1["invocationJobSummaries"][0]["jobName"], "job-19",
            "newest first"
        );
        let t = p1["nextToken"].as_str().unwrap();
        let p2 = list_page(&j, &format!("{q}&nextToken={t}"), 10).unwrap();
        assert_eq!(p2["invocationJobSummaries"].as_array().unwrap().len(), 5);
        assert!(p2.get("nextToken").is_none());
        assert_eq!(p2["invocationJobSummaries"][4]["jobName"], "job-5");
        // The same token for another listing is refused.
        assert!(list_page(&j, &format!("statusEquals=Failed&nextToken={t}"), 10).is_err());
        let failed = list_page(&j, "statusEquals=Failed", 1000).unwrap();
        assert_eq!(
            failed["invocationJobSummaries"].as_array().unwrap().len(),
            12
        );
    }

    #[test]
    #[should_panic(expected = "12-character id")]
    fn seeds_are_what_the_service_could_return() {
        BatchJobs::default().add(job_summary(
            "short",
            "n",
            "m",
            "Completed",
            0,
            None,
            "s3://o/",
        ));
    }
}

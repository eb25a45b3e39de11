//! Batch inference, counted from the jobs' manifests: invocation logging records only Converse,
//! ConverseStream, InvokeModel and InvokeModelWithResponseStream, so a batch inference job
//! (`CreateModelInvocationJob`) never reaches the logs, the live path or `report`. What it processed
//! is in the `manifest.json.out` it writes beside its outputs (Bedrock user guide, "View the results of
//! a batch inference job", <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html>:
//! `totalRecordCount`, `processedRecordCount`, `successRecordCount`, `errorRecordCount`,
//! `inputTokenCount`, `outputTokenCount`).
//!
//! [`read_jobs`] lists the jobs that ended in a time range (`ports::batch`, by submit time over the
//! longest a job can run, kept by `endTime`), reads each `Completed` / `PartiallyCompleted` job's
//! manifest (`ports::objects::ObjectReader`) from `<output s3Uri>/<job id>/manifest.json.out` — the job
//! id is the last part of its ARN; the user guide names the file, and the job-id folder is where
//! Bedrock writes a job's outputs under the output URI — and [`lines`] sums them per model:
//! "batch inference: N jobs, R records, I input + O output tokens, cost" for `doctor`, the summary email
//! and the summary page.
//!
//! Money: batch inference is billed at its own rate, never the on-demand one. A job is priced only with
//! a `batch` tier rate of its model in the price table (`tiers.batch`, from a primary source); without
//! one it is unpriced with the reason `no batch rate`. A manifest that cannot be read (AccessDenied, no
//! such key, a bucket the stack may not read, not a manifest) is named per job and counted as unread,
//! never as zero, and never fails the run.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
use serde::Deserialize;

use crate::attribution::model_id::arn_region;
use crate::attribution::profiles::NoProfiles;
use crate::attribution::resolution::{resolve, AttributionConfig};
use crate::ports::batch::{
    list_jobs, BatchJob, BatchJobSource, JobQuery, COMPLETED, PARTIALLY_COMPLETED,
    SUBMIT_LOOKBACK_SECS,
};
use crate::ports::notify::Notification;
use crate::ports::objects::ObjectReader;
use crate::ports::AwsError;
use crate::pricing::money::Money;
use crate::pricing::prices::{PriceTable, Unpriced};
use crate::records::record::Tokens;
use crate::text::{clean_line, count, cut};
use crate::time::Timestamp;

/// The price table's tier of batch inference rates (a model's `tiers.batch`).
pub const BATCH_TIER: &str = "batch";
/// Why a batch job without a batch rate is unpriced.
pub const REASON_NO_BATCH_RATE: &str = "no batch rate";
/// The manifest's file name in the job's output folder.
pub const MANIFEST_FILE: &str = "manifest.json.out";
/// A manifest is a few hundred bytes; anything larger than this is not one, and is not read.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Manifests read at once.
pub const READS_IN_FLIGHT: usize = 8;
/// The setting that turns the feature on and names the buckets the daily Lambda may read manifests in
/// (the template's `BatchOutputBuckets`): comma-separated bucket names; empty or unset = off.
pub const BUCKETS_ENV: &str = "BATCH_OUTPUT_BUCKETS";

/// What a job's manifest says (the counts the meter uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// `processedRecordCount`.
    pub records: u64,
    /// `errorRecordCount` (0 when absent).
    pub errors: u64,
    /// `inputTokenCount`.
    pub input_tokens: u64,
    /// `outputTokenCount`.
    pub output_tokens: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    processed_record_count: Option<u64>,
    error_record_count: Option<u64>,
    input_token_count: Option<u64>,
    output_token_count: Option<u64>,
}

/// Parses a `manifest.json.out`. The processed-record and token counts are required (whole,
/// non-negative numbers): a manifest without them says nothing the meter could count.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| format!("not a batch manifest ({e})"))?;
    let need = |v: Option<u64>, name: &str| {
        v.ok_or_else(|| format!("the manifest has no {name}: its counts are unknown"))
    };
    Ok(Manifest {
        records: need(raw.processed_record_count, "processedRecordCount")?,
        errors: raw.error_record_count.unwrap_or(0),
        input_tokens: need(raw.input_token_count, "inputTokenCount")?,
        output_tokens: need(raw.output_token_count, "outputTokenCount")?,
    })
}

/// The manifest's bucket and key: `s3://bucket[/prefix][/]` and the job ARN's id
/// (`…:model-invocation-job/abc123def456`) → (`bucket`, `prefix/abc123def456/manifest.json.out`).
pub fn manifest_location(output_uri: &str, job_arn: &str) -> Result<(String, String), String> {
    let rest = output_uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("output location {output_uri:?} is not an s3:// URI"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("output location {output_uri:?} names no bucket"));
    }
    let id = job_arn
        .split_once(":model-invocation-job/")
        .map_or("", |(_, id)| id);
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("job ARN {job_arn:?} has no job id"));
    }
    let prefix = prefix.trim_matches('/');
    let key = if prefix.is_empty() {
        format!("{id}/{MANIFEST_FILE}")
    } else {
        format!("{prefix}/{id}/{MANIFEST_FILE}")
    };
    Ok((bucket.to_string(), key))
}

/// One job that ended in the range with its outputs written, and what its manifest said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCount {
    pub job: BatchJob,
    /// `s3://bucket/key` of its manifest, when its output location names one.
    pub manifest_url: Option<String>,
    /// The counts, or why they were not read.
    pub manifest: Result<Manifest, String>,
}

/// The jobs that ended in a time range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchDay {
    /// `Completed` and `PartiallyCompleted` jobs, by end time then ARN.
    pub jobs: Vec<JobCount>,
    /// Jobs that ended with another status (`Failed`, `Stopped`, `Expired`): (name, status); not read.
    pub other: Vec<(String, String)>,
}

/// Lists the jobs that ended in `[start, end)` and reads the manifests of those that wrote outputs.
/// `buckets`: the buckets manifests may be read from (`None`: any — `doctor`, on the operator's own
/// credentials); a job whose output is elsewhere is not read, and says so. Only the listing can fail
/// the call; a manifest that cannot be read is that job's `Err`.
pub async fn read_jobs<J: BatchJobSource, R: ObjectReader>(
    jobs: &J,
    objects: &R,
    buckets: Option<&[String]>,
    start: Timestamp,
    end: Timestamp,
) -> Result<BatchDay, AwsError> {
    let query = JobQuery {
        submitted_after: Timestamp(start.0 - SUBMIT_LOOKBACK_SECS),
        submitted_before: end,
    };
    let mut ended: BTreeMap<(Timestamp, String), BatchJob> = BTreeMap::new();
    for j in list_jobs(jobs, &query).await? {
        if let Some(t) = j.end_time.filter(|t| *t >= start && *t < end) {
            // A job listed twice (pages shifting under the listing) is counted once.
            ended.insert((t, j.arn.clone()), j);
        }
    }
    let mut day = BatchDay::default();
    let mut to_read = Vec::new();
    for j in ended.into_values() {
        if j.status == COMPLETED || j.status == PARTIALLY_COMPLETED {
            to_read.push(j);
        } else {
            day.other.push((j.name.clone(), j.status.clone()));
        }
    }
    day.jobs = stream::iter(to_read)
        .map(|job| read_one(objects, buckets, job))
        .buffered(READS_IN_FLIGHT)
        .collect()
        .await;
    Ok(day)
}

async fn read_one<R: ObjectReader>(
    objects: &R,
    buckets: Option<&[String]>,
    job: BatchJob,
) -> JobCount {
    let Some(uri) = job.output_uri.clone() else {
        return JobCount {
            job,
            manifest_url: None,
            manifest: Err("the job names no S3 output location".into()),
        };
    };
    let (bucket, key) = match manifest_location(&uri, &job.arn) {
        Ok(l) => l,
        Err(e) => {
            return JobCount {
                job,
                manifest_url: None,
                manifest: Err(e),
            }
        }
    };
    let url = format!("s3://{bucket}/{key}");
    let manifest = if buckets.is_some_and(|b| !b.contains(&bucket)) {
        Err(format!(
            "bucket {bucket} is not among the buckets the stack may read ({BUCKETS_ENV}, the template's BatchOutputBuckets)"
        ))
    } else {
        match objects.get_object(&bucket, &key, MAX_MANIFEST_BYTES).await {
            Ok(body) => parse_manifest(&body),
            Err(e) => {
                tracing::warn!(job = %job.arn, %url, error = %e, "batch manifest not read");
                Err(e.to_string())
            }
        }
    };
    JobCount {
        job,
        manifest_url: Some(url),
        manifest,
    }
}

/// One model's batch jobs of the range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchLine {
    /// The jobs' `modelId`.
    pub model: String,
    pub jobs: u64,
    /// Jobs whose manifest was read (the records, tokens and cost are theirs).
    pub read: u64,
    pub records: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The read jobs' cost at the batch rate, or why there is none.
    pub cost: Result<Money, String>,
}

/// The cost of one job's tokens at its model's batch rate in `region`.
fn job_cost(
    model_id: &str,
    m: &Manifest,
    prices: &PriceTable,
    region: Option<&str>,
) -> Result<Money, String> {
    let res = resolve(model_id, &NoProfiles, &AttributionConfig::default());
    let tokens = Tokens {
        input: m.input_tokens,
        output: m.output_tokens,
        ..Tokens::default()
    };
    // Band 0: a manifest sums many records, whose prompt sizes it does not give.
    let reason = |e: Unpriced| match e {
        Unpriced::NoRateForTier(_) => REASON_NO_BATCH_RATE.to_string(),
        e => e.reason(),
    };
    prices
        .rates_of(&res, region, 0, BATCH_TIER)
        .map_err(reason)?
        .cost(&tokens)
        .map_err(reason)
}

/// Sums the read jobs per model, priced at their batch rates in the job's Region (from its ARN, else
/// `region`); costliest first, then by model.
pub fn lines(day: &BatchDay, prices: &PriceTable, region: Option<&str>) -> Vec<BatchLine> {
    let mut by_model: BTreeMap<&str, BatchLine> = BTreeMap::new();
    for j in &day.jobs {
        let l = by_model
            .entry(j.job.model_id.as_str())
            .or_insert_with(|| BatchLine {
                model: j.job.model_id.clone(),
                jobs: 0,
                read: 0,
                records: 0,
                input_tokens: 0,
                output_tokens: 0,
                cost: Ok(Money::ZERO),
            });
        l.jobs += 1;
        let Ok(m) = &j.manifest else { continue };
        l.read += 1;
        l.records = l.records.saturating_add(m.records);
        l.input_tokens = l.input_tokens.saturating_add(m.input_tokens);
        l.output_tokens = l.output_tokens.saturating_add(m.output_tokens);
        let job_region = arn_region(&j.job.arn).or(region);
        let c = job_cost(&j.job.model_id, m, prices, job_region);
        l.cost = match (l.cost.clone(), c) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        };
    }
    let mut out: Vec<BatchLine> = by_model.into_values().collect();
    out.sort_by(|a, b| {
        let c = |l: &BatchLine| l.cost.as_ref().copied().unwrap_or(Money::ZERO);
        c(b).cmp(&c(a)).then_with(|| a.model.cmp(&b.model))
    });
    out
}

/// `batch inference: 2 jobs, 1,500 records, 3,000,000 input + 400,000 output tokens, $1.20 at the batch
/// rate` (or `no price (no batch rate)`); with unread manifests, what was read and how many were not.
pub fn describe(l: &BatchLine) -> String {
    let unread = l.jobs - l.read;
    let jobs = if unread == 0 {
        count(l.jobs, "job")
    } else {
        format!("{} ({unread} not read: not counted)", count(l.jobs, "job"))
    };
    if l.read == 0 {
        return format!("batch inference: {jobs}; records and tokens unknown");
    }
    let money = match &l.cost {
        Ok(m) => format!("{m} at the batch rate"),
        Err(reason) => format!("no price ({reason})"),
    };
    format!(
        "batch inference: {jobs}, {}, {} input + {} output tokens, {money}",
        count(l.records, "record"),
        crate::text::thousands(l.input_tokens),
        crate::text::thousands(l.output_tokens),
    )
}

/// What could not be counted, one line each: every job whose manifest was not read (name, manifest,
/// reason), and the jobs that ended without writing outputs.
pub fn problems(day: &BatchDay) -> Vec<String> {
    let mut out: Vec<String> = day
        .jobs
        .iter()
        .filter_map(|j| {
            let e = j.manifest.as_ref().err()?;
            Some(match &j.manifest_url {
                Some(url) => format!("job {}: manifest {url} not read: {e}", j.job.name),
                None => format!("job {}: manifest not read: {e}", j.job.name),
            })
        })
        .collect();
    if !day.other.is_empty() {
        out.push(format!(
            "{} ended without outputs to count ({})",
            count(day.other.len() as u64, "job"),
            day.other
                .iter()
                .map(|(n, s)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// The priced total of the lines (unpriced lines add nothing).
pub fn total(lines: &[BatchLine]) -> Money {
    lines
        .iter()
        .filter_map(|l| l.cost.as_ref().ok())
        .copied()
        .sum()
}

const SECTION_TITLE: &str =
    "Batch inference (batch jobs: not in invocation logs, no caller, not in the totals above)";

/// Adds the batch lines (and what could not be counted) to a rendered email, before its closing
/// "Prices:" paragraph, within `max_body_bytes` (lines that do not fit are counted instead). Unchanged
/// when there is nothing to say.
pub fn add_to_email(
    n: &mut Notification,
    lines: &[BatchLine],
    problems: &[String],
    max_body_bytes: usize,
) {
    if lines.is_empty() && problems.is_empty() {
        return;
    }
    let at = n.body.rfind("\nPrices: ").unwrap_or(n.body.len());
    let mut section = format!("\n{SECTION_TITLE}\n");
    let room = max_body_bytes.saturating_sub(n.body.len());
    let items: Vec<String> = lines
        .iter()
        .map(|l| format!("  {}: {}\n", cut(&clean_line(&l.model), 120), describe(l)))
        .chain(
            problems
                .iter()
                .map(|p| format!("  not counted: {}\n", cut(&clean_line(p), 400))),
        )
        .collect();
    for (i, item) in items.iter().enumerate() {
        let more = format!("  … and {} more lines\n", items.len() - i);
        if section.len() + item.len() + more.len() > room {
            section.push_str(&more);
            break;
        }
        section.push_str(item);
    }
    if section.len() <= room {
        n.body.insert_str(at, &section);
    }
}

/// Adds the batch section to a rendered page, before its footer; unchanged when there is nothing to
/// say.
pub fn add_to_page(html: &str, lines: &[BatchLine], problems: &[String]) -> String {
    use crate::daily::report_html::esc;
    if lines.is_empty() && problems.is_empty() {
        return html.to_string();
    }
    let mut o = String::from(
        "<section id=\"batch\"><h2>Batch inference</h2>\
         <p class=\"muted\">Batch inference jobs, from their manifests: not in invocation logs, no caller, \
         not in the totals above.</p><ul>\n",
    );
    for l in lines {
        o.push_str(&format!(
            "<li><b>{}</b>: {}</li>\n",
            esc(&l.model),
            esc(&describe(l))
        ));
    }
    for p in problems {
        o.push_str(&format!("<li>not counted: {}</li>\n", esc(p)));
    }
    o.push_str("</ul></section>\n");
    match html.rfind("<footer>") {
        Some(i) => format!("{}{o}{}", &html[..i], &html[i..]),
        None => format!("{html}{o}"),
    }
}

/// The buckets named by [`BUCKETS_ENV`] (trimmed, empty entries dropped); none: the feature is off.
pub fn buckets_from(value: Option<&str>) -> Option<Vec<String>> {
    let b: Vec<String> = value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    (!b.is_empty()).then_some(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::batch::JobPage;
    use crate::test_support::block_on;
    use std::collections::HashMap;
    use std::sync::Mutex;

    const DAY: i64 = 1_764_028_800; // 2025-11-25T00:00:00Z
    const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    const NOVA: &str = "amazon.nova-lite-v1:0";

    fn job(id: &str, model: &str, status: &str, end: Option<i64>, out: &str) -> BatchJob {
        BatchJob {
            arn: format!("arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/{id}"),
            name: format!("job-{id}"),
            model_id: model.into(),
            status: status.into(),
            submit_time: Timestamp(end.unwrap_or(DAY) - 3_600),
            end_time: end.map(Timestamp),
            output_uri: Some(out.into()),
        }
    }

    /// Jobs in pages of two; remembers the query it was given.
    struct Jobs(Vec<BatchJob>, Mutex<Vec<JobQuery>>);

    impl BatchJobSource for Jobs {
        async fn list_page(&self, q: &JobQuery, t: Option<String>) -> Result<JobPage, AwsError> {
            self.1.lock().unwrap().push(*q);
            let from: usize = t.map_or(0, |t| t.parse().unwrap());
            let to = (from + 2).min(self.0.len());
            Ok(JobPage {
                jobs: self.0[from..to].to_vec(),
                next_token: (to < self.0.len()).then(|| to.to_string()),
            })
        }
    }

    /// Objects by `bucket/key`; a bucket named `locked` answers AccessDenied.
    struct Objects(HashMap<String, Vec<u8>>, Mutex<Vec<(String, u64)>>);

    impl ObjectReader for Objects {
        async fn get_object(&self, b: &str, k: &str, max: u64) -> Result<Vec<u8>, AwsError> {
            self.1.lock().unwrap().push((format!("{b}/{k}"), max));
            if b == "locked" {
                return Err(AwsError {
                    operation: "GetObject",
                    code: Some("AccessDenied".into()),
                    message: "AccessDenied: Access Denied".into(),
                });
            }
            self.0.get(&format!("{b}/{k}")).cloned().ok_or(AwsError {
                operation: "GetObject",
                code: Some("NoSuchKey".into()),
                message: "NoSuchKey: The specified key does not exist.".into(),
            })
        }
    }

    fn manifest(records: u64, input: u64, output: u64) -> Vec<u8> {
        format!(
            r#"{{"totalRecordCount":{records},"processedRecordCount":{records},"successRecordCount":{records},"errorRecordCount":0,"inputTokenCount":{input},"outputTokenCount":{output}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn manifests_parse_and_unknown_counts_are_never_zero() {
        let m = parse_manifest(
            br#"{ "totalRecordCount" : 1000, "processedRecordCount" : 998, "successRecordCount": 990,
                  "errorRecordCount": 8, "inputTokenCount": 123456, "outputTokenCount" : 7890 }"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Manifest {
                records: 998,
                errors: 8,
                input_tokens: 123_456,
                output_tokens: 7_890
            }
        );
        let e =
            parse_manifest(br#"{"processedRecordCount": 3, "outputTokenCount": 1}"#).unwrap_err();
        assert!(e.contains("inputTokenCount"), "{e}");
        assert!(parse_manifest(b"<Error/>")
            .unwrap_err()
            .starts_with("not a batch manifest"));
        assert!(parse_manifest(
            br#"{"processedRecordCount": -1, "inputTokenCount": 1, "outputTokenCount": 1}"#
        )
        .is_err());
    }

    #[test]
    fn the_manifest_is_in_the_job_id_folder_of_the_output_uri() {
        let arn = "arn:aws:bedrock:us-east-1:111122223333:model-invocation-job/abc123def456";
        for (uri, key) in [
            (
                "s3://out/results/",
                "results/abc123def456/manifest.json.out",
            ),
            ("s3://out/results", "results/abc123def456/manifest.json.out"),
            ("s3://out/a/b/", "a/b/abc123def456/manifest.json.out"),
            ("s3://out", "abc123def456/manifest.json.out"),
            ("s3://out/", "abc123def456/manifest.json.out"),
        ] {
            assert_eq!(
                manifest_location(uri, arn),
                Ok(("out".to_string(), key.to_string())),
                "{uri}"
            );
        }
        assert!(manifest_location("https://out/x", arn).is_err());
        assert!(manifest_location("s3:///x", arn).is_err());
        assert!(manifest_location("s3://out/x", "no-id").is_err());
        assert!(manifest_location("s3://out/x", "arn:x/../etc").is_err());
        assert!(manifest_location("s3://out/x", &format!("{arn}/../x")).is_err());
    }

    fn fixture() -> (Jobs, Objects) {
        let out = "s3://batch-out/results/";
        let jobs = vec![
            job("aaaaaaaaaaa1", HAIKU, COMPLETED, Some(DAY + 3_600), out),
            job(
                "aaaaaaaaaaa2",
                HAIKU,
                PARTIALLY_COMPLETED,
                Some(DAY + 7_200),
                out,
            ),
            job("aaaaaaaaaaa3", NOVA, COMPLETED, Some(DAY + 10_800), out),
            // Unreadable: AccessDenied, a missing manifest, a bucket the stack may not read.
            job(
                "aaaaaaaaaaa4",
                NOVA,
                COMPLETED,
                Some(DAY + 20_000),
                "s3://locked/x",
            ),
            job("aaaaaaaaaaa5", NOVA, COMPLETED, Some(DAY + 20_001), out),
            job(
                "aaaaaaaaaaa6",
                NOVA,
                COMPLETED,
                Some(DAY + 20_002),
                "s3://elsewhere/",
            ),
            // Ended the day before, the day after, or not yet: not this day's.
            job("bbbbbbbbbbb1", HAIKU, COMPLETED, Some(DAY - 1), out),
            job("bbbbbbbbbbb2", HAIKU, COMPLETED, Some(DAY + 86_400), out),
            job("bbbbbbbbbbb3", HAIKU, "InProgress", None, out),
            // Ended in the day without outputs to count.
            job("ccccccccccc1", HAIKU, "Failed", Some(DAY + 5), out),
            job("ccccccccccc2", NOVA, "Stopped", Some(DAY + 6), out),
        ];
        let mut objects = HashMap::new();
        for (id, m) in [
            ("aaaaaaaaaaa1", manifest(1_000, 2_000_000, 400_000)),
            ("aaaaaaaaaaa2", manifest(500, 1_000_000, 100_000)),
            ("aaaaaaaaaaa3", manifest(10, 1_000_000, 1_000_000)),
            ("bbbbbbbbbbb1", manifest(7, 7, 7)),
            ("bbbbbbbbbbb2", manifest(7, 7, 7)),
        ] {
            objects.insert(format!("batch-out/results/{id}/manifest.json.out"), m);
        }
        objects.insert(
            "elsewhere/aaaaaaaaaaa6/manifest.json.out".into(),
            manifest(1, 1, 1),
        );
        (
            Jobs(jobs, Mutex::new(Vec::new())),
            Objects(objects, Mutex::new(Vec::new())),
        )
    }

    fn allowed() -> Vec<String> {
        vec!["batch-out".into(), "locked".into()]
    }

    #[test]
    fn the_days_jobs_are_read_and_summed_per_model_unread_ones_named() {
        let (jobs, objects) = fixture();
        let b = allowed();
        let day = block_on(read_jobs(
            &jobs,
            &objects,
            Some(b.as_slice()),
            Timestamp(DAY),
            Timestamp(DAY + 86_400),
        ))
        .unwrap();
        // Listed by submit time back over the longest a job can run, up to the end of the day.
        let q = jobs.1.lock().unwrap()[0];
        assert_eq!(q.submitted_after, Timestamp(DAY - 192 * 3_600));
        assert_eq!(q.submitted_before, Timestamp(DAY + 86_400));
        assert_eq!(jobs.1.lock().unwrap().len(), 6, "every page");
        assert_eq!(day.jobs.len(), 6);
        assert_eq!(
            day.other,
            vec![
                ("job-ccccccccccc1".to_string(), "Failed".to_string()),
                ("job-ccccccccccc2".to_string(), "Stopped".to_string())
            ]
        );
        // The bucket outside the allowed list is never asked for; every read is size-capped.
        let reads = objects.1.lock().unwrap().clone();
        assert_eq!(reads.len(), 5);
        assert!(reads
            .iter()
            .all(|(k, max)| !k.starts_with("elsewhere/") && *max == MAX_MANIFEST_BYTES));

        let prices = PriceTable::embedded();
        let l = lines(&day, &prices, Some("us-east-1"));
        assert_eq!(l.len(), 2);
        let haiku = l.iter().find(|x| x.model == HAIKU).unwrap();
        assert_eq!(
            (
                haiku.jobs,
                haiku.read,
                haiku.records,
                haiku.input_tokens,
                haiku.output_tokens
            ),
            (2, 2, 1_500, 3_000_000, 500_000)
        );
        // No batch rate in the embedded table: unpriced, never the on-demand rate.
        assert_eq!(haiku.cost, Err(REASON_NO_BATCH_RATE.to_string()));
        assert_eq!(
            describe(haiku),
            "batch inference: 2 jobs, 1,500 records, 3,000,000 input + 500,000 output tokens, no price (no batch rate)"
        );
        let nova = l.iter().find(|x| x.model == NOVA).unwrap();
        assert_eq!((nova.jobs, nova.read, nova.records), (4, 1, 10));
        assert_eq!(
            describe(nova),
            "batch inference: 4 jobs (3 not read: not counted), 10 records, 1,000,000 input + 1,000,000 output tokens, no price (no batch rate)"
        );
        let p = problems(&day);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0].starts_with("job job-aaaaaaaaaaa4: manifest s3://locked/x/aaaaaaaaaaa4/manifest.json.out not read: GetObject failed: AccessDenied"), "{}", p[0]);
        assert!(
            p[1].contains("aaaaaaaaaaa5/manifest.json.out not read: GetObject failed: NoSuchKey"),
            "{}",
            p[1]
        );
        assert!(
            p[2].contains("bucket elsewhere is not among the buckets the stack may read"),
            "{}",
            p[2]
        );
        assert_eq!(p[3], "2 jobs ended without outputs to count (job-ccccccccccc1 Failed, job-ccccccccccc2 Stopped)");
        assert_eq!(total(&l), Money::ZERO);
    }

    #[test]
    fn a_batch_rate_in_the_table_prices_the_jobs_and_nothing_else_does() {
        // A table with a batch tier for Haiku (test rates: 0.125 / 0.625 per 1M, half of 0.25 / 1.25)
        // and none for Nova Lite.
        let prices = PriceTable::from_json(
            r#"{"as_of": "2026-12-01", "region_groups": [{"name": "us", "regions": ["us-east-1"]}], "models": [
              { "name": "claude-3-haiku", "match": ["anthropic.claude-3-haiku-20240307-v1"], "source": "test",
                "regional": { "us": { "input": "0.25", "output": "1.25" } },
                "tiers": { "batch": { "regional": { "us": { "input": "0.125", "output": "0.625" } } } } },
              { "name": "nova-lite", "match": ["amazon.nova-lite-v1"], "source": "test",
                "regional": { "us": { "input": "0.06", "output": "0.24" } } } ]}"#,
        )
        .unwrap();
        let (jobs, objects) = fixture();
        let b = allowed();
        let day = block_on(read_jobs(
            &jobs,
            &objects,
            Some(b.as_slice()),
            Timestamp(DAY),
            Timestamp(DAY + 86_400),
        ))
        .unwrap();
        let l = lines(&day, &prices, None);
        // 3,000,000 × 0.125 + 500,000 × 0.625 per 1M = 0.375 + 0.3125.
        let haiku = l.iter().find(|x| x.model == HAIKU).unwrap();
        assert_eq!(haiku.cost, Ok(Money::from_usd_text("0.6875").unwrap()));
        assert!(
            describe(haiku).ends_with(", $0.69 at the batch rate"),
            "{}",
            describe(haiku)
        );
        let nova = l.iter().find(|x| x.model == NOVA).unwrap();
        assert_eq!(nova.cost, Err(REASON_NO_BATCH_RATE.to_string()));
        assert_eq!(l[0].model, HAIKU, "costliest first");
        assert_eq!(total(&l), Money::from_usd_text("0.6875").unwrap());
        // An unknown model says so; a Region without a rate says so.
        let unknown = BatchDay {
            jobs: vec![JobCount {
                job: job("ddddddddddd1", "acme.x-v1", COMPLETED, Some(DAY), "s3://b/"),
                manifest_url: None,
                manifest: Ok(Manifest {
                    records: 1,
                    errors: 0,
                    input_tokens: 1,
                    output_tokens: 1,
                }),
            }],
            other: vec![],
        };
        assert_eq!(
            lines(&unknown, &prices, None)[0].cost,
            Err("unknown model".to_string())
        );
        let mut eu = unknown.clone();
        eu.jobs[0].job.model_id = HAIKU.into();
        eu.jobs[0].job.arn =
            "arn:aws:bedrock:eu-west-1:111122223333:model-invocation-job/ddddddddddd1".into();
        assert_eq!(
            lines(&eu, &prices, Some("us-east-1"))[0].cost,
            Err("no rate for region".to_string())
        );
    }

    #[test]
    fn a_failed_listing_is_an_error_not_an_empty_day() {
        struct Denied;
        impl BatchJobSource for Denied {
            async fn list_page(
                &self,
                _: &JobQuery,
                _: Option<String>,
            ) -> Result<JobPage, AwsError> {
                Err(AwsError::new(
                    "ListModelInvocationJobs",
                    "AccessDeniedException: no",
                ))
            }
        }
        let (_, objects) = fixture();
        let e = block_on(read_jobs(
            &Denied,
            &objects,
            None,
            Timestamp(DAY),
            Timestamp(DAY + 1),
        ));
        assert!(e.is_err());
    }

    #[test]
    fn the_email_and_the_page_carry_the_lines_and_what_was_not_counted() {
        let (jobs, objects) = fixture();
        let b = allowed();
        let day = block_on(read_jobs(
            &jobs,
            &objects,
            Some(b.as_slice()),
            Timestamp(DAY),
            Timestamp(DAY + 86_400),
        ))
        .unwrap();
        let l = lines(&day, &PriceTable::embedded(), Some("us-east-1"));
        let p = problems(&day);
        let body = "Total $1.00\n\nPrices: table as of 2026-11-01.\n";
        let mut n = Notification {
            subject: "s".into(),
            body: body.into(),
            attributes: vec![],
        };
        add_to_email(&mut n, &l, &p, 100_000);
        assert!(
            n.body
                .starts_with("Total $1.00\n\nBatch inference (batch jobs: not in invocation logs"),
            "{}",
            n.body
        );
        assert!(n.body.contains(&format!(
            "\n  {HAIKU}: batch inference: 2 jobs, 1,500 records,"
        )));
        assert!(n
            .body
            .contains("\n  not counted: job job-aaaaaaaaaaa4: manifest s3://locked/"));
        assert!(n.body.ends_with("\nPrices: table as of 2026-11-01.\n"));
        // Too small for everything: the lines that do not fit are counted; too small for any: unchanged.
        let mut small = Notification {
            subject: "s".into(),
            body: body.into(),
            attributes: vec![],
        };
        add_to_email(&mut small, &l, &p, body.len() + 300);
        assert!(small.body.contains("more lines\n"), "{}", small.body);
        assert!(small.body.len() <= body.len() + 300);
        let mut tiny = Notification {
            subject: "s".into(),
            body: body.into(),
            attributes: vec![],
        };
        add_to_email(&mut tiny, &l, &p, body.len() + 10);
        assert_eq!(tiny.body, body);
        let mut none = Notification {
            subject: "s".into(),
            body: body.into(),
            attributes: vec![],
        };
        add_to_email(&mut none, &[], &[], 100_000);
        assert_eq!(none.body, body);

        let html = "<main><h1>x</h1>\n<footer>f</footer>\n</main>";
        let page = add_to_page(html, &l, &p);
        assert!(page.find("id=\"batch\"").unwrap() < page.find("<footer>").unwrap());
        assert!(page.contains("batch inference: 2 jobs, 1,500 records"));
        assert!(page.contains("not counted: job job-aaaaaaaaaaa4"));
        assert_eq!(add_to_page(html, &[], &[]), html);
        // Job names and models are the caller's text: escaped.
        let mut hostile = day.clone();
        hostile.jobs[3].job.name = "<script>x</script>".into();
        let page = add_to_page(html, &l, &problems(&hostile));
        assert!(!page.contains("<script>"));
    }

    #[test]
    fn the_setting_names_the_buckets_or_turns_the_feature_off() {
        assert_eq!(buckets_from(None), None);
        assert_eq!(buckets_from(Some(" , ")), None);
        assert_eq!(
            buckets_from(Some(" a-out , b.out,,")),
            Some(vec!["a-out".to_string(), "b.out".to_string()])
        );
    }
}

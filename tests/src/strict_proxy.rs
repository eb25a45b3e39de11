//! A checking HTTP proxy in front of moto: it rejects what the real services reject and moto accepts.
//!
//! moto stores a CloudWatch dimension value `Équipe` or an SNS subject with a line break (and checks
//! only some DynamoDB sizes); AWS answers each with a 400. Every integration test reaches moto through this
//! proxy ([`crate::Moto`] hands out the proxy's endpoint), so a request the real service would refuse
//! fails the test the way it would fail in production: the SDK gets a 400 in the service's own error
//! shape and surfaces a service error.
//!
//! The rules, from the services' API references and quotas pages:
//!
//! - **CloudWatch `PutMetricData`** (Query protocol, form-encoded, gzip when large): at most 1,000
//!   datums and 1 MB of payload per request — the payload uncompressed: a gzip body is judged by what
//!   it inflates to (API reference, PutMetricData: "Each PutMetricData request is limited to 1 MB");
//!   namespace 1–255 characters, not `AWS/…`; metric names 1–255 characters; at most 30 dimensions per datum; dimension names 1–255 and values 1–1,024
//!   characters, ASCII only, at least one non-whitespace character, no ASCII control characters, names
//!   not starting with `:`; values finite and within ±2^360 (and not smaller than 2^-360 in magnitude
//!   unless zero); at most 150 `Values`, with `Counts` of the same length; a known unit; storage
//!   resolution 1 or 60; timestamps no more than two weeks in the past and two hours in the future.
//! - **DynamoDB** (JSON 1.0; developer guide "Constraints in Amazon DynamoDB",
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html>, "Item sizes
//!   and formats", and "Amazon DynamoDB Transactions: How it works",
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html>):
//!   partition key values 1–2,048 bytes, sort key values 1–1,024 bytes; items at most 400 KB (attribute
//!   names plus values, sized as the developer guide documents) — checked on a put's item, and **after
//!   every update** (`UpdateItem`, a transaction's `Update`): the proxy applies writes to an item one at a
//!   time, reads the item back, and when it has passed 400 KB (or holds a number DynamoDB could not
//!   keep) puts it — and every other item of the transaction — back as it was and answers
//!   `ValidationException` (`TransactionCanceledException` with `ValidationError` for the action, in a
//!   transaction); any expression string at most 4 KB; sets neither empty nor holding a member twice
//!   (numbers compared by value); numbers of at most 38 significant digits, magnitude 1E-130 to
//!   9.9999999999999999999999999999999999999E+125; `BatchWriteItem` at most 25 requests,
//!   `BatchGetItem` at most 100 keys, `TransactWriteItems` and `TransactGetItems` at most 100 actions, a
//!   transaction at most 4 MB and at most one action per item. Key attributes come from the table's key
//!   schema (learnt from `CreateTable` as it passes, else asked of moto with `DescribeTable`).
//!   **Transactions are isolated and all or nothing** (DynamoDB: serializable against every other
//!   request): the proxy lets a `TransactWriteItems` reach moto only when no other DynamoDB request is
//!   in flight, and runs one of puts, updates and deletes itself — each action as its own conditional
//!   write returning the item as it was, every written item put back when a condition fails
//!   (`TransactionCanceledException`, one reason per action), moto refuses an action (its error) or an
//!   updated item passes the limits. moto's own transaction copies every table it touches before it
//!   starts (a run writing N items costs N²) and cancels by putting that copy back whole, which undoes
//!   the writes of concurrent requests and revives those of a concurrently cancelled transaction.
//! - **SNS `Publish` / `PublishBatch`** (Query protocol): a non-empty message of at most 256 KB
//!   (262,144 bytes, message attributes included); a subject, when given, of printable ASCII beginning
//!   with a letter, digit or punctuation mark, no line breaks or control characters, fewer than 100
//!   characters; at most 10 message attributes, names of `A-Za-z0-9_-.` (at most 256, not `AWS.` or
//!   `Amazon.`, no leading, trailing or doubled `.`), a `String`, `Number` or `Binary` data type and a
//!   non-empty value; `PublishBatch` at most 10 entries; with `MessageStructure=json`, a message that is
//!   a JSON object of strings with a `default` entry.
//! - **S3 `PutObject`** (REST, path-style): an object key of 1–1,024 bytes (UTF-8) and a body of at
//!   most 5 GB in one PUT.
//! - **S3 bucket policies across accounts** (moto keeps them but never evaluates them, and lets any
//!   account write to any bucket): the proxy learns each bucket's owner (the account of the access key
//!   that created it: a 12-digit access key id is that account, any other is moto's default
//!   `123456789012`; the proxy tells moto so with its `x-moto-account-id` header, as moto 5 maps only
//!   the access keys its own IAM issued) and its policy (`PutBucketPolicy`); a `PutObject` from another
//!   account is allowed only by an `Allow` statement of the policy for that principal, `s3:PutObject`,
//!   the object's ARN (`${aws:PrincipalAccount}` substituted) and conditions that hold — and by no
//!   matching `Deny` — else it is refused with S3's 403 `AccessDenied`, as AWS does. Conditions
//!   evaluated: `StringEquals`, `StringNotEquals`, `StringLike`, `Bool` over `aws:PrincipalOrgID` (the
//!   organisation the test put the caller's account in, [`StrictProxy::set_organization`]),
//!   `aws:PrincipalAccount`, `s3:x-amz-acl` and `aws:SecureTransport` (true: the SDKs use HTTPS; the
//!   loopback endpoint is the test's artefact); any other condition is refused as one the proxy cannot
//!   judge, so a policy is never passed by ignorance. Same-account puts (identity policies) are not
//!   evaluated.
//! - **SNS topic policies across accounts** (moto stores a topic's `Policy` attribute and lets any
//!   account publish to any topic): the proxy learns each topic's policy as it is set (`CreateTopic`'s
//!   `Policy` attribute, `SetTopicAttributes`) and judges a `Publish` or `PublishBatch` from another
//!   account than the topic's (the account in its ARN) by it, with the statement evaluation of bucket
//!   policies above (principal, `sns:Publish`, the topic's ARN, the same conditions — `aws:PrincipalOrgID`
//!   for the organisation's alerts topic); a topic without a policy of its own has SNS's default policy,
//!   which grants its owner's account only. A publish no statement allows, or one a `Deny` matches, is
//!   refused with SNS's 403 `AuthorizationError` ("User: … is not authorized to perform: SNS:Publish on
//!   resource: … because no resource-based policy allows the SNS:Publish action").
//! - **IAM inline policies** (`Put|Delete|Get Role|User Policy`, `List Role|User Policies`; Query
//!   protocol; API reference, PutRolePolicy / PutUserPolicy, and "IAM and AWS STS quotas"): role and
//!   user names 1–64 and policy names 1–128 characters of `[\w+=,.@-]`; a policy document of
//!   1–131,072 characters of `[\u0009\u000A\u000D\u0020-\u00FF]` (tab, line feed, carriage return,
//!   Basic Latin and Latin-1 printable characters: anything else is a `ValidationError`), JSON, and (whitespace not counted) at most 10,240 characters for a role and 2,048
//!   for a user — the quota is for all of a principal's inline policies together: the proxy keeps the
//!   sizes of the policies put through it per principal and refuses a put that would pass it.
//! - **S3 `GetObject` across accounts**: refused with `AccessDenied` (403) when the bucket's owner is
//!   another account and the bucket has no policy (AWS needs the bucket policy's grant for a
//!   cross-account read); a bucket policy on such a read is not judged, and the read is refused rather
//!   than passed by ignorance.
//! - **Bedrock `ListModelInvocationJobs`**, which moto does not implement: answered by the strict
//!   double in [`crate::batch_jobs`] ([`StrictProxy::batch_jobs`] seeds it), with the documented
//!   request limits.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::runtime_stub::{read_request, Request};

/// Why a request was refused: the service, its error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub service: Service,
    pub code: &'static str,
    pub message: String,
    /// `TransactionCanceledException`: one reason code per action, in order (`None` for the others).
    pub reasons: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    CloudWatch,
    DynamoDb,
    Sns,
    S3,
    Iam,
    Bedrock,
}

fn reject(service: Service, code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        service,
        code,
        message: message.into(),
        reasons: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// CloudWatch PutMetricData.

pub const CW_MAX_DATUMS: usize = 1000;
/// "Each PutMetricData request is limited to 1 MB in size for HTTP POST requests."
pub const CW_MAX_REQUEST_BYTES: usize = 1024 * 1024;
pub const CW_MAX_DIMENSIONS: usize = 30;
pub const CW_MAX_DIMENSION_NAME: usize = 255;
pub const CW_MAX_DIMENSION_VALUE: usize = 1024;
pub const CW_MAX_VALUES: usize = 150;
const CW_UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn cw(message: impl Into<String>) -> Rejection {
    reject(Service::CloudWatch, "InvalidParameterValue", message)
}

/// A dimension name or value as CloudWatch accepts it (`what` names it in the error).
fn check_dimension_text(what: &str, s: &str, max: usize) -> Result<(), Rejection> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(cw(format!(
            "The value for parameter {what} must be 1 to {max} characters long (got {n})"
        )));
    }
    if !s.is_ascii() {
        return Err(cw(format!("{what} must contain only ASCII characters")));
    }
    if s.bytes().any(|b| b.is_ascii_control()) {
        return Err(cw(format!(
            "{what} must not contain ASCII control characters"
        )));
    }
    if s.bytes().all(|b| b.is_ascii_whitespace()) {
        return Err(cw(format!(
            "{what} must include at least one non-whitespace character"
        )));
    }
    Ok(())
}

fn check_value(what: &str, v: &str) -> Result<(), Rejection> {
    let x: f64 = v
        .parse()
        .map_err(|_| cw(format!("{what} is not a number: {v:?}")))?;
    let (max, min) = (2f64.powi(360), 2f64.powi(-360));
    if !x.is_finite() || x.abs() > max || (x != 0.0 && x.abs() < min) {
        return Err(cw(format!(
            "The value {v} for parameter {what} is invalid: values must be finite and within -2^360..2^360"
        )));
    }
    Ok(())
}

/// `GetMetricData`: at most 500 queries a call, each id unique and starting with a lower-case letter.
pub fn check_get_metric_data(params: &BTreeMap<String, String>) -> Result<(), Rejection> {
    let ids: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k.starts_with("MetricDataQueries.member.") && k.ends_with(".Id"))
        .map(|(_, v)| v.as_str())
        .collect();
    if ids.len() > 500 {
        return Err(cw(format!(
            "The collection MetricDataQueries must not have a size greater than 500 (got {})",
            ids.len()
        )));
    }
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    if unique.len() != ids.len()
        || ids
            .iter()
            .any(|i| !i.starts_with(|c: char| c.is_ascii_lowercase()))
    {
        return Err(cw(
            "MetricDataQueries ids must be unique and start with a lower-case letter",
        ));
    }
    Ok(())
}

/// `PutMetricData`: `params` are the form parameters (decoded), `wire_bytes` the size of the request
/// body uncompressed (a gzip body is judged by what it inflates to).
pub fn check_put_metric_data(
    params: &BTreeMap<String, String>,
    wire_bytes: usize,
    now_secs: i64,
) -> Result<(), Rejection> {
    if wire_bytes > CW_MAX_REQUEST_BYTES {
        return Err(reject(
            Service::CloudWatch,
            "RequestEntityTooLarge",
            format!("Request size {wire_bytes} exceeded {CW_MAX_REQUEST_BYTES} bytes"),
        ));
    }
    let ns = params.get("Namespace").map(String::as_str).unwrap_or("");
    if ns.is_empty() || ns.chars().count() > 255 || ns.starts_with("AWS/") || ns.starts_with(':') {
        return Err(cw(format!("Invalid Namespace {ns:?}")));
    }
    // Group MetricData.member.N.<rest>.
    let mut datums: BTreeMap<usize, BTreeMap<&str, &str>> = BTreeMap::new();
    for (k, v) in params {
        if let Some(rest) = k.strip_prefix("MetricData.member.") {
            if let Some((n, field)) = rest.split_once('.') {
                if let Ok(n) = n.parse::<usize>() {
                    datums.entry(n).or_default().insert(field, v.as_str());
                }
            }
        }
    }
    if datums.is_empty() {
        return Err(reject(
            Service::CloudWatch,
            "MissingParameter",
            "The parameter MetricData is required",
        ));
    }
    if datums.len() > CW_MAX_DATUMS {
        return Err(cw(format!(
            "The collection MetricData must not have a size greater than {CW_MAX_DATUMS} (got {})",
            datums.len()
        )));
    }
    for (n, d) in &datums {
        let p = format!("MetricData.member.{n}");
        let name = d.get("MetricName").copied().unwrap_or("");
        if name.is_empty() || name.chars().count() > 255 {
            return Err(cw(format!("{p}.MetricName must be 1 to 255 characters")));
        }
        let mut dims: BTreeMap<usize, (Option<&str>, Option<&str>)> = BTreeMap::new();
        for (field, v) in d {
            if let Some(rest) = field.strip_prefix("Dimensions.member.") {
                if let Some((i, f)) = rest.split_once('.') {
                    let i: usize = i.parse().unwrap_or(0);
                    let e = dims.entry(i).or_default();
                    match f {
                        "Name" => e.0 = Some(v),
                        "Value" => e.1 = Some(v),
                        _ => {}
                    }
                }
            }
        }
        if dims.len() > CW_MAX_DIMENSIONS {
            return Err(cw(format!(
                "{p}.Dimensions must not have more than {CW_MAX_DIMENSIONS} members (got {})",
                dims.len()
            )));
        }
        for (i, (dn, dv)) in &dims {
            let dp = format!("{p}.Dimensions.member.{i}");
            let dn = dn.ok_or_else(|| cw(format!("{dp}.Name is required")))?;
            let dv = dv.ok_or_else(|| cw(format!("{dp}.Value is required")))?;
            check_dimension_text(&format!("{dp}.Name"), dn, CW_MAX_DIMENSION_NAME)?;
            if dn.starts_with(':') {
                return Err(cw(format!("{dp}.Name must not start with a colon")));
            }
            check_dimension_text(&format!("{dp}.Value"), dv, CW_MAX_DIMENSION_VALUE)?;
        }
        if let Some(v) = d.get("Value") {
            check_value(&format!("{p}.Value"), v)?;
        }
        let values: Vec<&str> = d
            .iter()
            .filter(|(f, _)| f.starts_with("Values.member."))
            .map(|(_, v)| *v)
            .collect();
        let counts = d.keys().filter(|f| f.starts_with("Counts.member.")).count();
        if values.len() > CW_MAX_VALUES {
            return Err(cw(format!(
                "{p}.Values must not have more than {CW_MAX_VALUES} members"
            )));
        }
        if counts > 0 && counts != values.len() {
            return Err(reject(
                Service::CloudWatch,
                "InvalidParameterCombination",
                format!("{p}: Values and Counts must have the same length"),
            ));
        }
        for v in values {
            check_value(&format!("{p}.Values"), v)?;
        }
        if d.contains_key("Value")
            && (d.keys().any(|f| f.starts_with("StatisticValues.")) || counts > 0)
        {
            return Err(reject(
                Service::CloudWatch,
                "InvalidParameterCombination",
                format!("{p}: Value cannot be combined with StatisticValues or Values"),
            ));
        }
        if let Some(u) = d.get("Unit") {
            if !CW_UNITS.contains(u) {
                return Err(cw(format!("{p}.Unit {u:?} is not a valid unit")));
            }
        }
        if let Some(r) = d.get("StorageResolution") {
            if *r != "1" && *r != "60" {
                return Err(cw(format!("{p}.StorageResolution must be 1 or 60")));
            }
        }
        if let Some(ts) = d.get("Timestamp") {
            let t = bedrock_meter_core::time::Timestamp::parse_iso8601(ts)
                .ok_or_else(|| cw(format!("{p}.Timestamp {ts:?} is not a timestamp")))?;
            if t.0 < now_secs - 14 * 86_400 {
                return Err(cw(format!(
                    "The parameter {p}.Timestamp must specify a time no more than two weeks in the past"
                )));
            }
            if t.0 > now_secs + 2 * 3600 {
                return Err(cw(format!(
                    "The parameter {p}.Timestamp must specify a time no more than two hours in the future"
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// IAM inline policies.

pub const IAM_MAX_PRINCIPAL_NAME: usize = 64;
pub const IAM_MAX_POLICY_NAME: usize = 128;
pub const IAM_MAX_ROLE_POLICY_CHARS: usize = 10_240;
pub const IAM_MAX_USER_POLICY_CHARS: usize = 2_048;
/// `PolicyDocument`'s length constraint in the `PutRolePolicy` / `PutUserPolicy` API reference.
pub const IAM_MAX_POLICY_DOCUMENT: usize = 131_072;

/// A character `PolicyDocument` may hold: tab, line feed, carriage return, and U+0020 to U+00FF.
fn iam_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}')
}

fn iam_name_ok(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.chars().count() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// One IAM inline-policy request (Query protocol form parameters).
pub fn check_iam(action: &str, params: &BTreeMap<String, String>) -> Result<(), Rejection> {
    let role = action.contains("Role");
    let (who, max_doc) = if role {
        ("RoleName", IAM_MAX_ROLE_POLICY_CHARS)
    } else {
        ("UserName", IAM_MAX_USER_POLICY_CHARS)
    };
    let name = params.get(who).map(String::as_str).unwrap_or("");
    if !iam_name_ok(name, IAM_MAX_PRINCIPAL_NAME) {
        return Err(reject(
            Service::Iam,
            "ValidationError",
            format!("1 validation error detected: Value '{name}' at '{who}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length less than or equal to 64"),
        ));
    }
    if action.ends_with("Policies") {
        return Ok(());
    }
    let policy = params.get("PolicyName").map(String::as_str).unwrap_or("");
    if !iam_name_ok(policy, IAM_MAX_POLICY_NAME) {
        return Err(reject(
            Service::Iam,
            "ValidationError",
            format!("1 validation error detected: Value '{policy}' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length less than or equal to 128"),
        ));
    }
    if action.starts_with("Put") {
        let doc = params
            .get("PolicyDocument")
            .map(String::as_str)
            .unwrap_or("");
        // The API's own constraints on the parameter: 1–131,072 characters of
        // `[\u0009\u000A\u000D\u0020-\u00FF]+`.
        let n = doc.chars().count();
        if n == 0 || n > IAM_MAX_POLICY_DOCUMENT {
            return Err(reject(
                Service::Iam,
                "ValidationError",
                format!("1 validation error detected: Value at 'policyDocument' failed to satisfy constraint: Member must have length less than or equal to {IAM_MAX_POLICY_DOCUMENT} (got {n})"),
            ));
        }
        if let Some(c) = doc.chars().find(|c| !iam_policy_char(*c)) {
            return Err(reject(
                Service::Iam,
                "ValidationError",
                format!("1 validation error detected: Value at 'policyDocument' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+ (U+{:04X})", u32::from(c)),
            ));
        }
        if serde_json::from_str::<Value>(doc).is_err() {
            return Err(reject(
                Service::Iam,
                "MalformedPolicyDocument",
                "Syntax errors in policy.",
            ));
        }
        let size = doc.chars().filter(|c| !c.is_whitespace()).count();
        if size > max_doc {
            return Err(reject(
                Service::Iam,
                "LimitExceeded",
                format!(
                    "Maximum policy size of {max_doc} bytes exceeded for {} {name}",
                    if role { "role" } else { "user" }
                ),
            ));
        }
    }
    Ok(())
}

/// The aggregate rule: a principal's inline policies together at most 10,240 (role) or 2,048 (user)
/// characters, whitespace not counted. A put replaces the policy of its name; a delete removes it.
fn check_inline_aggregate(
    inline: &Mutex<HashMap<String, HashMap<String, usize>>>,
    action: &str,
    params: &BTreeMap<String, String>,
) -> Result<(), Rejection> {
    let role = action.contains("Role");
    let (who, max) = if role {
        ("RoleName", IAM_MAX_ROLE_POLICY_CHARS)
    } else {
        ("UserName", IAM_MAX_USER_POLICY_CHARS)
    };
    let principal = format!(
        "{}/{}",
        if role { "role" } else { "user" },
        params.get(who).map(String::as_str).unwrap_or("")
    );
    let name = params.get("PolicyName").cloned().unwrap_or_default();
    let mut g = inline.lock().unwrap();
    let policies = g.entry(principal.clone()).or_default();
    if action.starts_with("Delete") {
        policies.remove(&name);
    } else if action.starts_with("Put") {
        let size = params
            .get("PolicyDocument")
            .map_or(0, |d| d.chars().filter(|c| !c.is_whitespace()).count());
        let others: usize = policies
            .iter()
            .filter(|(n, _)| **n != name)
            .map(|(_, s)| s)
            .sum();
        if others + size > max {
            return Err(reject(
                Service::Iam,
                "LimitExceeded",
                format!("Maximum policy size of {max} bytes exceeded for {principal}"),
            ));
        }
        policies.insert(name, size);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SNS Publish and PublishBatch.

pub const SNS_MAX_MESSAGE_BYTES: usize = 262_144;
pub const SNS_MAX_SUBJECT_CHARS: usize = 99;
pub const SNS_MAX_ATTRIBUTES: usize = 10;
pub const SNS_MAX_BATCH: usize = 10;

fn sns(message: impl Into<String>) -> Rejection {
    reject(Service::Sns, "InvalidParameter", message)
}

/// The subject rule as SNS states it in its error: "Subject must be ASCII text that begins with a
/// letter, number, or punctuation mark; must not include line breaks or control characters; and must
/// be less than 100 characters long".
pub fn check_subject(s: &str) -> Result<(), Rejection> {
    let ok = !s.is_empty()
        && s.len() <= SNS_MAX_SUBJECT_CHARS
        && s.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && s.as_bytes()[0].is_ascii_graphic();
    if ok {
        Ok(())
    } else {
        Err(sns(format!(
            "Invalid parameter: Subject must be ASCII text that begins with a letter, number, or punctuation \
             mark; must not include line breaks or control characters; and must be less than 100 characters \
             long (got {s:?})"
        )))
    }
}

fn check_attribute_name(name: &str) -> Result<(), Rejection> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(sns(format!(
            "Invalid parameter: MessageAttributes name {name:?}"
        )))
    }
}

/// One message: the fields under `prefix` (`""` for Publish, `PublishBatchRequestEntries.member.N.`).
fn check_sns_message(params: &BTreeMap<String, String>, prefix: &str) -> Result<(), Rejection> {
    let message = params
        .get(&format!("{prefix}Message"))
        .map(String::as_str)
        .unwrap_or("");
    if message.is_empty() {
        return Err(sns("Invalid parameter: Empty message"));
    }
    // MessageStructure=json: a JSON object of strings per protocol, with a `default` one.
    if params
        .get(&format!("{prefix}MessageStructure"))
        .map(String::as_str)
        == Some("json")
    {
        let v: Option<serde_json::Map<String, Value>> = serde_json::from_str(message).ok();
        let ok = v.is_some_and(|m| {
            m.get("default").is_some_and(Value::is_string) && m.values().all(Value::is_string)
        });
        if !ok {
            return Err(sns(
                "Invalid parameter: Message Structure - No default entry in JSON message body",
            ));
        }
    }
    if let Some(subject) = params.get(&format!("{prefix}Subject")) {
        check_subject(subject)?;
    }
    let attr_prefix = format!("{prefix}MessageAttributes.entry.");
    let mut attrs: BTreeMap<usize, BTreeMap<&str, &str>> = BTreeMap::new();
    for (k, v) in params.range(attr_prefix.clone()..) {
        let Some(rest) = k.strip_prefix(&attr_prefix) else {
            break;
        };
        if let Some((n, field)) = rest.split_once('.') {
            if let Ok(n) = n.parse::<usize>() {
                attrs.entry(n).or_default().insert(field, v.as_str());
            }
        }
    }
    if attrs.len() > SNS_MAX_ATTRIBUTES {
        return Err(sns(format!(
            "Invalid parameter: Number of message attributes [{}] exceeds the allowed maximum [{SNS_MAX_ATTRIBUTES}]",
            attrs.len()
        )));
    }
    let mut size = message.len();
    for a in attrs.values() {
        let name = a.get("Name").copied().unwrap_or("");
        check_attribute_name(name)?;
        let data_type = a.get("Value.DataType").copied().unwrap_or("");
        let base = data_type.split('.').next().unwrap_or("");
        let value = match base {
            "String" | "Number" => a.get("Value.StringValue").copied().unwrap_or(""),
            "Binary" => a.get("Value.BinaryValue").copied().unwrap_or(""),
            _ => {
                return Err(sns(format!(
                    "Invalid parameter: The message attribute '{name}' has an invalid message attribute type {data_type:?}"
                )))
            }
        };
        if value.is_empty() {
            return Err(sns(format!(
                "Invalid parameter: The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
            )));
        }
        if base == "Number" && value.parse::<f64>().is_err() {
            return Err(sns(format!(
                "Invalid parameter: The message attribute '{name}' has an invalid number value"
            )));
        }
        size += name.len() + data_type.len() + value.len();
    }
    if size > SNS_MAX_MESSAGE_BYTES {
        return Err(sns(format!(
            "Invalid parameter: Message too long ({size} bytes with attributes; at most {SNS_MAX_MESSAGE_BYTES})"
        )));
    }
    Ok(())
}

pub fn check_sns_publish(params: &BTreeMap<String, String>) -> Result<(), Rejection> {
    check_sns_message(params, "")
}

pub fn check_sns_publish_batch(params: &BTreeMap<String, String>) -> Result<(), Rejection> {
    let mut entries: Vec<usize> = params
        .keys()
        .filter_map(|k| k.strip_prefix("PublishBatchRequestEntries.member."))
        .filter_map(|r| r.split_once('.')?.0.parse().ok())
        .collect();
    entries.sort_unstable();
    entries.dedup();
    if entries.len() > SNS_MAX_BATCH {
        return Err(reject(
            Service::Sns,
            "TooManyEntriesInBatchRequest",
            format!("The batch request contains more entries than permissible ({SNS_MAX_BATCH})"),
        ));
    }
    for n in entries {
        check_sns_message(params, &format!("PublishBatchRequestEntries.member.{n}."))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// DynamoDB.

pub const DDB_MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const DDB_MAX_SORT_KEY_BYTES: usize = 1024;
pub const DDB_MAX_ITEM_BYTES: usize = 400 * 1024;
pub const DDB_MAX_BATCH_WRITE: usize = 25;
pub const DDB_MAX_BATCH_GET: usize = 100;
pub const DDB_MAX_TRANSACT: usize = 100;

/// A table's key attribute names: partition key, and sort key if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySchema {
    pub partition: String,
    pub sort: Option<String>,
}

impl KeySchema {
    /// From a `KeySchema` array (`[{"AttributeName", "KeyType": "HASH"|"RANGE"}]`).
    pub fn from_json(v: &Value) -> Option<KeySchema> {
        let arr = v.as_array()?;
        let find = |t: &str| {
            arr.iter()
                .find(|k| k["KeyType"] == t)
                .and_then(|k| k["AttributeName"].as_str())
                .map(str::to_string)
        };
        Some(KeySchema {
            partition: find("HASH")?,
            sort: find("RANGE"),
        })
    }
}

fn ddb(message: impl Into<String>) -> Rejection {
    reject(Service::DynamoDb, "ValidationException", message)
}

fn b64_len(s: &str) -> usize {
    let s = s.trim_end_matches('=');
    s.len() * 3 / 4
}

/// Size of a number as DynamoDB counts it: one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(|c| c.is_ascii_digit()).collect();
    let sig = digits.trim_start_matches('0').trim_end_matches('0').len();
    sig.div_ceil(2) + 1
}

/// Size of an attribute value (the developer guide's item-size rules).
pub fn value_size(v: &Value) -> usize {
    let Some(obj) = v.as_object() else { return 0 };
    let Some((t, x)) = obj.iter().next() else {
        return 0;
    };
    match t.as_str() {
        "S" => x.as_str().map_or(0, str::len),
        "N" => x.as_str().map_or(0, number_size),
        "B" => x.as_str().map_or(0, b64_len),
        "BOOL" | "NULL" => 1,
        "SS" => x.as_array().map_or(0, |a| {
            a.iter().filter_map(Value::as_str).map(str::len).sum()
        }),
        "NS" => x.as_array().map_or(0, |a| {
            a.iter().filter_map(Value::as_str).map(number_size).sum()
        }),
        "BS" => x
            .as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_str).map(b64_len).sum()),
        "L" => x.as_array().map_or(3, |a| {
            3 + a.iter().map(|e| value_size(e) + 1).sum::<usize>()
        }),
        "M" => x.as_object().map_or(3, |m| {
            3 + m
                .iter()
                .map(|(k, e)| k.len() + value_size(e) + 1)
                .sum::<usize>()
        }),
        _ => 0,
    }
}

/// Size of an item: attribute names plus values.
pub fn item_size(item: &Value) -> usize {
    item.as_object()
        .map_or(0, |m| m.iter().map(|(k, v)| k.len() + value_size(v)).sum())
}

fn check_key_value(name: &str, v: &Value, max: usize, kind: &str) -> Result<(), Rejection> {
    let obj = v.as_object();
    let (t, x) = obj
        .and_then(|o| o.iter().next())
        .ok_or_else(|| ddb(format!("The key attribute {name} is not a scalar value")))?;
    if !matches!(t.as_str(), "S" | "N" | "B") {
        return Err(ddb(format!(
            "One or more parameter values were invalid: Type mismatch for key {name}"
        )));
    }
    let size = value_size(v);
    if size == 0 && t != "N" {
        return Err(ddb(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {} value. Key: {name}",
            if t == "S" { "string" } else { "binary" }
        )));
    }
    let _ = x;
    if size > max {
        return Err(ddb(format!(
            "One or more parameter values were invalid: Size of {kind} has exceeded the maximum size limit of {max} bytes (key {name}: {size} bytes)"
        )));
    }
    Ok(())
}

/// The key attributes of a key or item map.
fn check_key(schema: &KeySchema, key: &Value) -> Result<(), Rejection> {
    let pk = key
        .get(&schema.partition)
        .ok_or_else(|| ddb("The provided key element does not match the schema"))?;
    check_key_value(
        &schema.partition,
        pk,
        DDB_MAX_PARTITION_KEY_BYTES,
        "hashkey",
    )?;
    if let Some(sk_name) = &schema.sort {
        let sk = key
            .get(sk_name)
            .ok_or_else(|| ddb("The provided key element does not match the schema"))?;
        check_key_value(sk_name, sk, DDB_MAX_SORT_KEY_BYTES, "rangekey")?;
    }
    Ok(())
}

fn check_item(schema: &KeySchema, item: &Value) -> Result<(), Rejection> {
    check_key(schema, item)?;
    let size = item_size(item);
    if size > DDB_MAX_ITEM_BYTES {
        return Err(ddb(format!(
            "Item size has exceeded the maximum allowed size ({size} bytes; at most {DDB_MAX_ITEM_BYTES})"
        )));
    }
    Ok(())
}

/// Key values named in a `KeyConditionExpression`: each `:placeholder` is checked against the key
/// attribute named most recently before it.
fn check_key_condition(schema: &KeySchema, body: &Value) -> Result<(), Rejection> {
    let Some(expr) = body["KeyConditionExpression"].as_str() else {
        return Ok(());
    };
    let names = &body["ExpressionAttributeNames"];
    let values = &body["ExpressionAttributeValues"];
    let mut last: Option<(String, usize, &str)> = None;
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'#' || c == b':' || c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let tok = &expr[start..i];
            if c == b':' {
                if let (Some((name, max, kind)), Some(v)) = (&last, values.get(tok)) {
                    check_key_value(name, v, *max, kind)?;
                }
                continue;
            }
            let resolved = if c == b'#' {
                names[tok].as_str().unwrap_or("").to_string()
            } else {
                tok.to_string()
            };
            if resolved == schema.partition {
                last = Some((resolved, DDB_MAX_PARTITION_KEY_BYTES, "hashkey"));
            } else if schema.sort.as_deref() == Some(resolved.as_str()) {
                last = Some((resolved, DDB_MAX_SORT_KEY_BYTES, "rangekey"));
            }
        } else {
            i += 1;
        }
    }
    Ok(())
}

pub const DDB_MAX_EXPRESSION_BYTES: usize = 4 * 1024;
pub const DDB_MAX_TRANSACT_BYTES: usize = 4 * 1024 * 1024;
pub const DDB_MAX_NUMBER_DIGITS: usize = 38;
const DDB_EXPRESSIONS: [&str; 5] = [
    "UpdateExpression",
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
];

/// "The maximum length of any expression string is 4 KB."
fn check_expressions(body: &Value) -> Result<(), Rejection> {
    for e in DDB_EXPRESSIONS {
        if let Some(x) = body[e].as_str() {
            if x.len() > DDB_MAX_EXPRESSION_BYTES {
                return Err(ddb(format!(
                    "Invalid {e}: Expression size has exceeded the maximum allowed size; expression size: {}",
                    x.len()
                )));
            }
        }
    }
    Ok(())
}

/// A number as DynamoDB keeps it: up to 38 significant digits (leading and trailing zeros do not
/// count), magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125, or zero. Returns
/// its normal form (sign, significant digits, decimal exponent of the first), to compare set members.
pub fn check_number(n: &str) -> Result<(bool, String, i64), Rejection> {
    let bad = || {
        ddb(format!(
            "The parameter cannot be converted to a numeric value: {n}"
        ))
    };
    let t = n.trim();
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let negative = mantissa.starts_with('-');
    let m = mantissa.strip_prefix(['-', '+']).unwrap_or(mantissa);
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return Err(bad());
    }
    let digits = format!("{int}{frac}");
    let lead = digits.len() - digits.trim_start_matches('0').len();
    let sig = digits.trim_start_matches('0').trim_end_matches('0');
    if sig.is_empty() {
        return Ok((false, String::new(), 0));
    }
    if sig.len() > DDB_MAX_NUMBER_DIGITS {
        return Err(ddb(format!(
            "Attempting to store more than {DDB_MAX_NUMBER_DIGITS} significant digits in a Number ({} in {n})",
            sig.len()
        )));
    }
    let e10 = exp + int.len() as i64 - lead as i64 - 1;
    if e10 > 125 {
        return Err(ddb(
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ));
    }
    if e10 < -130 {
        return Err(ddb(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ));
    }
    Ok((negative, sig.to_string(), e10))
}

/// One attribute value, nested ones included: numbers as above; sets neither empty nor with a member
/// twice (numbers compared by value).
pub fn check_attribute(v: &Value) -> Result<(), Rejection> {
    let Some((t, x)) = v.as_object().and_then(|o| o.iter().next()) else {
        return Ok(());
    };
    match t.as_str() {
        "N" => check_number(x.as_str().unwrap_or("")).map(|_| ()),
        "SS" | "NS" | "BS" => {
            let members = x.as_array().map(Vec::as_slice).unwrap_or(&[]);
            if members.is_empty() {
                let kind = match t.as_str() {
                    "SS" => "string",
                    "NS" => "number",
                    _ => "binary",
                };
                return Err(ddb(format!(
                    "One or more parameter values were invalid: An {kind} set  may not be empty"
                )));
            }
            let mut seen = std::collections::BTreeSet::new();
            for m in members {
                let s = m.as_str().unwrap_or("");
                let norm = if t == "NS" {
                    format!("{:?}", check_number(s)?)
                } else {
                    s.to_string()
                };
                if !seen.insert(norm) {
                    return Err(ddb(format!(
                        "One or more parameter values were invalid: Input collection {x} contains duplicates."
                    )));
                }
            }
            Ok(())
        }
        "M" => x
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .try_for_each(check_attribute),
        "L" => x
            .as_array()
            .into_iter()
            .flatten()
            .try_for_each(check_attribute),
        _ => Ok(()),
    }
}

/// Expressions and every attribute value a request (or a transaction's action) carries.
fn check_request_values(body: &Value) -> Result<(), Rejection> {
    check_expressions(body)?;
    for field in [
        "Item",
        "Key",
        "ExpressionAttributeValues",
        "ExclusiveStartKey",
    ] {
        for v in body[field].as_object().into_iter().flat_map(|m| m.values()) {
            check_attribute(v)?;
        }
    }
    Ok(())
}

/// A `TransactWriteItems`: at most one action per item, and its items together at most 4 MB (the
/// request's items, keys and values: a lower bound of what DynamoDB counts).
fn check_transaction(
    items: &[Value],
    schema: &mut dyn FnMut(&str) -> Option<KeySchema>,
) -> Result<(), Rejection> {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for action in items {
        let Some((kind, a)) = action.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        check_request_values(a)?;
        let values: usize = a["ExpressionAttributeValues"]
            .as_object()
            .map_or(0, |m| m.values().map(value_size).sum());
        total += item_size(&a["Item"]) + item_size(&a["Key"]) + values;
        let table = a["TableName"].as_str().unwrap_or("");
        let Some(s) = schema(table) else { continue };
        let key = if kind == "Put" {
            key_of(&s, &a["Item"])
        } else {
            key_of(&s, &a["Key"])
        };
        if !seen.insert(format!("{table}\u{1}{key}")) {
            return Err(ddb(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
    }
    if total > DDB_MAX_TRANSACT_BYTES {
        return Err(ddb(format!(
            "Transaction size has exceeded the maximum allowed size of 4 MB ({total} bytes)"
        )));
    }
    Ok(())
}

/// One DynamoDB operation (`op` from `X-Amz-Target`); `schema` looks up a table's key schema.
pub fn check_dynamodb(
    op: &str,
    body: &Value,
    schema: &mut dyn FnMut(&str) -> Option<KeySchema>,
) -> Result<(), Rejection> {
    let table = |b: &Value| b["TableName"].as_str().unwrap_or("").to_string();
    check_request_values(body)?;
    match op {
        "PutItem" => {
            if let Some(s) = schema(&table(body)) {
                check_item(&s, &body["Item"])?;
            }
        }
        "GetItem" | "DeleteItem" | "UpdateItem" => {
            if let Some(s) = schema(&table(body)) {
                check_key(&s, &body["Key"])?;
            }
            if op == "UpdateItem" {
                let values_size = body["ExpressionAttributeValues"]
                    .as_object()
                    .map_or(0, |m| m.values().map(value_size).sum::<usize>());
                if values_size > DDB_MAX_ITEM_BYTES {
                    return Err(ddb(
                        "Item size to update has exceeded the maximum allowed size",
                    ));
                }
            }
        }
        "Query" if body.get("IndexName").is_none() => {
            if let Some(s) = schema(&table(body)) {
                check_key_condition(&s, body)?;
            }
        }
        "BatchWriteItem" => {
            let Some(items) = body["RequestItems"].as_object() else {
                return Ok(());
            };
            let n: usize = items
                .values()
                .map(|r| r.as_array().map_or(0, Vec::len))
                .sum();
            if n > DDB_MAX_BATCH_WRITE {
                return Err(ddb(format!(
                    "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to {DDB_MAX_BATCH_WRITE}] (got {n})"
                )));
            }
            for (t, reqs) in items {
                let Some(s) = schema(t) else { continue };
                for r in reqs.as_array().into_iter().flatten() {
                    if let Some(item) = r.get("PutRequest").map(|p| &p["Item"]) {
                        check_item(&s, item)?;
                        for v in item.as_object().into_iter().flat_map(|m| m.values()) {
                            check_attribute(v)?;
                        }
                    }
                    if let Some(key) = r.get("DeleteRequest").map(|d| &d["Key"]) {
                        check_key(&s, key)?;
                    }
                }
            }
        }
        "BatchGetItem" => {
            let Some(items) = body["RequestItems"].as_object() else {
                return Ok(());
            };
            let n: usize = items
                .values()
                .map(|r| r["Keys"].as_array().map_or(0, Vec::len))
                .sum();
            if n > DDB_MAX_BATCH_GET {
                return Err(ddb(format!(
                    "Too many items requested for the BatchGetItem call ({n}; at most {DDB_MAX_BATCH_GET})"
                )));
            }
            for (t, r) in items {
                let Some(s) = schema(t) else { continue };
                for key in r["Keys"].as_array().into_iter().flatten() {
                    check_key(&s, key)?;
                }
            }
        }
        "TransactWriteItems" | "TransactGetItems" => {
            let items = body["TransactItems"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if items.len() > DDB_MAX_TRANSACT {
                return Err(ddb(format!(
                    "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to {DDB_MAX_TRANSACT}"
                )));
            }
            if op == "TransactWriteItems" {
                check_transaction(&items, schema)?;
            }
            for action in &items {
                let Some((kind, a)) = action.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                let Some(s) = schema(&table(a)) else { continue };
                if kind == "Put" {
                    check_item(&s, &a["Item"])?;
                } else {
                    check_key(&s, &a["Key"])?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The wire: recognising requests, answering refusals in the service's shape.

/// Decodes `application/x-www-form-urlencoded` (`+` is a space).
pub fn form_params(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d =
                |s: &str| bedrock_meter_core::ports::encoding::percent_decode(&s.replace('+', " "));
            (d(k), d(v))
        })
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// S3 `PutObject` of `key` (decoded) with a body of `body_len` bytes.
pub fn check_s3_put_object(key: &str, body_len: u64) -> Result<(), Rejection> {
    if key.is_empty() || key.len() > 1_024 {
        return Err(reject(
            Service::S3,
            "KeyTooLongError",
            format!(
                "Your key is too long: {} bytes (object keys are 1 to 1,024 bytes)",
                key.len()
            ),
        ));
    }
    if body_len > 5 * 1024 * 1024 * 1024 {
        return Err(reject(
            Service::S3,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size (5 GB in one PUT)",
        ));
    }
    Ok(())
}

/// The 400 the service would answer: (content type, body).
pub fn error_response(r: &Rejection) -> (&'static str, String) {
    match r.service {
        // REST-JSON: the SDK reads the code from `__type` (or the x-amzn-ErrorType header).
        Service::Bedrock => (
            "application/json",
            serde_json::json!({ "__type": r.code, "message": r.message }).to_string(),
        ),
        Service::S3 => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message><RequestId>strict-proxy</RequestId></Error>",
                r.code,
                xml_escape(&r.message)
            ),
        ),
        Service::DynamoDb => {
            let mut v = serde_json::json!({
                "__type": format!("com.amazon.coral.validate#{}", r.code),
                "message": r.message,
            });
            if !r.reasons.is_empty() {
                v["CancellationReasons"] = r
                    .reasons
                    .iter()
                    .map(|c| serde_json::json!({ "Code": c }))
                    .collect();
            }
            ("application/x-amz-json-1.0", v.to_string())
        }
        Service::CloudWatch | Service::Sns | Service::Iam => {
            let ns = match r.service {
                Service::Sns => "http://sns.amazonaws.com/doc/2010-03-31/",
                Service::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
                _ => "http://monitoring.amazonaws.com/doc/2010-08-01/",
            };
            (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>strict-proxy</RequestId></ErrorResponse>",
                    r.code,
                    xml_escape(&r.message)
                ),
            )
        }
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The SigV4 signing service of a request (`…/us-east-1/monitoring/aws4_request`).
fn signing_service(req: &Request) -> Option<&str> {
    let auth = header(req, "authorization")?;
    let cred = auth.split("Credential=").nth(1)?;
    let scope = cred.split([',', ' ']).next()?;
    scope.split('/').nth(3)
}

fn body_text(req: &Request) -> Option<String> {
    let gz = header(req, "content-encoding").is_some_and(|e| e.contains("gzip"));
    if gz {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&req.body[..])
            .read_to_end(&mut out)
            .ok()?;
        String::from_utf8(out).ok()
    } else {
        String::from_utf8(req.body.clone()).ok()
    }
}

/// The proxy's shared state.
#[derive(Default)]
struct State {
    schemas: Mutex<HashMap<String, KeySchema>>,
    rejected: Mutex<Vec<Rejection>>,
    /// Sizes of the inline policies put through the proxy, per principal (`role/NAME`, `user/NAME`)
    /// and policy name: IAM's quota is for a principal's inline policies together.
    inline: Mutex<HashMap<String, HashMap<String, usize>>>,
    /// One lock per DynamoDB item written through the proxy (table and key).
    items: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Held shared by every DynamoDB request but `TransactWriteItems`, which holds it alone: moto
    /// cancels a transaction by putting back a copy of every table it touches, taken when it began,
    /// which undoes the writes other requests made meanwhile and revives those of another cancelled
    /// transaction; and a read beside a transaction sees its writes before it is cancelled. DynamoDB
    /// isolates transactions from every other request (serializable), so the proxy runs them alone.
    transactions: RwLock<()>,
    /// S3: each bucket's owner account, its bucket policy, and each account's organisation.
    buckets: Mutex<HashMap<String, BucketFacts>>,
    organizations: Mutex<HashMap<String, String>>,
    /// SNS: each topic's policy (by topic ARN), learnt as it is set.
    topics: Mutex<HashMap<String, Value>>,
    /// Bedrock batch inference jobs (`ListModelInvocationJobs`, which moto lacks).
    batch_jobs: crate::batch_jobs::BatchJobs,
}

impl State {
    /// The locks of `targets` (table, key), in one order (sorted, no repeats) so that two requests never
    /// wait for each other.
    fn item_locks(&self, targets: &[(String, Value)]) -> Vec<Arc<Mutex<()>>> {
        let mut ids: Vec<String> = targets
            .iter()
            .map(|(t, k)| format!("{t}\u{1}{k}"))
            .collect();
        ids.sort();
        ids.dedup();
        let mut g = self.items.lock().unwrap();
        ids.into_iter()
            .map(|id| g.entry(id).or_default().clone())
            .collect()
    }
}

/// The DynamoDB items a request writes: every one of them (`targets`), and those changed in place
/// (`updated`: `UpdateItem`, a transaction's `Update` actions), whose size is known only afterwards.
#[derive(Default)]
struct Writes {
    targets: Vec<(String, Value)>,
    updated: Vec<(String, Value)>,
    /// For a transaction: its number of actions, and the position of each `updated` entry in it.
    transact: Option<usize>,
    positions: Vec<usize>,
}

/// The key attributes of an item or key map, under `schema` (`serde_json` maps are sorted, so equal
/// keys print equal).
fn key_of(schema: &KeySchema, item: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for k in std::iter::once(&schema.partition).chain(schema.sort.as_ref()) {
        if let Some(v) = item.get(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

fn dynamodb_writes(state: &State, upstream: u16, req: &Request) -> Writes {
    let mut w = Writes::default();
    let Some(op) = header(req, "x-amz-target").and_then(|t| t.strip_prefix("DynamoDB_20120810."))
    else {
        return w;
    };
    if !matches!(
        op,
        "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems"
    ) {
        return w;
    }
    let Some(body) = body_text(req).and_then(|b| serde_json::from_str::<Value>(&b).ok()) else {
        return w;
    };
    let auth = header(req, "authorization").unwrap_or("").to_string();
    let schema = |table: &str| -> Option<KeySchema> {
        if let Some(s) = state.schemas.lock().unwrap().get(table) {
            return Some(s.clone());
        }
        let s = describe_table(upstream, &auth, table)?;
        state
            .schemas
            .lock()
            .unwrap()
            .insert(table.to_string(), s.clone());
        Some(s)
    };
    let actions: Vec<(String, Value)> = if op == "TransactWriteItems" {
        let items = body["TransactItems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        w.transact = Some(items.len());
        items
            .iter()
            .filter_map(|a| {
                let (k, v) = a.as_object()?.iter().next()?;
                Some((k.clone(), v.clone()))
            })
            .collect()
    } else {
        let kind = op.trim_end_matches("Item").to_string();
        vec![(kind, body)]
    };
    for (i, (kind, a)) in actions.iter().enumerate() {
        let table = a["TableName"].as_str().unwrap_or("").to_string();
        let Some(s) = schema(&table) else { continue };
        let key = if kind == "Put" {
            key_of(&s, &a["Item"])
        } else {
            key_of(&s, &a["Key"])
        };
        if kind == "ConditionCheck" {
            continue;
        }
        if kind == "Update" {
            w.updated.push((table.clone(), key.clone()));
            w.positions.push(i);
        }
        w.targets.push((table, key));
    }
    w
}

/// One request straight to moto (behind the proxy's back), signed as the client's was.
fn upstream_call(upstream: u16, auth: &str, op: &str, body: &Value) -> Option<(u16, String)> {
    let body = body.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.{op}\r\nAuthorization: {auth}\r\n{}Content-Length: {}\r\n\r\n{body}",
        account_header(auth),
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    Some(crate::parse_response(&buf))
}

/// An item as moto holds it (DynamoDB JSON), read consistently.
fn upstream_get_item(upstream: u16, auth: &str, table: &str, key: &Value) -> Option<Value> {
    let (status, body) = upstream_call(
        upstream,
        auth,
        "GetItem",
        &serde_json::json!({"TableName": table, "Key": key, "ConsistentRead": true}),
    )?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v.get("Item").cloned()
}

/// Puts an item back as it was before a refused write (deleted when it did not exist).
fn upstream_restore(upstream: u16, auth: &str, table: &str, key: &Value, old: Option<&Value>) {
    let _ = match old {
        Some(item) => upstream_call(
            upstream,
            auth,
            "PutItem",
            &serde_json::json!({"TableName": table, "Item": item}),
        ),
        None => upstream_call(
            upstream,
            auth,
            "DeleteItem",
            &serde_json::json!({"TableName": table, "Key": key}),
        ),
    };
}

/// The item stored in moto under `key` (DynamoDB JSON), for tests that measure what an adapter
/// stores (e.g. with [`item_size`]).
pub fn stored_item(upstream: u16, table: &str, key: &Value) -> Option<Value> {
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0";
    upstream_get_item(upstream, auth, table, key)
}

/// An item as it stands after a write: what DynamoDB would have refused to let it become.
pub fn check_stored_item(item: &Value) -> Result<(), Rejection> {
    let size = item_size(item);
    if size > DDB_MAX_ITEM_BYTES {
        return Err(ddb(format!(
            "Item size to update has exceeded the maximum allowed size ({size} bytes; at most {DDB_MAX_ITEM_BYTES})"
        )));
    }
    for v in item.as_object().into_iter().flat_map(|m| m.values()) {
        check_attribute(v)?;
    }
    Ok(())
}

/// A transaction of `actions` refused because of action `at`: `TransactionCanceledException` with one
/// reason per action.
fn cancelled(actions: usize, at: usize, message: &str) -> Rejection {
    let reasons: Vec<String> = (0..actions)
        .map(|i| if i == at { "ValidationError" } else { "None" }.to_string())
        .collect();
    Rejection {
        service: Service::DynamoDb,
        code: "TransactionCanceledException",
        message: format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}] ({message})",
            reasons.join(", ")
        ),
        reasons,
    }
}

#[derive(Clone, Debug, Default)]
struct BucketFacts {
    owner: String,
    policy: Option<Value>,
}

/// Checks one request; `upstream` is moto's port (for `DescribeTable` when a schema is unknown).
fn check_request(state: &State, upstream: u16, req: &Request) -> Result<(), Rejection> {
    if req.method == "GET" && signing_service(req) == Some("s3") {
        return check_cross_account_get(state, req);
    }
    // S3 PutObject, path-style: PUT /bucket/key (sub-resources such as ?acl or ?tagging are not it).
    if matches!(req.method.as_str(), "PUT" | "DELETE") && signing_service(req) == Some("s3") {
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        let sub_resource = query
            .split('&')
            .any(|q| !q.is_empty() && !q.starts_with("x-id="));
        let (bucket, key) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path.trim_start_matches('/'), ""));
        if req.method == "DELETE" {
            if key.is_empty() && query.split('&').any(|q| q == "policy" || q == "policy=") {
                if let Some(b) = state.buckets.lock().unwrap().get_mut(bucket) {
                    b.policy = None;
                }
            }
            return Ok(());
        }
        if key.is_empty() {
            learn_bucket(state, req, bucket, query);
            return Ok(());
        }
        if !sub_resource {
            let key = bedrock_meter_core::ports::encoding::percent_decode(key);
            check_s3_put_object(&key, req.body.len() as u64)?;
            return check_cross_account_put(state, req, bucket, &key);
        }
        return Ok(());
    }
    if req.method != "POST" {
        return Ok(());
    }
    if let Some(target) = header(req, "x-amz-target") {
        let Some(op) = target.strip_prefix("DynamoDB_20120810.") else {
            return Ok(());
        };
        let Some(body) = body_text(req).and_then(|b| serde_json::from_str::<Value>(&b).ok()) else {
            return Ok(());
        };
        if op == "CreateTable" {
            if let (Some(t), Some(s)) = (
                body["TableName"].as_str(),
                KeySchema::from_json(&body["KeySchema"]),
            ) {
                state.schemas.lock().unwrap().insert(t.to_string(), s);
            }
            return Ok(());
        }
        let auth = header(req, "authorization").unwrap_or("").to_string();
        let mut lookup = |table: &str| -> Option<KeySchema> {
            if let Some(s) = state.schemas.lock().unwrap().get(table) {
                return Some(s.clone());
            }
            let s = describe_table(upstream, &auth, table)?;
            state
                .schemas
                .lock()
                .unwrap()
                .insert(table.to_string(), s.clone());
            Some(s)
        };
        return check_dynamodb(op, &body, &mut lookup);
    }
    let form = header(req, "content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok(());
    }
    let Some(text) = body_text(req) else {
        return Ok(());
    };
    let params = form_params(&text);
    let service = signing_service(req).unwrap_or("");
    match (service, params.get("Action").map(String::as_str)) {
        // The 1 MB is the payload's: a gzip body is judged by its uncompressed size.
        ("monitoring", Some("PutMetricData")) => check_put_metric_data(
            &params,
            text.len(),
            bedrock_meter_core::time::Timestamp::now().0,
        ),
        ("monitoring", Some("GetMetricData")) => check_get_metric_data(&params),
        ("sns", Some("Publish")) => {
            check_sns_publish(&params)?;
            check_cross_account_publish(state, req, &params)
        }
        ("sns", Some("PublishBatch")) => {
            check_sns_publish_batch(&params)?;
            check_cross_account_publish(state, req, &params)
        }
        ("sns", Some("CreateTopic" | "SetTopicAttributes")) => {
            learn_topic_policy(state, req, &params);
            Ok(())
        }
        (
            "iam",
            Some(
                a @ ("PutRolePolicy" | "PutUserPolicy" | "DeleteRolePolicy" | "DeleteUserPolicy"
                | "GetRolePolicy" | "GetUserPolicy" | "ListRolePolicies" | "ListUserPolicies"),
            ),
        ) => {
            check_iam(a, &params)?;
            check_inline_aggregate(&state.inline, a, &params)
        }
        _ => Ok(()),
    }
}

// ---- S3 bucket policies across accounts ----

/// moto's account when an access key id is not 12 digits.
pub const MOTO_DEFAULT_ACCOUNT: &str = "123456789012";

/// The account a request acts as, in moto's multi-account mode: its access key id when that is 12
/// digits, else moto's default account.
fn caller_account(req: &Request) -> String {
    account_of_auth(header(req, "authorization").unwrap_or(""))
}

/// The header that makes moto act as the account of a SigV4 `Authorization` value (none for moto's
/// default account): the proxy's own calls to moto on a client's behalf go to the client's account.
fn account_header(auth: &str) -> String {
    let account = account_of_auth(auth);
    if account == MOTO_DEFAULT_ACCOUNT {
        String::new()
    } else {
        format!("x-moto-account-id: {account}\r\n")
    }
}

/// The account of a SigV4 `Authorization` value: a 12-digit access key id is that account, any
/// other is moto's default.
fn account_of_auth(auth: &str) -> String {
    let key = Some(auth)
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or("");
    if key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()) {
        key.to_string()
    } else {
        MOTO_DEFAULT_ACCOUNT.to_string()
    }
}

/// `PUT /bucket` (CreateBucket: the caller's account owns it) and `PUT /bucket?policy`.
fn learn_bucket(state: &State, req: &Request, bucket: &str, query: &str) {
    let mut buckets = state.buckets.lock().unwrap();
    if query.is_empty() {
        buckets.entry(bucket.to_string()).or_insert(BucketFacts {
            owner: caller_account(req),
            policy: None,
        });
    } else if query.split('&').any(|q| q == "policy" || q == "policy=") {
        if let Some(b) = buckets.get_mut(bucket) {
            b.policy = serde_json::from_slice(&req.body).ok();
        }
    }
}

fn check_cross_account_put(
    state: &State,
    req: &Request,
    bucket: &str,
    key: &str,
) -> Result<(), Rejection> {
    let Some(facts) = state.buckets.lock().unwrap().get(bucket).cloned() else {
        return Ok(());
    };
    let account = caller_account(req);
    if account == facts.owner {
        return Ok(());
    }
    let org = state.organizations.lock().unwrap().get(&account).cloned();
    let ctx = PolicyContext {
        account: &account,
        org: org.as_deref(),
        acl: header(req, "x-amz-acl"),
    };
    evaluate_bucket_policy(facts.policy.as_ref(), bucket, key, &ctx)
}

/// `GET /bucket/key` (GetObject) by another account than the bucket's owner: refused unless a bucket
/// policy could grant it, and a policy is not judged here (refused as well, never passed unjudged).
fn check_cross_account_get(state: &State, req: &Request) -> Result<(), Rejection> {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let sub_resource = query
        .split('&')
        .any(|q| !q.is_empty() && !q.starts_with("x-id=") && !q.starts_with("partNumber="));
    let Some((bucket, key)) = path.trim_start_matches('/').split_once('/') else {
        return Ok(());
    };
    if key.is_empty() || sub_resource {
        return Ok(());
    }
    let Some(facts) = state.buckets.lock().unwrap().get(bucket).cloned() else {
        return Ok(());
    };
    let account = caller_account(req);
    if account == facts.owner {
        return Ok(());
    }
    Err(access_denied(match facts.policy {
        None => format!(
            "Access Denied: account {account} may not GetObject from account {}'s bucket {bucket} (no bucket policy allows it)",
            facts.owner
        ),
        Some(_) => format!(
            "strict proxy: a cross-account GetObject from {bucket} is not judged against its bucket policy: refused"
        ),
    }))
}

/// What a cross-account request presents to a resource policy (a bucket's, a topic's).
#[derive(Clone, Copy, Debug)]
pub struct PolicyContext<'a> {
    pub account: &'a str,
    /// The caller's organisation id, if its account is in one.
    pub org: Option<&'a str>,
    /// The `x-amz-acl` header (S3 only).
    pub acl: Option<&'a str>,
}

fn access_denied(message: String) -> Rejection {
    reject(Service::S3, "AccessDenied", message)
}

fn one_or_many(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether a statement's conditions all hold; an operator or key the proxy cannot judge is an error
/// (its text), never a pass.
fn conditions_hold(cond: Option<&Value>, ctx: &PolicyContext) -> Result<bool, String> {
    let Some(cond) = cond else { return Ok(true) };
    let Some(ops) = cond.as_object() else {
        return Err(format!(
            "strict proxy: a Condition that is not an object: {cond}"
        ));
    };
    for (op, keys) in ops {
        for (k, want) in keys.as_object().into_iter().flatten() {
            let have: Option<&str> = match k.to_ascii_lowercase().as_str() {
                "aws:principalorgid" => ctx.org,
                "aws:principalaccount" => Some(ctx.account),
                "s3:x-amz-acl" => ctx.acl,
                "aws:securetransport" => Some("true"),
                _ => return Err(format!("strict proxy: cannot evaluate condition key {k}")),
            };
            let wants = one_or_many(want);
            let holds = match op.as_str() {
                "StringEquals" | "Bool" => have.is_some_and(|h| wants.contains(&h)),
                "StringNotEquals" => have.is_none_or(|h| !wants.contains(&h)),
                "StringLike" => have.is_some_and(|h| wants.iter().any(|w| glob(w, h))),
                _ => {
                    return Err(format!(
                        "strict proxy: cannot evaluate condition operator {op}"
                    ))
                }
            };
            if !holds {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether a statement applies to this request: principal, `action` (lowercase, e.g. `s3:putobject`;
/// IAM actions are case-insensitive), `resource` (an ARN; `${aws:PrincipalAccount}` in the statement's
/// resources substituted), and conditions.
fn statement_applies(
    st: &Value,
    action: &str,
    resource: &str,
    ctx: &PolicyContext,
) -> Result<bool, String> {
    let principal_ok = match &st["Principal"] {
        Value::String(s) => s == "*",
        Value::Object(o) => o.get("AWS").is_some_and(|a| {
            one_or_many(a).iter().any(|p| {
                *p == "*" || *p == ctx.account || *p == format!("arn:aws:iam::{}:root", ctx.account)
            })
        }),
        _ => false,
    };
    let action_ok = one_or_many(&st["Action"])
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), action));
    let resource_ok = one_or_many(&st["Resource"])
        .iter()
        .any(|r| glob(&r.replace("${aws:PrincipalAccount}", ctx.account), resource));
    if !(principal_ok && action_ok && resource_ok) {
        return Ok(false);
    }
    conditions_hold(st.get("Condition"), ctx)
}

/// A resource policy's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it.
    NotAllowed,
    /// A `Deny` statement applies (its Sid).
    Denied(String),
}

/// A cross-account request (`action` on `resource`) against a resource policy: allowed only by an
/// `Allow` that applies and no `Deny` that applies. `Err`: a statement the proxy cannot judge.
pub fn evaluate_policy(
    policy: &Value,
    action: &str,
    resource: &str,
    ctx: &PolicyContext,
) -> Result<Decision, String> {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => Vec::new(),
    };
    let mut allowed = false;
    for st in statements {
        let applies = statement_applies(st, action, resource, ctx)?;
        match st["Effect"].as_str() {
            Some("Deny") if applies => {
                return Ok(Decision::Denied(
                    st["Sid"].as_str().unwrap_or("no Sid").to_string(),
                ))
            }
            Some("Allow") if applies => allowed = true,
            _ => {}
        }
    }
    Ok(if allowed {
        Decision::Allow
    } else {
        Decision::NotAllowed
    })
}

/// A cross-account `PutObject` of `bucket`/`key` against the bucket's policy: allowed only by an
/// `Allow` that applies and no `Deny` that applies.
pub fn evaluate_bucket_policy(
    policy: Option<&Value>,
    bucket: &str,
    key: &str,
    ctx: &PolicyContext,
) -> Result<(), Rejection> {
    let denied = || {
        access_denied(format!(
            "Access Denied: account {} may not PutObject to another account's bucket {bucket} (no bucket policy allows it)",
            ctx.account
        ))
    };
    let Some(policy) = policy else {
        return Err(denied());
    };
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    match evaluate_policy(policy, "s3:putobject", &object_arn, ctx).map_err(access_denied)? {
        Decision::Allow => Ok(()),
        Decision::NotAllowed => Err(denied()),
        Decision::Denied(sid) => Err(access_denied(format!(
            "Access Denied: explicit deny in the bucket policy of {bucket} ({sid})"
        ))),
    }
}

// ---- SNS topic policies across accounts ----

/// `CreateTopic` (with a `Policy` attribute) and `SetTopicAttributes` of `Policy`: the topic's policy,
/// by its ARN. A topic's owner is the account in its ARN.
fn learn_topic_policy(state: &State, req: &Request, params: &BTreeMap<String, String>) {
    let policy = |text: &str| serde_json::from_str::<Value>(text).ok();
    match params.get("Action").map(String::as_str) {
        Some("CreateTopic") => {
            let (Some(name), Some(region)) = (params.get("Name"), signing_region(req)) else {
                return;
            };
            let arn = format!("arn:aws:sns:{region}:{}:{name}", caller_account(req));
            // Attributes.entry.N.key / Attributes.entry.N.value
            let set = params.iter().find_map(|(k, v)| {
                let n = k.strip_prefix("Attributes.entry.")?.strip_suffix(".key")?;
                (v == "Policy").then(|| params.get(&format!("Attributes.entry.{n}.value")))?
            });
            if let Some(p) = set.and_then(|t| policy(t)) {
                state.topics.lock().unwrap().insert(arn, p);
            }
        }
        Some("SetTopicAttributes")
            if params.get("AttributeName").map(String::as_str) == Some("Policy") =>
        {
            if let (Some(arn), Some(p)) = (
                params.get("TopicArn"),
                params.get("AttributeValue").and_then(|t| policy(t)),
            ) {
                state.topics.lock().unwrap().insert(arn.clone(), p);
            }
        }
        _ => {}
    }
}

/// The SigV4 signing Region of a request (`…/us-east-1/sns/aws4_request`).
fn signing_region(req: &Request) -> Option<&str> {
    let auth = header(req, "authorization")?;
    let cred = auth.split("Credential=").nth(1)?;
    let scope = cred.split([',', ' ']).next()?;
    scope.split('/').nth(2)
}

/// A `Publish` / `PublishBatch` to a topic of another account, judged by the topic's policy.
fn check_cross_account_publish(
    state: &State,
    req: &Request,
    params: &BTreeMap<String, String>,
) -> Result<(), Rejection> {
    let Some(topic) = params.get("TopicArn") else {
        return Ok(());
    };
    let account = caller_account(req);
    let org = state.organizations.lock().unwrap().get(&account).cloned();
    let policy = state.topics.lock().unwrap().get(topic).cloned();
    let ctx = PolicyContext {
        account: &account,
        org: org.as_deref(),
        acl: None,
    };
    evaluate_topic_policy(policy.as_ref(), topic, &ctx)
}

fn authorization_error(message: String) -> Rejection {
    reject(Service::Sns, "AuthorizationError", message)
}

/// `sns:Publish` to `topic_arn` by `ctx.account`: the owner (the account in the ARN) may; another
/// account only by the topic policy — an `Allow` that applies (principal, `sns:Publish`, the topic,
/// conditions such as `aws:PrincipalOrgID`) and no `Deny`. A topic without a policy of its own has
/// SNS's default policy, which grants its owner's account only. Refused as SNS does: 403
/// `AuthorizationError`.
pub fn evaluate_topic_policy(
    policy: Option<&Value>,
    topic_arn: &str,
    ctx: &PolicyContext,
) -> Result<(), Rejection> {
    let owner = topic_arn.split(':').nth(4).unwrap_or("");
    if owner == ctx.account {
        return Ok(());
    }
    let refused = |why: &str| {
        authorization_error(format!(
            "User: arn:aws:iam::{}:root is not authorized to perform: SNS:Publish on resource: {topic_arn} {why}",
            ctx.account
        ))
    };
    let Some(policy) = policy else {
        return Err(refused(
            "because no resource-based policy allows the SNS:Publish action",
        ));
    };
    match evaluate_policy(policy, "sns:publish", topic_arn, ctx).map_err(authorization_error)? {
        Decision::Allow => Ok(()),
        Decision::NotAllowed => Err(refused(
            "because no resource-based policy allows the SNS:Publish action",
        )),
        Decision::Denied(_) => Err(refused("with an explicit deny in a resource-based policy")),
    }
}

/// Asks moto for a table's key schema.
fn describe_table(upstream: u16, auth: &str, table: &str) -> Option<KeySchema> {
    let body = serde_json::json!({ "TableName": table }).to_string();
    let mut s = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.DescribeTable\r\nAuthorization: {auth}\r\n{}Content-Length: {}\r\n\r\n{body}",
        account_header(auth),
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let (status, body) = crate::parse_response(&buf);
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    KeySchema::from_json(&v["Table"]["KeySchema"])
}

/// The proxy: listens on its own loopback port, forwards what passes to moto; stops on drop.
pub struct StrictProxy {
    pub port: u16,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
}

impl StrictProxy {
    pub fn start(upstream: u16) -> StrictProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(State::default());
        let (s, st) = (stop.clone(), state.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &st, upstream);
                });
            }
        });
        StrictProxy { port, state, stop }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request refused so far, in order.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.state.rejected.lock().unwrap().clone()
    }

    /// The Bedrock batch-jobs double (seed jobs, cap its pages, read the queries it got).
    pub fn batch_jobs(&self) -> &crate::batch_jobs::BatchJobs {
        &self.state.batch_jobs
    }

    /// Puts `account` in organisation `org_id` (what `aws:PrincipalOrgID` is for its requests).
    pub fn set_organization(&self, account: &str, org_id: &str) {
        self.state
            .organizations
            .lock()
            .unwrap()
            .insert(account.to_string(), org_id.to_string());
    }
}

impl Drop for StrictProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One client connection: one request, then the connection closes (every answer says so).
fn serve(conn: TcpStream, state: &State, upstream: u16) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    let Some(req) = read_request(&mut reader)? else {
        return Ok(());
    };
    let dynamodb_op = header(&req, "x-amz-target")
        .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        .map(str::to_string);
    // A transaction alone, every other DynamoDB request beside the others (see `State::transactions`).
    let _isolation = match dynamodb_op.as_deref() {
        Some("TransactWriteItems") => (
            None,
            Some(
                state
                    .transactions
                    .write()
                    .unwrap_or_else(|e| e.into_inner()),
            ),
        ),
        Some(_) => (
            Some(state.transactions.read().unwrap_or_else(|e| e.into_inner())),
            None,
        ),
        None => (None, None),
    };
    if req.method == "GET" && signing_service(&req) == Some("bedrock") {
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        if path == "/model-invocation-jobs" {
            return match state.batch_jobs.answer(query) {
                Ok(page) => answer_json(&mut conn, &page.to_string()),
                Err((_, code, message)) => {
                    refuse(&mut conn, state, reject(Service::Bedrock, code, message))
                }
            };
        }
    }
    if let Err(r) = check_request(state, upstream, &req) {
        return refuse(&mut conn, state, r);
    }
    // DynamoDB writes: one at a time per item (as DynamoDB applies them), and an item changed in
    // place is judged after the change — refused and put back as it was when DynamoDB would refuse it.
    let writes = dynamodb_writes(state, upstream, &req);
    if !writes.targets.is_empty() {
        let locks = state.item_locks(&writes.targets);
        let _held: Vec<_> = locks.iter().map(|m| m.lock().unwrap()).collect();
        let auth = header(&req, "authorization").unwrap_or("").to_string();
        if let Some(actions) = proxy_transaction(&req, &writes) {
            return match run_transaction(upstream, &auth, &writes, &actions) {
                Ok((status, body)) => answer(&mut conn, status, &body),
                Err(r) => refuse(&mut conn, state, r),
            };
        }
        // What is put back on a refusal: the updated items, or every item of a refused transaction.
        let snapshot = if writes.transact.is_some() && !writes.updated.is_empty() {
            writes.targets.clone()
        } else {
            writes.updated.clone()
        };
        let before: Vec<Option<Value>> = snapshot
            .iter()
            .map(|(t, k)| upstream_get_item(upstream, &auth, t, k))
            .collect();
        let answer = forward(&req, upstream)?;
        if crate::parse_response(&answer).0 == 200 {
            let mut refused = None;
            for (i, (t, k)) in writes.updated.iter().enumerate() {
                if let Some(after) = upstream_get_item(upstream, &auth, t, k) {
                    if let Err(r) = check_stored_item(&after) {
                        refused = Some((i, r));
                        break;
                    }
                }
            }
            if let Some((i, r)) = refused {
                for ((t, k), old) in snapshot.iter().zip(&before) {
                    upstream_restore(upstream, &auth, t, k, old.as_ref());
                }
                let r = match &writes.transact {
                    None => r,
                    Some(actions) => cancelled(*actions, writes.positions[i], &r.message),
                };
                return refuse(&mut conn, state, r);
            }
        }
        conn.write_all(&answer)?;
        return conn.flush();
    }
    let answer = forward(&req, upstream)?;
    conn.write_all(&answer)?;
    conn.flush()
}

/// The actions of a `TransactWriteItems` the proxy runs itself (see [`run_transaction`]): puts, updates
/// and deletes on tables whose key schema is known, without `ReturnValuesOnConditionCheckFailure`.
/// Anything else goes to moto's own `TransactWriteItems` (still alone).
fn proxy_transaction(req: &Request, writes: &Writes) -> Option<Vec<(String, Value)>> {
    writes.transact?;
    let body: Value = serde_json::from_str(&body_text(req)?).ok()?;
    let mut actions = Vec::new();
    for a in body["TransactItems"].as_array()? {
        let (kind, op) = a.as_object()?.iter().next()?;
        let name = match kind.as_str() {
            "Put" => "PutItem",
            "Update" => "UpdateItem",
            "Delete" => "DeleteItem",
            _ => return None,
        };
        if op.get("ReturnValuesOnConditionCheckFailure").is_some() || !op.is_object() {
            return None;
        }
        actions.push((name.to_string(), op.clone()));
    }
    (actions.len() == writes.targets.len()).then_some(actions)
}

/// A `TransactWriteItems` run by the proxy, alone (it holds [`State::transactions`] exclusively):
/// each action goes to moto as its own conditional write returning the item as it was, and when a
/// condition fails, moto refuses an action, or an updated item would pass DynamoDB's limits, every
/// item already written is put back as it was — all or nothing, as DynamoDB does. moto's own
/// transaction copies every table it touches twice (a deep copy before, to restore on cancellation),
/// so a run that writes N items into one table costs N² (minutes for a thousand detector batches);
/// this costs the actions' own writes and the reads that judge the updated items.
///
/// `Ok`: the answer to send (moto's error as it gave it, DynamoDB's `TransactionCanceledException`
/// with one reason per action, or success); `Err`: a refusal DynamoDB would make (recorded).
fn run_transaction(
    upstream: u16,
    auth: &str,
    writes: &Writes,
    actions: &[(String, Value)],
) -> Result<(u16, String), Rejection> {
    let mut written: Vec<(usize, Option<Value>)> = Vec::new();
    let mut reasons = vec!["None".to_string(); actions.len()];
    let mut error = None;
    for (i, (op, action)) in actions.iter().enumerate() {
        let mut one = action.clone();
        one["ReturnValues"] = Value::from("ALL_OLD");
        let Some((status, body)) = upstream_call(upstream, auth, op, &one) else {
            error = Some((500, "{\"__type\":\"InternalFailure\"}".to_string()));
            break;
        };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status == 200 {
            let old = v
                .get("Attributes")
                .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
                .cloned();
            written.push((i, old));
        } else if v["__type"]
            .as_str()
            .is_some_and(|t| t.ends_with("ConditionalCheckFailedException"))
        {
            reasons[i] = "ConditionalCheckFailed".to_string();
        } else {
            error = Some((status, body));
            break;
        }
    }
    let undo = |written: &[(usize, Option<Value>)]| {
        for (i, old) in written.iter().rev() {
            let (t, k) = &writes.targets[*i];
            upstream_restore(upstream, auth, t, k, old.as_ref());
        }
    };
    if let Some(e) = error {
        undo(&written);
        return Ok(e);
    }
    if reasons.iter().any(|r| r != "None") {
        undo(&written);
        let body = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                reasons.join(", ")
            ),
            "CancellationReasons": reasons
                .iter()
                .map(|c| serde_json::json!({ "Code": c }))
                .collect::<Vec<_>>(),
        });
        return Ok((400, body.to_string()));
    }
    for (j, (t, k)) in writes.updated.iter().enumerate() {
        if let Some(after) = upstream_get_item(upstream, auth, t, k) {
            if let Err(r) = check_stored_item(&after) {
                undo(&written);
                return Err(cancelled(actions.len(), writes.positions[j], &r.message));
            }
        }
    }
    Ok((200, "{}".to_string()))
}

/// A DynamoDB answer (JSON 1.0) the proxy makes itself.
fn answer(conn: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: strict-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}

/// A REST-JSON answer (200) the proxy makes itself (the batch-jobs double).
fn answer_json(conn: &mut TcpStream, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-amzn-RequestId: strict-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}

fn refuse(conn: &mut TcpStream, state: &State, r: Rejection) -> std::io::Result<()> {
    let (content_type, body) = error_response(&r);
    // S3 refuses a put its bucket policy does not allow with 403, SNS a publish its topic policy does
    // not allow; every other rule here is a 400.
    let status = if matches!(r.code, "AccessDenied" | "AuthorizationError") {
        "403 Forbidden"
    } else {
        "400 Bad Request"
    };
    state.rejected.lock().unwrap().push(r);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: strict-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}

/// Forwards a request as sent (body de-chunked), one request per upstream connection, and returns the
/// whole answer with `Connection: close`.
fn forward(req: &Request, upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if !matches!(
            k.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    // moto's multi-account mode: a 12-digit access key id acts as that account (moto itself takes the
    // account from this header, or from IAM access keys it issued).
    let account = caller_account(req);
    if account != MOTO_DEFAULT_ACCOUNT && header(req, "x-moto-account-id").is_none() {
        head.push_str(&format!("x-moto-account-id: {account}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    // The answer: its head with `Connection: close`, then everything to the end.
    let mut upr = BufReader::new(up);
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        if upr.read_line(&mut line)? == 0 {
            break;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("keep-alive:") {
            continue;
        }
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    upr.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The home stack's fan-in policy (org/home.yaml, rendered for bucket `home` and prefix `bm`).
    fn fan_in_policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "OrganisationWritesFanIn", "Effect": "Allow", "Principal": "*",
             "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::home/bm/fanin/day=*/account=${aws:PrincipalAccount}/*",
             "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc1234567"}}},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::home", "arn:aws:s3:::home/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]})
    }

    #[test]
    fn bucket_policy_admits_the_organisation_only_in_its_own_folder() {
        let p = fan_in_policy();
        let own = "bm/fanin/day=2026-11-25/account=111111111111/region=us-east-1/rows.json.gz";
        let member = PolicyContext {
            account: "111111111111",
            org: Some("o-abc1234567"),
            acl: Some("bucket-owner-full-control"),
        };
        assert!(evaluate_bucket_policy(Some(&p), "home", own, &member).is_ok());
        // Another member's folder, another prefix, another organisation, no organisation, no policy.
        let other = own.replace("account=111111111111", "account=222222222222");
        let e = evaluate_bucket_policy(Some(&p), "home", &other, &member).unwrap_err();
        assert_eq!((e.service, e.code), (Service::S3, "AccessDenied"));
        assert!(
            evaluate_bucket_policy(Some(&p), "home", &own.replace("bm/", "x/"), &member).is_err()
        );
        let outsider = PolicyContext {
            org: Some("o-other00000"),
            ..member
        };
        assert!(evaluate_bucket_policy(Some(&p), "home", own, &outsider).is_err());
        let alone = PolicyContext {
            org: None,
            ..member
        };
        assert!(evaluate_bucket_policy(Some(&p), "home", own, &alone).is_err());
        assert!(evaluate_bucket_policy(None, "home", own, &member).is_err());
        // A condition the proxy cannot judge is refused, never ignored.
        let mut odd = fan_in_policy();
        odd["Statement"][0]["Condition"] = json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}});
        let e = evaluate_bucket_policy(Some(&odd), "home", own, &member).unwrap_err();
        assert!(e.message.contains("cannot evaluate"), "{}", e.message);
        // An explicit deny wins over the allow.
        let mut deny = fan_in_policy();
        deny["Statement"][1]["Condition"] =
            json!({"StringNotEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}});
        let no_acl = PolicyContext {
            acl: None,
            ..member
        };
        assert!(evaluate_bucket_policy(Some(&deny), "home", own, &no_acl).is_err());
        assert!(evaluate_bucket_policy(Some(&deny), "home", own, &member).is_ok());
    }

    /// The home stack's organisation alerts topic policy (org/home.yaml `OrgAlertsTopicPolicy`,
    /// rendered).
    fn org_topic_policy(topic: &str) -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "OrganisationPublishesAlerts", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": "sns:Publish", "Resource": topic,
             "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc1234567"}}}
        ]})
    }

    #[test]
    fn topic_policy_admits_the_organisation_and_refuses_others_as_sns_does() {
        let topic = "arn:aws:sns:us-east-1:999999999999:org-alerts";
        let p = org_topic_policy(topic);
        let member = PolicyContext {
            account: "111111111111",
            org: Some("o-abc1234567"),
            acl: None,
        };
        assert!(evaluate_topic_policy(Some(&p), topic, &member).is_ok());
        // Another organisation, none, another topic, no policy (SNS's default: the owner only).
        let outsider = PolicyContext {
            account: "555555555555",
            org: Some("o-other00000"),
            ..member
        };
        let e = evaluate_topic_policy(Some(&p), topic, &outsider).unwrap_err();
        assert_eq!((e.service, e.code), (Service::Sns, "AuthorizationError"));
        assert_eq!(
            e.message,
            "User: arn:aws:iam::555555555555:root is not authorized to perform: SNS:Publish on resource: \
             arn:aws:sns:us-east-1:999999999999:org-alerts because no resource-based policy allows the SNS:Publish action"
        );
        let (_, body) = error_response(&e);
        assert!(
            body.contains("<Code>AuthorizationError</Code>") && body.contains("sns.amazonaws.com"),
            "{body}"
        );
        let alone = PolicyContext {
            org: None,
            ..member
        };
        assert!(evaluate_topic_policy(Some(&p), topic, &alone).is_err());
        let other_topic = topic.replace("org-alerts", "org-reports");
        assert!(evaluate_topic_policy(Some(&p), &other_topic, &member).is_err());
        assert!(evaluate_topic_policy(None, topic, &member).is_err());
        // The owner publishes whatever the policy says.
        let owner = PolicyContext {
            account: "999999999999",
            org: None,
            acl: None,
        };
        assert!(evaluate_topic_policy(None, topic, &owner).is_ok());
        // The action is matched without regard to case, and only Publish is granted.
        let mut lower = org_topic_policy(topic);
        lower["Statement"][0]["Action"] = json!("SNS:publish");
        assert!(evaluate_topic_policy(Some(&lower), topic, &member).is_ok());
        lower["Statement"][0]["Action"] = json!("sns:Subscribe");
        assert!(evaluate_topic_policy(Some(&lower), topic, &member).is_err());
        // A Deny wins; a condition the proxy cannot judge is refused, never ignored.
        let mut deny = org_topic_policy(topic);
        deny["Statement"].as_array_mut().unwrap().push(
            json!({"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "sns:*",
                         "Resource": "*"}),
        );
        let e = evaluate_topic_policy(Some(&deny), topic, &member).unwrap_err();
        assert!(
            e.message
                .ends_with("with an explicit deny in a resource-based policy"),
            "{}",
            e.message
        );
        let mut odd = org_topic_policy(topic);
        odd["Statement"][0]["Condition"] = json!({"ArnLike": {"aws:SourceArn": "x"}});
        let e = evaluate_topic_policy(Some(&odd), topic, &member).unwrap_err();
        assert_eq!(e.code, "AuthorizationError");
        assert!(e.message.contains("cannot evaluate"), "{}", e.message);
    }

    #[test]
    fn topic_policies_are_learnt_from_create_topic_and_set_topic_attributes() {
        let state = State::default();
        let req = |params: &[(&str, &str)]| {
            Request {
            method: "POST".into(),
            target: "/".into(),
            headers: vec![(
                "authorization".into(),
                "AWS4-HMAC-SHA256 Credential=999999999999/20261125/eu-west-1/sns/aws4_request, SignedHeaders=host, Signature=x".into(),
            )],
            body: params
                .iter()
                .map(|(k, v)| format!("{k}={}", v.replace('%', "%25").replace('&', "%26").replace('=', "%3D").replace('+', "%2B")))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes(),
        }
        };
        let policy = org_topic_policy("arn:aws:sns:eu-west-1:999999999999:t").to_string();
        let r = req(&[
            ("Action", "CreateTopic"),
            ("Name", "t"),
            ("Attributes.entry.1.key", "Policy"),
            ("Attributes.entry.1.value", &policy),
        ]);
        learn_topic_policy(
            &state,
            &r,
            &form_params(std::str::from_utf8(&r.body).unwrap()),
        );
        assert_eq!(
            state
                .topics
                .lock()
                .unwrap()
                .get("arn:aws:sns:eu-west-1:999999999999:t"),
            Some(&serde_json::from_str::<Value>(&policy).unwrap())
        );
        let r = req(&[
            ("Action", "SetTopicAttributes"),
            ("TopicArn", "arn:aws:sns:eu-west-1:999999999999:u"),
            ("AttributeName", "Policy"),
            ("AttributeValue", &policy),
        ]);
        learn_topic_policy(
            &state,
            &r,
            &form_params(std::str::from_utf8(&r.body).unwrap()),
        );
        assert_eq!(state.topics.lock().unwrap().len(), 2);
    }

    #[test]
    fn iam_wildcards() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("s3:*", "s3:putobject"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob("day=*/account=1/*", "day=x/account=2/y"));
        assert!(glob("*", ""));
    }

    #[test]
    fn s3_put_object_keys_and_sizes() {
        assert!(check_s3_put_object("bedrock-meter/reports/2026-11-25/all-teams.html", 10).is_ok());
        assert!(check_s3_put_object(&"é".repeat(512), 10).is_ok());
        let long = check_s3_put_object(&"é".repeat(513), 10).unwrap_err();
        assert_eq!((long.service, long.code), (Service::S3, "KeyTooLongError"));
        assert!(check_s3_put_object("", 10).is_err());
        assert_eq!(
            check_s3_put_object("k", 5 * 1024 * 1024 * 1024 + 1)
                .unwrap_err()
                .code,
            "EntityTooLarge"
        );
        let (ct, body) = error_response(&long);
        assert_eq!(ct, "application/xml");
        assert!(body.contains("<Code>KeyTooLongError</Code>"));
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NOW: i64 = 1_800_000_000;

    fn datum(dim_value: &str) -> BTreeMap<String, String> {
        params(&[
            ("Action", "PutMetricData"),
            ("Namespace", "BedrockMeter"),
            ("MetricData.member.1.MetricName", "Requests"),
            ("MetricData.member.1.Dimensions.member.1.Name", "Team"),
            ("MetricData.member.1.Dimensions.member.1.Value", dim_value),
            ("MetricData.member.1.Value", "1"),
            ("MetricData.member.1.Unit", "Count"),
            ("MetricData.member.1.Timestamp", "2027-01-15T08:00:00Z"),
        ])
    }

    #[test]
    fn dimension_values_follow_cloudwatch_rules() {
        assert!(check_put_metric_data(&datum("platform"), 100, NOW).is_ok());
        for bad in ["Équipe", " ", "\t", "a\u{7}b", "😀", "", &"x".repeat(1025)] {
            let e = check_put_metric_data(&datum(bad), 100, NOW).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue", "{bad:?}");
        }
        assert!(check_put_metric_data(&datum(&"x".repeat(1024)), 100, NOW).is_ok());
        assert!(check_put_metric_data(&datum(" a "), 100, NOW).is_ok());
    }

    #[test]
    fn request_limits_values_units_and_times() {
        assert!(check_put_metric_data(&datum("a"), CW_MAX_REQUEST_BYTES + 1, NOW).is_err());
        let mut p = datum("a");
        for i in 2..=1001 {
            p.insert(
                format!("MetricData.member.{i}.MetricName"),
                "Requests".into(),
            );
        }
        assert!(check_put_metric_data(&p, 100, NOW)
            .unwrap_err()
            .message
            .contains("1000"));
        let mut p = datum("a");
        for i in 2..=31 {
            p.insert(
                format!("MetricData.member.1.Dimensions.member.{i}.Name"),
                format!("D{i}"),
            );
            p.insert(
                format!("MetricData.member.1.Dimensions.member.{i}.Value"),
                "v".into(),
            );
        }
        assert!(check_put_metric_data(&p, 100, NOW).is_err());
        for (k, v) in [
            ("MetricData.member.1.Value", "NaN"),
            ("MetricData.member.1.Value", "Infinity"),
            ("MetricData.member.1.Value", "1e200"),
            ("MetricData.member.1.Unit", "Dollars"),
            ("MetricData.member.1.StorageResolution", "30"),
            ("MetricData.member.1.Timestamp", "2026-12-01T00:00:00Z"),
            ("MetricData.member.1.Timestamp", "2027-01-15T12:00:00Z"),
            ("Namespace", "AWS/Lambda"),
            ("MetricData.member.1.Dimensions.member.1.Name", ":Team"),
        ] {
            let mut p = datum("a");
            p.insert(k.into(), v.into());
            assert!(check_put_metric_data(&p, 100, NOW).is_err(), "{k}={v}");
        }
        let mut p = datum("a");
        p.insert("MetricData.member.1.Value".into(), "0".into());
        assert!(check_put_metric_data(&p, 100, NOW).is_ok());
    }

    #[test]
    fn sns_subjects_attributes_and_sizes() {
        let publish = |subject: &str, attrs: &[(&str, &str)], message: &str| {
            let mut p = params(&[("Action", "Publish"), ("Message", message)]);
            p.insert("Subject".into(), subject.into());
            for (i, (k, v)) in attrs.iter().enumerate() {
                let n = i + 1;
                p.insert(format!("MessageAttributes.entry.{n}.Name"), k.to_string());
                p.insert(
                    format!("MessageAttributes.entry.{n}.Value.DataType"),
                    "String".into(),
                );
                p.insert(
                    format!("MessageAttributes.entry.{n}.Value.StringValue"),
                    v.to_string(),
                );
            }
            check_sns_publish(&p)
        };
        assert!(publish("Bedrock runaway: ops-agent", &[("team", "platform")], "m").is_ok());
        assert!(publish(&"s".repeat(99), &[], "m").is_ok());
        assert!(publish(&"s".repeat(100), &[], "m").is_err());
        assert!(publish("a\nb", &[], "m").is_err());
        assert!(publish("Équipe", &[], "m").is_err());
        assert!(publish("cut…", &[], "m").is_err());
        assert!(publish(" leading space", &[], "m").is_err());
        assert!(publish("ok", &[("team", "")], "m").is_err());
        assert!(publish("ok", &[("AWS.team", "x")], "m").is_err());
        assert!(publish("ok", &[("a..b", "x")], "m").is_err());
        assert!(publish("ok", &[], "").is_err());
        let eleven: Vec<(String, &str)> = (0..11).map(|i| (format!("a{i}"), "v")).collect();
        let eleven: Vec<(&str, &str)> = eleven.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert!(publish("ok", &eleven, "m").is_err());
        assert!(publish("ok", &eleven[..10], "m").is_ok());
        assert!(publish("ok", &[], &"x".repeat(SNS_MAX_MESSAGE_BYTES)).is_ok());
        assert!(publish("ok", &[("k", "v")], &"x".repeat(SNS_MAX_MESSAGE_BYTES)).is_err());
        let mut batch = params(&[("Action", "PublishBatch")]);
        for i in 1..=11 {
            batch.insert(
                format!("PublishBatchRequestEntries.member.{i}.Id"),
                i.to_string(),
            );
            batch.insert(
                format!("PublishBatchRequestEntries.member.{i}.Message"),
                "m".into(),
            );
        }
        assert_eq!(
            check_sns_publish_batch(&batch).unwrap_err().code,
            "TooManyEntriesInBatchRequest"
        );
    }

    fn schema() -> KeySchema {
        KeySchema {
            partition: "pk".into(),
            sort: Some("sk".into()),
        }
    }

    fn check(op: &str, body: Value) -> Result<(), Rejection> {
        check_dynamodb(op, &body, &mut |t| (t == "state").then(schema))
    }

    #[test]
    fn dynamodb_key_and_item_sizes() {
        let s = |v: &str| json!({ "S": v });
        let ok = check(
            "PutItem",
            json!({"TableName": "state", "Item": {"pk": s("a"), "sk": s(&"é".repeat(512))}}),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let long_sk = check(
            "PutItem",
            json!({"TableName": "state", "Item": {"pk": s("a"), "sk": s(&"é".repeat(513))}}),
        );
        assert!(long_sk.unwrap_err().message.contains("1024"));
        assert!(check(
            "UpdateItem",
            json!({"TableName": "state", "Key": {"pk": s(&"p".repeat(2049)), "sk": s("x")}})
        )
        .is_err());
        assert!(check(
            "GetItem",
            json!({"TableName": "state", "Key": {"pk": s(""), "sk": s("x")}})
        )
        .is_err());
        assert!(check(
            "PutItem",
            json!({"TableName": "state", "Item": {"pk": s("a"), "sk": s("b"), "blob": s(&"x".repeat(400 * 1024))}})
        )
        .unwrap_err()
        .message
        .contains("Item size"));
        // An unknown table is not judged (moto answers ResourceNotFound).
        assert!(check(
            "PutItem",
            json!({"TableName": "other", "Item": {"pk": s(&"p".repeat(5000))}})
        )
        .is_ok());
        let q = |v: &str| {
            check(
                "Query",
                json!({
                    "TableName": "state",
                    "KeyConditionExpression": "#p = :p AND begins_with(sk, :s)",
                    "ExpressionAttributeNames": {"#p": "pk"},
                    "ExpressionAttributeValues": {":p": s("a"), ":s": s(v)},
                }),
            )
        };
        assert!(q("short").is_ok());
        assert!(q(&"x".repeat(1025)).is_err());
        let puts: Vec<Value> = (0..26)
            .map(|i| json!({"PutRequest": {"Item": {"pk": s("a"), "sk": s(&i.to_string())}}}))
            .collect();
        assert!(check(
            "BatchWriteItem",
            json!({"RequestItems": {"state": puts[..25]}})
        )
        .is_ok());
        assert!(check("BatchWriteItem", json!({"RequestItems": {"state": puts}})).is_err());
        let gets: Vec<Value> = (0..101)
            .map(|i| json!({"pk": s("a"), "sk": s(&i.to_string())}))
            .collect();
        assert!(check(
            "BatchGetItem",
            json!({"RequestItems": {"state": {"Keys": gets}}})
        )
        .is_err());
        let tx: Vec<Value> = (0..101)
            .map(|i| json!({"Put": {"TableName": "state", "Item": {"pk": s("a"), "sk": s(&i.to_string())}}}))
            .collect();
        assert!(check("TransactWriteItems", json!({"TransactItems": tx})).is_err());
    }

    #[test]
    fn sizes_as_documented() {
        assert_eq!(value_size(&json!({"S": "é"})), 2);
        assert_eq!(value_size(&json!({"N": "12345"})), 4);
        assert_eq!(value_size(&json!({"N": "100"})), 2);
        assert_eq!(value_size(&json!({"B": "AAAA"})), 3);
        assert_eq!(
            item_size(&json!({"ab": {"S": "xyz"}, "m": {"M": {"k": {"BOOL": true}}}})),
            2 + 3 + 1 + 3 + 1 + 1 + 1
        );
    }

    #[test]
    fn form_bodies_decode_and_errors_take_the_service_shape() {
        let p = form_params(
            "Action=PutMetricData&MetricData.member.1.Dimensions.member.1.Value=%C3%89quipe+x",
        );
        assert_eq!(
            p["MetricData.member.1.Dimensions.member.1.Value"],
            "Équipe x"
        );
        let (ct, body) = error_response(&cw("a < b"));
        assert_eq!(ct, "text/xml");
        assert!(body.contains("<Code>InvalidParameterValue</Code>") && body.contains("a &lt; b"));
        let (ct, body) = error_response(&ddb("too big"));
        assert_eq!(ct, "application/x-amz-json-1.0");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["__type"]
            .as_str()
            .unwrap()
            .ends_with("#ValidationException"));
    }

    #[test]
    fn iam_names_and_policy_sizes() {
        let put = |role: &str, name: &str, doc: &str| {
            params(&[
                ("RoleName", role),
                ("PolicyName", name),
                ("PolicyDocument", doc),
            ])
        };
        let doc = r#"{"Version":"2012-10-17","Statement":[]}"#;
        assert!(check_iam(
            "PutRolePolicy",
            &put("ops-agent", "BedrockMeterContain-a1", doc)
        )
        .is_ok());
        assert_eq!(
            check_iam("PutRolePolicy", &put("ops-agent", &"x".repeat(129), doc))
                .unwrap_err()
                .code,
            "ValidationError"
        );
        assert!(check_iam("PutRolePolicy", &put("ops agent", "p", doc)).is_err());
        assert!(check_iam("DeleteRolePolicy", &put("r", "a/b", "")).is_err());
        assert_eq!(
            check_iam("PutRolePolicy", &put("r", "p", "{not json"))
                .unwrap_err()
                .code,
            "MalformedPolicyDocument"
        );
        // Whitespace is not counted; 2,048 characters fit a user, 2,049 do not.
        let padded = |n: usize| format!("{{\"Sid\":\"{}\"}}   \n", "a".repeat(n - 10));
        assert_eq!(
            padded(2048).chars().filter(|c| !c.is_whitespace()).count(),
            2048
        );
        let user = |d: &str| {
            params(&[
                ("UserName", "u"),
                ("PolicyName", "p"),
                ("PolicyDocument", d),
            ])
        };
        assert!(check_iam("PutUserPolicy", &user(&padded(2048))).is_ok());
        assert_eq!(
            check_iam("PutUserPolicy", &user(&padded(2049)))
                .unwrap_err()
                .code,
            "LimitExceeded"
        );
        assert!(check_iam("PutRolePolicy", &put("r", "p", &padded(2049))).is_ok());
        assert!(check_iam("PutRolePolicy", &put("r", "p", &padded(10_241))).is_err());
        // Together: two 1,500-character policies do not fit a user; replacing one by name does.
        let inline = Mutex::new(HashMap::new());
        let user2 = |n: &str, d: &str| {
            params(&[("UserName", "u"), ("PolicyName", n), ("PolicyDocument", d)])
        };
        assert!(
            check_inline_aggregate(&inline, "PutUserPolicy", &user2("a", &padded(1500))).is_ok()
        );
        assert!(
            check_inline_aggregate(&inline, "PutUserPolicy", &user2("a", &padded(1500))).is_ok()
        );
        assert_eq!(
            check_inline_aggregate(&inline, "PutUserPolicy", &user2("b", &padded(1500)))
                .unwrap_err()
                .code,
            "LimitExceeded"
        );
        assert!(check_inline_aggregate(&inline, "DeleteUserPolicy", &user2("a", "")).is_ok());
        assert!(
            check_inline_aggregate(&inline, "PutUserPolicy", &user2("b", &padded(1500))).is_ok()
        );
    }

    #[test]
    fn dynamodb_expressions_at_most_4_kb() {
        let s = |v: &str| json!({ "S": v });
        let update = |expr: String| {
            check(
                "UpdateItem",
                json!({"TableName": "state", "Key": {"pk": s("a"), "sk": s("b")},
                       "UpdateExpression": expr,
                       "ExpressionAttributeValues": {":v": {"N": "1"}}}),
            )
        };
        let fits = format!("SET a = :v{}", " ".repeat(4096 - 10));
        assert_eq!(fits.len(), 4096);
        assert!(update(fits.clone()).is_ok());
        let e = update(fits + " ").unwrap_err();
        assert!(e.message.contains("Expression size"), "{e:?}");
        let cond = "attribute_exists(pk) AND ".repeat(200) + "attribute_exists(sk)";
        assert!(check(
            "PutItem",
            json!({"TableName": "state", "Item": {"pk": s("a"), "sk": s("b")}, "ConditionExpression": cond})
        )
        .is_err());
        // Inside a transaction too.
        let tx = json!({"TransactItems": [{"ConditionCheck": {"TableName": "state",
            "Key": {"pk": s("a"), "sk": s("b")}, "ConditionExpression": "x".repeat(4097)}}]});
        assert!(check("TransactWriteItems", tx).is_err());
    }

    #[test]
    fn dynamodb_sets_neither_empty_nor_repeated() {
        let s = |v: &str| json!({ "S": v });
        let put = |attr: Value| {
            check(
                "PutItem",
                json!({"TableName": "state", "Item": {"pk": s("a"), "sk": s("b"), "x": attr}}),
            )
        };
        assert!(put(json!({"SS": ["a", "b"]})).is_ok());
        assert!(put(json!({"NS": ["1", "2.5"]})).is_ok());
        for bad in [
            json!({"SS": []}),
            json!({"NS": []}),
            json!({"BS": []}),
            json!({"SS": ["a", "a"]}),
            json!({"NS": ["1", "1.0"]}),
            json!({"NS": ["100", "1E2"]}),
            json!({"M": {"inner": {"SS": []}}}),
            json!({"L": [{"SS": ["x", "x"]}]}),
        ] {
            let e = put(bad.clone()).unwrap_err();
            assert_eq!(e.code, "ValidationException", "{bad}");
        }
        // An update's values too (an `ADD` of an empty set).
        assert!(check(
            "UpdateItem",
            json!({"TableName": "state", "Key": {"pk": s("a"), "sk": s("b")},
                   "UpdateExpression": "ADD m :m", "ExpressionAttributeValues": {":m": {"SS": []}}})
        )
        .is_err());
    }

    #[test]
    fn dynamodb_numbers_at_most_38_digits() {
        assert!(check_number(&"9".repeat(38)).is_ok());
        assert!(check_number(&"9".repeat(39)).is_err());
        // Leading and trailing zeros do not count; the point does not either.
        assert!(check_number(&format!("{}{}", "1".repeat(38), "0".repeat(50))).is_ok());
        assert!(check_number(&format!("0.000{}", "7".repeat(38))).is_ok());
        assert!(check_number(&format!("-{}.{}", "1".repeat(20), "2".repeat(19))).is_err());
        assert!(check_number("9.9999999999999999999999999999999999999E+125").is_ok());
        assert!(check_number("1E126").is_err());
        assert!(check_number("1E-130").is_ok());
        assert!(check_number("1E-131").is_err());
        assert!(check_number("0").is_ok());
        assert!(check_number("-0.000").is_ok());
        for bad in ["", "abc", "1.2.3", "--1", "1e", "."] {
            assert!(check_number(bad).is_err(), "{bad:?}");
        }
        // i128::MAX femto-dollars (39 digits) is more than DynamoDB keeps.
        assert!(check_number(&i128::MAX.to_string()).is_err());
        let s = |v: &str| json!({ "S": v });
        assert!(check(
            "UpdateItem",
            json!({"TableName": "state", "Key": {"pk": s("a"), "sk": s("b")},
                   "UpdateExpression": "ADD c :c", "ExpressionAttributeValues": {":c": {"N": "1".repeat(39)}}})
        )
        .is_err());
        // A stored item whose sum grew past 38 digits (after an `ADD`) is refused too.
        assert!(check_stored_item(&json!({"c": {"N": "1".repeat(38)}})).is_ok());
        assert!(check_stored_item(&json!({"c": {"N": "1".repeat(39)}})).is_err());
    }

    #[test]
    fn dynamodb_transactions_one_action_per_item_and_4_mb() {
        let s = |v: &str| json!({ "S": v });
        let key = |sk: &str| json!({"pk": s("a"), "sk": s(sk)});
        let ok = json!({"TransactItems": [
            {"Put": {"TableName": "state", "Item": {"pk": s("a"), "sk": s("b#1")}}},
            {"Update": {"TableName": "state", "Key": key("s"), "UpdateExpression": "ADD r :r",
                        "ExpressionAttributeValues": {":r": {"N": "1"}}}},
        ]});
        assert!(check("TransactWriteItems", ok).is_ok());
        let twice = json!({"TransactItems": [
            {"ConditionCheck": {"TableName": "state", "Key": key("s"), "ConditionExpression": "attribute_exists(pk)"}},
            {"Update": {"TableName": "state", "Key": key("s"), "UpdateExpression": "ADD r :r",
                        "ExpressionAttributeValues": {":r": {"N": "1"}}}},
        ]});
        let e = check("TransactWriteItems", twice).unwrap_err();
        assert!(
            e.message.contains("multiple operations on one item"),
            "{e:?}"
        );
        // A Put and a Delete of one item (the key read from the Put's item).
        let put_delete = json!({"TransactItems": [
            {"Put": {"TableName": "state", "Item": {"pk": s("a"), "sk": s("x"), "v": s("1")}}},
            {"Delete": {"TableName": "state", "Key": key("x")}},
        ]});
        assert!(check("TransactWriteItems", put_delete).is_err());
        // Eleven items of 390 KB: each fits, together over 4 MB.
        let big = "x".repeat(390 * 1024);
        let puts = |n: usize| -> Value {
            let items: Vec<Value> = (0..n)
                .map(|i| json!({"Put": {"TableName": "state", "Item": {"pk": s("a"), "sk": s(&i.to_string()), "b": s(&big)}}}))
                .collect();
            json!({ "TransactItems": items })
        };
        assert!(check("TransactWriteItems", puts(10)).is_ok());
        let e = check("TransactWriteItems", puts(11)).unwrap_err();
        assert!(e.message.contains("4 MB"), "{e:?}");
    }

    #[test]
    fn dynamodb_stored_item_size_and_cancellation_shape() {
        let s = |v: &str| json!({ "S": v });
        let item = |n: usize| json!({"pk": s("a"), "sk": s("s"), "b": s(&"x".repeat(n))});
        // "pk" + "a", "sk" + "s", "b" + n bytes: 7 + n.
        assert!(check_stored_item(&item(DDB_MAX_ITEM_BYTES - 7)).is_ok());
        let e = check_stored_item(&item(DDB_MAX_ITEM_BYTES - 6)).unwrap_err();
        assert!(e.message.contains("Item size to update"), "{e:?}");
        let c = cancelled(2, 1, &e.message);
        assert_eq!(c.code, "TransactionCanceledException");
        let (_, body) = error_response(&c);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["__type"]
            .as_str()
            .unwrap()
            .ends_with("#TransactionCanceledException"));
        assert_eq!(v["CancellationReasons"][0]["Code"], "None");
        assert_eq!(v["CancellationReasons"][1]["Code"], "ValidationError");
    }

    #[test]
    fn cloudwatch_judges_the_uncompressed_body() {
        use flate2::{write::GzEncoder, Compression};
        // A datum whose text inflates past 1 MB but compresses to a few KB.
        let mut body = "Action=PutMetricData&Version=2010-08-01&Namespace=BedrockMeter\
            &MetricData.member.1.MetricName=Requests&MetricData.member.1.Value=1"
            .to_string();
        body.push_str(&format!("&Padding={}", "a".repeat(CW_MAX_REQUEST_BYTES)));
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 64 * 1024);
        let req = |body: Vec<u8>, gzip: bool| {
            let mut headers = vec![
                (
                    "authorization".to_string(),
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0".to_string(),
                ),
                (
                    "content-type".to_string(),
                    "application/x-www-form-urlencoded".to_string(),
                ),
            ];
            if gzip {
                headers.push(("content-encoding".to_string(), "gzip".to_string()));
            }
            Request {
                method: "POST".into(),
                target: "/".into(),
                headers,
                body,
            }
        };
        let state = State::default();
        let e = check_request(&state, 1, &req(gz, true)).unwrap_err();
        assert_eq!(e.code, "RequestEntityTooLarge");
        // The same datum without the padding passes, compressed or not.
        let small = body[..body.find("&Padding").unwrap()].to_string();
        assert!(check_request(&state, 1, &req(small.clone().into_bytes(), false)).is_ok());
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(small.as_bytes()).unwrap();
        assert!(check_request(&state, 1, &req(gz.finish().unwrap(), true)).is_ok());
    }

    #[test]
    fn iam_policy_document_characters_and_length() {
        let put = |doc: &str| {
            params(&[
                ("RoleName", "ops-agent"),
                ("PolicyName", "p"),
                ("PolicyDocument", doc),
            ])
        };
        // Latin-1 and tab / line feed / carriage return pass.
        let ok = "{\"Sid\":\"Équipe\",\r\n\t\"x\":\"ÿ\"}";
        assert!(check_iam("PutRolePolicy", &put(ok)).is_ok());
        for bad in [
            "{\"Sid\":\"Ā\"}",
            "{\"Sid\":\"日本\"}",
            "{\"Sid\":\"😀\"}",
            "{\"Sid\":\"a\u{7}b\"}",
            "{\"Sid\":\"a\u{0}b\"}",
            "{\"Sid\":\"\u{2028}\"}",
        ] {
            let e = check_iam("PutRolePolicy", &put(bad)).unwrap_err();
            assert_eq!(e.code, "ValidationError", "{bad:?}");
        }
        assert_eq!(
            check_iam("PutRolePolicy", &put("")).unwrap_err().code,
            "ValidationError"
        );
        // Over 131,072 characters, whitespace included, is refused by the API before any quota.
        let long = format!("{{\"Sid\":\"a\"}}{}", " ".repeat(IAM_MAX_POLICY_DOCUMENT));
        assert_eq!(
            check_iam("PutRolePolicy", &put(&long)).unwrap_err().code,
            "ValidationError"
        );
    }
}

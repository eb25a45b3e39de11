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
//!   datums and 1 MB of payload per request; namespace 1–255 characters, not `AWS/…`; metric names
//!   1–255 characters; at most 30 dimensions per datum; dimension names 1–255 and values 1–1,024
//!   characters, ASCII only, at least one non-whitespace character, no ASCII control characters, names
//!   not starting with `:`; values finite and within ±2^360 (and not smaller than 2^-360 in magnitude
//!   unless zero); at most 150 `Values`, with `Counts` of the same length; a known unit; storage
//!   resolution 1 or 60; timestamps no more than two weeks in the past and two hours in the future.
//! - **DynamoDB** (JSON 1.0): partition key values 1–2,048 bytes, sort key values 1–1,024 bytes, items
//!   at most 400 KB (attribute names plus values, sized as the developer guide documents);
//!   `BatchWriteItem` at most 25 requests, `BatchGetItem` at most 100 keys, `TransactWriteItems` and
//!   `TransactGetItems` at most 100 actions. Key attributes come from the table's key schema (learnt
//!   from `CreateTable` as it passes, else asked of moto with `DescribeTable`).
//! - **SNS `Publish` / `PublishBatch`** (Query protocol): a non-empty message of at most 256 KB
//!   (262,144 bytes, message attributes included); a subject, when given, of printable ASCII beginning
//!   with a letter, digit or punctuation mark, no line breaks or control characters, fewer than 100
//!   characters; at most 10 message attributes, names of `A-Za-z0-9_-.` (at most 256, not `AWS.` or
//!   `Amazon.`, no leading, trailing or doubled `.`), a `String`, `Number` or `Binary` data type and a
//!   non-empty value; `PublishBatch` at most 10 entries; with `MessageStructure=json`, a message that is
//!   a JSON object of strings with a `default` entry.
//! - **S3 `PutObject`** (REST, path-style): an object key of 1–1,024 bytes (UTF-8) and a body of at
//!   most 5 GB in one PUT.
//! - **IAM inline policies** (`Put|Delete|Get Role|User Policy`, `List Role|User Policies`; Query
//!   protocol): role and user names 1–64 and policy names 1–128 characters of `[\w+=,.@-]`; a policy
//!   document that is JSON, and (whitespace not counted) at most 10,240 characters for a role and 2,048
//!   for a user — the quota is for all of a principal's inline policies together: the proxy keeps the
//!   sizes of the policies put through it per principal and refuses a put that would pass it.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::runtime_stub::{read_request, Request};

/// Why a request was refused: the service, its error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub service: Service,
    pub code: &'static str,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    CloudWatch,
    DynamoDb,
    Sns,
    S3,
    Iam,
}

fn reject(service: Service, code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        service,
        code,
        message: message.into(),
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

/// `PutMetricData`: `params` are the form parameters (decoded), `wire_bytes` the request body as sent.
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

/// One DynamoDB operation (`op` from `X-Amz-Target`); `schema` looks up a table's key schema.
pub fn check_dynamodb(
    op: &str,
    body: &Value,
    schema: &mut dyn FnMut(&str) -> Option<KeySchema>,
) -> Result<(), Rejection> {
    let table = |b: &Value| b["TableName"].as_str().unwrap_or("").to_string();
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
        Service::S3 => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message><RequestId>strict-proxy</RequestId></Error>",
                r.code,
                xml_escape(&r.message)
            ),
        ),
        Service::DynamoDb => (
            "application/x-amz-json-1.0",
            serde_json::json!({
                "__type": format!("com.amazon.coral.validate#{}", r.code),
                "message": r.message,
            })
            .to_string(),
        ),
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
}

/// Checks one request; `upstream` is moto's port (for `DescribeTable` when a schema is unknown).
fn check_request(state: &State, upstream: u16, req: &Request) -> Result<(), Rejection> {
    // S3 PutObject, path-style: PUT /bucket/key (sub-resources such as ?acl or ?tagging are not it).
    if req.method == "PUT" && signing_service(req) == Some("s3") {
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        let sub_resource = query
            .split('&')
            .any(|q| !q.is_empty() && !q.starts_with("x-id="));
        // `PUT /bucket` or `PUT /bucket/` is CreateBucket.
        if let Some((_, key)) = path.trim_start_matches('/').split_once('/') {
            if !sub_resource && !key.is_empty() {
                return check_s3_put_object(
                    &bedrock_meter_core::ports::encoding::percent_decode(key),
                    req.body.len() as u64,
                );
            }
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
        ("monitoring", Some("PutMetricData")) => check_put_metric_data(
            &params,
            req.body.len(),
            bedrock_meter_core::time::Timestamp::now().0,
        ),
        ("monitoring", Some("GetMetricData")) => check_get_metric_data(&params),
        ("sns", Some("Publish")) => check_sns_publish(&params),
        ("sns", Some("PublishBatch")) => check_sns_publish_batch(&params),
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

/// Asks moto for a table's key schema.
fn describe_table(upstream: u16, auth: &str, table: &str) -> Option<KeySchema> {
    let body = serde_json::json!({ "TableName": table }).to_string();
    let mut s = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.DescribeTable\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
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
    if let Err(r) = check_request(state, upstream, &req) {
        let (content_type, body) = error_response(&r);
        state.rejected.lock().unwrap().push(r);
        let head = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: strict-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes())?;
        conn.write_all(body.as_bytes())?;
        return conn.flush();
    }
    // Forward as sent (body de-chunked), one request per upstream connection.
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
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    // Relay the answer: its head with `Connection: close`, then everything to the end.
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
    conn.write_all(&out)?;
    std::io::copy(&mut upr, &mut conn)?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}

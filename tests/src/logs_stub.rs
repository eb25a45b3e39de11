//! CloudWatch Logs (and the other services `doctor` reads) for the operator-command tests, seeded in
//! moto over each service's real wire protocol with plain HTTP: the commands under test use the real
//! aws-sdk clients, and the set-up needs no extra SDK crates. moto does not check signatures; it routes
//! by the service named in the `Authorization` credential scope, which [`call`] sends.
//!
//! CloudWatch Logs itself needs no stub: moto implements CreateLogGroup, CreateLogStream, PutLogEvents,
//! FilterLogEvents, DescribeLogGroups and Put/DescribeSubscriptionFilters (the filter's Lambda must
//! exist in moto: [`create_lambda`] makes one with its IAM role).

use std::io::{Read, Write};
use std::time::Duration;

/// One raw call to the emulator: returns (status, body). `target` is the `X-Amz-Target` of JSON
/// protocols.
pub fn call(
    port: u16,
    service: &str,
    method: &str,
    path: &str,
    target: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         X-Amz-Date: 20260101T000000Z\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = target {
        head.push_str(&format!("X-Amz-Target: {t}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    crate::parse_response(&buf)
}

/// A JSON-protocol call that must succeed.
pub fn json_call(port: u16, service: &str, target: &str, body: serde_json::Value) -> String {
    let (status, out) = call(
        port,
        service,
        "POST",
        "/",
        Some(target),
        "application/x-amz-json-1.1",
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{target}: {out}");
    out
}

pub fn create_log_group(port: u16, group: &str) {
    json_call(
        port,
        "logs",
        "Logs_20140328.CreateLogGroup",
        serde_json::json!({ "logGroupName": group }),
    );
}

/// Creates a stream (once) and puts the messages with their timestamps (epoch ms).
pub fn put_log_events(port: u16, group: &str, stream: &str, events: &[(i64, String)]) {
    let _ = call(
        port,
        "logs",
        "POST",
        "/",
        Some("Logs_20140328.CreateLogStream"),
        "application/x-amz-json-1.1",
        serde_json::json!({ "logGroupName": group, "logStreamName": stream })
            .to_string()
            .as_bytes(),
    );
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.0);
    let events: Vec<serde_json::Value> = sorted
        .iter()
        .map(|(t, m)| serde_json::json!({ "timestamp": t, "message": m }))
        .collect();
    json_call(
        port,
        "logs",
        "Logs_20140328.PutLogEvents",
        serde_json::json!({ "logGroupName": group, "logStreamName": stream, "logEvents": events }),
    );
}

/// An IAM role and a Lambda function in moto (its code is never run); returns the function ARN.
pub fn create_lambda(port: u16, name: &str) -> String {
    let (status, out) = call(
        port,
        "iam",
        "POST",
        "/",
        None,
        "application/x-www-form-urlencoded",
        format!("Action=CreateRole&Version=2010-05-08&RoleName={name}-role&AssumeRolePolicyDocument=%7B%7D").as_bytes(),
    );
    assert_eq!(status, 200, "CreateRole: {out}");
    let (status, out) = call(
        port,
        "lambda",
        "POST",
        "/2015-03-31/functions",
        None,
        "application/json",
        serde_json::json!({
            "FunctionName": name,
            "Runtime": "provided.al2023",
            "Role": format!("arn:aws:iam::123456789012:role/{name}-role"),
            "Handler": "bootstrap",
            // An empty zip archive.
            "Code": { "ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" },
        })
        .to_string()
        .as_bytes(),
    );
    assert_eq!(status, 201, "CreateFunction: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["FunctionArn"].as_str().unwrap().to_string()
}

pub fn put_subscription_filter(port: u16, group: &str, name: &str, destination_arn: &str) {
    json_call(
        port,
        "logs",
        "Logs_20140328.PutSubscriptionFilter",
        serde_json::json!({ "logGroupName": group, "filterName": name, "filterPattern": "",
                            "destinationArn": destination_arn }),
    );
}

/// `PutModelInvocationLoggingConfiguration` (restJson1).
pub fn put_logging_config(port: u16, config: serde_json::Value) {
    let (status, out) = call(
        port,
        "bedrock",
        "PUT",
        "/logging/modelinvocations",
        None,
        "application/json",
        serde_json::json!({ "loggingConfig": config })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200, "PutModelInvocationLoggingConfiguration: {out}");
}

pub fn create_bucket(port: u16, bucket: &str) {
    let (status, out) = call(
        port,
        "s3",
        "PUT",
        &format!("/{bucket}"),
        None,
        "application/xml",
        b"",
    );
    assert_eq!(status, 200, "CreateBucket: {out}");
}

pub fn put_object(port: u16, bucket: &str, key: &str, body: &[u8]) {
    let (status, out) = call(
        port,
        "s3",
        "PUT",
        &format!("/{bucket}/{key}"),
        None,
        "application/octet-stream",
        body,
    );
    assert_eq!(status, 200, "PutObject: {out}");
}

/// A Glue database and a table with the log table's name (columns are not what doctor checks).
pub fn create_glue_table(port: u16, database: &str, table: &str) {
    json_call(
        port,
        "glue",
        "AWSGlue.CreateDatabase",
        serde_json::json!({ "DatabaseInput": { "Name": database } }),
    );
    json_call(
        port,
        "glue",
        "AWSGlue.CreateTable",
        serde_json::json!({ "DatabaseName": database, "TableInput": {
            "Name": table, "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": { "Columns": [{ "Name": "modelId", "Type": "string" }] } } }),
    );
}

pub fn create_workgroup(port: u16, name: &str) {
    json_call(
        port,
        "athena",
        "AmazonAthena.CreateWorkGroup",
        serde_json::json!({ "Name": name, "Configuration": {} }),
    );
}

//! Building events, as CloudWatch Logs sends them (for the CLI's `event` command, the demo and tests).

use std::io::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{LogEvent, LogsData, CONTROL_MESSAGE};

/// Builds the `awslogs.data` string for a payload: standard padded base64 of gzip of its JSON.
pub(crate) fn encode_data(data: &LogsData<'_>) -> String {
    let json = payload_json(data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes())
        .expect("writing to a Vec cannot fail");
    let bytes = gz.finish().expect("writing to a Vec cannot fail");
    STANDARD.encode(bytes)
}

/// Builds a whole Lambda event: `{"awslogs":{"data":"…"}}`.
pub fn encode(data: &LogsData<'_>) -> String {
    serde_json::json!({ "awslogs": { "data": encode_data(data) } }).to_string()
}

/// The payload's JSON, with members in the order CloudWatch Logs writes them.
pub fn payload_json(d: &LogsData<'_>) -> String {
    use std::fmt::Write as _;
    let q = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    let mut out = String::with_capacity(
        256 + d
            .log_events
            .iter()
            .map(|e| e.message.len() + 96)
            .sum::<usize>(),
    );
    let filters: Vec<String> = d.subscription_filters.iter().map(|f| q(f)).collect();
    let _ = write!(
        out,
        "{{\"messageType\":{},\"owner\":{},\"logGroup\":{},\"logStream\":{},\"subscriptionFilters\":[{}],\"logEvents\":[",
        q(d.message_type),
        q(d.owner),
        q(d.log_group),
        q(d.log_stream),
        filters.join(",")
    );
    for (i, e) in d.log_events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"id\":{},\"timestamp\":{},\"message\":",
            q(e.id),
            e.timestamp
        );
        e.message.write_json(&mut out);
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// A log event id in CloudWatch's shape (56 decimal digits), derived from the ingestion time and a
/// sequence number so generated events are reproducible.
pub fn event_id(timestamp_ms: i64, seq: u64) -> String {
    format!("{:032}{:024}", timestamp_ms.max(0), seq)
}

/// The control message CloudWatch Logs sends to check that a destination is reachable.
pub fn control_message(timestamp_ms: i64) -> LogsData<'static> {
    LogsData {
        message_type: CONTROL_MESSAGE,
        owner: "CloudwatchLogs",
        log_group: "",
        log_stream: "",
        subscription_filters: Vec::new(),
        log_events: vec![LogEvent {
            id: "",
            timestamp: timestamp_ms,
            message: "CWL CONTROL MESSAGE: Checking health of destination Lambda function.".into(),
        }],
    }
}

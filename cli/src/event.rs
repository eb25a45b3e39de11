//! `bedrock-meter event [--control] PATH...`: prints a CloudWatch Logs subscription event
//! (`{"awslogs":{"data":"<standard padded base64 of gzip>"}}`) whose log events are the log records in
//! the files — what the ingest Lambda receives, for `cargo lambda invoke --data-file` and for tests.
//!
//! Files hold records as Bedrock writes them: JSON Lines, one pretty-printed record, or records back to
//! back; `.gz` files are gunzipped. Each record becomes one log event, compacted to one line (as
//! CloudWatch Logs stores it) with its keys in their original order; the event's timestamp is the
//! record's `timestamp` (or the previous event's when it has none). A file that is not a stream of JSON
//! values is taken line by line, each non-blank line one event as it is — so broken records can be put
//! in an event on purpose.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bedrock_meter_core::daily::report::skipped_summary;
use bedrock_meter_core::records::logfiles::{find_log_files_and_others, read_maybe_gzip};
use bedrock_meter_core::records::subscription::{
    control_message, encode, event_id, LogEvent, LogsData, DATA_MESSAGE,
};
use bedrock_meter_core::time::Timestamp;
use serde_json::value::RawValue;

use crate::common::{ensure_paths, warn_unreadable};

#[derive(clap::Args, Debug)]
pub struct EventArgs {
    /// Print a CONTROL_MESSAGE (the reachability probe CloudWatch Logs sends) instead; takes no files.
    #[arg(long, conflicts_with = "files")]
    pub control: bool,
    /// Log group named in the event.
    #[arg(long, default_value = "/aws/bedrock/modelinvocations")]
    pub log_group: String,
    /// Log stream named in the event.
    #[arg(long, default_value = "aws/bedrock/modelinvocations")]
    pub log_stream: String,
    /// Subscription filter named in the event.
    #[arg(long, default_value = "bedrock-meter")]
    pub filter: String,
    /// Account id (`owner`); default: the first record's accountId, else 123456789012.
    #[arg(long)]
    pub owner: Option<String>,
    /// Print the decoded payload (the JSON inside `awslogs.data`) instead of the event.
    #[arg(long)]
    pub decoded: bool,
    /// Log record files (.json, .jsonl, .json.gz, …) and folders of them (read recursively, like
    /// report and replay).
    #[arg(value_name = "FILE", required_unless_present = "control")]
    pub files: Vec<PathBuf>,
}

/// A file's text (gunzipped when gzip); the error says why it cannot be read.
fn read(path: &Path) -> std::io::Result<String> {
    let bytes = read_maybe_gzip(path)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// The JSON text without insignificant whitespace (strings untouched, key order kept).
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The messages of one file: compacted records, or its lines when it is not a JSON stream.
fn messages(text: &str) -> Vec<String> {
    let stream: Result<Vec<Box<RawValue>>, _> = serde_json::Deserializer::from_str(text)
        .into_iter::<Box<RawValue>>()
        .collect();
    match stream {
        Ok(values) => values.iter().map(|v| compact(v.get())).collect(),
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect(),
    }
}

fn record_field(message: &str, field: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(message).ok()?;
    v.get(field)?.as_str().map(str::to_string)
}

pub fn run(a: EventArgs) -> anyhow::Result<ExitCode> {
    let out = if a.control {
        let data = control_message(bedrock_meter_core::time::now_millis());
        if a.decoded {
            bedrock_meter_core::records::subscription::payload_json(&data)
        } else {
            encode(&data)
        }
    } else {
        ensure_paths(&a.files)?;
        // Folders are read like report and replay read them; a file named explicitly is read as it is.
        let files = find_log_files_and_others(&a.files)?.files;
        let mut msgs = Vec::new();
        let mut unreadable = 0u64;
        for f in &files {
            match read(f) {
                Ok(text) => msgs.extend(messages(&text)),
                Err(e) => {
                    unreadable += 1;
                    warn_unreadable(f, &e);
                }
            }
        }
        if let Some(s) = skipped_summary(0, unreadable) {
            eprintln!("{s}");
        }
        if msgs.is_empty() {
            anyhow::bail!(
                "no log records in {} ({} log files found)",
                a.files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                files.len()
            );
        }
        let mut last_ms = 0i64;
        let stamps: Vec<i64> = msgs
            .iter()
            .map(|m| {
                if let Some(t) = record_field(m, "timestamp")
                    .as_deref()
                    .and_then(Timestamp::parse_iso8601)
                {
                    last_ms = t.0 * 1000;
                }
                last_ms
            })
            .collect();
        let ids: Vec<String> = stamps
            .iter()
            .enumerate()
            .map(|(i, ts)| event_id(*ts, i as u64))
            .collect();
        let owner = a
            .owner
            .clone()
            .or_else(|| msgs.iter().find_map(|m| record_field(m, "accountId")))
            .unwrap_or_else(|| "123456789012".into());
        let data = LogsData {
            message_type: DATA_MESSAGE,
            owner: &owner,
            log_group: &a.log_group,
            log_stream: &a.log_stream,
            subscription_filters: vec![a.filter.as_str()],
            log_events: msgs
                .iter()
                .zip(&stamps)
                .zip(&ids)
                .map(|((m, ts), id)| LogEvent {
                    id,
                    timestamp: *ts,
                    message: m.as_str().into(),
                })
                .collect(),
        };
        if a.decoded {
            bedrock_meter_core::records::subscription::payload_json(&data)
        } else {
            encode(&data)
        }
    };
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_meter_core::records::subscription::Decoder;

    #[test]
    fn pretty_records_and_lines() {
        let pretty = "{\n  \"timestamp\": \"2026-11-25T10:00:00Z\",\n  \"modelId\": \"m.x\",\n  \"note\": \"a  b\\\"\"\n}\n{\"timestamp\":\"2026-11-25T10:00:01Z\",\"modelId\":\"m.y\"}\n";
        let m = messages(pretty);
        assert_eq!(
            m,
            vec![
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","note":"a  b\""}"#,
                r#"{"timestamp":"2026-11-25T10:00:01Z","modelId":"m.y"}"#
            ]
        );
        let broken =
            "{\"timestamp\":\"2026-11-25T10:00:00Z\",\"modelId\":\"m.x\"}\n{\"truncated\":\n";
        assert_eq!(messages(broken).len(), 2);
    }

    #[test]
    fn event_round_trips_through_the_decoder() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.jsonl");
        std::fs::write(
            &f,
            "{\"timestamp\":\"2026-11-25T10:00:00Z\",\"accountId\":\"111122223333\",\"modelId\":\"m.x\"}\n",
        )
        .unwrap();
        let msgs = messages(&read(&f).unwrap());
        let data = LogsData {
            message_type: DATA_MESSAGE,
            log_events: vec![LogEvent {
                id: "1",
                timestamp: 1,
                message: msgs[0].as_str().into(),
            }],
            ..Default::default()
        };
        let mut dec = Decoder::new();
        let got = dec.decode_event(&encode(&data)).unwrap();
        assert_eq!(got.log_events[0].message.text().unwrap(), msgs[0]);
    }
}

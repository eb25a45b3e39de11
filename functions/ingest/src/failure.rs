//! The live path's failure record: a **pointer** to the batch, never the batch.
//!
//! A subscription event carries the invocation-log records whole — prompt and response text included.
//! Lambda's asynchronous on-failure destination (and a dead-letter queue) would keep that payload for
//! days, outside the log group's retention and readable by whoever can read the queue. So the ingest
//! function has no destination: when an invocation fails, [`handle_recording_failures`] writes a
//! [`FailurePointer`] — log group, stream, first and last event ids, the events' time range, their
//! count and the error — to the failure queue itself, then returns the error so Lambda retries the
//! batch as before. Each failed attempt writes one pointer (at most three per batch, the same
//! `batch_id`); a batch still being handled shortly before the function's deadline is stopped and
//! recorded the same way. The batch is found again in the log group, where it lives for the group's retention
//! (docs/live-path.md shows the command).

use bedrock_meter_core::ports::queue::MessageQueue;
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::records::subscription::{Decoder, LogsData};
use bedrock_meter_core::time::Timestamp;
use serde::Serialize;

use crate::{batch_id, Ingest, IngestError, Outcome, SubscriptionEvent};

/// Where a failed batch can be found again. Holds no record content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FailurePointer {
    /// Always `bedrock-meter-ingest-failure`.
    pub kind: &'static str,
    /// The same on every delivery of the batch ([`crate::batch_id`]); empty when the payload could
    /// not be decoded.
    pub batch_id: String,
    pub log_group: String,
    pub log_stream: String,
    pub first_event_id: String,
    pub last_event_id: String,
    /// Log event timestamps (ms since the epoch), first and last.
    pub start_ms: i64,
    pub end_ms: i64,
    pub log_events: usize,
    /// Size of the (compressed, base64) payload, for a payload that could not be decoded.
    pub payload_bytes: usize,
    /// The error: service codes and messages, never record text.
    pub error: String,
    /// When the attempt failed (ISO 8601).
    pub failed_at: String,
}

pub const POINTER_KIND: &str = "bedrock-meter-ingest-failure";

impl FailurePointer {
    /// The pointer of a decoded batch.
    pub fn of(data: &LogsData<'_>, error: &str, now: Timestamp) -> FailurePointer {
        let ts = data.log_events.iter().map(|e| e.timestamp);
        FailurePointer {
            kind: POINTER_KIND,
            batch_id: batch_id(data),
            log_group: data.log_group.to_string(),
            log_stream: data.log_stream.to_string(),
            first_event_id: data.log_events.first().map_or("", |e| e.id).to_string(),
            last_event_id: data.log_events.last().map_or("", |e| e.id).to_string(),
            start_ms: ts.clone().min().unwrap_or(0),
            end_ms: ts.max().unwrap_or(0),
            log_events: data.log_events.len(),
            payload_bytes: 0,
            error: error.to_string(),
            failed_at: now.to_string(),
        }
    }

    /// The pointer of an event: decoded again here (the handler's decode buffers are its own); an
    /// undecodable payload is described by its size only.
    pub fn of_event(event: &SubscriptionEvent, error: &str, now: Timestamp) -> FailurePointer {
        let Some(logs) = &event.awslogs else {
            return FailurePointer {
                kind: POINTER_KIND,
                error: error.to_string(),
                failed_at: now.to_string(),
                ..FailurePointer::default()
            };
        };
        let mut decoder = Decoder::new();
        match decoder.decode_base64_data(&logs.data) {
            Ok(data) => FailurePointer::of(&data, error, now),
            Err(_) => FailurePointer {
                kind: POINTER_KIND,
                payload_bytes: logs.data.text_len(),
                error: error.to_string(),
                failed_at: now.to_string(),
                ..FailurePointer::default()
            },
        }
    }
}

/// Time kept back from the Lambda deadline to record the failure pointer.
pub const POINTER_RESERVE: std::time::Duration = std::time::Duration::from_secs(5);

/// [`Ingest::handle`], and on failure a pointer to the batch (JSON) sent to `queue` (and logged)
/// before the error is returned for Lambda to retry. With the invocation's `deadline`, a batch still
/// being handled [`POINTER_RESERVE`] before it is stopped and recorded too (a Lambda timeout would
/// end the invocation with nothing recorded).
pub async fn handle_recording_failures<P, M, N, S, I, L, Q>(
    ingest: &Ingest<P, M, N, S, I, L>,
    queue: &Q,
    event: &SubscriptionEvent,
    now: Timestamp,
    deadline: Option<std::time::Instant>,
) -> Result<Outcome, IngestError>
where
    P: bedrock_meter_core::ports::profiles::ProfileSource + Send + Sync,
    M: bedrock_meter_core::ports::metrics::MetricsSink + Send + Sync,
    N: bedrock_meter_core::ports::notify::Notifier + Send + Sync,
    S: bedrock_meter_core::live::detector::StateStore,
    I: bedrock_meter_core::live::containment::IamPolicies,
    L: bedrock_meter_core::live::containment::ContainmentLedger,
    Q: MessageQueue + Sync,
{
    let result = match deadline {
        None => ingest.handle(event, now).await,
        Some(d) => {
            let stop = bedrock_meter_core::time::stop_before(
                d,
                POINTER_RESERVE,
                std::time::Instant::now(),
            );
            tokio::time::timeout_at(stop.into(), ingest.handle(event, now))
                .await
                .unwrap_or(Err(IngestError::Deadline(
                    d.saturating_duration_since(stop),
                )))
        }
    };
    if let Err(e) = &result {
        let p = FailurePointer::of_event(event, &e.to_string(), now);
        tracing::error!(
            batch_id = %p.batch_id,
            log_group = %p.log_group,
            log_stream = %p.log_stream,
            first_event_id = %p.first_event_id,
            last_event_id = %p.last_event_id,
            start_ms = p.start_ms,
            end_ms = p.end_ms,
            log_events = p.log_events,
            error = %p.error,
            "batch failed; Lambda retries it (the pointer goes to the failure queue)"
        );
        let sent = match serde_json::to_string(&p) {
            Ok(body) => queue.send(&body).await,
            Err(e) => Err(AwsError::new("SendMessage", e.to_string())),
        };
        if let Err(re) = sent {
            tracing::error!(error = %re, batch_id = %p.batch_id, "could not record the failure pointer");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_meter_core::records::subscription::{encode, Base64Data, LogEvent, DATA_MESSAGE};

    #[test]
    fn a_pointer_names_the_batch_and_holds_none_of_it() {
        let data = LogsData {
            message_type: DATA_MESSAGE,
            owner: "111122223333",
            log_group: "/aws/bedrock/modelinvocations",
            log_stream: "aws/bedrock/modelinvocations",
            subscription_filters: vec!["f"],
            log_events: vec![
                LogEvent {
                    id: "100",
                    timestamp: 2_000,
                    message: r#"{"input":{"inputBodyJson":"CANARY-prompt"}}"#.into(),
                },
                LogEvent {
                    id: "101",
                    timestamp: 1_000,
                    message: "CANARY-garbage".into(),
                },
            ],
        };
        let event: SubscriptionEvent = serde_json::from_str(&encode(&data)).unwrap();
        let p = FailurePointer::of_event(&event, "metrics: boom", Timestamp(1_800_000_000));
        assert_eq!(p.log_group, "/aws/bedrock/modelinvocations");
        assert_eq!(
            (p.first_event_id.as_str(), p.last_event_id.as_str()),
            ("100", "101")
        );
        assert_eq!((p.start_ms, p.end_ms, p.log_events), (1_000, 2_000, 2));
        assert_eq!(p.batch_id, batch_id(&data));
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("CANARY"), "{json}");
        let bad = SubscriptionEvent {
            awslogs: Some(crate::AwsLogs {
                data: Base64Data::from_text(b"not base64 CANARY"),
            }),
        };
        let p = FailurePointer::of_event(&bad, "undecodable", Timestamp(0));
        assert_eq!(p.payload_bytes, "not base64 CANARY".len());
        assert!(!serde_json::to_string(&p).unwrap().contains("CANARY"));
    }
}

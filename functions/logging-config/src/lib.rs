//! CloudFormation custom resource `Custom::BedrockInvocationLogging`.
//!
//! Bedrock model-invocation logging is a per-account, per-Region singleton with no CloudFormation
//! resource of its own. This handler switches it on for the stack and gives it back on delete:
//!
//! * **Create** reads the configuration that exists now. Another configuration in force is not
//!   replaced: the Create fails and says so, unless `TakeOverExistingLogging` is `true`. Then it is the
//!   *previous* configuration, remembered in the physical resource id (the only place CloudFormation
//!   hands back on every later Update and Delete) — after checking it can be given back: a role it
//!   names must be `PreviousLoggingRoleArn` (the only role the function may pass) and must exist and
//!   trust `bedrock.amazonaws.com` ([`RoleCheck`], IAM `GetRole`). Then the stack's configuration is
//!   put (CloudWatch Logs with large-data delivery to S3, plus S3 delivery).
//! * **Update** puts the new configuration only while the one in force is the one the stack wrote (its
//!   old properties', or already the new one); a configuration someone changed since is not
//!   overwritten (FAILED with the reason) unless `TakeOverExistingLogging` is `true`. The physical id
//!   is kept (so CloudFormation never issues a Delete for the old one and the remembered previous
//!   configuration survives).
//! * **Delete** only acts when the configuration in force is still exactly the one the stack put: it
//!   then restores the remembered previous configuration, or deletes the configuration when there was
//!   none. A configuration someone changed since (or removed) is not the stack's any more: left alone.
//!   A physical id this handler did not mint (e.g. from a failed Create) is a no-op.
//!
//! Every request is answered on the pre-signed `ResponseURL` with SUCCESS or FAILED and a reason;
//! the handler never leaves CloudFormation waiting: [`run_until`] answers FAILED when the work is
//! still going [`RESPONSE_RESERVE`] before the function's deadline, and when it panics. The template
//! also sets the resource's `ServiceTimeout`.
//!
//! This crate is CloudFormation's side only. The configuration ([`LoggingConfig`], its comparison), the
//! Bedrock and IAM calls ([`LoggingApi`], [`RoleCheck`]) and their adapter (`aws::logging::BedrockLogging`)
//! are the core's, shared with the CLI's `doctor`; `main.rs` wires them.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bedrock_meter_core::ports::logging::{
    CloudWatchTarget, LoggingApi, LoggingConfig, RoleCheck, S3Target,
};
use bedrock_meter_core::time::stop_before;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Prefix of every physical resource id this handler mints.
pub const PHYSICAL_ID_PREFIX: &str = "bedrock-invocation-logging";
/// CloudFormation rejects physical resource ids longer than 1 KB.
pub const MAX_PHYSICAL_ID_LEN: usize = 1024;
/// The whole response must stay under 4 KB; a long service error message is cut to this.
pub const MAX_REASON_LEN: usize = 1000;

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

// ---------------------------------------------------------------------------------------------
// CloudFormation's request and response.

/// A custom-resource request as CloudFormation sends it (every property value arrives as a string).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnRequest {
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
    #[serde(default)]
    pub old_resource_properties: Option<Value>,
}

/// The body PUT to the pre-signed `ResponseURL`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CfnResponse {
    pub status: String,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub data: Map<String, Value>,
}

/// The configuration the stack asks for, from the resource properties:
/// `LogGroupName`, `RoleArn` (CloudWatch delivery), `BucketName`, `KeyPrefix` (S3 delivery),
/// `LargeDataBucketName` (default `BucketName`), `LargeDataKeyPrefix` (large bodies of CloudWatch
/// records), and the `TextDataDeliveryEnabled` (default true), `ImageDataDeliveryEnabled`,
/// `EmbeddingDataDeliveryEnabled`, `VideoDataDeliveryEnabled`, `AudioDataDeliveryEnabled` flags
/// (default false).
pub fn desired_config(props: &Value) -> Result<LoggingConfig, String> {
    let text = |key: &str| -> Option<String> {
        match props.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    };
    let required =
        |key: &str| text(key).ok_or_else(|| format!("resource property {key} is required"));
    let flag = |key: &str, default: bool| -> Result<bool, String> {
        match props.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                "" => Ok(default),
                other => Err(format!(
                    "resource property {key} must be true or false, not {other:?}"
                )),
            },
            Some(other) => Err(format!(
                "resource property {key} must be true or false, not {other}"
            )),
        }
    };
    let bucket = required("BucketName")?;
    Ok(LoggingConfig {
        cloudwatch: Some(CloudWatchTarget {
            log_group: required("LogGroupName")?,
            role_arn: required("RoleArn")?,
            large_data: Some(S3Target {
                bucket: text("LargeDataBucketName").unwrap_or_else(|| bucket.clone()),
                prefix: text("LargeDataKeyPrefix"),
            }),
        }),
        s3: Some(S3Target {
            bucket,
            prefix: text("KeyPrefix"),
        }),
        text: Some(flag("TextDataDeliveryEnabled", true)?),
        image: Some(flag("ImageDataDeliveryEnabled", false)?),
        embedding: Some(flag("EmbeddingDataDeliveryEnabled", false)?),
        video: Some(flag("VideoDataDeliveryEnabled", false)?),
        audio: Some(flag("AudioDataDeliveryEnabled", false)?),
    })
}

/// What a physical resource id remembers about the configuration before the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Previous {
    /// Logging was not configured.
    None,
    /// This configuration was in force.
    Config(LoggingConfig),
}

/// `bedrock-invocation-logging:<region>:none` or `bedrock-invocation-logging:<region>:prev:<base64url json>`.
pub fn encode_physical_id(region: &str, previous: &Previous) -> Result<String, String> {
    let id = match previous {
        Previous::None => format!("{PHYSICAL_ID_PREFIX}:{region}:none"),
        Previous::Config(c) => {
            let json = serde_json::to_vec(c).map_err(|e| e.to_string())?;
            format!(
                "{PHYSICAL_ID_PREFIX}:{region}:prev:{}",
                URL_SAFE_NO_PAD.encode(json)
            )
        }
    };
    if id.len() > MAX_PHYSICAL_ID_LEN {
        return Err(format!(
            "the existing invocation-logging configuration is too large ({} bytes encoded) to remember in a \
             physical resource id of at most {MAX_PHYSICAL_ID_LEN}; it was left unchanged. Manage logging \
             outside this stack (ManageInvocationLogging=false)",
            id.len()
        ));
    }
    Ok(id)
}

/// The remembered previous configuration, or `None` for an id this handler did not mint.
pub fn decode_physical_id(id: &str) -> Option<Previous> {
    let rest = id.strip_prefix(PHYSICAL_ID_PREFIX)?.strip_prefix(':')?;
    let (_region, rest) = rest.split_once(':')?;
    if rest == "none" {
        return Some(Previous::None);
    }
    let encoded = rest.strip_prefix("prev:")?;
    let json = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    serde_json::from_slice(&json).ok().map(Previous::Config)
}

/// The physical id answered when nothing was applied (a failed Create): a later Delete of it is a no-op.
pub fn inert_physical_id(request_id: &str) -> String {
    format!("{PHYSICAL_ID_PREFIX}-not-applied-{request_id}")
}

struct Outcome {
    physical_id: String,
    reason: String,
    data: Map<String, Value>,
}

/// Runs one request against Bedrock and returns the response CloudFormation must get. Never fails:
/// an error becomes a FAILED response with the reason.
pub async fn handle<A: LoggingApi + RoleCheck>(
    api: &A,
    region: &str,
    req: &CfnRequest,
) -> CfnResponse {
    let result = match req.request_type.as_str() {
        "Create" => create(api, region, req).await,
        "Update" => update(api, region, req).await,
        "Delete" => delete(api, req).await,
        other => Err(format!("unknown RequestType {other:?}")),
    };
    let (status, outcome) = match result {
        Ok(o) => ("SUCCESS", o),
        Err(reason) => return failed(req, reason),
    };
    CfnResponse {
        status: status.to_string(),
        reason: truncate(outcome.reason, MAX_REASON_LEN),
        physical_resource_id: outcome.physical_id,
        stack_id: req.stack_id.clone(),
        request_id: req.request_id.clone(),
        logical_resource_id: req.logical_resource_id.clone(),
        data: outcome.data,
    }
}

/// The FAILED answer to `req`. A failed Create answers an id that a later (rollback) Delete treats as
/// a no-op; a failed Update or Delete keeps the id CloudFormation already has.
pub fn failed(req: &CfnRequest, reason: String) -> CfnResponse {
    tracing::error!(request_type = %req.request_type, %reason, "custom resource request failed");
    let physical_id = match &req.physical_resource_id {
        Some(id) if !id.is_empty() && req.request_type != "Create" => id.clone(),
        _ => inert_physical_id(&req.request_id),
    };
    CfnResponse {
        status: "FAILED".to_string(),
        reason: truncate(reason, MAX_REASON_LEN),
        physical_resource_id: physical_id,
        stack_id: req.stack_id.clone(),
        request_id: req.request_id.clone(),
        logical_resource_id: req.logical_resource_id.clone(),
        data: Map::new(),
    }
}

fn previous_state(previous: &Previous) -> &'static str {
    match previous {
        Previous::None => "none",
        Previous::Config(_) => "saved",
    }
}

fn data(desired: &LoggingConfig, previous: &Previous) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(cw) = &desired.cloudwatch {
        m.insert("LogGroupName".into(), json!(cw.log_group));
    }
    if let Some(s3) = &desired.s3 {
        m.insert("BucketName".into(), json!(s3.bucket));
    }
    m.insert(
        "PreviousConfiguration".into(),
        json!(previous_state(previous)),
    );
    m
}

/// `TakeOverExistingLogging`: whether a configuration that is not the stack's may be replaced.
fn take_over(props: &Value) -> Result<bool, String> {
    match props.get("TakeOverExistingLogging") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            other => Err(format!(
                "resource property TakeOverExistingLogging must be true or false, not {other:?}"
            )),
        },
        Some(other) => Err(format!(
            "resource property TakeOverExistingLogging must be true or false, not {other}"
        )),
    }
}

/// Before taking a configuration over: can it be put back on delete? A role it names must be the one
/// the function may pass (`PreviousLoggingRoleArn`), exist, and trust Bedrock.
async fn check_restorable<A: RoleCheck>(
    api: &A,
    previous: &LoggingConfig,
    props: &Value,
) -> Result<(), String> {
    let Some(cw) = &previous.cloudwatch else {
        return Ok(());
    };
    let allowed = props
        .get("PreviousLoggingRoleArn")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if allowed != cw.role_arn {
        return Err(format!(
            "the configuration to take over delivers to CloudWatch Logs with the role {}; the stack could \
             not pass it back to Bedrock on delete (it may pass only PreviousLoggingRoleArn, {}). Deploy \
             with PreviousLoggingRoleArn={}",
            cw.role_arn,
            if allowed.is_empty() { "empty" } else { allowed },
            cw.role_arn
        ));
    }
    api.check_bedrock_role(&cw.role_arn)
        .await
        .map_err(|e| format!("the configuration to take over could not be restored on delete: {e}"))
}

/// Create: refuse to replace a configuration that is not the stack's unless told to take it over;
/// remember what is there now (refusing if it cannot be remembered or given back), then put ours.
async fn create<A: LoggingApi + RoleCheck>(
    api: &A,
    region: &str,
    req: &CfnRequest,
) -> Result<Outcome, String> {
    let desired = desired_config(&req.resource_properties)?;
    let takeover = take_over(&req.resource_properties)?;
    let previous = match api.get().await? {
        None => Previous::None,
        Some(c) if c.same_delivery(&desired) => Previous::Config(c),
        Some(c) if !takeover => {
            return Err(format!(
                "invocation logging is already configured in this account and Region ({}); it was left \
                 unchanged. To replace it (it is saved and restored when the stack is deleted) deploy with \
                 TakeOverExistingLogging=true; to keep it, deploy with ManageInvocationLogging=false and \
                 ExistingLogGroupName/ExistingLogBucketName naming where it writes",
                c.describe()
            ))
        }
        Some(c) => {
            check_restorable(api, &c, &req.resource_properties).await?;
            Previous::Config(c)
        }
    };
    let physical_id = encode_physical_id(region, &previous)?;
    api.put(&desired).await?;
    Ok(Outcome {
        physical_id,
        reason: format!(
            "invocation logging configured; previous configuration: {}",
            previous_state(&previous)
        ),
        data: data(&desired, &previous),
    })
}

/// Update: put the new configuration — only while the one in force is the stack's (its old
/// properties', or already the new one), unless told to take it over — and keep the physical id (and
/// with it the remembered previous configuration). An id that is not ours (nothing was ever applied) is
/// handled as a Create; the new id makes CloudFormation send a Delete for the old one, a no-op.
async fn update<A: LoggingApi + RoleCheck>(
    api: &A,
    region: &str,
    req: &CfnRequest,
) -> Result<Outcome, String> {
    let id = req.physical_resource_id.clone().unwrap_or_default();
    let Some(previous) = decode_physical_id(&id) else {
        return create(api, region, req).await;
    };
    let desired = desired_config(&req.resource_properties)?;
    let takeover = take_over(&req.resource_properties)?;
    let old = req
        .old_resource_properties
        .as_ref()
        .and_then(|p| desired_config(p).ok());
    let current = api.get().await?;
    let ours = current.as_ref().is_some_and(|c| {
        c.same_delivery(&desired) || old.as_ref().is_some_and(|o| c.same_delivery(o))
    });
    if !ours && !takeover {
        return Err(format!(
            "the invocation-logging configuration in force is not the one the stack wrote ({}); it was \
             not overwritten. Put the stack's back, or deploy with TakeOverExistingLogging=true to replace it",
            current
                .as_ref()
                .map_or_else(|| "logging is off".to_string(), LoggingConfig::describe)
        ));
    }
    api.put(&desired).await?;
    Ok(Outcome {
        physical_id: id,
        reason: "invocation logging configuration updated".to_string(),
        data: data(&desired, &previous),
    })
}

/// Delete: give back what was there, but only while the configuration in force is still the stack's.
async fn delete<A: LoggingApi>(api: &A, req: &CfnRequest) -> Result<Outcome, String> {
    let id = req.physical_resource_id.clone().unwrap_or_default();
    let done = |reason: &str| Outcome {
        physical_id: id.clone(),
        reason: reason.to_string(),
        data: Map::new(),
    };
    let Some(previous) = decode_physical_id(&id) else {
        return Ok(done(
            "nothing to undo: this resource never applied a configuration",
        ));
    };
    let ours = match desired_config(&req.resource_properties) {
        Ok(c) => c,
        Err(e) => {
            return Ok(done(&format!(
                "configuration left unchanged: cannot tell what the stack put ({e})"
            )))
        }
    };
    match api.get().await? {
        None => Ok(done("configuration left unchanged: logging had already been switched off by someone else")),
        Some(current) if !current.same_delivery(&ours) => Ok(done(
            "configuration left unchanged: it was changed after the stack applied it, so it is no longer the stack's",
        )),
        Some(_) => match previous {
            Previous::None => {
                api.delete().await?;
                Ok(done("invocation logging switched off (it was not configured before the stack)"))
            }
            Previous::Config(prev) => {
                api.put(&prev).await?;
                Ok(done("previous invocation logging configuration restored"))
            }
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Answering CloudFormation.

/// Time kept back from the function's deadline to answer CloudFormation (the PUT and its retries):
/// the work stops this long before the deadline (at most a quarter of the time left, see
/// [`stop_before`]), and the PUT with every retry never runs longer than this.
pub const RESPONSE_RESERVE: Duration = Duration::from_secs(30);
/// Longest wait for one PUT attempt (connect, send, the whole answer).
pub const PUT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most PUT attempts (the first and its retries, 0.5 s, 1 s, 2 s apart).
pub const PUT_ATTEMPTS: u32 = 4;
/// Kept after the last PUT attempt for the function to return (at most a quarter of what is left).
const RETURN_MARGIN: Duration = Duration::from_millis(500);

/// When the response PUT and all its retries must be over, starting at `now`: within
/// [`RESPONSE_RESERVE`], and before the function's `deadline` less a short margin to return.
pub fn put_stop(deadline: Option<Instant>, now: Instant) -> Instant {
    let within_reserve = now + RESPONSE_RESERVE;
    match deadline {
        None => within_reserve,
        Some(d) => {
            let left = d.saturating_duration_since(now);
            within_reserve.min(d - RETURN_MARGIN.min(left / 4))
        }
    }
}

/// PUTs the response to the pre-signed URL (https, or http for a local test server), finishing by
/// `stop` ([`put_stop`]): each attempt is cut at [`PUT_ATTEMPT_TIMEOUT`] or at `stop`, and it retries
/// (up to [`PUT_ATTEMPTS`], with back-off) on transport errors, timeouts and 5xx only while the pause
/// still ends before `stop`. The pre-signed URL was signed without a content type, so none is sent.
pub async fn send_response(url: &str, response: &CfnResponse, stop: Instant) -> Result<(), String> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let body = serde_json::to_vec(response).map_err(|e| e.to_string())?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| format!("TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<hyper::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build(https);

    let mut last = String::from("no time left to answer");
    let mut attempt = 0u32;
    loop {
        let now = Instant::now();
        if now >= stop {
            break;
        }
        let req = hyper::Request::builder()
            .method(hyper::Method::PUT)
            .uri(url)
            .header(hyper::header::CONTENT_TYPE, "")
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .body(Full::new(hyper::body::Bytes::from(body.clone())))
            .map_err(|e| format!("bad ResponseURL: {e}"))?;
        // The whole exchange (the answer's body included) is under the attempt's timeout.
        let exchange = async {
            let resp = client
                .request(req)
                .await
                .map_err(|e| format!("PUT failed: {e}"))?;
            let status = resp.status();
            let text = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, text))
        };
        let attempt_stop = (now + PUT_ATTEMPT_TIMEOUT).min(stop);
        match tokio::time::timeout_at(attempt_stop.into(), exchange).await {
            Ok(Ok((status, text))) => {
                if status.is_success() {
                    return Ok(());
                }
                last = format!("HTTP {status}: {}", String::from_utf8_lossy(&text));
                if status.is_client_error() {
                    break;
                }
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = "PUT timed out".to_string(),
        }
        attempt += 1;
        tracing::warn!(attempt, error = %last, "response PUT to CloudFormation failed");
        if attempt >= PUT_ATTEMPTS {
            break;
        }
        let pause = Duration::from_millis(500 * 2u64.pow(attempt - 1));
        if Instant::now() + pause >= stop {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    Err(format!(
        "could not answer CloudFormation: {last} ({attempt} attempts)"
    ))
}

/// A future that turns a panic while polling into an `Err` (so the request is still answered).
struct CatchPanic<F>(std::pin::Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(p) => std::task::Poll::Ready(Err(p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string()))),
        }
    }
}

/// One custom-resource invocation: handle it, then answer CloudFormation. Returns the response sent.
pub async fn run<A: LoggingApi + RoleCheck>(
    api: &A,
    region: &str,
    event: Value,
) -> Result<CfnResponse, String> {
    run_until(api, region, event, None).await
}

/// [`run`] within the function's `deadline`: work still going [`RESPONSE_RESERVE`] before it, or a
/// panic, is answered FAILED with the reason instead of leaving CloudFormation waiting; the answer's
/// PUT and its retries end inside the reserve, before the deadline ([`put_stop`]).
pub async fn run_until<A: LoggingApi + RoleCheck>(
    api: &A,
    region: &str,
    event: Value,
    deadline: Option<Instant>,
) -> Result<CfnResponse, String> {
    let req: CfnRequest =
        serde_json::from_value(event).map_err(|e| format!("not a custom resource request: {e}"))?;
    let work = CatchPanic(Box::pin(handle(api, region, &req)));
    let answered = match deadline {
        None => Ok(work.await),
        Some(d) => {
            let stop = stop_before(d, RESPONSE_RESERVE, Instant::now());
            tokio::time::timeout_at(stop.into(), work).await
        }
    };
    let mut response = match answered {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => failed(&req, format!("the handler failed unexpectedly (panic: {panic})")),
        Err(_) => failed(
            &req,
            "the Bedrock calls did not finish before the function's deadline; the configuration may or \
             may not have been changed — check it before retrying"
                .to_string(),
        ),
    };
    if let Ok(stream) = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME") {
        response.reason = format!("{} (log stream {stream})", response.reason);
    }
    tracing::info!(status = %response.status, physical_id = %response.physical_resource_id, reason = %response.reason, "answering CloudFormation");
    let stop = put_stop(deadline, Instant::now());
    send_response(&req.response_url, &response, stop).await?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoggingConfig {
        desired_config(&json!({
            "LogGroupName": "/aws/bedrock/modelinvocations",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "BucketName": "logs",
            "KeyPrefix": "bedrock-logs",
            "LargeDataKeyPrefix": "bedrock-logs/large-data",
        }))
        .unwrap()
    }

    #[test]
    fn properties_give_cloudwatch_and_s3_delivery_with_text_only() {
        let c = config();
        let cw = c.cloudwatch.as_ref().unwrap();
        assert_eq!(cw.log_group, "/aws/bedrock/modelinvocations");
        assert_eq!(
            cw.large_data.as_ref().unwrap().bucket,
            "logs",
            "large data defaults to the log bucket"
        );
        assert_eq!(
            c.s3.as_ref().unwrap().prefix.as_deref(),
            Some("bedrock-logs")
        );
        assert_eq!(
            (c.text, c.image, c.embedding),
            (Some(true), Some(false), Some(false))
        );
        let err = desired_config(&json!({"LogGroupName": "g", "RoleArn": "r"})).unwrap_err();
        assert!(err.contains("BucketName"), "{err}");
    }

    #[test]
    fn physical_id_round_trips_the_previous_configuration() {
        let prev = Previous::Config(config());
        let id = encode_physical_id("eu-west-1", &prev).unwrap();
        assert!(id.starts_with("bedrock-invocation-logging:eu-west-1:prev:"));
        assert!(id.chars().all(|c| c.is_ascii_graphic()), "{id}");
        assert_eq!(decode_physical_id(&id), Some(prev));
        let none = encode_physical_id("eu-west-1", &Previous::None).unwrap();
        assert_eq!(decode_physical_id(&none), Some(Previous::None));
        assert_eq!(decode_physical_id(&inert_physical_id("abc")), None);
        assert_eq!(
            decode_physical_id("bedrock-invocation-logging:eu-west-1:prev:!!"),
            None
        );
    }

    #[test]
    fn a_previous_configuration_too_large_for_the_physical_id_is_refused() {
        let mut big = config();
        big.cloudwatch.as_mut().unwrap().log_group = "g".repeat(800);
        let err = encode_physical_id("us-east-1", &Previous::Config(big)).unwrap_err();
        assert!(err.contains("left unchanged"), "{err}");
    }

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("é".repeat(600), 5), "éé...");
        assert_eq!(truncate("short".into(), 10), "short");
    }

    #[test]
    fn the_response_put_ends_inside_the_reserve_and_before_the_deadline() {
        let now = Instant::now();
        assert_eq!(put_stop(None, now), now + RESPONSE_RESERVE);
        // A long way off: the reserve bounds it.
        let far = now + Duration::from_secs(900);
        assert_eq!(put_stop(Some(far), now), now + RESPONSE_RESERVE);
        // The work was cut at stop_before (30 s left): the PUT ends half a second before the deadline.
        let d = now + RESPONSE_RESERVE;
        assert_eq!(put_stop(Some(d), now), d - Duration::from_millis(500));
        // Little left: a quarter of it is kept to return; none left: stop at once.
        let d = now + Duration::from_secs(1);
        assert_eq!(put_stop(Some(d), now), d - Duration::from_millis(250));
        assert!(put_stop(Some(now), now) <= now);
        assert!(PUT_ATTEMPT_TIMEOUT < RESPONSE_RESERVE);
    }
}

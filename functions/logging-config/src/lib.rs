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

use std::future::Future;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
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
// The logging configuration, in a form we can compare and remember.

/// An S3 destination (`s3Config`, `largeDataDeliveryS3Config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Target {
    #[serde(rename = "b")]
    pub bucket: String,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// The CloudWatch Logs destination (`cloudWatchConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudWatchTarget {
    #[serde(rename = "g")]
    pub log_group: String,
    #[serde(rename = "r")]
    pub role_arn: String,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub large_data: Option<S3Target>,
}

/// Bedrock's `LoggingConfig`, every field kept as it came (so a restore puts back exactly what was
/// there). Serialised with short keys because it travels inside the 1 KB physical resource id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggingConfig {
    #[serde(rename = "cw", default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<CloudWatchTarget>,
    #[serde(rename = "s3", default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Target>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub text: Option<bool>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub image: Option<bool>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<bool>,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub video: Option<bool>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<bool>,
}

impl LoggingConfig {
    /// Whether two configurations deliver the same thing to the same places. An absent flag is
    /// `false` and an absent or empty key prefix is no prefix, as Bedrock treats them.
    pub fn same_delivery(&self, other: &LoggingConfig) -> bool {
        type S3Key<'a> = Option<(&'a str, &'a str)>;
        fn s3(t: &Option<S3Target>) -> S3Key<'_> {
            t.as_ref()
                .map(|t| (t.bucket.as_str(), t.prefix.as_deref().unwrap_or("")))
        }
        fn cw(c: &Option<CloudWatchTarget>) -> Option<(&str, &str, S3Key<'_>)> {
            c.as_ref()
                .map(|c| (c.log_group.as_str(), c.role_arn.as_str(), s3(&c.large_data)))
        }
        let flags = |c: &LoggingConfig| {
            [c.text, c.image, c.embedding, c.video, c.audio].map(|f| f.unwrap_or(false))
        };
        cw(&self.cloudwatch) == cw(&other.cloudwatch)
            && s3(&self.s3) == s3(&other.s3)
            && flags(self) == flags(other)
    }
}

// ---------------------------------------------------------------------------------------------
// The Bedrock calls, behind a trait so the handler can be driven against an emulator or a fake.

/// The three Bedrock control-plane calls the handler needs.
pub trait LoggingApi {
    /// The configuration in force, or `None` when logging is not configured.
    fn get(&self) -> impl Future<Output = Result<Option<LoggingConfig>, String>> + Send;
    fn put(&self, config: &LoggingConfig) -> impl Future<Output = Result<(), String>> + Send;
    fn delete(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Whether a role can be handed back to Bedrock: it exists and its trust policy lets
/// `bedrock.amazonaws.com` assume it. (`iam:PassRole` itself cannot be tried without passing the role;
/// the template allows the function to pass only `PreviousLoggingRoleArn`, which the handler checks.)
pub trait RoleCheck {
    /// `Ok(())` when the role exists and trusts Bedrock; else the reason.
    fn check_bedrock_role(&self, role_arn: &str)
        -> impl Future<Output = Result<(), String>> + Send;
}

/// The real implementation, with `aws-sdk-bedrock` (and `aws-sdk-iam` for [`RoleCheck`]).
#[derive(Clone, Debug)]
pub struct BedrockLogging {
    client: aws_sdk_bedrock::Client,
    iam: aws_sdk_iam::Client,
}

impl BedrockLogging {
    pub fn new(client: aws_sdk_bedrock::Client, iam: aws_sdk_iam::Client) -> Self {
        Self { client, iam }
    }

    pub fn from_conf(conf: &aws_config::SdkConfig) -> Self {
        Self::new(
            aws_sdk_bedrock::Client::new(conf),
            aws_sdk_iam::Client::new(conf),
        )
    }
}

/// Whether a trust policy document (JSON, possibly URL-encoded as IAM returns it) allows
/// `bedrock.amazonaws.com` to `sts:AssumeRole`.
pub fn trusts_bedrock(document: &str) -> bool {
    let decoded = percent_decode(document);
    let Ok(doc) = serde_json::from_str::<Value>(&decoded) else {
        return false;
    };
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        }
    };
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => vec![],
    };
    statements.iter().any(|st| {
        st["Effect"] == "Allow"
            && list(&st["Action"])
                .iter()
                .any(|a| a == "sts:AssumeRole" || a == "sts:*" || a == "*")
            && list(&st["Principal"]["Service"])
                .iter()
                .any(|p| p == "bedrock.amazonaws.com")
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RoleCheck for BedrockLogging {
    async fn check_bedrock_role(&self, role_arn: &str) -> Result<(), String> {
        let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
        let out = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_iam::error::ProvideErrorMetadata;
                format!(
                    "role {role_arn} cannot be read (iam:GetRole): {}",
                    e.code().unwrap_or("error")
                )
            })?;
        let role = out
            .role()
            .ok_or_else(|| format!("role {role_arn} not found"))?;
        if role.arn() != role_arn {
            return Err(format!("role {role_arn} not found (found {})", role.arn()));
        }
        match role.assume_role_policy_document() {
            Some(doc) if trusts_bedrock(doc) => Ok(()),
            _ => Err(format!(
                "role {role_arn} does not trust bedrock.amazonaws.com, so Bedrock could not use it again"
            )),
        }
    }
}

fn sdk_error<E>(op: &str, err: aws_sdk_bedrock::error::SdkError<E>) -> String
where
    E: std::error::Error + aws_sdk_bedrock::error::ProvideErrorMetadata + 'static,
{
    use aws_sdk_bedrock::error::ProvideErrorMetadata;
    match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{op}: {code}: {msg}"),
        (Some(code), None) => format!("{op}: {code}"),
        _ => format!(
            "{op}: {}",
            aws_sdk_bedrock::error::DisplayErrorContext(&err)
        ),
    }
}

fn to_sdk_s3(t: &S3Target) -> Result<aws_sdk_bedrock::types::S3Config, String> {
    aws_sdk_bedrock::types::S3Config::builder()
        .bucket_name(&t.bucket)
        .set_key_prefix(t.prefix.clone())
        .build()
        .map_err(|e| e.to_string())
}

fn from_sdk_s3(c: &aws_sdk_bedrock::types::S3Config) -> S3Target {
    S3Target {
        bucket: c.bucket_name().to_string(),
        prefix: c.key_prefix().map(str::to_string),
    }
}

impl LoggingApi for BedrockLogging {
    async fn get(&self) -> Result<Option<LoggingConfig>, String> {
        let out = self
            .client
            .get_model_invocation_logging_configuration()
            .send()
            .await
            .map_err(|e| sdk_error("GetModelInvocationLoggingConfiguration", e))?;
        // Bedrock answers an empty object when logging is not configured (and after a delete).
        let configured = out
            .logging_config()
            .filter(|c| c.cloud_watch_config().is_some() || c.s3_config().is_some());
        Ok(configured.map(|c| LoggingConfig {
            cloudwatch: c.cloud_watch_config().map(|cw| CloudWatchTarget {
                log_group: cw.log_group_name().to_string(),
                role_arn: cw.role_arn().to_string(),
                large_data: cw.large_data_delivery_s3_config().map(from_sdk_s3),
            }),
            s3: c.s3_config().map(from_sdk_s3),
            text: c.text_data_delivery_enabled(),
            image: c.image_data_delivery_enabled(),
            embedding: c.embedding_data_delivery_enabled(),
            video: c.video_data_delivery_enabled(),
            audio: c.audio_data_delivery_enabled(),
        }))
    }

    async fn put(&self, config: &LoggingConfig) -> Result<(), String> {
        let cloudwatch = match &config.cloudwatch {
            Some(cw) => Some(
                aws_sdk_bedrock::types::CloudWatchConfig::builder()
                    .log_group_name(&cw.log_group)
                    .role_arn(&cw.role_arn)
                    .set_large_data_delivery_s3_config(
                        cw.large_data.as_ref().map(to_sdk_s3).transpose()?,
                    )
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let logging = aws_sdk_bedrock::types::LoggingConfig::builder()
            .set_cloud_watch_config(cloudwatch)
            .set_s3_config(config.s3.as_ref().map(to_sdk_s3).transpose()?)
            .set_text_data_delivery_enabled(config.text)
            .set_image_data_delivery_enabled(config.image)
            .set_embedding_data_delivery_enabled(config.embedding)
            .set_video_data_delivery_enabled(config.video)
            .set_audio_data_delivery_enabled(config.audio)
            .build();
        self.client
            .put_model_invocation_logging_configuration()
            .logging_config(logging)
            .send()
            .await
            .map_err(|e| sdk_error("PutModelInvocationLoggingConfiguration", e))?;
        Ok(())
    }

    async fn delete(&self) -> Result<(), String> {
        self.client
            .delete_model_invocation_logging_configuration()
            .send()
            .await
            .map_err(|e| sdk_error("DeleteModelInvocationLoggingConfiguration", e))?;
        Ok(())
    }
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

/// One line naming where a configuration delivers.
fn describe(c: &LoggingConfig) -> String {
    let cw = c.cloudwatch.as_ref().map_or_else(
        || "off".to_string(),
        |cw| format!("{} (role {})", cw.log_group, cw.role_arn),
    );
    let s3 = c.s3.as_ref().map_or_else(
        || "off".to_string(),
        |t| format!("s3://{}/{}", t.bucket, t.prefix.as_deref().unwrap_or("")),
    );
    format!("CloudWatch Logs {cw}, S3 {s3}")
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
                describe(&c)
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
                .map_or_else(|| "logging is off".to_string(), describe)
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

/// PUTs the response to the pre-signed URL (https, or http for a local test server). Retries a few
/// times on transport errors and 5xx; the pre-signed URL was signed without a content type, so none
/// is sent.
pub async fn send_response(url: &str, response: &CfnResponse) -> Result<(), String> {
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

    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1))).await;
        }
        let req = hyper::Request::builder()
            .method(hyper::Method::PUT)
            .uri(url)
            .header(hyper::header::CONTENT_TYPE, "")
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .body(Full::new(hyper::body::Bytes::from(body.clone())))
            .map_err(|e| format!("bad ResponseURL: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(20), client.request(req)).await {
            Ok(Ok(resp)) => {
                let status = resp.status();
                let text = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if status.is_success() {
                    return Ok(());
                }
                last = format!("HTTP {status}: {}", String::from_utf8_lossy(&text));
                if status.is_client_error() {
                    break;
                }
            }
            Ok(Err(e)) => last = format!("PUT failed: {e}"),
            Err(_) => last = "PUT timed out".to_string(),
        }
        tracing::warn!(attempt, error = %last, "response PUT to CloudFormation failed");
    }
    Err(format!("could not answer CloudFormation: {last}"))
}

/// Time kept back from the function's deadline to answer CloudFormation (the PUT and its retries).
pub const RESPONSE_RESERVE: Duration = Duration::from_secs(30);

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
/// panic, is answered FAILED with the reason instead of leaving CloudFormation waiting.
pub async fn run_until<A: LoggingApi + RoleCheck>(
    api: &A,
    region: &str,
    event: Value,
    deadline: Option<std::time::Instant>,
) -> Result<CfnResponse, String> {
    let req: CfnRequest =
        serde_json::from_value(event).map_err(|e| format!("not a custom resource request: {e}"))?;
    let work = CatchPanic(Box::pin(handle(api, region, &req)));
    let answered = match deadline {
        None => Ok(work.await),
        Some(d) => {
            // The reserve is at most a quarter of the time left (the core's `time::stop_before`;
            // this crate does not link the core).
            let left = d.saturating_duration_since(std::time::Instant::now());
            let stop = d - RESPONSE_RESERVE.min(left / 4);
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
    send_response(&req.response_url, &response).await?;
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
    fn trust_policies_that_let_bedrock_assume_the_role() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(trusts_bedrock(ok));
        let encoded = ok
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace(':', "%3A");
        assert!(trusts_bedrock(&encoded), "IAM returns it URL-encoded");
        let listed = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","bedrock.amazonaws.com"]},"Action":["sts:AssumeRole"]}}"#;
        assert!(trusts_bedrock(listed));
        let other = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(!trusts_bedrock(other));
        let denied = ok.replace("Allow", "Deny");
        assert!(!trusts_bedrock(&denied));
        assert!(!trusts_bedrock("not json"));
    }

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("é".repeat(600), 5), "éé...");
        assert_eq!(truncate("short".into(), 10), "short");
    }

    #[test]
    fn same_delivery_ignores_absent_versus_default_values() {
        let a = config();
        let mut b = a.clone();
        b.video = None;
        b.audio = None;
        assert!(a.same_delivery(&b));
        b.s3.as_mut().unwrap().prefix = Some("other".into());
        assert!(!a.same_delivery(&b));
        let mut c = a.clone();
        c.image = Some(true);
        assert!(!a.same_delivery(&c));
        let mut d = a.clone();
        d.s3.as_mut().unwrap().prefix = None;
        let mut e = a.clone();
        e.s3.as_mut().unwrap().prefix = Some(String::new());
        assert!(d.same_delivery(&e));
    }
}

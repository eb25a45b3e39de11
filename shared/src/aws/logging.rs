//! [`BedrockLogging`] implements the invocation-logging ports [`LoggingApi`] (aws-sdk-bedrock
//! `Get`/`Put`/`DeleteModelInvocationLoggingConfiguration`) and [`RoleCheck`] (aws-sdk-iam `GetRole`):
//! the custom resource in `functions/logging-config` puts and restores the configuration through it,
//! and the CLI's `doctor` and `smoke` read it. A role is checked by its trust policy as `GetRole` returns
//! it (URL-encoded JSON).

use serde_json::Value;

use crate::ports::encoding::decode_policy_document;
use crate::ports::logging::{CloudWatchTarget, LoggingApi, LoggingConfig, RoleCheck, S3Target};

#[derive(Clone, Debug)]
pub struct BedrockLogging {
    client: aws_sdk_bedrock::Client,
    iam: aws_sdk_iam::Client,
}

impl BedrockLogging {
    fn new(client: aws_sdk_bedrock::Client, iam: aws_sdk_iam::Client) -> Self {
        Self { client, iam }
    }

    pub fn from_conf(conf: &aws_config::SdkConfig) -> Self {
        Self::new(
            aws_sdk_bedrock::Client::new(conf),
            aws_sdk_iam::Client::new(conf),
        )
    }
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

/// Whether a trust policy document (JSON, possibly URL-encoded as IAM returns it) allows
/// `bedrock.amazonaws.com` to `sts:AssumeRole`.
fn trusts_bedrock(document: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(&decode_policy_document(document)) else {
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

/// `Operation: Code: message`, or the SDK's context when the service sent no code.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The invocation-logging port: Bedrock's model-invocation logging configuration, read once for every
//! consumer — the custom resource that switches it on (`functions/logging-config`) and the CLI's
//! `doctor` and `smoke`, which check it. [`LoggingConfig`] keeps every field as Bedrock returned it (so a
//! restore puts back exactly what was there); [`LoggingConfig::log_group`] and the other views say
//! where it delivers, as Bedrock treats it. [`LoggingApi`] gets, puts and deletes it; [`RoleCheck`]
//! checks a role can be handed back to Bedrock. Adapter: `aws::logging`.

use std::future::Future;

use serde::{Deserialize, Serialize};

/// An S3 destination (`s3Config`, `largeDataDeliveryS3Config`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Target {
    #[serde(rename = "b")]
    pub bucket: String,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl S3Target {
    /// The key prefix, when there is one (an empty prefix is none).
    pub fn key_prefix(&self) -> Option<&str> {
        self.prefix.as_deref().filter(|p| !p.is_empty())
    }
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

/// Bedrock's `LoggingConfig`, every field kept as it came. Serialised with short keys because the
/// custom resource remembers it inside its 1 KB physical resource id.
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

    /// One line naming where it delivers, with the CloudWatch role.
    pub fn describe(&self) -> String {
        let cw = self.cloudwatch.as_ref().map_or_else(
            || "off".to_string(),
            |cw| format!("{} (role {})", cw.log_group, cw.role_arn),
        );
        let s3 = self.s3.as_ref().map_or_else(
            || "off".to_string(),
            |t| format!("s3://{}/{}", t.bucket, t.prefix.as_deref().unwrap_or("")),
        );
        format!("CloudWatch Logs {cw}, S3 {s3}")
    }

    /// The log group records are delivered to (CloudWatch Logs delivery with a group named).
    pub fn log_group(&self) -> Option<&str> {
        self.cloudwatch
            .as_ref()
            .map(|c| c.log_group.as_str())
            .filter(|g| !g.is_empty())
    }

    /// S3 delivery, when a bucket is named.
    pub fn s3_delivery(&self) -> Option<&S3Target> {
        self.s3.as_ref().filter(|t| !t.bucket.is_empty())
    }

    /// Where the large bodies of CloudWatch-delivered records go (only with CloudWatch delivery).
    pub fn large_data_delivery(&self) -> Option<&S3Target> {
        self.log_group()?;
        self.cloudwatch
            .as_ref()?
            .large_data
            .as_ref()
            .filter(|t| !t.bucket.is_empty())
    }

    /// Whether prompts and responses are delivered (absent is off).
    pub fn text_delivery(&self) -> bool {
        self.text.unwrap_or(false)
    }

    /// Whether it delivers anywhere: a configuration without a log group or a bucket logs nothing.
    pub fn delivers(&self) -> bool {
        self.log_group().is_some() || self.s3_delivery().is_some()
    }
}

/// Bedrock's three control-plane calls on the configuration. Errors are one line for people
/// (operation, the service's code and message).
pub trait LoggingApi {
    /// The configuration in force, or `None` when logging is not configured.
    fn get(&self) -> impl Future<Output = Result<Option<LoggingConfig>, String>> + Send;
    fn put(&self, config: &LoggingConfig) -> impl Future<Output = Result<(), String>> + Send;
    fn delete(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Whether a role can be handed back to Bedrock: it exists and its trust policy lets
/// `bedrock.amazonaws.com` assume it. (`iam:PassRole` itself cannot be tried without passing the role;
/// the template allows the custom resource to pass only `PreviousLoggingRoleArn`, which it checks.)
pub trait RoleCheck {
    /// `Ok(())` when the role exists and trusts Bedrock; else the reason.
    fn check_bedrock_role(&self, role_arn: &str)
        -> impl Future<Output = Result<(), String>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoggingConfig {
        let target = |prefix: &str| S3Target {
            bucket: "logs".into(),
            prefix: Some(prefix.into()),
        };
        LoggingConfig {
            cloudwatch: Some(CloudWatchTarget {
                log_group: "/aws/bedrock/modelinvocations".into(),
                role_arn: "arn:aws:iam::123456789012:role/r".into(),
                large_data: Some(target("bedrock-logs/large-data")),
            }),
            s3: Some(target("bedrock-logs")),
            text: Some(true),
            image: Some(false),
            embedding: Some(false),
            video: Some(false),
            audio: Some(false),
        }
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

    #[test]
    fn empty_names_deliver_nowhere() {
        let c = config();
        assert_eq!(c.log_group(), Some("/aws/bedrock/modelinvocations"));
        assert_eq!(
            c.s3_delivery().and_then(S3Target::key_prefix),
            Some("bedrock-logs")
        );
        assert!(c.large_data_delivery().is_some() && c.text_delivery() && c.delivers());
        assert_eq!(
            c.describe(),
            "CloudWatch Logs /aws/bedrock/modelinvocations (role arn:aws:iam::123456789012:role/r), \
             S3 s3://logs/bedrock-logs"
        );
        let mut empty = c.clone();
        empty.cloudwatch.as_mut().unwrap().log_group = String::new();
        empty.s3.as_mut().unwrap().bucket = String::new();
        empty.text = None;
        assert_eq!(
            (
                empty.log_group(),
                empty.s3_delivery(),
                empty.large_data_delivery()
            ),
            (None, None, None),
            "no group: large data is not delivered either"
        );
        assert!(!empty.delivers() && !empty.text_delivery());
        let mut bare = c;
        bare.s3.as_mut().unwrap().prefix = Some(String::new());
        assert_eq!(bare.s3_delivery().unwrap().key_prefix(), None);
    }
}

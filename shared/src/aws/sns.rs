//! Notifications (alerts and daily emails) behind [`Notifier`]; [`SnsNotifier`] publishes with
//! aws-sdk-sns, with string message attributes so subscribers can filter (e.g. on `team`).

use std::future::Future;

use aws_sdk_sns::types::MessageAttributeValue;

use super::AwsError;

/// SNS limits: subject under 100 characters, message at most 256 KiB (262,144 bytes) including
/// attributes.
pub const MAX_SUBJECT_CHARS: usize = 99;
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// One message to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub body: String,
    /// String message attributes (name, value).
    pub attributes: Vec<(String, String)>,
}

pub trait Notifier {
    /// Publishes to the topic; returns the message id.
    fn publish(
        &self,
        topic_arn: &str,
        n: &Notification,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
}

#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
}

impl SnsNotifier {
    pub fn new(config: &aws_config::SdkConfig) -> SnsNotifier {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(config),
        }
    }
}

/// Cuts a subject to SNS's limit (on a character boundary, with an ellipsis) and removes line breaks,
/// which SNS rejects.
pub fn fit_subject(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= MAX_SUBJECT_CHARS {
        return clean;
    }
    let mut out: String = clean.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    out.push('…');
    out
}

impl Notifier for SnsNotifier {
    async fn publish(&self, topic_arn: &str, n: &Notification) -> Result<String, AwsError> {
        let mut req = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(fit_subject(&n.subject))
            .message(&n.body);
        for (k, v) in &n.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| AwsError::new("Publish", e.to_string()))?;
            req = req.message_attributes(k, value);
        }
        let out = req
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Publish", e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fit() {
        assert_eq!(fit_subject("Bedrock runaway: a\nb"), "Bedrock runaway: a b");
        let long = "é".repeat(150);
        let s = fit_subject(&long);
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS);
        assert!(s.ends_with('…'));
    }
}

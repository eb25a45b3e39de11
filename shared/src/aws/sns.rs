//! [`SnsNotifier`] implements the core's [`Notifier`] port with aws-sdk-sns `Publish`: the subject
//! fitted to SNS's rules ([`fit_subject`]), string message attributes so subscribers can filter (e.g.
//! on `team`), and optionally the chat integrations' JSON message structure.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::ports::notify::{attribute_value, fit_subject, message_as_sent, Notification, Notifier};
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    /// Publish with `MessageStructure=json`: plain text for email, the chat integration's custom
    /// notification for HTTPS subscriptions ([`crate::live::chat`]).
    chat: bool,
}

impl SnsNotifier {
    pub fn new(config: &aws_config::SdkConfig) -> SnsNotifier {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(config),
            chat: false,
        }
    }

    /// Chat delivery on or off (`CHAT_FORMAT`, set by the template when a Slack or Teams channel is
    /// configured).
    pub fn with_chat_format(mut self, on: bool) -> SnsNotifier {
        self.chat = on;
        self
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, topic_arn: &str, n: &Notification) -> Result<String, AwsError> {
        let mut req = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(fit_subject(&n.subject));
        // The body as it fits SNS's limit with the attributes (in chat mode it goes out twice).
        req = req.message(message_as_sent(n, self.chat));
        if self.chat {
            req = req.message_structure("json");
        }
        for (k, v) in &n.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(attribute_value(v))
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
    fn attribute_values_are_never_empty() {
        assert_eq!(attribute_value(""), "none");
        assert_eq!(attribute_value("platform"), "platform");
    }
}

//! [`SnsNotifier`] implements the core's [`Notifier`] port with aws-sdk-sns `Publish`: the subject
//! fitted to SNS's rules ([`fit_subject`]), string message attributes so subscribers can filter (e.g.
//! on `team`), and optionally the chat integrations' JSON message structure. A topic in another Region
//! (the organisation's alerts topic in the home Region) is published to through a client of that
//! Region: SNS takes a Publish only at the topic's own regional endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sns::types::MessageAttributeValue;

use crate::ports::notify::{attribute_value, fit_subject, message_as_sent, Notification, Notifier};
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    /// For clients of other Regions, made on first use and kept.
    config: aws_config::SdkConfig,
    other_regions: Arc<Mutex<HashMap<String, aws_sdk_sns::Client>>>,
    /// Publish with `MessageStructure=json`: plain text for email, the chat integration's custom
    /// notification for HTTPS subscriptions ([`crate::live::chat`]).
    chat: bool,
}

impl SnsNotifier {
    pub fn new(config: &aws_config::SdkConfig) -> SnsNotifier {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(config),
            config: config.clone(),
            other_regions: Default::default(),
            chat: false,
        }
    }

    /// The client for a topic: this Region's, or one made for the topic ARN's Region.
    fn client_for(&self, topic_arn: &str) -> aws_sdk_sns::Client {
        let own = self.config.region().map(|r| r.as_ref().to_string());
        match topic_region(topic_arn) {
            Some(r) if Some(r) != own.as_deref() => {
                let mut others = self.other_regions.lock().unwrap_or_else(|p| p.into_inner());
                others
                    .entry(r.to_string())
                    .or_insert_with(|| {
                        let conf = aws_sdk_sns::config::Builder::from(&self.config)
                            .region(aws_sdk_sns::config::Region::new(r.to_string()))
                            .build();
                        aws_sdk_sns::Client::from_conf(conf)
                    })
                    .clone()
            }
            _ => self.client.clone(),
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
            .client_for(topic_arn)
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

/// The Region of a topic ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`), if it has one.
pub fn topic_region(topic_arn: &str) -> Option<&str> {
    let mut parts = topic_arn.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.nth(2))
        .flatten()
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_of_a_topic() {
        assert_eq!(
            topic_region("arn:aws:sns:eu-west-1:111111111111:org-alerts"),
            Some("eu-west-1")
        );
        assert_eq!(topic_region("arn:aws:sns::111111111111:x"), None);
        assert_eq!(topic_region("org-alerts"), None);
    }

    #[test]
    fn attribute_values_are_never_empty() {
        assert_eq!(attribute_value(""), "none");
        assert_eq!(attribute_value("platform"), "platform");
    }
}

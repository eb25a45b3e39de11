//! [`SqsQueue`] implements the core's [`MessageQueue`] port with aws-sdk-sqs `SendMessage`.

use crate::ports::queue::MessageQueue;
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client: aws_sdk_sqs::Client::new(config),
            queue_url: queue_url.into(),
        }
    }
}

impl MessageQueue for SqsQueue {
    async fn send(&self, body: &str) -> Result<(), AwsError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("SendMessage", e))?;
        Ok(())
    }
}

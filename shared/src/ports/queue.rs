//! The queue port: [`MessageQueue`] sends one message to a queue (SQS in `aws::sqs`). The live path
//! sends a failed batch's pointer with it, never the batch.

use std::future::Future;

use super::AwsError;

/// Where messages go.
pub trait MessageQueue {
    /// Sends one message (its body as given).
    fn send(&self, body: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// No queue configured (local runs): nothing is sent.
impl<Q: MessageQueue + Sync> MessageQueue for Option<Q> {
    async fn send(&self, body: &str) -> Result<(), AwsError> {
        match self {
            Some(q) => q.send(body).await,
            None => Ok(()),
        }
    }
}

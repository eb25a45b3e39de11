//! [`RuntimeClient`] implements the operator port [`Runtime`] with aws-sdk-bedrockruntime `Converse`
//! (feature `operator`: `smoke` sends one tiny request through each application profile).

use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};

use crate::ports::operator::{ConverseOutcome, Runtime};
use crate::ports::AwsError;

#[derive(Clone, Debug)]
pub struct RuntimeClient {
    client: aws_sdk_bedrockruntime::Client,
}

impl RuntimeClient {
    pub fn new(config: &aws_config::SdkConfig) -> RuntimeClient {
        RuntimeClient {
            client: aws_sdk_bedrockruntime::Client::new(config),
        }
    }
}

impl Runtime for RuntimeClient {
    async fn converse(
        &self,
        model_id: &str,
        prompt: &str,
        max_tokens: i32,
    ) -> Result<ConverseOutcome, AwsError> {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.to_string()))
            .build()
            .map_err(|e| AwsError::new("Converse", e.to_string()))?;
        let out = self
            .client
            .converse()
            .model_id(model_id)
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(max_tokens)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Converse", e))?;
        Ok(ConverseOutcome {
            request_id: out.request_id().map(str::to_string),
            input_tokens: out.usage().map_or(0, |u| u.input_tokens().max(0) as u64),
            output_tokens: out.usage().map_or(0, |u| u.output_tokens().max(0) as u64),
        })
    }
}

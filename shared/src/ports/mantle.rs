//! The mantle port: what the `AWS/BedrockMantle` CloudWatch metrics say the OpenAI-compatible
//! `bedrock-mantle` endpoint served — traffic that invocation logging never records (bedrock-facts §8).
//! The adapter (`aws::cloudwatch::CloudWatchMantle`) reads them with ListMetrics and GetMetricData;
//! the core turns the sums into report lines (`daily::mantle`).

use std::future::Future;

use super::AwsError;
use crate::time::Timestamp;

/// The namespace and the metrics read (AWS Bedrock user guide, "Monitor bedrock-mantle inference using
/// CloudWatch metrics": `Inferences` at Account, Project, Model and Project+Model levels;
/// `TotalInputTokens` / `TotalOutputTokens` at Account, Project and Model levels).
pub const NAMESPACE: &str = "AWS/BedrockMantle";
pub const INFERENCES: &str = "Inferences";
pub const TOTAL_INPUT_TOKENS: &str = "TotalInputTokens";
pub const TOTAL_OUTPUT_TOKENS: &str = "TotalOutputTokens";
/// The dimensions that name the model and the project.
pub const MODEL: &str = "Model";
pub const PROJECT: &str = "Project";

/// One model's mantle traffic over a time range (sums at the Model level: no caller, no project).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MantleUsage {
    pub model: String,
    pub inferences: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The projects seen with this model (Project+Model `Inferences` series), sorted.
    pub projects: Vec<String>,
}

/// Reads the mantle metrics summed over `[start, end)`, one entry per model.
pub trait MantleSource {
    fn usage(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> impl Future<Output = Result<Vec<MantleUsage>, AwsError>> + Send;
}

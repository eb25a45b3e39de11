//! Application inference profiles and their tags from the Bedrock control plane: [`BedrockProfiles`]
//! implements the core's [`ProfileSource`] port with aws-sdk-bedrock (`GetInferenceProfile`,
//! `ListTagsForResource`, `ListInferenceProfiles` with `typeEquals=APPLICATION`,
//! `CreateInferenceProfile`); [`Profiles`] picks it or a profiles file at cold start.
//! [`BedrockBatchJobs`] implements the batch-jobs port (`ListModelInvocationJobs`).

use aws_sdk_bedrock::types::{InferenceProfileModelSource, InferenceProfileType, Tag};

use crate::attribution::profiles::{Profile, ProfileMap};
use crate::ports::batch::{BatchJob, BatchJobSource, JobPage, JobQuery};
use crate::ports::profiles::ProfileSource;
use crate::ports::AwsError;
use crate::time::Timestamp;

#[derive(Clone, Debug)]
pub struct BedrockProfiles {
    client: aws_sdk_bedrock::Client,
}

impl BedrockProfiles {
    pub fn new(config: &aws_config::SdkConfig) -> BedrockProfiles {
        BedrockProfiles {
            client: aws_sdk_bedrock::Client::new(config),
        }
    }

    async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    /// `CreateInferenceProfile` copying from a foundation-model or system-profile ARN, with tags.
    pub async fn create_application_profile(
        &self,
        name: &str,
        copy_from: &str,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        let mut req = self
            .client
            .create_inference_profile()
            .inference_profile_name(name)
            .description(format!(
                "bedrock-meter: {}",
                tags.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .model_source(InferenceProfileModelSource::CopyFrom(copy_from.to_string()));
        for (k, v) in tags {
            req = req.tags(
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| AwsError::new("CreateInferenceProfile", e.to_string()))?,
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateInferenceProfile", e))?;
        Ok(out.inference_profile_arn().to_string())
    }
}

impl ProfileSource for BedrockProfiles {
    async fn get_profile(&self, arn: &str) -> Result<Option<Profile>, AwsError> {
        let out = match self
            .client
            .get_inference_profile()
            .inference_profile_identifier(arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk("GetInferenceProfile", e);
                return if e.is_not_found() { Ok(None) } else { Err(e) };
            }
        };
        let arn = out.inference_profile_arn().to_string();
        let tags = self.tags(&arn).await?;
        Ok(Some(Profile {
            id: out.inference_profile_id().to_string(),
            name: out.inference_profile_name().to_string(),
            model_arns: model_arns(out.models()),
            tags: tags.into_iter().collect(),
            arn,
        }))
    }

    async fn list_application_profiles(&self) -> Result<Vec<Profile>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_inference_profiles()
                .type_equals(InferenceProfileType::Application)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListInferenceProfiles", e))?;
            for s in page.inference_profile_summaries() {
                let arn = s.inference_profile_arn().to_string();
                let tags = self.tags(&arn).await?;
                out.push(Profile {
                    id: s.inference_profile_id().to_string(),
                    name: s.inference_profile_name().to_string(),
                    model_arns: model_arns(s.models()),
                    tags: tags.into_iter().collect(),
                    arn,
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }
}

/// Batch inference jobs from the Bedrock control plane: the core's [`BatchJobSource`]
/// (`ListModelInvocationJobs`, one page per call, at most `maxResults` 1,000, by submit time).
#[derive(Clone, Debug)]
pub struct BedrockBatchJobs {
    client: aws_sdk_bedrock::Client,
}

impl BedrockBatchJobs {
    pub fn new(config: &aws_config::SdkConfig) -> BedrockBatchJobs {
        BedrockBatchJobs {
            client: aws_sdk_bedrock::Client::new(config),
        }
    }
}

impl BatchJobSource for BedrockBatchJobs {
    async fn list_page(
        &self,
        query: &JobQuery,
        next_token: Option<String>,
    ) -> Result<JobPage, AwsError> {
        let out = self
            .client
            .list_model_invocation_jobs()
            .submit_time_after(aws_smithy_types::DateTime::from_secs(
                query.submitted_after.0,
            ))
            .submit_time_before(aws_smithy_types::DateTime::from_secs(
                query.submitted_before.0,
            ))
            .max_results(crate::ports::batch::MAX_RESULTS)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListModelInvocationJobs", e))?;
        let jobs = out
            .invocation_job_summaries()
            .iter()
            .map(|j| BatchJob {
                arn: j.job_arn().to_string(),
                name: j.job_name().to_string(),
                model_id: j.model_id().to_string(),
                status: j
                    .status()
                    .map_or_else(String::new, |s| s.as_str().to_string()),
                submit_time: Timestamp(j.submit_time().secs()),
                end_time: j.end_time().map(|t| Timestamp(t.secs())),
                output_uri: j
                    .output_data_config()
                    .and_then(|o| o.as_s3_output_data_config().ok())
                    .map(|s| s.s3_uri().to_string()),
            })
            .collect();
        Ok(JobPage {
            jobs,
            next_token: out.next_token().map(str::to_string),
        })
    }
}

/// Profiles from the Bedrock API, or from a profiles file read once at cold start.
#[derive(Clone, Debug)]
pub enum Profiles {
    Live(BedrockProfiles),
    File(ProfileMap),
}

impl Profiles {
    /// With a profiles file (the ingest setting `PROFILES_FILE`), it is read now and is then the only
    /// source; without one, the Bedrock API is. A file that cannot be read or parsed is an error (a
    /// cold-start failure), never an empty directory.
    pub fn new(sdk: &aws_config::SdkConfig, file: Option<&str>) -> Result<Profiles, String> {
        match file {
            None => Ok(Profiles::Live(BedrockProfiles::new(sdk))),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("PROFILES_FILE {path}: {e}"))?;
                let map = ProfileMap::from_json(&text).map_err(|e| {
                    format!("PROFILES_FILE {path}: not a profiles file (bedrock-meter profiles export writes one): {e}")
                })?;
                Ok(Profiles::File(map))
            }
        }
    }
}

impl ProfileSource for Profiles {
    async fn get_profile(&self, arn: &str) -> Result<Option<Profile>, AwsError> {
        match self {
            Profiles::Live(b) => b.get_profile(arn).await,
            Profiles::File(m) => m.get_profile(arn).await,
        }
    }

    async fn list_application_profiles(&self) -> Result<Vec<Profile>, AwsError> {
        match self {
            Profiles::Live(b) => b.list_application_profiles().await,
            Profiles::File(m) => m.list_application_profiles().await,
        }
    }
}

fn model_arns(models: &[aws_sdk_bedrock::types::InferenceProfileModel]) -> Vec<String> {
    models
        .iter()
        .filter_map(|m| m.model_arn().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::ProfileDirectory;
    use crate::ports::profiles::CachedProfiles;
    use crate::test_support::block_on;
    use std::time::Duration;

    #[test]
    fn a_profiles_file_is_a_source_read_at_cold_start() {
        let arn = "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc";
        let file = std::env::temp_dir().join(format!("bm-profiles-{}.json", std::process::id()));
        std::fs::write(
            &file,
            format!(
                r#"{{"inferenceProfileSummaries":[{{"inferenceProfileName":"bot","inferenceProfileArn":"{arn}",
                "models":[{{"modelArn":"arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}}],
                "tags":[{{"key":"app","value":"bot"}},{{"key":"team","value":"cx"}}]}}]}}"#
            ),
        )
        .unwrap();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let path = file.to_str().unwrap().to_string();
        let source = Profiles::new(&sdk, Some(&path)).unwrap();
        assert!(matches!(source, Profiles::File(_)));
        let mut c = CachedProfiles::new(source, Duration::from_secs(300));
        let other = "arn:aws:bedrock:us-east-1:1:application-inference-profile/zzz";
        let r = block_on(c.prefetch([arn, other]));
        assert!(r.failed.is_empty(), "a file never fails a lookup");
        assert_eq!(c.lookup(arn).unwrap().tags["team"], "cx");
        assert!(c.lookup(other).is_none(), "not in the file: does not exist");

        assert!(matches!(
            Profiles::new(&sdk, None).unwrap(),
            Profiles::Live(_)
        ));
        let e = Profiles::new(&sdk, Some("/nonexistent/p.json")).unwrap_err();
        assert!(e.starts_with("PROFILES_FILE /nonexistent/p.json"), "{e}");
        std::fs::write(&file, "").unwrap();
        assert!(Profiles::new(&sdk, Some(&path)).is_err());
        let _ = std::fs::remove_file(&file);
    }
}

//! Application inference profiles and their tags from the Bedrock control plane, cached with a TTL.
//!
//! [`ProfileSource`] is the trait; [`BedrockProfiles`] implements it with aws-sdk-bedrock
//! (`GetInferenceProfile`, `ListTagsForResource`, `ListInferenceProfiles` with
//! `typeEquals=APPLICATION`, `CreateInferenceProfile`). [`CachedProfiles`] fetches what a batch names
//! before the batch is priced, and then answers the core's synchronous [`ProfileDirectory`]. A failed
//! lookup keeps the last known profile (stale beats unresolved); with none, the profile is unresolved
//! and the failure is reported to the caller, which counts it — it never fails a whole batch.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_bedrock::types::{InferenceProfileModelSource, InferenceProfileType, Tag};

use super::AwsError;
use crate::attribution::profiles::{Profile, ProfileDirectory, ProfileMap};

/// Where profiles come from.
pub trait ProfileSource {
    /// One profile with its tags; `Ok(None)` when it does not exist.
    fn get_profile(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<Profile>, AwsError>> + Send;
    /// Every application profile in the account and Region, with tags.
    fn list_application_profiles(
        &self,
    ) -> impl Future<Output = Result<Vec<Profile>, AwsError>> + Send;
}

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

/// A profiles file (the shape `bedrock-meter profiles export` writes) is a source too: a profile not in
/// it does not exist. For local runs where the Bedrock API is not reachable (`cargo lambda watch`
/// against an emulator).
impl ProfileSource for ProfileMap {
    async fn get_profile(&self, arn: &str) -> Result<Option<Profile>, AwsError> {
        Ok(self.lookup(arn).cloned())
    }

    async fn list_application_profiles(&self) -> Result<Vec<Profile>, AwsError> {
        Ok(self.profiles().into_iter().cloned().collect())
    }
}

/// Profiles from the Bedrock API, or from a profiles file read once at cold start.
#[derive(Clone, Debug)]
pub enum Profiles {
    Live(BedrockProfiles),
    File(ProfileMap),
}

impl Profiles {
    /// `PROFILES_FILE` (read through `get`) names a profiles file: it is read now and is then the only
    /// source; unset or empty, the Bedrock API is. A file that cannot be read or parsed is an error
    /// (a cold-start failure), never an empty directory.
    pub fn from_lookup(
        sdk: &aws_config::SdkConfig,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Profiles, String> {
        match get("PROFILES_FILE").filter(|p| !p.trim().is_empty()) {
            None => Ok(Profiles::Live(BedrockProfiles::new(sdk))),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
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

struct Entry {
    /// `None`: the profile does not exist (cached too, so a bad ARN is not looked up on every record).
    profile: Option<Profile>,
    fetched: Instant,
}

/// A TTL cache in front of a [`ProfileSource`], usable as the core's [`ProfileDirectory`].
pub struct CachedProfiles<S> {
    source: S,
    ttl: Duration,
    entries: HashMap<String, Entry>,
    known: ProfileMap,
}

/// What a prefetch could not do.
#[derive(Debug, Default)]
pub struct PrefetchReport {
    /// Lookups that failed; the profile is served stale if it was known before.
    pub failed: Vec<(String, AwsError)>,
    /// Of those, the ones with no earlier answer: unresolved.
    pub unresolved: Vec<String>,
    /// Lookups sent to the source.
    pub fetched: usize,
}

impl<S: ProfileSource> CachedProfiles<S> {
    pub fn new(source: S, ttl: Duration) -> Self {
        CachedProfiles {
            source,
            ttl,
            entries: HashMap::new(),
            known: ProfileMap::default(),
        }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// Makes sure every ARN is fresh in the cache (fetching those missing or older than the TTL).
    pub async fn prefetch<'a>(
        &mut self,
        arns: impl IntoIterator<Item = &'a str>,
    ) -> PrefetchReport {
        let mut report = PrefetchReport::default();
        let mut wanted: Vec<&str> = arns.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        for arn in wanted {
            let fresh = self
                .entries
                .get(arn)
                .is_some_and(|e| e.fetched.elapsed() < self.ttl);
            if fresh {
                continue;
            }
            report.fetched += 1;
            match self.source.get_profile(arn).await {
                Ok(profile) => {
                    if let Some(p) = &profile {
                        self.known.insert(p.clone());
                    }
                    self.entries.insert(
                        arn.to_string(),
                        Entry {
                            profile,
                            fetched: Instant::now(),
                        },
                    );
                }
                Err(e) => {
                    if self.entries.get(arn).is_none_or(|e| e.profile.is_none()) {
                        report.unresolved.push(arn.to_string());
                    }
                    report.failed.push((arn.to_string(), e));
                }
            }
        }
        report
    }
}

impl<S> ProfileDirectory for CachedProfiles<S> {
    fn lookup(&self, arn: &str) -> Option<&Profile> {
        match self.entries.get(arn) {
            Some(e) => e.profile.as_ref(),
            None => self.known.lookup(arn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A source whose answers the test scripts.
    struct Scripted {
        calls: AtomicUsize,
        fail: Mutex<bool>,
    }

    impl ProfileSource for Scripted {
        async fn get_profile(&self, arn: &str) -> Result<Option<Profile>, AwsError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if *self.fail.lock().unwrap() {
                return Err(AwsError {
                    operation: "GetInferenceProfile",
                    code: Some("ThrottlingException".into()),
                    message: "slow down".into(),
                });
            }
            Ok(arn.ends_with("/known").then(|| Profile {
                arn: arn.into(),
                id: "known".into(),
                name: "n".into(),
                model_arns: vec![],
                tags: [("team".into(), "t".into())].into(),
            }))
        }
        async fn list_application_profiles(&self) -> Result<Vec<Profile>, AwsError> {
            Ok(vec![])
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn caches_answers_including_not_found_and_serves_stale_on_failure() {
        let known = "arn:aws:bedrock:us-east-1:1:application-inference-profile/known";
        let gone = "arn:aws:bedrock:us-east-1:1:application-inference-profile/gone";
        let mut c = CachedProfiles::new(
            Scripted {
                calls: AtomicUsize::new(0),
                fail: Mutex::new(false),
            },
            Duration::from_secs(300),
        );
        let r = block_on(c.prefetch([known, gone, known]));
        assert_eq!((r.fetched, r.failed.len()), (2, 0));
        assert_eq!(c.lookup(known).unwrap().tags["team"], "t");
        assert!(c.lookup(gone).is_none());
        let r = block_on(c.prefetch([known, gone]));
        assert_eq!(r.fetched, 0, "fresh entries are not fetched again");
        assert_eq!(c.source().calls.load(Ordering::SeqCst), 2);

        // Expired and the source failing: the known profile is served stale; a new one is unresolved.
        let mut c2 = CachedProfiles::new(
            Scripted {
                calls: AtomicUsize::new(0),
                fail: Mutex::new(false),
            },
            Duration::ZERO,
        );
        block_on(c2.prefetch([known]));
        *c2.source.fail.lock().unwrap() = true;
        let other = "arn:aws:bedrock:us-east-1:1:application-inference-profile/other";
        let r = block_on(c2.prefetch([known, other]));
        assert_eq!(r.failed.len(), 2);
        assert_eq!(r.unresolved, vec![other.to_string()]);
        assert_eq!(c2.lookup(known).unwrap().id, "known");
        assert!(c2.lookup(other).is_none());
    }

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
        let source =
            Profiles::from_lookup(&sdk, |k| (k == "PROFILES_FILE").then(|| path.clone())).unwrap();
        assert!(matches!(source, Profiles::File(_)));
        let mut c = CachedProfiles::new(source, Duration::from_secs(300));
        let other = "arn:aws:bedrock:us-east-1:1:application-inference-profile/zzz";
        let r = block_on(c.prefetch([arn, other]));
        assert!(r.failed.is_empty(), "a file never fails a lookup");
        assert_eq!(c.lookup(arn).unwrap().tags["team"], "cx");
        assert!(c.lookup(other).is_none(), "not in the file: does not exist");

        assert!(matches!(
            Profiles::from_lookup(&sdk, |_| None).unwrap(),
            Profiles::Live(_)
        ));
        let e = Profiles::from_lookup(&sdk, |_| Some("/nonexistent/p.json".into())).unwrap_err();
        assert!(e.starts_with("PROFILES_FILE /nonexistent/p.json"), "{e}");
        std::fs::write(&file, "").unwrap();
        assert!(Profiles::from_lookup(&sdk, |_| Some(path.clone())).is_err());
        let _ = std::fs::remove_file(&file);
    }
}

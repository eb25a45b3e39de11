//! The profile port: [`ProfileSource`] is where application inference profiles and their tags come
//! from (the Bedrock control plane in `aws::bedrock`, or a profiles file); [`CachedProfiles`] keeps
//! them with a TTL, fetches what a batch names before the batch is priced, and then answers the core's
//! synchronous [`ProfileDirectory`]. A failed lookup keeps the last known profile (stale beats
//! unresolved); with none, the profile is unresolved and the failure is reported to the caller, which
//! counts it — it never fails a whole batch.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

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
    use crate::test_support::block_on;
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
}

//! Application inference profiles and their tags, behind a small trait.
//!
//! The pricing pool of an application profile follows from the Regions of its `models[]`:
//! - one Region → **in-Region** (copied from a foundation model);
//! - several Regions in one geography (`us-*`, `eu-*`, `ap-*`, …) → **geographic** (copied from a
//!   geographic system profile such as `us.…`);
//! - Regions in several geographies → **global** (copied from a `global.` profile).
//!
//! File form: what `aws bedrock list-inference-profiles --type-equals APPLICATION` prints
//! (`inferenceProfileSummaries[]` with `inferenceProfileArn`, `inferenceProfileName`,
//! `inferenceProfileId`, `models[].modelArn`, `type`), each entry extended with the `tags` array that
//! `aws bedrock list-tags-for-resource` prints (`[{"key", "value"}]`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::attribution::model_id::{arn_model, arn_region, geography, Pool};

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Profile {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub model_arns: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl Profile {
    /// The base model the profile routes to (the same in all its Regions).
    pub fn base_model(&self) -> Option<String> {
        self.model_arns.iter().find_map(|a| arn_model(a))
    }

    /// The pricing pool, by the rule in this module's documentation.
    pub fn pool(&self) -> Pool {
        let regions: BTreeSet<&str> = self
            .model_arns
            .iter()
            .filter_map(|a| arn_region(a))
            .collect();
        let geos: BTreeSet<&str> = regions.iter().map(|r| geography(r)).collect();
        match (regions.len(), geos.len()) {
            (0 | 1, _) => Pool::InRegion,
            (_, 1) => Pool::Geographic(geos.into_iter().next().unwrap_or_default().to_string()),
            _ => Pool::Global,
        }
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Where profiles are looked up. Lookups are synchronous: a live implementation fetches (and caches)
/// the profiles a batch names before the batch is priced.
pub trait ProfileDirectory {
    /// The profile with this ARN (or id), if known.
    fn lookup(&self, arn: &str) -> Option<&Profile>;
}

/// Profiles in memory, by ARN and by id.
#[derive(Clone, Debug, Default)]
pub struct ProfileMap {
    by_arn: HashMap<String, Profile>,
    arn_by_id: HashMap<String, String>,
}

impl ProfileDirectory for ProfileMap {
    fn lookup(&self, arn: &str) -> Option<&Profile> {
        self.by_arn.get(arn).or_else(|| {
            let id = arn.rsplit('/').next().unwrap_or(arn);
            self.arn_by_id.get(id).and_then(|a| self.by_arn.get(a))
        })
    }
}

/// No profiles at all: every application-profile call is unresolved.
pub struct NoProfiles;

impl ProfileDirectory for NoProfiles {
    fn lookup(&self, _: &str) -> Option<&Profile> {
        None
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileModel {
    model_arn: String,
}

#[derive(Serialize, Deserialize)]
struct FileTag {
    key: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileProfile {
    inference_profile_arn: String,
    #[serde(default)]
    inference_profile_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inference_profile_id: Option<String>,
    #[serde(default)]
    models: Vec<FileModel>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default)]
    tags: Vec<FileTag>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileRoot {
    inference_profile_summaries: Vec<FileProfile>,
}

impl ProfileMap {
    pub fn new(profiles: impl IntoIterator<Item = Profile>) -> ProfileMap {
        let mut m = ProfileMap::default();
        for p in profiles {
            m.insert(p);
        }
        m
    }

    pub fn insert(&mut self, p: Profile) {
        if !p.id.is_empty() {
            self.arn_by_id.insert(p.id.clone(), p.arn.clone());
        }
        self.by_arn.insert(p.arn.clone(), p);
    }

    pub fn len(&self) -> usize {
        self.by_arn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_arn.is_empty()
    }

    /// Profiles sorted by ARN.
    pub fn profiles(&self) -> Vec<&Profile> {
        let mut v: Vec<&Profile> = self.by_arn.values().collect();
        v.sort_by(|a, b| a.arn.cmp(&b.arn));
        v
    }

    /// Reads the file form (see the module documentation).
    pub fn from_json(text: &str) -> Result<ProfileMap, serde_json::Error> {
        let root: FileRoot = serde_json::from_str(text)?;
        Ok(ProfileMap::new(
            root.inference_profile_summaries.into_iter().map(|f| {
                let id = f.inference_profile_id.unwrap_or_else(|| {
                    f.inference_profile_arn
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .to_string()
                });
                Profile {
                    id,
                    name: f.inference_profile_name,
                    model_arns: f.models.into_iter().map(|m| m.model_arn).collect(),
                    tags: f.tags.into_iter().map(|t| (t.key, t.value)).collect(),
                    arn: f.inference_profile_arn,
                }
            }),
        ))
    }

    /// Writes the file form (what `bedrock-meter profiles export` prints).
    pub fn to_json(&self) -> String {
        let root = FileRoot {
            inference_profile_summaries: self
                .profiles()
                .into_iter()
                .map(|p| FileProfile {
                    inference_profile_arn: p.arn.clone(),
                    inference_profile_name: p.name.clone(),
                    inference_profile_id: Some(p.id.clone()),
                    models: p
                        .model_arns
                        .iter()
                        .map(|a| FileModel {
                            model_arn: a.clone(),
                        })
                        .collect(),
                    kind: Some("APPLICATION".into()),
                    status: Some("ACTIVE".into()),
                    tags: p
                        .tags
                        .iter()
                        .map(|(k, v)| FileTag {
                            key: k.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&root).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"inferenceProfileSummaries": [
      {"inferenceProfileName": "ops-agent", "inferenceProfileArn": "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/opsagent01",
       "models": [{"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"},
                  {"modelArn": "arn:aws:bedrock:us-east-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"},
                  {"modelArn": "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"}],
       "type": "APPLICATION", "status": "ACTIVE", "description": "x", "createdAt": "2026-01-01T00:00:00Z",
       "tags": [{"key": "app", "value": "ops-agent"}, {"key": "team", "value": "platform"}, {"key": "meter:max-cost-usd", "value": "25"}]},
      {"inferenceProfileName": "fraud", "inferenceProfileArn": "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/fraud01",
       "models": [{"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"}], "type": "APPLICATION"},
      {"inferenceProfileName": "glob", "inferenceProfileArn": "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/glob01",
       "models": [{"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-5-20251101-v1:0"},
                  {"modelArn": "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-opus-4-5-20251101-v1:0"},
                  {"modelArn": "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-opus-4-5-20251101-v1:0"}]}
    ]}"#;

    #[test]
    fn reads_the_cli_shape_and_derives_pools() {
        let m = ProfileMap::from_json(FILE).unwrap();
        assert_eq!(m.len(), 3);
        let ops = m
            .lookup(
                "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/opsagent01",
            )
            .unwrap();
        assert_eq!(ops.tag("app"), Some("ops-agent"));
        assert_eq!(ops.tag("team"), Some("platform"));
        assert_eq!(ops.tag("meter:max-cost-usd"), Some("25"));
        assert_eq!(
            ops.base_model().as_deref(),
            Some("anthropic.claude-haiku-4-5-20251001-v1:0")
        );
        assert_eq!(ops.pool(), Pool::Geographic("us".into()));
        let fraud = m.lookup("fraud01").unwrap();
        assert_eq!(fraud.pool(), Pool::InRegion);
        assert_eq!(fraud.tag("team"), None);
        assert_eq!(
            m.lookup("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/glob01")
                .unwrap()
                .pool(),
            Pool::Global
        );
        assert!(m
            .lookup("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/nope")
            .is_none());
    }

    #[test]
    fn round_trips_through_the_file_form() {
        let m = ProfileMap::from_json(FILE).unwrap();
        let again = ProfileMap::from_json(&m.to_json()).unwrap();
        assert_eq!(m.profiles(), again.profiles());
    }

    #[test]
    fn rejects_a_file_of_another_shape() {
        assert!(ProfileMap::from_json(r#"{"profiles": []}"#).is_err());
        assert!(ProfileMap::from_json("[").is_err());
    }
}

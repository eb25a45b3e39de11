//! Who a call is charged to: a logged `modelId` resolved to an app and a team ([`resolve`]) — an
//! application inference profile's tags (keys from [`AttributionConfig`]), its name or id when untagged
//! or unknown, and `unattributed` for every call made without a profile (which the reports then split
//! by IAM caller). Reserved names keep tag values and attribution's own words apart ([`tag_value`]).

use crate::attribution::model_id::{classify, ModelRef, Pool};
use crate::attribution::principal::{PrincipalRule, KEEP_SESSION_ROLES_ENV};
use crate::attribution::profiles::ProfileDirectory;
use crate::settings::{list, value, SettingError};

pub(crate) const UNATTRIBUTED: &str = "unattributed";
pub const UNRESOLVED: &str = "unresolved";
pub const UNTAGGED: &str = "untagged";
/// The daily summary's `team` (its SNS message attribute: subscribers filter on it).
pub const ALL_TEAMS: &str = "all";
/// Names the attribution itself gives; a tag with one of these values is told apart from them.
const RESERVED_NAMES: [&str; 4] = [ALL_TEAMS, UNATTRIBUTED, UNRESOLVED, UNTAGGED];

/// An `app`/`team` tag value (or profile name) as attribution uses it: a value that equals a reserved
/// name (case-insensitively: `all`, `unattributed`, `unresolved`, `untagged`) gets ` (tag)` appended,
/// so a team tagged `all` never receives — or is mistaken for — the organisation summary, and an app
/// tagged `unattributed` is not summed with the calls made without a profile.
fn tag_value(v: &str) -> String {
    if RESERVED_NAMES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(v.trim()))
    {
        format!("{v} (tag)")
    } else {
        v.to_string()
    }
}

/// Which tags and request-metadata keys attribution reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributionConfig {
    pub app_tag: String,
    pub team_tag: String,
    /// `requestMetadata` keys that become extra dimensions (e.g. `tenant`).
    pub metadata_keys: Vec<String>,
    /// Who the caller is: the principal of the logged identity ARN (docs/callers.md).
    pub principal: PrincipalRule,
}

/// The tag keys read when none are configured.
pub const DEFAULT_APP_TAG: &str = "app";
pub const DEFAULT_TEAM_TAG: &str = "team";

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            app_tag: DEFAULT_APP_TAG.into(),
            team_tag: DEFAULT_TEAM_TAG.into(),
            metadata_keys: Vec::new(),
            principal: PrincipalRule::default(),
        }
    }
}

impl AttributionConfig {
    /// From `APP_TAG_KEY`, `TEAM_TAG_KEY`, `METADATA_KEYS` (comma-separated) and `KEEP_SESSION_ROLES`
    /// through `get` — the settings both Lambdas read (the CLI's flags take the same variables).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<AttributionConfig, SettingError> {
        let principal =
            PrincipalRule::parse(&value(&get, KEEP_SESSION_ROLES_ENV).unwrap_or_default())
                .map_err(|e| SettingError {
                    name: KEEP_SESSION_ROLES_ENV,
                    value: e.pattern,
                    expected: "comma-separated IAM role-name patterns (* and ? wildcards) or none",
                })?;
        Ok(AttributionConfig {
            app_tag: value(&get, "APP_TAG_KEY").unwrap_or_else(|| DEFAULT_APP_TAG.into()),
            team_tag: value(&get, "TEAM_TAG_KEY").unwrap_or_else(|| DEFAULT_TEAM_TAG.into()),
            metadata_keys: list(&get, "METADATA_KEYS"),
            principal,
        })
    }
}

/// Who a `modelId` is charged to, and how it is priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub app: String,
    pub team: String,
    /// The base model when known, else the logged `modelId`.
    pub model: String,
    pub base_model: Option<String>,
    pub pool: Pool,
    pub profile_arn: Option<String>,
    /// The application profile's tags (for per-app thresholds), empty otherwise.
    pub tags: Vec<(String, String)>,
}

/// Resolves a logged `modelId`: application profiles get their `app`/`team` tags (an unknown profile
/// goes to app = its id, team `unresolved`; a profile without the tags to app = its name, team
/// `untagged`); every other form goes to app and team `unattributed`.
pub fn resolve(
    model_id: &str,
    profiles: &dyn ProfileDirectory,
    cfg: &AttributionConfig,
) -> Resolution {
    let unattributed = |base_model: Option<String>, pool: Pool| Resolution {
        app: UNATTRIBUTED.into(),
        team: UNATTRIBUTED.into(),
        model: base_model.clone().unwrap_or_else(|| model_id.to_string()),
        base_model,
        pool,
        profile_arn: None,
        tags: Vec::new(),
    };
    match classify(model_id) {
        ModelRef::Base { model } => unattributed(Some(model), Pool::InRegion),
        ModelRef::SystemProfile { model, pool } => unattributed(Some(model), pool),
        ModelRef::Other { .. } => unattributed(None, Pool::InRegion),
        ModelRef::ApplicationProfile { arn } => match profiles.lookup(&arn) {
            Some(p) => {
                let base_model = p.base_model();
                Resolution {
                    // An empty tag counts as absent.
                    app: tag_value(
                        p.tag(&cfg.app_tag)
                            .filter(|v| !v.is_empty())
                            .unwrap_or(if p.name.is_empty() { &p.id } else { &p.name }),
                    ),
                    team: p
                        .tag(&cfg.team_tag)
                        .filter(|v| !v.is_empty())
                        .map_or_else(|| UNTAGGED.to_string(), tag_value),
                    model: base_model.clone().unwrap_or_else(|| model_id.to_string()),
                    base_model,
                    pool: p.pool(),
                    profile_arn: Some(arn),
                    tags: p.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                }
            }
            None => Resolution {
                app: arn.rsplit('/').next().unwrap_or(&arn).to_string(),
                team: UNRESOLVED.into(),
                model: model_id.to_string(),
                base_model: None,
                pool: Pool::InRegion,
                profile_arn: Some(arn),
                tags: Vec::new(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::{NoProfiles, Profile, ProfileMap};

    fn profiles() -> ProfileMap {
        ProfileMap::new([Profile {
            arn: "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1".into(),
            id: "p1".into(),
            name: "support-bot".into(),
            model_arns: vec![
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
            ],
            tags: [
                ("app".into(), "support".into()),
                ("team".into(), "cx".into()),
            ]
            .into(),
        }])
    }

    #[test]
    fn attribution_by_form() {
        let cfg = AttributionConfig::default();
        let p = profiles();
        let r = resolve(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1",
            &p,
            &cfg,
        );
        assert_eq!(
            (r.app.as_str(), r.team.as_str(), r.model.as_str()),
            ("support", "cx", "amazon.nova-lite-v1:0")
        );
        let r = resolve("us.anthropic.claude-haiku-4-5-20251001-v1:0", &p, &cfg);
        assert_eq!(
            (r.app.as_str(), r.team.as_str()),
            (UNATTRIBUTED, UNATTRIBUTED)
        );
        assert_eq!(r.pool, Pool::Geographic("us".into()));
        let r = resolve(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/gone",
            &p,
            &cfg,
        );
        assert_eq!(
            (r.app.as_str(), r.team.as_str(), r.base_model),
            ("gone", UNRESOLVED, None)
        );
        let custom = AttributionConfig {
            app_tag: "team".into(),
            team_tag: "app".into(),
            metadata_keys: vec![],
            ..AttributionConfig::default()
        };
        let r = resolve(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1",
            &p,
            &custom,
        );
        assert_eq!((r.app.as_str(), r.team.as_str()), ("cx", "support"));
        let r = resolve(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/p1",
            &NoProfiles,
            &cfg,
        );
        assert_eq!(r.team, UNRESOLVED);
    }

    #[test]
    fn reserved_names_as_tag_values_stay_apart() {
        use crate::attribution::profiles::{Profile, ProfileMap};
        let arn =
            |id: &str| format!("arn:aws:bedrock:us-east-1:1:application-inference-profile/{id}");
        let p = |id: &str, tags: &[(&str, &str)]| Profile {
            arn: arn(id),
            id: id.into(),
            name: format!("{id}-name"),
            model_arns: vec![
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0".into(),
            ],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let map = ProfileMap::new(vec![
            p("a1", &[("app", "unattributed"), ("team", "all")]),
            p("a2", &[("app", "x"), ("team", "ALL")]),
            p("a3", &[("app", ""), ("team", "")]),
            p("a4", &[("app", "chat"), ("team", "Untagged")]),
        ]);
        let cfg = AttributionConfig::default();
        let r = resolve(&arn("a1"), &map, &cfg);
        assert_eq!(
            (r.app.as_str(), r.team.as_str()),
            ("unattributed (tag)", "all (tag)")
        );
        assert_eq!(resolve(&arn("a2"), &map, &cfg).team, "ALL (tag)");
        let r = resolve(&arn("a3"), &map, &cfg);
        assert_eq!(
            (r.app.as_str(), r.team.as_str()),
            ("a3-name", UNTAGGED),
            "empty = absent"
        );
        assert_eq!(resolve(&arn("a4"), &map, &cfg).team, "Untagged (tag)");
        assert_eq!(tag_value("platform"), "platform");
    }
}

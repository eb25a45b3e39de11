//! What a logged `modelId` names: a base model called in-Region, a system (cross-Region) inference
//! profile with its geographic or global prefix, an application inference profile, or something else.
//! The pricing pool follows from the form: `global.` profiles are priced from the global table, other
//! geographic prefixes (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `ca.`, `us-gov.`) and in-Region calls from
//! the geographic/in-Region one.

/// Where a call may run, which decides its price.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pool {
    /// A `global.` profile: any commercial Region.
    Global,
    /// A geographic profile; the geography's prefix (`us`, `eu`, `apac`, …).
    Geographic(String),
    /// The model in the calling Region.
    InRegion,
}

impl Pool {
    pub fn label(&self) -> &str {
        match self {
            Pool::Global => "global",
            Pool::Geographic(_) => "geographic",
            Pool::InRegion => "in-region",
        }
    }
}

/// The form of a `modelId`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelRef {
    /// A base model id or foundation-model ARN: priced in-Region.
    Base { model: String },
    /// A system-defined inference profile (id or ARN).
    SystemProfile { model: String, pool: Pool },
    /// An application inference profile ARN: the base model, pool and tags come from the profile.
    ApplicationProfile { arn: String },
    /// Provisioned throughput, custom, imported models, prompt routers and anything unrecognised: still
    /// counted, with no price.
    Other { kind: &'static str },
}

/// Geographic prefixes of system inference profiles.
pub(crate) const GEO_PREFIXES: &[&str] =
    &["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"];

fn profile_id(id: &str) -> Option<ModelRef> {
    let (prefix, model) = id.split_once('.')?;
    if !GEO_PREFIXES.contains(&prefix) || !model.contains('.') {
        return None;
    }
    let pool = if prefix == "global" {
        Pool::Global
    } else {
        Pool::Geographic(prefix.to_string())
    };
    Some(ModelRef::SystemProfile {
        model: model.to_string(),
        pool,
    })
}

fn is_model_id(id: &str) -> bool {
    // provider.model…: a provider of lowercase letters/digits/hyphens, then a dot.
    match id.split_once('.') {
        Some((provider, rest)) => {
            !provider.is_empty()
                && !rest.is_empty()
                && provider
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !id.bytes().any(|b| b.is_ascii_whitespace() || b == b'/')
        }
        None => false,
    }
}

/// The parts of a Bedrock ARN: `arn:<partition>:bedrock:<region>:<account>:<type>/<id>`.
pub struct Arn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
}

pub(crate) fn parse_arn(s: &str) -> Option<Arn<'_>> {
    let mut parts = s.splitn(6, ':');
    let (arn, _partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || service != "bedrock" {
        return None;
    }
    let (resource_type, resource_id) = resource.split_once('/')?;
    Some(Arn {
        region,
        account,
        resource_type,
        resource_id,
    })
}

/// Classifies a logged `modelId`.
pub fn classify(model_id: &str) -> ModelRef {
    if model_id.starts_with("arn:") {
        let Some(arn) = parse_arn(model_id) else {
            return ModelRef::Other { kind: "unknown" };
        };
        return match arn.resource_type {
            "foundation-model" if is_model_id(arn.resource_id) => ModelRef::Base {
                model: arn.resource_id.to_string(),
            },
            "inference-profile" => {
                profile_id(arn.resource_id).unwrap_or(ModelRef::Other { kind: "unknown" })
            }
            "application-inference-profile" if !arn.resource_id.is_empty() => {
                ModelRef::ApplicationProfile {
                    arn: model_id.to_string(),
                }
            }
            "provisioned-model" => ModelRef::Other {
                kind: "provisioned-model",
            },
            "custom-model" | "custom-model-deployment" => ModelRef::Other {
                kind: "custom-model",
            },
            "imported-model" => ModelRef::Other {
                kind: "imported-model",
            },
            "prompt-router" | "default-prompt-router" => ModelRef::Other {
                kind: "prompt-router",
            },
            _ => ModelRef::Other { kind: "unknown" },
        };
    }
    if let Some(p) = profile_id(model_id) {
        return p;
    }
    if is_model_id(model_id) {
        return ModelRef::Base {
            model: model_id.to_string(),
        };
    }
    ModelRef::Other { kind: "unknown" }
}

/// The Region in a model ARN (`arn:aws:bedrock:us-east-1::foundation-model/…` → `us-east-1`).
pub(crate) fn arn_region(arn: &str) -> Option<&str> {
    parse_arn(arn).map(|a| a.region).filter(|r| !r.is_empty())
}

/// The base model in a foundation-model or system-profile ARN.
pub(crate) fn arn_model(arn: &str) -> Option<String> {
    match classify(arn) {
        ModelRef::Base { model } | ModelRef::SystemProfile { model, .. } => Some(model),
        _ => None,
    }
}

/// A Region's geography: `us-east-1` → `us`, `eu-west-3` → `eu`, `ap-south-1` → `ap`,
/// `us-gov-west-1` → `us-gov`.
pub(crate) fn geography(region: &str) -> &str {
    if region.starts_with("us-gov-") {
        return "us-gov";
    }
    region.split('-').next().unwrap_or(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(m: &str) -> ModelRef {
        ModelRef::Base { model: m.into() }
    }
    fn sys(m: &str, p: Pool) -> ModelRef {
        ModelRef::SystemProfile {
            model: m.into(),
            pool: p,
        }
    }

    #[test]
    fn every_form_in_the_reference() {
        assert_eq!(
            classify("amazon.nova-lite-v1:0"),
            base("amazon.nova-lite-v1:0")
        );
        assert_eq!(
            classify("anthropic.claude-3-5-haiku-20241022-v1:0"),
            base("anthropic.claude-3-5-haiku-20241022-v1:0")
        );
        assert_eq!(
            classify("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            sys(
                "anthropic.claude-haiku-4-5-20251001-v1:0",
                Pool::Geographic("us".into())
            )
        );
        assert_eq!(
            classify("global.anthropic.claude-opus-4-5-20251101-v1:0"),
            sys("anthropic.claude-opus-4-5-20251101-v1:0", Pool::Global)
        );
        assert_eq!(
            classify("apac.amazon.nova-micro-v1:0"),
            sys("amazon.nova-micro-v1:0", Pool::Geographic("apac".into()))
        );
        assert_eq!(
            classify("us-gov.anthropic.claude-3-haiku-20240307-v1:0"),
            sys(
                "anthropic.claude-3-haiku-20240307-v1:0",
                Pool::Geographic("us-gov".into())
            )
        );
        assert_eq!(
            classify("arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            sys("anthropic.claude-haiku-4-5-20251001-v1:0", Pool::Geographic("us".into()))
        );
        assert_eq!(
            classify("arn:aws:bedrock:us-west-2:565521294060:inference-profile/global.anthropic.claude-opus-4-7"),
            sys("anthropic.claude-opus-4-7", Pool::Global)
        );
        assert_eq!(
            classify("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"),
            base("anthropic.claude-3-haiku-20240307-v1:0")
        );
        let app =
            "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6";
        assert_eq!(
            classify(app),
            ModelRef::ApplicationProfile { arn: app.into() }
        );
        assert_eq!(
            classify("arn:aws-us-gov:bedrock:us-gov-west-1:1:application-inference-profile/x"),
            ModelRef::ApplicationProfile {
                arn: "arn:aws-us-gov:bedrock:us-gov-west-1:1:application-inference-profile/x"
                    .into()
            }
        );
    }

    #[test]
    fn other_forms_are_counted_as_other() {
        assert_eq!(
            classify("arn:aws:bedrock:us-east-1:1:provisioned-model/abc"),
            ModelRef::Other {
                kind: "provisioned-model"
            }
        );
        assert_eq!(
            classify("arn:aws:bedrock:us-east-1:1:custom-model/x/y"),
            ModelRef::Other {
                kind: "custom-model"
            }
        );
        assert_eq!(
            classify("arn:aws:bedrock:us-east-1:1:imported-model/x"),
            ModelRef::Other {
                kind: "imported-model"
            }
        );
        assert_eq!(
            classify("arn:aws:bedrock:us-east-1:1:default-prompt-router/anthropic.claude:1"),
            ModelRef::Other {
                kind: "prompt-router"
            }
        );
        for junk in [
            "",
            "garbage",
            "arn:aws:s3:::bucket/key",
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/",
            "not a model.id",
            "xx.yy/zz",
        ] {
            assert!(matches!(classify(junk), ModelRef::Other { .. }), "{junk}");
        }
        // A bare id with an unknown prefix is a base model, not a profile.
        assert_eq!(classify("cohere.embed-v4:0"), base("cohere.embed-v4:0"));
    }

    #[test]
    fn geographies() {
        assert_eq!(geography("us-east-1"), "us");
        assert_eq!(geography("us-gov-west-1"), "us-gov");
        assert_eq!(geography("eu-central-1"), "eu");
        assert_eq!(geography("ap-northeast-1"), "ap");
        assert_eq!(
            arn_region("arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"),
            Some("eu-west-1")
        );
        assert_eq!(
            arn_model("arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0")
                .as_deref(),
            Some("amazon.nova-lite-v1:0")
        );
    }
}

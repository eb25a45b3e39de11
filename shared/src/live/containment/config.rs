//! Containment's settings: allow patterns, unattributed traffic, cool-down, dry run
//! ([`ContainmentConfig::from_lookup`]); an app opts in with its profile tag ([`opted_in`]).
//!
//! **The allow list and the IAM grant name the same principals.** The template grants
//! `iam:PutRolePolicy`/`DeleteRolePolicy` on `arn:…:role/PATTERN` (users alike). In an IAM resource
//! ARN `*` matches any characters *including `/`* (IAM User Guide, "IAM JSON policy elements:
//! Resource", *Using wildcards in resource ARNs*), so `role/bedrock-app-*` would also cover the path
//! role `role/bedrock-app-x/OrgAdmin` (path `/bedrock-app-x/`, name `OrgAdmin`). So:
//! - a pattern needs a literal prefix: no bare `*`, no leading `*` or `?` ([`parse_allow`], refused
//!   at cold start; the template's `AllowedPattern` says the same);
//! - only principals **without an IAM path** (path `/`) are ever contained: the template's grant also
//!   denies every ARN of the shape `role/*/*` and `user/*/*` (a name never contains `/`, so these are
//!   exactly the principals with a path — the stack's own roles, `aws-reserved` Identity Center roles
//!   and `aws-service-role` service-linked roles among them), and the decision refuses a caller whose
//!   logged ARN shows a path ([`ContainmentConfig::refusal_of`]). An assumed-role ARN does not show
//!   the role's path: such a put is refused by IAM's explicit deny and reported as failed;
//! - IAM Identity Center roles (`AWSReservedSSO_*`, path `/aws-reserved/sso.amazonaws.com/`) are
//!   protected by AWS ("only modifiable by AWS") and are never contained.

use super::*;

/// The stack's containment settings (env of the ingest Lambda; flags of `replay`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainmentConfig {
    /// `CONTAINMENT_ALLOW`: comma-separated patterns over `role/NAME` and `user/NAME` (`*`, `?`),
    /// e.g. `role/bedrock-app-*,user/batch-*`. Empty (the default): no principal is ever contained.
    pub allow: Vec<String>,
    /// `CONTAINMENT_UNATTRIBUTED`: contain unattributed callers (no application profile) on the
    /// models they called. Default false.
    pub unattributed: bool,
    /// `CONTAINMENT_COOLDOWN_MINUTES`: how long a deny lasts at most (it expires by itself). Default 60.
    pub cool_down_minutes: u32,
    /// `CONTAINMENT_DRY_RUN`: decide and report, change nothing. Default false.
    pub dry_run: bool,
    /// `ACCOUNT_ID`: the stack's account. Only principals of this account are contained (a caller
    /// of another account, e.g. in a centralised log group, is reported, never denied). `None`
    /// (replay without `--contain-account`) checks nothing; the Lambda requires it with containment on.
    pub account: Option<String>,
    /// `STACK_NAME` (default `bedrock-meter`) and `AWS_REGION` (default `local`): part of every
    /// policy name, so two stacks (two Regions) never overwrite or sweep each other's denies.
    pub stack: String,
    pub region: String,
}

impl Default for ContainmentConfig {
    fn default() -> Self {
        ContainmentConfig {
            allow: Vec::new(),
            unattributed: false,
            cool_down_minutes: DEFAULT_COOL_DOWN_MINUTES,
            dry_run: false,
            account: None,
            stack: DEFAULT_STACK.into(),
            region: DEFAULT_REGION.into(),
        }
    }
}

/// Allow patterns (`CONTAINMENT_ALLOW`): `role/GLOB` or `user/GLOB`, GLOB of IAM name characters,
/// `*` and `?`, **starting with a literal character** — no bare `*`, no leading wildcard (a pattern
/// must name a family of principals, not every principal). What the stack accepts.
pub fn parse_allow(text: &str) -> Result<Vec<String>, SettingError> {
    parse_patterns(text, true)
}

/// Like [`parse_allow`] but also accepts a leading wildcard (`role/*`): for `replay`'s what-if
/// simulation, which changes no IAM policy. The stack never takes these.
pub fn parse_simulated_allow(text: &str) -> Result<Vec<String>, SettingError> {
    parse_patterns(text, false)
}

fn parse_patterns(text: &str, literal_prefix: bool) -> Result<Vec<String>, SettingError> {
    let mut out = Vec::new();
    for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let glob = p.strip_prefix("role/").or_else(|| p.strip_prefix("user/"));
        match glob {
            Some(g)
                if !g.is_empty()
                    && g.len() <= 64
                    && g.chars().all(|c| iam_name_char(c) || c == '*' || c == '?')
                    && (!literal_prefix || g.starts_with(iam_name_char)) =>
            {
                out.push(p.to_string())
            }
            _ => {
                return Err(SettingError {
                    name: "CONTAINMENT_ALLOW",
                    value: p.to_string(),
                    expected: if literal_prefix {
                        "role/PATTERN or user/PATTERN: IAM name characters, * and ?, starting with a literal character (no bare *)"
                    } else {
                        "role/PATTERN or user/PATTERN (IAM name characters, * and ?)"
                    },
                })
            }
        }
    }
    Ok(out)
}

/// Whether the logged caller ARN shows an IAM path: `arn:P:iam::A:role/PATH/NAME` or
/// `…:user/PATH/NAME`. (An assumed-role ARN names the role without its path: `false`.)
pub fn caller_has_path(caller: &str) -> bool {
    let resource = caller.splitn(6, ':').nth(5).unwrap_or("");
    let service = caller.split(':').nth(2).unwrap_or("");
    service == "iam"
        && ["role/", "user/"]
            .iter()
            .any(|k| resource.strip_prefix(k).is_some_and(|r| r.contains('/')))
}

impl ContainmentConfig {
    /// From `CONTAINMENT_ALLOW`, `CONTAINMENT_UNATTRIBUTED`, `CONTAINMENT_COOLDOWN_MINUTES`,
    /// `CONTAINMENT_DRY_RUN` (missing or empty → default; present but invalid → error, never silently
    /// the default: a pattern without a literal prefix stops the cold start).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<ContainmentConfig, SettingError> {
        let val = |k: &str| value(&get, k);
        let mut c = ContainmentConfig::default();
        if let Some(v) = val("CONTAINMENT_ALLOW") {
            c.allow = parse_allow(&v)?;
        }
        if let Some(v) = val("CONTAINMENT_UNATTRIBUTED") {
            c.unattributed = flag("CONTAINMENT_UNATTRIBUTED", &v)?;
        }
        if let Some(v) = val("CONTAINMENT_DRY_RUN") {
            c.dry_run = flag("CONTAINMENT_DRY_RUN", &v)?;
        }
        if let Some(v) = val("CONTAINMENT_COOLDOWN_MINUTES") {
            c.cool_down_minutes = v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=MAX_COOL_DOWN_MINUTES).contains(m))
                .ok_or(SettingError {
                    name: "CONTAINMENT_COOLDOWN_MINUTES",
                    value: v.clone(),
                    expected: "a whole number of minutes from 1 to 10080",
                })?;
        }
        c.read_stack(&val)?;
        Ok(c)
    }

    /// Whether any principal could ever be contained.
    pub fn is_enabled(&self) -> bool {
        !self.allow.is_empty()
    }

    /// Why the logged `caller` (whose principal is `p`) may not be contained, if it may not: a
    /// principal with an IAM path first (the grant cannot name it safely), then [`Self::refusal`].
    pub fn refusal_of(&self, caller: &str, p: &IamPrincipal) -> Option<Skip> {
        if caller_has_path(caller) {
            return Some(Skip::PrincipalWithPath(p.label()));
        }
        self.refusal(p)
    }

    /// Why `p` may not be contained, if it may not (its name against the allow patterns; an IAM
    /// Identity Center role never).
    pub fn refusal(&self, p: &IamPrincipal) -> Option<Skip> {
        let label = p.label();
        if !self
            .allow
            .iter()
            .any(|g| glob_match(g.as_bytes(), label.as_bytes()))
        {
            return Some(Skip::OutsideAllow(label));
        }
        if p.is_sso_reserved() {
            return Some(Skip::SsoReserved(label));
        }
        None
    }
}

/// Whether an app's profile tags opt it in (`meter:on-runaway=contain`, value case-insensitive).
pub fn opted_in(tags: &[(String, String)]) -> bool {
    tags.iter()
        .any(|(k, v)| k == TAG_ON_RUNAWAY && v.trim().eq_ignore_ascii_case(ON_RUNAWAY_CONTAIN))
}

/// The stack name when `STACK_NAME` is not set (local runs, `replay`).
pub const DEFAULT_STACK: &str = "bedrock-meter";
/// The Region when `AWS_REGION` is not set.
pub const DEFAULT_REGION: &str = "local";

impl ContainmentConfig {
    /// `ACCOUNT_ID`, `STACK_NAME`, `AWS_REGION` (the stack's own identity).
    fn read_stack(&mut self, val: &impl Fn(&str) -> Option<String>) -> Result<(), SettingError> {
        if let Some(v) = val("ACCOUNT_ID") {
            let v = v.trim().to_string();
            if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SettingError {
                    name: "ACCOUNT_ID",
                    value: v,
                    expected: "the stack's 12-digit AWS account id",
                });
            }
            self.account = Some(v);
        }
        if let Some(v) = val("STACK_NAME") {
            self.stack = v.trim().to_string();
        }
        if let Some(v) = val("AWS_REGION") {
            self.region = v.trim().to_string();
        }
        Ok(())
    }

    /// Every deny this stack puts is named with this prefix:
    /// `BedrockMeterContain-<stack>.<region>.` (what the sweep and `contain list` look for). `.`
    /// occurs in neither a stack name nor a Region, so one stack's prefix never starts another's.
    pub fn policy_prefix(&self) -> String {
        format!(
            "{POLICY_PREFIX}{}.{}.",
            name_part(&self.stack, MAX_STACK_PART),
            name_part(&self.region, MAX_REGION_PART)
        )
    }

    /// The deny's name for a profile (ARN, id or `unattributed`): [`Self::policy_prefix`] + the
    /// profile's key, within IAM's 128 characters of `[\w+=,.@-]`.
    pub fn policy_name(&self, profile: &str) -> String {
        let prefix = self.policy_prefix();
        format!(
            "{prefix}{}",
            profile_key_within(profile, MAX_POLICY_NAME_CHARS - prefix.len())
        )
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::*;

    fn facts(caller: &str) -> IncidentFacts {
        IncidentFacts {
            app: "ops-agent".into(),
            team: "platform".into(),
            caller: Some(caller.into()),
            callers: vec![],
            profile_arns: vec![
                "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3"
                    .into(),
            ],
            models: vec![],
            at: Timestamp(1_764_000_000),
            opted_in: true,
            window_cost: crate::pricing::money::Money::ZERO,
            window_requests: 50,
            threshold_cost: crate::pricing::money::Money::ZERO,
            threshold_requests: 20,
        }
    }

    #[test]
    fn a_pattern_needs_a_literal_prefix() {
        for bad in [
            "role/*",
            "user/*",
            "role/?",
            "role/*admin",
            "role/?ps-agent",
            "role/**",
            "role/bedrock-app-*,user/*",
            "role/",
            "role/a/b",
            "role/a b",
            "*",
            "group/x",
        ] {
            let e = parse_allow(bad).unwrap_err();
            assert_eq!(e.name, "CONTAINMENT_ALLOW", "{bad}");
            // The cold start refuses it too (never silently "nobody" or "everybody").
            let env = ContainmentConfig::from_lookup(|k| {
                (k == "CONTAINMENT_ALLOW").then(|| bad.to_string())
            });
            assert!(env.is_err(), "{bad}");
        }
        assert_eq!(
            parse_allow("role/bedrock-app-*, user/b?tch-*,role/x").unwrap(),
            vec!["role/bedrock-app-*", "user/b?tch-*", "role/x"]
        );
        assert!(parse_allow(&format!("role/{}", "a".repeat(65))).is_err());
        // replay's what-if simulation still takes every principal; the stack never does.
        assert_eq!(
            parse_simulated_allow("role/*,user/*").unwrap(),
            vec!["role/*", "user/*"]
        );
        assert!(parse_simulated_allow("role/a/b").is_err());
    }

    #[test]
    fn principals_with_an_iam_path_are_never_contained() {
        let cfg = ContainmentConfig {
            allow: parse_allow("role/bedrock-app-*,user/batch-*").unwrap(),
            ..ContainmentConfig::default()
        };
        for (caller, label) in [
            // `role/bedrock-app-*` in an IAM ARN would cover this role (path /bedrock-app-x/).
            (
                "arn:aws:iam::111122223333:role/bedrock-app-x/OrgAdmin",
                "role/OrgAdmin",
            ),
            (
                "arn:aws:iam::111122223333:role/svc/bedrock-app-y",
                "role/bedrock-app-y",
            ),
            (
                "arn:aws:iam::111122223333:user/jobs/batch-1",
                "user/batch-1",
            ),
        ] {
            let p = plan(&facts(caller), &cfg);
            assert!(p.contain.is_empty(), "{caller}");
            assert_eq!(
                p.skipped,
                vec![(caller.to_string(), Skip::PrincipalWithPath(label.into()))],
                "{caller}"
            );
        }
        // Without a path (what the grant names exactly): contained.
        for caller in [
            "arn:aws:iam::111122223333:role/bedrock-app-x",
            "arn:aws:iam::111122223333:user/batch-1",
            "arn:aws:sts::111122223333:assumed-role/bedrock-app-x/worker-1",
        ] {
            assert_eq!(plan(&facts(caller), &cfg).contain.len(), 1, "{caller}");
            assert!(!caller_has_path(caller), "{caller}");
        }
        // Identity Center roles never, whatever the pattern.
        let sso = ContainmentConfig {
            allow: parse_allow("role/AWSReservedSSO_*").unwrap(),
            ..ContainmentConfig::default()
        };
        let p = plan(
            &facts("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/jane"),
            &sso,
        );
        assert!(p.contain.is_empty());
        assert!(matches!(p.skipped[0].1, Skip::SsoReserved(_)));
    }
}

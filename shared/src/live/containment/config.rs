//! Containment's settings: allow patterns, Identity Center roles, unattributed traffic, cool-down,
//! dry run ([`ContainmentConfig::from_lookup`]); an app opts in with its profile tag ([`opted_in`]).

use super::*;

/// The stack's containment settings (env of the ingest Lambda; flags of `replay`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainmentConfig {
    /// `CONTAINMENT_ALLOW`: comma-separated patterns over `role/NAME` and `user/NAME` (`*`, `?`),
    /// e.g. `role/bedrock-app-*,user/batch-*`. Empty (the default): no principal is ever contained.
    pub allow: Vec<String>,
    /// `CONTAINMENT_ALLOW_SSO`: IAM Identity Center roles (`AWSReservedSSO_*`) may be contained when
    /// they also match `allow`. Default false.
    pub allow_sso: bool,
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
            allow_sso: false,
            unattributed: false,
            cool_down_minutes: DEFAULT_COOL_DOWN_MINUTES,
            dry_run: false,
            account: None,
            stack: DEFAULT_STACK.into(),
            region: DEFAULT_REGION.into(),
        }
    }
}

/// Allow patterns: `role/GLOB` or `user/GLOB`, GLOB of IAM name characters, `*` and `?`.
pub fn parse_allow(text: &str) -> Result<Vec<String>, SettingError> {
    let mut out = Vec::new();
    for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let glob = p.strip_prefix("role/").or_else(|| p.strip_prefix("user/"));
        match glob {
            Some(g)
                if !g.is_empty() && g.chars().all(|c| iam_name_char(c) || c == '*' || c == '?') =>
            {
                out.push(p.to_string())
            }
            _ => {
                return Err(SettingError {
                    name: "CONTAINMENT_ALLOW",
                    value: p.to_string(),
                    expected: "role/PATTERN or user/PATTERN (IAM name characters, * and ?)",
                })
            }
        }
    }
    Ok(out)
}

impl ContainmentConfig {
    /// From `CONTAINMENT_ALLOW`, `CONTAINMENT_ALLOW_SSO`, `CONTAINMENT_UNATTRIBUTED`,
    /// `CONTAINMENT_COOLDOWN_MINUTES`, `CONTAINMENT_DRY_RUN` (missing or empty → default; present but
    /// invalid → error, never silently the default).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<ContainmentConfig, SettingError> {
        let val = |k: &str| value(&get, k);
        let mut c = ContainmentConfig::default();
        if let Some(v) = val("CONTAINMENT_ALLOW") {
            c.allow = parse_allow(&v)?;
        }
        if let Some(v) = val("CONTAINMENT_ALLOW_SSO") {
            c.allow_sso = flag("CONTAINMENT_ALLOW_SSO", &v)?;
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

    /// Why `p` may not be contained, if it may not.
    pub fn refusal(&self, p: &IamPrincipal) -> Option<Skip> {
        let label = p.label();
        if !self
            .allow
            .iter()
            .any(|g| glob_match(g.as_bytes(), label.as_bytes()))
        {
            return Some(Skip::OutsideAllow(label));
        }
        if p.is_sso_reserved() && !self.allow_sso {
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

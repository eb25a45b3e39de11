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
}

impl Default for ContainmentConfig {
    fn default() -> Self {
        ContainmentConfig {
            allow: Vec::new(),
            allow_sso: false,
            unattributed: false,
            cool_down_minutes: DEFAULT_COOL_DOWN_MINUTES,
            dry_run: false,
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

//! Containment: stopping a runaway, not only paging about it. Pure core — the decision, the deny
//! policy and its name; IAM itself sits behind [`IamPolicies`] (adapter: `aws::iam`).
//!
//! On a `runaway` transition the offending IAM principal (the role or user of the incident's caller)
//! gets one **inline deny policy** for the actions that authorise model invocation
//! ([`CONTAIN_ACTIONS`]; Converse and ConverseStream authorise through them) on the incident's
//! application inference profile ARN only (unattributed traffic: on the models it called), with an
//! `aws:CurrentTime` `DateLessThan` condition, so the deny **lifts itself** at `until` even if nothing
//! else ever runs. `resolved` deletes it early; `bedrock-meter contain lift` deletes it by hand.
//!
//! Who may be contained (all must hold, see [`plan`]):
//! - the app opted in with its profile tag `meter:on-runaway=contain` ([`opted_in`]); unattributed
//!   traffic only with the stack-level switch ([`ContainmentConfig::unattributed`], off by default);
//! - the caller is an IAM role (assumed-role session or role ARN) or IAM user — never root, federated
//!   users or unknown callers;
//! - its `role/NAME` or `user/NAME` matches an allow pattern ([`ContainmentConfig::allow`], empty by
//!   default: nobody);
//! - IAM Identity Center roles (`AWSReservedSSO_*`) only when explicitly allowed
//!   ([`ContainmentConfig::allow_sso`]): such a role is a permission set shared by every person using
//!   it, so a deny on it stops them all.
//!
//! **At most one policy per (principal, profile)**: the policy name ([`policy_name`]) is derived from
//! the profile alone and the policy lives on the principal, so putting it again (`PutRolePolicy`
//! overwrites a policy of the same name) is idempotent; the document depends only on the transition
//! (`until` = the alert's time + cool-down), so a repeated put writes the same bytes and never extends
//! it.
//!
//! IAM limits enforced here: policy names at most 128 characters of `[\w+=,.@-]`; a role's inline
//! policies together at most 10,240 characters and a user's 2,048 (whitespace not counted) — the
//! document is compact JSON and a containment whose document would pass [`MAX_USER_POLICY_CHARS`] is
//! refused ([`Skip::PolicyTooLarge`]) rather than cut.

use crate::settings::{flag, value, SettingError};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::attribution::model_id::{classify, parse_arn, ModelRef};
use crate::attribution::principal::glob_match;
use crate::attribution::resolution::UNATTRIBUTED;
use crate::time::Timestamp;

/// The profile tag an app opts in with: `meter:on-runaway=contain`.
pub const TAG_ON_RUNAWAY: &str = "meter:on-runaway";
pub const ON_RUNAWAY_CONTAIN: &str = "contain";

/// The actions denied: every Bedrock runtime call that invokes a model authorises through one of them.
pub const CONTAIN_ACTIONS: [&str; 2] = [
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
];

/// Every containment policy's name starts with this (what `contain list` looks for).
pub const POLICY_PREFIX: &str = "BedrockMeterContain-";
/// The statement id that marks a document as bedrock-meter's (Sid: alphanumeric only).
const STATEMENT_SID: &str = "BedrockMeterRunawayContainment";
/// The policy-name part for unattributed traffic (calls without an application profile).
const UNATTRIBUTED_KEY: &str = "unattributed";

/// IAM: an inline policy name is 1–128 characters of `[\w+=,.@-]`.
pub const MAX_POLICY_NAME_CHARS: usize = 128;
/// IAM: a role's inline policies together, whitespace not counted.
pub const MAX_ROLE_POLICY_CHARS: usize = 10_240;
/// IAM: a user's inline policies together, whitespace not counted.
pub const MAX_USER_POLICY_CHARS: usize = 2_048;

/// The IAM Identity Center role-name prefix.
const SSO_ROLE_PREFIX: &str = "AWSReservedSSO_";

pub const DEFAULT_COOL_DOWN_MINUTES: u32 = 60;
pub const MAX_COOL_DOWN_MINUTES: u32 = 10_080;

// ---------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalKind {
    Role,
    User,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Role => "role",
            PrincipalKind::User => "user",
        }
    }
}

/// An IAM role or user that a deny policy can be put on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IamPrincipal {
    pub kind: PrincipalKind,
    /// The role or user name (unique in the account whatever its path; what the IAM API takes).
    pub name: String,
    /// `aws`, `aws-cn`, `aws-us-gov` (from the caller's ARN); `aws` when only a name was given.
    pub partition: String,
    /// The account id, when known (empty when only a name was given).
    pub account: String,
}

fn iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

fn valid_name(n: &str, max: usize) -> bool {
    !n.is_empty() && n.len() <= max && n.chars().all(iam_name_char)
}

impl IamPrincipal {
    /// The principal behind a logged caller ARN (or a caller as the detector keeps it):
    /// - `arn:P:sts::A:assumed-role/ROLE/SESSION` or `…:assumed-role/ROLE` → role `ROLE`;
    /// - `arn:P:iam::A:role/PATH/NAME` → role `NAME`; `arn:P:iam::A:user/PATH/NAME` → user `NAME`
    ///   (IAM paths are not part of the name the IAM API takes);
    /// - anything else (root, federated users, unknown callers) → `None`: it cannot be contained.
    pub fn from_caller(arn: &str) -> Option<IamPrincipal> {
        let rest = arn.strip_prefix("arn:")?;
        let mut parts = rest.splitn(5, ':');
        let (partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if partition.is_empty() || !region.is_empty() {
            return None;
        }
        let (kind, name) = match service {
            "sts" => {
                let r = resource.strip_prefix("assumed-role/")?;
                (PrincipalKind::Role, r.split('/').next()?)
            }
            "iam" => {
                let (kind, path_name) = if let Some(r) = resource.strip_prefix("role/") {
                    (PrincipalKind::Role, r)
                } else if let Some(u) = resource.strip_prefix("user/") {
                    (PrincipalKind::User, u)
                } else {
                    return None;
                };
                (kind, path_name.rsplit('/').next()?)
            }
            _ => return None,
        };
        if !valid_name(name, 64) {
            return None;
        }
        Some(IamPrincipal {
            kind,
            name: name.to_string(),
            partition: partition.to_string(),
            account: account.to_string(),
        })
    }

    /// What an operator types: a caller ARN, an IAM role/user ARN, or `role/NAME` / `user/NAME`.
    pub fn parse(text: &str) -> Option<IamPrincipal> {
        let t = text.trim();
        if t.starts_with("arn:") {
            return IamPrincipal::from_caller(t);
        }
        let (kind, name) = if let Some(n) = t.strip_prefix("role/") {
            (PrincipalKind::Role, n)
        } else if let Some(n) = t.strip_prefix("user/") {
            (PrincipalKind::User, n)
        } else {
            return None;
        };
        valid_name(name, 64).then(|| IamPrincipal {
            kind,
            name: name.to_string(),
            partition: "aws".into(),
            account: String::new(),
        })
    }

    /// `role/NAME` or `user/NAME`: what allow patterns match, and what `contain lift` takes.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }

    /// An IAM Identity Center permission-set role.
    pub fn is_sso_reserved(&self) -> bool {
        self.kind == PrincipalKind::Role && self.name.starts_with(SSO_ROLE_PREFIX)
    }

    /// The inline-policy size limit of this kind of principal.
    pub fn policy_limit(&self) -> usize {
        match self.kind {
            PrincipalKind::Role => MAX_ROLE_POLICY_CHARS,
            PrincipalKind::User => MAX_USER_POLICY_CHARS,
        }
    }
}

impl std::fmt::Display for IamPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Names and documents
// ---------------------------------------------------------------------------------------------

/// FNV-1a 64, hex: a short stable digest for names that would be too long or hold other characters.
fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The part of a policy name that stands for the profile: the application profile's id (the ARN's
/// last segment, e.g. `a1b2c3d4e5f6`), or [`UNATTRIBUTED_KEY`]; a profile key that is not a plain id
/// (other characters, too long) becomes `h` + a digest of it.
fn profile_key(profile: &str) -> String {
    let p = profile.trim();
    if p == UNATTRIBUTED_KEY || p == UNATTRIBUTED {
        return UNATTRIBUTED_KEY.into();
    }
    let id = match parse_arn(p) {
        Some(a) if a.resource_type == "application-inference-profile" => a.resource_id,
        _ => p,
    };
    let room = MAX_POLICY_NAME_CHARS - POLICY_PREFIX.len();
    if valid_name(id, room) {
        id.to_string()
    } else {
        format!("h{}", digest(p))
    }
}

/// The inline policy name for (principal, profile): `BedrockMeterContain-<profile id>` (or
/// `…-unattributed`). The principal is where the policy lives, so the pair is unique.
pub fn policy_name(profile: &str) -> String {
    format!("{POLICY_PREFIX}{}", profile_key(profile))
}

/// The resources a containment denies: the application profile ARN, or (unattributed) the
/// foundation models and system profiles the caller called, in every Region of the partition.
fn model_resources(partition: &str, account: &str, models: &[String]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for m in models {
        match classify(m) {
            ModelRef::Base { model } => {
                out.insert(format!(
                    "arn:{partition}:bedrock:*::foundation-model/{model}"
                ));
            }
            ModelRef::SystemProfile { .. } => {
                let id = parse_arn(m).map_or(m.as_str(), |a| a.resource_id);
                let acct = if account.is_empty() { "*" } else { account };
                out.insert(format!(
                    "arn:{partition}:bedrock:*:{acct}:inference-profile/{id}"
                ));
                if let ModelRef::SystemProfile { model, .. } = classify(m) {
                    out.insert(format!(
                        "arn:{partition}:bedrock:*::foundation-model/{model}"
                    ));
                }
            }
            ModelRef::ApplicationProfile { arn } => {
                out.insert(arn);
            }
            ModelRef::Other { .. } => {}
        }
    }
    out.into_iter().collect()
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The deny policy document, compact JSON:
/// `{"Version":"2012-10-17","Statement":[{"Sid":…,"Effect":"Deny","Action":[…],"Resource":[…],
/// "Condition":{"DateLessThan":{"aws:CurrentTime":"…Z"}}}]}`.
pub fn policy_document(resources: &[String], until: Timestamp) -> String {
    let actions: Vec<String> = CONTAIN_ACTIONS.iter().map(|a| json_str(a)).collect();
    let resources: Vec<String> = resources.iter().map(|r| json_str(r)).collect();
    format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Sid\":\"{STATEMENT_SID}\",\"Effect\":\"Deny\",\"Action\":[{}],\"Resource\":[{}],\"Condition\":{{\"DateLessThan\":{{\"aws:CurrentTime\":{}}}}}}}]}}",
        actions.join(","),
        resources.join(","),
        json_str(&until.to_string())
    )
}

/// What a stored containment document says (for `contain list`), or `None` when it is not one of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredContainment {
    pub resources: Vec<String>,
    pub until: Option<Timestamp>,
}

/// Reads a policy document written by [`policy_document`] (IAM returns it URL-encoded from
/// `GetRolePolicy`; the adapter decodes it first).
pub fn read_document(doc: &str) -> Option<StoredContainment> {
    let v: serde_json::Value = serde_json::from_str(doc).ok()?;
    let statements = match &v["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        o @ serde_json::Value::Object(_) => vec![o.clone()],
        _ => return None,
    };
    let s = statements
        .iter()
        .find(|s| s["Sid"].as_str() == Some(STATEMENT_SID))?;
    let resources = match &s["Resource"] {
        serde_json::Value::String(r) => vec![r.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let until = s["Condition"]["DateLessThan"]["aws:CurrentTime"]
        .as_str()
        .and_then(Timestamp::parse_iso8601);
    Some(StoredContainment { resources, until })
}

/// Characters IAM counts against the inline-policy size limits (whitespace not counted).
pub fn counted_chars(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

// ---------------------------------------------------------------------------------------------
// The decision
// ---------------------------------------------------------------------------------------------

/// The facts of one incident transition that containment needs (taken from a detector alert plus
/// the app's profile tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentFacts {
    pub app: String,
    pub team: String,
    /// The incident's caller; `None` for an app-level incident (then `callers` says whom).
    pub caller: Option<String>,
    /// For an app-level incident: the app's callers in the window.
    pub callers: Vec<String>,
    pub profile_arns: Vec<String>,
    pub models: Vec<String>,
    /// The transition's time (the alert's `at`).
    pub at: Timestamp,
    /// Whether the app's profile carries `meter:on-runaway=contain`.
    pub opted_in: bool,
}

/// One deny to put (or, on `resolved`, to delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Containment {
    pub principal: IamPrincipal,
    /// The caller ARN as logged / kept by the detector.
    pub caller: String,
    pub app: String,
    pub team: String,
    /// The profile ARN, or `unattributed`.
    pub profile: String,
    pub policy_name: String,
    pub resources: Vec<String>,
    pub at: Timestamp,
    /// The deny's expiry (`aws:CurrentTime` must be before it).
    pub until: Timestamp,
}

impl Containment {
    pub fn document(&self) -> String {
        policy_document(&self.resources, self.until)
    }

    /// The one command that lifts it.
    pub fn lift_command(&self) -> String {
        format!(
            "bedrock-meter contain lift {} {}",
            self.principal.label(),
            profile_key(&self.profile)
        )
    }

    /// The `replay --format json` line (no newline): `{"type":"contain"|"release","app","team",
    /// "caller","at","until","resource"}` (`resource`: the denied ARNs joined with `,`).
    pub fn replay_json(&self, release: bool, at: Timestamp) -> String {
        format!(
            "{{\"type\":{},\"app\":{},\"team\":{},\"caller\":{},\"at\":{},\"until\":{},\"resource\":{}}}",
            json_str(if release { "release" } else { "contain" }),
            json_str(&self.app),
            json_str(&self.team),
            json_str(&self.caller),
            json_str(&at.to_string()),
            json_str(&self.until.to_string()),
            json_str(&self.resources.join(","))
        )
    }
}

/// Why a caller of an incident was not contained.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("the app has no profile tag meter:on-runaway=contain")]
    NotOptedIn,
    #[error("unattributed traffic is not contained (CONTAINMENT_UNATTRIBUTED is off)")]
    UnattributedOff,
    #[error("caller {0} is not an IAM role or user")]
    NotAPrincipal(String),
    #[error("{0} matches no CONTAINMENT_ALLOW pattern")]
    OutsideAllow(String),
    #[error("{0} is an IAM Identity Center role (CONTAINMENT_ALLOW_SSO is off)")]
    SsoReserved(String),
    #[error("no model or profile ARN to deny")]
    NoResource,
    #[error("the policy document would be {0} characters, over the IAM limit")]
    PolicyTooLarge(usize),
}

/// The outcome of [`plan`]: what to put, and why the rest is left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub contain: Vec<Containment>,
    /// (caller, why) for every caller that is not contained.
    pub skipped: Vec<(String, Skip)>,
}

/// Decides what containing an incident means: one [`Containment`] per (allowed principal, profile).
pub fn plan(f: &IncidentFacts, cfg: &ContainmentConfig) -> Plan {
    let mut p = Plan::default();
    let callers: Vec<String> = match &f.caller {
        Some(c) => vec![c.clone()],
        None => f.callers.clone(),
    };
    let unattributed = f.app == UNATTRIBUTED;
    let gate = if unattributed {
        (!cfg.unattributed).then_some(Skip::UnattributedOff)
    } else {
        (!f.opted_in).then_some(Skip::NotOptedIn)
    };
    if let Some(why) = gate {
        p.skipped = callers.into_iter().map(|c| (c, why.clone())).collect();
        return p;
    }
    let until = Timestamp(f.at.0 + i64::from(cfg.cool_down_minutes) * 60);
    let mut seen = BTreeSet::new();
    for caller in callers {
        let Some(principal) = IamPrincipal::from_caller(&caller) else {
            p.skipped
                .push((caller.clone(), Skip::NotAPrincipal(caller)));
            continue;
        };
        if let Some(why) = cfg.refusal(&principal) {
            p.skipped.push((caller, why));
            continue;
        }
        let targets: Vec<(String, Vec<String>)> = if unattributed {
            vec![(
                UNATTRIBUTED_KEY.to_string(),
                model_resources(&principal.partition, &principal.account, &f.models),
            )]
        } else {
            f.profile_arns
                .iter()
                .map(|a| (a.clone(), vec![a.clone()]))
                .collect()
        };
        for (profile, resources) in targets {
            if resources.is_empty() {
                p.skipped.push((caller.clone(), Skip::NoResource));
                continue;
            }
            let name = policy_name(&profile);
            if !seen.insert((principal.clone(), name.clone())) {
                continue; // two sessions of one role: one policy
            }
            let c = Containment {
                principal: principal.clone(),
                caller: caller.clone(),
                app: f.app.clone(),
                team: f.team.clone(),
                profile,
                policy_name: name,
                resources,
                at: f.at,
                until,
            };
            let size = counted_chars(&c.document());
            if size > MAX_USER_POLICY_CHARS {
                p.skipped.push((caller.clone(), Skip::PolicyTooLarge(size)));
                continue;
            }
            p.contain.push(c);
        }
    }
    p
}

// ---------------------------------------------------------------------------------------------
// The IAM port
// ---------------------------------------------------------------------------------------------

/// An IAM call that failed (the adapter keeps the service's error code in `code`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("IAM {operation} failed: {message}")]
pub struct IamError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

/// Inline policies of IAM roles and users (adapter: `aws::iam::IamClient`).
pub trait IamPolicies: Send + Sync {
    /// Puts (creates or overwrites) the inline policy `name` on the principal.
    fn put_policy(
        &self,
        principal: &IamPrincipal,
        name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    /// Deletes it; `Ok(false)` when there was none (already lifted).
    fn delete_policy(
        &self,
        principal: &IamPrincipal,
        name: &str,
    ) -> impl Future<Output = Result<bool, IamError>> + Send;

    /// The inline policy names of the principal.
    fn policy_names(
        &self,
        principal: &IamPrincipal,
    ) -> impl Future<Output = Result<Vec<String>, IamError>> + Send;

    /// One inline policy's document (decoded JSON), `None` when absent.
    fn policy_document(
        &self,
        principal: &IamPrincipal,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, IamError>> + Send;

    /// Every role and user of the account (for `contain list`).
    fn principals(&self) -> impl Future<Output = Result<Vec<IamPrincipal>, IamError>> + Send;
}

/// Polls every future at once and returns their outputs in order (the few IAM calls of one
/// transition run concurrently, never one after another per principal).
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(out.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}

/// What applying (or releasing) one containment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub containment: Containment,
    /// `Ok(true)`: changed IAM (or, dry run, would have); `Ok(false)`: nothing to delete.
    pub result: Result<bool, IamError>,
    pub dry_run: bool,
}

/// Puts every deny of a plan, concurrently. In a dry run nothing is called.
pub async fn contain<I: IamPolicies>(
    iam: &I,
    items: &[Containment],
    dry_run: bool,
) -> Vec<Applied> {
    let futs: Vec<_> = items
        .iter()
        .map(|c| async move {
            let result = if dry_run {
                Ok(true)
            } else {
                iam.put_policy(&c.principal, &c.policy_name, &c.document())
                    .await
                    .map(|()| true)
            };
            Applied {
                containment: c.clone(),
                result,
                dry_run,
            }
        })
        .collect();
    join_all(futs).await
}

/// Deletes every deny of a plan (on `resolved`), concurrently. In a dry run nothing is called.
pub async fn release<I: IamPolicies>(
    iam: &I,
    items: &[Containment],
    dry_run: bool,
) -> Vec<Applied> {
    let futs: Vec<_> = items
        .iter()
        .map(|c| async move {
            let result = if dry_run {
                Ok(true)
            } else {
                iam.delete_policy(&c.principal, &c.policy_name).await
            };
            Applied {
                containment: c.clone(),
                result,
                dry_run,
            }
        })
        .collect();
    join_all(futs).await
}

/// The alert text's containment paragraph: contained what, for whom, until when, and how to lift it
/// (`release`: that it was lifted).
fn alert_lines(applied: &[Applied], release: bool) -> String {
    let mut s = String::new();
    for a in applied {
        let c = &a.containment;
        let what = c.resources.join(", ");
        let line = match (&a.result, release, a.dry_run) {
            (Ok(_), false, false) => format!(
                "CONTAINED: {} may not invoke {} until {} (IAM inline deny {}; it expires by itself). Lift now: {}\n",
                c.principal, what, c.until, c.policy_name, c.lift_command()
            ),
            (Ok(_), false, true) => format!(
                "DRY RUN: would have denied {} invoking {} until {} (IAM inline deny {}).\n",
                c.principal, what, c.until, c.policy_name
            ),
            (Ok(true), true, false) => format!(
                "LIFTED: the deny on {} for {} ({}) was removed.\n",
                c.principal, what, c.policy_name
            ),
            (Ok(false), true, false) => format!(
                "LIFTED: the deny on {} for {} ({}) was already gone.\n",
                c.principal, what, c.policy_name
            ),
            (Ok(_), true, true) => format!(
                "DRY RUN: would have removed the deny on {} for {} ({}).\n",
                c.principal, what, c.policy_name
            ),
            (Err(e), false, _) => format!(
                "CONTAINMENT FAILED for {} on {}: {e}. Nothing was denied.\n",
                c.principal, what
            ),
            (Err(e), true, _) => format!(
                "LIFT FAILED for {} ({}): {e}. It still expires at {}; or run: {}\n",
                c.principal,
                c.policy_name,
                c.until,
                c.lift_command()
            ),
        };
        s.push_str(&line);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The ledger: what an incident's runaway put, for its resolved to delete
// ---------------------------------------------------------------------------------------------

/// The key of an incident in the ledger: a digest of (app, caller, incident start) — short and of
/// safe characters whatever the app and caller names (32 hex digits).
pub fn incident_key(app: &str, caller: Option<&str>, started: Timestamp) -> String {
    let text = format!("{app}\u{1f}{}\u{1f}{}", caller.unwrap_or(""), started.0);
    format!(
        "{}{}",
        digest(&text),
        digest(&format!("ledger\u{1f}{text}"))
    )
}

/// A ledger failure (the adapter's service error in one line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("containment ledger: {operation} failed: {message}")]
pub struct LedgerError {
    pub operation: &'static str,
    pub message: String,
}

/// Where the live path records what a `runaway` contained, so that its `resolved` — in another
/// invocation, whatever that window holds — deletes exactly that (adapter: the detector's DynamoDB
/// table, `aws::containment_ledger`).
pub trait ContainmentLedger: Send + Sync {
    /// Records (replaces) the containments of an incident; kept at least until the last `until` (an
    /// empty record — written when `resolved` lifted them — a day).
    fn record(
        &self,
        incident: &str,
        items: &[Containment],
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// The containments recorded for the incident: `None` when nothing was recorded (the runaway has
    /// not acted yet, or the record expired); `Some(empty)` once `resolved` lifted them.
    fn recorded(
        &self,
        incident: &str,
    ) -> impl Future<Output = Result<Option<Vec<Containment>>, LedgerError>> + Send;
}

/// The ledger's text form of containments (a JSON array).
pub fn ledger_json(items: &[Containment]) -> String {
    let v: Vec<serde_json::Value> = items
        .iter()
        .map(|c| {
            serde_json::json!({
                "kind": c.principal.kind.as_str(),
                "name": c.principal.name,
                "partition": c.principal.partition,
                "account": c.principal.account,
                "caller": c.caller,
                "app": c.app,
                "team": c.team,
                "profile": c.profile,
                "policy": c.policy_name,
                "resources": c.resources,
                "at": c.at.0,
                "until": c.until.0,
            })
        })
        .collect();
    serde_json::Value::Array(v).to_string()
}

/// Reads [`ledger_json`]'s text back; entries that are not of that shape are left out.
pub fn from_ledger_json(text: &str) -> Vec<Containment> {
    let Ok(serde_json::Value::Array(a)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|v| {
            let s = |k: &str| v[k].as_str().map(str::to_string);
            let kind = match v["kind"].as_str()? {
                "role" => PrincipalKind::Role,
                "user" => PrincipalKind::User,
                _ => return None,
            };
            Some(Containment {
                principal: IamPrincipal {
                    kind,
                    name: s("name")?,
                    partition: s("partition")?,
                    account: s("account")?,
                },
                caller: s("caller")?,
                app: s("app")?,
                team: s("team")?,
                profile: s("profile")?,
                policy_name: s("policy")?,
                resources: v["resources"]
                    .as_array()?
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect(),
                at: Timestamp(v["at"].as_i64()?),
                until: Timestamp(v["until"].as_i64()?),
            })
        })
        .collect()
}

/// A [`ContainmentLedger`] in process memory (tests, local runs).
#[derive(Default)]
pub struct MemoryLedger {
    inner: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl ContainmentLedger for MemoryLedger {
    async fn record(&self, incident: &str, items: &[Containment]) -> Result<(), LedgerError> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(incident.to_string(), ledger_json(items));
        Ok(())
    }

    async fn recorded(&self, incident: &str) -> Result<Option<Vec<Containment>>, LedgerError> {
        Ok(self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(incident)
            .map(|t| from_ledger_json(t)))
    }
}

// ---------------------------------------------------------------------------------------------
// From detector alerts; replay
// ---------------------------------------------------------------------------------------------

impl IncidentFacts {
    /// The facts of a detector alert. `opted_in_profile` says whether a profile ARN carries
    /// `meter:on-runaway=contain`; only those profiles are denied (an app is opted in when any is).
    /// `callers`: the app's callers in the window, for an app-level alert.
    pub fn from_alert(
        a: &crate::live::detector::Alert,
        opted_in_profile: impl Fn(&str) -> bool,
        callers: Vec<String>,
    ) -> IncidentFacts {
        let profile_arns: Vec<String> = a
            .profile_arns
            .iter()
            .filter(|p| opted_in_profile(p))
            .cloned()
            .collect();
        IncidentFacts {
            app: a.app.clone(),
            team: a.team.clone(),
            caller: a.caller.clone(),
            callers,
            opted_in: !profile_arns.is_empty(),
            profile_arns,
            models: a.models.clone(),
            at: a.at,
        }
    }
}

/// One line of what containment would have done, in replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayEvent {
    /// Put at the runaway alert's time.
    Contain(Containment),
    /// Lifted at the resolved alert's time.
    Release(Containment, Timestamp),
    /// Expired by itself (its `aws:CurrentTime` condition) before the incident resolved.
    Expire(Containment),
}

impl ReplayEvent {
    /// The `replay --format json` line: type `contain`, or `release` (lifted or expired).
    pub fn json(&self) -> String {
        match self {
            ReplayEvent::Contain(c) => c.replay_json(false, c.at),
            ReplayEvent::Release(c, at) => c.replay_json(true, *at),
            ReplayEvent::Expire(c) => c.replay_json(true, c.until),
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            ReplayEvent::Contain(c) => c.at,
            ReplayEvent::Release(_, at) => *at,
            ReplayEvent::Expire(c) => c.until,
        }
    }

    /// The `replay` table line.
    pub fn summary_line(&self) -> String {
        let (kind, c, how) = match self {
            ReplayEvent::Contain(c) => ("contain", c, format!("until {}", c.until)),
            ReplayEvent::Release(c, _) => ("release", c, "lifted (resolved)".to_string()),
            ReplayEvent::Expire(c) => ("release", c, "expired by itself".to_string()),
        };
        format!(
            "{}  {kind:<10} {} ({}) caller {}: deny {} on {} {how}",
            self.at(),
            c.app,
            c.team,
            c.caller,
            c.principal,
            c.resources.join(", "),
        )
    }
}

/// What containment would have done over a replay's alerts, as (index, event): each event comes
/// right after alert `index` and before the next one, in time order. A `runaway` contains (unless the
/// same (principal, profile) deny is already in force from another incident of the app); the deny
/// expires by itself at `until`, or the matching `resolved` lifts it if that comes first.
/// `callers_of(alert)` gives an app-level alert's callers in its window.
pub fn replay_events(
    alerts: &[crate::live::detector::Alert],
    opted_in_profile: impl Fn(&str) -> bool,
    callers_of: impl Fn(&crate::live::detector::Alert) -> Vec<String>,
    cfg: &ContainmentConfig,
) -> Vec<(usize, ReplayEvent)> {
    use crate::live::detector::AlertKind;
    use std::collections::BTreeMap;
    let mut out = Vec::new();
    // Denies in force: (principal, policy) → (the scope that put it, the containment).
    type Scope = (String, Option<String>);
    let mut in_force: BTreeMap<(IamPrincipal, String), (Scope, Containment)> = BTreeMap::new();
    let expire_until = |out: &mut Vec<(usize, ReplayEvent)>,
                        in_force: &mut BTreeMap<(IamPrincipal, String), (Scope, Containment)>,
                        now: Option<Timestamp>,
                        index: usize| {
        let mut gone: Vec<Containment> = in_force
            .values()
            .filter(|(_, c)| match now {
                Some(n) => c.until <= n,
                None => true,
            })
            .map(|(_, c)| c.clone())
            .collect();
        gone.sort_by_key(|c| c.until);
        for c in gone {
            in_force.remove(&(c.principal.clone(), c.policy_name.clone()));
            out.push((index, ReplayEvent::Expire(c)));
        }
    };
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            expire_until(&mut out, &mut in_force, Some(a.at), i - 1);
        }
        let scope = (a.app.clone(), a.caller.clone());
        match a.kind {
            AlertKind::Runaway => {
                let callers = if a.caller.is_none() {
                    callers_of(a)
                } else {
                    Vec::new()
                };
                let f = IncidentFacts::from_alert(a, &opted_in_profile, callers);
                for c in plan(&f, cfg).contain {
                    let key = (c.principal.clone(), c.policy_name.clone());
                    if in_force.contains_key(&key) {
                        continue;
                    }
                    out.push((i, ReplayEvent::Contain(c.clone())));
                    in_force.insert(key, (scope.clone(), c));
                }
            }
            AlertKind::Resolved => {
                let mine: Vec<(IamPrincipal, String)> = in_force
                    .iter()
                    .filter(|(_, (s, _))| *s == scope)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in mine {
                    if let Some((_, c)) = in_force.remove(&k) {
                        out.push((i, ReplayEvent::Release(c, a.at)));
                    }
                }
            }
            AlertKind::Escalation => {}
        }
    }
    if let Some(last) = alerts.len().checked_sub(1) {
        expire_until(&mut out, &mut in_force, None, last);
    }
    out
}

/// Adds containment to a rendered alert: the paragraph of [`alert_lines`] after the lead, and a
/// `containment` message attribute (`contained`, `dry-run`, `lifted`, `failed`) to filter on.
pub fn add_to_alert(
    r: &mut crate::ports::notify::Notification,
    applied: &[Applied],
    release: bool,
) {
    if applied.is_empty() {
        return;
    }
    let text = alert_lines(applied, release);
    let at = r.body.find("\n\n").map_or(r.body.len(), |i| i + 2);
    r.body.insert_str(at, &format!("{text}\n"));
    let state = if applied.iter().any(|a| a.result.is_err()) {
        "failed"
    } else if applied.iter().all(|a| a.dry_run) {
        "dry-run"
    } else if release {
        "lifted"
    } else {
        "contained"
    };
    r.attributes
        .push(("containment".to_string(), state.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str =
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6";

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_iso8601(s).unwrap()
    }

    fn cfg() -> ContainmentConfig {
        ContainmentConfig {
            allow: parse_allow("role/ops-*,user/batch-?").unwrap(),
            ..ContainmentConfig::default()
        }
    }

    fn facts() -> IncidentFacts {
        IncidentFacts {
            app: "ops-agent".into(),
            team: "platform".into(),
            caller: Some("arn:aws:sts::111122223333:assumed-role/ops-agent/worker-1".into()),
            callers: vec![],
            profile_arns: vec![PROFILE.into()],
            models: vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".into()],
            at: t("2026-11-25T02:00:30Z"),
            opted_in: true,
        }
    }

    #[test]
    fn principals_from_callers() {
        let r =
            IamPrincipal::from_caller("arn:aws:sts::111122223333:assumed-role/ops-agent/worker-1")
                .unwrap();
        assert_eq!(
            (r.kind, r.name.as_str()),
            (PrincipalKind::Role, "ops-agent")
        );
        assert_eq!(
            (r.partition.as_str(), r.account.as_str()),
            ("aws", "111122223333")
        );
        // The principal rule's collapsed form (no session) is the same role.
        assert_eq!(
            IamPrincipal::from_caller("arn:aws:sts::111122223333:assumed-role/ops-agent"),
            Some(r.clone())
        );
        let u =
            IamPrincipal::from_caller("arn:aws-cn:iam::111122223333:user/team/a/batch-1").unwrap();
        assert_eq!(
            (u.kind, u.name.as_str(), u.partition.as_str()),
            (PrincipalKind::User, "batch-1", "aws-cn")
        );
        let role = IamPrincipal::from_caller("arn:aws:iam::111122223333:role/svc/ops-x").unwrap();
        assert_eq!(role.label(), "role/ops-x");
        for not in [
            "arn:aws:iam::111122223333:root",
            "arn:aws:sts::111122223333:federated-user/bob",
            "unknown",
            "",
            "arn:aws:sts::111122223333:assumed-role//s",
            "arn:aws:sts:us-east-1:111122223333:assumed-role/r/s",
            "arn:aws:iam::111122223333:group/g",
        ] {
            assert_eq!(IamPrincipal::from_caller(not), None, "{not}");
        }
        assert_eq!(
            IamPrincipal::parse("role/ops-agent").unwrap().name,
            "ops-agent"
        );
        assert_eq!(
            IamPrincipal::parse("user/x").unwrap().kind,
            PrincipalKind::User
        );
        assert_eq!(IamPrincipal::parse("group/x"), None);
        assert_eq!(IamPrincipal::parse("role/a b"), None);
    }

    #[test]
    fn configuration() {
        let c = ContainmentConfig::from_lookup(|k| match k {
            "CONTAINMENT_ALLOW" => Some(" role/a-* , user/b ".into()),
            "CONTAINMENT_UNATTRIBUTED" => Some("true".into()),
            "CONTAINMENT_COOLDOWN_MINUTES" => Some("30".into()),
            "CONTAINMENT_DRY_RUN" => Some("yes".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.allow, vec!["role/a-*", "user/b"]);
        assert!(c.unattributed && c.dry_run && !c.allow_sso);
        assert_eq!(c.cool_down_minutes, 30);
        // What the template passes when neither pattern is set, or only one.
        assert!(parse_allow(",").unwrap().is_empty());
        assert_eq!(
            parse_allow("role/bedrock-app-*,").unwrap(),
            vec!["role/bedrock-app-*"]
        );
        assert_eq!(parse_allow(",user/batch-?").unwrap(), vec!["user/batch-?"]);
        let d = ContainmentConfig::from_lookup(|_| None).unwrap();
        assert_eq!(d, ContainmentConfig::default());
        assert!(!d.is_enabled() && !d.unattributed && !d.dry_run);
        for (k, v) in [
            ("CONTAINMENT_ALLOW", "arn:aws:iam::1:role/x"),
            ("CONTAINMENT_ALLOW", "role/"),
            ("CONTAINMENT_ALLOW", "role/a b"),
            ("CONTAINMENT_COOLDOWN_MINUTES", "0"),
            ("CONTAINMENT_COOLDOWN_MINUTES", "10081"),
            ("CONTAINMENT_DRY_RUN", "maybe"),
        ] {
            let e = ContainmentConfig::from_lookup(|q| (q == k).then(|| v.to_string()));
            assert!(e.is_err(), "{k}={v} accepted");
        }
    }

    #[test]
    fn opt_in_by_tag() {
        let tag = |v: &str| vec![(TAG_ON_RUNAWAY.to_string(), v.to_string())];
        assert!(opted_in(&tag("contain")));
        assert!(opted_in(&tag(" Contain ")));
        assert!(!opted_in(&tag("alert")));
        assert!(!opted_in(&[(
            "meter:on-runaway-x".into(),
            "contain".into()
        )]));
        assert!(!opted_in(&[]));
    }

    #[test]
    fn a_tagged_apps_caller_is_contained_on_its_profile_only() {
        let p = plan(&facts(), &cfg());
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        assert_eq!(p.contain.len(), 1);
        let c = &p.contain[0];
        assert_eq!(c.principal.label(), "role/ops-agent");
        assert_eq!(c.policy_name, "BedrockMeterContain-a1b2c3d4e5f6");
        assert_eq!(c.resources, vec![PROFILE.to_string()]);
        assert_eq!(c.until, t("2026-11-25T03:00:30Z"));
        assert_eq!(
            c.lift_command(),
            "bedrock-meter contain lift role/ops-agent a1b2c3d4e5f6"
        );
        let doc: serde_json::Value = serde_json::from_str(&c.document()).unwrap();
        let s = &doc["Statement"][0];
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(
            s["Action"],
            serde_json::json!([
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream"
            ])
        );
        assert_eq!(s["Resource"], serde_json::json!([PROFILE]));
        assert_eq!(
            s["Condition"]["DateLessThan"]["aws:CurrentTime"],
            "2026-11-25T03:00:30Z"
        );
        assert_eq!(
            read_document(&c.document()),
            Some(StoredContainment {
                resources: vec![PROFILE.into()],
                until: Some(c.until)
            })
        );
        // The same transition gives the same bytes: a repeated put never extends the deny.
        assert_eq!(plan(&facts(), &cfg()), p);
    }

    #[test]
    fn who_is_never_contained() {
        let mut f = facts();
        f.opted_in = false;
        assert_eq!(plan(&f, &cfg()).skipped[0].1, Skip::NotOptedIn);
        assert!(plan(&f, &cfg()).contain.is_empty());

        let mut f = facts();
        f.caller = Some("arn:aws:sts::111122223333:assumed-role/payments/worker".into());
        assert_eq!(
            plan(&f, &cfg()).skipped,
            vec![(
                f.caller.clone().unwrap(),
                Skip::OutsideAllow("role/payments".into())
            )]
        );
        // Empty allow list (the default): nobody.
        assert!(plan(&facts(), &ContainmentConfig::default())
            .contain
            .is_empty());

        let mut f = facts();
        f.caller = Some(
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_0123/jane@example.com"
                .into(),
        );
        let mut all = cfg();
        all.allow = vec!["role/*".into()];
        assert_eq!(
            plan(&f, &all).skipped[0].1,
            Skip::SsoReserved("role/AWSReservedSSO_Dev_0123".into())
        );
        all.allow_sso = true;
        assert_eq!(plan(&f, &all).contain.len(), 1);

        let mut f = facts();
        f.caller = Some("arn:aws:iam::111122223333:root".into());
        assert!(matches!(
            plan(&f, &all).skipped[0].1,
            Skip::NotAPrincipal(_)
        ));
    }

    #[test]
    fn app_level_incidents_contain_each_allowed_caller_once() {
        let mut f = facts();
        f.caller = None;
        f.callers = vec![
            "arn:aws:sts::111122223333:assumed-role/ops-agent/a".into(),
            "arn:aws:sts::111122223333:assumed-role/ops-agent/b".into(),
            "arn:aws:iam::111122223333:user/batch-7".into(),
            "arn:aws:iam::111122223333:user/alice".into(),
        ];
        let p = plan(&f, &cfg());
        let who: Vec<String> = p.contain.iter().map(|c| c.principal.label()).collect();
        assert_eq!(who, vec!["role/ops-agent", "user/batch-7"]);
        assert_eq!(p.skipped.len(), 1);
    }

    #[test]
    fn unattributed_traffic_only_with_the_stack_switch() {
        let mut f = facts();
        f.app = UNATTRIBUTED.into();
        f.profile_arns = vec![];
        f.opted_in = false;
        f.models = vec![
            "anthropic.claude-3-haiku-20240307-v1:0".into(),
            "us.amazon.nova-lite-v1:0".into(),
            "arn:aws:bedrock:us-east-1::provisioned-model/x".into(),
        ];
        assert_eq!(plan(&f, &cfg()).skipped[0].1, Skip::UnattributedOff);
        let mut on = cfg();
        on.unattributed = true;
        let p = plan(&f, &on);
        assert_eq!(p.contain.len(), 1);
        let c = &p.contain[0];
        assert_eq!(c.policy_name, "BedrockMeterContain-unattributed");
        assert_eq!(
            c.resources,
            vec![
                "arn:aws:bedrock:*:111122223333:inference-profile/us.amazon.nova-lite-v1:0",
                "arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0",
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            ]
        );
        f.models = vec!["arn:aws:bedrock:us-east-1::provisioned-model/x".into()];
        assert_eq!(plan(&f, &on).skipped[0].1, Skip::NoResource);
    }

    #[test]
    fn names_stay_within_iam_limits() {
        assert_eq!(policy_name(PROFILE), "BedrockMeterContain-a1b2c3d4e5f6");
        assert_eq!(policy_name("a1b2c3d4e5f6"), policy_name(PROFILE));
        let long = format!(
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/{}",
            "x".repeat(300)
        );
        let odd = "arn:aws:bedrock:us-east-1:1:application-inference-profile/a b/c";
        for p in [long.as_str(), odd, UNATTRIBUTED_KEY] {
            let n = policy_name(p);
            assert!(n.len() <= MAX_POLICY_NAME_CHARS, "{n}");
            assert!(n.chars().all(iam_name_char), "{n}");
            assert_eq!(policy_name(p), n, "deterministic");
        }
        assert_ne!(policy_name(&long), policy_name(odd));
    }

    #[test]
    fn documents_too_large_for_iam_are_refused() {
        let mut f = facts();
        f.app = UNATTRIBUTED.into();
        f.profile_arns = vec![];
        f.models = (0..60)
            .map(|i| format!("anthropic.model-{i}-v1:0"))
            .collect();
        let mut on = cfg();
        on.unattributed = true;
        assert!(
            matches!(plan(&f, &on).skipped[0].1, Skip::PolicyTooLarge(n) if n > MAX_USER_POLICY_CHARS)
        );
    }

    #[test]
    fn replay_lines_and_alert_text() {
        let c = plan(&facts(), &cfg()).contain.remove(0);
        let v: serde_json::Value = serde_json::from_str(&c.replay_json(false, c.at)).unwrap();
        assert_eq!(v["type"], "contain");
        assert_eq!(v["until"], "2026-11-25T03:00:30Z");
        assert_eq!(v["resource"], PROFILE);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 7);
        let r: serde_json::Value =
            serde_json::from_str(&c.replay_json(true, t("2026-11-25T02:31:00Z"))).unwrap();
        assert_eq!(
            (r["type"].as_str(), r["at"].as_str()),
            (Some("release"), Some("2026-11-25T02:31:00Z"))
        );

        let ok = Applied {
            containment: c.clone(),
            result: Ok(true),
            dry_run: false,
        };
        let text = alert_lines(std::slice::from_ref(&ok), false);
        for want in [
            "CONTAINED: role/ops-agent",
            PROFILE,
            "until 2026-11-25T03:00:30Z",
            "bedrock-meter contain lift role/ops-agent a1b2c3d4e5f6",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        assert!(alert_lines(&[ok], true).starts_with("LIFTED:"));
        let dry = Applied {
            containment: c.clone(),
            result: Ok(true),
            dry_run: true,
        };
        assert!(alert_lines(&[dry], false).starts_with("DRY RUN: would have denied"));
        let failed = Applied {
            containment: c,
            result: Err(IamError {
                operation: "PutRolePolicy",
                code: Some("AccessDenied".into()),
                message: "no".into(),
            }),
            dry_run: false,
        };
        assert!(alert_lines(&[failed], false).contains("CONTAINMENT FAILED"));
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"role/ops-*", b"role/ops-agent"));
        assert!(!glob_match(b"role/ops-*", b"role/xops-agent"));
        assert!(glob_match(b"user/batch-?", b"user/batch-1"));
        assert!(!glob_match(b"user/batch-?", b"user/batch-12"));
        assert!(!glob_match(b"role/*", b"user/x"));
    }

    fn alert(
        kind: crate::live::detector::AlertKind,
        caller: Option<&str>,
        at: &str,
    ) -> crate::live::detector::Alert {
        crate::live::detector::Alert {
            kind,
            app: "ops-agent".into(),
            team: "platform".into(),
            caller: caller.map(str::to_string),
            models: vec!["anthropic.claude-sonnet-4-5-20250929-v1:0".into()],
            profile_arns: vec![PROFILE.into()],
            window_minutes: 15,
            at: t(at),
            window_start: t(at),
            window_cost: crate::Money::ZERO,
            window_requests: 0,
            window_unpriced: 0,
            tokens: crate::Tokens::default(),
            threshold_cost: crate::Money::ZERO,
            threshold_requests: 0,
            incident_started: t(at),
            previous_alert_cost: None,
            id: "x".into(),
        }
    }

    #[test]
    fn replay_contains_on_runaway_and_releases_on_resolved() {
        use crate::live::detector::AlertKind::*;
        let w = "arn:aws:sts::111122223333:assumed-role/ops-agent/w";
        let alerts = vec![
            alert(Runaway, Some(w), "2026-11-25T01:20:00Z"),
            alert(Escalation, Some(w), "2026-11-25T01:40:00Z"),
            // The app-level incident of the same app: the deny is already in force, not put twice.
            alert(Runaway, None, "2026-11-25T01:41:00Z"),
            alert(Resolved, Some(w), "2026-11-25T01:50:00Z"),
            alert(Resolved, None, "2026-11-25T01:51:00Z"),
            // Later, a new runaway whose deny expires before it resolves.
            alert(Runaway, Some(w), "2026-11-25T03:00:00Z"),
            alert(Resolved, Some(w), "2026-11-25T05:00:00Z"),
            // A runaway that never resolves in the replay: it expires after the last alert.
            alert(
                Runaway,
                Some("arn:aws:iam::111122223333:user/batch-1"),
                "2026-11-25T06:00:00Z",
            ),
        ];
        let ev = replay_events(&alerts, |p| p == PROFILE, |_| vec![w.to_string()], &cfg());
        let got: Vec<(usize, String, String)> = ev
            .iter()
            .map(|(i, e)| {
                let v: serde_json::Value = serde_json::from_str(&e.json()).unwrap();
                (
                    *i,
                    v["type"].as_str().unwrap().to_string(),
                    v["at"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "contain".into(), "2026-11-25T01:20:00Z".into()),
                (3, "release".into(), "2026-11-25T01:50:00Z".into()),
                (5, "contain".into(), "2026-11-25T03:00:00Z".into()),
                // Expired at 04:00, between alert 5 and the resolved alert at 05:00.
                (5, "release".into(), "2026-11-25T04:00:00Z".into()),
                (7, "contain".into(), "2026-11-25T06:00:00Z".into()),
                (7, "release".into(), "2026-11-25T07:00:00Z".into()),
            ]
        );
        assert!(ev[0]
            .1
            .summary_line()
            .contains("contain    ops-agent (platform) caller"));
        // Not opted in: nothing.
        assert!(replay_events(&alerts, |_| false, |_| vec![], &cfg()).is_empty());
    }

    #[test]
    fn the_rendered_alert_says_what_was_contained() {
        let a = alert(
            crate::live::detector::AlertKind::Runaway,
            Some("arn:aws:sts::111122223333:assumed-role/ops-agent/w"),
            "2026-11-25T02:00:30Z",
        );
        let f = IncidentFacts::from_alert(&a, |_| true, vec![]);
        let c = plan(&f, &cfg()).contain;
        let mut r = crate::live::alert::render(&a, &crate::live::alert::AlertContext::default());
        let lead_end = r.body.find("\n\n").unwrap();
        add_to_alert(
            &mut r,
            &[Applied {
                containment: c[0].clone(),
                result: Ok(true),
                dry_run: false,
            }],
            false,
        );
        assert!(
            r.body[lead_end + 2..].starts_with("CONTAINED: role/ops-agent may not invoke"),
            "{}",
            r.body
        );
        assert!(r
            .body
            .contains("Lift now: bedrock-meter contain lift role/ops-agent a1b2c3d4e5f6"));
        assert!(r
            .attributes
            .contains(&("containment".into(), "contained".into())));
        let mut z = crate::live::alert::render(&a, &crate::live::alert::AlertContext::default());
        add_to_alert(
            &mut z,
            &[Applied {
                containment: c[0].clone(),
                result: Ok(true),
                dry_run: false,
            }],
            true,
        );
        assert!(z.body.contains("LIFTED: the deny on role/ops-agent"));
        assert!(z
            .attributes
            .contains(&("containment".into(), "lifted".into())));
        let mut n = crate::live::alert::render(&a, &crate::live::alert::AlertContext::default());
        let before = n.clone();
        add_to_alert(&mut n, &[], false);
        assert_eq!(n, before, "no containment, no change");
    }

    #[test]
    fn the_ledger_round_trips_and_keys_are_short() {
        let c = plan(&facts(), &cfg()).contain;
        assert_eq!(from_ledger_json(&ledger_json(&c)), c);
        assert!(from_ledger_json("not json").is_empty());
        assert!(from_ledger_json("[{\"kind\":\"group\"}]").is_empty());
        let k = incident_key("ops", Some(&"x".repeat(3000)), t("2026-11-25T02:00:30Z"));
        assert_eq!(k.len(), 32);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(k, incident_key("ops", None, t("2026-11-25T02:00:30Z")));
        assert_ne!(
            incident_key("ops", None, t("2026-11-25T02:00:30Z")),
            incident_key("ops", None, t("2026-11-25T02:01:30Z"))
        );
    }
}

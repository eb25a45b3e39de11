//! Containment: stopping a runaway, not only paging about it. Pure core — the decision, the deny
//! policy and its name; IAM itself sits behind [`IamPolicies`] (adapter: `aws::iam`).
//!
//! Its parts: `principals`, `config`, `policy` (names and documents), `plan` (the decision), `iam`
//! (the port and the calls), `ledger`, `replay`; tests in `tests.rs`. Everything is re-exported here:
//! callers name `live::containment::X`.
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
//! - the principal has no IAM path (the grant cannot name a path principal safely; see `config`);
//! - never an IAM Identity Center role (`AWSReservedSSO_*`: protected by AWS, and a permission set
//!   shared by every person using it).
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

use crate::attribution::model_id::{classify, parse_arn, ModelRef};
use crate::attribution::principal::glob_match;
use crate::attribution::resolution::UNATTRIBUTED;
use crate::live::detector::CallerShare;
use crate::pricing::money::Money;
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

mod config;
mod iam;
mod ledger;
mod plan;
mod policy;
mod principals;
mod replay;
#[cfg(test)]
mod tests;

pub use config::*;
pub use iam::*;
pub use ledger::*;
pub use plan::*;
pub use policy::*;
pub use principals::*;
pub use replay::*;

//! The deny policy: its name (one per profile), the resources it denies, its self-expiring document,
//! and reading a stored one back.

use super::*;

/// FNV-1a 64, hex: a short stable digest for names that would be too long or hold other characters.
pub(super) fn digest(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The longest stack and Region parts of a policy name (longer ones become `h` + a digest).
pub(super) const MAX_STACK_PART: usize = 40;
pub(super) const MAX_REGION_PART: usize = 20;

/// A name part: itself when it is a plain IAM name of at most `max` characters without `.`, else
/// `h` + a 64-bit digest of it.
pub(super) fn name_part(s: &str, max: usize) -> String {
    if valid_name(s, max) && !s.contains('.') {
        s.to_string()
    } else {
        format!("h{}", digest(s))
    }
}

/// The part of a policy name that stands for the profile: the application profile's id (the ARN's
/// last segment, e.g. `a1b2c3d4e5f6`), or [`UNATTRIBUTED_KEY`]; a profile key that is not a plain id
/// (other characters, too long) becomes `h` + a digest of it.
pub fn profile_key(profile: &str) -> String {
    profile_key_within(profile, MAX_POLICY_NAME_CHARS - POLICY_PREFIX.len())
}

pub(super) fn profile_key_within(profile: &str, room: usize) -> String {
    let p = profile.trim();
    if p == UNATTRIBUTED_KEY || p == UNATTRIBUTED {
        return UNATTRIBUTED_KEY.into();
    }
    let id = match parse_arn(p) {
        Some(a) if a.resource_type == "application-inference-profile" => a.resource_id,
        _ => p,
    };
    if valid_name(id, room) {
        id.to_string()
    } else {
        format!("h{}", digest(p))
    }
}

/// The profile key a policy name ends with (after the last `.` of a stack's name, or after
/// [`POLICY_PREFIX`] for a name put before names carried the stack and Region).
pub fn profile_key_of(policy_name: &str) -> Option<&str> {
    let rest = policy_name.strip_prefix(POLICY_PREFIX)?;
    Some(rest.rsplit('.').next().unwrap_or(rest))
}

/// Characters that IAM reads as wildcards or policy variables in a `Resource`: a logged model or
/// profile id holding one never reaches a policy (it could deny far more than the runaway's target).
pub const RESOURCE_WILDCARDS: [char; 3] = ['*', '?', '$'];

pub(super) fn has_wildcard(s: &str) -> bool {
    s.contains(&RESOURCE_WILDCARDS[..])
}

/// The resources a containment denies: the application profile ARN, or (unattributed) the
/// foundation models and system profiles the caller called, in every Region of the partition.
pub(super) fn model_resources(partition: &str, account: &str, models: &[String]) -> Vec<String> {
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

pub(super) fn json_str(s: &str) -> String {
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

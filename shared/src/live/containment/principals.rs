//! Who can be contained: an IAM role or user named from the incident's caller ([`IamPrincipal`]).

use super::*;

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

pub(super) fn iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

pub(super) fn valid_name(n: &str, max: usize) -> bool {
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

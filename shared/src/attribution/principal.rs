//! The caller identity every path uses: the **principal** of a logged `identity.arn`.
//!
//! One rule, here only, used by `report`, `replay`, `tail`, the live metrics and detector, the daily
//! rollup SQL and the Athena query pack (the SQL form is generated from the same rule by
//! [`PrincipalRule::sql`]). User documentation: docs/callers.md.
//!
//! - An assumed-role ARN `arn:<partition>:sts::<account>:assumed-role/<role>/<session>` collapses to
//!   its role, `arn:<partition>:sts::<account>:assumed-role/<role>`: session names are usually
//!   per process, pod or request (`botocore-session-1712…`, `i-0abc…`), and one workload is one caller.
//! - Except roles whose name matches a **keep-session pattern** (default `AWSReservedSSO_*`, the roles
//!   IAM Identity Center creates): their session name is the person (`jane@example.com`), so the ARN is
//!   kept whole and each person is their own caller.
//! - Anything else (IAM users, root, federated users, roles' own ARNs, API-key users) is kept as
//!   logged; an empty or missing ARN is [`UNKNOWN_CALLER`].
//!
//! Patterns are role names with `*` (any run of characters) and `?` (one character), matched against
//! the whole role name, case-sensitively; configured as a comma-separated list (`KEEP_SESSION_ROLES`,
//! `--keep-session-roles`), `none` for no pattern (every session collapses).
//!
//! The rule is idempotent: the principal of a principal is itself, so a path may apply it twice (the
//! rollup SQL applies it, and the core applies it again to the rows it reads) without harm.

use crate::records::record::UNKNOWN_CALLER;

/// The default keep-session patterns: IAM Identity Center permission-set roles.
pub const DEFAULT_KEEP_SESSION_ROLES: &str = "AWSReservedSSO_*";

/// The environment variable (Lambdas) and CLI flag environment name of the patterns.
pub const KEEP_SESSION_ROLES_ENV: &str = "KEEP_SESSION_ROLES";

/// How a logged identity ARN becomes a caller (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrincipalRule {
    keep_session_roles: Vec<String>,
}

impl Default for PrincipalRule {
    fn default() -> Self {
        PrincipalRule::parse(DEFAULT_KEEP_SESSION_ROLES).expect("the default patterns are valid")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("keep-session role pattern {pattern:?}: only IAM role-name characters (A-Z a-z 0-9 + = , . @ _ -) and the wildcards * and ? are allowed")]
pub struct PatternError {
    pub pattern: String,
}

fn role_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// `*` and `?` wildcards over the whole of `text` (also the containment allow patterns).
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The parts of an assumed-role ARN: (the principal, i.e. the ARN up to the role name; the role name).
/// Exactly the shape the SQL form matches: `^arn:[^:]+:sts::[^:]*:assumed-role/([^/]+)/`.
fn assumed_role(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if partition.is_empty() {
        return None;
    }
    let rest = rest.strip_prefix("sts::")?;
    let (account, resource) = rest.split_once(':')?;
    let _ = account;
    let role_and_session = resource.strip_prefix("assumed-role/")?;
    let (role, _session) = role_and_session.split_once('/')?;
    if role.is_empty() {
        return None;
    }
    let end = arn.len() - role_and_session.len() + role.len();
    Some((&arn[..end], role))
}

impl PrincipalRule {
    /// Comma-separated patterns; blanks ignored; `none` (alone) for no pattern. An empty text is the
    /// default (like every other setting).
    pub fn parse(text: &str) -> Result<PrincipalRule, PatternError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(PrincipalRule::default());
        }
        if text.eq_ignore_ascii_case("none") {
            return Ok(PrincipalRule {
                keep_session_roles: Vec::new(),
            });
        }
        let mut keep = Vec::new();
        for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if !p.chars().all(|c| role_name_char(c) || c == '*' || c == '?') {
                return Err(PatternError {
                    pattern: p.to_string(),
                });
            }
            keep.push(p.to_string());
        }
        Ok(PrincipalRule {
            keep_session_roles: keep,
        })
    }

    /// The patterns, as configured.
    pub fn patterns(&self) -> &[String] {
        &self.keep_session_roles
    }

    /// Whether sessions of this role name are kept (the session is a person).
    pub fn keeps_sessions_of(&self, role: &str) -> bool {
        self.keep_session_roles
            .iter()
            .any(|p| glob_match(p.as_bytes(), role.as_bytes()))
    }

    /// The principal of a logged identity ARN (a slice of it, or [`UNKNOWN_CALLER`] when empty).
    pub fn principal<'a>(&self, arn: &'a str) -> &'a str {
        if arn.is_empty() {
            return UNKNOWN_CALLER;
        }
        match assumed_role(arn) {
            Some((principal, role)) if !self.keeps_sessions_of(role) => principal,
            _ => arn,
        }
    }

    /// The same rule as a Trino (Athena engine v3) expression over the string expression `arn` (which
    /// must not be NULL: wrap it in `coalesce`). An empty ARN stays empty.
    pub fn sql(&self, arn: &str) -> String {
        const SHAPE: &str = "^arn:[^:]+:sts::[^:]*:assumed-role/[^/]+/";
        const EXTRACT: &str = "^(arn:[^:]+:sts::[^:]*:assumed-role/[^/]+)/";
        let mut cond = format!("regexp_like({arn}, '{SHAPE}')");
        if !self.keep_session_roles.is_empty() {
            let alternatives: Vec<String> = self
                .keep_session_roles
                .iter()
                .map(|p| glob_regex(p))
                .collect();
            cond.push_str(&format!(
                " AND NOT regexp_like({arn}, '^arn:[^:]+:sts::[^:]*:assumed-role/({})/')",
                alternatives.join("|")
            ));
        }
        format!("CASE WHEN {cond} THEN regexp_extract({arn}, '{EXTRACT}', 1) ELSE {arn} END")
    }
}

/// Whether `caller` is an assumed role's principal (a role without a session: the principal of calls
/// made under any session name of the role).
pub(crate) fn is_role_principal(caller: &str) -> bool {
    let Some(rest) = caller.strip_prefix("arn:") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(':') else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("sts::") else {
        return false;
    };
    let Some((_account, resource)) = rest.split_once(':') else {
        return false;
    };
    !partition.is_empty()
        && resource
            .strip_prefix("assumed-role/")
            .is_some_and(|role| !role.is_empty() && !role.contains('/'))
}

/// A pattern as a regular expression over one role name (`*` → `[^/]*`, `?` → `[^/]`). Patterns hold
/// only role-name characters, of which `.` and `+` are special in a regex; none needs SQL quoting.
fn glob_regex(p: &str) -> String {
    let mut s = String::new();
    for c in p.chars() {
        match c {
            '*' => s.push_str("[^/]*"),
            '?' => s.push_str("[^/]"),
            '.' | '+' => {
                s.push('\\');
                s.push(c);
            }
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_roles_collapse_to_their_role() {
        let r = PrincipalRule::default();
        assert_eq!(
            r.principal("arn:aws:sts::111122223333:assumed-role/eks-pods/botocore-session-1712"),
            "arn:aws:sts::111122223333:assumed-role/eks-pods"
        );
        assert_eq!(
            r.principal("arn:aws-us-gov:sts::1:assumed-role/R/a/b"),
            "arn:aws-us-gov:sts::1:assumed-role/R"
        );
        // Idempotent: the principal of a principal is itself.
        assert_eq!(
            r.principal("arn:aws:sts::1:assumed-role/R"),
            "arn:aws:sts::1:assumed-role/R"
        );
        for kept in [
            "arn:aws:iam::1:user/path/bob",
            "arn:aws:iam::1:root",
            "arn:aws:sts::1:federated-user/bob",
            "arn:aws:iam::1:role/R",
            "not-an-arn",
            "arn:aws:sts::1:assumed-role//x",
        ] {
            assert_eq!(r.principal(kept), kept);
        }
        assert_eq!(r.principal(""), UNKNOWN_CALLER);
        assert!(is_role_principal("arn:aws:sts::1:assumed-role/R"));
        assert!(!is_role_principal("arn:aws:sts::1:assumed-role/R/s"));
        assert!(!is_role_principal("arn:aws:iam::1:user/R"));
    }

    #[test]
    fn sso_sessions_are_people() {
        let r = PrincipalRule::default();
        let jane = "arn:aws:sts::1:assumed-role/AWSReservedSSO_Dev_0123abcd/jane@example.com";
        assert_eq!(r.principal(jane), jane);
        let none = PrincipalRule::parse("none").unwrap();
        assert_eq!(
            none.principal(jane),
            "arn:aws:sts::1:assumed-role/AWSReservedSSO_Dev_0123abcd"
        );
        let custom = PrincipalRule::parse(" Human-*, ops.?ole ,").unwrap();
        assert_eq!(custom.patterns(), ["Human-*", "ops.?ole"]);
        assert!(custom.keeps_sessions_of("Human-Admins"));
        assert!(custom.keeps_sessions_of("ops.role"));
        assert!(!custom.keeps_sessions_of("opsXrole"));
        assert!(!custom.keeps_sessions_of("AWSReservedSSO_Dev"));
        assert!(!custom.keeps_sessions_of("xHuman-"));
        assert_eq!(PrincipalRule::parse("").unwrap(), PrincipalRule::default());
        assert!(PrincipalRule::parse("a/b").is_err());
        assert!(PrincipalRule::parse("it's").is_err());
    }

    #[test]
    fn glob() {
        for (p, t, m) in [
            ("*", "", true),
            ("a*b*c", "aXXbYc", true),
            ("a*b*c", "aXXbY", false),
            ("?", "", false),
            ("AWSReservedSSO_*", "AWSReservedSSO_", true),
            ("a**", "a", true),
        ] {
            assert_eq!(glob_match(p.as_bytes(), t.as_bytes()), m, "{p} {t}");
        }
    }

    #[test]
    fn sql_form_names_the_same_shape() {
        let sql = PrincipalRule::parse("AWSReservedSSO_*,a.b+c")
            .unwrap()
            .sql("x");
        assert_eq!(
            sql,
            "CASE WHEN regexp_like(x, '^arn:[^:]+:sts::[^:]*:assumed-role/[^/]+/') AND NOT regexp_like(x, '^arn:[^:]+:sts::[^:]*:assumed-role/(AWSReservedSSO_[^/]*|a\\.b\\+c)/') THEN regexp_extract(x, '^(arn:[^:]+:sts::[^:]*:assumed-role/[^/]+)/', 1) ELSE x END"
        );
        assert!(!PrincipalRule::parse("none")
            .unwrap()
            .sql("x")
            .contains("NOT"));
    }
}

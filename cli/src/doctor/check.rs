//! The checklist's vocabulary: a [`Check`] (id, title, [`Status`], summary, details, fix) and the
//! helpers every group of checks words its findings with.

use serde::Serialize;

/// A check's verdict; ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
}

impl Status {
    pub(super) fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(super) struct Check {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) status: Status,
    pub(super) summary: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) details: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fix: Option<String>,
}

impl Check {
    pub(super) fn new(
        id: &'static str,
        title: &'static str,
        status: Status,
        summary: String,
    ) -> Check {
        Check {
            id,
            title,
            status,
            summary,
            details: Vec::new(),
            fix: None,
        }
    }
    pub(super) fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
    pub(super) fn details(mut self, d: Vec<String>) -> Check {
        self.details = d;
        self
    }
}

/// A fact that could not be read: a failure, with the permission doctor needs.
pub(super) fn could_not(id: &'static str, title: &'static str, e: &str, permission: &str) -> Check {
    let fix = if e.contains("AccessDenied") || e.contains("UnauthorizedOperation") {
        format!("allow {permission} to whoever runs doctor")
    } else {
        format!(
            "retry; if it persists, check the Region and the network (doctor needs {permission})"
        )
    };
    Check::new(id, title, Status::Fail, format!("could not check: {e}")).fix(fix)
}

pub(super) fn s3_url(bucket: &str, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("s3://{bucket}/{}", p.trim_end_matches('/')),
        _ => format!("s3://{bucket}"),
    }
}

/// A duration for people: `90 s`, `15 min`, `5 h`, `3 days`.
pub(super) fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

//! The notification port: a [`Notification`] (subject, body, string attributes) is what an alert, a
//! daily email or a failure report renders to; a [`Notifier`] publishes it (SNS in `aws::sns`).
//! SNS's limits live here, since the renderers must keep within them.

use std::future::Future;

use super::AwsError;

/// SNS limits: subject under 100 characters, message at most 256 KiB (262,144 bytes) including
/// attributes.
pub(crate) const MAX_SUBJECT_CHARS: usize = 99;
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// One message to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub body: String,
    /// String message attributes (name, value).
    pub attributes: Vec<(String, String)>,
}

pub trait Notifier {
    /// Publishes to the topic; returns the message id.
    fn publish(
        &self,
        topic_arn: &str,
        n: &Notification,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
}

/// A subject SNS accepts: "ASCII text that begins with a letter, number, or punctuation mark; must
/// not include line breaks or control characters; and must be less than 100 characters long". Line
/// breaks and other control characters become spaces, accented letters and typographic punctuation
/// their ASCII forms (`É` → `E`, `—` → `-`), any other non-ASCII character `?`; leading spaces go;
/// a subject longer than 99 characters is cut and ends with `...`.
pub fn fit_subject(s: &str) -> String {
    let mut clean = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            clean.push(if c.is_ascii_control() { ' ' } else { c });
        } else if let Some(f) = crate::text::ascii_fold(c) {
            clean.push_str(f);
        } else if c.is_whitespace() || c.is_control() {
            clean.push(' ');
        } else {
            clean.push('?');
        }
    }
    let clean = clean.trim_start();
    let clean = if clean.is_empty() {
        "bedrock-meter"
    } else {
        clean
    };
    if clean.len() <= MAX_SUBJECT_CHARS {
        return clean.to_string();
    }
    // ASCII: bytes are characters.
    format!("{}...", &clean[..MAX_SUBJECT_CHARS - 3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fit() {
        assert_eq!(fit_subject("Bedrock runaway: a\nb"), "Bedrock runaway: a b");
        assert_eq!(
            fit_subject("Bedrock spend 2026-11-25 — Équipe: $1.00"),
            "Bedrock spend 2026-11-25 - Equipe: $1.00"
        );
        assert_eq!(fit_subject(" \tchat 😀"), "chat ?");
        assert_eq!(fit_subject(""), "bedrock-meter");
        let long = "é".repeat(150);
        let s = fit_subject(&long);
        assert_eq!(s.len(), MAX_SUBJECT_CHARS);
        assert!(s.ends_with("..."));
        for s in [s, fit_subject("a\u{1}b…"), fit_subject("x")] {
            assert!(s.len() <= MAX_SUBJECT_CHARS);
            assert!(s.bytes().all(|b| (0x20..0x7f).contains(&b)), "{s:?}");
            assert!(s.as_bytes()[0].is_ascii_graphic(), "{s:?}");
        }
    }
}

//! The notification port: a [`Notification`] (subject, body, string attributes) is what an alert, a
//! daily email or a failure report renders to; a [`Notifier`] publishes it (SNS in `aws::sns`).
//! SNS's limits live here, since the renderers must keep within them.

use std::future::Future;

use super::AwsError;

/// SNS limits: subject under 100 characters, message at most 256 KiB (262,144 bytes) including
/// attributes ("All parts of the message attribute, including name, type, and value, are included in
/// the message size restriction", SNS API reference, `MessageAttributeValue`).
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

/// A message attribute value SNS accepts: never empty.
pub fn attribute_value(v: &str) -> &str {
    if v.is_empty() {
        "none"
    } else {
        v
    }
}

/// The bytes SNS counts for the attributes as published: each name, data type (`String`) and value.
pub fn attributes_bytes(attributes: &[(String, String)]) -> usize {
    attributes
        .iter()
        .map(|(k, v)| k.len() + "String".len() + attribute_value(v).len())
        .sum()
}

/// The `Message` parameter of one publish, within SNS's limit together with the attributes: the body
/// (plain), or with `chat` the `MessageStructure=json` message that carries the body twice (email and
/// default) beside the chat notification ([`crate::live::chat::fit_message_structure`]). A body too
/// big is cut at a line boundary and ends with [`crate::text::CUT_NOTE`]; never empty.
pub fn message_as_sent(n: &Notification, chat: bool) -> String {
    let budget = MAX_MESSAGE_BYTES.saturating_sub(attributes_bytes(&n.attributes));
    let m = if chat {
        crate::live::chat::fit_message_structure(&n.subject, &n.body, &n.attributes, budget)
    } else {
        crate::text::cut_bytes(&n.body, budget)
    };
    if m.is_empty() {
        // SNS refuses an empty message.
        "(empty)".to_string()
    } else {
        m
    }
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

    fn sent_bytes(n: &Notification, chat: bool) -> usize {
        message_as_sent(n, chat).len() + attributes_bytes(&n.attributes)
    }

    #[test]
    fn messages_fit_sns_with_their_attributes_in_both_modes() {
        let attributes = vec![
            ("team".to_string(), "platform".to_string()),
            ("app".to_string(), String::new()),
        ];
        assert_eq!(attributes_bytes(&attributes), 4 + 6 + 8 + 3 + 6 + 4);
        let small = Notification {
            subject: "s".into(),
            body: "Total  $1.00\nRequests  3\n".into(),
            attributes: attributes.clone(),
        };
        assert_eq!(message_as_sent(&small, false), small.body);
        let m: serde_json::Value = serde_json::from_str(&message_as_sent(&small, true)).unwrap();
        assert_eq!(m["email"], small.body.as_str());
        // A 150 KB body: plain it fits as it is; in chat mode it goes out twice, so it is cut.
        let line = "  some-app (some-team)            $1.00      3 req\n";
        let big = Notification {
            body: line.repeat(150_000 / line.len() + 1),
            ..small.clone()
        };
        assert!(big.body.len() > 150_000);
        assert_eq!(message_as_sent(&big, false), big.body);
        let sent = message_as_sent(&big, true);
        assert!(sent.len() + attributes_bytes(&attributes) <= MAX_MESSAGE_BYTES);
        let m: serde_json::Value = serde_json::from_str(&sent).unwrap();
        let body = m["default"].as_str().unwrap();
        assert_eq!(m["email"], body);
        assert!(
            body.ends_with(crate::text::CUT_NOTE),
            "{}",
            &body[body.len() - 80..]
        );
        assert!(
            body.len() > 100_000,
            "cut no more than needed: {}",
            body.len()
        );
        assert!(big
            .body
            .starts_with(body.strip_suffix(crate::text::CUT_NOTE).unwrap()));
        // Bodies that grow when JSON-escaped, and bodies over the limit in plain mode too.
        for body in [
            "\"\\\"\\\n".repeat(100_000),
            "é\u{1}".repeat(100_000),
            "x".repeat(300_000),
        ] {
            let n = Notification {
                body,
                ..small.clone()
            };
            for chat in [false, true] {
                assert!(sent_bytes(&n, chat) <= MAX_MESSAGE_BYTES, "chat {chat}");
                assert!(message_as_sent(&n, chat).contains("[truncated to fit"));
            }
        }
    }
}

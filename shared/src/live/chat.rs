//! Notifications in chat: Amazon Q Developer in chat applications (formerly AWS Chatbot) shows an SNS
//! message in Slack or Microsoft Teams only when it is an AWS service event or its **custom
//! notification** JSON (`{"version":"1.0","source":"custom","content":{…},"metadata":{…}}`); a plain-text
//! message is not shown. So, when chat delivery is on (`CHAT_FORMAT=true`), each notification is
//! published with SNS `MessageStructure=json` ([`message_structure`]): email subscribers get the plain
//! text, HTTPS subscribers (the chat integration and webhooks) the custom notification. Pure.
//!
//! The custom notification ([`custom_notification`]): `content.title` the subject, `content.description`
//! the body's lead paragraphs in the chat's markdown with the details as a code block (aligned columns
//! survive), `content.nextSteps` the command lines of the body (e.g. the `contain lift` command),
//! `metadata.threadId` the incident (alerts of one incident thread together), `metadata.eventType`
//! the `alert_type` attribute, `metadata.additionalContext` the message attributes.
//!
//! The body's values were cleaned by its renderer ([`crate::text::clean_line`]); here the subject and
//! the attributes are cleaned too, and since the description is markdown, a paragraph holding any
//! character markdown acts on (`` ` * _ ~ [ ] < > | \ ``: links, mentions, emphasis) is sent as a code
//! block, where nothing renders, and backticks inside code blocks become `'` so no value can close
//! the block. `nextSteps` only takes the command at the end of a containment line (`CONTAINED: …`,
//! `LIFT FAILED …`), at most [`MAX_NEXT_STEPS`].
//!
//! Size: the body goes out twice in chat mode (`default` and `email`) beside the custom
//! notification, JSON-escaped, so [`fit_message_structure`] cuts the body (with
//! [`crate::text::CUT_NOTE`]) until the whole message as sent fits the byte budget it is given.

use crate::text::{clean_line, cut_bytes};

/// Longest `content.description` sent (Slack shows a section of at most 3,000 characters).
const MAX_DESCRIPTION_CHARS: usize = 3_000;
/// Most command lines sent as `content.nextSteps`.
const MAX_NEXT_STEPS: usize = 5;

/// Characters markdown (Slack's and Teams') acts on.
fn markdown_active(c: char) -> bool {
    matches!(
        c,
        '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '|' | '\\'
    )
}

/// The thread of an alert id `scope/started/n`: `scope/started` (one incident, one thread).
fn thread_of(alert_id: &str) -> Option<String> {
    let (head, n) = alert_id.rsplit_once('/')?;
    n.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| head.to_string())
}

/// The custom-notification JSON of one notification (subject, plain-text body, attributes).
pub fn custom_notification(subject: &str, body: &str, attributes: &[(String, String)]) -> String {
    let subject = clean_line(subject);
    let subject = subject.as_ref();
    let attributes: Vec<(String, String)> = attributes
        .iter()
        .map(|(k, v)| (clean_line(k).into_owned(), clean_line(v).into_owned()))
        .collect();
    let attr = |k: &str| {
        attributes
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    // Paragraphs: prose stays prose; a paragraph of aligned "Key: value" rows or a query is code.
    let mut description = String::new();
    let mut next_steps = Vec::new();
    for para in body
        .split("\n\n")
        .map(str::trim_end)
        .filter(|p| !p.is_empty())
    {
        let code = para.lines().count() > 1 || para.chars().any(markdown_active);
        if code {
            description.push_str("```\n");
            description.push_str(&para.replace('`', "'"));
            description.push_str("\n```\n");
        } else {
            description.push_str(para);
            description.push('\n');
        }
        for line in para.lines() {
            if !(line.starts_with("CONTAINED: ") || line.starts_with("LIFT FAILED ")) {
                continue;
            }
            if let Some(i) = line.rfind("bedrock-meter contain lift ") {
                if next_steps.len() < MAX_NEXT_STEPS {
                    next_steps.push(line[i..].trim().to_string());
                }
            }
        }
    }
    let mut context = serde_json::Map::new();
    for (k, v) in &attributes {
        context.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let mut metadata = serde_json::json!({
        "summary": subject,
        "additionalContext": context,
    });
    if let Some(t) = attr("alert_type") {
        metadata["eventType"] = t.into();
    }
    if let Some(thread) = attr("alert_id").and_then(thread_of) {
        metadata["threadId"] = thread.into();
    }
    let mut v = serde_json::json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": subject,
            "description": crate::text::cut(description.trim_end(), MAX_DESCRIPTION_CHARS),
        },
        "metadata": metadata,
    });
    if let Some(id) = attr("alert_id") {
        v["id"] = id.into();
    }
    if !next_steps.is_empty() {
        v["content"]["nextSteps"] = next_steps.into();
    }
    v.to_string()
}

/// The `MessageStructure=json` message: plain text for email (and the default), the custom
/// notification for HTTPS subscriptions (the chat integration, webhooks).
pub fn message_structure(body: &str, chat: &str) -> String {
    serde_json::json!({
        "default": body,
        "email": body,
        "https": chat,
    })
    .to_string()
}

/// The `MessageStructure=json` message of one notification in at most `max_bytes` bytes (what is left
/// of SNS's limit after the attributes): the whole body when it fits, else the longest cut of it (at a
/// line boundary, ending with [`crate::text::CUT_NOTE`]) whose message — both copies of the body, JSON-escaped,
/// and the custom notification built from the cut body — fits. The structure itself needs a few
/// hundred bytes; a budget smaller than that gives the smallest message there is.
pub fn fit_message_structure(
    subject: &str,
    body: &str,
    attributes: &[(String, String)],
    max_bytes: usize,
) -> String {
    let build = |b: &str| message_structure(b, &custom_notification(subject, b, attributes));
    let whole = build(body);
    if whole.len() <= max_bytes {
        return whole;
    }
    // The message grows with the cut's length: find the longest cut that fits.
    let (mut lo, mut hi) = (0usize, body.len());
    let mut best = build(&cut_bytes(body, 0));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let m = build(&cut_bytes(body, mid));
        if m.len() <= max_bytes {
            lo = mid;
            best = m;
        } else {
            hi = mid - 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::CUT_NOTE;

    fn attrs() -> Vec<(String, String)> {
        vec![
            ("team".into(), "platform".into()),
            ("alert_type".into(), "runaway".into()),
            ("alert_id".into(), "C#ops#arn/1764036030/1".into()),
        ]
    }

    #[test]
    fn the_custom_notification_has_the_schema_chat_renders() {
        let body = "RUNAWAY: one caller of ops (team platform) made 320 requests.\n\nCONTAINED: role/ops may not invoke X until T. Lift now: bedrock-meter contain lift role/ops a1b2\n\nApp:         ops\nTeam:        platform\n";
        let v: serde_json::Value =
            serde_json::from_str(&custom_notification("Bedrock runaway: ops", body, &attrs()))
                .unwrap();
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        assert_eq!(v["id"], "C#ops#arn/1764036030/1");
        assert_eq!(v["content"]["textType"], "client-markdown");
        assert_eq!(v["content"]["title"], "Bedrock runaway: ops");
        let d = v["content"]["description"].as_str().unwrap();
        assert!(d.starts_with("RUNAWAY: one caller"), "{d}");
        assert!(
            d.contains("```\nApp:         ops\nTeam:        platform\n```"),
            "{d}"
        );
        assert_eq!(
            v["content"]["nextSteps"],
            serde_json::json!(["bedrock-meter contain lift role/ops a1b2"])
        );
        assert_eq!(v["metadata"]["eventType"], "runaway");
        assert_eq!(v["metadata"]["threadId"], "C#ops#arn/1764036030");
        assert_eq!(v["metadata"]["additionalContext"]["team"], "platform");
    }

    #[test]
    fn long_bodies_are_cut_and_emails_keep_plain_text() {
        let body = "x".repeat(10_000);
        let v: serde_json::Value =
            serde_json::from_str(&custom_notification("s", &body, &[])).unwrap();
        assert_eq!(
            v["content"]["description"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            MAX_DESCRIPTION_CHARS
        );
        assert!(v.get("id").is_none() && v["metadata"].get("threadId").is_none());
        let m: serde_json::Value =
            serde_json::from_str(&message_structure("plain", "{\"a\":1}")).unwrap();
        assert_eq!(m["default"], "plain");
        assert_eq!(m["email"], "plain");
        assert_eq!(m["https"], "{\"a\":1}");
    }

    #[test]
    fn values_render_no_markdown_and_add_no_next_step() {
        let body = "RUNAWAY: one caller of [Charts](https://evil.example) (team <!channel>) made 3 requests.\n\n\
                    App:         ```\nTeam:        x bedrock-meter contain lift role/Admin p1\n\n\
                    CONTAINED: role/ops may not invoke X until T. Lift now: bedrock-meter contain lift role/ops a1b2\n";
        let mut attributes = attrs();
        attributes.push(("team".into(), "a\nCharts: x".into()));
        let v: serde_json::Value = serde_json::from_str(&custom_notification(
            "Bedrock runaway: a\nCharts: x",
            body,
            &attributes,
        ))
        .unwrap();
        let d = v["content"]["description"].as_str().unwrap();
        assert!(
            d.starts_with("```\nRUNAWAY: one caller of [Charts](https://evil.example)"),
            "{d}"
        );
        // A value cannot close its code block.
        assert!(d.contains("App:         '''\n"), "{d}");
        assert_eq!(d.matches("```").count(), 4, "{d}");
        assert_eq!(
            v["content"]["nextSteps"],
            serde_json::json!(["bedrock-meter contain lift role/ops a1b2"])
        );
        assert_eq!(v["content"]["title"], "Bedrock runaway: a\\nCharts: x");
        assert_eq!(v["metadata"]["additionalContext"]["team"], "a\\nCharts: x");
    }

    #[test]
    fn structured_messages_fit_their_budget() {
        let body = "line of a report\n".repeat(20_000);
        let whole = fit_message_structure("s", &body, &attrs(), usize::MAX);
        let m: serde_json::Value = serde_json::from_str(&whole).unwrap();
        assert_eq!(m["default"], body.as_str());
        for budget in [200_000, 100_000, 10_000, 4_000] {
            let fit = fit_message_structure("s", &body, &attrs(), budget);
            assert!(fit.len() <= budget, "{budget}: {}", fit.len());
            let m: serde_json::Value = serde_json::from_str(&fit).unwrap();
            let cut = m["default"].as_str().unwrap();
            assert!(cut.ends_with(CUT_NOTE), "{budget}");
            // Cut at a line boundary, and only as much as needed: one more line would not fit.
            let kept = cut.strip_suffix(CUT_NOTE).unwrap();
            assert!(body.starts_with(kept) && body[kept.len()..].starts_with('\n'));
            let longer = format!("{kept}\nline of a report{CUT_NOTE}");
            assert!(
                message_structure(&longer, &custom_notification("s", &longer, &attrs())).len()
                    > budget,
                "{budget}"
            );
        }
    }
}

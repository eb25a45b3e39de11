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

/// Longest `content.description` sent (Slack shows a section of at most 3,000 characters).
const MAX_DESCRIPTION_CHARS: usize = 3_000;

/// The thread of an alert id `scope/started/n`: `scope/started` (one incident, one thread).
fn thread_of(alert_id: &str) -> Option<String> {
    let (head, n) = alert_id.rsplit_once('/')?;
    n.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| head.to_string())
}

/// The custom-notification JSON of one notification (subject, plain-text body, attributes).
pub fn custom_notification(subject: &str, body: &str, attributes: &[(String, String)]) -> String {
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
        let tabular = para.lines().count() > 1;
        if tabular {
            description.push_str("```\n");
            description.push_str(para);
            description.push_str("\n```\n");
        } else {
            description.push_str(para);
            description.push('\n');
        }
        for line in para.lines() {
            if let Some(i) = line.find("bedrock-meter contain lift ") {
                next_steps.push(line[i..].trim().to_string());
            }
        }
    }
    let mut context = serde_json::Map::new();
    for (k, v) in attributes {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

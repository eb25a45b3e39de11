//! Settings read from the environment (the template sets them; tests pass a map through `get`): one
//! reading of a value, one boolean grammar, one error. A missing or empty setting takes its default;
//! a present but invalid one is an error, never silently the default.

/// A setting that is present but not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {value:?} is not {expected}")]
pub struct SettingError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The setting `name` through `get`, trimmed; `None` when missing or empty.
pub fn value(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A comma-separated list (entries trimmed, empty ones dropped); a missing setting is empty.
pub fn list(get: &impl Fn(&str) -> Option<String>, name: &str) -> Vec<String> {
    value(get, name)
        .map(|v| {
            v.split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off` (any case).
pub fn flag(name: &'static str, v: &str) -> Result<bool, SettingError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(SettingError {
            name,
            value: v.to_string(),
            expected: "true or false",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_and_flags() {
        let get = |k: &str| match k {
            "A" => Some("  x ".to_string()),
            "B" => Some("   ".to_string()),
            "L" => Some(" tenant, ,job ".to_string()),
            _ => None,
        };
        assert_eq!(value(&get, "A").as_deref(), Some("x"));
        assert_eq!(value(&get, "B"), None, "empty is missing");
        assert_eq!(value(&get, "C"), None);
        assert_eq!(list(&get, "L"), ["tenant", "job"]);
        assert!(list(&get, "C").is_empty());
        assert_eq!(flag("F", " Yes"), Ok(true));
        assert_eq!(flag("F", "off"), Ok(false));
        let e = flag("F", "maybe").unwrap_err();
        assert_eq!(e.to_string(), "F: \"maybe\" is not true or false");
    }
}

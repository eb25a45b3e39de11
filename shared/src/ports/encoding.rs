//! How AWS APIs hand text back: IAM's `Get*Policy` and `GetRole` return policy documents URL-encoded
//! (RFC 3986). One decoder, [`percent_decode`], for them and for the URL paths the test stubs route
//! on; [`decode_policy_document`] takes a document either way.

/// Decodes `%XX` escapes (RFC 3986); anything else, including `+` and a `%` without two hex digits
/// after it, is kept as is. Invalid UTF-8 after decoding is replaced (`U+FFFD`).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document as IAM returns it: URL-encoded JSON (decoded), or JSON as is.
pub fn decode_policy_document(s: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(s).is_ok() {
        return s.to_string();
    }
    percent_decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_and_the_rest_kept() {
        assert_eq!(percent_decode("a%2Fb%3Ac"), "a/b:c");
        assert_eq!(percent_decode("100%"), "100%", "a % at the end");
        assert_eq!(percent_decode("%4"), "%4", "one hex digit");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("a+b"), "a+b", "RFC 3986: + is not a space");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn a_document_is_decoded_only_when_it_is_not_json() {
        let json = r#"{"Statement":[{"Sid":"100%25"}]}"#;
        assert_eq!(decode_policy_document(json), json, "JSON is kept as is");
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(
            decode_policy_document(encoded),
            r#"{"Version":"2012-10-17"}"#
        );
        let doc = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(decode_policy_document(enc), doc);
    }
}

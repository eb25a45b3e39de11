//! Text helpers every renderer shares: thousands separators, cutting to a width or a byte budget,
//! ASCII folding, and [`clean_line`], the one cleaning every attacker-written value goes through
//! before it is put into text that leaves bedrock-meter (alerts, chat, emails, subjects, report
//! tables and CSV).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `1234567` → `1,234,567` (a string of ASCII digits).
pub fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn thousands(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// `s` cut to at most `max` characters, ending in `…` when cut (also the chat descriptions).
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Whether `c` may not stand inside one line of text that goes out: every control character (C0
/// including tab, CR and LF; DEL; C1 including NEL), the Unicode line and paragraph separators, the
/// bidirectional controls (which reorder what a reader sees) and the two non-characters.
fn forges_lines(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{fffe}'
                | '\u{ffff}'
        )
}

/// One attacker-written value (a tag, a `requestMetadata` value, a model id, a caller, an app or team
/// name) made safe to put on one line of outgoing text: every character that could end the line,
/// start another or reorder what a reader sees is written out visibly instead (`\n`, `\r`, `\t`,
/// `\u{202e}`), so a value can never forge a line such as `Charts: https://…` below the one it is on,
/// and the reader still sees that the value held something odd. Everything else is kept as it is
/// (HTML, JSON and CSV escaping stay the job of their renderers). Borrows when nothing changes.
pub fn clean_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(forges_lines) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if forges_lines(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The note that ends a text cut to a byte budget ([`cut_bytes`]).
pub const CUT_NOTE: &str = "\n[truncated to fit the message size limit]\n";

/// `text` in at most `max` bytes: cut at a line (or, failing that, character) boundary and ending
/// with [`CUT_NOTE`] when cut (the note is left out only when `max` cannot hold it).
pub fn cut_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(CUT_NOTE.len());
    let mut end = room.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(nl) = text[..end].rfind('\n') {
        end = nl;
    }
    let mut out = text[..end].to_string();
    if out.len() + CUT_NOTE.len() <= max {
        out.push_str(CUT_NOTE);
    }
    out
}

/// A non-ASCII character's ASCII form, when it has an obvious one: accented Latin letters (Latin-1
/// Supplement and the common Latin Extended-A letters) and typographic punctuation.
pub fn ascii_fold(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{a0}' => " ",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{2018}' | '\u{2019}' | '\u{201a}' => "'",
        '\u{201c}' | '\u{201d}' | '\u{201e}' => "\"",
        '\u{2026}' => "...",
        '\u{b1}' => "+/-",
        '\u{d7}' => "x",
        'À'..='Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' | 'Ć' | 'Č' => "C",
        'ç' | 'ć' | 'č' => "c",
        'Ð' | 'Ď' | 'Đ' => "D",
        'ð' | 'ď' | 'đ' => "d",
        'È'..='Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'è'..='ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'Ì'..='Ï' | 'Ī' | 'Į' | 'İ' => "I",
        'ì'..='ï' | 'ī' | 'į' | 'ı' => "i",
        'Ł' => "L",
        'ł' => "l",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ñ' | 'ń' | 'ň' => "n",
        'Ò'..='Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'ò'..='ö' | 'ø' | 'ō' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ř' => "R",
        'ř' => "r",
        'Ś' | 'Š' | 'Ş' => "S",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'Ť' | 'Ţ' => "T",
        'ť' | 'ţ' => "t",
        'Þ' => "TH",
        'þ' => "th",
        'Ù'..='Ü' | 'Ū' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ù'..='ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'Ý' | 'Ÿ' => "Y",
        'ý' | 'ÿ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_line_writes_out_what_could_forge_a_line() {
        assert!(matches!(clean_line("ops-agent é 😀"), Cow::Borrowed(_)));
        assert_eq!(
            clean_line("ops\nCharts: https://evil.example/x"),
            "ops\\nCharts: https://evil.example/x"
        );
        assert_eq!(clean_line("a\r\nb\tc"), "a\\r\\nb\\tc");
        for (forged, shown) in [
            ("x\u{0b}y", "x\\u{000b}y"),
            ("x\u{0c}y", "x\\u{000c}y"),
            ("x\u{1b}[31my", "x\\u{001b}[31my"),
            ("x\u{7f}y", "x\\u{007f}y"),
            ("x\u{85}y", "x\\u{0085}y"),
            ("x\u{2028}y", "x\\u{2028}y"),
            ("x\u{2029}y", "x\\u{2029}y"),
            ("x\u{202e}y", "x\\u{202e}y"),
            ("x\u{2066}y", "x\\u{2066}y"),
        ] {
            let c = clean_line(forged);
            assert_eq!(c, shown);
            assert_eq!(c.lines().count(), 1);
            assert!(!c.chars().any(forges_lines), "{c:?}");
        }
    }

    #[test]
    fn cut_bytes_fits_and_says_so() {
        let text = "line one\nline two\nline three\n".repeat(100);
        assert_eq!(cut_bytes(&text, text.len()), text);
        for max in [0, 10, 45, 100, 1_000, 2_999] {
            let c = cut_bytes(&text, max);
            assert!(c.len() <= max, "{max}: {}", c.len());
            if max >= CUT_NOTE.len() && max < text.len() {
                assert!(c.ends_with(CUT_NOTE), "{max}: {c:?}");
            }
        }
        let c = cut_bytes(&"é".repeat(100), 60);
        assert!(c.len() <= 60 && c.ends_with(CUT_NOTE));
    }
}

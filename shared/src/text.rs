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

/// `1 request`, `2 requests`, `1,234 requests`: a count and its noun, plural unless the count is 1
/// (the noun's plural is the noun and `s`).
pub fn count(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// `n` in at most five characters, to three significant digits: `869`, `1.23K`, `56.6M`, `412M`,
/// `1.00G` (K, M, G, T, P, E: powers of 1,000). For tables, where the exact figure is elsewhere.
pub fn compact(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    let mut scale = 1000.0_f64;
    for (i, unit) in UNITS.iter().enumerate() {
        let v = n as f64 / scale;
        let text = if v < 9.995 {
            format!("{v:.2}")
        } else if v < 99.95 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        };
        // 1000 or more of this unit (also when rounded up to it): the next unit says it (1.00M).
        if v < 999.5 || i + 1 == UNITS.len() {
            return format!("{text}{unit}");
        }
        scale *= 1000.0;
    }
    unreachable!("the last unit always returns")
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

/// `s` in at most `max` characters: when longer, its start and its end with `…` between them.
pub fn cut_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let head = keep / 2;
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
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

    #[test]
    fn counts_are_singular_for_one_only() {
        assert_eq!(count(0, "request"), "0 requests");
        assert_eq!(count(1, "request"), "1 request");
        assert_eq!(count(2, "request"), "2 requests");
        assert_eq!(count(1234, "line"), "1,234 lines");
    }

    #[test]
    fn cut_middle_keeps_both_ends() {
        assert_eq!(cut_middle("short", 10), "short");
        assert_eq!(cut_middle("abcdefghij", 7), "abc…hij");
        assert_eq!(cut_middle("ééééé-üüüüü", 5), "éé…üü");
        assert_eq!(cut_middle("abc", 1), "…");
    }

    #[test]
    fn compact_keeps_three_significant_digits_in_five_characters() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1000, "1.00K"),
            (1234, "1.23K"),
            (9_994, "9.99K"),
            (9_995, "10.0K"),
            (56_600_964, "56.6M"),
            (99_949, "99.9K"),
            (99_950, "100K"),
            (412_238_442, "412M"),
            (999_499, "999K"),
            (999_500, "1.00M"),
            (1_000_000_000, "1.00G"),
            (u64::MAX, "18.4E"),
        ] {
            assert_eq!(compact(n), want, "{n}");
        }
        for n in (0..64)
            .map(|b| (1u64 << b) - 1)
            .chain((0..20).map(|e| 10u64.pow(e) - 1))
        {
            assert!(compact(n).chars().count() <= 5, "{n}: {}", compact(n));
        }
    }
}

//! Text helpers every renderer shares: thousands separators, cutting to a width, ASCII folding.

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

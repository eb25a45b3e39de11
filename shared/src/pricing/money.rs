//! Exact money. Amounts are whole femto-dollars (1e-15 USD) in an `i128`: a per-token rate of a price
//! quoted per million tokens with up to nine decimals is a whole number of femto-dollars, so
//! `tokens × rate` is exact and sums never drift, whatever the order of accumulation.

use crate::text::group_thousands;
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

/// Femto-dollars per dollar.
pub(crate) const FEMTO_PER_USD: i128 = 1_000_000_000_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i128);

/// A price per token, in femto-dollars (= USD per 1M tokens × 1e9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub i128);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("not a decimal number: {0:?}")]
    Syntax(String),
    #[error("more than {max} decimals in {text:?}")]
    TooPrecise { text: String, max: u32 },
    #[error("number out of range: {0:?}")]
    Range(String),
}

/// Parses a non-negative decimal `123.456` into an integer scaled by 10^scale, exactly.
fn parse_scaled(text: &str, scale: u32) -> Result<i128, DecimalError> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty())
        || !ok(int)
        || !ok(frac)
        || (t.contains('.') && frac.is_empty())
    {
        return Err(DecimalError::Syntax(text.to_string()));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() as u32 > scale {
        return Err(DecimalError::TooPrecise {
            text: text.to_string(),
            max: scale,
        });
    }
    if int.len() > 20 {
        return Err(DecimalError::Range(text.to_string()));
    }
    let int_v: i128 = if int.is_empty() {
        0
    } else {
        int.parse()
            .map_err(|_| DecimalError::Range(text.to_string()))?
    };
    let frac_v: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse()
            .map_err(|_| DecimalError::Syntax(text.to_string()))?
    };
    let scaled = int_v
        .checked_mul(10i128.pow(scale))
        .and_then(|v| v.checked_add(frac_v * 10i128.pow(scale - frac.len() as u32)))
        .ok_or_else(|| DecimalError::Range(text.to_string()))?;
    Ok(scaled)
}

impl Rate {
    /// From a price in USD per 1M tokens, given as decimal text (up to nine decimals).
    pub fn per_million(text: &str) -> Result<Rate, DecimalError> {
        parse_scaled(text, 9).map(Rate)
    }

    /// USD per 1M tokens, as decimal text without trailing zeros.
    pub fn per_million_text(self) -> String {
        trim_decimal(&format_scaled(self.0, 9))
    }

    /// This rate times an exact decimal factor (e.g. "1.1"); `None` if the product is not exact at
    /// nine decimals per 1M tokens.
    pub fn times(self, factor: &str) -> Option<Rate> {
        let f = parse_scaled(factor, 6).ok()?;
        let p = self.0.checked_mul(f)?;
        (p % 1_000_000 == 0).then_some(Rate(p / 1_000_000))
    }
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_usd_text(text: &str) -> Result<Money, DecimalError> {
        let neg = text.trim().starts_with('-');
        let v = parse_scaled(text.trim().trim_start_matches('-'), 15)?;
        Ok(Money(if neg { -v } else { v }))
    }

    /// Rounded half away from zero to `decimals` (≤ 15) places, as text: `12.345678`.
    pub fn to_decimal_string(self, decimals: u32) -> String {
        format_scaled(self.rounded(decimals), decimals)
    }

    /// The amount in units of 10^-`decimals` USD (at most 15), rounded half away from zero: the
    /// digits [`Money::to_decimal_string`] writes.
    pub fn rounded(self, decimals: u32) -> i128 {
        let drop = 10i128.pow(15 - decimals);
        let half = drop / 2;
        if self.0 >= 0 {
            (self.0 + half) / drop
        } else {
            (self.0 - half) / drop
        }
    }

    /// For display and ratios only: never for accumulation.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / FEMTO_PER_USD as f64
    }
}

fn format_scaled(v: i128, scale: u32) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{a}");
    }
    let p = 10u128.pow(scale);
    format!("{sign}{}.{:0width$}", a / p, a % p, width = scale as usize)
}

fn trim_decimal(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

impl fmt::Display for Money {
    /// `$1,234.56` for people (cents; tiny non-zero amounts show four decimals).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = self.to_decimal_string(2);
        let text = if cents.trim_start_matches('-') == "0.00" && self.0 != 0 {
            self.to_decimal_string(4)
        } else {
            cents
        };
        let (sign, body) = text
            .strip_prefix('-')
            .map_or(("", text.as_str()), |b| ("-", b));
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        write!(f, "{sign}${}.{frac}", group_thousands(int))
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}
impl Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}
impl AddAssign for Money {
    fn add_assign(&mut self, o: Money) {
        self.0 += o.0;
    }
}
impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(it: I) -> Money {
        it.fold(Money::ZERO, Add::add)
    }
}
impl Mul<u64> for Rate {
    type Output = Money;
    fn mul(self, tokens: u64) -> Money {
        Money(self.0 * i128::from(tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_exact() {
        assert_eq!(Rate::per_million("3.00").unwrap().0, 3_000_000_000);
        assert_eq!(Rate::per_million("0.00875").unwrap().0, 8_750_000);
        assert_eq!(
            Rate::per_million("1.375").unwrap() * 1_000_000,
            Money::from_usd_text("1.375").unwrap()
        );
        assert_eq!(
            Rate::per_million("1.00").unwrap().times("1.1"),
            Some(Rate::per_million("1.1").unwrap())
        );
        assert_eq!(
            Rate::per_million("0.00875")
                .unwrap()
                .times("1.1")
                .unwrap()
                .per_million_text(),
            "0.009625"
        );
        assert_eq!(Rate::per_million("0.000000001").unwrap().times("0.5"), None);
    }

    #[test]
    fn rejects_bad_decimals() {
        for s in ["", ".", "1.", "abc", "1e3", "-1", "1.2.3", "0.0000000001"] {
            assert!(Rate::per_million(s).is_err(), "{s}");
        }
    }

    #[test]
    fn no_drift_where_floats_drift() {
        // 0.1 + 0.2 style: a million tiny amounts sum exactly.
        let r = Rate::per_million("0.035").unwrap();
        let total: Money = (0..1_000_000).map(|_| r * 3).sum();
        assert_eq!(total, Money::from_usd_text("0.105").unwrap());
        let float: f64 = (0..1_000_000).map(|_| 3.0 * 0.035 / 1e6).sum();
        assert_ne!(
            float, 0.105,
            "floats drift; this test shows why Money is integer"
        );
    }

    #[test]
    fn formatting() {
        let m = Money::from_usd_text("1234.5678915").unwrap();
        assert_eq!(m.to_decimal_string(6), "1234.567892");
        assert_eq!(m.to_string(), "$1,234.57");
        assert_eq!(
            Money::from_usd_text("0.000042").unwrap().to_string(),
            "$0.0000"
        );
        assert_eq!(
            Money::from_usd_text("0.00042").unwrap().to_string(),
            "$0.0004"
        );
        assert_eq!(Money::from_usd_text("-2.5").unwrap().to_string(), "-$2.50");
        assert_eq!(Money::ZERO.to_decimal_string(6), "0.000000");
        assert_eq!(
            Money::from_usd_text("999999.999").unwrap().to_string(),
            "$1,000,000.00"
        );
    }
}

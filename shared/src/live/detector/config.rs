//! The detector's thresholds: from the environment ([`DetectorConfig::from_lookup`]) and per app from
//! profile tags ([`Overrides`]).

use super::*;

/// Thresholds of a scope's window (the defaults, or an app's after its tag overrides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectorConfig {
    pub window_minutes: u32,
    /// Alert when the window's priced spend is strictly above this.
    pub max_cost: Money,
    /// Alert when the window's request count is strictly above this.
    pub max_requests: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            window_minutes: 15,
            max_cost: Money(10 * crate::pricing::money::FEMTO_PER_USD),
            max_requests: 600,
        }
    }
}

fn parse_window(v: &str) -> Option<u32> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|w| (1..=MAX_WINDOW_MINUTES).contains(w))
}

fn parse_cost(v: &str) -> Option<Money> {
    Money::from_usd_text(v.trim()).ok().filter(|m| m.0 > 0)
}

fn parse_requests(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok().filter(|&n| n > 0)
}

impl DetectorConfig {
    /// From `WINDOW_MINUTES`, `MAX_COST_USD`, `MAX_REQUESTS` (missing or empty → default) read through
    /// `get` (e.g. `|k| std::env::var(k).ok()`). A present but invalid value is an error, never
    /// silently the default.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<DetectorConfig, SettingError> {
        let d = DetectorConfig::default();
        let val = |name: &str| value(&get, name);
        let window_minutes = match val("WINDOW_MINUTES") {
            None => d.window_minutes,
            Some(v) => parse_window(&v).ok_or(SettingError {
                name: "WINDOW_MINUTES",
                value: v,
                expected: "a whole number of minutes from 1 to 1440",
            })?,
        };
        let max_cost = match val("MAX_COST_USD") {
            None => d.max_cost,
            Some(v) => parse_cost(&v).ok_or(SettingError {
                name: "MAX_COST_USD",
                value: v,
                expected: "a positive decimal amount of USD (e.g. 10 or 2.50)",
            })?,
        };
        let max_requests = match val("MAX_REQUESTS") {
            None => d.max_requests,
            Some(v) => parse_requests(&v).ok_or(SettingError {
                name: "MAX_REQUESTS",
                value: v,
                expected: "a positive whole number",
            })?,
        };
        Ok(DetectorConfig {
            window_minutes,
            max_cost,
            max_requests,
        })
    }

    /// These thresholds with an app's overrides applied.
    pub fn with(&self, o: &Overrides) -> DetectorConfig {
        DetectorConfig {
            window_minutes: o.window_minutes.unwrap_or(self.window_minutes),
            max_cost: o.max_cost.unwrap_or(self.max_cost),
            max_requests: o.max_requests.unwrap_or(self.max_requests),
        }
    }

    pub(super) fn crosses(&self, w: &WindowSum) -> bool {
        w.cost > self.max_cost || w.requests > self.max_requests
    }
}

/// Per-app thresholds from an application profile's tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub window_minutes: Option<u32>,
    pub max_cost: Option<Money>,
    pub max_requests: Option<u64>,
}

impl Overrides {
    /// Reads `meter:max-cost-usd`, `meter:max-requests`, `meter:window-minutes`. An invalid value is
    /// ignored (the default applies) and logged without the profile's other data.
    pub fn from_tags(tags: &[(String, String)]) -> Overrides {
        let mut o = Overrides::default();
        for (k, v) in tags {
            let ok = match k.as_str() {
                TAG_MAX_COST => parse_cost(v).map(|m| o.max_cost = Some(m)).is_some(),
                TAG_MAX_REQUESTS => parse_requests(v)
                    .map(|n| o.max_requests = Some(n))
                    .is_some(),
                TAG_WINDOW_MINUTES => parse_window(v)
                    .map(|w| o.window_minutes = Some(w))
                    .is_some(),
                _ => true,
            };
            if !ok {
                tracing::warn!(tag = %k, value = %v, "ignoring an invalid threshold tag");
            }
        }
        o
    }

    pub(super) fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

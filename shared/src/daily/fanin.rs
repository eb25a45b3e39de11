//! The organisation fan-in (issue 24): each member account's daily rollup writes its attributed rows of
//! the day to the home account's bucket, one object per member account, Region and day; the home
//! account prices the whole organisation with one price table.
//!
//! A [`FanInRow`] is one UTC hour × account × source Region × app × team × caller × model × tier (×
//! the base model, pool and prompt band pricing needs), with tokens by kind, requests, errors and the
//! member's unpriced count. Never prompt or response text: no body field exists to carry it.
//!
//! The object is gzip JSON Lines ([`encode`] / [`decode`]) at [`object_key`]
//! `fanin/day=YYYY-MM-DD/account=<12 digits>/region=<region>/rows.json.gz`: one object per member per
//! day, so a re-run of a day overwrites its object and is never counted twice. Why gzip JSON Lines and
//! not Parquet: docs/organization.md ("The fan-in file").
//!
//! Every value of a row is attacker-written (log records, profile tags): the key's account and Region
//! are validated ([`valid_account`], [`valid_region`]) so a value cannot forge another key; on decode a
//! bad line, or a row whose account or Region is not its object's, is counted and skipped, never fatal
//! to the good rows beside it.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use serde::{Deserialize, Serialize};

use crate::attribution::model_id::Pool;
use crate::attribution::resolution::Resolution;
use crate::daily::rollup::PricedRow;
use crate::pricing::prices::PriceTable;
use crate::records::record::{Tokens, Usage};
use crate::time::Date;

/// The prefix of the fan-in objects in the home bucket.
pub const PREFIX: &str = "fanin";
/// The name of every fan-in object inside its partition folder.
pub const OBJECT_NAME: &str = "rows.json.gz";
/// The longest text value a row may carry, in characters (a whole application-profile ARN or IAM ARN
/// fits); a line with a longer value is counted bad.
pub const MAX_TEXT: usize = 2048;
/// The most bytes [`decode`] inflates (a gzip bomb stops there and is an error).
pub const MAX_INFLATED: u64 = 1 << 30;

/// One fan-in row: what the member resolved and counted in one UTC hour. Field names are the Glue
/// columns of the home table (docs/organization.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanInRow {
    /// UTC hour of the records' own `timestamp`, 0–23 (the day is the object's).
    pub hour_utc: u8,
    /// The record's `accountId` (12 digits).
    pub account_id: String,
    /// The source Region of the calls (`region` of the record).
    pub source_region: String,
    pub app: String,
    pub team: String,
    /// The caller (docs/callers.md principal).
    pub caller: String,
    /// The model as reports name it (the base model when known, else the logged `modelId`).
    pub model: String,
    /// The base model the member resolved (`""` when unknown: unpriced at home too).
    pub base_model: String,
    /// The pool: `global`, `in-region` or a geography prefix (`us`, `eu`, `apac`, `us-gov`, …).
    pub pool: String,
    /// The service tier the calls were priced in (`default`, `flex`, `priority`, `reserved`, `unread`).
    pub tier: String,
    /// The prompt band (`PriceTable::prompt_band`): which long-context rates apply.
    pub prompt_band: u8,
    pub requests: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Of `cache_write_tokens`, the 1-hour writes (0 from the Athena path: see docs/daily-path.md).
    pub cache_write_1h_tokens: u64,
    /// Requests the member could not price (informational: the home account reprices every row).
    pub unpriced_requests: u64,
}

/// The row's columns as the home account's Glue table declares them (name, Hive type), in order: the
/// serialised field names of [`FanInRow`] (a unit test keeps them equal).
pub const COLUMNS: [(&str, &str); 19] = [
    ("hour_utc", "int"),
    ("account_id", "string"),
    ("source_region", "string"),
    ("app", "string"),
    ("team", "string"),
    ("caller", "string"),
    ("model", "string"),
    ("base_model", "string"),
    ("pool", "string"),
    ("tier", "string"),
    ("prompt_band", "int"),
    ("requests", "bigint"),
    ("errors", "bigint"),
    ("input_tokens", "bigint"),
    ("output_tokens", "bigint"),
    ("cache_read_tokens", "bigint"),
    ("cache_write_tokens", "bigint"),
    ("cache_write_1h_tokens", "bigint"),
    ("unpriced_requests", "bigint"),
];

/// A 12-digit AWS account id.
pub fn valid_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A Region name as AWS spells them (`us-east-1`, `us-gov-west-1`, `ap-southeast-5`,
/// `eu-isoe-west-1`): lowercase words joined by `-`, ending in a number, at most 32 characters.
pub fn valid_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    s.len() <= 32
        && parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
        && parts[parts.len() - 1].len() <= 2
}

/// Why a key cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{0:?} is not a 12-digit account id")]
    Account(String),
    #[error("{0:?} is not a Region name")]
    Region(String),
    #[error("{0:?} is not a fan-in object key (fanin/day=YYYY-MM-DD/account=<12 digits>/region=<region>/rows.json.gz)")]
    Key(String),
}

/// The key of one member's object of a day:
/// `fanin/day=YYYY-MM-DD/account=<12 digits>/region=<region>/rows.json.gz`.
pub fn object_key(day: Date, account: &str, region: &str) -> Result<String, KeyError> {
    if !valid_account(account) {
        return Err(KeyError::Account(account.to_string()));
    }
    if !valid_region(region) {
        return Err(KeyError::Region(region.to_string()));
    }
    Ok(format!(
        "{PREFIX}/day={day}/account={account}/region={region}/{OBJECT_NAME}"
    ))
}

/// The partition a fan-in object key (or its path under a synced folder: anything before `fanin/` is
/// ignored) names: (day, account, Region).
pub fn parse_key(key: &str) -> Result<(Date, String, String), KeyError> {
    let bad = || KeyError::Key(key.to_string());
    let norm = key.replace('\\', "/");
    let at = norm
        .rfind(&format!("{PREFIX}/day="))
        .filter(|i| *i == 0 || norm.as_bytes()[i - 1] == b'/')
        .ok_or_else(bad)?;
    let parts: Vec<&str> = norm[at..].split('/').collect();
    let [_, day, account, region, name] = parts[..] else {
        return Err(bad());
    };
    if name != OBJECT_NAME {
        return Err(bad());
    }
    let day = day
        .strip_prefix("day=")
        .and_then(Date::parse)
        .ok_or_else(bad)?;
    let account = account.strip_prefix("account=").ok_or_else(bad)?;
    let region = region.strip_prefix("region=").ok_or_else(bad)?;
    object_key(day, account, region)?;
    Ok((day, account.to_string(), region.to_string()))
}

/// The pool as a row writes it.
pub fn pool_text(p: &Pool) -> String {
    match p {
        Pool::Global => "global".into(),
        Pool::InRegion => "in-region".into(),
        Pool::Geographic(g) => g.clone(),
    }
}

/// A row's pool back (`None`: not a pool).
pub fn parse_pool(s: &str) -> Option<Pool> {
    match s {
        "global" => Some(Pool::Global),
        "in-region" => Some(Pool::InRegion),
        // A geography prefix (`us`, `eu`, `apac`, `us-gov`): lowercase words joined by `-`.
        g if g.len() <= 16
            && g.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())) =>
        {
            Some(Pool::Geographic(g.to_string()))
        }
        _ => None,
    }
}

impl FanInRow {
    /// The row of one priced, attributed rollup row of UTC hour `hour_utc` of account `account_id`.
    pub fn from_priced(hour_utc: u8, account_id: &str, r: &PricedRow) -> FanInRow {
        let t = &r.usage.tokens;
        FanInRow {
            hour_utc,
            account_id: account_id.to_string(),
            source_region: r.key.region.clone(),
            app: r.resolution.app.clone(),
            team: r.resolution.team.clone(),
            caller: r.key.caller.clone(),
            model: r.resolution.model.clone(),
            base_model: r.resolution.base_model.clone().unwrap_or_default(),
            pool: pool_text(&r.resolution.pool),
            tier: r.key.tier.clone(),
            prompt_band: r.key.prompt_band,
            requests: r.usage.requests,
            errors: r.usage.errors,
            input_tokens: t.input,
            output_tokens: t.output,
            cache_read_tokens: t.cache_read,
            cache_write_tokens: t.cache_write,
            cache_write_1h_tokens: t.cache_write_1h,
            unpriced_requests: if r.cost.is_err() { r.usage.requests } else { 0 },
        }
    }

    /// The usage the row counts.
    pub fn usage(&self) -> Usage {
        Usage {
            requests: self.requests,
            errors: self.errors,
            tokens: Tokens {
                input: self.input_tokens,
                output: self.output_tokens,
                cache_read: self.cache_read_tokens,
                cache_write: self.cache_write_tokens,
                cache_write_1h: self.cache_write_1h_tokens,
            },
        }
    }

    /// The resolution the member made, as the home account prices it.
    pub fn resolution(&self) -> Resolution {
        Resolution {
            app: self.app.clone(),
            team: self.team.clone(),
            model: self.model.clone(),
            base_model: (!self.base_model.is_empty()).then(|| self.base_model.clone()),
            pool: parse_pool(&self.pool).unwrap_or(Pool::InRegion),
            profile_arn: None,
            tags: Vec::new(),
        }
    }

    /// Why the row cannot be taken (`None`: it can).
    pub fn invalid(&self) -> Option<&'static str> {
        let texts = [
            &self.app,
            &self.team,
            &self.caller,
            &self.model,
            &self.base_model,
            &self.tier,
        ];
        if !valid_account(&self.account_id) {
            Some("account_id is not 12 digits")
        } else if !self.source_region.is_empty() && !valid_region(&self.source_region) {
            Some("source_region is not a Region")
        } else if self.hour_utc > 23 {
            Some("hour_utc is not 0-23")
        } else if parse_pool(&self.pool).is_none() {
            Some("pool is not a pool")
        } else if texts.iter().any(|t| t.chars().count() > MAX_TEXT) {
            Some("a text value is too long")
        } else if self.cache_write_1h_tokens > self.cache_write_tokens {
            Some("cache_write_1h_tokens exceeds cache_write_tokens")
        } else if self.errors > self.requests || self.unpriced_requests > self.requests {
            Some("errors or unpriced_requests exceed requests")
        } else {
            None
        }
    }

    /// The grouping key of the row without its counts.
    fn key(&self) -> FanInKey {
        FanInKey {
            hour_utc: self.hour_utc,
            account_id: self.account_id.clone(),
            source_region: self.source_region.clone(),
            app: self.app.clone(),
            team: self.team.clone(),
            caller: self.caller.clone(),
            model: self.model.clone(),
            base_model: self.base_model.clone(),
            pool: self.pool.clone(),
            tier: self.tier.clone(),
            prompt_band: self.prompt_band,
        }
    }

    fn add(&mut self, o: &FanInRow) {
        self.requests = self.requests.saturating_add(o.requests);
        self.errors = self.errors.saturating_add(o.errors);
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(o.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(o.cache_write_tokens);
        self.cache_write_1h_tokens = self
            .cache_write_1h_tokens
            .saturating_add(o.cache_write_1h_tokens);
        self.unpriced_requests = self.unpriced_requests.saturating_add(o.unpriced_requests);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FanInKey {
    hour_utc: u8,
    account_id: String,
    source_region: String,
    app: String,
    team: String,
    caller: String,
    model: String,
    base_model: String,
    pool: String,
    tier: String,
    prompt_band: u8,
}

/// Rows with the same key (hour, account, Region, app, team, caller, model, pool, tier, band) summed
/// into one, in key order: what one object holds (its size grows with distinct keys, not with calls).
pub fn merge_rows(rows: impl IntoIterator<Item = FanInRow>) -> Vec<FanInRow> {
    let mut m: BTreeMap<FanInKey, FanInRow> = BTreeMap::new();
    for r in rows {
        match m.entry(r.key()) {
            std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().add(&r),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(r);
            }
        }
    }
    m.into_values().collect()
}

/// The fan-in rows of a day's rollup: each hour's priced rows (hour start in Unix seconds → rows, as
/// `athena_sql::DayRollup::by_hour` and the CLI give them), of account `account_id`.
pub fn rows_of_hours<'a>(
    day: Date,
    account_id: &str,
    hours: impl IntoIterator<Item = (i64, &'a [PricedRow])>,
) -> Vec<FanInRow> {
    let start = day.start().0;
    merge_rows(hours.into_iter().flat_map(|(h, rows)| {
        let hour = ((h - start).div_euclid(3_600)).clamp(0, 23) as u8;
        rows.iter()
            .map(move |r| FanInRow::from_priced(hour, account_id, r))
    }))
}

/// A member's rows of `day` from the daily query's result (`athena_sql::day_rollup_from_rows`): each
/// hour's rows resolved with the member's profiles and priced ([`crate::daily::rollup::price_rows`],
/// as the daily report prices them), as [`rows_of_hours`]. What the member's rollup Lambda writes at
/// `object_key(day, account, its Region)`.
pub fn rows_of_day_rollup(
    day: Date,
    account_id: &str,
    rollup: &crate::daily::athena_sql::DayRollup,
    profiles: &dyn crate::attribution::profiles::ProfileDirectory,
    prices: &PriceTable,
    cfg: &crate::attribution::resolution::AttributionConfig,
) -> Vec<FanInRow> {
    let hours: Vec<(i64, Vec<PricedRow>)> = rollup
        .by_hour
        .iter()
        .map(|(h, r)| {
            (
                *h,
                crate::daily::rollup::price_rows(&r.rows, profiles, prices, cfg),
            )
        })
        .collect();
    rows_of_hours(
        day,
        account_id,
        hours.iter().map(|(h, rows)| (*h, rows.as_slice())),
    )
}

/// The gzip JSON Lines bytes of `rows`, one object per line.
pub fn encode(rows: &[FanInRow]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for r in rows {
        serde_json::to_writer(&mut gz, r).expect("a row serialises");
        gz.write_all(b"\n").expect("writing to memory");
    }
    gz.finish().expect("writing to memory")
}

/// What [`decode`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub rows: Vec<FanInRow>,
    /// Lines that are not a row (not JSON, unknown or missing fields, invalid values): skipped.
    pub bad_lines: u64,
    /// Valid rows of another account than the object's key names: skipped (a member writes only its
    /// own account's rows).
    pub foreign_rows: u64,
}

/// Why an object cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a gzip file")]
    NotGzip,
    #[error("gzip stream unreadable: {0}")]
    Gzip(std::io::Error),
    #[error("more than {MAX_INFLATED} bytes inflated")]
    TooLarge,
}

/// Reads a fan-in object: bad lines are counted, not fatal. `expect_account` = the account of the
/// object's key: a row of another account is counted in `foreign_rows` and skipped. (The source
/// Region is not checked against the key's: a member can only mislabel its own spend.)
pub fn decode(bytes: &[u8], expect_account: Option<&str>) -> Result<Decoded, DecodeError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(DecodeError::NotGzip);
    }
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut text)
        .map_err(DecodeError::Gzip)?;
    if text.len() as u64 > MAX_INFLATED {
        return Err(DecodeError::TooLarge);
    }
    let mut out = Decoded::default();
    for line in text.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row: FanInRow = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(_) => {
                out.bad_lines += 1;
                continue;
            }
        };
        if row.invalid().is_some() {
            out.bad_lines += 1;
            continue;
        }
        if expect_account.is_some_and(|a| row.account_id != a) {
            out.foreign_rows += 1;
            continue;
        }
        out.rows.push(row);
    }
    Ok(out)
}

/// The rollup-row form of fan-in rows, priced by the home account's table: the same `price_rows` money
/// as the member's, summed over hours.
pub fn price(rows: &[FanInRow], prices: &PriceTable) -> Vec<PricedRow> {
    use crate::daily::rollup::UsageKey;
    rows.iter()
        .map(|f| {
            let resolution = f.resolution();
            let usage = f.usage();
            let region = (!f.source_region.is_empty()).then_some(f.source_region.as_str());
            let cost = prices
                .rates_of(&resolution, region, f.prompt_band, &f.tier)
                .and_then(|r| r.cost(&usage.tokens));
            PricedRow {
                key: UsageKey {
                    model_id: f.model.clone(),
                    region: f.source_region.clone(),
                    caller: f.caller.clone(),
                    metadata: Vec::new(),
                    prompt_band: f.prompt_band,
                    tier: f.tier.clone(),
                },
                resolution,
                usage,
                cost,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u64) -> FanInRow {
        FanInRow {
            hour_utc: (i % 24) as u8,
            account_id: "111122223333".into(),
            source_region: "us-east-1".into(),
            app: format!("app{}", i % 3),
            team: "payments".into(),
            caller: "arn:aws:iam::111122223333:role/svc".into(),
            model: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
            base_model: "anthropic.claude-sonnet-4-5-20250929-v1:0".into(),
            pool: "us".into(),
            tier: "default".into(),
            prompt_band: 0,
            requests: 10 + i,
            errors: 1,
            input_tokens: 1000 * i,
            output_tokens: 300 * i,
            cache_read_tokens: 7 * i,
            cache_write_tokens: 5 * i,
            cache_write_1h_tokens: i,
            unpriced_requests: 0,
        }
    }

    #[test]
    fn round_trip() {
        let rows: Vec<FanInRow> = (0..50).map(row).collect();
        let bytes = encode(&rows);
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
        let d = decode(&bytes, Some("111122223333")).unwrap();
        assert_eq!(d.rows, rows);
        assert_eq!((d.bad_lines, d.foreign_rows), (0, 0));
        assert_eq!(decode(&encode(&[]), None).unwrap().rows, vec![]);
    }

    #[test]
    fn bad_lines_are_counted_not_fatal() {
        let good = row(1);
        let mut text = serde_json::to_string(&good).unwrap();
        text.push_str("\nnot json\n{\"hour_utc\":1}\n");
        let mut extra = serde_json::to_value(row(2)).unwrap();
        extra["prompt"] = "secret".into(); // unknown field: refused
        text.push_str(&format!("{extra}\n"));
        let mut bad_account = row(3);
        bad_account.account_id = "1111/../2222".into();
        text.push_str(&format!(
            "{}\n",
            serde_json::to_string(&bad_account).unwrap()
        ));
        let mut bad_hour = row(4);
        bad_hour.hour_utc = 24;
        text.push_str(&format!("{}\n", serde_json::to_string(&bad_hour).unwrap()));
        let mut long = row(5);
        long.caller = "x".repeat(MAX_TEXT + 1);
        text.push_str(&format!("{}\n", serde_json::to_string(&long).unwrap()));
        let mut foreign = row(6);
        foreign.account_id = "444455556666".into();
        text.push_str(&format!("{}\n\n", serde_json::to_string(&foreign).unwrap()));
        let last = row(7);
        text.push_str(&serde_json::to_string(&last).unwrap()); // no final newline
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let d = decode(&bytes, Some("111122223333")).unwrap();
        assert_eq!(d.rows, vec![good.clone(), last.clone()]);
        assert_eq!(d.bad_lines, 6);
        assert_eq!(d.foreign_rows, 1);
        // Without an expected key the other account's row is kept.
        assert_eq!(decode(&bytes, None).unwrap().rows.len(), 3);
        assert!(matches!(decode(b"rows", None), Err(DecodeError::NotGzip)));
        assert!(matches!(
            decode(&bytes[..bytes.len() / 2], None),
            Err(DecodeError::Gzip(_))
        ));
    }

    #[test]
    fn keys_cannot_be_forged_by_values() {
        let day = Date::parse("2026-11-25").unwrap();
        assert_eq!(
            object_key(day, "111122223333", "eu-west-1").unwrap(),
            "fanin/day=2026-11-25/account=111122223333/region=eu-west-1/rows.json.gz"
        );
        assert!(object_key(day, "us-gov-west-1", "us-gov-west-1").is_err());
        for account in [
            "11112222333",
            "1111222233334",
            "11112222333a",
            "../111122223",
            "",
        ] {
            assert!(
                matches!(
                    object_key(day, account, "us-east-1"),
                    Err(KeyError::Account(_))
                ),
                "{account}"
            );
        }
        for region in [
            "us-east-1/../x",
            "US-EAST-1",
            "us-east",
            "us--1",
            "us-east-1 ",
            "",
            "us-east-100",
            "region=us-east-1",
        ] {
            assert!(
                matches!(
                    object_key(day, "111122223333", region),
                    Err(KeyError::Region(_))
                ),
                "{region}"
            );
        }
        assert!(object_key(day, "111122223333", "us-gov-west-1").is_ok());
        assert!(object_key(day, "111122223333", "ap-southeast-5").is_ok());
        let key = object_key(day, "111122223333", "eu-west-1").unwrap();
        assert_eq!(
            parse_key(&format!("/home/me/org/{key}")).unwrap(),
            (day, "111122223333".into(), "eu-west-1".into())
        );
        for bad in [
            "fanin/day=2026-11-25/account=111122223333/region=eu-west-1/other.json.gz",
            "fanin/day=2026-13-25/account=111122223333/region=eu-west-1/rows.json.gz",
            "fanin/day=2026-11-25/account=1111/region=eu-west-1/rows.json.gz",
            "fanin/day=2026-11-25/account=111122223333/region=eu-west-1/x/rows.json.gz",
            "myfanin/day=2026-11-25/account=111122223333/region=eu-west-1/rows.json.gz",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_glue_columns_are_the_rows_fields() {
        let v = serde_json::to_value(row(1)).unwrap();
        let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut cols: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
        fields.sort_unstable();
        cols.sort_unstable();
        assert_eq!(fields, cols);
        // Serialised in the declared order too.
        let text = serde_json::to_string(&row(1)).unwrap();
        let at: Vec<usize> = COLUMNS
            .iter()
            .map(|(n, _)| text.find(&format!("\"{n}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn merge_sums_equal_keys_and_pools_round_trip() {
        let a = row(1);
        let mut b = row(1);
        b.requests = 5;
        let mut c = row(1);
        c.tier = "flex".into();
        let m = merge_rows([a.clone(), b, c.clone()]);
        assert_eq!(m.len(), 2);
        let summed = m.iter().find(|r| r.tier == "default").unwrap();
        assert_eq!(summed.requests, a.requests + 5);
        assert_eq!(summed.input_tokens, 2 * a.input_tokens);
        for p in [
            Pool::Global,
            Pool::InRegion,
            Pool::Geographic("apac".into()),
            Pool::Geographic("us-gov".into()),
        ] {
            assert_eq!(parse_pool(&pool_text(&p)), Some(p));
        }
        for bad in [
            "Global",
            "",
            "us-",
            "-us",
            "us--gov",
            "us_gov",
            "abcdefghijklmnopq",
        ] {
            assert_eq!(parse_pool(bad), None, "{bad}");
        }
    }
}

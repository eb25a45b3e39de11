//! The organisation fan-in on disk (docs/organization.md): `report --fan-in DIR` reads the home
//! account's `fanin/` objects synced to disk (`aws s3 sync s3://<home bucket>/fanin DIR/fanin`) and
//! `report --write-fan-in DIR` writes the objects a member's daily rollup would write for the records
//! read, in the same layout and format (`bedrock_meter_core::daily::fanin`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bedrock_meter_core::daily::fanin::{self, FanInRow, OBJECT_NAME};
use bedrock_meter_core::daily::org::{AccountRow, Members};
use bedrock_meter_core::daily::rollup::PricedRow;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::Date;

use crate::common::warn_unreadable;

/// A fan-in object found on disk.
struct Object {
    path: PathBuf,
    /// Its key (the path from `fanin/` on, `/`-separated).
    key: String,
    day: Date,
    account: String,
}

/// What `--fan-in` read for one day.
pub struct FanInDay {
    pub day: Date,
    pub rows: Vec<AccountRow>,
    pub members: Members,
    /// The day before's rows (for the email's day-over-day change).
    pub prev_rows: Vec<AccountRow>,
    pub bad_lines: u64,
    pub foreign_rows: u64,
    pub unreadable: u64,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn objects(dir: &Path) -> anyhow::Result<Vec<Object>> {
    let mut files = Vec::new();
    walk(dir, &mut files).with_context(|| format!("reading {}", dir.display()))?;
    let mut out = Vec::new();
    for path in files {
        if path.file_name().and_then(|n| n.to_str()) != Some(OBJECT_NAME) {
            continue;
        }
        let text = path.to_string_lossy().replace('\\', "/");
        match fanin::parse_key(&text) {
            Ok((day, account, _)) => {
                let key = text[text.rfind("fanin/day=").unwrap_or(0)..].to_string();
                out.push(Object {
                    path,
                    key,
                    day,
                    account,
                });
            }
            Err(e) => eprintln!("warning: skipping {}: {e}", path.display()),
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Reads the fan-in objects of `day` (default: the latest day found) under `dir`, prices their rows
/// with `prices`, and works out who reported (`listed`: accounts expected besides those that reported
/// in the previous 7 days).
pub fn read_day(
    dir: &Path,
    day: Option<Date>,
    listed: &[String],
    prices: &PriceTable,
) -> anyhow::Result<FanInDay> {
    for a in listed {
        if !fanin::valid_account(a) {
            anyhow::bail!("--expect-accounts: {a:?} is not a 12-digit account id");
        }
    }
    let objs = objects(dir)?;
    let Some(day) = day.or_else(|| objs.iter().map(|o| o.day).max()) else {
        anyhow::bail!(
            "nothing to report: no fan-in files under {} (looked for fanin/day=YYYY-MM-DD/account=<id>/region=<region>/{OBJECT_NAME})",
            dir.display()
        );
    };
    let mut out = FanInDay {
        day,
        rows: Vec::new(),
        members: Members::default(),
        prev_rows: Vec::new(),
        bad_lines: 0,
        foreign_rows: 0,
        unreadable: 0,
    };
    let mut keys: Vec<&str> = Vec::new();
    for o in &objs {
        let wanted = o.day == day || o.day == day.pred();
        if !wanted {
            keys.push(&o.key);
            continue;
        }
        let decoded = std::fs::read(&o.path)
            .map_err(anyhow::Error::from)
            .and_then(|b| fanin::decode(&b, Some(&o.account)).map_err(anyhow::Error::from));
        let d = match decoded {
            Ok(d) => d,
            Err(e) => {
                // An object that cannot be read is not a report: its member is named as missing.
                warn_unreadable(&o.path, &e);
                if o.day == day {
                    out.unreadable += 1;
                }
                continue;
            }
        };
        keys.push(&o.key);
        let priced = priced(&o.account, &d.rows, prices);
        if o.day == day {
            out.bad_lines += d.bad_lines;
            out.foreign_rows += d.foreign_rows;
            out.rows.extend(priced);
        } else {
            out.prev_rows.extend(priced);
        }
    }
    out.members = Members::from_keys(keys, day, listed.iter().cloned());
    // The day-over-day change compares like with like: the day before of the accounts that reported.
    let reported: std::collections::BTreeSet<&str> = out
        .members
        .reported
        .iter()
        .map(|(a, _)| a.as_str())
        .collect();
    out.prev_rows
        .retain(|r| reported.contains(r.account.as_str()));
    if out.members.reported.is_empty() {
        let days: std::collections::BTreeSet<String> =
            objs.iter().map(|o| o.day.to_string()).collect();
        anyhow::bail!(
            "nothing to report: no readable fan-in file for {day} under {} (days found: {})",
            dir.display(),
            days.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(out)
}

/// The rows priced, after summing each key over the hours (pricing is linear in tokens within a key:
/// the same money, on up to 24 times fewer rows).
fn priced(account: &str, rows: &[FanInRow], prices: &PriceTable) -> Vec<AccountRow> {
    let day = fanin::merge_rows(rows.iter().map(|r| FanInRow {
        hour_utc: 0,
        ..r.clone()
    }));
    fanin::price(&day, prices)
        .into_iter()
        .map(|row| AccountRow {
            account: account.to_string(),
            row,
        })
        .collect()
}

/// Writes the fan-in objects of priced hourly rows: (account, hour start) → the hour's priced rows.
/// One object per UTC day × account × source Region, as a member writes it; rows of an account that
/// is not 12 digits or a Region that is not a Region cannot have a key and are counted, not written.
/// Returns (objects written, requests not written).
pub fn write(
    dir: &Path,
    hours: &BTreeMap<(String, i64), Vec<PricedRow>>,
) -> anyhow::Result<(usize, u64)> {
    type Bucket<'a> = BTreeMap<i64, Vec<PricedRow>>;
    let mut objects: BTreeMap<(Date, &str, String), Bucket<'_>> = BTreeMap::new();
    let mut skipped = 0u64;
    for ((account, hour), rows) in hours {
        let day = bedrock_meter_core::time::Timestamp(*hour).date();
        for r in rows {
            if !fanin::valid_account(account) || !fanin::valid_region(&r.key.region) {
                skipped += r.usage.requests;
                continue;
            }
            objects
                .entry((day, account.as_str(), r.key.region.clone()))
                .or_default()
                .entry(*hour)
                .or_default()
                .push(r.clone());
        }
    }
    for ((day, account, region), by_hour) in &objects {
        let rows = fanin::rows_of_hours(
            *day,
            account,
            by_hour.iter().map(|(h, rows)| (*h, rows.as_slice())),
        );
        let key = fanin::object_key(*day, account, region)?;
        let path = dir.join(&key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, fanin::encode(&rows))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok((objects.len(), skipped))
}

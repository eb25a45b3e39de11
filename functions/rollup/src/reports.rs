//! The day's HTML pages in the reports bucket (`REPORTS_BUCKET`): one per team and one for the
//! organisation, under `bedrock-meter/reports/<day>/`, rendered by the core's `report_html` from the same
//! report as the emails. Each email then carries the S3 console URL of its page: it opens for a person
//! signed in to the console with read access to the bucket; the object is never public and no presigned
//! URL is made. The Athena rollup's rows are per UTC hour, so each page has the same chart of spend per
//! hour as `bedrock-meter report --format html` (by team, or by app on a team's page). The Lambda
//! replays no detector, so the pages have no incidents; the CLI's page has them.
//!
//! A page that cannot be written is a note in the summary and its email goes without a link — the
//! emails do not depend on the pages (as with the profile snapshot).

use std::collections::BTreeMap;

use bedrock_meter_core::daily::batch::BatchLine;
use bedrock_meter_core::daily::email::Audience;
use bedrock_meter_core::daily::report::Report;
use bedrock_meter_core::daily::report_html::{render, Hourly, Page};
use bedrock_meter_core::daily::rollup::PricedRow;
use bedrock_meter_core::live::detector::batch_key;
use bedrock_meter_core::ports::notify::Notification;
use bedrock_meter_core::ports::objects::ObjectWriter;
use bedrock_meter_core::time::Date;
use futures::stream::{self, StreamExt};

/// Key prefix of the pages in the reports bucket.
pub const REPORTS_PREFIX: &str = "bedrock-meter/reports";
/// PutObject calls in flight at once.
pub const MAX_CONCURRENT_PUTS: usize = 8;

/// Where the pages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportsBucket {
    pub bucket: String,
    /// The bucket's Region, for the console URL (the function's `AWS_REGION`).
    pub region: String,
}

/// Percent-encodes everything but unreserved characters (and `/` when `keep_slash`).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Longest encoded team name kept whole in a key (S3 keys are at most 1,024 bytes; a tag value of 256
/// characters can encode to 2,304).
const MAX_KEY_TEAM: usize = 160;

/// `bedrock-meter/reports/2026-11-25/team-fraud-risk.html`, or `…/all-teams.html` for the summary. The
/// team (a tag value: any text) is percent-encoded, so it never adds a `/` or an odd character; a long
/// one is cut and followed by a hash of the whole name, so keys stay short and distinct.
pub fn page_key(date: Date, team: Option<&str>) -> String {
    match team {
        Some(t) => {
            let mut name = encode(t, false);
            if name.len() > MAX_KEY_TEAM {
                let mut cut = MAX_KEY_TEAM;
                // Not inside a %XX escape.
                while name[..cut].ends_with('%') || name[..cut - 1].ends_with('%') {
                    cut -= 1;
                }
                name = format!("{}-{}", &name[..cut], batch_key(t));
            }
            format!("{REPORTS_PREFIX}/{date}/team-{name}.html")
        }
        None => format!("{REPORTS_PREFIX}/{date}/all-teams.html"),
    }
}

/// The S3 console's page of one object (sign-in and read access required; nothing public).
pub fn console_url(rb: &ReportsBucket, key: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&bucketType=general&prefix={key}",
        region = encode(&rb.region, false),
        bucket = encode(&rb.bucket, false),
        key = encode(key, false)
    )
}

/// The email with the line that links its page.
pub fn with_link(mut email: Notification, url: &str) -> Notification {
    email.body.push_str(&format!(
        "\nCharts for this day (HTML; open it signed in to the AWS console with read access to the \
         reports bucket, then Open or Download):\n{url}\n"
    ));
    email
}

/// What the pages are drawn from: the day's organisation report, its priced rows, and the same rows
/// per UTC hour (hour start → rows; the day's rows are their sum).
pub struct Day<'a> {
    pub org: &'a Report,
    pub rows: &'a [PricedRow],
    pub rows_by_hour: &'a BTreeMap<i64, Vec<PricedRow>>,
    pub date: Date,
    pub metadata_keys: &'a [String],
    /// bedrock-mantle traffic of the day (summary page only; `daily::mantle`).
    pub mantle: &'a [bedrock_meter_core::daily::mantle::MantleLine],
}

/// Renders and writes every team's page and the summary's (with the day's batch inference lines and
/// what could not be counted, `daily::batch`), `MAX_CONCURRENT_PUTS` at a time. Returns the console URL
/// of each page written (key: team, `None` for the summary); a failed write is logged and noted.
pub async fn write_pages_with_batch<S: ObjectWriter>(
    store: &S,
    rb: &ReportsBucket,
    day: &Day<'_>,
    batch: (&[BatchLine], &[String]),
    notes: &mut Vec<String>,
) -> BTreeMap<Option<String>, String> {
    let (org, date) = (day.org, day.date);
    let hourly =
        |team: Option<&str>| Hourly::build(Some(date), day.rows_by_hour, team, org.prices_as_of);
    let mut pages: Vec<(Option<String>, String)> = org
        .by_team
        .iter()
        .map(|(team, _)| {
            let report = org.for_team(team, day.rows, day.metadata_keys);
            let hours = hourly(Some(team));
            let html = render(&Page {
                report: &report,
                audience: Audience::Team(team),
                hourly: Some(&hours),
                incidents: None,
            });
            (Some(team.clone()), html)
        })
        .collect();
    let hours = hourly(None);
    let summary = bedrock_meter_core::daily::report_html::add_mantle(
        &render(&Page {
            report: org,
            audience: Audience::Summary,
            hourly: Some(&hours),
            incidents: None,
        }),
        day.mantle,
    );
    pages.push((
        None,
        bedrock_meter_core::daily::batch::add_to_page(&summary, batch.0, batch.1),
    ));
    put_pages(store, rb, date, pages, notes).await
}

/// Writes rendered pages (team, HTML; `None` for the summary) under their keys of `date`,
/// `MAX_CONCURRENT_PUTS` at a time. Returns the console URL of each page written; a failed write is
/// logged and noted.
pub async fn put_pages<S: ObjectWriter>(
    store: &S,
    rb: &ReportsBucket,
    date: Date,
    pages: Vec<(Option<String>, String)>,
    notes: &mut Vec<String>,
) -> BTreeMap<Option<String>, String> {
    let results: Vec<(Option<String>, String, Result<(), _>)> = stream::iter(pages)
        .map(|(team, html)| async move {
            let key = page_key(date, team.as_deref());
            let r = store
                .put_object(
                    &rb.bucket,
                    &key,
                    html.into_bytes(),
                    "text/html; charset=utf-8",
                )
                .await;
            (team, key, r)
        })
        .buffer_unordered(MAX_CONCURRENT_PUTS)
        .collect()
        .await;
    let mut links = BTreeMap::new();
    let mut failed = Vec::new();
    for (team, key, r) in results {
        match r {
            Ok(()) => {
                links.insert(team, console_url(rb, &key));
            }
            Err(e) => {
                tracing::error!(bucket = %rb.bucket, %key, error = %e, "could not write a report page");
                failed.push(format!("s3://{}/{key} ({e})", rb.bucket));
            }
        }
    }
    if !failed.is_empty() {
        failed.sort();
        notes.push(format!(
            "could not write {} of the day's HTML report pages, so their emails have no link: {}",
            failed.len(),
            failed.join("; ")
        ));
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_console_urls_encode_what_they_carry() {
        let d = Date::parse("2026-11-25").unwrap();
        assert_eq!(
            page_key(d, Some("fraud-risk")),
            "bedrock-meter/reports/2026-11-25/team-fraud-risk.html"
        );
        assert_eq!(
            page_key(d, Some("a/b c&<")),
            "bedrock-meter/reports/2026-11-25/team-a%2Fb%20c%26%3C.html"
        );
        assert_eq!(
            page_key(d, None),
            "bedrock-meter/reports/2026-11-25/all-teams.html"
        );
        // The longest tag value (256 characters), multi-byte: under S3's 1,024-byte key limit, and
        // two names that differ only at the end get different keys.
        let long_a = "é".repeat(255) + "a";
        let long_b = "é".repeat(255) + "b";
        let (ka, kb) = (page_key(d, Some(&long_a)), page_key(d, Some(&long_b)));
        assert!(ka.len() <= 1_024 && ka.len() < 260, "{}", ka.len());
        assert_ne!(ka, kb);
        assert!(
            ka.starts_with("bedrock-meter/reports/2026-11-25/team-%C3%A9%C3%A9"),
            "{ka}"
        );
        assert!(!ka[..ka.len() - 22].ends_with('%'), "{ka}");
        let rb = ReportsBucket {
            bucket: "my-reports".into(),
            region: "eu-west-1".into(),
        };
        assert_eq!(
            console_url(&rb, &page_key(d, Some("a b"))),
            "https://eu-west-1.console.aws.amazon.com/s3/object/my-reports?region=eu-west-1&bucketType=general\
             &prefix=bedrock-meter%2Freports%2F2026-11-25%2Fteam-a%2520b.html"
        );
        let e = with_link(
            Notification {
                subject: "s".into(),
                body: "b\n".into(),
                attributes: Vec::new(),
            },
            "https://x",
        );
        assert!(e.body.starts_with("b\n\nCharts for this day"));
        assert!(e.body.ends_with("\nhttps://x\n"));
    }
}

//! The organisation end to end (issue 24), in one moto server in multi-account mode (the access key id
//! is the account): three member accounts run the real daily rollup handler (real aws-sdk Athena, SNS
//! and S3 clients), each writing its fan-in object into the home account's bucket across accounts
//! through the strict proxy, which judges every cross-account PutObject by the bucket policy of
//! `org/home.yaml` (`aws:PrincipalOrgID`, each account in its own folder). The home account then runs
//! the real organisation rollup handler, and each team's organisation email must equal the sum of the
//! three accounts' own emails for that team, to the cent; a member that reported the day before and not
//! today is named; a re-run day is not counted twice; an account outside the organisation is refused.
//!
//! moto's Athena executes no SQL: each query's result is seeded. The members' results are their day's
//! usage rows; the home query's result is computed here from the fan-in objects actually in the
//! bucket — `fanin::decode` of each object of the day folder (the account checked against its key, as
//! the SQL's `"$path"` check does) summed over the hours by the query's key columns — i.e. what
//! `athena_sql::org_sql` returns over them (that SQL itself is run in DuckDB by the core's SQL tests).

use std::collections::BTreeMap;
use std::time::Duration;

use bedrock_meter_core::attribution::profiles::Profile;
use bedrock_meter_core::attribution::resolution::AttributionConfig;
use bedrock_meter_core::aws::athena::AthenaEngine;
use bedrock_meter_core::aws::s3::S3Store;
use bedrock_meter_core::aws::sns::SnsNotifier;
use bedrock_meter_core::daily::athena_sql::{
    result_columns, TableRef, ORG_KEY_COLUMNS, ORG_SUM_COLUMNS,
};
use bedrock_meter_core::daily::fanin;
use bedrock_meter_core::ports::profiles::ProfileSource;
use bedrock_meter_core::ports::AwsError;
use bedrock_meter_core::pricing::prices::PriceTable;
use bedrock_meter_core::time::{Date, Timestamp};
use bedrock_meter_integration_tests::strict_proxy::Service;
use bedrock_meter_integration_tests::{athena_result, Moto};
use bedrock_meter_rollup::org::{handle_org, OrgConfig, OrgDeps};
use bedrock_meter_rollup::reports::{console_url, page_key, ReportsBucket};
use bedrock_meter_rollup::{handle, Config, Deps, FanIn, RollupError};
use serde_json::{json, Value};

const ORG: &str = "o-abc1234567";
const HOME: &str = "999999999999";
const HOME_REGION: &str = "us-east-1";
const BUCKET: &str = "org-fan-in";
const PREFIX: &str = "bedrock-meter";
/// (account, Region) of the three members that report the day.
const MEMBERS: [(&str, &str); 3] = [
    ("111111111111", "us-east-1"),
    ("222222222222", "us-east-1"),
    ("333333333333", "us-west-2"),
];
/// In the organisation; reported the day before only.
const LATE: (&str, &str) = ("444444444444", "us-east-1");
/// Not in the organisation.
const OUTSIDER: (&str, &str) = ("555555555555", "us-east-1");
const NOVA_LITE: &str = "amazon.nova-lite-v1:0";

fn day() -> Date {
    Date::parse("2026-11-25").unwrap()
}

fn now() -> Timestamp {
    Timestamp::parse_iso8601("2026-11-26T06:00:03Z").unwrap()
}

/// The home stack's fan-in bucket policy (org/home.yaml's `FanInBucketPolicy`, rendered): its
/// organisation statement. (Its `DenyInsecureTransport` statement is left out here because moto applies
/// a bucket policy's Deny without reading its conditions, so it would refuse every request; the strict
/// proxy's unit test evaluates the whole policy, that statement included.)
fn home_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "OrganisationWritesFanIn", "Effect": "Allow", "Principal": "*",
         "Action": "s3:PutObject",
         "Resource": format!("arn:aws:s3:::{BUCKET}/{PREFIX}/fanin/day=*/account=${{aws:PrincipalAccount}}/*"),
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}}
    ]})
}

#[test]
fn the_policy_here_is_the_home_templates() {
    let t =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../org/home.yaml")).unwrap();
    assert!(t.contains(
        r#"Resource: !Sub "${FanInBucket.Arn}/${FanInPrefix}/fanin/day=*/account=${!aws:PrincipalAccount}/*""#
    ));
    assert!(t.contains("aws:PrincipalOrgID: !Ref OrganizationId"));
    // The member's grant writes the same folder.
    let m =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    assert!(m.contains(
        r#"Resource: !Sub "arn:${AWS::Partition}:s3:::${FanInBucket}/${FanInPrefix}/fanin/day=*/account=${AWS::AccountId}/*""#
    ));
    // The home table's columns are the fan-in row's, in order.
    let cols: Vec<String> = fanin::COLUMNS
        .iter()
        .map(|(n, t)| format!("            - {{ Name: {n}, Type: {t} }}\n"))
        .collect();
    assert!(
        t.contains(&cols.concat()),
        "org/home.yaml Columns != fanin::COLUMNS"
    );
}

/// Profiles from memory (moto has no Bedrock inference profiles).
struct FakeProfiles(Vec<Profile>);

impl ProfileSource for FakeProfiles {
    async fn get_profile(&self, arn: &str) -> Result<Option<Profile>, AwsError> {
        Ok(self.0.iter().find(|p| p.arn == arn).cloned())
    }
    async fn list_application_profiles(&self) -> Result<Vec<Profile>, AwsError> {
        Ok(self.0.clone())
    }
}

fn profile_arn(account: &str, region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:application-inference-profile/{id}")
}

/// Each account's `search` and `support` apps (teams `search` and `cx`) and `etl` (team `data`), on
/// Nova Lite in its Region.
fn profiles(account: &str, region: &str) -> FakeProfiles {
    let p = |id: &str, app: &str, team: &str| Profile {
        arn: profile_arn(account, region, id),
        id: id.into(),
        name: app.into(),
        model_arns: vec![format!(
            "arn:aws:bedrock:{region}::foundation-model/{NOVA_LITE}"
        )],
        tags: [("app".into(), app.into()), ("team".into(), team.into())].into(),
    };
    FakeProfiles(vec![
        p("search01", "search", "search"),
        p("support01", "support", "cx"),
        p("etl01", "etl", "data"),
    ])
}

type Row = Vec<Option<String>>;

/// One usage row of the member's Athena result (no metadata keys): app's profile, hour, tokens.
fn usage(account: &str, region: &str, id: &str, hour: u8, input: u64, output: u64) -> Row {
    let caller = format!("arn:aws:sts::{account}:assumed-role/App/s1");
    [
        profile_arn(account, region, id),
        region.to_string(),
        caller,
        "0".into(),
        hour.to_string(),
        "10".into(),
        "0".into(),
        input.to_string(),
        output.to_string(),
        "0".into(),
        "0".into(),
        "0".into(),
    ]
    .into_iter()
    .map(Some)
    .collect()
}

/// Each member's day, in whole cents at Nova Lite's rates ($0.06 per 1M in, $0.24 per 1M out):
/// - 111111111111: search 10M in = 0.60; cx 5M in + 1M out = 0.54
/// - 222222222222: search 20M in = 1.20 (two hours); cx 2M out = 0.48
/// - 333333333333 (us-west-2): search 5M in = 0.30; data 1M out = 0.24
///
/// The organisation: search 2.10, cx 1.02, data 0.24.
fn member_rows(account: &str, region: &str) -> Vec<Row> {
    let u = |id, hour, i, o| usage(account, region, id, hour, i, o);
    match account {
        "111111111111" => vec![
            u("search01", 3, 10_000_000, 0),
            u("support01", 9, 5_000_000, 1_000_000),
        ],
        "222222222222" => vec![
            u("search01", 1, 8_000_000, 0),
            u("search01", 14, 12_000_000, 0),
            u("support01", 14, 0, 2_000_000),
        ],
        "333333333333" => vec![u("search01", 20, 5_000_000, 0), u("etl01", 2, 0, 1_000_000)],
        // The late member's and the outsider's day: 1M in of search (0.06).
        _ => vec![u("search01", 5, 1_000_000, 0)],
    }
}

/// Athena's result shape for moto's seeding endpoint: header row first.
fn seeded(cols: &[String], rows: &[Row]) -> Value {
    athena_result(cols, rows)
}

fn seed(moto: &Moto, account: &str, region: &str, results: Vec<Value>) {
    moto.post_json(
        "/moto-api/static/athena/query-results",
        &json!({"account_id": account, "region": region, "results": results}),
    );
}

async fn topic(conf: &aws_config::SdkConfig, name: &str) -> String {
    aws_sdk_sns::Client::new(conf)
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string()
}

async fn workgroup(conf: &aws_config::SdkConfig, name: &str) {
    aws_sdk_athena::Client::new(conf)
        .create_work_group()
        .name(name)
        .send()
        .await
        .unwrap();
}

/// (team, subject, body) of each message published to the topic named `name`.
fn published(moto: &Moto, name: &str) -> Vec<(String, String, String)> {
    moto.published(name)
}

/// The dollar figure of a subject (`… - search: $2.10 (…)`), in cents.
fn cents(subject: &str) -> i64 {
    let after = subject
        .split_once(": $")
        .unwrap_or_else(|| panic!("no amount in {subject:?}"))
        .1;
    let num: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    let (d, c) = num.split_once('.').unwrap_or((&num, "00"));
    d.parse::<i64>().unwrap() * 100 + c.parse::<i64>().unwrap()
}

/// A member account's stack: its topics and workgroup, its handler's config and dependencies.
struct Member {
    account: &'static str,
    region: &'static str,
    conf: aws_config::SdkConfig,
    cfg: Config,
}

async fn member(moto: &Moto, (account, region): (&'static str, &'static str)) -> Member {
    let conf = moto.sdk_config_as(account, region).await;
    let reports = topic(&conf, &format!("reports-{account}")).await;
    let alerts = topic(&conf, &format!("alerts-{account}")).await;
    workgroup(&conf, "bedrock-meter").await;
    let cfg = Config {
        workgroup: "bedrock-meter".into(),
        table: TableRef {
            database: "bedrock_meter".into(),
            table: "invocation_logs".into(),
        },
        report_topic_arn: reports,
        alert_topic_arn: alerts,
        attribution: AttributionConfig::default(),
        query_timeout: Duration::from_secs(60),
        profiles_snapshot_bucket: None,
        cur_table: None,
        reports: None,
        chat_format: false,
        fan_in: Some(FanIn {
            bucket: BUCKET.into(),
            prefix: PREFIX.into(),
            bucket_region: HOME_REGION.into(),
            account: account.into(),
            region: region.into(),
        }),
    };
    Member {
        account,
        region,
        conf,
        cfg,
    }
}

impl Member {
    /// Seeds the day's rows (and an empty day before) and runs the real member handler for `date`.
    async fn run(
        &self,
        moto: &Moto,
        date: Date,
    ) -> Result<bedrock_meter_rollup::Outcome, RollupError> {
        let cols = result_columns(0);
        seed(
            moto,
            self.account,
            self.region,
            vec![
                seeded(&cols, &member_rows(self.account, self.region)),
                seeded(&cols, &[]),
            ],
        );
        let deps = Deps {
            engine: AthenaEngine::new(&self.conf),
            profiles: profiles(self.account, self.region),
            notifier: SnsNotifier::new(&self.conf),
            store: S3Store::new(&self.conf),
            fan_in_store: Some(S3Store::in_region(&self.conf, HOME_REGION)),
            prices: PriceTable::embedded(),
            mantle: None,
            batch: None,
        };
        handle(&deps, &self.cfg, &json!({"date": date.to_string()}), now()).await
    }
}

/// What Athena's organisation query returns over the day folder's objects (see the module doc).
async fn org_query_result(s3: &aws_sdk_s3::Client, date: Date) -> Value {
    let prefix = format!("{PREFIX}/fanin/day={date}/");
    let list = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(&prefix)
        .send()
        .await
        .unwrap();
    type Key = Vec<String>;
    let mut sums: BTreeMap<Key, [u64; 8]> = BTreeMap::new();
    for o in list.contents() {
        let key = o.key().unwrap();
        let (_, account, _) = fanin::parse_key(key).unwrap();
        let body = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        for r in fanin::decode(&body, Some(&account)).unwrap().rows {
            let k = vec![
                r.account_id.clone(),
                r.source_region.clone(),
                r.app.clone(),
                r.team.clone(),
                r.caller.clone(),
                r.model.clone(),
                r.base_model.clone(),
                r.pool.clone(),
                r.tier.clone(),
                r.prompt_band.to_string(),
            ];
            let s = sums.entry(k).or_default();
            for (i, v) in [
                r.requests,
                r.errors,
                r.input_tokens,
                r.output_tokens,
                r.cache_read_tokens,
                r.cache_write_tokens,
                r.cache_write_1h_tokens,
                r.unpriced_requests,
            ]
            .into_iter()
            .enumerate()
            {
                s[i] += v;
            }
        }
    }
    let cols: Vec<String> = ORG_KEY_COLUMNS
        .iter()
        .chain(ORG_SUM_COLUMNS.iter())
        .map(|c| c.to_string())
        .collect();
    let rows: Vec<Row> = sums
        .into_iter()
        .map(|(k, s)| {
            k.into_iter()
                .chain(s.iter().map(|v| v.to_string()))
                .map(Some)
                .collect()
        })
        .collect();
    seeded(&cols, &rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_fan_in_and_the_home_rollup_sums_them_per_team() {
    let moto = Moto::start();
    for (a, _) in MEMBERS.iter().chain([&LATE]) {
        moto.set_organization(a, ORG);
    }
    moto.set_organization(HOME, ORG);
    moto.set_organization(OUTSIDER.0, "o-other00000");

    // The home account: the fan-in bucket and its policy, the pages bucket, topics, workgroup.
    let home = moto.sdk_config_as(HOME, HOME_REGION).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&home)
            .force_path_style(true)
            .build(),
    );
    for b in [BUCKET, "org-report-pages"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    s3.put_bucket_policy()
        .bucket(BUCKET)
        .policy(home_policy().to_string())
        .send()
        .await
        .unwrap();
    let org_reports = topic(&home, "org-reports").await;
    let org_alerts = topic(&home, "org-alerts").await;
    workgroup(&home, "bedrock-meter-org").await;

    // The late member reported the day before only: it is expected today.
    let late = member(&moto, LATE).await;
    late.run(&moto, day().pred())
        .await
        .expect("late member, day before");

    // The three members' day; the first runs twice (a re-run replaces its object).
    let mut members = Vec::new();
    for m in MEMBERS {
        let m = member(&moto, m).await;
        let out = m.run(&moto, day()).await.expect("member rollup");
        let (url, _) = out.fan_in.clone().expect("a fan-in object written");
        assert_eq!(
            url,
            format!(
                "s3://{BUCKET}/{PREFIX}/fanin/day=2026-11-25/account={}/region={}/rows.json.gz",
                m.account, m.region
            )
        );
        members.push(m);
    }
    let again = members[0].run(&moto, day()).await.expect("re-run");
    assert!(again.fan_in.is_some());
    let keys: Vec<String> = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{PREFIX}/fanin/day=2026-11-25/"))
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 3, "one object per member and day: {keys:?}");

    // An account outside the organisation is refused by the bucket policy: its run fails loudly
    // (after its own emails), nothing of it lands in the bucket.
    let outsider = member(&moto, OUTSIDER).await;
    let refused = outsider.run(&moto, day()).await;
    assert!(
        matches!(&refused, Err(RollupError::FanIn { reason, .. }) if reason.contains("AccessDenied")),
        "{refused:?}"
    );
    assert!(moto.rejections().iter().any(|r| r.service == Service::S3
        && r.code == "AccessDenied"
        && r.message.contains(OUTSIDER.0)));
    assert!(
        !moto.sns_sent(&format!("alerts-{}", OUTSIDER.0)).is_empty(),
        "the outsider's failure alert"
    );
    let after: usize = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{PREFIX}/fanin/day=2026-11-25/"))
        .send()
        .await
        .unwrap()
        .contents()
        .len();
    assert_eq!(after, 3);
    // Nothing else was refused: every member's put passed the policy.
    assert_eq!(moto.rejections().len(), 1, "{:?}", moto.rejections());

    // Each member's own per-team figures (its emails), summed per team.
    let mut member_sum: BTreeMap<String, i64> = BTreeMap::new();
    let mut member_team: BTreeMap<(String, String), i64> = BTreeMap::new();
    for m in &members {
        let msgs = published(&moto, &format!("reports-{}", m.account));
        // The re-run member published twice: count its last run only.
        let teams: std::collections::BTreeSet<&str> =
            msgs.iter().map(|(t, _, _)| t.as_str()).collect();
        let per_run = teams.len();
        for (team, subject, _) in &msgs[msgs.len() - per_run..] {
            if team != "all" {
                *member_sum.entry(team.clone()).or_default() += cents(subject);
                member_team.insert((team.clone(), m.account.to_string()), cents(subject));
            }
        }
    }
    assert_eq!(
        member_sum,
        [
            ("cx".to_string(), 102),
            ("data".into(), 24),
            ("search".into(), 210)
        ]
        .into(),
        "the members' own emails"
    );

    // The home rollup.
    seed(
        &moto,
        HOME,
        HOME_REGION,
        vec![
            org_query_result(&s3, day()).await,
            org_query_result(&s3, day().pred()).await,
        ],
    );
    let cfg = OrgConfig {
        workgroup: "bedrock-meter-org".into(),
        table: TableRef {
            database: "bedrock_meter_org".into(),
            table: "fan_in".into(),
        },
        report_topic_arn: org_reports,
        alert_topic_arn: org_alerts,
        bucket: BUCKET.into(),
        prefix: PREFIX.into(),
        expected_accounts: Vec::new(),
        query_timeout: Duration::from_secs(60),
        reports: Some(ReportsBucket {
            bucket: "org-report-pages".into(),
            region: HOME_REGION.into(),
        }),
    };
    let deps = OrgDeps {
        engine: AthenaEngine::new(&home),
        notifier: SnsNotifier::new(&home),
        store: S3Store::new(&home),
        prices: PriceTable::embedded(),
    };
    let out = handle_org(&deps, &cfg, &json!({"date": "2026-11-25"}), now())
        .await
        .expect("organisation rollup");
    assert_eq!(out.total_usd, "3.360000");
    assert_eq!((out.accounts_reported, out.accounts_expected), (3, 4));
    assert_eq!(out.missing_accounts, [LATE.0]);

    let msgs = published(&moto, "org-reports");
    let mut org_sum: BTreeMap<String, i64> = BTreeMap::new();
    for (team, subject, body) in &msgs {
        // Every email names the member that has not reported.
        assert!(
            body.contains("1 of 4 accounts not reported yet: 444444444444 (us-east-1)"),
            "{team}: {body}"
        );
        if team != "all" {
            org_sum.insert(team.clone(), cents(subject));
        }
    }
    assert_eq!(
        org_sum, member_sum,
        "each team's organisation email = the sum of its accounts'"
    );
    // One email per team and the summary, each with its page.
    assert_eq!(msgs.len(), 4);
    let (_, _, search) = msgs.iter().find(|(t, _, _)| t == "search").unwrap();
    for a in ["111111111111", "222222222222", "333333333333"] {
        assert!(
            search.contains(a),
            "search's email breaks down by account: {a}\n{search}"
        );
    }
    let pages = s3
        .list_objects_v2()
        .bucket("org-report-pages")
        .send()
        .await
        .unwrap()
        .contents()
        .len();
    assert_eq!(pages, 4, "one page per team and the summary's");
    // Each team's page breaks its spend down by account: each row is what that account's own email
    // said for the team, the rows sum to the team's organisation email, and the email links the page.
    for (team, subject, body) in &msgs {
        let key = page_key(day(), (team != "all").then_some(team.as_str()));
        assert!(
            body.contains(&console_url(
                &ReportsBucket {
                    bucket: "org-report-pages".into(),
                    region: HOME_REGION.into()
                },
                &key
            )),
            "{team}: link to {key}"
        );
        let html = page(&s3, &key).await;
        let rows = account_rows(&html);
        let reported: Vec<&BTreeMap<String, String>> = rows
            .iter()
            .filter(|r| r["data-reported"] == "true")
            .collect();
        let sum: i64 = reported
            .iter()
            .map(|r| usd_cents(&r["data-cost-usd"]))
            .sum();
        assert_eq!(sum, cents(subject), "{team}: rows sum to the email");
        if team == "all" {
            // The summary lists every account: the three that reported, and the late one, named.
            let listed: Vec<(&str, &str)> = rows
                .iter()
                .map(|r| (r["data-account"].as_str(), r["data-reported"].as_str()))
                .collect();
            assert_eq!(
                listed,
                [
                    ("222222222222", "true"),
                    ("111111111111", "true"),
                    ("333333333333", "true"),
                    (LATE.0, "false")
                ],
                "{html}"
            );
            assert!(html.contains(&format!(
                "<li class=\"missing-account\" data-account=\"{}\" data-regions=\"{}\">",
                LATE.0, LATE.1
            )));
            continue;
        }
        for r in &reported {
            let account = r["data-account"].clone();
            assert_eq!(
                Some(&usd_cents(&r["data-cost-usd"])),
                member_team.get(&(team.clone(), account.clone())),
                "{team} in {account}: the page's row is the member's own email"
            );
        }
        let want: Vec<&str> = member_team
            .keys()
            .filter(|(t, _)| t == team)
            .map(|(_, a)| a.as_str())
            .collect();
        let mut got: Vec<&str> = reported
            .iter()
            .map(|r| r["data-account"].as_str())
            .collect();
        got.sort();
        assert_eq!(got, want, "{team}: one row per account it spent in");
        assert!(html.contains("1 of 4 accounts not reported yet"), "{team}");
    }
}

/// An object of the pages bucket, as text.
async fn page(s3: &aws_sdk_s3::Client, key: &str) -> String {
    let o = s3
        .get_object()
        .bucket("org-report-pages")
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e:?}"));
    String::from_utf8(o.body.collect().await.unwrap().to_vec()).unwrap()
}

/// The `data-*` attributes of each row of a page's accounts table (one row per line), in order.
fn account_rows(html: &str) -> Vec<BTreeMap<String, String>> {
    html.lines()
        .filter(|l| l.starts_with("<tr class=\"account-row"))
        .map(|l| {
            let head = &l[..l.find('>').unwrap()];
            head.split(" data-")
                .skip(1)
                .map(|kv| {
                    let (k, v) = kv.split_once("=\"").unwrap();
                    (format!("data-{k}"), v[..v.find('"').unwrap()].to_string())
                })
                .collect()
        })
        .collect()
}

/// An exact decimal in whole cents (the test's figures are whole cents: anything else fails).
fn usd_cents(s: &str) -> i64 {
    let (d, f) = s.split_once('.').unwrap_or((s, ""));
    let f = format!("{f:0<15}");
    assert!(f[2..].bytes().all(|b| b == b'0'), "not whole cents: {s}");
    d.parse::<i64>().unwrap() * 100 + f[..2].parse::<i64>().unwrap()
}

/// The home stack's organisation alerts topic policy (org/home.yaml's `OrgAlertsTopicPolicy`,
/// rendered for `topic`).
fn org_topic_policy(topic: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "OrganisationPublishesAlerts", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": "sns:Publish", "Resource": topic,
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORG}}}
    ]})
}

#[test]
fn the_topic_policy_here_is_the_home_templates() {
    let t =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../org/home.yaml")).unwrap();
    assert!(t.contains(
        "          - Sid: OrganisationPublishesAlerts
            Effect: Allow
            Principal:
              AWS: \"*\"
            Action: sns:Publish
            Resource: !Ref OrgAlertsTopic
            Condition:
              StringEquals:
                aws:PrincipalOrgID: !Ref OrganizationId
"
    ));
}

/// A member's ingest Lambda (the real handler and SNS client) with its own alerts topic and the
/// organisation's, fed 700 direct calls in two minutes (above 600 requests in the window): one
/// runaway alert. Returns its outcome and its own topic's name.
async fn runaway_in(
    moto: &Moto,
    stub_endpoint: &str,
    (account, region): (&str, &str),
    org_topic: &str,
) -> (ingest::Outcome, String) {
    use bedrock_meter_core::aws::bedrock::BedrockProfiles;
    use bedrock_meter_core::aws::cloudwatch::CloudWatchMetrics;
    use bedrock_meter_core::aws::dynamodb::DynamoStore;
    use bedrock_meter_integration_tests::{minute_ago, sdk_config_for, subscription_event_json};

    let member = moto.sdk_config_as(account, region).await;
    let own_name = format!("member-alerts-{account}");
    let own_topic = topic(&member, &own_name).await;
    assert!(
        own_topic.contains(&format!(":{region}:{account}:")),
        "{own_topic}"
    );
    let env: BTreeMap<&str, String> = [
        ("METRICS_NAMESPACE", "BedrockMeterOrgTest".to_string()),
        ("ALERT_TOPIC_ARN", own_topic.clone()),
        ("ORG_ALERT_TOPIC_ARN", org_topic.to_string()),
        ("WINDOW_MINUTES", "15".into()),
        ("MAX_COST_USD", "10".into()),
        ("MAX_REQUESTS", "600".into()),
    ]
    .into();
    let cfg = ingest::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let store = DynamoStore::new(&member, "bedrock-meter-state");
    store.create_table().await.unwrap();
    let ingest = ingest::Ingest::new(
        cfg,
        BedrockProfiles::new(&sdk_config_for(stub_endpoint).await),
        CloudWatchMetrics::new(&member),
        SnsNotifier::new(&member),
        store,
    );
    let m = minute_ago(3);
    let role = format!("arn:aws:sts::{account}:assumed-role/batch-worker");
    let msgs: Vec<(i64, String)> = (0..700)
        .map(|i| {
            let ts = m + (i * 120) / 700;
            (
                ts,
                format!(
                    r#"{{"timestamp":"{}","accountId":"{account}","identity":{{"arn":"{role}/i-{i}"}},"region":"{region}","requestId":"r{i}","operation":"Converse","modelId":"us.amazon.nova-lite-v1:0","input":{{"inputTokenCount":100}},"output":{{"outputTokenCount":10}},"schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
                    Timestamp(ts)
                ),
            )
        })
        .collect();
    let event: ingest::SubscriptionEvent = serde_json::from_str(&subscription_event_json(
        account,
        "/aws/bedrock/modelinvocations",
        &msgs,
    ))
    .unwrap();
    let out = ingest.handle(&event, Timestamp(m + 120)).await.unwrap();
    assert_eq!(out.alerts.len(), 1, "{out:?}");
    (out, own_name)
}

/// A runaway in a member account (us-west-2) reaches the organisation's alerts topic in the home
/// account (us-east-1) as well as its own, through the real ingest handler and SNS client: subject and
/// body name the account and Region, and the `account` / `region` attributes carry them. The strict
/// proxy judges each cross-account publish by the topic's policy (org/home.yaml's, set on the topic):
/// the member, in the organisation, may publish; an account outside it is refused with SNS's
/// `AuthorizationError` — its own topic still gets the alert, and the failure is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_runaway_reaches_the_organisation_topic_with_account_and_region() {
    use bedrock_meter_integration_tests::bedrock_stub::BedrockStub;

    let moto = Moto::start();
    let stub = BedrockStub::start();
    let (account, region) = ("111111111111", "us-west-2");
    moto.set_organization(HOME, ORG);
    moto.set_organization(account, ORG);
    moto.set_organization(OUTSIDER.0, "o-other00000");
    let home = moto.sdk_config_as(HOME, HOME_REGION).await;
    let org_topic = topic(&home, "org-alerts").await;
    aws_sdk_sns::Client::new(&home)
        .set_topic_attributes()
        .topic_arn(&org_topic)
        .attribute_name("Policy")
        .attribute_value(org_topic_policy(&org_topic).to_string())
        .send()
        .await
        .unwrap();

    let (out, own_name) = runaway_in(&moto, &stub.endpoint(), (account, region), &org_topic).await;
    assert_eq!(out.alert_publish_failures, 0, "{out:?}");
    let own = moto.sns_sent(&own_name);
    let org = moto.sns_sent("org-alerts");
    assert_eq!((own.len(), org.len()), (1, 1), "one alert on each topic");
    let (own_subject, org_subject) = (own[0][2].as_str().unwrap(), org[0][2].as_str().unwrap());
    assert_eq!(org_subject, format!("[{account} {region}] {own_subject}"));
    assert!(org[0][1]
        .as_str()
        .unwrap()
        .starts_with(&format!("Account {account}, Region {region}\n\n")));
    let attr = |n: &str| {
        let a = &org[0][3][n];
        a["Value"]
            .as_str()
            .or_else(|| a["StringValue"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        (attr("account"), attr("region")),
        (account.into(), region.into())
    );
    assert!(moto.rejections().is_empty(), "{:?}", moto.rejections());

    // An account outside the organisation: its own topic gets the alert, the organisation's refuses
    // it (every attempt), and the ingest counts a failed publish (AlertPublishFailures, alarmed).
    let (out, own_name) = runaway_in(&moto, &stub.endpoint(), OUTSIDER, &org_topic).await;
    assert_eq!(out.alert_publish_failures, 1, "{out:?}");
    assert_eq!(
        moto.sns_sent(&own_name).len(),
        1,
        "the outsider's own alert"
    );
    assert_eq!(
        moto.sns_sent("org-alerts").len(),
        1,
        "nothing more on the org topic"
    );
    let refused = moto.rejections();
    assert!(!refused.is_empty());
    for r in &refused {
        assert_eq!(
            (r.service, r.code),
            (Service::Sns, "AuthorizationError"),
            "{r:?}"
        );
        assert!(
            r.message
                .contains(&format!("arn:aws:iam::{}:root", OUTSIDER.0))
                && r.message.contains(&org_topic),
            "{}",
            r.message
        );
    }
}

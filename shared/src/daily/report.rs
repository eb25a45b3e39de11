//! The daily report model and its renderings (JSON contract, table, CSV, plain-text email). The CLI
//! `report` and the daily Lambda use this same code.

use crate::text::{compact, count, cut, cut_middle, thousands};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::daily::rollup::PricedRow;

use crate::attribution::resolution::UNATTRIBUTED;
use crate::pricing::money::Money;
use crate::pricing::prices::{Unpriced, TIER_UNREAD};
use crate::time::Date;

/// Sums over a set of rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub requests: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Priced usage only; see `unpriced_requests`.
    pub cost: Money,
    pub unpriced_requests: u64,
    /// Why the unpriced requests have no price: a bit per [`UNPRICED_REASONS`] entry.
    pub unpriced_reasons: u8,
}

/// The reasons a usage can be unpriced, as every report names them (`no cache_read rate` etc. are a
/// model without the cache rate the usage needs; `unresolved model` a `modelId` without a base model).
pub const UNPRICED_REASONS: [&str; 7] = [
    "unknown model",
    "unresolved model",
    "no rate for region",
    "no rate for tier",
    "no cache_read rate",
    "no cache_write_5m rate",
    "no cache_write_1h rate",
];

/// Why a priced row has no price, as reports name it; `None` when it is priced.
pub fn unpriced_reason(r: &PricedRow) -> Option<String> {
    match &r.cost {
        Ok(_) => None,
        Err(Unpriced::UnknownModel) if r.resolution.base_model.is_none() => {
            Some("unresolved model".to_string())
        }
        Err(other) => Some(other.reason()),
    }
}

/// The names of the reasons in a [`Group::unpriced_reasons`] set.
pub fn reason_names(bits: u8) -> Vec<&'static str> {
    UNPRICED_REASONS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, r)| *r)
        .collect()
}

impl Group {
    pub(crate) fn add(&mut self, r: &PricedRow) {
        let u = &r.usage;
        self.requests += u.requests;
        self.errors += u.errors;
        self.input_tokens += u.tokens.input;
        self.output_tokens += u.tokens.output;
        self.cache_read_tokens += u.tokens.cache_read;
        self.cache_write_tokens += u.tokens.cache_write;
        match &r.cost {
            Ok(c) => self.cost += *c,
            Err(_) => {
                self.unpriced_requests += u.requests;
                let why = unpriced_reason(r).unwrap_or_default();
                if let Some(i) = UNPRICED_REASONS.iter().position(|x| *x == why) {
                    self.unpriced_reasons |= 1 << i;
                }
            }
        }
    }

    pub fn merge(&mut self, o: &Group) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.cost += o.cost;
        self.unpriced_requests += o.unpriced_requests;
        self.unpriced_reasons |= o.unpriced_reasons;
    }

    /// Share of prompt tokens served from cache (reads / all prompt tokens).
    pub fn cache_share(&self) -> f64 {
        let all = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens;
        if all == 0 {
            0.0
        } else {
            self.cache_read_tokens as f64 / all as f64
        }
    }
}

/// Unpriced usage of one reason, summed over models.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpricedReason {
    pub reason: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpricedModel {
    pub model_id: String,
    pub reason: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One line of the detailed table: caller × team × app × model.
#[derive(Clone, Debug)]
pub struct Line {
    pub caller: String,
    pub team: String,
    pub app: String,
    pub model: String,
    /// Values of the configured metadata keys, in their order (empty when absent); empty in
    /// [`Report::lines`], filled in [`Report::detail`].
    pub metadata: Vec<String>,
    pub group: Group,
}

#[derive(Clone, Debug)]
pub struct Report {
    /// The day reported (`None` when the input spans several days and no day was asked for).
    pub date: Option<Date>,
    pub prices_as_of: Date,
    pub totals: Group,
    pub by_team: Vec<(String, Group)>,
    /// (app, team)
    pub by_app: Vec<((String, String), Group)>,
    pub by_model: Vec<(String, Group)>,
    pub by_caller: Vec<(String, Group)>,
    /// Per service tier the calls were priced in (`default`, `flex`, `priority`, `reserved`).
    pub by_tier: Vec<(String, Group)>,
    /// Per configured metadata key: (value, group).
    pub by_metadata: Vec<(String, Vec<(String, Group)>)>,
    pub lines: Vec<Line>,
    /// The lines split further by metadata values (the CSV rows); the same as `lines` without
    /// metadata keys.
    pub detail: Vec<Line>,
    pub unpriced: Vec<UnpricedModel>,
    /// The unpriced usage by reason (the sum of `unpriced` per reason), most requests first.
    pub unpriced_by_reason: Vec<UnpricedReason>,
    /// Calls whose service tier could not be read (no body logged: text delivery off, or bodies in
    /// S3), per model, most first: priced at the Standard rate, which is right only if they were
    /// served Standard.
    pub tier_unread: Vec<(String, u64)>,
    pub malformed_records: u64,
    /// Files that could not be read at all (not gzip, truncated, no permission): each was warned
    /// about and skipped. Set by the reader (the CLI); 0 for the daily Lambda's Athena rows.
    pub unreadable_files: u64,
}

/// Groups, most spend first (then most requests, then by key).
pub(crate) fn sorted<K: Ord + Clone>(m: BTreeMap<K, Group>) -> Vec<(K, Group)> {
    let mut v: Vec<(K, Group)> = m.into_iter().collect();
    v.sort_by(|a, b| {
        b.1.cost
            .cmp(&a.1.cost)
            .then(b.1.requests.cmp(&a.1.requests))
            .then(a.0.cmp(&b.0))
    });
    v
}

impl Report {
    pub fn build(
        rows: &[PricedRow],
        date: Option<Date>,
        prices_as_of: Date,
        metadata_keys: &[String],
        malformed_records: u64,
    ) -> Report {
        let mut totals = Group::default();
        let mut team: BTreeMap<String, Group> = BTreeMap::new();
        let mut app: BTreeMap<(String, String), Group> = BTreeMap::new();
        let mut model: BTreeMap<String, Group> = BTreeMap::new();
        let mut caller: BTreeMap<String, Group> = BTreeMap::new();
        let mut tier: BTreeMap<String, Group> = BTreeMap::new();
        let mut meta: Vec<BTreeMap<String, Group>> = vec![BTreeMap::new(); metadata_keys.len()];
        let mut lines: BTreeMap<(String, String, String, String), Group> = BTreeMap::new();
        let mut detail: BTreeMap<(String, String, String, String, Vec<String>), Group> =
            BTreeMap::new();
        let mut unpriced: BTreeMap<(String, String), UnpricedModel> = BTreeMap::new();
        let mut tier_unread: BTreeMap<String, u64> = BTreeMap::new();
        for r in rows {
            let res = &r.resolution;
            totals.add(r);
            team.entry(res.team.clone()).or_default().add(r);
            app.entry((res.app.clone(), res.team.clone()))
                .or_default()
                .add(r);
            model.entry(res.model.clone()).or_default().add(r);
            caller.entry(r.key.caller.clone()).or_default().add(r);
            tier.entry(r.key.tier.clone()).or_default().add(r);
            for (i, v) in r.key.metadata.iter().enumerate().take(meta.len()) {
                meta[i]
                    .entry(if v.is_empty() {
                        "(none)".into()
                    } else {
                        v.clone()
                    })
                    .or_default()
                    .add(r);
            }
            lines
                .entry((
                    r.key.caller.clone(),
                    res.team.clone(),
                    res.app.clone(),
                    res.model.clone(),
                ))
                .or_default()
                .add(r);
            if !metadata_keys.is_empty() {
                detail
                    .entry((
                        r.key.caller.clone(),
                        res.team.clone(),
                        res.app.clone(),
                        res.model.clone(),
                        r.key.metadata.clone(),
                    ))
                    .or_default()
                    .add(r);
            }
            if r.key.tier == TIER_UNREAD {
                *tier_unread.entry(res.model.clone()).or_default() += r.usage.requests;
            }
            if let Some(reason) = unpriced_reason(r) {
                let u = unpriced
                    .entry((res.model.clone(), reason.clone()))
                    .or_insert_with(|| UnpricedModel {
                        model_id: res.model.clone(),
                        reason,
                        requests: 0,
                        input_tokens: 0,
                        output_tokens: 0,
                    });
                u.requests += r.usage.requests;
                u.input_tokens += r.usage.tokens.input;
                u.output_tokens += r.usage.tokens.output;
            }
        }
        let mut unpriced: Vec<UnpricedModel> = unpriced.into_values().collect();
        unpriced.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then(a.model_id.cmp(&b.model_id))
        });
        let mut by_reason: BTreeMap<&str, UnpricedReason> = BTreeMap::new();
        for u in &unpriced {
            let e = by_reason
                .entry(u.reason.as_str())
                .or_insert_with(|| UnpricedReason {
                    reason: u.reason.clone(),
                    ..Default::default()
                });
            e.requests += u.requests;
            e.input_tokens += u.input_tokens;
            e.output_tokens += u.output_tokens;
        }
        let mut unpriced_by_reason: Vec<UnpricedReason> = by_reason.into_values().collect();
        unpriced_by_reason
            .sort_by(|a, b| b.requests.cmp(&a.requests).then(a.reason.cmp(&b.reason)));
        let mut tier_unread: Vec<(String, u64)> = tier_unread.into_iter().collect();
        tier_unread.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let lines: Vec<Line> = sorted(lines)
            .into_iter()
            .map(|((caller, team, app, model), group)| Line {
                caller,
                team,
                app,
                model,
                metadata: Vec::new(),
                group,
            })
            .collect();
        let detail = if metadata_keys.is_empty() {
            lines.clone()
        } else {
            sorted(detail)
                .into_iter()
                .map(|((caller, team, app, model, metadata), group)| Line {
                    caller,
                    team,
                    app,
                    model,
                    metadata,
                    group,
                })
                .collect()
        };
        Report {
            date,
            prices_as_of,
            totals,
            by_team: sorted(team),
            by_app: sorted(app),
            by_model: sorted(model),
            by_caller: sorted(caller),
            by_tier: sorted(tier),
            by_metadata: metadata_keys
                .iter()
                .cloned()
                .zip(meta.into_iter().map(sorted))
                .collect(),
            lines,
            detail,
            unpriced,
            unpriced_by_reason,
            tier_unread,
            malformed_records,
            unreadable_files: 0,
        }
    }

    /// The part of the report that one team sees (its apps, models, callers), with the same totals.
    pub fn for_team(&self, team: &str, rows: &[PricedRow], metadata_keys: &[String]) -> Report {
        let mine: Vec<PricedRow> = rows
            .iter()
            .filter(|r| r.resolution.team == team)
            .cloned()
            .collect();
        Report::build(&mine, self.date, self.prices_as_of, metadata_keys, 0)
    }

    /// Direct spend that bypasses application profiles.
    pub fn unattributed(&self) -> Group {
        self.by_team
            .iter()
            .find(|(t, _)| t == UNATTRIBUTED)
            .map(|(_, g)| *g)
            .unwrap_or_default()
    }

    // ---- JSON (a contract: field names are fixed) ----

    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct G<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            team: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            app: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            model: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            caller: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tier: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            value: Option<&'a str>,
            requests: u64,
            errors: u64,
            input_tokens: u64,
            output_tokens: u64,
            cache_read_tokens: u64,
            cache_write_tokens: u64,
            /// The priced part; `null` when no request of the group could be priced.
            cost_usd: Option<Box<RawValue>>,
            unpriced_requests: u64,
        }
        fn g<'a>(grp: &Group) -> G<'a> {
            G {
                team: None,
                app: None,
                model: None,
                caller: None,
                tier: None,
                value: None,
                requests: grp.requests,
                errors: grp.errors,
                input_tokens: grp.input_tokens,
                output_tokens: grp.output_tokens,
                cache_read_tokens: grp.cache_read_tokens,
                cache_write_tokens: grp.cache_write_tokens,
                cost_usd: priced_cost(grp).map(|c| {
                    RawValue::from_string(c.to_decimal_string(9))
                        .expect("a decimal is a JSON number")
                }),
                unpriced_requests: grp.unpriced_requests,
            }
        }
        #[derive(Serialize)]
        struct U<'a> {
            model_id: &'a str,
            reason: &'a str,
            requests: u64,
            input_tokens: u64,
            output_tokens: u64,
        }
        #[derive(Serialize)]
        struct R<'a> {
            reason: &'a str,
            requests: u64,
            input_tokens: u64,
            output_tokens: u64,
        }
        #[derive(Serialize)]
        struct T<'a> {
            model: &'a str,
            requests: u64,
        }
        #[derive(Serialize)]
        struct J<'a> {
            date: Option<String>,
            prices_as_of: String,
            totals: G<'a>,
            by_team: Vec<G<'a>>,
            by_app: Vec<G<'a>>,
            by_model: Vec<G<'a>>,
            by_caller: Vec<G<'a>>,
            by_tier: Vec<G<'a>>,
            by_metadata: BTreeMap<&'a str, Vec<G<'a>>>,
            unpriced: Vec<U<'a>>,
            unpriced_by_reason: Vec<R<'a>>,
            tier_unread: Vec<T<'a>>,
            malformed_records: u64,
            unreadable_files: u64,
        }
        let j = J {
            date: self.date.map(|d| d.to_string()),
            prices_as_of: self.prices_as_of.to_string(),
            totals: g(&self.totals),
            by_team: self
                .by_team
                .iter()
                .map(|(t, grp)| G {
                    team: Some(t),
                    ..g(grp)
                })
                .collect(),
            by_app: self
                .by_app
                .iter()
                .map(|((a, t), grp)| G {
                    app: Some(a),
                    team: Some(t),
                    ..g(grp)
                })
                .collect(),
            by_model: self
                .by_model
                .iter()
                .map(|(m, grp)| G {
                    model: Some(m),
                    ..g(grp)
                })
                .collect(),
            by_caller: self
                .by_caller
                .iter()
                .map(|(c, grp)| G {
                    caller: Some(c),
                    ..g(grp)
                })
                .collect(),
            by_tier: self
                .by_tier
                .iter()
                .map(|(t, grp)| G {
                    tier: Some(t),
                    ..g(grp)
                })
                .collect(),
            by_metadata: self
                .by_metadata
                .iter()
                .map(|(k, vals)| {
                    (
                        k.as_str(),
                        vals.iter()
                            .map(|(v, grp)| G {
                                value: Some(v),
                                ..g(grp)
                            })
                            .collect(),
                    )
                })
                .collect(),
            unpriced: self
                .unpriced
                .iter()
                .map(|u| U {
                    model_id: &u.model_id,
                    reason: &u.reason,
                    requests: u.requests,
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                })
                .collect(),
            unpriced_by_reason: self
                .unpriced_by_reason
                .iter()
                .map(|u| R {
                    reason: &u.reason,
                    requests: u.requests,
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                })
                .collect(),
            tier_unread: self
                .tier_unread
                .iter()
                .map(|(m, n)| T {
                    model: m,
                    requests: *n,
                })
                .collect(),
            malformed_records: self.malformed_records,
            unreadable_files: self.unreadable_files,
        };
        serde_json::to_string_pretty(&j).expect("report serialises")
    }

    // ---- CSV: one row per caller × team × app × model × metadata values ----

    /// `date,caller,team,app,model[,<metadata key>…],requests,errors,input_tokens,output_tokens,
    /// cache_read_tokens,cache_write_tokens,cost_usd,unpriced_requests,unpriced_reasons`: `cost_usd`
    /// with 9 decimals like the JSON, empty when no request of the row could be priced;
    /// `unpriced_reasons` the reasons of its unpriced requests (`; `-separated, empty when none).
    pub fn to_csv(&self) -> String {
        let mut out = self.csv_head();
        out.push('\n');
        let date = self.date.map(|d| d.to_string()).unwrap_or_default();
        for l in &self.detail {
            self.csv_row(&mut out, &date, None, l);
        }
        out
    }

    /// The CSV head line (no line end): [`Self::to_csv`]'s columns.
    pub(crate) fn csv_head(&self) -> String {
        let mut out = String::from("date,caller,team,app,model");
        for (key, _) in &self.by_metadata {
            out.push(',');
            out.push_str(&csv(key));
        }
        out.push_str(",requests,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,unpriced_requests,unpriced_reasons");
        out
    }

    /// One CSV row of a detail line, with an `account` cell after the date when given (the
    /// organisation report's CSV).
    pub(crate) fn csv_row(&self, out: &mut String, date: &str, account: Option<&str>, l: &Line) {
        let g = &l.group;
        out.push_str(date);
        if let Some(a) = account {
            out.push(',');
            out.push_str(&csv(a));
        }
        let _ = write!(
            out,
            ",{},{},{},{}",
            csv(&l.caller),
            csv(&l.team),
            csv(&l.app),
            csv(&l.model),
        );
        for i in 0..self.by_metadata.len() {
            out.push(',');
            out.push_str(&csv(l.metadata.get(i).map_or("", String::as_str)));
        }
        let _ = writeln!(
            out,
            ",{},{},{},{},{},{},{},{},{}",
            g.requests,
            g.errors,
            g.input_tokens,
            g.output_tokens,
            g.cache_read_tokens,
            g.cache_write_tokens,
            priced_cost(g)
                .map(|c| c.to_decimal_string(9))
                .unwrap_or_default(),
            g.unpriced_requests,
            csv(&reason_names(g.unpriced_reasons).join("; "))
        );
    }

    // ---- Table: what a person reads ----

    /// The table with the 25 costliest lines.
    pub fn to_table(&self) -> String {
        self.to_table_top(Some(DEFAULT_TABLE_LINES))
    }

    /// The table with the `top` costliest caller × team × app × model lines (`None`: all of them);
    /// the rest are summed into one line that says how many are hidden.
    pub fn to_table_top(&self, top: Option<usize>) -> String {
        let mut out = String::new();
        let day = self
            .date
            .map(|d| d.to_string())
            .unwrap_or_else(|| "all records".into());
        let _ = writeln!(
            out,
            "Bedrock spend {day}  (prices as of {})",
            self.prices_as_of
        );
        let _ = writeln!(out);
        // Token counts are compact (`56.6M`) and names shortened to fit TABLE_WIDTH (`fit_names`):
        // the table fits a terminal; JSON and CSV have every figure and name whole.
        let head = [
            "caller",
            "team",
            "app",
            "model",
            "requests",
            "in",
            "out",
            "cache rd",
            "cache wr",
            "est. cost",
        ];
        let max_lines = top.unwrap_or(usize::MAX);
        let numbers = |g: &Group| -> [String; 6] {
            [
                thousands(g.requests),
                compact(g.input_tokens),
                compact(g.output_tokens),
                compact(g.cache_read_tokens),
                compact(g.cache_write_tokens),
                cost_cell(g),
            ]
        };
        let mut lines: Vec<TableLine> = self
            .lines
            .iter()
            .take(max_lines)
            .map(|l| TableLine {
                names: [
                    short_caller(&l.caller),
                    l.team.clone(),
                    l.app.clone(),
                    table_model(&l.model),
                ],
                numbers: numbers(&l.group),
                ours: false,
            })
            .collect();
        let ours = |label: String, g: &Group| TableLine {
            names: [label, String::new(), String::new(), String::new()],
            numbers: numbers(g),
            ours: true,
        };
        if self.lines.len() > max_lines {
            let mut rest = Group::default();
            for l in &self.lines[max_lines..] {
                rest.merge(&l.group);
            }
            let hidden = (self.lines.len() - max_lines) as u64;
            let label = format!("… {} (--all shows them)", count(hidden, "more line"));
            lines.push(ours(label, &rest));
        }
        let t = &self.totals;
        lines.push(ours("TOTAL".into(), t));
        let widths = fit_names(&head, &lines);
        let rows: Vec<[String; 10]> = lines
            .into_iter()
            .map(|l| {
                let [caller, team, app, model] = l.names;
                let [a, b, c, d] = if l.ours {
                    [caller, team, app, model]
                } else {
                    [
                        cut_caller(&caller, widths[0]),
                        cut(&team, widths[1]),
                        cut(&app, widths[2]),
                        cut(&model, widths[3]),
                    ]
                };
                let [e, f, g, h, i, j] = l.numbers;
                [a, b, c, d, e, f, g, h, i, j]
            })
            .collect();
        out.push_str(&table_grouped(&head, &[(5, 8, "tokens")], &rows, 4));
        let sections = [
            (
                "team",
                self.by_team
                    .iter()
                    .map(|(k, g)| (k.clone(), g))
                    .collect::<Vec<_>>(),
            ),
            (
                "app",
                self.by_app
                    .iter()
                    .map(|((a, t), g)| (format!("{a} ({t})"), g))
                    .collect(),
            ),
            (
                "model",
                self.by_model.iter().map(|(k, g)| (k.clone(), g)).collect(),
            ),
            (
                "service tier",
                self.by_tier.iter().map(|(k, g)| (k.clone(), g)).collect(),
            ),
        ];
        let meta = self.by_metadata.iter().map(|(k, vals)| {
            (
                k.as_str(),
                vals.iter().map(|(v, g)| (v.clone(), g)).collect::<Vec<_>>(),
            )
        });
        for (title, groups) in sections.into_iter().chain(meta) {
            let _ = writeln!(out, "\nBy {}:", crate::text::clean_line(title));
            // Names from tags and logs are cut at SECTION_NAME_MAX (a whole application-profile ARN
            // fits): the lines stay within a terminal's width.
            let groups: Vec<(String, &Group)> = groups
                .into_iter()
                .map(|(k, g)| (cut(&crate::text::clean_line(&k), SECTION_NAME_MAX), g))
                .collect();
            let width = groups
                .iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(0)
                .max(20);
            for (k, g) in groups {
                let _ = writeln!(
                    out,
                    "  {k:<width$}  {:>18}  {:>17}",
                    cost_cell(g),
                    count(g.requests, "request")
                );
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Cache share of prompt tokens: {:.1}%   Errors: {}",
            100.0 * t.cache_share(),
            thousands(t.errors)
        );
        let un = self.unattributed();
        if un.requests > 0 {
            let _ = writeln!(
                out,
                "Unattributed (calls without an application profile): {} in {}",
                un.cost,
                count(un.requests, "request")
            );
        }
        for u in &self.unpriced {
            let _ = writeln!(
                out,
                "UNPRICED: {} — {} ({}, {} in / {} out tokens)",
                crate::text::clean_line(&u.model_id),
                crate::text::clean_line(&u.reason),
                count(u.requests, "request"),
                thousands(u.input_tokens),
                thousands(u.output_tokens)
            );
        }
        for u in &self.unpriced_by_reason {
            let _ = writeln!(
                out,
                "Unpriced by reason: {} — {}, {} in / {} out tokens",
                u.reason,
                count(u.requests, "request"),
                thousands(u.input_tokens),
                thousands(u.output_tokens)
            );
        }
        for (model, n) in &self.tier_unread {
            let _ = writeln!(
                out,
                "Tier not read (no body logged; priced as Standard): {} — {}",
                crate::text::clean_line(model),
                count(*n, "call")
            );
        }
        if let Some(line) = skipped_summary(self.malformed_records, self.unreadable_files) {
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

/// Lines the report table shows by default.
pub const DEFAULT_TABLE_LINES: usize = 25;

/// The group's priced cost, `None` when none of its requests could be priced (never a $0 for
/// unknown money). A partly priced group has its priced part here and the rest in
/// `unpriced_requests`.
pub fn priced_cost(g: &Group) -> Option<Money> {
    (g.unpriced_requests == 0 || g.unpriced_requests < g.requests).then_some(g.cost)
}

/// What a reader skipped, in the words every command uses: `Skipped: 2 malformed records, 1
/// unreadable file` (`None` when nothing was skipped).
pub fn skipped_summary(malformed_records: u64, unreadable_files: u64) -> Option<String> {
    let mut parts = Vec::new();
    if malformed_records > 0 {
        parts.push(format!(
            "{} malformed record{}",
            thousands(malformed_records),
            if malformed_records == 1 { "" } else { "s" }
        ));
    }
    if unreadable_files > 0 {
        parts.push(format!(
            "{} unreadable file{}",
            thousands(unreadable_files),
            if unreadable_files == 1 { "" } else { "s" }
        ));
    }
    (!parts.is_empty()).then(|| format!("Skipped: {}", parts.join(", ")))
}

/// `$1.23`, with `+ unpriced` when part of the group has no price.
pub fn cost_cell(g: &Group) -> String {
    if g.unpriced_requests == 0 {
        g.cost.to_string()
    } else if g.unpriced_requests == g.requests {
        "unpriced".into()
    } else {
        format!("{} + unpriced", g.cost)
    }
}

/// The report table's width: its lines fit in this many columns when the names can be cut to fit
/// (down to [`TABLE_NAME_MIN`] each).
pub const TABLE_WIDTH: usize = 160;
/// The narrowest the caller, team, app and model columns are cut to.
pub const TABLE_NAME_MIN: [usize; 4] = [24, 12, 12, 24];
/// Widest a name gets in the table's "By …" sections (a whole application-profile ARN fits).
pub const SECTION_NAME_MAX: usize = 100;

/// One line of the report table before its names are cut to fit: caller, team, app, model (whole),
/// the figures, and whether the line is the table's own (`TOTAL`, `… N more lines`: never cut).
struct TableLine {
    names: [String; 4],
    numbers: [String; 6],
    ours: bool,
}

/// The widths of the caller, team, app and model columns: the names' own, and while the table is
/// wider than [`TABLE_WIDTH`], the widest of them one narrower (not below [`TABLE_NAME_MIN`], the
/// head, or a label of the table's own).
fn fit_names(head: &[&str; 10], lines: &[TableLine]) -> [usize; 4] {
    let chars = |s: &str| s.chars().count();
    let numbers: usize = (0..6)
        .map(|i| {
            lines
                .iter()
                .map(|l| chars(&l.numbers[i]))
                .chain([chars(head[4 + i])])
                .max()
                .unwrap_or(0)
        })
        .sum();
    let mut w = [0; 4];
    let mut floor = [0; 4];
    for i in 0..4 {
        w[i] = chars(head[i]);
        floor[i] = TABLE_NAME_MIN[i].max(chars(head[i]));
        for l in lines {
            w[i] = w[i].max(chars(&l.names[i]));
            if l.ours {
                floor[i] = floor[i].max(chars(&l.names[i]));
            }
        }
    }
    let gaps = 2 * (head.len() - 1);
    while w.iter().sum::<usize>() + numbers + gaps > TABLE_WIDTH {
        match (0..4).filter(|&i| w[i] > floor[i]).max_by_key(|&i| w[i]) {
            Some(i) => w[i] -= 1,
            None => break,
        }
    }
    w
}

/// A caller cut to `max` characters: of `kind/role/session` the role first (so an IAM Identity
/// Center user's name stays whole: `assumed-role/AWSRes…/jane@example.com`), otherwise the middle.
pub fn cut_caller(caller: &str, max: usize) -> String {
    let n = caller.chars().count();
    if n <= max {
        return caller.to_string();
    }
    let parts: Vec<&str> = caller.splitn(3, '/').collect();
    if let [kind, role, session] = parts[..] {
        let role_len = role.chars().count();
        let keep = role_len.saturating_sub(n - max);
        if keep >= 1 {
            return format!("{kind}/{}/{session}", cut(role, keep));
        }
    }
    cut_middle(caller, max)
}

/// A model as the report table shows it (then cut to the column's width like every name):
///
/// - an ARN (an application profile that could not be resolved, a provisioned, custom or imported
///   model, a prompt router) → `…` and the last word of its resource type with the id:
///   `…profile/deleted00001`, `…model/abc123`;
/// - a model id without its provider (`anthropic.claude-sonnet-4-5-20250929-v1:0` →
///   `claude-sonnet-4-5-20250929-v1:0`) when the name after it says what it is (starts with three
///   letters: `claude`, `nova`, `llama3`, `gpt`); `deepseek.v3-v1:0` stays whole.
///
/// The "By model" section, the UNPRICED lines, JSON and CSV name the model whole.
pub fn table_model(model: &str) -> String {
    if let Some(resource) = model
        .strip_prefix("arn:")
        .and_then(|_| model.splitn(6, ':').nth(5))
    {
        return match resource.split_once('/') {
            Some((kind, id)) => format!("…{}/{id}", kind.rsplit('-').next().unwrap_or(kind)),
            None => format!("…{resource}"),
        };
    }
    let name = match model.split_once('.') {
        Some((provider, rest))
            if !provider.is_empty()
                && provider
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && rest.bytes().take(3).filter(u8::is_ascii_alphabetic).count() == 3 =>
        {
            rest
        }
        _ => model,
    };
    name.to_string()
}

/// `arn:aws:sts::1:assumed-role/Role/session` → `assumed-role/Role/session`.
pub fn short_caller(arn: &str) -> String {
    match arn.splitn(6, ':').nth(5) {
        Some(rest) if arn.starts_with("arn:") => rest.to_string(),
        _ => arn.to_string(),
    }
}

/// One CSV field: the value cleaned for one line ([`crate::text::clean_line`]: a CR or LF, which
/// spreadsheet tools read as a row break even unquoted, is written out), a value a spreadsheet would
/// run as a formula (starting with `=`, `+`, `-`, `@` or a tab — OWASP "CSV Injection") prefixed with
/// `'` so it stays text, and quoted when it holds `,` or `"`. Only text columns pass through here;
/// numbers are written as they are.
pub(crate) fn csv(s: &str) -> String {
    let s = crate::text::clean_line(s);
    let s = if s.starts_with(['=', '+', '-', '@', '\t']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        s
    };
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A plain-text table; columns from `numeric_from` on are right-aligned. Every cell is cleaned for
/// one line ([`crate::text::clean_line`]), so no value can break a row or forge one.
pub fn table<const N: usize>(
    head: &[&str; N],
    rows: &[[String; N]],
    numeric_from: usize,
) -> String {
    table_grouped(head, &[], rows, numeric_from)
}

/// [`table`] with a line above the head that labels groups of columns: `(first, last, label)`
/// spans columns `first..=last` with `--- label ---`.
pub fn table_grouped<const N: usize>(
    head: &[&str; N],
    groups: &[(usize, usize, &str)],
    rows: &[[String; N]],
    numeric_from: usize,
) -> String {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|r| r.clone().map(|c| crate::text::clean_line(&c).into_owned()))
        .collect();
    let rows = rows.as_slice();
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    if !groups.is_empty() {
        let start = |i: usize| w[..i].iter().sum::<usize>() + 2 * i;
        let mut line = String::new();
        for &(first, last, label) in groups {
            let (from, to) = (start(first), start(last) + w[last]);
            let span = to - from;
            let text = format!(" {label} ");
            let dashes = span.saturating_sub(text.chars().count());
            let left = dashes / 2;
            let pad = from.saturating_sub(line.chars().count());
            line.push_str(&" ".repeat(pad));
            line.push_str(&"-".repeat(left));
            line.push_str(&text);
            line.push_str(&"-".repeat(dashes - left));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i >= numeric_from {
                    format!("{c:>width$}", width = w[i])
                } else {
                    format!("{c:<width$}", width = w[i])
                }
            })
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(head.to_vec(), &mut out);
    line(
        w.iter()
            .map(|n| "-".repeat(*n))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        &mut out,
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::profiles::ProfileMap;
    use crate::attribution::resolution::AttributionConfig;
    use crate::daily::rollup::{price_rows, Rollup, UsageKey};
    use crate::pricing::prices::PriceTable;
    use crate::records::record::Tokens;
    use crate::records::record::Usage;

    fn report(keys: &[String]) -> Report {
        let mut r = Rollup::default();
        for (model, caller, tenant, input) in [
            ("amazon.nova-lite-v1:0", "a", "acme", 1_000_000u64),
            ("amazon.titan-text-express-v1", "a", "acme", 10),
            ("amazon.titan-text-express-v1", "b", "", 10),
        ] {
            r.add_row(
                UsageKey {
                    model_id: model.into(),
                    region: "us-east-1".into(),
                    caller: caller.into(),
                    metadata: if keys.is_empty() {
                        vec![]
                    } else {
                        vec![tenant.into()]
                    },
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests: 1,
                    errors: 0,
                    tokens: Tokens {
                        input,
                        ..Default::default()
                    },
                },
            );
        }
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig {
            metadata_keys: keys.to_vec(),
            ..AttributionConfig::default()
        };
        let rows = price_rows(&r.rows, &ProfileMap::default(), &prices, &cfg);
        Report::build(&rows, Date::parse("2026-11-25"), prices.as_of, keys, 0)
    }

    #[test]
    fn unknown_money_is_null_in_json_and_empty_in_csv() {
        let keys = vec!["tenant".to_string()];
        let r = report(&keys);
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            j["totals"]["cost_usd"].as_f64(),
            Some(0.06),
            "the priced part"
        );
        assert_eq!(j["totals"]["unpriced_requests"], 2);
        let titan = j["by_model"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == "amazon.titan-text-express-v1")
            .unwrap();
        assert!(titan["cost_usd"].is_null(), "{titan}");
        assert_eq!(j["unreadable_files"], 0);
        let csv = r.to_csv();
        assert!(
            csv.starts_with("date,caller,team,app,model,tenant,requests,"),
            "{csv}"
        );
        assert!(
            csv.contains(",acme,1,0,1000000,0,0,0,0.060000000,0,\n"),
            "{csv}"
        );
        assert!(
            csv.contains(
                ",b,unattributed,unattributed,amazon.titan-text-express-v1,,1,0,10,0,0,0,,1,unknown model\n"
            ),
            "{csv}"
        );
        // The CSV rows sum to the totals.
        assert_eq!(csv.lines().count(), 1 + 3);
    }

    #[test]
    fn skipped_is_said_the_same_way_everywhere() {
        assert_eq!(skipped_summary(0, 0), None);
        assert_eq!(
            skipped_summary(1, 2).as_deref(),
            Some("Skipped: 1 malformed record, 2 unreadable files")
        );
        assert_eq!(
            skipped_summary(1_500, 1).as_deref(),
            Some("Skipped: 1,500 malformed records, 1 unreadable file")
        );
        let mut r = report(&[]);
        r.unreadable_files = 1;
        assert!(r.to_table().contains("Skipped: 1 unreadable file\n"));
    }

    #[test]
    fn forged_values_forge_no_row_in_the_table_or_the_csv() {
        let mut r = Rollup::default();
        for (caller, model) in [
            ("a\nCharts: https://evil.example/n", "amazon.nova-lite-v1:0"),
            (
                "b\rCharts: https://evil.example/r",
                "acme.x\nCharts: https://evil.example/m",
            ),
        ] {
            r.add_row(
                UsageKey {
                    model_id: model.into(),
                    region: "us-east-1".into(),
                    caller: caller.into(),
                    metadata: vec!["t\u{2028}Charts: x".into()],
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests: 1,
                    errors: 0,
                    tokens: Tokens {
                        input: 10,
                        ..Default::default()
                    },
                },
            );
        }
        let prices = PriceTable::embedded();
        let rows = price_rows(
            &r.rows,
            &ProfileMap::default(),
            &prices,
            &AttributionConfig::default(),
        );
        let keys = vec!["tenant\nCharts: k".to_string()];
        let rep = Report::build(&rows, None, prices.as_of, &keys, 0);
        for text in [rep.to_table(), rep.to_csv()] {
            for line in text.split(['\n', '\r', '\u{2028}']) {
                assert!(!line.starts_with("Charts:"), "{line:?} in\n{text}");
            }
        }
        let csv = rep.to_csv();
        assert_eq!(csv.lines().count(), 1 + 2, "{csv}");
        assert!(csv.contains("a\\nCharts: https://evil.example/n,"), "{csv}");
        assert!(csv.contains("b\\rCharts: https://evil.example/r,"), "{csv}");
    }

    /// A value a spreadsheet would run as a formula stays text in the CSV.
    #[test]
    fn formula_values_stay_text_in_the_csv() {
        let mut r = Rollup::default();
        for (caller, team) in [
            ("=HYPERLINK(\"https://evil.example\",\"x\")", "@SUM(A1)"),
            ("+1+1", "-2+3"),
            ("arn:aws:iam::1:user/plain", "\tcmd"),
        ] {
            r.add_row(
                UsageKey {
                    model_id: "amazon.nova-lite-v1:0".into(),
                    region: "us-east-1".into(),
                    caller: caller.into(),
                    metadata: vec![team.into()],
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests: 1,
                    errors: 0,
                    tokens: Tokens {
                        input: 10,
                        ..Default::default()
                    },
                },
            );
        }
        let prices = PriceTable::embedded();
        let rows = price_rows(
            &r.rows,
            &ProfileMap::default(),
            &prices,
            &AttributionConfig::default(),
        );
        let keys = vec!["tenant".to_string()];
        let csv = Report::build(&rows, None, prices.as_of, &keys, 0).to_csv();
        for line in csv.lines().skip(1) {
            for field in line.split(',') {
                let field = field.trim_start_matches('"');
                assert!(
                    !field.starts_with(['=', '+', '-', '@', '\t']),
                    "{field:?} in {line:?}"
                );
            }
        }
        assert!(
            csv.contains("\"'=HYPERLINK(\"\"https://evil.example\"\""),
            "{csv}"
        );
        assert!(csv.contains("'@SUM(A1)"), "{csv}");
        assert!(csv.contains("'+1+1"), "{csv}");
        assert!(csv.contains("arn:aws:iam::1:user/plain"), "{csv}");
    }

    /// Unpriced usage by reason, and calls whose tier the log does not show, in every rendering —
    /// from records: a call from a Region without a rate, an unknown model, a call logged without a
    /// body (tier unread) and one whose body names no tier.
    #[test]
    fn unpriced_reasons_and_unread_tiers_are_reported() {
        use crate::attribution::profiles::NoProfiles;
        use crate::attribution::resolution::AttributionConfig;
        use crate::daily::rollup::{price_rows, Rollup};
        use crate::pricing::prices::PriceTable;
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig::default();
        let rec = |region: &str, model: &str, body: &str| {
            format!(
                r#"{{"timestamp":"2026-12-07T10:00:00Z","region":"{region}","modelId":"{model}","identity":{{"arn":"arn:aws:iam::1:user/u"}},"input":{{"inputTokenCount":1000{body}}},"output":{{"outputTokenCount":100}}}}"#
            )
        };
        let lite = "amazon.nova-lite-v1:0";
        let texts = [
            rec("eu-west-2", lite, ""),              // no eu rate
            rec("us-east-1", "acme.unknown-v1", ""), // unknown model
            rec("us-east-1", lite, ""),              // no body: tier unread
            rec("us-east-1", lite, r#","inputBodyJson":{"messages":[]}"#), // body, no tier: default
        ];
        let mut rollup = Rollup::default();
        for t in &texts {
            rollup.add_record(&crate::records::record::parse(t).unwrap(), &cfg, &prices);
        }
        let rows = price_rows(&rollup.rows, &NoProfiles, &prices, &cfg);
        let r = Report::build(&rows, None, prices.as_of, &[], 0);
        let reasons: Vec<(&str, u64, u64)> = r
            .unpriced_by_reason
            .iter()
            .map(|u| (u.reason.as_str(), u.requests, u.input_tokens))
            .collect();
        assert_eq!(
            reasons,
            [("no rate for region", 1, 1000), ("unknown model", 1, 1000)]
        );
        // Both eu-west-2 and the no-body call are unread; the unknown model too (no body).
        assert_eq!(
            r.tier_unread,
            [(lite.to_string(), 2), ("acme.unknown-v1".to_string(), 1)]
        );
        let table = r.to_table();
        assert!(
            table.contains(
                "Unpriced by reason: no rate for region — 1 request, 1,000 in / 100 out tokens\n"
            ),
            "{table}"
        );
        assert!(table.contains(&format!(
            "Tier not read (no body logged; priced as Standard): {lite} — 2 calls\n"
        )));
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["unpriced_by_reason"][0]["reason"], "no rate for region");
        assert_eq!(j["unpriced_by_reason"][0]["output_tokens"], 100);
        assert_eq!(j["tier_unread"][0]["model"], lite);
        assert_eq!(j["tier_unread"][0]["requests"], 2);
        // The London call is never priced at the US rate: Nova Lite's cost is the two US calls only.
        let nova = r.by_model.iter().find(|(m, _)| m == lite).unwrap().1;
        assert_eq!((nova.requests, nova.unpriced_requests), (3, 1));
        assert_eq!(nova.cost, Money::from_usd_text("0.000168").unwrap());
        let csv = r.to_csv();
        assert!(csv
            .lines()
            .next()
            .unwrap()
            .ends_with(",unpriced_requests,unpriced_reasons"));
        assert!(csv.contains(",1,no rate for region\n"), "{csv}");
        let html = crate::daily::report_html::render(&crate::daily::report_html::Page {
            report: &r,
            audience: crate::daily::email::Audience::Summary,
            hourly: None,
            incidents: None,
        });
        assert!(html.contains("data-reason=\"no rate for region\""));
        assert!(html.contains("id=\"tier-unread\""));
    }

    /// Rows of `(model_id, caller, requests)` priced with the embedded table and no profiles.
    fn report_of(rows: &[(&str, &str, u64)]) -> Report {
        let mut r = Rollup::default();
        for &(model, caller, requests) in rows {
            r.add_row(
                UsageKey {
                    model_id: model.into(),
                    region: "us-east-1".into(),
                    caller: caller.into(),
                    metadata: vec![],
                    prompt_band: 0,
                    tier: "default".into(),
                },
                &Usage {
                    requests,
                    errors: 0,
                    tokens: Tokens {
                        input: 56_600_964 * requests,
                        output: 1_234,
                        cache_read: 412_238_442,
                        cache_write: 999,
                        ..Default::default()
                    },
                },
            );
        }
        let prices = PriceTable::embedded();
        let cfg = AttributionConfig::default();
        let rows = price_rows(&r.rows, &ProfileMap::default(), &prices, &cfg);
        Report::build(&rows, Date::parse("2026-11-25"), prices.as_of, &[], 0)
    }

    const GONE: &str =
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/deleted00001";
    const SSO: &str = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUserAccess_0123456789abcdef/jane.doe@example.com";

    #[test]
    fn the_table_shortens_long_names_and_json_and_csv_keep_them() {
        let r = report_of(&[
            (GONE, SSO, 3),
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", SSO, 2),
            ("deepseek.v3-v1:0", "arn:aws:iam::1:user/a", 1),
        ]);
        let t = r.to_table();
        // Forged names of any length: cut to fit too.
        let huge_model = format!("acme.{}", "x".repeat(300));
        let huge_caller = format!("arn:aws:iam::1:user/{}", "u".repeat(200));
        let forged = report_of(&[(&huge_model, &huge_caller, 1), (GONE, SSO, 3)]).to_table();
        // (The UNPRICED lines name the model whole, as logged.)
        for line in forged.lines().filter(|l| !l.starts_with("UNPRICED: ")) {
            assert!(
                line.chars().count() <= 160,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(forged.contains("xxx… "), "{forged}");
        assert!(
            forged.contains("\nuser/uuuu") && forged.contains("uuu…uuu"),
            "{forged}"
        );
        for line in t.lines() {
            assert!(
                line.chars().count() <= 160,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        // The lines table: the profile id, the model without its provider, the person kept.
        let lines: Vec<&str> = t.lines().take_while(|l| !l.starts_with("TOTAL")).collect();
        let body = lines.join("\n");
        assert!(body.contains("…profile/deleted00001 "), "{t}");
        assert!(!body.contains(GONE), "{t}");
        assert!(body.contains(" claude-sonnet-4-5-20250929-v1:0 "), "{t}");
        assert!(
            body.contains(" deepseek.v3-v1:0 "),
            "no provider-less `v3`: {t}"
        );
        assert!(body.contains("…/jane.doe@example.com "), "{t}");
        assert!(
            body.contains("\nassumed-role/…/jane.doe@example.com "),
            "{t}"
        );
        // Compact token counts under one "tokens" label, exact requests.
        assert!(t.contains("- tokens -"), "{t}");
        assert!(
            body.contains("  170M  ") && body.contains("  412M  "),
            "{t}"
        );
        // The By-model section and the UNPRICED line name the profile whole.
        assert!(t.contains(&format!("\n  {GONE}  ")), "{t}");
        assert!(t.contains(&format!("UNPRICED: {GONE} — ")), "{t}");
        // JSON and CSV keep every name and figure whole.
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let models: Vec<&str> = j["by_model"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["model"].as_str().unwrap())
            .collect();
        assert!(models.contains(&GONE), "{models:?}");
        assert!(models.contains(&"anthropic.claude-sonnet-4-5-20250929-v1:0"));
        assert!(j["by_caller"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["caller"] == SSO));
        assert_eq!(j["totals"]["input_tokens"], 56_600_964u64 * 6);
        let csv = r.to_csv();
        assert!(
            csv.contains(&format!(
                ",{SSO},unresolved,deleted00001,{GONE},3,0,169802892,"
            )),
            "{csv}"
        );
    }

    #[test]
    fn table_model_names() {
        assert_eq!(table_model(GONE), "…profile/deleted00001");
        assert_eq!(
            table_model("arn:aws:bedrock:us-east-1:1:provisioned-model/abc123"),
            "…model/abc123"
        );
        assert_eq!(table_model("amazon.nova-micro-v1:0"), "nova-micro-v1:0");
        assert_eq!(table_model("deepseek.r1-v1:0"), "deepseek.r1-v1:0");
        assert_eq!(table_model("no-provider"), "no-provider");
        assert_eq!(table_model("Weird.Claude"), "Weird.Claude");
        assert_eq!(
            table_model("arn:aws:bedrock:us-east-1:1:custom-model/amazon.titan:0:8k/abc"),
            "…model/amazon.titan:0:8k/abc"
        );
        assert_eq!(table_model("arn:aws:bedrock:us-east-1:1:odd"), "…odd");
        // Cutting to a width: the role of a session first, else the middle.
        let sso =
            "assumed-role/AWSReservedSSO_PowerUserAccess_0123456789abcdef/jane.doe@example.com";
        assert_eq!(
            cut_caller(sso, 48),
            "assumed-role/AWSReservedSS…/jane.doe@example.com"
        );
        assert_eq!(cut_caller(sso, 48).chars().count(), 48);
        assert!(cut_caller(sso, 48).ends_with("/jane.doe@example.com"));
        assert_eq!(cut_caller(sso, 30).chars().count(), 30);
        assert_eq!(cut_caller("user/alice", 30), "user/alice");
    }

    #[test]
    fn one_request_is_one_request() {
        // One request of the unpriced model, one of the priced one, by one caller each.
        let r = report_of(&[
            ("amazon.titan-text-express-v1", "arn:aws:iam::1:user/a", 1),
            ("amazon.nova-lite-v1:0", "arn:aws:iam::1:user/b", 1),
        ]);
        let mut t = r.to_table();
        assert!(!t.contains("1 requests"), "{t}");
        assert!(t.contains("  1 request\n"), "the By-… lines: {t}");
        assert!(t.contains("  2 requests\n"), "the By-team line: {t}");
        assert!(t.contains("(1 request, "), "the UNPRICED line: {t}");
        assert!(t.contains("in 2 requests\n"), "the unattributed line: {t}");
        t = r.to_table_top(Some(1));
        assert!(t.contains("… 1 more line (--all shows them)"), "{t}");
        let three = report_of(&[
            ("amazon.nova-lite-v1:0", "arn:aws:iam::1:user/a", 1),
            ("amazon.nova-lite-v1:0", "arn:aws:iam::1:user/b", 1),
            ("amazon.nova-lite-v1:0", "arn:aws:iam::1:user/c", 1),
        ]);
        let t = three.to_table_top(Some(1));
        assert!(t.contains("… 2 more lines (--all shows them)"), "{t}");
        assert!(t.contains("in 3 requests\n"), "{t}");
    }
}

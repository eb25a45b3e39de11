//! The pricing CTE the query pack's SQL prices with: one row per price-table `match` prefix × pool ×
//! Region key (a Region, a Region group, or '' for any Region) × long-context flag, each the core's
//! rates for it, and the Region-group CTE that maps a source Region to its groups.

use super::*;

/// One row of the pricing CTE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceRow {
    /// A `match` prefix of the price table.
    pub price_match: String,
    pub price_name: String,
    /// `global` (global. profiles) or `regional` (geographic profiles and in-Region calls).
    pub pool: &'static str,
    /// A Region (`eu-west-2`), a Region group of the table (`us`, `eu`, …), or '' = any Region (the
    /// global rates).
    pub region: String,
    pub long_context: bool,
    /// The prompt band from which the model bills at its long-context rates
    /// (`PriceTable::prompt_band`); `None` when it has no long-context tier.
    pub long_context_from: Option<u8>,
    pub rates: Rates,
}

/// The pool column of the pricing CTE for a core pool.
pub(crate) fn price_pool(pool: &Pool) -> &'static str {
    if *pool == Pool::Global {
        "global"
    } else {
        "regional"
    }
}

/// Every row of the pricing CTE: for each prefix, pool and long-context flag, the rates the core
/// prices with (`PriceTable::rates`): the global rates (Region '') where the model has them for the
/// global pool, none where its global pool is not priced (`global_unpriced`), else its rates per
/// Region key. The SQL picks, for a call's source Region, the row of
/// the Region itself, else of its first group that has one (the core's order).
pub(crate) fn pricing_cte_rows(prices: &PriceTable) -> Vec<PriceRow> {
    let mut out = Vec::new();
    for m in &prices.models {
        let from = m.long_context_rule.as_ref().and_then(|rule| {
            prices
                .long_context_thresholds
                .iter()
                .position(|t| *t == rule.above_prompt_tokens)
                .map(|i| (i + 1) as u8)
        });
        for s in &m.matches {
            for pool in [Pool::Global, Pool::InRegion] {
                for lc in [false, true] {
                    let rates = match (lc, &m.long_context) {
                        (false, _) => &m.rates,
                        (true, Some(l)) => l,
                        (true, None) => continue,
                    };
                    let row = |region: &str, rates: &Rates| PriceRow {
                        price_match: s.clone(),
                        price_name: m.name.clone(),
                        pool: price_pool(&pool),
                        region: region.to_string(),
                        long_context: lc,
                        long_context_from: from,
                        rates: rates.clone(),
                    };
                    match (&pool, &rates.global) {
                        (Pool::Global, Some(g)) => out.push(row("", g)),
                        // The global pool is not priced (`global_unpriced`): no global row, so
                        // the SQL's pick does not fit ('no rate for region'), as in the core.
                        (Pool::Global, None) if rates.global_unpriced.is_some() => {}
                        _ => {
                            let mut keys: Vec<&String> = rates.regional.keys().collect();
                            keys.sort();
                            for k in keys {
                                out.push(row(k, &rates.regional[k]));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn rate_text(r: Option<Rate>) -> String {
    r.map_or_else(|| "NULL".into(), |r| sql_string(&r.per_million_text()))
}

/// The Region-group CTE (`region_groups AS (…)`): one row per Region and group it belongs to, with
/// the group's rank (1 = tried first), from the price table's `region_groups`.
pub fn region_groups_cte(prices: &PriceTable) -> String {
    let mut s = String::from(
        "region_groups AS (\n  -- The price table's Region groups: a Region's own rates win, then its groups by rank.\n  SELECT region, group_name, group_rank\n  FROM (\n    VALUES\n",
    );
    let mut lines = Vec::new();
    for (i, g) in prices.region_groups.iter().enumerate() {
        for r in &g.regions {
            lines.push(format!(
                "      ({}, {}, {})",
                sql_string(r),
                sql_string(&g.name),
                i + 1
            ));
        }
    }
    if lines.is_empty() {
        lines.push("      ('', '', 0)".into());
    }
    s.push_str(&lines.join(",\n"));
    s.push_str("\n  ) AS t (region, group_name, group_rank)\n)");
    s
}

/// The pricing CTE (`prices AS (…)`, to follow `WITH`): what `bedrock-meter rollup-sql --pricing-cte`
/// prints. Rates are USD per token (`DECIMAL(18, 15)`, exact: the core's femto-dollars), converted
/// from the USD per 1M tokens of the price table; NULL = unknown.
pub fn pricing_cte(prices: &PriceTable) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "prices AS (\n  -- bedrock-meter price table as of {}, generated by `bedrock-meter rollup-sql --pricing-cte`: do not edit.",
        prices.as_of
    );
    s.push_str(
        "  -- One row per model-id prefix (price_match: a base model id equal to it or continuing with '-', ':' or '.';\n  \
         -- the longest matching prefix wins), pool ('global' for global. profiles, 'regional' for geographic\n  \
         -- profiles and in-Region calls), Region key (a source Region, a Region group of region_groups, or '' = any\n  \
         -- Region) and long-context flag (the model's long-context rates, for prompt bands from long_context_from on).\n  \
         -- A call from a Region without a row is unpriced ('no rate for region'), never priced at another Region's rate.\n  \
         -- Rates: USD per token, from USD per 1M tokens; NULL = unknown, so usage that needs it is unpriced.\n  \
         -- Cache writes are priced at the 5-minute rate (the log does not say which TTL was used).\n",
    );
    s.push_str(
        "  SELECT price_match, price_name, pool, region, long_context, long_context_from,\n",
    );
    let cols = [
        ("input", "input_rate"),
        ("output", "output_rate"),
        ("cache_read", "cache_read_rate"),
        ("cache_write_5m", "cache_write_rate"),
    ];
    for (i, (src, dst)) in cols.iter().enumerate() {
        let _ = writeln!(
            s,
            "    CAST(CAST({src}_per_1m AS DECIMAL(18, 9)) * CAST('0.000001' AS DECIMAL(7, 6)) AS DECIMAL(18, 15)) AS {dst}{}",
            if i + 1 < cols.len() { "," } else { "" }
        );
    }
    s.push_str("  FROM (\n    VALUES\n");
    let rows = pricing_cte_rows(prices);
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "      ({}, {}, '{}', {}, {}, {}, {}, {}, {}, {}){}",
            sql_string(&r.price_match),
            sql_string(&r.price_name),
            r.pool,
            sql_string(&r.region),
            r.long_context,
            r.long_context_from
                .map_or_else(|| "CAST(NULL AS INTEGER)".to_string(), |b| b.to_string()),
            rate_text(Some(r.rates.input)),
            rate_text(Some(r.rates.output)),
            rate_text(r.rates.cache_read),
            rate_text(r.rates.cache_write_5m),
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    s.push_str(
        "  ) AS t (price_match, price_name, pool, region, long_context, long_context_from, input_per_1m, output_per_1m, cache_read_per_1m, cache_write_5m_per_1m)\n)",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::prices::Unpriced;

    fn table() -> PriceTable {
        PriceTable::embedded()
    }

    /// The row the SQL picks for a call: longest prefix, then pool and long-context flag, then the
    /// Region's own row, else its first group's (by rank), else the any-Region row.
    fn sql_pick<'a>(
        t: &PriceTable,
        rows: &'a [PriceRow],
        prefix: &str,
        pool: &Pool,
        region: &str,
        band: u8,
    ) -> Option<&'a PriceRow> {
        let rank = |key: &str| -> Option<usize> {
            if key.is_empty() {
                return Some(usize::MAX);
            }
            if key == region {
                return Some(0);
            }
            t.region_groups
                .iter()
                .position(|g| g.name == key && g.regions.iter().any(|r| r == region))
                .map(|i| i + 1)
        };
        rows.iter()
            .filter(|r| r.price_match == prefix && r.pool == price_pool(pool))
            .filter(|r| r.long_context == r.long_context_from.is_some_and(|f| band >= f))
            .filter_map(|r| rank(&r.region).map(|k| (k, r)))
            .min_by_key(|(k, _)| *k)
            .map(|(_, r)| r)
    }

    #[test]
    fn every_price_row_is_the_core_rate_in_every_region() {
        let t = table();
        let rows = pricing_cte_rows(&t);
        let n_matches: usize = t.models.iter().map(|m| m.matches.len()).sum();
        assert!(rows.len() > 2 * n_matches);
        let mut regions: Vec<&str> = t
            .region_groups
            .iter()
            .flat_map(|g| g.regions.iter().map(String::as_str))
            .collect();
        regions.push("xx-nowhere-1");
        let bands = 0..=t.long_context_thresholds.len() as u8;
        let mut priced = 0;
        let mut unpriced = 0;
        for m in &t.models {
            for s in &m.matches {
                let base = format!("{s}-20990101-v1:0");
                for pool in [Pool::Global, Pool::InRegion] {
                    for region in &regions {
                        for band in bands.clone() {
                            let core = t.rates(&base, &pool, Some(region), band);
                            let sql = sql_pick(&t, &rows, s, &pool, region, band);
                            match (core, sql) {
                                (Ok(c), Some(r)) => {
                                    assert_eq!(c, &r.rates, "{base} {pool:?} {region} {band}");
                                    priced += 1;
                                }
                                (Err(Unpriced::NoRateForRegion(_)), None) => unpriced += 1,
                                (c, r) => {
                                    panic!("{base} {pool:?} {region} {band}: {c:?} vs {r:?}")
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(priced > 1000 && unpriced > 1000, "{priced} {unpriced}");
        let tokyo: Vec<&PriceRow> = rows
            .iter()
            .filter(|r| r.region == "ap-northeast-1")
            .collect();
        assert!(tokyo.iter().any(|r| r.price_match == "amazon.nova-micro-v1"
            && r.rates.input.per_million_text() == "0.042"));
        // A model whose global pool is not priced (GPT-5.4 / 5.5, `global_unpriced`) has regional
        // rows and no global row: the SQL's pick does not fit a global call ('no rate for region').
        for prefix in ["openai.gpt-5.4", "openai.gpt-5.5"] {
            assert!(rows
                .iter()
                .any(|r| r.price_match == prefix && r.pool == "regional" && r.region == "us"));
            assert!(
                !rows
                    .iter()
                    .any(|r| r.price_match == prefix && r.pool == "global"),
                "{prefix}"
            );
            assert_eq!(
                sql_pick(&t, &rows, prefix, &Pool::Global, "us-east-1", 0),
                None
            );
        }
        // A model with global rates has one global row for every Region; one without (Nova Micro)
        // prices a global profile at its source Region's rate.
        for r in tokyo.iter().filter(|r| r.pool == "global") {
            assert!(
                t.model(&r.price_match).unwrap().rates.global.is_none(),
                "{r:?}"
            );
        }
    }

    #[test]
    fn the_pricing_cte_is_exact_and_marks_unknown_rates() {
        let t = table();
        let cte = pricing_cte(&t);
        assert!(cte.starts_with("prices AS (\n"));
        assert!(cte.ends_with(")"));
        assert!(cte.contains(&format!("as of {}", t.as_of)));
        assert!(cte.contains(
            "('anthropic.claude-haiku-4-5', 'Claude Haiku 4.5', 'global', '', false, CAST(NULL AS INTEGER), '1', '5', '0.1', '1.25')"
        ));
        assert!(cte.contains(
            "('anthropic.claude-haiku-4-5', 'Claude Haiku 4.5', 'regional', 'us', false, CAST(NULL AS INTEGER), '1.1', '5.5', '0.11', '1.375')"
        ));
        // Sonnet 4.5 over its 200K threshold: the long-context rates.
        let from = t
            .long_context_thresholds
            .iter()
            .position(|x| *x == 200_000)
            .unwrap()
            + 1;
        assert!(cte.contains(&format!(
            "('anthropic.claude-sonnet-4-5', 'Claude Sonnet 4.5', 'global', '', true, {from}, '6', '22.5', '0.6', '7.5')"
        )));
        // Claude 3 Haiku has no cache rates: NULL, never 0.
        assert!(cte.contains("'anthropic.claude-3-haiku', 'Claude 3 Haiku', 'regional', 'us', false, CAST(NULL AS INTEGER), '0.25', '1.25', NULL, NULL)"));
        assert!(cte.contains(
            "('amazon.nova-micro-v1', 'Amazon Nova Micro', 'regional', 'ap-northeast-1', false, CAST(NULL AS INTEGER), '0.042', '0.168', '0.0105', '0')"
        ));
        let groups = region_groups_cte(&t);
        assert!(groups.contains("('eu-west-2', 'eu', "));
        assert!(groups.contains("('us-gov-west-1', 'gov', "));
    }
}

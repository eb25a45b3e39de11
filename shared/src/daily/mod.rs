//! The daily path and the reports: usage rows summed and priced ([`rollup`]), the Athena table and
//! rollup SQL ([`athena_sql`]), the console query pack ([`query_pack`]) and the profile snapshot its
//! profiles table reads ([`profile_snapshot`]), the estimate against the bill
//! ([`reconcile`]), the report ([`report`], [`report_html`]) and the emails ([`email`],
//! [`daily_email`]); what invocation logs cannot see: bedrock-mantle traffic ([`mantle`]) and batch
//! inference jobs ([`batch`]).

pub mod athena_sql;
pub mod batch;
pub mod daily_email;
pub mod email;
pub mod fanin;
pub mod mantle;
pub mod org;
pub mod profile_snapshot;
pub mod query_pack;
pub mod reconcile;
pub mod report;
pub mod report_html;
pub mod rollup;

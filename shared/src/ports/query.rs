//! The query port: [`QueryEngine`] starts a query in a workgroup, polls its state and reads its
//! result pages (Athena in `aws::athena`). The loop is written once against the trait: [`start_query`],
//! then [`finish_query`] polls with backoff and reads every page ([`run_query`] is both). A query that ends FAILED or CANCELLED, or is still running
//! at the deadline (it is then stopped), is an error — never an empty result.

use std::future::Future;
use std::time::{Duration, Instant};

use super::AwsError;

/// What to run and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartQuery {
    pub sql: String,
    pub workgroup: String,
    /// Default database of the query (its tables may also be qualified).
    pub database: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl QueryState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryState::Queued => "QUEUED",
            QueryState::Running => "RUNNING",
            QueryState::Succeeded => "SUCCEEDED",
            QueryState::Failed => "FAILED",
            QueryState::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryStatus {
    pub state: QueryState,
    /// Why it failed or was cancelled, when Athena says.
    pub reason: Option<String>,
    pub scanned_bytes: Option<i64>,
}

/// One page of `GetQueryResults`: values as text, `None` for NULL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultPage {
    /// Column names from the result metadata (may be empty; the header row then names them).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub next_token: Option<String>,
}

/// A query engine (Athena, or a scripted fake in tests).
pub trait QueryEngine {
    /// Starts the query; returns its execution id.
    fn start(&self, q: &StartQuery) -> impl Future<Output = Result<String, AwsError>> + Send;
    fn status(&self, id: &str) -> impl Future<Output = Result<QueryStatus, AwsError>> + Send;
    fn page(
        &self,
        id: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<ResultPage, AwsError>> + Send;
    fn stop(&self, id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// How long to wait for a query and how often to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollOptions {
    pub timeout: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl PollOptions {
    /// Poll after 250 ms, doubling up to 5 s, until `timeout`.
    pub fn with_timeout(timeout: Duration) -> PollOptions {
        PollOptions {
            timeout,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// A finished query's whole result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryOutput {
    pub query_id: String,
    pub columns: Vec<String>,
    /// Data rows only (the header row is dropped).
    pub rows: Vec<Vec<Option<String>>>,
    pub pages: usize,
    pub scanned_bytes: Option<i64>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("Athena query {id} {state}: {reason}")]
    Failed {
        id: String,
        state: &'static str,
        reason: String,
    },
    #[error("Athena query {id} still running after {}s (stopped)", after.as_secs())]
    Timeout { id: String, after: Duration },
}

/// Runs a query to the end: start, poll with backoff until SUCCEEDED (error on FAILED, CANCELLED or
/// the deadline, stopping the query in that last case), then read every page.
pub async fn run_query<E: QueryEngine>(
    engine: &E,
    q: &StartQuery,
    poll: &PollOptions,
) -> Result<QueryOutput, QueryError> {
    let started = start_query(engine, q).await?;
    finish_query(engine, started, poll).await
}

/// A started query: its id and when it was started (the timeout counts from then).
#[derive(Clone, Debug)]
pub struct Started {
    pub id: String,
    pub at: Instant,
}

/// Starts a query (callers that run several start them in a known order, then wait concurrently).
pub async fn start_query<E: QueryEngine>(
    engine: &E,
    q: &StartQuery,
) -> Result<Started, QueryError> {
    let at = Instant::now();
    let id = engine.start(q).await?;
    tracing::info!(query_id = %id, workgroup = %q.workgroup, "athena query started");
    Ok(Started { id, at })
}

/// Waits for a started query and reads its whole result (see [`run_query`]).
pub async fn finish_query<E: QueryEngine>(
    engine: &E,
    started: Started,
    poll: &PollOptions,
) -> Result<QueryOutput, QueryError> {
    let Started { id, at: started } = started;
    let deadline = started + poll.timeout;
    let mut delay = poll.first_delay;
    let status = loop {
        let s = engine.status(&id).await?;
        match s.state {
            QueryState::Succeeded => break s,
            QueryState::Failed | QueryState::Cancelled => {
                return Err(QueryError::Failed {
                    id,
                    state: s.state.as_str(),
                    reason: s.reason.unwrap_or_else(|| "no reason given".into()),
                })
            }
            QueryState::Queued | QueryState::Running => {}
        }
        let now = Instant::now();
        if now >= deadline {
            if let Err(e) = engine.stop(&id).await {
                tracing::warn!(query_id = %id, error = %e, "could not stop the timed-out query");
            }
            return Err(QueryError::Timeout {
                id,
                after: poll.timeout,
            });
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(poll.max_delay);
    };
    let mut out = QueryOutput {
        query_id: id.clone(),
        columns: Vec::new(),
        rows: Vec::new(),
        pages: 0,
        scanned_bytes: status.scanned_bytes,
    };
    let mut token: Option<String> = None;
    loop {
        let page = engine.page(&id, token.take()).await?;
        let mut rows = page.rows.into_iter();
        if out.pages == 0 {
            // SELECT results start with a header row on the first page.
            let header = rows.next();
            out.columns = if page.columns.is_empty() {
                header.unwrap_or_default().into_iter().flatten().collect()
            } else {
                let same = header.as_ref().is_some_and(|h| {
                    h.len() == page.columns.len()
                        && h.iter()
                            .zip(&page.columns)
                            .all(|(a, b)| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(b)))
                });
                if !same {
                    return Err(QueryError::Aws(AwsError::new(
                        "GetQueryResults",
                        format!(
                            "query {id}: the first row {header:?} is not the header {:?}",
                            page.columns
                        ),
                    )));
                }
                page.columns
            };
        }
        out.rows.extend(rows);
        out.pages += 1;
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    tracing::info!(query_id = %id, rows = out.rows.len(), pages = out.pages,
        scanned_bytes = ?out.scanned_bytes, elapsed_ms = started.elapsed().as_millis() as u64,
        "athena query read");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A query engine whose answers the test scripts.
    struct Scripted {
        states: Mutex<Vec<QueryState>>,
        pages: Vec<ResultPage>,
        log: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(states: &[QueryState], pages: Vec<ResultPage>) -> Scripted {
            Scripted {
                states: Mutex::new(states.iter().rev().copied().collect()),
                pages,
                log: Mutex::new(Vec::new()),
            }
        }
        fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
    }

    impl QueryEngine for Scripted {
        async fn start(&self, q: &StartQuery) -> Result<String, AwsError> {
            self.log
                .lock()
                .unwrap()
                .push(format!("start {}", q.workgroup));
            Ok("q1".into())
        }
        async fn status(&self, _: &str) -> Result<QueryStatus, AwsError> {
            let mut s = self.states.lock().unwrap();
            let state = if s.len() > 1 { s.pop().unwrap() } else { s[0] };
            self.log
                .lock()
                .unwrap()
                .push(format!("status {}", state.as_str()));
            Ok(QueryStatus {
                state,
                reason: (state == QueryState::Failed).then(|| "SYNTAX_ERROR: line 1:8".into()),
                scanned_bytes: Some(42),
            })
        }
        async fn page(&self, _: &str, token: Option<String>) -> Result<ResultPage, AwsError> {
            let i: usize = token.as_deref().map_or(0, |t| t.parse().unwrap());
            self.log.lock().unwrap().push(format!("page {i}"));
            Ok(self.pages[i].clone())
        }
        async fn stop(&self, _: &str) -> Result<(), AwsError> {
            self.log.lock().unwrap().push("stop".into());
            Ok(())
        }
    }

    fn rt<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn fast(timeout_ms: u64) -> PollOptions {
        PollOptions {
            timeout: Duration::from_millis(timeout_ms),
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        }
    }

    fn q() -> StartQuery {
        StartQuery {
            sql: "SELECT 1".into(),
            workgroup: "wg".into(),
            database: "db".into(),
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.into())
    }

    #[test]
    fn polls_until_done_and_reads_every_page() {
        let cols = vec!["a".to_string(), "b".to_string()];
        let pages = vec![
            ResultPage {
                columns: cols.clone(),
                rows: vec![vec![s("a"), s("b")], vec![s("1"), None]],
                next_token: s("1"),
            },
            ResultPage {
                columns: cols.clone(),
                rows: vec![vec![s("2"), s("x")], vec![s("3"), s("y")]],
                next_token: s("2"),
            },
            ResultPage {
                columns: cols.clone(),
                rows: vec![vec![s("4"), s("z")]],
                next_token: None,
            },
        ];
        use QueryState::*;
        let e = Scripted::new(&[Queued, Running, Running, Succeeded], pages);
        let out = rt(run_query(&e, &q(), &fast(5_000))).unwrap();
        assert_eq!(out.columns, cols);
        assert_eq!(out.rows.len(), 4, "header dropped, every page read");
        assert_eq!(out.rows[0], vec![s("1"), None]);
        assert_eq!(out.pages, 3);
        assert_eq!(out.scanned_bytes, Some(42));
        assert_eq!(
            e.log(),
            [
                "start wg",
                "status QUEUED",
                "status RUNNING",
                "status RUNNING",
                "status SUCCEEDED",
                "page 0",
                "page 1",
                "page 2"
            ]
        );
    }

    #[test]
    fn header_from_the_first_row_when_metadata_is_missing() {
        let pages = vec![ResultPage {
            columns: vec![],
            rows: vec![vec![s("n")], vec![s("1")]],
            next_token: None,
        }];
        let e = Scripted::new(&[QueryState::Succeeded], pages);
        let out = rt(run_query(&e, &q(), &fast(1_000))).unwrap();
        assert_eq!(out.columns, ["n"]);
        assert_eq!(out.rows, [vec![s("1")]]);
    }

    #[test]
    fn failed_and_cancelled_queries_are_errors() {
        for st in [QueryState::Failed, QueryState::Cancelled] {
            let e = Scripted::new(&[QueryState::Running, st], vec![]);
            let err = rt(run_query(&e, &q(), &fast(5_000))).unwrap_err();
            match &err {
                QueryError::Failed { id, state, .. } => {
                    assert_eq!((id.as_str(), *state), ("q1", st.as_str()))
                }
                other => panic!("{other:?}"),
            }
            assert!(!e.log().iter().any(|l| l.starts_with("page")));
        }
        let e = Scripted::new(&[QueryState::Failed], vec![]);
        let err = rt(run_query(&e, &q(), &fast(5_000))).unwrap_err();
        assert!(err.to_string().contains("FAILED: SYNTAX_ERROR"), "{err}");
    }

    #[test]
    fn a_query_past_its_deadline_is_stopped_and_an_error() {
        let e = Scripted::new(&[QueryState::Running], vec![]);
        let t0 = Instant::now();
        let err = rt(run_query(&e, &q(), &fast(60))).unwrap_err();
        assert!(matches!(err, QueryError::Timeout { .. }), "{err:?}");
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(e.log().last().map(String::as_str), Some("stop"));
    }

    #[test]
    fn a_first_row_that_is_not_the_header_is_an_error() {
        let pages = vec![ResultPage {
            columns: vec!["a".into()],
            rows: vec![vec![s("1")]],
            next_token: None,
        }];
        let e = Scripted::new(&[QueryState::Succeeded], pages);
        assert!(rt(run_query(&e, &q(), &fast(1_000))).is_err());
    }
}

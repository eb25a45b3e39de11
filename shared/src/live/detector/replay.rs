//! Backtest: [`replay`] runs the detector over records in time order, minute by minute, as the live
//! path would have seen them.

use super::*;

/// Runs the detector over observations as the live path would see them, in simulated time: batches of
/// one minute (by record timestamp), each evaluated at the end of its minute (`at` = the next minute's
/// start); every minute between batches is evaluated too while an incident is open, and after the last
/// batch the clock runs on until every open incident has resolved. Returns every alert in order (each
/// confirmed delivered as it is returned).
pub async fn replay<S: StateStore>(
    detector: &Detector<S>,
    observations: &mut [Observation],
) -> Result<Vec<Alert>, StoreError> {
    async fn step<S: StateStore>(
        d: &Detector<S>,
        id: &str,
        batch: &[Observation],
        now: Timestamp,
        out: &mut Vec<Alert>,
    ) -> Result<(), StoreError> {
        let o = d.observe(id, batch, now).await?;
        for a in o.alerts {
            d.delivered(&a.id).await?;
            out.push(a);
        }
        Ok(())
    }
    async fn any_open<S: StateStore>(d: &Detector<S>) -> Result<bool, StoreError> {
        Ok(!d.store.attention().await?.open.is_empty())
    }
    observations.sort_by_key(|o| o.at);
    let mut alerts = Vec::new();
    let mut i = 0;
    let Some(first) = observations.first() else {
        return Ok(alerts);
    };
    let mut minute = first.at.minute().0;
    while i < observations.len() {
        let start = i;
        while i < observations.len() && observations[i].at.minute().0 == minute {
            i += 1;
        }
        let now = Timestamp(minute + MINUTE);
        let batch = &observations[start..i];
        if !batch.is_empty() || any_open(detector).await? {
            step(
                detector,
                &format!("replay-{minute}"),
                batch,
                now,
                &mut alerts,
            )
            .await?;
        }
        minute = match observations.get(i) {
            Some(next) if !any_open(detector).await? => next.at.minute().0,
            _ => minute + MINUTE,
        };
    }
    // Run the clock on until open incidents resolve (bounded: a quiet window after the longest one).
    let longest = i64::from(MAX_WINDOW_MINUTES.max(detector.config.window_minutes));
    let stop = minute + (2 * longest + 2) * MINUTE;
    while minute < stop && any_open(detector).await? {
        let now = Timestamp(minute + MINUTE);
        step(detector, &format!("replay-{minute}"), &[], now, &mut alerts).await?;
        minute += MINUTE;
    }
    Ok(alerts)
}

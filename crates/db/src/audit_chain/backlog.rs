//! The sealing backlog: how many events wait for a seal and for how long, as gauges.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::unscoped::UnscopedTx;

/// Gauge: events recorded and not sealed yet, over every tenant.
pub const UNSEALED_METRIC: &str = "audit_unsealed_events";
/// Gauge: the age in seconds of the oldest event not sealed yet (0 when none waits).
pub const SEAL_LAG_METRIC: &str = "audit_seal_lag_seconds";

/// What waits for a seal, database-wide (every replica sees the same figures).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    pub events: i64,
    /// Seconds since the oldest waiting event's transaction started.
    pub lag_seconds: f64,
}

/// Counts the events above each tenant's last seal, in a maintenance transaction of its own.
#[tracing::instrument(skip_all)]
pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let backlog = read(&mut tx).await?;
    tx.commit().await?;
    Ok(backlog)
}

/// Counts the events above each tenant's last seal: one index range per tenant, over the
/// unsealed tail only. Needs an owner maintenance transaction; turns JIT and sequential scans off
/// for the rest of it.
///
/// PostgreSQL cannot estimate a range that starts at a row comparison with values from another
/// table: it guesses a third of the rows. As one join, that made the count a hash join over a
/// sequential scan of every event (440 ms per round over 1.2 million events, every second, on
/// every replica). Per tenant in a `lateral` subquery it is an index range each, as long as the
/// guess for one tenant stays small; when most events belong to one tenant of many (one tenant
/// with a million events among 21, the rest with none: the guess was a third of a million per
/// tenant), PostgreSQL chose a sequential scan per tenant instead, 3.1 s a round. No estimate can
/// tell it the tail above the last seal is short, so sequential scans are off for this
/// transaction: the plan is then a bitmap range of `audit_events_chain_idx` per tenant (0.14 ms
/// there). The same guess made the statement look expensive enough for JIT compilation, which
/// cost 150-300 ms of a round that reads a few index pages (docs/PERFORMANCE.md, "The sealer's
/// round").
pub(crate) async fn read(conn: &mut PgConnection) -> Result<Backlog, sqlx::Error> {
    // Both settings in one round trip (`set_config(..., true)` is `set local`).
    sqlx::query("select set_config('jit', 'off', true), set_config('enable_seqscan', 'off', true)")
        .execute(&mut *conn)
        .await?;
    let (events, lag_seconds): (i64, f64) = sqlx::query_as(
        "select coalesce(sum(w.n), 0)::int8, \
                coalesce(extract(epoch from now() - min(w.oldest))::float8, 0) \
         from tenants t \
         left join lateral (select s.last_txid, s.last_event_id from audit_seals s \
                            where s.tenant_id = t.id order by s.last_seq desc limit 1) h on true \
         cross join lateral (select count(*) as n, min(e.occurred_at) as oldest \
                             from audit_events e \
                             where e.tenant_id = t.id and e.seq is null \
                               and (e.txid, e.id) > (coalesce(h.last_txid, 0), \
                                                     coalesce(h.last_event_id, $1))) w",
    )
    .bind(Uuid::nil())
    .fetch_one(conn)
    .await?;
    Ok(Backlog {
        events,
        lag_seconds: lag_seconds.max(0.0),
    })
}

/// Sets the two gauges.
pub(crate) fn report(backlog: Backlog) {
    metrics::gauge!(UNSEALED_METRIC).set(backlog.events as f64);
    metrics::gauge!(SEAL_LAG_METRIC).set(backlog.lag_seconds);
}

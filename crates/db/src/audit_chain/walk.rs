//! Walking a tenant's chain seal by seal, recomputing every event's hash, from a given seal on.

use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use super::canonical::{ChainEvent, Encoding, chain_event_columns, link_hash};
use super::head::ChainEnd;
use super::seal::KeyedEvent;
use super::verify::{BrokenLink, LinkProblem};
use crate::ids::{AuditEventId, TenantId};

/// Seals read per round trip while walking.
const SEALS_PER_READ: i64 = 16;

/// One row of `audit_seals`.
#[derive(sqlx::FromRow)]
pub(crate) struct SealRow {
    pub first_seq: i64,
    pub last_seq: i64,
    pub prev_hash: Vec<u8>,
    pub last_hash: Vec<u8>,
    pub last_txid: i64,
    pub last_event_id: Uuid,
    /// `None` for the legacy seal over events sealed before V15.
    pub event_ids: Option<Vec<Uuid>>,
    pub event_hashes: Option<Vec<u8>>,
}

/// Where the walk is and what it found.
pub(crate) struct Walk {
    pub tenant: TenantId,
    pub end: ChainEnd,
    /// The last event found intact, for reports of a cut end.
    pub last_id: Option<AuditEventId>,
    pub checked: u64,
}

impl Walk {
    pub(crate) fn from(tenant: TenantId, end: ChainEnd) -> Self {
        let last_id =
            (!end.last_event_id.is_nil()).then(|| AuditEventId::from_uuid(end.last_event_id));
        Self {
            tenant,
            end,
            last_id,
            checked: 0,
        }
    }

    fn broken(&self, seq: i64, event_id: Option<Uuid>, problem: LinkProblem) -> BrokenLink {
        BrokenLink {
            tenant_id: self.tenant,
            seq,
            event_id: event_id.map(AuditEventId::from_uuid),
            problem,
        }
    }

    /// Checks every seal after the current end, up to and including position `until`.
    pub(crate) async fn run(
        &mut self,
        conn: &mut PgConnection,
        until: i64,
    ) -> Result<Option<BrokenLink>, sqlx::Error> {
        while self.end.last_seq < until {
            let seals: Vec<SealRow> = sqlx::query_as(
                "select first_seq, last_seq, prev_hash, last_hash, last_txid, last_event_id, \
                 event_ids, event_hashes from audit_seals \
                 where tenant_id = $1 and last_seq > $2 and last_seq <= $3 \
                 order by last_seq limit $4",
            )
            .bind(self.tenant)
            .bind(self.end.last_seq)
            .bind(until)
            .bind(SEALS_PER_READ)
            .fetch_all(&mut *conn)
            .await?;
            if seals.is_empty() {
                // The seal the walk was to reach is gone (the end read earlier disagrees).
                return Ok(Some(self.broken(until, None, LinkProblem::HeadMismatch)));
            }
            for seal in &seals {
                if let Some(broken) = self.seal(conn, seal).await? {
                    return Ok(Some(broken));
                }
            }
        }
        Ok(None)
    }

    async fn seal(
        &mut self,
        conn: &mut PgConnection,
        seal: &SealRow,
    ) -> Result<Option<BrokenLink>, sqlx::Error> {
        let first = seal.event_ids.as_ref().and_then(|ids| ids.first().copied());
        if seal.first_seq != self.end.last_seq + 1 {
            return Ok(Some(self.broken(
                seal.first_seq,
                first,
                LinkProblem::SeqGap,
            )));
        }
        if seal.prev_hash != self.end.last_hash {
            let problem = LinkProblem::PrevHashMismatch;
            return Ok(Some(self.broken(seal.first_seq, first, problem)));
        }
        let broken = match (&seal.event_ids, &seal.event_hashes) {
            (Some(ids), Some(hashes)) => {
                let rows = self.events_in(conn, seal, ids.len()).await?;
                self.compare(seal, ids, hashes, &rows)
            }
            _ => self.legacy(conn, seal).await?,
        };
        if broken.is_none() {
            self.end = ChainEnd {
                last_seq: seal.last_seq,
                last_hash: seal.last_hash.clone(),
                last_txid: seal.last_txid,
                last_event_id: seal.last_event_id,
            };
        }
        Ok(broken)
    }

    /// Every event in a seal's key range (after the current end, up to the seal's last key), in
    /// key order.
    ///
    /// Read as "the next `listed + 1` events after the current end", each marked inside the
    /// range or not: the limit ends the index scan right after the seal's events. The bounded
    /// form (`(txid, id) <= (last_txid, last_event_id)`) does not end it there whenever many
    /// events share one transaction id (a bulk import, the bench's seeding): PostgreSQL 15 stops
    /// a row comparison's scan only on its first column, so each seal's read went on to the end
    /// of the tenant's events and a full check of a million such events took 25 s instead of 3.
    /// Only when all `listed + 1` are inside the range (events were put into it after sealing)
    /// is the whole range read, so a tampered range is reported exactly as before.
    async fn events_in(
        &self,
        conn: &mut PgConnection,
        seal: &SealRow,
        listed: usize,
    ) -> Result<Vec<KeyedEvent>, sqlx::Error> {
        let limit = i64::try_from(listed).unwrap_or(i64::MAX - 1) + 1;
        let rows: Vec<RangedEvent> = self
            .seal_range(
                sqlx::query_as(concat!(
                    "select ",
                    chain_event_columns!(),
                    ", txid, (txid, id) <= ($4, $5) as in_range from audit_events",
                    " where tenant_id = $1 and seq is null and (txid, id) > ($2, $3)",
                    " order by txid, id limit $6"
                )),
                seal,
            )
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        let filled = i64::try_from(rows.len()).is_ok_and(|n| n == limit);
        if filled && rows.last().is_some_and(|row| row.in_range) {
            let whole = sqlx::query_as(concat!(
                "select ",
                chain_event_columns!(),
                ", txid from audit_events",
                " where tenant_id = $1 and seq is null",
                "   and (txid, id) > ($2, $3) and (txid, id) <= ($4, $5)",
                " order by txid, id"
            ));
            return self.seal_range(whole, seal).fetch_all(&mut *conn).await;
        }
        // In key order: the events of the range come first, then (at most one) after it.
        Ok(rows
            .into_iter()
            .take_while(|row| row.in_range)
            .map(|row| row.keyed)
            .collect())
    }

    /// Binds `$1` to `$5` of a statement over a seal's key range: the tenant, the walk's end
    /// (exclusive) and the seal's last key (inclusive).
    fn seal_range<'q, O>(
        &self,
        query: QueryAs<'q, Postgres, O, PgArguments>,
        seal: &SealRow,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        query
            .bind(self.tenant)
            .bind(self.end.last_txid)
            .bind(self.end.last_event_id)
            .bind(seal.last_txid)
            .bind(seal.last_event_id)
    }

    /// A seal's listed events against the events found in its key range, position by position.
    fn compare(
        &mut self,
        seal: &SealRow,
        ids: &[Uuid],
        hashes: &[u8],
        rows: &[KeyedEvent],
    ) -> Option<BrokenLink> {
        let found: HashMap<Uuid, usize> = rows
            .iter()
            .enumerate()
            .map(|(at, row)| (row.event.id, at))
            .collect();
        let positions = usize::try_from(seal.last_seq - seal.first_seq + 1).unwrap_or(0);
        if ids.len() != positions || hashes.len() != positions * 32 {
            // The table's checks forbid this; only a seal rewritten past them gets here.
            return Some(self.broken(
                seal.first_seq,
                ids.first().copied(),
                LinkProblem::HashMismatch,
            ));
        }
        let mut prev = self.end.last_hash.as_slice();
        for (i, (id, stored)) in ids.iter().zip(hashes.chunks_exact(32)).enumerate() {
            let seq = seal.first_seq + i as i64;
            let Some(&at) = found.get(id) else {
                // Missing: report at the next listed event still there, or as a cut end.
                return Some(
                    match ids[i..].iter().position(|id| found.contains_key(id)) {
                        Some(ahead) => self.broken(
                            seq + ahead as i64,
                            Some(ids[i + ahead]),
                            LinkProblem::SeqGap,
                        ),
                        None => BrokenLink {
                            tenant_id: self.tenant,
                            seq: seal.last_seq,
                            event_id: self.last_id,
                            problem: LinkProblem::HeadMismatch,
                        },
                    },
                );
            };
            // Every earlier position matched one row, in order: this one must be row `i`.
            if at != i {
                let intruder = rows.get(i).map(|row| row.event.id);
                return Some(self.broken(seq, intruder, LinkProblem::UnexpectedEvent));
            }
            self.checked += 1;
            if link_hash(prev, seq, &rows[at].event, Encoding::Current)[..] != stored[..] {
                return Some(self.broken(seq, Some(*id), LinkProblem::HashMismatch));
            }
            prev = stored;
            self.last_id = Some(AuditEventId::from_uuid(*id));
        }
        if prev != seal.last_hash.as_slice() {
            return Some(self.broken(
                seal.last_seq,
                ids.last().copied(),
                LinkProblem::HashMismatch,
            ));
        }
        rows.get(ids.len()).map(|extra| {
            self.broken(
                seal.last_seq,
                Some(extra.event.id),
                LinkProblem::UnexpectedEvent,
            )
        })
    }

    /// The legacy seal: events sealed before V15 carry seq, prev_hash and hash themselves.
    async fn legacy(
        &mut self,
        conn: &mut PgConnection,
        seal: &SealRow,
    ) -> Result<Option<BrokenLink>, sqlx::Error> {
        let mut rows = sqlx::query_as::<_, LegacyEvent>(concat!(
            "select ",
            chain_event_columns!(),
            ", seq, prev_hash, hash from audit_events",
            " where tenant_id = $1 and seq > $2 and seq <= $3 order by seq"
        ))
        .bind(self.tenant)
        .bind(self.end.last_seq)
        .bind(seal.last_seq)
        .fetch(&mut *conn);
        let mut at = (self.end.last_seq, self.end.last_hash.clone());
        while let Some(row) = rows.try_next().await? {
            self.checked += 1;
            let problem = if row.seq != at.0 + 1 {
                Some(LinkProblem::SeqGap)
            } else if row.prev_hash != at.1 {
                Some(LinkProblem::PrevHashMismatch)
            } else if link_hash(&row.prev_hash, row.seq, &row.event, Encoding::Legacy)[..]
                != row.hash[..]
            {
                Some(LinkProblem::HashMismatch)
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(Some(self.broken(row.seq, Some(row.event.id), problem)));
            }
            at = (row.seq, row.hash);
            self.last_id = Some(AuditEventId::from_uuid(row.event.id));
        }
        if at.0 != seal.last_seq || at.1 != seal.last_hash {
            return Ok(Some(BrokenLink {
                tenant_id: self.tenant,
                seq: seal.last_seq,
                event_id: self.last_id,
                problem: LinkProblem::HeadMismatch,
            }));
        }
        Ok(None)
    }
}

/// An event after the walk's end, and whether it is inside the seal being checked.
#[derive(sqlx::FromRow)]
struct RangedEvent {
    #[sqlx(flatten)]
    keyed: KeyedEvent,
    in_range: bool,
}

/// An event sealed before V15, with its own chain columns.
#[derive(sqlx::FromRow)]
struct LegacyEvent {
    #[sqlx(flatten)]
    event: ChainEvent,
    seq: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// The first event carrying old-form chain columns above `legacy_end` (none may exist: since
/// V15 nothing writes them): one would be an event forged into the old form.
pub(crate) async fn forged_legacy_event(
    conn: &mut PgConnection,
    tenant: TenantId,
    legacy_end: i64,
) -> Result<Option<(i64, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "select seq, id from audit_events where tenant_id = $1 and seq > $2 order by seq limit 1",
    )
    .bind(tenant)
    .bind(legacy_end)
    .fetch_optional(conn)
    .await
}

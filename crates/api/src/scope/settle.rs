//! Settling a handler's transaction once its query ran: the answer for what was found, updated,
//! deleted or created, with the request's audit event set to match, then the commit. Re-exported
//! by [`crate::scope`].

use axum::http::StatusCode;
use haven_db::idempotency::CreateOutcome;
use haven_db::resource::{Fields, Row, Updated};
use haven_db::tenant::TenantTx;

use crate::error::{ApiError, codes};

/// Nothing to act on (missing, deleted before or another tenant's): the queued events are
/// committed as refused, and the answer is 404 RES_001.
pub async fn missing(mut tx: TenantTx<'static>) -> ApiError {
    tx.deny(codes::RES_001.code);
    match tx.commit().await {
        Ok(()) => ApiError::new(codes::RES_001),
        Err(error) => error.into(),
    }
}

/// The row a read found, or 404 RES_001 (missing, deleted or another tenant's).
pub fn found<T>(row: Option<T>) -> Result<T, ApiError> {
    row.ok_or_else(|| ApiError::new(codes::RES_001))
}

/// Settles an update and commits: the row as updated, the event naming the fields whose value
/// changed. Nothing to update (missing, deleted or another tenant's) is 404 RES_001, recorded
/// as refused.
pub async fn settle_update<T>(
    mut tx: TenantTx<'static>,
    updated: Option<Updated<T>>,
) -> Result<T, ApiError> {
    let Some(updated) = updated else {
        return Err(missing(tx).await);
    };
    tx.audit_changed(&updated.changed_fields);
    tx.commit().await?;
    Ok(updated.row)
}

/// Settles a soft delete and commits: 204, or 404 RES_001 recorded as refused when there was
/// nothing live to delete.
pub async fn settle_delete(tx: TenantTx<'static>, deleted: bool) -> Result<StatusCode, ApiError> {
    if !deleted {
        return Err(missing(tx).await);
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a create needs to know of the row it made.
pub trait CreatedRow {
    /// Its id, for the audit event.
    fn id_text(&self) -> String;
    /// Soft-deleted since (only a replay can find it so).
    fn is_deleted(&self) -> bool;
}

impl<F: Fields> CreatedRow for Row<F> {
    fn id_text(&self) -> String {
        self.id.to_string()
    }

    fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// Settles a create (under an optional `Idempotency-Key`) and commits: the row and whether it
/// replays an earlier create. The event names the new id; a replay is recorded as
/// `replayed_action` (`<resource>.create_replayed`: a read of the first result). A key reused
/// with another body is 422 IDEM_001 and a replay of a row deleted since is 409 RES_002:
/// nothing is written but the refusal, recorded as denied.
pub async fn settle_create<T: CreatedRow>(
    mut tx: TenantTx<'static>,
    outcome: CreateOutcome<T>,
    replayed_action: &'static str,
) -> Result<(T, bool), ApiError> {
    let (created, replayed) = match outcome {
        CreateOutcome::Created(created) => (created, false),
        CreateOutcome::Replayed(created) => (created, true),
        CreateOutcome::KeyReusedWithDifferentBody => {
            // The key's claim wrote nothing (it was taken): the transaction holds only the event.
            tx.deny(codes::IDEM_001.code);
            tx.commit().await?;
            return Err(ApiError::new(codes::IDEM_001));
        }
    };
    tx.audit_on(created.id_text());
    if replayed {
        tx.audit_as(replayed_action);
    }
    let deleted = created.is_deleted();
    if deleted {
        tx.deny(codes::RES_002.code);
    }
    tx.commit().await?;
    if deleted {
        return Err(ApiError::new(codes::RES_002)
            .with_message("What was created under this Idempotency-Key has been deleted since"));
    }
    Ok((created, replayed))
}

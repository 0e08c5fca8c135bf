//! The NDJSON export of the audit trail: every matching event, one JSON object a line, streamed
//! page by page (keyset pagination, a short tenant transaction per page), never one big query.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use haven_db::PgPool;
use haven_db::audit::{AuditEvent, AuditFilter};
use haven_db::ids::TenantId;
use haven_db::page::{Cursor, Page, PageLimit};
use haven_db::tenant::TenantTx;

use super::AuditEventResponse;
use crate::scope::Scope;

/// The media type of the export.
pub const NDJSON: &str = "application/x-ndjson";
/// The most events one export sends; a larger trail is exported in several requests, each
/// starting at the `next_cursor` of the previous one's last line.
pub const EXPORT_MAX_EVENTS: usize = 100_000;

/// Where the stream is.
struct Export {
    pool: PgPool,
    tenant: TenantId,
    filter: AuditFilter,
    /// The first page, read in the transaction that recorded the export.
    first: Option<Page<AuditEvent>>,
    after: Option<Cursor>,
    sent: usize,
    done: bool,
}

impl Export {
    async fn next_page(&mut self) -> Result<Page<AuditEvent>, sqlx::Error> {
        if let Some(page) = self.first.take() {
            return Ok(page);
        }
        // Later pages are part of the one recorded export: they record nothing themselves.
        let mut tx = TenantTx::begin(&self.pool, self.tenant).await?;
        let page =
            haven_db::audit::list(&mut tx, &self.filter, self.after.as_ref(), PageLimit::MAX)
                .await?;
        tx.commit().await?;
        Ok(page)
    }

    /// The next chunk of lines; `None` when everything was sent.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.done {
            return None;
        }
        let page = match self.next_page().await {
            Ok(page) => page,
            Err(error) => {
                // Too late for an error status: the connection is cut, so the client sees an
                // incomplete body rather than a short export that looks whole.
                tracing::error!(error = %error, "audit export failed part-way");
                self.done = true;
                return Some(Err(std::io::Error::other("audit export failed")));
            }
        };
        let mut out = Vec::with_capacity(page.items.len() * 400);
        let room = EXPORT_MAX_EVENTS - self.sent;
        let more = page.next_cursor.is_some() || page.items.len() > room;
        let mut last: Option<Cursor> = None;
        for event in page.items.into_iter().take(room) {
            last = Some(Cursor::new(event.occurred_at, event.id.as_uuid()));
            // Serializing plain data cannot fail; a line that did would be skipped, not sent.
            if let Ok(line) = serde_json::to_vec(&AuditEventResponse::from(event)) {
                out.extend_from_slice(&line);
                out.push(b'\n');
                self.sent += 1;
            }
        }
        self.after = last.or(self.after);
        if !more {
            self.done = true;
        } else if self.sent >= EXPORT_MAX_EVENTS {
            self.done = true;
            let cursor = self.after.map(|c| c.encode());
            let line = serde_json::json!({"truncated": true, "next_cursor": cursor});
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
        Some(Ok(Bytes::from(out)))
    }
}

/// Streams the export from its first page, read (and the export recorded) by the handler in
/// one transaction, so a failure there is still an error status.
pub(super) fn export(
    scope: &Scope,
    first: Page<AuditEvent>,
    filter: AuditFilter,
    after: Option<Cursor>,
) -> Response {
    let export = Export {
        pool: scope.pool().clone(),
        tenant: scope.principal().tenant_id,
        filter,
        first: Some(first),
        after,
        sent: 0,
        done: false,
    };
    let stream = futures::stream::unfold(export, |mut export| async move {
        export.next_chunk().await.map(|chunk| (chunk, export))
    });
    // Fused: the compression layer may poll the body once more after its end, which `unfold`
    // alone answers with a panic.
    let mut response = (StatusCode::OK, Body::from_stream(stream.fuse())).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}

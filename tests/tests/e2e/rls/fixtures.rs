//! Fixtures for the database-layer tests: a migrated database, tenants, users, rows.

use haven_db::audit::{AuditOutcome, NewAuditEvent};
use haven_db::documents::{self, CreateOutcome, Document, DocumentStatus, NewDocument};
use haven_db::ids::{AuditEventId, TenantId, UserId};
use haven_db::tenant::TenantTx;
use haven_db::{PgPool, PoolSettings};
use haven_tests::TestDatabase;
use secrecy::SecretString;

pub(crate) struct Migrated {
    pub db: TestDatabase,
    pub pool: PgPool,
}

/// A fresh database with every migration applied, and a pool on the harness's superuser URL:
/// the worst case, where only the role switch makes the policies apply.
pub(crate) async fn migrated() -> Migrated {
    let db = TestDatabase::create().await;
    migrate(&db.url).await;
    let pool = pool(&db.url, 10);
    Migrated { db, pool }
}

pub(crate) async fn migrate(url: &str) {
    haven_db::migrate::run(
        &SecretString::from(url.to_owned()),
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("migrations apply");
}

pub(crate) fn pool(url: &str, max_connections: u32) -> PgPool {
    let settings = PoolSettings {
        max_connections,
        ..PoolSettings::default()
    };
    haven_db::connect_pool(&SecretString::from(url.to_owned()), &settings).expect("pool")
}

pub(crate) async fn tenant(pool: &PgPool, external_id: &str) -> TenantId {
    haven_db::tenants::admin_create(pool, external_id, &format!("Tenant {external_id}"))
        .await
        .expect("tenant created")
        .id
}

pub(crate) async fn user(pool: &PgPool, tenant: TenantId, subject: &str) -> UserId {
    let mut tx = TenantTx::begin(pool, tenant).await.unwrap();
    let user = haven_db::users::upsert_seen(&mut tx, subject)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    user.id
}

pub(crate) fn new_document(title: &str) -> NewDocument {
    NewDocument {
        title: title.to_owned(),
        filename: format!("{title}.pdf"),
        content_type: "application/pdf".to_owned(),
        size_bytes: 1234,
        status: DocumentStatus::Pending,
        metadata: serde_json::json!({"source": "test"}),
        storage_location: None,
        patient_id: None,
        upload: None,
    }
}

/// Creates a document without an idempotency key.
pub(crate) async fn create_document(
    tx: &mut TenantTx<'_>,
    user: UserId,
    new: &NewDocument,
) -> Result<Document, sqlx::Error> {
    match documents::create(tx, &haven_phi::TenantFields::Plaintext, user, new, None).await? {
        CreateOutcome::Created(document) => Ok(document),
        other => panic!("a create without a key created nothing: {other:?}"),
    }
}

pub(crate) fn event<'a>(tenant: TenantId, action: &'a str) -> NewAuditEvent<'a> {
    NewAuditEvent {
        tenant_id: tenant,
        actor_user_id: None,
        actor_subject: Some("tester"),
        action,
        resource_type: "document",
        resource_id: None,
        outcome: AuditOutcome::Success,
        request_id: Some("req-1"),
        client_request_id: Some("client-1"),
        client_ip: Some("192.0.2.7".parse().unwrap()),
        user_agent: Some("tests/1.0"),
        changed_fields: None,
        emergency: false,
        returned_ids: None,
        error_code: None,
    }
}

/// Records one event in its own committed tenant transaction.
pub(crate) async fn record(pool: &PgPool, tenant: TenantId, action: &str) -> AuditEventId {
    let mut tx = TenantTx::begin(pool, tenant).await.unwrap();
    let id = tx.record(&event(tenant, action)).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// Every event with its chain position `s.seq` and `s.sealed_at` (from its seal), for queries as
/// `select ... from {SEALED_EVENTS} where ...`: events no longer carry them since V15.
pub(crate) const SEALED_EVENTS: &str =
    "audit_events e left join lateral audit_event_seal(e) s on true";

/// The SQLSTATE of a database error (`None` for any other error).
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// Runs `sql` on `conn` and returns the SQLSTATE it fails with; panics if it succeeds.
pub(crate) async fn fails_with(conn: &mut sqlx::PgConnection, sql: &str) -> String {
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await;
    match result {
        Ok(done) => panic!("`{sql}` succeeded ({} rows)", done.rows_affected()),
        Err(error) => sqlstate(&error).unwrap_or_else(|| panic!("`{sql}`: {error}")),
    }
}

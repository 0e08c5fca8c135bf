//! Row-level security, checked in the catalog and by behaviour, on a superuser connection.

pub(crate) mod fixtures;
mod owner;

use haven_db::documents::{self, DocumentFilter};
use haven_db::page::PageLimit;
use haven_db::tenant::TenantTx;
use sqlx::{Connection, PgConnection};

use fixtures::{create_document, fails_with, migrated, new_document, pool, record, tenant, user};

/// Tables of the public schema with a tenant_id column, and their RLS state.
async fn tenant_tables(conn: &mut PgConnection) -> Vec<(String, bool, bool, i64)> {
    sqlx::query_as(
        "select c.relname::text, c.relrowsecurity, c.relforcerowsecurity, \
                (select count(*) from pg_policy p where p.polrelid = c.oid) \
         from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = 'public' and c.relkind in ('r', 'p') \
           and (exists (select 1 from pg_attribute a where a.attrelid = c.oid \
                        and a.attname = 'tenant_id' and not a.attisdropped) \
                or c.relname = 'tenants') \
         order by 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_table_with_a_tenant_id_has_row_level_security_enabled_forced_and_a_policy() {
    let m = migrated().await;
    let mut conn = m.db.connect().await;
    let tables = tenant_tables(&mut conn).await;
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    for expected in [
        "audit_events",
        "audit_seals",
        "audit_verifications",
        "documents",
        "idempotency_keys",
        "tenant_keys",
        "tenants",
        "users",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for (table, enabled, forced, policies) in &tables {
        assert!(*enabled, "{table}: row level security is not enabled");
        assert!(*forced, "{table}: row level security is not forced");
        assert!(*policies >= 1, "{table}: no policy");
    }
}

#[tokio::test]
async fn the_runtime_role_cannot_log_in_bypass_security_own_anything_or_delete() {
    let m = migrated().await;
    let mut conn = m.db.connect().await;
    let (login, superuser, bypass): (bool, bool, bool) = sqlx::query_as(
        "select rolcanlogin, rolsuper, rolbypassrls from pg_roles where rolname = 'haven_app'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(!login && !superuser && !bypass);
    let owned: i64 = sqlx::query_scalar(
        "select (select count(*) from pg_class where relowner = 'haven_app'::regrole) \
              + (select count(*) from pg_proc where proowner = 'haven_app'::regrole) \
              + (select count(*) from pg_namespace where nspowner = 'haven_app'::regrole) \
              + (select count(*) from pg_type where typowner = 'haven_app'::regrole)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(owned, 0, "haven_app owns objects");
    let too_much: Vec<String> = sqlx::query_scalar(
        "select c.relname || ': ' || p.privilege from pg_class c \
         join pg_namespace n on n.oid = c.relnamespace \
         cross join unnest(array['DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) as p(privilege) \
         where n.nspname = 'public' and c.relkind = 'r' \
           and has_table_privilege('haven_app', c.oid, p.privilege) order by 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(too_much.is_empty(), "{too_much:?}");
    let audit_writes: Vec<String> = sqlx::query_scalar(
        "select a.attname::text from pg_attribute a \
         where a.attrelid = 'audit_events'::regclass and a.attnum > 0 and not a.attisdropped \
           and (has_column_privilege('haven_app', 'audit_events', a.attname, 'UPDATE') \
             or (a.attname in ('id', 'occurred_at', 'txid', 'seq', 'prev_hash', 'hash', 'sealed_at') \
                 and has_column_privilege('haven_app', 'audit_events', a.attname, 'INSERT')))",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(audit_writes.is_empty(), "{audit_writes:?}");
}

#[tokio::test]
async fn with_no_tenant_set_the_runtime_role_sees_zero_rows_and_gets_no_error() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let alice = user(&m.pool, a, "alice").await;
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    create_document(&mut tx, alice, &new_document("x"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    record(&m.pool, a, "document.create").await;

    let mut conn = m.db.connect().await;
    for setup in [
        "begin; set local role haven_app",
        "begin; set local role haven_app; select set_config('app.tenant_id', '', true)",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
            .execute(&mut conn)
            .await
            .unwrap();
        for table in [
            "tenants",
            "users",
            "documents",
            "idempotency_keys",
            "audit_events",
            "audit_seals",
            "audit_verifications",
        ] {
            let count: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{table}: {e}"));
            assert_eq!(count, 0, "{table} after `{setup}`");
        }
        sqlx::raw_sql("rollback").execute(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn a_tenant_transaction_on_a_superuser_connection_sees_only_its_own_tenant() {
    let m = migrated().await;
    let mut conn = m.db.connect().await;
    let superuser: bool =
        sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(
        superuser,
        "the point of this test is a superuser connection"
    );
    let (a, b) = (
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
    );
    let (alice, bob) = (
        user(&m.pool, a, "alice").await,
        user(&m.pool, b, "bob").await,
    );
    let mut b_docs = Vec::new();
    for (t, u, n) in [(a, alice, 3), (b, bob, 2)] {
        let mut tx = TenantTx::begin(&m.pool, t).await.unwrap();
        for i in 0..n {
            let doc = create_document(&mut tx, u, &new_document(&format!("d{i}")))
                .await
                .unwrap();
            if t == b {
                b_docs.push(doc.id);
            }
        }
        tx.commit().await.unwrap();
    }

    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let role: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(role, "haven_app");
    let page = documents::list(
        &mut tx,
        &haven_phi::TenantFields::Plaintext,
        &DocumentFilter::default(),
        None,
        PageLimit::MAX,
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.items.iter().all(|d| d.tenant_id == a));
    // Even queries that do not filter by tenant see only this tenant.
    for (table, expected) in [("documents", 3), ("users", 1), ("tenants", 1)] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(count, expected, "{table}");
    }
    // Another tenant's id behaves exactly like a missing one, even when asked for by its tenant.
    assert_eq!(
        documents::get(&mut tx, &haven_phi::TenantFields::Plaintext, b_docs[0])
            .await
            .unwrap(),
        None
    );
    let patch = documents::DocumentPatch {
        title: Some("stolen".into()),
        ..Default::default()
    };
    assert_eq!(
        documents::update(
            &mut tx,
            &haven_phi::TenantFields::Plaintext,
            b_docs[0],
            patch
        )
        .await
        .unwrap(),
        documents::UpdateOutcome::Missing
    );
    assert!(!documents::soft_delete(&mut tx, b_docs[0]).await.unwrap());
    // Writing into another tenant is refused by the policy's WITH CHECK (the query functions
    // take the tenant from the transaction, so only hand-written SQL can even try).
    let error = sqlx::query(
        "insert into documents (tenant_id, created_by, title, filename, content_type) \
         values ($1, $2, 'planted', 'planted.pdf', 'application/pdf')",
    )
    .bind(b)
    .bind(bob)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_eq!(
        fixtures::sqlstate(&error).as_deref(),
        Some("42501"),
        "{error}"
    );
    tx.rollback().await.unwrap();

    // (The fixtures store the plaintext form: 0x00 || text.)
    let titles: Vec<String> = sqlx::query_scalar(
        "select convert_from(substring(title from 2), 'UTF8') from documents where tenant_id = $1",
    )
    .bind(b)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(titles.len(), 2);
    assert!(!titles.iter().any(|t| t == "stolen" || t == "planted"));
}

async fn role_and_tenant(conn: &mut PgConnection) -> (String, String, i32) {
    sqlx::query_as(
        "select current_user::text, coalesce(current_setting('app.tenant_id', true), ''), pg_backend_pid()",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn nothing_leaks_through_the_pool_after_commit_rollback_or_a_dropped_transaction() {
    let m = migrated().await;
    let (a, b) = (
        tenant(&m.pool, "org-a").await,
        tenant(&m.pool, "org-b").await,
    );
    let (alice, bob) = (
        user(&m.pool, a, "alice").await,
        user(&m.pool, b, "bob").await,
    );
    let one = pool(&m.db.url, 1);
    let mut conn = one.acquire().await.unwrap();
    let (owner, tenant_setting, pid) = role_and_tenant(&mut conn).await;
    assert_eq!((owner.as_str(), tenant_setting.as_str()), ("postgres", ""));
    drop(conn);

    let mut tx = TenantTx::begin(&one, a).await.unwrap();
    assert_eq!(
        role_and_tenant(&mut tx).await,
        ("haven_app".into(), a.to_string(), pid)
    );
    create_document(&mut tx, alice, &new_document("a1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        role_and_tenant(&mut one.acquire().await.unwrap()).await,
        (owner.clone(), String::new(), pid)
    );

    let mut tx = TenantTx::begin(&one, b).await.unwrap();
    assert_eq!(
        role_and_tenant(&mut tx).await,
        ("haven_app".into(), b.to_string(), pid)
    );
    let count: i64 = sqlx::query_scalar("select count(*) from documents")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count, 0, "tenant b sees tenant a's document");
    create_document(&mut tx, bob, &new_document("b1"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        role_and_tenant(&mut one.acquire().await.unwrap()).await,
        (owner.clone(), String::new(), pid)
    );

    // A handle dropped mid-transaction (an early return, a panic) after a failed statement.
    {
        let mut tx = TenantTx::begin(&one, a).await.unwrap();
        let _ = sqlx::query("select 1/0").execute(&mut *tx).await;
    }
    assert_eq!(
        role_and_tenant(&mut one.acquire().await.unwrap()).await,
        (owner, String::new(), pid)
    );
    let mut conn = one.acquire().await.unwrap();
    let count: i64 = sqlx::query_scalar(
        "select count(*) from documents where title = '\\x00'::bytea || convert_to('b1', 'UTF8')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn update_delete_and_truncate_of_audit_events_fail_for_the_runtime_role_and_the_owner() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let id = record(&m.pool, a, "document.read").await;
    let mut conn = m.db.connect().await;
    let as_app = format!(
        "begin; set local role haven_app; select set_config('app.tenant_id', '{a}', true); "
    );
    for statement in [
        format!("update audit_events set outcome = 'denied' where id = '{id}'"),
        format!("delete from audit_events where id = '{id}'"),
        "truncate audit_events".to_owned(),
    ] {
        let code = fails_with(&mut conn, &format!("{as_app}{statement}")).await;
        assert_eq!(code, "42501", "runtime role: {statement}");
        sqlx::raw_sql("rollback").execute(&mut conn).await.unwrap();
        let code = fails_with(&mut conn, &statement).await;
        assert_eq!(
            code,
            haven_db::audit::APPEND_ONLY_SQLSTATE,
            "owner: {statement}"
        );
    }
    let code = fails_with(&mut conn, "delete from audit_events where false").await;
    assert_eq!(
        code,
        haven_db::audit::APPEND_ONLY_SQLSTATE,
        "a delete matching nothing"
    );
    // Nor may the runtime role insert an event that claims to be sealed.
    let code = fails_with(
        &mut conn,
        &format!(
            "{as_app}insert into audit_events (tenant_id, action, resource_type, outcome, seq) \
             values ('{a}', 'x', 'x', 'success', 1)"
        ),
    )
    .await;
    assert_eq!(code, "42501");
    sqlx::raw_sql("rollback").execute(&mut conn).await.unwrap();
    let (count, outcome): (i64, String) =
        sqlx::query_as("select count(*), min(outcome) from audit_events")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((count, outcome.as_str()), (1, "success"));
    conn.close().await.unwrap();
}

/// Since V15 nothing may update an event, the sealer included: the update trigger is
/// statement-level with no condition, so it covers every column, those added later too
/// (`client_request_id`, V14), the seal-only trigger V14 re-created is gone, and the seals are
/// append-only the same way.
#[tokio::test]
async fn no_audit_column_can_be_updated_and_no_seal_only_exception_remains() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let id = record(&m.pool, a, "document.read").await;
    haven_db::audit_chain::seal_pending(&m.pool, 100)
        .await
        .unwrap();
    let mut conn = m.db.connect().await;
    let columns: Vec<String> = sqlx::query_scalar(
        "select attname::text from pg_attribute \
         where attrelid = 'audit_events'::regclass and attnum > 0 and not attisdropped \
         order by attnum",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(columns.len() >= 20, "{columns:?}");
    assert!(
        columns.iter().any(|c| c == "client_request_id"),
        "{columns:?}"
    );
    let triggers: Vec<String> = sqlx::query_scalar(
        "select tgname::text from pg_trigger \
         where tgrelid = 'audit_events'::regclass and not tgisinternal order by tgname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        !triggers.iter().any(|t| t == "audit_events_seal_only"),
        "{triggers:?}"
    );
    for column in &columns {
        let statement = format!("update audit_events set {column} = {column} where id = '{id}'");
        assert_eq!(
            fails_with(&mut conn, &statement).await,
            haven_db::audit::APPEND_ONLY_SQLSTATE,
            "{statement}"
        );
    }
    for statement in [
        "update audit_seals set sealed_at = now()",
        "delete from audit_seals where false",
        "truncate audit_seals",
        "update audit_events set action = action where false",
    ] {
        assert_eq!(
            fails_with(&mut conn, statement).await,
            haven_db::audit::APPEND_ONLY_SQLSTATE,
            "{statement}"
        );
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_sealed_event_never_changes_and_an_unsealed_one_can_only_gain_its_seal() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let sealed = record(&m.pool, a, "document.read").await;
    assert_eq!(
        haven_db::audit_chain::seal_pending(&m.pool, 100)
            .await
            .unwrap(),
        1
    );
    let unsealed = record(&m.pool, a, "document.update").await;
    let mut conn = m.db.connect().await;
    let append_only = haven_db::audit::APPEND_ONLY_SQLSTATE;
    for statement in [
        format!("update audit_events set hash = prev_hash where id = '{sealed}'"),
        format!("update audit_events set seq = 2, sealed_at = now() where id = '{sealed}'"),
        format!(
            "update audit_events set seq = null, prev_hash = null, hash = null, sealed_at = null where id = '{sealed}'"
        ),
        format!("update audit_events set action = 'x' where id = '{sealed}'"),
        format!("update audit_events set action = 'x' where id = '{unsealed}'"),
        format!(
            "update audit_events set action = 'x', seq = 2, prev_hash = decode(repeat('00', 32), 'hex'), \
             hash = decode(repeat('00', 32), 'hex'), sealed_at = now() where id = '{unsealed}'"
        ),
        format!(
            "update audit_events set emergency = true, seq = 2, prev_hash = decode(repeat('00', 32), 'hex'), \
             hash = decode(repeat('00', 32), 'hex'), sealed_at = now() where id = '{unsealed}'"
        ),
        format!(
            "update audit_events set client_ip = '203.0.113.99', seq = 2, prev_hash = decode(repeat('00', 32), 'hex'), \
             hash = decode(repeat('00', 32), 'hex'), sealed_at = now() where id = '{unsealed}'"
        ),
    ] {
        assert_eq!(
            fails_with(&mut conn, &statement).await,
            append_only,
            "{statement}"
        );
    }
    assert_eq!(
        haven_db::audit_chain::seal_pending(&m.pool, 100)
            .await
            .unwrap(),
        1
    );
    let report = haven_db::audit_chain::verify(&m.pool, None).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events_checked, 2);
}

/// A request dropped while its transaction's `BEGIN` is in flight (a client that disconnects, a
/// timeout) must not leave the pooled connection inside that transaction: the next borrower
/// would run as `haven_app` with a stale tenant, then get 25P02 for everything (sqlx 0.9.0,
/// transact-rs/sqlx#4393, fixed in 0.9.1). One connection, so every borrower gets the one a
/// cancelled begin used; the cancellation point moves across the begin's awaits.
#[tokio::test]
async fn a_begin_cancelled_in_flight_leaves_no_transaction_on_the_pooled_connection() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    let single = pool(&m.db.url, 1);
    for trial in 0..300_u32 {
        let mut begin = Box::pin(TenantTx::begin(&single, a));
        let mut polls = 0;
        let cancelled = std::future::poll_fn(|cx| {
            use std::task::Poll;
            if polls == trial % 30 {
                return Poll::Ready(true);
            }
            polls += 1;
            match begin.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    drop(result.expect("begin"));
                    Poll::Ready(false)
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        // The cancellation: the begin's future is gone, wherever it was.
        drop(begin);
        // Inside the leftover transaction the role is haven_app and the tenant is set.
        let (clean, role): (bool, String) = sqlx::query_as(
            "select coalesce(current_setting('app.tenant_id', true), '') = '', current_user::text",
        )
        .fetch_one(&single)
        .await
        .unwrap_or_else(|e| panic!("trial {trial} (cancelled: {cancelled}): {e}"));
        assert!(
            clean && role != "haven_app",
            "trial {trial} (cancelled: {cancelled}): the connection is still in the begun transaction as {role}"
        );
    }
}

/// The pool does not ping a connection released a moment ago (sqlx pinged it on release), but
/// one that sat idle longer than `PING_IF_IDLE_FOR` is pinged before it is handed out: if its
/// server process ended meanwhile (a restart, a proxy's idle cut), it is replaced and the borrower
/// never sees the failure.
#[tokio::test]
async fn a_pooled_connection_that_died_while_idle_is_replaced_before_it_is_handed_out() {
    let m = migrated().await;
    let single = pool(&m.db.url, 1);
    let first: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&single)
        .await
        .expect("first query");
    let mut admin = PgConnection::connect(&m.db.url).await.expect("admin");
    let ended: bool = sqlx::query_scalar("select pg_terminate_backend($1, 5000)")
        .bind(first)
        .fetch_one(&mut admin)
        .await
        .expect("terminate");
    assert!(ended, "the pooled connection's backend was not ended");
    // The condition under test is the idle time itself.
    tokio::time::sleep(haven_db::pool::PING_IF_IDLE_FOR + std::time::Duration::from_millis(200))
        .await;
    let second: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&single)
        .await
        .expect("the dead connection was handed out instead of replaced");
    assert_ne!(first, second);
}

//! The owner's own access: the pre-authentication tenant lookup, operator commands, and a
//! non-superuser owner, for whom FORCE ROW LEVEL SECURITY applies too.

use haven_db::tenant::TenantTx;
use haven_db::tenants::{self, TenantStatus};
use haven_tests::TestDatabase;
use sqlx::{Connection, Executor};

use super::fixtures::{
    create_document, migrate, migrated, new_document, pool, record, sqlstate, tenant, user,
};

#[tokio::test]
async fn the_tenant_lookup_by_claim_matches_exactly_and_leaves_nothing_set_on_the_connection() {
    let m = migrated().await;
    let a = tenant(&m.pool, "org-a").await;
    tenant(&m.pool, "org-b").await;
    let one = pool(&m.db.url, 1);
    let found = tenants::lookup_by_external_id_unscoped(&one, "org-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.status), (a, TenantStatus::Active));
    assert!(
        tenants::lookup_by_external_id_unscoped(&one, "ORG-A")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tenants::lookup_by_external_id_unscoped(&one, "org-")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tenants::lookup_by_external_id_unscoped(&one, "")
            .await
            .unwrap()
            .is_none()
    );
    let unscoped: String =
        sqlx::query_scalar("select coalesce(current_setting('app.unscoped', true), '')")
            .fetch_one(&one)
            .await
            .unwrap();
    assert_eq!(unscoped, "", "the lookup's marker must end with the call");
    // Also inside a longer transaction of the caller's.
    let mut conn = m.db.connect().await;
    let after: String = sqlx::raw_sql(
        "begin; select * from tenant_by_external_id_unscoped('org-a'); \
         select coalesce(current_setting('app.unscoped', true), '') as v",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .last()
    .map(|row| sqlx::Row::get(row, "v"))
    .unwrap();
    assert_eq!(after, "");
    // The runtime role may not call it at all.
    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    let error = sqlx::query("select * from tenant_by_external_id_unscoped('org-b')")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"));
}

#[tokio::test]
async fn operators_create_list_suspend_and_activate_tenants_and_a_tenant_sees_only_itself() {
    let m = migrated().await;
    let b = tenant(&m.pool, "org-b").await;
    let a = tenant(&m.pool, "org-a").await;
    let duplicate = tenants::admin_create(&m.pool, "org-a", "Again")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&duplicate).as_deref(), Some("23505"));
    let same = tenants::admin_create_if_missing(&m.pool, "org-a", "Ignored")
        .await
        .unwrap();
    assert_eq!((same.id, same.name.as_str()), (a, "Tenant org-a"));
    let listed: Vec<String> = tenants::admin_list(&m.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.external_id)
        .collect();
    assert_eq!(listed, ["org-a", "org-b"]);

    let suspended = tenants::admin_suspend(&m.pool, "org-a")
        .await
        .unwrap()
        .unwrap();
    assert!(!suspended.is_active());
    let looked_up = tenants::lookup_by_external_id_unscoped(&m.pool, "org-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(looked_up.status, TenantStatus::Suspended);
    assert!(
        tenants::admin_activate(&m.pool, "org-a")
            .await
            .unwrap()
            .unwrap()
            .is_active()
    );
    assert!(
        tenants::admin_suspend(&m.pool, "org-missing")
            .await
            .unwrap()
            .is_none()
    );

    let mut tx = TenantTx::begin(&m.pool, a).await.unwrap();
    assert_eq!(tenants::get(&mut tx).await.unwrap().map(|t| t.id), Some(a));
    let other: Option<uuid::Uuid> = sqlx::query_scalar("select id from tenants where id = $1")
        .bind(b)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert_eq!(other, None);
}

#[tokio::test]
async fn a_non_superuser_owner_sees_nothing_outside_tenant_and_maintenance_transactions() {
    let db = TestDatabase::create().await;
    let role = format!(
        "haven_owner_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = db.connect().await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "create role {role} login createrole; alter database {} owner to {role}",
            db.name
        )))
        .await
        .unwrap();
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_username(&role).unwrap();
    let url = url.to_string();
    migrate(&url).await;
    let owner_pool = pool(&url, 5);

    let a = tenant(&owner_pool, "org-a").await;
    let b = tenant(&owner_pool, "org-b").await;
    let alice = user(&owner_pool, a, "alice").await;
    let mut tx = TenantTx::begin(&owner_pool, a).await.unwrap();
    create_document(&mut tx, alice, &new_document("a1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    record(&owner_pool, a, "document.create").await;
    record(&owner_pool, b, "user.list").await;

    let mut owner = sqlx::PgConnection::connect(&url).await.unwrap();
    let is_superuser: bool =
        sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&mut owner)
            .await
            .unwrap();
    assert!(!is_superuser);
    for table in ["tenants", "users", "documents", "audit_events"] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(&mut owner)
                .await
                .unwrap();
        assert_eq!(
            count, 0,
            "the owner reads {table} without a tenant or maintenance marker"
        );
    }
    // Its sanctioned paths still work.
    assert_eq!(
        tenants::lookup_by_external_id_unscoped(&owner_pool, "org-b")
            .await
            .unwrap()
            .map(|t| t.id),
        Some(b)
    );
    assert_eq!(tenants::admin_list(&owner_pool).await.unwrap().len(), 2);
    assert_eq!(
        haven_db::audit_chain::seal_pending(&owner_pool, 100)
            .await
            .unwrap(),
        2
    );
    let report = haven_db::audit_chain::verify(&owner_pool, None)
        .await
        .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.tenants_checked, report.events_checked), (2, 2));
    let mut tx = TenantTx::begin(&owner_pool, a).await.unwrap();
    let own = haven_db::audit_chain::verify_tenant(&mut tx).await.unwrap();
    assert_eq!((own.events_checked, own.broken), (1, None));
}

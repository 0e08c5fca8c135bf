//! The service's own database login: a `LOGIN` role that is not a superuser, so SQL running in a
//! tenant transaction cannot step out of row-level security by resetting its role, while the
//! owner keeps running the migrations (`haven migrate up`).

use sqlx::{AssertSqlSafe, PgPool};

/// Whether the pool connects as a superuser (who bypasses row-level security once it leaves
/// `haven_app`, e.g. with `RESET ROLE`).
pub async fn connects_as_superuser(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
        .fetch_one(pool)
        .await
}

/// Creates (or, if it exists, resets the password and attributes of) `role`: LOGIN, NOSUPERUSER,
/// NOBYPASSRLS, NOCREATEDB, NOCREATEROLE, member of `haven_app` (tenant transactions switch to
/// it) and of the connecting owner (the tables, the owner's maintenance policies and the tenant
/// lookup function belong to it; a superuser's attribute is never inherited). Must run as the
/// owner that ran the migrations.
pub async fn create(pool: &PgPool, role: &str, password: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_roles where rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
    let verb = if exists { "alter" } else { "create" };
    // Utility statements take no parameters: PostgreSQL's own format() quotes the name (%I)
    // and the password (%L).
    let statements: Vec<String> = sqlx::query_scalar(
        "select unnest(array[ \
            format('%s role %I with login nosuperuser nobypassrls nocreatedb nocreaterole \
                    inherit password %L', $1::text, $2::text, $3::text), \
            format('grant haven_app to %I', $2::text), \
            format('grant %I to %I', current_user, $2::text)])",
    )
    .bind(verb)
    .bind(role)
    .bind(password)
    .fetch_all(&mut *tx)
    .await?;
    for statement in statements {
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

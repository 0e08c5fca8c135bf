//! Partial updates and soft deletes, shared by the resources: which fields a patch really
//! changes (for the audit event's field names), and `deleted_at`.

use uuid::Uuid;

use crate::tenant::TenantTx;

/// A row after an update and the names of the fields whose value changed (for the audit event:
/// names, never values). Empty when the patch changed nothing; nothing was written then.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated<T> {
    pub row: T,
    pub changed_fields: Vec<&'static str>,
}

/// Sets `current` to `new` when given and different, noting `name` as changed.
pub(crate) fn apply<T: PartialEq>(
    name: &'static str,
    current: &mut T,
    new: Option<T>,
    changed: &mut Vec<&'static str>,
) {
    if let Some(new) = new
        && *current != new
    {
        *current = new;
        changed.push(name);
    }
}

/// Soft delete in `table` (a resource's fixed table name): sets `deleted_at`. `false` when there
/// was nothing live to delete (missing, deleted before, or another tenant's).
pub(crate) async fn soft_delete(
    tx: &mut TenantTx<'_>,
    table: &'static str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let statement = format!(
        "update {table} set deleted_at = now(), updated_at = now() \
         where tenant_id = $1 and id = $2 and deleted_at is null"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(tx.tenant())
        .bind(id)
        .execute(tx.as_mut())
        .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_reports_only_fields_whose_value_differs() {
        let mut changed = Vec::new();
        let mut title = "a".to_owned();
        let mut size = 3_i64;
        apply("title", &mut title, Some("a".to_owned()), &mut changed);
        apply("size_bytes", &mut size, Some(4), &mut changed);
        apply("size_bytes", &mut size, None, &mut changed);
        assert_eq!(changed, vec!["size_bytes"]);
        assert_eq!(size, 4);
    }
}

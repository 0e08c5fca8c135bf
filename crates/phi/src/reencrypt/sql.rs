//! The engine's statements, built from an `EncryptedTable` (code constants, checked to be
//! plain identifiers and quoted): what is pending, claim a batch, write it back.

use haven_db::tenant::TenantTx;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{EncryptedTable, Pass};
use crate::error::PhiError;
use crate::format::{FORMAT_ENCRYPTED, FORMAT_LEGACY_PLAINTEXT};

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

pub(super) fn check_identifiers(table: &EncryptedTable) -> Result<(), PhiError> {
    let names = [table.table, table.id_column]
        .into_iter()
        .chain(table.columns.iter().map(|c| c.name))
        .chain(
            table
                .columns
                .iter()
                .filter_map(|c| c.blind_index.map(|(name, _)| name)),
        );
    for name in names {
        if !is_identifier(name) {
            return Err(PhiError::Misconfigured(format!(
                "{name:?} is not a plain lowercase SQL identifier"
            )));
        }
    }
    Ok(())
}

/// The first five bytes of a value on the active version: format 0x01 and the version.
fn active_header(version: u32) -> Vec<u8> {
    let mut header = vec![FORMAT_ENCRYPTED];
    header.extend_from_slice(&version.to_be_bytes());
    header
}

/// `$2` is the active header (reencrypt) or the legacy format byte (encrypt-existing).
fn pending(table: &EncryptedTable, pass: Pass) -> String {
    let one = |column: &str| match pass {
        Pass::Reencrypt => format!(
            "(\"{column}\" is not null and substring(\"{column}\" from 1 for 1) = '\\x01'::bytea \
             and substring(\"{column}\" from 1 for 5) <> $2)"
        ),
        Pass::EncryptExisting => {
            format!("(\"{column}\" is not null and substring(\"{column}\" from 1 for 1) = $2)")
        }
    };
    let any: Vec<String> = table.columns.iter().map(|c| one(c.name)).collect();
    format!("tenant_id = $1 and ({})", any.join(" or "))
}

fn pending_parameter(pass: Pass, version: u32) -> Vec<u8> {
    match pass {
        Pass::Reencrypt => active_header(version),
        Pass::EncryptExisting => vec![FORMAT_LEGACY_PLAINTEXT],
    }
}

pub(super) async fn count_pending(
    tx: &mut TenantTx<'_>,
    table: &EncryptedTable,
    pass: Pass,
    version: u32,
) -> Result<u64, PhiError> {
    let statement = format!(
        "select count(*) from \"{}\" where {}",
        table.table,
        pending(table, pass)
    );
    let tenant = tx.tenant();
    let count: i64 = sqlx::query_scalar(AssertSqlSafe(statement))
        .bind(tenant)
        .bind(pending_parameter(pass, version))
        .fetch_one(tx.as_mut())
        .await?;
    Ok(count as u64)
}

/// Rows (id, then each encrypted column) still using key `version`, in any column.
pub(super) async fn count_version(
    tx: &mut TenantTx<'_>,
    table: &EncryptedTable,
    version: u32,
) -> Result<u64, PhiError> {
    let any: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("substring(\"{}\" from 1 for 5) = $2", c.name))
        .collect();
    let statement = format!(
        "select count(*) from \"{}\" where tenant_id = $1 and ({})",
        table.table,
        any.join(" or ")
    );
    let tenant = tx.tenant();
    let count: i64 = sqlx::query_scalar(AssertSqlSafe(statement))
        .bind(tenant)
        .bind(active_header(version))
        .fetch_one(tx.as_mut())
        .await?;
    Ok(count as u64)
}

/// Locks up to `limit` pending rows nobody else holds: several workers (or replicas) share the
/// work, and a request writing a row waits for the batch instead of being overwritten.
pub(super) async fn claim(
    tx: &mut TenantTx<'_>,
    table: &EncryptedTable,
    pass: Pass,
    version: u32,
    limit: u32,
) -> Result<Vec<PgRow>, PhiError> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let statement = format!(
        "select \"{id}\", {columns} from \"{table}\" where {pending} order by \"{id}\" limit $3 \
         for update skip locked",
        id = table.id_column,
        columns = columns.join(", "),
        table = table.table,
        pending = pending(table, pass),
    );
    let tenant = tx.tenant();
    Ok(sqlx::query(AssertSqlSafe(statement))
        .bind(tenant)
        .bind(pending_parameter(pass, version))
        .bind(i64::from(limit))
        .fetch_all(tx.as_mut())
        .await?)
}

/// How many values `update` writes per row: each column, plus its blind index if any.
pub(super) fn value_count(table: &EncryptedTable) -> usize {
    table.columns.len()
        + table
            .columns
            .iter()
            .filter(|c| c.blind_index.is_some())
            .count()
}

/// Writes the batch back in one statement (`unnest` of one array per written column).
pub(super) async fn update(
    tx: &mut TenantTx<'_>,
    table: &EncryptedTable,
    ids: &[Uuid],
    values: &[Vec<Option<Vec<u8>>>],
) -> Result<(), PhiError> {
    let mut targets = Vec::new();
    for column in table.columns {
        targets.push(column.name);
        if let Some((index, _)) = column.blind_index {
            targets.push(index);
        }
    }
    let sets: Vec<String> = targets
        .iter()
        .map(|c| format!("\"{c}\" = v.\"{c}\""))
        .collect();
    let arrays: Vec<String> = (0..targets.len())
        .map(|i| format!("${}::bytea[]", i + 3))
        .collect();
    let names: Vec<String> = targets.iter().map(|c| format!("\"{c}\"")).collect();
    let statement = format!(
        "update \"{table}\" as t set {sets} from unnest($2::uuid[], {arrays}) as v(id, {names}) \
         where t.tenant_id = $1 and t.\"{id}\" = v.id",
        table = table.table,
        sets = sets.join(", "),
        arrays = arrays.join(", "),
        names = names.join(", "),
        id = table.id_column,
    );
    let tenant = tx.tenant();
    let mut query = sqlx::query(AssertSqlSafe(statement)).bind(tenant).bind(ids);
    for column in values {
        query = query.bind(column);
    }
    query.execute(tx.as_mut()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reencrypt::EncryptedColumn;

    #[test]
    fn only_plain_lowercase_identifiers_are_accepted() {
        const BAD: EncryptedTable = EncryptedTable {
            table: "notes\"; drop table x; --",
            id_column: "id",
            columns: &[],
        };
        const GOOD: EncryptedTable = EncryptedTable {
            table: "patients",
            id_column: "id",
            columns: &[EncryptedColumn {
                name: "family_name",
                blind_index: Some(("family_name_bidx", crate::BlindIndexKind::FamilyName)),
            }],
        };
        assert!(check_identifiers(&BAD).is_err());
        assert!(check_identifiers(&GOOD).is_ok());
        assert_eq!(value_count(&GOOD), 2);
    }
}

//! The batch engine behind `haven phi reencrypt` and `haven phi encrypt-existing`: rewrites
//! encrypted columns, tenant by tenant, in small transactions, online and safe with several
//! workers (`for update skip locked`), resumable because the work left is read from the data
//! itself (a row's format byte and key version), never from a progress file.

mod sql;

use haven_db::PgPool;
use haven_db::ids::TenantId;
use haven_db::tenant::TenantTx;
use haven_db::tenant_keys;
use sqlx::Row;
use uuid::Uuid;

use crate::blind::BlindIndexKind;
use crate::error::PhiError;
use crate::field::Field;
use crate::key::TenantKeys;
use crate::phi::Phi;

/// One encrypted column, and the blind-index column derived from it, if any.
#[derive(Debug, Clone, Copy)]
pub struct EncryptedColumn {
    pub name: &'static str,
    pub blind_index: Option<(&'static str, BlindIndexKind)>,
}

/// A tenant table with encrypted `bytea` columns; `tenant_id` is its tenant column and
/// `id_column` a uuid primary key (the row id bound into each ciphertext).
#[derive(Debug, Clone, Copy)]
pub struct EncryptedTable {
    pub table: &'static str,
    pub id_column: &'static str,
    pub columns: &'static [EncryptedColumn],
}

/// Every encrypted column of the schema (migration V18). A column missing here is invisible to
/// re-encryption, and key retirement would then erase a key it still needs: a team adding its
/// own PHI column adds it here (docs/EXTENDING.md).
pub const PHI_COLUMNS: &[EncryptedTable] = &[
    EncryptedTable {
        table: "patients",
        id_column: "id",
        columns: &[
            EncryptedColumn {
                name: "mrn",
                blind_index: Some(("mrn_bidx", BlindIndexKind::Mrn)),
            },
            EncryptedColumn {
                name: "given_name",
                blind_index: None,
            },
            EncryptedColumn {
                name: "family_name",
                blind_index: Some(("family_name_bidx", BlindIndexKind::FamilyName)),
            },
            EncryptedColumn {
                name: "birth_date",
                blind_index: Some(("birth_date_bidx", BlindIndexKind::BirthDate)),
            },
            EncryptedColumn {
                name: "contact",
                blind_index: None,
            },
        ],
    },
    EncryptedTable {
        table: "documents",
        id_column: "id",
        columns: &[
            EncryptedColumn {
                name: "title",
                blind_index: None,
            },
            EncryptedColumn {
                name: "filename",
                blind_index: None,
            },
            EncryptedColumn {
                name: "metadata",
                blind_index: None,
            },
        ],
    },
];

/// Which rows a pass rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Ciphertexts under a version other than the tenant's active one; afterwards, versions
    /// nothing uses any more are retired.
    Reencrypt,
    /// Legacy plaintext values (format 0x00), encrypted under the active version.
    EncryptExisting,
}

/// Reported after every batch.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub tenant: TenantId,
    pub table: &'a str,
    pub done: u64,
    /// Rows pending when the table's pass started (other workers may take some of them).
    pub total: u64,
}

/// What a pass did for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantReport {
    pub tenant: Option<TenantId>,
    pub rows_rewritten: u64,
    /// Rows still on an old version (locked by others during the pass, or written since).
    pub rows_remaining: u64,
    pub retired: Vec<u32>,
    /// Versions nothing uses, still within the cache TTL of their demotion: rerun later.
    pub in_grace: Vec<u32>,
    pub shredded: bool,
}

/// Runs `pass` over `tables` for each tenant in `tenants`, `batch_size` rows per transaction.
pub async fn run(
    phi: &Phi,
    pool: &PgPool,
    tables: &[EncryptedTable],
    pass: Pass,
    tenants: &[TenantId],
    batch_size: u32,
    mut progress: impl FnMut(&Progress<'_>),
) -> Result<Vec<TenantReport>, PhiError> {
    for table in tables {
        sql::check_identifiers(table)?;
    }
    let mut reports = Vec::new();
    for &tenant in tenants {
        let mut report = TenantReport {
            tenant: Some(tenant),
            ..TenantReport::default()
        };
        match run_tenant(
            phi,
            pool,
            tables,
            pass,
            tenant,
            batch_size,
            &mut progress,
            &mut report,
        )
        .await
        {
            Err(PhiError::TenantShredded(_)) => report.shredded = true,
            other => other?,
        }
        reports.push(report);
    }
    Ok(reports)
}

#[allow(clippy::too_many_arguments)]
async fn run_tenant(
    phi: &Phi,
    pool: &PgPool,
    tables: &[EncryptedTable],
    pass: Pass,
    tenant: TenantId,
    batch_size: u32,
    progress: &mut impl FnMut(&Progress<'_>),
    report: &mut TenantReport,
) -> Result<(), PhiError> {
    let stored = tenant_keys::admin_list(pool, tenant).await?;
    if stored.iter().any(|r| r.state == "shredded") {
        return Err(PhiError::TenantShredded(tenant));
    }
    if pass == Pass::Reencrypt && stored.is_empty() {
        return Ok(()); // never had a key: nothing of it is encrypted
    }
    for table in tables {
        let mut tx = TenantTx::begin(pool, tenant).await?;
        let keys = phi.tenant_keys(&mut tx).await?;
        let total = sql::count_pending(&mut tx, table, pass, keys.active_version()).await?;
        tx.commit().await?;
        let mut done = 0;
        // Until a batch finds nothing: rows another replica wrote with an old version while
        // this pass ran are taken too.
        loop {
            let rewritten = batch(phi, pool, table, pass, tenant, batch_size).await?;
            if rewritten == 0 {
                break;
            }
            done += rewritten;
            progress(&Progress {
                tenant,
                table: table.table,
                done,
                total: total.max(done),
            });
        }
        report.rows_rewritten += done;
    }
    if pass == Pass::Reencrypt {
        retire_unused(phi, pool, tables, tenant, report).await?;
    }
    Ok(())
}

/// One transaction: claim up to `batch_size` pending rows (skipping rows other workers or
/// requests hold), rewrite them under the active version, commit. Returns the rows rewritten.
async fn batch(
    phi: &Phi,
    pool: &PgPool,
    table: &EncryptedTable,
    pass: Pass,
    tenant: TenantId,
    batch_size: u32,
) -> Result<u64, PhiError> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let keys = phi.tenant_keys(&mut tx).await?;
    let rows = sql::claim(&mut tx, table, pass, keys.active_version(), batch_size).await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut values: Vec<Vec<Option<Vec<u8>>>> =
        vec![Vec::with_capacity(rows.len()); sql::value_count(table)];
    for row in &rows {
        let id: Uuid = row.try_get(0)?;
        ids.push(id);
        let mut slot = 0;
        for (i, column) in table.columns.iter().enumerate() {
            let stored: Option<Vec<u8>> = row.try_get(i + 1)?;
            let (value, index) = rewrite(&keys, table, column, id, stored.as_deref())?;
            values[slot].push(value);
            slot += 1;
            if column.blind_index.is_some() {
                values[slot].push(index);
                slot += 1;
            }
        }
    }
    sql::update(&mut tx, table, &ids, &values).await?;
    tx.commit().await?;
    Ok(ids.len() as u64)
}

/// A column's new stored value and, when it has one, its blind index.
type Rewritten = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Re-encrypts one stored value under the active version.
fn rewrite(
    keys: &TenantKeys,
    table: &EncryptedTable,
    column: &EncryptedColumn,
    id: Uuid,
    stored: Option<&[u8]>,
) -> Result<Rewritten, PhiError> {
    let Some(stored) = stored else {
        return Ok((None, None));
    };
    let field = Field::new(table.table, column.name, id);
    // The engine always reads legacy plaintext: converting it is what encrypt-existing is for.
    let plaintext = keys.decrypt_field(field, stored, true)?;
    let index = match column.blind_index {
        Some((_, kind)) => std::str::from_utf8(&plaintext)
            .ok()
            .and_then(|text| keys.blind_index(kind, text)),
        None => None,
    };
    Ok((Some(keys.encrypt_field(field, &plaintext)), index))
}

/// Retires each `decrypt_only` version no row of `tables` uses any more, once its demotion is
/// older than the key-cache TTL (so no replica can still be writing with it).
async fn retire_unused(
    phi: &Phi,
    pool: &PgPool,
    tables: &[EncryptedTable],
    tenant: TenantId,
    report: &mut TenantReport,
) -> Result<(), PhiError> {
    let rows = tenant_keys::admin_list(pool, tenant).await?;
    let old: Vec<i32> = rows
        .iter()
        .filter(|r| r.purpose == "encryption" && r.state == "decrypt_only")
        .map(|r| r.version)
        .collect();
    let mut unused = Vec::new();
    let mut tx = TenantTx::begin(pool, tenant).await?;
    for version in old {
        let mut in_use = 0;
        for table in tables {
            in_use += sql::count_version(&mut tx, table, version as u32).await?;
        }
        report.rows_remaining += in_use;
        if in_use == 0 {
            unused.push(version);
        }
    }
    tx.commit().await?;
    if unused.is_empty() {
        return Ok(());
    }
    let ttl = time::Duration::try_from(phi.settings().cache_ttl).unwrap_or(time::Duration::MAX);
    let cutoff = time::OffsetDateTime::now_utc() - ttl;
    let retired = tenant_keys::admin_retire(pool, tenant, &unused, cutoff).await?;
    report.in_grace = unused
        .iter()
        .filter(|v| !retired.contains(v))
        .map(|v| *v as u32)
        .collect();
    report.retired = retired.into_iter().map(|v| v as u32).collect();
    if !report.retired.is_empty() {
        phi.evict_tenant(tenant);
    }
    Ok(())
}

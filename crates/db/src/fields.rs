//! The seam between tenant query functions and field-level PHI encryption: a query function
//! seals, opens and blind-indexes PHI columns through the [`FieldCipher`] its caller obtained
//! for the transaction's tenant (`haven_phi::tenant_fields`). No cryptography lives here.

use uuid::Uuid;

/// What a blind index is computed over; each kind has its own key and normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlindIndexKind {
    /// Medical record number, exactly as given.
    Mrn,
    /// Family name, Unicode lower-cased (the filter is case-insensitive).
    FamilyName,
    /// Birth date: an ISO 8601 calendar date (`YYYY-MM-DD`), re-rendered canonically.
    BirthDate,
}

/// Where a stored PHI value lives: bound into its ciphertext as associated data, so the value
/// opens in this table, column and row (of this tenant) and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: Uuid,
}

impl<'a> Field<'a> {
    pub fn new(table: &'a str, column: &'a str, row_id: Uuid) -> Self {
        Self {
            table,
            column,
            row_id,
        }
    }
}

/// Field encryption for one tenant transaction.
pub trait FieldCipher: Send + Sync {
    /// The stored form of `plaintext` at `field` (versioned: format byte first).
    fn seal(&self, field: Field<'_>, plaintext: &[u8]) -> Vec<u8>;

    /// The plaintext of a stored value. The error (the encryption layer's own, already logged
    /// with table, column and row id) reaches callers as `sqlx::Error::Decode`.
    fn open(
        &self,
        field: Field<'_>,
        stored: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;

    /// The index written for `value`; `None` when it has no normal form (blank, or not a date):
    /// validation refuses such values before they get here.
    fn blind_index(&self, kind: BlindIndexKind, value: &str) -> Option<Vec<u8>>;

    /// Every index a lookup of `value` must match: the written form and, while rows stored
    /// before encryption are still read, their plaintext form.
    fn blind_lookups(&self, kind: BlindIndexKind, value: &str) -> Vec<Vec<u8>>;
}

/// Opens a stored value as UTF-8 text (`sqlx::Error::Decode` on failure, never the value).
pub fn open_text(
    cipher: &dyn FieldCipher,
    field: Field<'_>,
    stored: &[u8],
) -> Result<String, sqlx::Error> {
    let bytes = cipher.open(field, stored).map_err(sqlx::Error::Decode)?;
    String::from_utf8(bytes).map_err(|_| {
        sqlx::Error::Decode(
            format!(
                "{}.{} of row {} is not UTF-8 text",
                field.table, field.column, field.row_id
            )
            .into(),
        )
    })
}

/// Opens a stored JSON value (an object in every PHI column that holds JSON).
pub fn open_json(
    cipher: &dyn FieldCipher,
    field: Field<'_>,
    stored: &[u8],
) -> Result<serde_json::Value, sqlx::Error> {
    let bytes = cipher.open(field, stored).map_err(sqlx::Error::Decode)?;
    serde_json::from_slice(&bytes).map_err(|_| {
        sqlx::Error::Decode(
            format!(
                "{}.{} of row {} is not JSON",
                field.table, field.column, field.row_id
            )
            .into(),
        )
    })
}

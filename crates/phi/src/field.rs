//! Which stored value a ciphertext belongs to, and the associated data that binds it there.

use haven_db::ids::TenantId;

pub use haven_db::fields::Field;

/// Domain label of the associated data; a new layout gets a new label (and format byte).
const AD_LABEL: &[u8] = b"haven-phi/field/v1";

/// The associated data authenticated with every field ciphertext: a label, the format byte and
/// key version (so the header cannot be altered), then tenant id, table, column and row id, each
/// length-prefixed so no two different tuples encode alike. A ciphertext copied to another
/// tenant, table, column or row fails to decrypt there.
pub(crate) fn associated_data(
    tenant: TenantId,
    field: &Field<'_>,
    format: u8,
    version: u32,
) -> Vec<u8> {
    let mut ad = Vec::with_capacity(96 + field.table.len() + field.column.len());
    ad.extend_from_slice(AD_LABEL);
    ad.push(format);
    ad.extend_from_slice(&version.to_be_bytes());
    for part in [
        tenant.as_uuid().as_bytes().as_slice(),
        field.table.as_bytes(),
        field.column.as_bytes(),
        field.row_id.as_bytes().as_slice(),
    ] {
        ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        ad.extend_from_slice(part);
    }
    ad
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn associated_data_differs_for_every_component_and_cannot_be_shifted() {
        let tenant = TenantId::from_uuid(Uuid::from_u128(1));
        let row = Uuid::from_u128(2);
        let base = associated_data(tenant, &Field::new("patients", "given_name", row), 1, 1);
        let variants = [
            associated_data(
                TenantId::from_uuid(Uuid::from_u128(3)),
                &Field::new("patients", "given_name", row),
                1,
                1,
            ),
            associated_data(tenant, &Field::new("documents", "given_name", row), 1, 1),
            associated_data(tenant, &Field::new("patients", "family_name", row), 1, 1),
            associated_data(
                tenant,
                &Field::new("patients", "given_name", Uuid::from_u128(4)),
                1,
                1,
            ),
            associated_data(tenant, &Field::new("patients", "given_name", row), 1, 2),
            // Moving a character from the table to the column name must not give the same bytes.
            associated_data(tenant, &Field::new("patient", "sgiven_name", row), 1, 1),
        ];
        for variant in variants {
            assert_ne!(base, variant);
        }
    }
}

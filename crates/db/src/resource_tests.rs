//! Unit tests of the sealed-resource helpers.

use super::*;
use crate::ids::PatientId;

/// Notes the field each value is sealed for; indexes by upper-casing.
#[derive(Default)]
struct Labels(std::sync::Mutex<Vec<String>>);

impl FieldCipher for Labels {
    fn seal(&self, field: Field<'_>, plaintext: &[u8]) -> Vec<u8> {
        let label = format!("{}.{}.{}", field.table, field.column, field.row_id);
        self.0.lock().unwrap().push(label);
        plaintext.to_vec()
    }

    fn open(
        &self,
        _: Field<'_>,
        _: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        Err("not used".into())
    }

    fn blind_index(&self, _: BlindIndexKind, value: &str) -> Option<Vec<u8>> {
        (!value.is_empty()).then(|| value.to_uppercase().into_bytes())
    }

    fn blind_lookups(&self, _: BlindIndexKind, _: &str) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

struct Note {
    text: String,
    kind: i32,
}

impl Fields for Note {
    type Id = PatientId;
    const TABLE: &'static str = "notes";

    fn read(row: &Reader<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            text: row.text("text")?,
            kind: row.plain("kind")?,
        })
    }

    fn write(&self, row: &mut Writer<'_>) -> Result<(), sqlx::Error> {
        row.text("text", &self.text).plain("kind", self.kind);
        row.index("text_bidx", BlindIndexKind::Mrn, &self.text)?;
        Ok(())
    }
}

#[test]
fn a_write_names_each_column_once_and_seals_for_its_table_column_and_row() {
    let id = Uuid::from_u128(7);
    let note = Note {
        text: "abc".into(),
        kind: 2,
    };
    let cipher = Labels::default();
    let (names, binds) = write(&cipher, id, &note).unwrap();
    assert_eq!(names, "text, kind, text_bidx");
    let mut query = QueryBuilder::new("values (");
    push_binds(&mut query, binds);
    query.push(")");
    assert_eq!(query.sql().as_str(), "values ($1, $2, $3)");
    assert_eq!(
        *cipher.0.lock().unwrap(),
        ["notes.text.00000000-0000-0000-0000-000000000007"]
    );
}

#[test]
fn a_value_without_a_blind_index_normal_form_is_refused_before_any_query() {
    let blank = Note {
        text: String::new(),
        kind: 0,
    };
    assert!(write(&Labels::default(), Uuid::nil(), &blank).is_err());
}

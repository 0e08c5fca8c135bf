//! PHI encrypted at rest behind the API: a dump or a superuser's select shows no value the API
//! returns; a moved ciphertext is an integrity error; rotation with re-encryption and the
//! conversion of rows stored before encryption keep every value readable and findable.

use std::collections::HashMap;
use std::time::Duration;

use haven_db::fields::FieldCipher;
use haven_db::page::PageLimit;
use haven_db::patients::{self, PatientFilter};
use haven_db::tenant::TenantTx;
use haven_phi::{Phi, PhiSettings};
use haven_tests::HavenProcess;
use haven_tests::app::{TEST_PHI_MASTER_KEY, base_env};
use haven_tests::world::{World, new_doc, new_patient};
use serde_json::{Value, json};

/// Values no dump may contain.
const NEEDLES: [&str; 8] = [
    "MRN-ZEBRA-4471",
    "Quillon",
    "Vexmoor",
    "1951-07-23",
    "Harrowgate",
    "Biopsy of Quillon",
    "vexmoor-biopsy.pdf",
    "Brackenfold",
];

fn patient_body() -> Value {
    json!({
        "mrn": "MRN-ZEBRA-4471",
        "given_name": "Quillon",
        "family_name": "Vexmoor",
        "birth_date": "1951-07-23",
        "sex": "other",
        "contact": {"address": "12 Harrowgate Lane"}
    })
}

/// `text` holds none of the needles, as text or as the hex PostgreSQL shows `bytea` in.
fn assert_no_phi(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for needle in NEEDLES {
        let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(needle), "{what} contains {needle:?}");
        assert!(!lower.contains(&hex), "{what} contains {needle:?} in hex");
    }
}

/// `haven <args>` against the world's database, with its PHI settings; (exit code, output).
fn operator(w: &World, args: &[&str], extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut env: HashMap<String, String> = base_env(&w.app.db.url);
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut process = HavenProcess::spawn(args, &env);
    let status = process
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("haven {args:?} did not exit"));
    let out = [process.stdout_lines(), process.stderr_lines()].concat();
    (status.code(), out.join("\n"))
}

#[tokio::test]
async fn a_database_dump_and_a_superuser_select_show_no_phi_while_the_api_returns_it() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let patient = w.create_patient(&editor, &patient_body()).await;
    let mut doc = new_doc("Biopsy of Quillon");
    doc["filename"] = json!("vexmoor-biopsy.pdf");
    doc["metadata"] = json!({"ward": "Brackenfold"});
    doc["patient_id"] = patient["id"].clone();
    let doc = w.create(&editor, &doc).await;

    let read = w
        .read(
            200,
            &format!("/api/v1/patients/{}", patient["id"].as_str().unwrap()),
            &editor,
        )
        .await;
    assert_eq!(
        (&read["given_name"], &read["birth_date"]),
        (&json!("Quillon"), &json!("1951-07-23"))
    );
    assert_eq!(read["contact"], json!({"address": "12 Harrowgate Lane"}));
    let read = w
        .read(
            200,
            &format!("/api/v1/documents/{}", doc["id"].as_str().unwrap()),
            &editor,
        )
        .await;
    assert_eq!(
        (&read["title"], &read["filename"]),
        (&json!("Biopsy of Quillon"), &json!("vexmoor-biopsy.pdf"))
    );
    assert_eq!(read["metadata"], json!({"ward": "Brackenfold"}));

    for table in ["patients", "documents"] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select t::text from {table} t"
        )))
        .fetch_all(&w.pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_no_phi(&format!("select * from {table}"), &rows.join("\n"));
    }
    let dump = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_dump")
        .arg(&w.app.db.url)
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("COPY public.patients"),
        "the dump holds the patients table"
    );
    assert_no_phi("pg_dump", &dump);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_column_or_tenant_is_an_integrity_error_that_reveals_nothing()
 {
    let w = World::start(&["org-1", "org-2"]).await;
    let one = w.token("org-1", "erin", &["editor"]).await;
    let two = w.token("org-2", "tom", &["editor"]).await;
    let p1 = w
        .create_patient(&one, &new_patient("MRN-1", "Lovelace"))
        .await;
    let p2 = w
        .create_patient(&one, &new_patient("MRN-2", "Hopper"))
        .await;
    let p3 = w.create_patient(&two, &new_patient("MRN-3", "Curie")).await;
    let id = |p: &Value| uuid::Uuid::parse_str(p["id"].as_str().unwrap()).unwrap();
    let path = format!("/api/v1/patients/{}", id(&p1));
    let original: Vec<u8> = sqlx::query_scalar("select family_name from patients where id = $1")
        .bind(id(&p1))
        .fetch_one(&w.pool)
        .await
        .unwrap();

    for (moved, source) in [
        (
            "another row",
            "select family_name from patients where id = $2",
        ),
        (
            "another column",
            "select given_name from patients where id = $1",
        ),
        (
            "another tenant",
            "select family_name from patients where id = $3",
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update patients set family_name = ({source}) where id = $1"
        )))
        .bind(id(&p1))
        .bind(id(&p2))
        .bind(id(&p3))
        .execute(&w.pool)
        .await
        .unwrap();
        let reply = w.get(&path, &one).await;
        assert_eq!(
            (reply.status, reply.code()),
            (500, Some("PHI_001")),
            "{moved}"
        );
        let body = reply.body.to_string();
        for value in ["Hopper", "Curie", "Ada", "Lovelace"] {
            assert!(
                !body.contains(value),
                "{moved}: the answer shows {value}: {body}"
            );
        }
        let list = w.get("/api/v1/patients", &one).await;
        assert_eq!(list.code(), Some("PHI_001"), "{moved}: the list fails too");
    }
    sqlx::query("update patients set family_name = $2 where id = $1")
        .bind(id(&p1))
        .bind(&original)
        .execute(&w.pool)
        .await
        .unwrap();
    assert_eq!(w.read(200, &path, &one).await["family_name"], "Lovelace");

    let doc = w.create(&one, &new_doc("Referral")).await;
    let other = w.create(&one, &new_doc("Discharge")).await;
    sqlx::query(
        "update documents set title = (select title from documents where id = $2) where id = $1",
    )
    .bind(uuid::Uuid::parse_str(doc["id"].as_str().unwrap()).unwrap())
    .bind(uuid::Uuid::parse_str(other["id"].as_str().unwrap()).unwrap())
    .execute(&w.pool)
    .await
    .unwrap();
    let reply = w
        .get(
            &format!("/api/v1/documents/{}", doc["id"].as_str().unwrap()),
            &one,
        )
        .await;
    assert_eq!((reply.status, reply.code()), (500, Some("PHI_001")));
    assert!(!reply.body.to_string().contains("Discharge"));
}

#[tokio::test]
async fn filters_and_mrn_uniqueness_work_on_blind_indexes_that_are_keyed_per_tenant() {
    let w = World::start(&["org-1", "org-2"]).await;
    let one = w.token("org-1", "erin", &["editor"]).await;
    let two = w.token("org-2", "tom", &["editor"]).await;
    w.create_patient(&one, &new_patient("MRN-1", "Lovelace"))
        .await;
    w.create_patient(&one, &new_patient("MRN-2", "lovelace"))
        .await;
    w.create_patient(&one, &new_patient("MRN-3", "Hopper"))
        .await;
    w.create_patient(&two, &new_patient("MRN-1", "Lovelace"))
        .await;
    let found = patients_where(&w, &one, "family_name=LOVELACE").await;
    assert_eq!(found.len(), 2);
    let found = patients_where(&w, &one, "mrn=MRN-3").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["family_name"], "Hopper");
    assert!(
        patients_where(&w, &one, "mrn=mrn-3").await.is_empty(),
        "an mrn matches exactly"
    );
    assert_eq!(
        patients_where(&w, &one, "birth_date=1984-03-01")
            .await
            .len(),
        3
    );
    let taken = w
        .expect(
            409,
            reqwest::Method::POST,
            "/api/v1/patients",
            &one,
            Some(&new_patient("MRN-1", "Other")),
        )
        .await;
    assert_eq!(taken.code(), Some("RES_002"));
    // Keyed HMACs: 32 bytes, and the same mrn indexes differently in each tenant.
    let indexes: Vec<Vec<u8>> = sqlx::query_scalar(
        "select mrn_bidx from patients where family_name_bidx is not null order by created_at",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    assert!(indexes.iter().all(|i| i.len() == 32));
    assert_ne!(indexes[0], indexes[3], "MRN-1 of org-1 and of org-2");
}

#[tokio::test]
async fn rotation_and_reencryption_keep_every_value_readable_and_move_every_row_to_the_new_key() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let first = w
        .create_patient(&editor, &new_patient("MRN-1", "Lovelace"))
        .await;
    let doc = w.create(&editor, &new_doc("Referral")).await;
    let version = |column: &'static str, table: &'static str| {
        let pool = w.pool.clone();
        async move {
            let rows: Vec<Vec<u8>> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select {column} from {table}")))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            let mut versions: Vec<u32> = rows
                .iter()
                .filter_map(|r| haven_phi::key_version_of(r))
                .collect();
            versions.sort_unstable();
            versions.dedup();
            versions
        }
    };
    assert_eq!(version("family_name", "patients").await, [1]);

    let (code, out) = operator(&w, &["tenants", "rotate-key", "org-1"], &[]);
    assert_eq!(code, Some(0), "{out}");
    // The app heard of it (NOTIFY) and writes with version 2 at once; version 1 still reads.
    let second = w
        .create_patient(&editor, &new_patient("MRN-2", "Hopper"))
        .await;
    assert_eq!(version("family_name", "patients").await, [1, 2]);
    let path = format!("/api/v1/patients/{}", first["id"].as_str().unwrap());
    assert_eq!(w.read(200, &path, &editor).await["family_name"], "Lovelace");

    let (code, out) = operator(&w, &["phi", "reencrypt", "--tenant", "org-1"], &[]);
    assert_eq!(code, Some(0), "{out}");
    for (table, column) in [
        ("patients", "family_name"),
        ("patients", "mrn"),
        ("documents", "title"),
        ("documents", "metadata"),
    ] {
        assert_eq!(version(column, table).await, [2], "{table}.{column}");
    }
    assert_eq!(w.read(200, &path, &editor).await, first);
    let doc_path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    assert_eq!(w.read(200, &doc_path, &editor).await["title"], "Referral");
    let found = patients_where(&w, &editor, "family_name=hopper").await;
    assert_eq!(found, [second]);
}

#[tokio::test]
async fn rows_written_without_encryption_are_read_found_and_then_encrypted_by_encrypt_existing() {
    let w = World::start_with(&["org-1"], &[("PHI_ENCRYPTION", "off")]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let created = w.create_patient(&editor, &patient_body()).await;
    w.create(&editor, &new_doc("Biopsy of Quillon")).await;
    let legacy: i64 = w
        .count("select count(*) from patients where substring(family_name from 1 for 1) = '\\x00'::bytea")
        .await;
    assert_eq!(
        legacy, 1,
        "stored in the plaintext form while encryption is off"
    );
    assert_eq!(
        patients_where(&w, &editor, "family_name=vexmoor")
            .await
            .len(),
        1
    );

    // With encryption on, the same rows read and are found before conversion...
    let settings = PhiSettings {
        mode: haven_phi::PhiMode::Local {
            master_key: Some(TEST_PHI_MASTER_KEY.to_owned().into()),
        },
        ..PhiSettings::default()
    };
    let phi = Phi::from_settings(&settings, None).await.unwrap().unwrap();
    let tenant = w.tenant_id("org-1").await;
    let tenant = haven_db::ids::TenantId::from_uuid(tenant);
    let before = read_back(&w.pool, tenant, &phi).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].fields.given_name, "Quillon");

    // ...and encrypt-existing converts them (twice is harmless).
    for _ in 0..2 {
        let (code, out) = operator(&w, &["phi", "encrypt-existing"], &[]);
        assert_eq!(code, Some(0), "{out}");
    }
    for table in ["patients", "documents"] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select t::text from {table} t"
        )))
        .fetch_all(&w.pool)
        .await
        .unwrap();
        assert_no_phi(table, &rows.join("\n"));
    }
    let after = read_back(&w.pool, tenant, &phi).await;
    assert_eq!(after, before);
    assert_eq!(after[0].id.to_string(), created["id"].as_str().unwrap());
}

/// The patient found by family name and mrn through `phi`'s cipher, as a request would.
async fn read_back(
    pool: &sqlx::PgPool,
    tenant: haven_db::ids::TenantId,
    phi: &Phi,
) -> Vec<patients::Patient> {
    let mut tx = TenantTx::begin(pool, tenant).await.unwrap();
    let fields = haven_phi::tenant_fields(Some(phi), &mut tx).await.unwrap();
    let filter = PatientFilter {
        family_name: Some("VEXMOOR".into()),
        mrn: Some("MRN-ZEBRA-4471".into()),
        birth_date: None,
    };
    let cipher: &dyn FieldCipher = &fields;
    let page = patients::list(&mut tx, cipher, &filter, None, PageLimit::DEFAULT)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    page.items
}

/// Every patient of the token's tenant matching `query` (e.g. `mrn=MRN-1`), over the API.
async fn patients_where(w: &World, token: &str, query: &str) -> Vec<Value> {
    w.walk("/api/v1/patients", token, &format!("limit=100&{query}"))
        .await
}

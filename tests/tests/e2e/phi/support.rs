//! PHI test fixtures: a KMS key in moto, a switchable path to it, a tenant table with encrypted
//! columns, and notes written and read through `TenantTx` like the db layer will.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use haven_db::PgPool;
use haven_db::ids::TenantId;
use haven_db::tenant::TenantTx;
use haven_phi::reencrypt::{EncryptedColumn, EncryptedTable};
use haven_phi::{BlindIndexKind, Field, Phi, PhiError, PhiMode, PhiSettings};
use haven_tests::Moto;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

use crate::rls::fixtures::{Migrated, migrated};

pub const TABLE: &str = "phi_test_notes";

/// The test table as the engine sees it: two encrypted columns, one with a blind index.
pub const NOTES: EncryptedTable = EncryptedTable {
    table: TABLE,
    id_column: "id",
    columns: &[
        EncryptedColumn {
            name: "title",
            blind_index: None,
        },
        EncryptedColumn {
            name: "family_name",
            blind_index: Some(("family_name_bidx", BlindIndexKind::FamilyName)),
        },
    ],
};

/// A tenant table shaped like the future patients table, with the same RLS as every other.
pub async fn create_notes_table(pool: &PgPool) {
    sqlx::raw_sql(
        "create table phi_test_notes (
             id uuid primary key default gen_random_uuid(),
             tenant_id uuid not null references tenants (id),
             title bytea,
             family_name bytea,
             family_name_bidx bytea);
         alter table phi_test_notes enable row level security;
         alter table phi_test_notes force row level security;
         create policy phi_test_notes_tenant on phi_test_notes to haven_app
             using (tenant_id = haven_current_tenant())
             with check (tenant_id = haven_current_tenant());
         grant select, insert, update on phi_test_notes to haven_app;",
    )
    .execute(pool)
    .await
    .expect("create the test table");
}

/// moto: the shared one from scripts/test (HAVEN_TEST_MOTO_URL), else one of this test's own.
pub struct Kms {
    pub endpoint: String,
    pub key_id: String,
    _own: Option<Moto>,
}

impl Kms {
    pub async fn start() -> Self {
        let (endpoint, own) = match std::env::var("HAVEN_TEST_MOTO_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let moto = Moto::start().await;
                (moto.endpoint(), Some(moto))
            }
        };
        let key_id = client(&endpoint)
            .await
            .create_key()
            .description("haven phi test")
            .send()
            .await
            .expect("create a KMS key in moto")
            .key_metadata()
            .expect("key metadata")
            .key_id()
            .to_owned();
        Self {
            endpoint,
            key_id,
            _own: own,
        }
    }

    /// A `Phi` whose KMS calls go to `endpoint` (moto itself, or a `Switch` in front of it).
    pub async fn phi(&self, endpoint: &str, cache_ttl: Duration) -> Phi {
        Phi::with_kms_client(
            client(endpoint).await,
            self.key_id.clone(),
            settings(&self.key_id, cache_ttl),
        )
    }

    /// The variables that make the `haven` binary use this KMS key.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PHI_ENCRYPTION", "kms".to_owned()),
            ("PHI_KMS_KEY_ID", self.key_id.clone()),
            ("AWS_ENDPOINT_URL_KMS", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }
}

pub fn settings(key_id: &str, cache_ttl: Duration) -> PhiSettings {
    PhiSettings {
        mode: PhiMode::Kms {
            key_id: key_id.to_owned(),
        },
        region: None,
        kms_timeout: Duration::from_secs(2),
        cache_ttl,
        cache_max_tenants: 100,
        accept_legacy_plaintext: true,
    }
}

/// A KMS client for `endpoint` with short timeouts and no retries, so an outage fails fast.
pub async fn client(endpoint: &str) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .region(Region::new("us-east-1"))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    aws_sdk_kms::Client::new(&config)
}

/// A TCP path to KMS that the test can cut (every connection, open ones included) and restore:
/// a network outage without losing moto's keys.
pub struct Switch {
    pub endpoint: String,
    up: watch::Sender<bool>,
}

impl Switch {
    pub async fn start(target_endpoint: &str) -> Self {
        let target = target_endpoint.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (up, state) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*state.borrow() {
                    continue; // dropped: connection refused/reset, as with KMS unreachable
                }
                let target = target.clone();
                let mut state = state.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            up,
        }
    }

    pub fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// A migrated database with the notes table, a KMS key, and a `Phi` talking to KMS directly.
pub struct Fixture {
    pub m: Migrated,
    pub kms: Kms,
    pub phi: Phi,
}

pub async fn fixture(cache_ttl: Duration) -> Fixture {
    let m = migrated().await;
    create_notes_table(&m.pool).await;
    let kms = Kms::start().await;
    let phi = kms.phi(&kms.endpoint, cache_ttl).await;
    Fixture { m, kms, phi }
}

pub struct Note<'a> {
    pub title: &'a str,
    pub family_name: &'a str,
}

/// Inserts a note the way a query function will: encrypt each field for its row, add the blind
/// index, in the caller's tenant transaction.
pub async fn write_note(
    phi: &Phi,
    pool: &PgPool,
    tenant: TenantId,
    note: &Note<'_>,
) -> Result<Uuid, PhiError> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let keys = phi.tenant_keys(&mut tx).await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into phi_test_notes (id, tenant_id, title, family_name, family_name_bidx) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(tenant)
    .bind(keys.encrypt_field(Field::new(TABLE, "title", id), note.title.as_bytes()))
    .bind(keys.encrypt_field(
        Field::new(TABLE, "family_name", id),
        note.family_name.as_bytes(),
    ))
    .bind(keys.blind_index(BlindIndexKind::FamilyName, note.family_name))
    .execute(tx.as_mut())
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Overwrites one note's family name (a concurrent request during re-encryption).
pub async fn update_family_name(
    phi: &Phi,
    pool: &PgPool,
    tenant: TenantId,
    id: Uuid,
    value: &str,
) -> Result<(), PhiError> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let keys = phi.tenant_keys(&mut tx).await?;
    sqlx::query("update phi_test_notes set family_name = $2, family_name_bidx = $3 where id = $1")
        .bind(id)
        .bind(keys.encrypt_field(Field::new(TABLE, "family_name", id), value.as_bytes()))
        .bind(keys.blind_index(BlindIndexKind::FamilyName, value))
        .execute(tx.as_mut())
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Reads and decrypts one note: (title, family_name).
pub async fn read_note(
    phi: &Phi,
    pool: &PgPool,
    tenant: TenantId,
    id: Uuid,
) -> Result<(String, String), PhiError> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let keys = phi.tenant_keys(&mut tx).await?;
    let (title, family): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("select title, family_name from phi_test_notes where id = $1")
            .bind(id)
            .fetch_one(tx.as_mut())
            .await?;
    tx.commit().await?;
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8");
    let title = keys.decrypt_field(
        Field::new(TABLE, "title", id),
        &title,
        phi.accept_legacy_plaintext(),
    )?;
    let family = keys.decrypt_field(
        Field::new(TABLE, "family_name", id),
        &family,
        phi.accept_legacy_plaintext(),
    )?;
    Ok((text(title), text(family)))
}

/// The ids whose blind index matches `family_name` (the list filter of the future API).
pub async fn find_by_family_name(
    phi: &Phi,
    pool: &PgPool,
    tenant: TenantId,
    family_name: &str,
) -> Vec<Uuid> {
    let mut tx = TenantTx::begin(pool, tenant).await.unwrap();
    let keys = phi.tenant_keys(&mut tx).await.unwrap();
    let ids =
        sqlx::query_scalar("select id from phi_test_notes where family_name_bidx = $1 order by id")
            .bind(keys.blind_index(BlindIndexKind::FamilyName, family_name))
            .fetch_all(tx.as_mut())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    ids
}

/// Every stored byte of the table, as the superuser sees it (a dump, a backup).
pub async fn raw_table(pool: &PgPool) -> Vec<u8> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "select coalesce(title, '') || coalesce(family_name, '') || coalesce(family_name_bidx, '') \
         from phi_test_notes",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.concat()
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

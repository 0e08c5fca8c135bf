//! GET /api/v1/documents/{id} done bare: what Haven's read does on the wire and in PostgreSQL,
//! without its middleware, logging, error envelope or PHI layer.
//!
//! - The bearer token: RS256 against the issuer's JWKS (fetched once at start from JWKS_URL),
//!   `iss` = OIDC_ISSUER_URL, `aud` = OIDC_CLIENT_ID, `exp`; a viewer, editor or admin role.
//! - Its tenant (`tenant_id` claim, the external id) and user (`sub`) to ids, looked up once per
//!   pair and kept for the life of the process (Haven caches them too).
//! - One transaction, three round trips, Haven's statements (crates/db/src/tenant.rs,
//!   documents/mod.rs, audit_event.rs): the set-up as one simple-query message, the select with
//!   its audit insert in one statement, COMMIT.
//!
//! Environment: DATABASE_URL (the role Haven connects as), DB_MAX_CONNECTIONS (32), JWKS_URL,
//! OIDC_ISSUER_URL, OIDC_CLIENT_ID.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Haven's statement for GET /documents/{id}: the select (`documents::get`) and its audit event
/// (`audit_event::push_insert` with the row-found grant) in one statement. Binds: $1 tenant,
/// $2 id; the event: $3 tenant, $4 user, $5 subject, $6 action, $7 resource type, $8 resource
/// id, $9 outcome if found, $10 request id, $11 client ip, $12 user agent, $13 changed fields,
/// $14 emergency, $15 client request id, $16 error code if found, $17 the refusal's code when
/// found but not granted, $18 the not-found code.
const READ: &str = "with found as (select id, tenant_id, title, filename, content_type, \
    size_bytes, status, metadata, storage_location, patient_id, created_by, created_at, \
    updated_at, deleted_at from documents where tenant_id = $1 and id = $2 and deleted_at is \
    null), recorded as (insert into audit_events (tenant_id, actor_user_id, actor_subject, \
    action, resource_type, resource_id, outcome, request_id, client_ip, user_agent, \
    changed_fields, emergency, client_request_id, error_code) values ($3, $4, $5, $6, $7, $8, \
    case when exists (select 1 from found) then $9 else 'denied' end, $10, $11::inet, $12, $13, \
    $14, $15, case when exists (select 1 from found) then $16 when exists (select 1 from found) \
    then $17 else $18 end)) select * from found";

/// The tenant and user of a token's (`tenant_id`, `sub`), as Haven's principal resolves them
/// (`tenant_by_external_id_unscoped`, then the tenant's user of that subject).
const IDENTITY: &str = "select t.id, u.id from tenant_by_external_id_unscoped($1) t \
    join users u on u.tenant_id = t.id and u.subject = $2 and u.deleted_at is null \
    and u.disabled_at is null where t.status = 'active'";

/// What the read needs, shared by every request.
pub struct Reader {
    pool: PgPool,
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    identities: RwLock<HashMap<(String, String), (Uuid, Uuid)>>,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

impl Reader {
    /// Connects the pool and fetches the JWKS; panics (the process stops) if either fails.
    pub async fn from_env() -> Arc<Self> {
        let connections = std::env::var("DB_MAX_CONNECTIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(32);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect(&env("DATABASE_URL"))
            .await
            .expect("connect to DATABASE_URL");
        let jwks: JwkSet = reqwest::get(env("JWKS_URL"))
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("fetch JWKS_URL")
            .json()
            .await
            .expect("JWKS_URL answered a JWK set");
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[env("OIDC_ISSUER_URL")]);
        validation.set_audience(&[env("OIDC_CLIENT_ID")]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Arc::new(Self {
            pool,
            keys,
            validation,
            identities: RwLock::new(HashMap::new()),
        })
    }
}

pub fn router(reader: Arc<Reader>) -> Router {
    Router::new()
        .route("/api/v1/documents/{id}", get(read_document))
        .with_state(reader)
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    tenant_id: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// The row as selected, and Haven's response body for a document (`deleted_at` is selected,
/// never answered). The PHI columns are read in their plaintext stored form.
#[derive(sqlx::FromRow, Serialize)]
struct Stored {
    id: Uuid,
    tenant_id: Uuid,
    #[sqlx(try_from = "Vec<u8>")]
    title: PlainText,
    #[sqlx(try_from = "Vec<u8>")]
    filename: PlainText,
    content_type: String,
    size_bytes: i64,
    status: String,
    #[sqlx(try_from = "Vec<u8>")]
    metadata: PlainJson,
    storage_location: Option<String>,
    patient_id: Option<Uuid>,
    created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

/// A column in its plaintext stored form: the format byte 0x00, then the value. (The bare
/// server does not decrypt: the bench reads plaintext tenants.)
fn plain(stored: Vec<u8>) -> Result<Vec<u8>, String> {
    match stored.split_first() {
        Some((0, value)) => Ok(value.to_vec()),
        _ => Err("not a plaintext stored value".to_owned()),
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct PlainText(String);

impl TryFrom<Vec<u8>> for PlainText {
    type Error = String;

    fn try_from(stored: Vec<u8>) -> Result<Self, String> {
        String::from_utf8(plain(stored)?)
            .map(Self)
            .map_err(|e| e.to_string())
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct PlainJson(serde_json::Value);

impl TryFrom<Vec<u8>> for PlainJson {
    type Error = String;

    fn try_from(stored: Vec<u8>) -> Result<Self, String> {
        serde_json::from_slice(&plain(stored)?)
            .map(Self)
            .map_err(|e| e.to_string())
    }
}

async fn read_document(
    State(reader): State<Arc<Reader>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(claims) = verify(&reader, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if !claims
        .roles
        .iter()
        .any(|r| matches!(r.as_str(), "viewer" | "editor" | "admin"))
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(id) = Uuid::parse_str(&raw) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match read(&reader, &claims, id, peer).await {
        Ok(Some(stored)) => Json(stored).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(Failure::Answer(status)) => status.into_response(),
        Err(Failure::Database(error)) => {
            // Only failures are written (to stderr, which scripts/bench keeps): a benchmark that
            // fails has to say why.
            eprintln!("GET /api/v1/documents/{id}: {error}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn verify(reader: &Reader, headers: &HeaderMap) -> Option<Claims> {
    let token = headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
    let key = reader.keys.get(&kid)?;
    jsonwebtoken::decode::<Claims>(token, key, &reader.validation)
        .ok()
        .map(|data| data.claims)
}

/// Why a read did not get to its statement's answer: a status to give, or the database failed.
enum Failure {
    Answer(StatusCode),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// The tenant and user ids of the token, from the cache or (first sight) the database.
async fn identity(reader: &Reader, claims: &Claims) -> Result<(Uuid, Uuid), Failure> {
    let key = (claims.tenant_id.clone(), claims.sub.clone());
    if let Some(ids) = reader.identities.read().expect("lock").get(&key) {
        return Ok(*ids);
    }
    let ids: (Uuid, Uuid) = sqlx::query_as(IDENTITY)
        .bind(&key.0)
        .bind(&key.1)
        .fetch_optional(&reader.pool)
        .await?
        .ok_or(Failure::Answer(StatusCode::UNAUTHORIZED))?;
    reader.identities.write().expect("lock").insert(key, ids);
    Ok(ids)
}

async fn read(
    reader: &Reader,
    claims: &Claims,
    id: Uuid,
    peer: SocketAddr,
) -> Result<Option<Stored>, Failure> {
    let (tenant, user) = identity(reader, claims).await?;
    // crates/db/src/tenant.rs `begin_statement`: BEGIN, the runtime role and the tenant in one
    // simple-query message.
    let begin = format!(
        "begin; set local role haven_app; select set_config('app.tenant_id', '{}', true)",
        tenant.hyphenated()
    );
    let mut tx = reader.pool.begin_with(AssertSqlSafe(begin)).await?;
    let found: Option<Stored> = sqlx::query_as(READ)
        .bind(tenant)
        .bind(id)
        .bind(tenant)
        .bind(user)
        .bind(&claims.sub)
        .bind("document.read")
        .bind("document")
        .bind(id.to_string())
        .bind("success")
        .bind(Uuid::new_v4().hyphenated().to_string())
        .bind(peer.ip().to_string())
        .bind(None::<String>)
        .bind(None::<Vec<String>>)
        .bind(false)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind("RES_001")
        .bind("RES_001")
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

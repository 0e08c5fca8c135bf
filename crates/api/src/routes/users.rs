//! `GET /api/v1/users`: the caller's tenant's users, for admins.

use axum::Json;
use haven_db::users::User;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::openapi::ErrorEnvelope;
use crate::principal::Role;
use crate::routes::params::Problems;
use crate::scope::{Access, Scope};

/// Query parameters of the user list. Unknown parameters are refused (422).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A user of the tenant: a token subject seen at least once.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: uuid::Uuid,
    /// The token's `sub`.
    pub subject: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            subject: u.subject,
            email: u.email,
            display_name: u.display_name,
            last_seen_at: u.last_seen_at,
            created_at: u.created_at,
        }
    }
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Lists the users of the caller's tenant, oldest first (admin only).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", operation_id = "list_users",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, body = UserPage),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Only admins may list users (AUTH_009)", body = ErrorEnvelope),
        (status = 422, description = "Bad cursor or limit (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn list_users(
    scope: Scope,
    query: Result<ApiQuery<ListUsersQuery>, ApiError>,
) -> Result<Json<UserPage>, ApiError> {
    let permit = scope
        .require(&[Role::Admin], Access::new("user.list", "user"))
        .await?;
    let paging = permit
        .input(query.and_then(|ApiQuery(query)| {
            let mut problems = Problems::default();
            let paging = problems.paging(query.cursor.as_deref(), query.limit.as_deref());
            problems.finish().map(|()| paging)
        }))
        .await?;
    let mut tx = permit.begin().await?;
    let page = haven_db::users::list(&mut tx, paging.cursor.as_ref(), paging.limit).await?;
    tx.audit_returned(page.items.iter().map(|u| u.id.as_uuid()));
    tx.commit().await?;
    Ok(Json(UserPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}

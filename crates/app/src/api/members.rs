//! Project members: listing them (any member), adding one by user id or email and removing one
//! (the owner only; a member may also remove themself, i.e. leave). A member who leaves is
//! unassigned from the project's tasks; the owner's own membership cannot be removed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workhub_models::{project_members, tasks, users};

use crate::rows::NewProjectMember;

use super::auth::CurrentUser;
use super::error::{is_unique_violation, ApiError, ErrorBody};
use super::extract::{path_id, ApiJson};
use super::pool::{with_conn, write_tx};
use super::projects::{access, require_owner, MEMBER, OWNER};
use super::{no_content, timestamp, AppState};

/// `POST /projects/{id}/members`: name the user by `user_id` or by `email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[schema(example = 2)]
    pub user_id: Option<i64>,
    #[schema(example = "grace@example.com")]
    pub email: Option<String>,
}

/// A member of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    /// `owner` or `member`.
    pub role: String,
    /// When they joined the project.
    pub created_at: String,
}

/// `{"items": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberOut>,
}

type MemberRow = (i64, String, String, String, time::PrimitiveDateTime);

fn member_out((user_id, email, display_name, role, created_at): MemberRow) -> MemberOut {
    MemberOut {
        user_id,
        email,
        display_name,
        role,
        created_at: timestamp(created_at),
    }
}

/// A project's members.
#[utoipa::path(get, path = "/projects/{id}/members", tag = "members",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<MemberList>, ApiError> {
    let id = path_id(&id, "project")?;
    let rows = state
        .pool
        .run(move |conn| {
            access(conn, id, me.user.id)?;
            Ok(with_conn!(conn, c => project_members::table
                .inner_join(users::table.on(users::id.eq(project_members::user_id)))
                .filter(project_members::project_id.eq(id))
                .order(project_members::created_at.asc())
                .then_order_by(users::id.asc())
                .select((users::id, users::email, users::display_name, project_members::role, project_members::created_at))
                .load::<MemberRow>(c))?)
        })
        .await?;
    Ok(Json(MemberList {
        items: rows.into_iter().map(member_out).collect(),
    }))
}

/// Add a user to a project (owner only).
#[utoipa::path(post, path = "/projects/{id}/members", tag = "members",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    request_body = AddMember,
    responses(
        (status = 201, description = "The new member", body = MemberOut),
        (status = 403, description = "A member who is not the owner", body = ErrorBody),
        (status = 404, description = "No such project, or no such user", body = ErrorBody),
        (status = 409, description = "Already a member", body = ErrorBody),
        (status = 422, description = "Neither user_id nor email", body = ErrorBody),
    ))]
pub async fn add(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> Result<(StatusCode, Json<MemberOut>), ApiError> {
    let id = path_id(&id, "project")?;
    let email = body.email.map(|e| e.trim().to_lowercase());
    let user_id = body.user_id;
    if user_id.is_none() && email.is_none() {
        return Err(ApiError::validation(
            "user_id",
            "name the user by `user_id` or `email`",
        ));
    }
    let row = state
        .pool
        .run(move |conn| {
            let (_, role) = access(conn, id, me.user.id)?;
            require_owner(&role, "add members")?;
            let user: Option<(i64, String, String)> = with_conn!(conn, c => {
                let mut query = users::table
                    .select((users::id, users::email, users::display_name))
                    .into_boxed();
                if let Some(user_id) = user_id {
                    query = query.filter(users::id.eq(user_id));
                }
                if let Some(email) = &email {
                    query = query.filter(users::email.eq(email.clone()));
                }
                query.first(c).optional()
            })?;
            let (user_id, email, display_name) =
                user.ok_or_else(|| ApiError::not_found("no such user"))?;
            let joined = with_conn!(conn, c => diesel::insert_into(project_members::table)
                .values(&NewProjectMember { project_id: id, user_id, role: MEMBER })
                .returning(project_members::created_at)
                .get_result::<time::PrimitiveDateTime>(c))
            .map_err(|err| {
                if is_unique_violation(&err) {
                    ApiError::conflict("already_member", "this user is already a member")
                } else {
                    err.into()
                }
            })?;
            Ok((user_id, email, display_name, MEMBER.to_string(), joined))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(member_out(row))))
}

/// Remove a member (owner only; a member may remove themself). Their tasks in the project become
/// unassigned.
#[utoipa::path(delete, path = "/projects/{id}/members/{user_id}", tag = "members",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Project id"),
        ("user_id" = i64, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "A member removing someone else", body = ErrorBody),
        (status = 404, description = "No such project or member", body = ErrorBody),
        (status = 409, description = "The owner cannot be removed", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "project")?;
    let user_id = path_id(&user_id, "member")?;
    state
        .pool
        .run(move |conn| {
            let (_, role) = access(conn, id, me.user.id)?;
            if user_id != me.user.id {
                require_owner(&role, "remove members")?;
            }
            write_tx!(conn, c => {
                let target: Option<String> = project_members::table
                    .find((id, user_id))
                    .select(project_members::role)
                    .first(c)
                    .optional()?;
                match target.as_deref() {
                    None => return Err(ApiError::not_found("no such member")),
                    Some(OWNER) => {
                        return Err(ApiError::conflict(
                            "owner_membership",
                            "the owner cannot be removed; delete the project instead",
                        ))
                    }
                    Some(_) => {}
                }
                diesel::delete(project_members::table.find((id, user_id))).execute(c)?;
                diesel::update(
                    tasks::table
                        .filter(tasks::project_id.eq(id))
                        .filter(tasks::assignee_id.eq(user_id)),
                )
                .set(tasks::assignee_id.eq(None::<i64>))
                .execute(c)?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(no_content())
}

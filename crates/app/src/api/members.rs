//! Project members: listing them (any member) and removing one (the owner only; a member may also
//! remove themself, i.e. leave). A member who leaves is unassigned from the project's tasks; the
//! owner's own membership cannot be removed. Members join by accepting an invitation
//! (`invitations`), never by being added: no one learns of an account they share no project with.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;
use workhub_models::{project_members, tasks, users};

use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::field::{path_id, Timestamp};
use super::pool::{with_conn, write_tx};
use super::projects::{access, require_owner, Role, OWNER};
use super::{no_content, AppState};

/// A member of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// When they joined the project.
    pub created_at: Timestamp,
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
        role: Role::of(&role),
        created_at: Timestamp(created_at),
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

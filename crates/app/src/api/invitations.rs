//! Invitations, the one way into a project: the owner invites an email address; the account with
//! that address (now or once it registers) sees the invitation and accepts it (becoming a member)
//! or declines it. Nothing here tells the owner whether an address has an account: the answer to
//! an invitation is the same either way, and a declined invitation still looks pending to the
//! owner (who may revoke it). Only an acceptance, which makes the two share the project, shows.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workhub_models::{project_invitations, project_members, projects, users};

use crate::rows::{Invitation, NewInvitation, NewProjectMember, Project};

use super::auth::CurrentUser;
use super::error::{is_unique_violation, ApiError, ErrorBody};
use super::extract::ApiJson;
use super::field::{path_id, Email, Timestamp};
use super::pool::{with_conn, write_tx};
use super::projects::{access, require_owner, ProjectOut, MEMBER};
use super::returning::Returning;
use super::{no_content, now, AppState};

/// `POST /projects/{id}/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    #[schema(inline)]
    pub email: Email,
}

/// An invitation to a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationOut {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    /// The address invited (lower-cased).
    pub email: String,
    /// The display name of the owner who invited.
    pub invited_by: String,
    pub created_at: Timestamp,
}

/// `{"items": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub items: Vec<InvitationOut>,
}

type InvitationRow = (Invitation, String, String);

/// Invitations with their project's name and the inviter's (what [`InvitationRow`] selects).
#[diesel::dsl::auto_type]
fn named_invitations() -> _ {
    project_invitations::table
        .inner_join(projects::table.on(projects::id.eq(project_invitations::project_id)))
        .inner_join(users::table.on(users::id.eq(project_invitations::invited_by)))
}

fn invitation_out((invitation, project_name, invited_by): InvitationRow) -> InvitationOut {
    InvitationOut {
        id: invitation.id,
        project_id: invitation.project_id,
        project_name,
        email: invitation.email,
        invited_by,
        created_at: Timestamp(invitation.created_at),
    }
}

/// Invite an email address to a project (owner only).
#[utoipa::path(post, path = "/projects/{id}/invitations", tag = "invitations",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    request_body = Invite,
    responses(
        (status = 201, description = "The invitation, whether or not the address has an account", body = InvitationOut),
        (status = 403, description = "A member who is not the owner", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 409, description = "`already_member`: the address is a member's; `already_invited`: an invitation to it exists", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Invite>,
) -> Result<(StatusCode, Json<InvitationOut>), ApiError> {
    let id = path_id(&id, "project")?;
    let email = body.email.0;
    let inviter = me.user.display_name.clone();
    let row = state
        .pool
        .run(move |conn| {
            let (project, role) = access(conn, id, me.user.id)?;
            require_owner(&role, "invite members")?;
            let invitation = write_tx!(conn, c => {
                // Members share the project with the owner already: saying so reveals nothing.
                let member: Option<i64> = project_members::table
                    .inner_join(users::table.on(users::id.eq(project_members::user_id)))
                    .filter(project_members::project_id.eq(id))
                    .filter(users::email.eq(&email))
                    .select(users::id)
                    .first(c)
                    .optional()?;
                if member.is_some() {
                    return Err(ApiError::conflict("already_member", "this address is a member's already"));
                }
                c.insert_invitation(&NewInvitation { project_id: id, email: &email, invited_by: me.user.id, created_at: now() })
                    .map_err(|err| {
                        if is_unique_violation(&err) {
                            ApiError::conflict(
                                "already_invited",
                                "this address is invited already; revoke that invitation to send a new one",
                            )
                        } else {
                            err.into()
                        }
                    })
            })?;
            Ok((invitation, project.name, inviter))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(invitation_out(row))))
}

/// A project's open invitations, declined ones included (owner only).
#[utoipa::path(get, path = "/projects/{id}/invitations", tag = "invitations",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    responses(
        (status = 200, description = "Invitations not accepted or revoked", body = InvitationList),
        (status = 403, description = "A member who is not the owner", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn list_for_project(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<InvitationList>, ApiError> {
    let id = path_id(&id, "project")?;
    let rows = state
        .pool
        .run(move |conn| {
            let (_, role) = access(conn, id, me.user.id)?;
            require_owner(&role, "see its invitations")?;
            Ok(with_conn!(conn, c => named_invitations()
                .filter(project_invitations::project_id.eq(id))
                .order(project_invitations::id.asc())
                .select((Invitation::as_select(), projects::name, users::display_name))
                .load::<InvitationRow>(c))?)
        })
        .await?;
    Ok(Json(InvitationList {
        items: rows.into_iter().map(invitation_out).collect(),
    }))
}

/// Revoke an invitation (owner only).
#[utoipa::path(delete, path = "/projects/{id}/invitations/{invitation_id}", tag = "invitations",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Project id"),
        ("invitation_id" = i64, Path, description = "Invitation id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "A member who is not the owner", body = ErrorBody),
        (status = 404, description = "No such project or invitation", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    me: CurrentUser,
    Path((id, invitation_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "project")?;
    let invitation_id = path_id(&invitation_id, "invitation")?;
    state
        .pool
        .run(move |conn| {
            let (_, role) = access(conn, id, me.user.id)?;
            require_owner(&role, "revoke invitations")?;
            let deleted = with_conn!(conn, c => diesel::delete(
                project_invitations::table
                    .filter(project_invitations::id.eq(invitation_id))
                    .filter(project_invitations::project_id.eq(id)),
            )
            .execute(c))?;
            if deleted == 0 {
                return Err(ApiError::not_found("no such invitation"));
            }
            Ok(())
        })
        .await?;
    Ok(no_content())
}

/// The caller's pending invitations: addressed to their email and not declined.
#[utoipa::path(get, path = "/invitations", tag = "invitations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Invitations to accept or decline", body = InvitationList),
    ))]
pub async fn list_mine(
    State(state): State<AppState>,
    me: CurrentUser,
) -> Result<Json<InvitationList>, ApiError> {
    let email = me.user.email;
    let rows = state
        .pool
        .run(move |conn| {
            Ok(with_conn!(conn, c => named_invitations()
                .filter(project_invitations::email.eq(&email))
                .filter(project_invitations::declined_at.is_null())
                .order(project_invitations::id.asc())
                .select((Invitation::as_select(), projects::name, users::display_name))
                .load::<InvitationRow>(c))?)
        })
        .await?;
    Ok(Json(InvitationList {
        items: rows.into_iter().map(invitation_out).collect(),
    }))
}

/// Accept an invitation: the caller becomes a member of its project.
#[utoipa::path(post, path = "/invitations/{id}/accept", tag = "invitations",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Invitation id")),
    responses(
        (status = 200, description = "The project joined", body = ProjectOut),
        (status = 404, description = "No such invitation to the caller (or declined)", body = ErrorBody),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ProjectOut>, ApiError> {
    let id = path_id(&id, "invitation")?;
    let project = state
        .pool
        .run(move |conn| {
            write_tx!(conn, c => {
                let project_id = c
                    .take_invitation(id, &me.user.email)?
                    .ok_or_else(|| ApiError::not_found("no such invitation"))?;
                let joined = diesel::insert_into(project_members::table)
                    .values(&NewProjectMember { project_id, user_id: me.user.id, role: MEMBER, created_at: now() })
                    .execute(c);
                match joined {
                    // Only the invitation is left to go: the membership is what was asked for.
                    Err(err) if is_unique_violation(&err) => {}
                    other => {
                        other?;
                    }
                }
                Ok::<_, ApiError>(projects::table.find(project_id).select(Project::as_select()).first(c)?)
            })
        })
        .await?;
    Ok(Json(ProjectOut::new(project, MEMBER.into())))
}

/// Decline an invitation: it leaves the caller's list (the owner still sees it as open).
#[utoipa::path(post, path = "/invitations/{id}/decline", tag = "invitations",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Declined"),
        (status = 404, description = "No such invitation to the caller (or declined)", body = ErrorBody),
    ))]
pub async fn decline(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "invitation")?;
    state
        .pool
        .run(move |conn| {
            let declined = with_conn!(conn, c => diesel::update(
                project_invitations::table
                    .filter(project_invitations::id.eq(id))
                    .filter(project_invitations::email.eq(&me.user.email))
                    .filter(project_invitations::declined_at.is_null()),
            )
            .set(project_invitations::declined_at.eq(Some(now())))
            .execute(c))?;
            if declined == 0 {
                return Err(ApiError::not_found("no such invitation"));
            }
            Ok(())
        })
        .await?;
    Ok(no_content())
}

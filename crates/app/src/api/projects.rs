//! Projects: listing the caller's projects, creating one (the creator becomes its owner member),
//! reading, editing and deleting it, and [`access`], the membership check every project and task
//! route goes through: a project the caller is not a member of answers 404, as if it did not exist.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workhub_models::{project_members, projects};

use crate::rows::{NewProject, NewProjectMember, Project};

use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{present, ApiJson};
use super::field::{path_id, Description, ProjectName, Timestamp};
use super::pool::{with_conn, write_tx, Conn};
use super::returning::Returning;
use super::{no_content, now, AppState};

pub const OWNER: &str = "owner";
pub const MEMBER: &str = "member";

/// `POST /projects`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    #[schema(inline)]
    pub name: ProjectName,
    #[serde(default, deserialize_with = "present")]
    #[schema(inline, nullable = false)]
    pub description: Option<Description>,
}

/// `PATCH /projects/{id}`: only the fields sent change; none of them may be `null` (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[serde(default, deserialize_with = "present")]
    #[schema(inline, nullable = false)]
    pub name: Option<ProjectName>,
    #[serde(default, deserialize_with = "present")]
    #[schema(inline, nullable = false)]
    pub description: Option<Description>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub archived: Option<bool>,
}

/// A member's role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    pub fn of(stored: &str) -> Self {
        if stored == OWNER {
            Self::Owner
        } else {
            Self::Member
        }
    }
}

/// A project, with the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectOut {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub created_at: Timestamp,
    /// The caller's role.
    pub role: Role,
}

impl ProjectOut {
    pub fn new(project: Project, role: String) -> Self {
        Self {
            id: project.id,
            owner_id: project.owner_id,
            name: project.name,
            description: project.description,
            archived: project.archived,
            created_at: Timestamp(project.created_at),
            role: Role::of(&role),
        }
    }
}

/// `{"items": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub items: Vec<ProjectOut>,
}

/// The project and the caller's role in it, or 404 when the caller is not a member (whether or not
/// the project exists, so its existence is not revealed).
pub fn access(
    conn: &mut Conn,
    project_id: i64,
    user_id: i64,
) -> Result<(Project, String), ApiError> {
    with_conn!(conn, c => projects::table
        .inner_join(project_members::table.on(project_members::project_id.eq(projects::id)))
        .filter(projects::id.eq(project_id))
        .filter(project_members::user_id.eq(user_id))
        .select((Project::as_select(), project_members::role))
        .first::<(Project, String)>(c)
        .optional())?
    .ok_or_else(|| ApiError::not_found("no such project"))
}

/// 403 unless `role` is the owner's.
pub fn require_owner(role: &str, action: &str) -> Result<(), ApiError> {
    if role == OWNER {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only the project's owner can {action}"
        )))
    }
}

/// The caller's projects.
#[utoipa::path(get, path = "/projects", tag = "projects",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Projects the caller is a member of", body = ProjectList),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
) -> Result<Json<ProjectList>, ApiError> {
    let user_id = me.user.id;
    let rows = state
        .pool
        .run(move |conn| {
            Ok(with_conn!(conn, c => projects::table
                .inner_join(project_members::table.on(project_members::project_id.eq(projects::id)))
                .filter(project_members::user_id.eq(user_id))
                .order(projects::id.asc())
                .select((Project::as_select(), project_members::role))
                .load::<(Project, String)>(c))?)
        })
        .await?;
    Ok(Json(ProjectList {
        items: rows
            .into_iter()
            .map(|(project, role)| ProjectOut::new(project, role))
            .collect(),
    }))
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(post, path = "/projects", tag = "projects",
    security(("bearer" = [])),
    request_body = CreateProject,
    responses(
        (status = 201, description = "The new project", body = ProjectOut),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiJson(body): ApiJson<CreateProject>,
) -> Result<(StatusCode, Json<ProjectOut>), ApiError> {
    let name = body.name.0;
    let description = body.description.map(|d| d.0).unwrap_or_default();
    let owner_id = me.user.id;
    let project = state
        .pool
        .run(move |conn| {
            write_tx!(conn, c => {
                let project = c.insert_project(&NewProject { owner_id, name: &name, description: &description, created_at: now() })?;
                diesel::insert_into(project_members::table)
                    .values(&NewProjectMember { project_id: project.id, user_id: owner_id, role: OWNER, created_at: project.created_at })
                    .execute(c)?;
                Ok::<_, ApiError>(project)
            })
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProjectOut::new(project, OWNER.into())),
    ))
}

/// One project.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = ProjectOut),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ProjectOut>, ApiError> {
    let id = path_id(&id, "project")?;
    let (project, role) = state
        .pool
        .run(move |conn| access(conn, id, me.user.id))
        .await?;
    Ok(Json(ProjectOut::new(project, role)))
}

/// Change a project's name, description or archived flag (any member).
#[utoipa::path(patch, path = "/projects/{id}", tag = "projects",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "The changed project", body = ProjectOut),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> Result<Json<ProjectOut>, ApiError> {
    let id = path_id(&id, "project")?;
    let name = body.name.map(|n| n.0);
    let description = body.description.map(|d| d.0);
    let archived = body.archived;
    let (project, role) = state
        .pool
        .run(move |conn| {
            let (_, role) = access(conn, id, me.user.id)?;
            let project = write_tx!(conn, c => {
                if let Some(name) = &name {
                    diesel::update(projects::table.find(id)).set(projects::name.eq(name)).execute(c)?;
                }
                if let Some(description) = &description {
                    diesel::update(projects::table.find(id))
                        .set(projects::description.eq(description))
                        .execute(c)?;
                }
                if let Some(archived) = archived {
                    diesel::update(projects::table.find(id)).set(projects::archived.eq(archived)).execute(c)?;
                }
                Ok::<_, ApiError>(projects::table.find(id).select(Project::as_select()).first(c)?)
            })?;
            Ok((project, role))
        })
        .await?;
    Ok(Json(ProjectOut::new(project, role)))
}

/// Delete a project with its members and tasks (owner only).
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A member who is not the owner", body = ErrorBody),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "project")?;
    state
        .pool
        .run(move |conn| {
            let (_, role) = access(conn, id, me.user.id)?;
            require_owner(&role, "delete it")?;
            with_conn!(conn, c => diesel::delete(projects::table.find(id)).execute(c))?;
            Ok(())
        })
        .await?;
    Ok(no_content())
}

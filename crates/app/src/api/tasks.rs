//! Tasks: listing a project's tasks (filters `status`, `assignee`, `due_before`; pages of `limit`
//! with an opaque `cursor`), creating them, and reading, editing and deleting one. Every route
//! checks membership of the task's project first; a task of someone else's project answers 404.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use time::{Date, PrimitiveDateTime};
use utoipa::{IntoParams, ToSchema};
use workhub_models::{project_members, tasks};

use crate::rows::{NewTask, Task};

use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{date, nullable, path_id, text, ApiJson};
use super::pool::{with_conn, write_tx, Conn};
use super::projects::access;
use super::{no_content, now, timestamp, AppState};

pub const STATUSES: [&str; 3] = ["todo", "doing", "done"];
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// `POST /projects/{id}/tasks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1 to 200 characters.
    #[schema(example = "Write the launch post")]
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `todo` (default), `doing` or `done`.
    #[serde(default)]
    #[schema(example = "todo")]
    pub status: Option<String>,
    /// A member of the project, or null.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// `YYYY-MM-DD`, or null.
    #[serde(default)]
    #[schema(example = "2026-12-31")]
    pub due_on: Option<String>,
}

/// `PATCH /tasks/{id}`: only the fields sent change; `null` clears `assignee_id` or `due_on`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub due_on: Option<Option<String>>,
}

/// A task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskOut {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub description: String,
    /// `todo`, `doing` or `done`.
    pub status: String,
    pub assignee_id: Option<i64>,
    /// `YYYY-MM-DD`.
    pub due_on: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Task> for TaskOut {
    fn from(task: Task) -> Self {
        Self {
            id: task.id,
            project_id: task.project_id,
            title: task.title,
            description: task.description,
            status: task.status,
            assignee_id: task.assignee_id,
            due_on: task.due_on.map(|d| d.to_string()),
            created_at: timestamp(task.created_at),
            updated_at: timestamp(task.updated_at),
        }
    }
}

/// One page of tasks; pass `next_cursor` as `cursor` for the next page (null on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<TaskOut>,
    pub next_cursor: Option<String>,
}

/// Filters and paging of `GET /projects/{id}/tasks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `todo`, `doing` or `done`.
    pub status: Option<String>,
    /// Tasks assigned to this user id.
    pub assignee: Option<String>,
    /// Tasks due strictly before this date, `YYYY-MM-DD`.
    pub due_before: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, AsChangeset)]
#[diesel(table_name = tasks)]
struct TaskChanges {
    title: Option<String>,
    description: Option<String>,
    status: Option<String>,
    assignee_id: Option<Option<i64>>,
    due_on: Option<Option<Date>>,
    updated_at: PrimitiveDateTime,
}

fn status(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if STATUSES.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(ApiError::validation(
            field,
            "must be one of todo, doing, done",
        ))
    }
}

fn description(value: &str) -> Result<String, ApiError> {
    text("description", value, 0, 10_000)
}

/// An opaque page cursor: the last id of the page, wrapped so clients do not build their own.
fn encode_cursor(last_id: i64) -> String {
    format!("t:{last_id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    let invalid = || ApiError::validation("cursor", "is not a cursor this API returned");
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|text| text.strip_prefix("t:").and_then(|id| id.parse().ok()))
        .ok_or_else(invalid)
}

/// 422 unless `assignee` is a member of the project. Called inside the write transaction of the task
/// write it guards, with the membership row held until commit (see [`LockMembership`]), so a member
/// removed at the same moment is never left assigned.
fn check_assignee<C: LockMembership>(
    c: &mut C,
    project_id: i64,
    assignee: Option<i64>,
) -> Result<(), ApiError> {
    let Some(assignee) = assignee else {
        return Ok(());
    };
    if c.lock_membership(project_id, assignee)? {
        Ok(())
    } else {
        Err(ApiError::validation(
            "assignee_id",
            "is not a member of this project",
        ))
    }
}

/// Reads a membership in a write transaction and keeps it from being removed until the transaction
/// ends, because removing a member unassigns their tasks: a task write racing that removal must
/// either come before it (and be unassigned by it) or see the member gone.
trait LockMembership {
    fn lock_membership(&mut self, project_id: i64, user_id: i64) -> QueryResult<bool>;
}

impl LockMembership for SqliteConnection {
    // `BEGIN IMMEDIATE` already serialises every writer, the removal included.
    fn lock_membership(&mut self, project_id: i64, user_id: i64) -> QueryResult<bool> {
        project_members::table
            .find((project_id, user_id))
            .select(project_members::user_id)
            .first::<i64>(self)
            .optional()
            .map(|row| row.is_some())
    }
}

impl LockMembership for PgConnection {
    // Under READ COMMITTED a plain read would not stop the removal from committing in between;
    // FOR KEY SHARE makes the removal's DELETE wait for this transaction.
    fn lock_membership(&mut self, project_id: i64, user_id: i64) -> QueryResult<bool> {
        project_members::table
            .find((project_id, user_id))
            .select(project_members::user_id)
            .for_key_share()
            .first::<i64>(self)
            .optional()
            .map(|row| row.is_some())
    }
}

/// The task, if the caller is a member of its project; else 404.
fn task_access(conn: &mut Conn, task_id: i64, user_id: i64) -> Result<Task, ApiError> {
    let task = with_conn!(conn, c => tasks::table
        .find(task_id)
        .select(Task::as_select())
        .first(c)
        .optional())?
    .ok_or_else(|| ApiError::not_found("no such task"))?;
    access(conn, task.project_id, user_id).map_err(|_| ApiError::not_found("no such task"))?;
    Ok(task)
}

/// A project's tasks, oldest first, filtered and paged.
#[utoipa::path(get, path = "/projects/{id}/tasks", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id"), TaskQuery),
    responses(
        (status = 200, description = "One page of tasks", body = TaskPage),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 422, description = "A filter is invalid", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    query: Result<Query<TaskQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TaskPage>, ApiError> {
    let id = path_id(&id, "project")?;
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("bad_query", "the query string cannot be read"))?;
    let status = query
        .status
        .as_deref()
        .map(|s| status("status", s))
        .transpose()?;
    let assignee = query
        .assignee
        .as_deref()
        .map(|a| {
            a.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::validation("assignee", "must be a user id"))
        })
        .transpose()?;
    let due_before = query
        .due_before
        .as_deref()
        .map(|d| date("due_before", d))
        .transpose()?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::validation("limit", format!("must be a number from 1 to {MAX_LIMIT}"))
            })?,
    };
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut rows = state
        .pool
        .run(move |conn| {
            access(conn, id, me.user.id)?;
            Ok(with_conn!(conn, c => {
                let mut listing = tasks::table
                    .filter(tasks::project_id.eq(id))
                    .select(Task::as_select())
                    .order(tasks::id.asc())
                    .limit(limit + 1)
                    .into_boxed();
                if let Some(status) = &status {
                    listing = listing.filter(tasks::status.eq(status.clone()));
                }
                if let Some(assignee) = assignee {
                    listing = listing.filter(tasks::assignee_id.eq(assignee));
                }
                if let Some(due_before) = due_before {
                    listing = listing.filter(tasks::due_on.lt(due_before));
                }
                if let Some(after) = after {
                    listing = listing.filter(tasks::id.gt(after));
                }
                listing.load::<Task>(c)
            })?)
        })
        .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|task| encode_cursor(task.id))
    } else {
        None
    };
    Ok(Json(TaskPage {
        items: rows.into_iter().map(TaskOut::from).collect(),
        next_cursor,
    }))
}

/// Create a task in a project (any member).
#[utoipa::path(post, path = "/projects/{id}/tasks", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Project id")),
    request_body = CreateTask,
    responses(
        (status = 201, description = "The new task", body = TaskOut),
        (status = 404, description = "No such project, or not a member", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<(StatusCode, Json<TaskOut>), ApiError> {
    let id = path_id(&id, "project")?;
    let title = text("title", &body.title, 1, 200)?;
    let description = description(body.description.as_deref().unwrap_or(""))?;
    let status = status("status", body.status.as_deref().unwrap_or("todo"))?;
    let due_on = body
        .due_on
        .as_deref()
        .map(|d| date("due_on", d))
        .transpose()?;
    let assignee_id = body.assignee_id;
    let task = state
        .pool
        .run(move |conn| {
            access(conn, id, me.user.id)?;
            let new = NewTask {
                project_id: id,
                title: &title,
                description: &description,
                status: &status,
                assignee_id,
                due_on,
            };
            write_tx!(conn, c => {
                check_assignee(c, id, assignee_id)?;
                Ok::<_, ApiError>(diesel::insert_into(tasks::table)
                    .values(&new)
                    .returning(Task::as_returning())
                    .get_result(c)?)
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(task.into())))
}

/// One task.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = TaskOut),
        (status = 404, description = "No such task, or not a member of its project", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<TaskOut>, ApiError> {
    let id = path_id(&id, "task")?;
    let task = state
        .pool
        .run(move |conn| task_access(conn, id, me.user.id))
        .await?;
    Ok(Json(task.into()))
}

/// Change a task (any member of its project).
#[utoipa::path(patch, path = "/tasks/{id}", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    request_body = UpdateTask,
    responses(
        (status = 200, description = "The changed task", body = TaskOut),
        (status = 404, description = "No such task, or not a member of its project", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateTask>,
) -> Result<Json<TaskOut>, ApiError> {
    let id = path_id(&id, "task")?;
    let changes = TaskChanges {
        title: body
            .title
            .as_deref()
            .map(|t| text("title", t, 1, 200))
            .transpose()?,
        description: body.description.as_deref().map(description).transpose()?,
        status: body
            .status
            .as_deref()
            .map(|s| status("status", s))
            .transpose()?,
        assignee_id: body.assignee_id,
        due_on: match body.due_on {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => Some(Some(date("due_on", &d)?)),
        },
        updated_at: now(),
    };
    let task = state
        .pool
        .run(move |conn| {
            let task = task_access(conn, id, me.user.id)?;
            write_tx!(conn, c => {
                if let Some(assignee) = changes.assignee_id {
                    check_assignee(c, task.project_id, assignee)?;
                }
                Ok::<_, ApiError>(diesel::update(tasks::table.find(id))
                    .set(&changes)
                    .returning(Task::as_returning())
                    .get_result(c)?)
            })
        })
        .await?;
    Ok(Json(task.into()))
}

/// Delete a task (any member of its project).
#[utoipa::path(delete, path = "/tasks/{id}", tag = "tasks",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task, or not a member of its project", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "task")?;
    state
        .pool
        .run(move |conn| {
            task_access(conn, id, me.user.id)?;
            with_conn!(conn, c => diesel::delete(tasks::table.find(id)).execute(c))?;
            Ok(())
        })
        .await?;
    Ok(no_content())
}

//! Tasks: listing a project's tasks (filters `status`, `assignee`, `due_before`; pages of `limit`
//! with an opaque `cursor`), creating them, and reading, editing and deleting one. Every route
//! checks membership of the task's project first; a task of someone else's project answers 404.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::{IntoParams, ToSchema};
use workhub_models::{project_members, tasks};

use crate::rows::{NewTask, Task, TaskChanges};

use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{nullable, present, ApiJson};
use super::field::{canonical_id, id_schema, path_id, Day, Description, Timestamp, Title, UserId};
use super::pool::{with_conn, write_tx, Conn};
use super::projects::access;
use super::returning::Returning;
use super::{no_content, now, AppState};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Todo,
    Doing,
    Done,
}

impl Status {
    const ALL: [Self; 3] = [Self::Todo, Self::Doing, Self::Done];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Todo => "todo",
            Self::Doing => "doing",
            Self::Done => "done",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// `POST /projects/{id}/tasks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    #[schema(inline)]
    pub title: Title,
    #[serde(default, deserialize_with = "present")]
    #[schema(inline, nullable = false)]
    pub description: Option<Description>,
    /// `todo` when left out.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<Status>,
    /// A member of the project; null or left out: unassigned.
    #[serde(default)]
    #[schema(inline)]
    pub assignee_id: Option<UserId>,
    /// Null or left out: no due date.
    #[serde(default)]
    #[schema(inline)]
    pub due_on: Option<Day>,
}

/// `PATCH /tasks/{id}`: only the fields sent change. `null` clears `assignee_id` or `due_on`; on
/// `title`, `description` or `status` it is refused (422). A body with no field changes nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    #[serde(default, deserialize_with = "present")]
    #[schema(inline, nullable = false)]
    pub title: Option<Title>,
    #[serde(default, deserialize_with = "present")]
    #[schema(inline, nullable = false)]
    pub description: Option<Description>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<Status>,
    /// A member of the project, or null to unassign.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(inline, value_type = Option<UserId>)]
    pub assignee_id: Option<Option<UserId>>,
    /// A date, or null to clear it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(inline, value_type = Option<Day>)]
    pub due_on: Option<Option<Day>>,
}

/// A task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskOut {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub assignee_id: Option<i64>,
    #[schema(inline)]
    pub due_on: Option<Day>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Task> for TaskOut {
    fn from(task: Task) -> Self {
        Self {
            id: task.id,
            project_id: task.project_id,
            title: task.title,
            description: task.description,
            // The table's check constraint allows these three alone.
            status: Status::parse(&task.status).unwrap_or(Status::Todo),
            assignee_id: task.assignee_id,
            due_on: task.due_on.map(Day),
            created_at: Timestamp(task.created_at),
            updated_at: Timestamp(task.updated_at),
        }
    }
}

/// One page of tasks; pass `next_cursor` as `cursor` for the next page (null on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<TaskOut>,
    pub next_cursor: Option<String>,
}

/// Filters and paging of `GET /projects/{id}/tasks`, as sent; [`TaskQuery::check`] reads them
/// and [`IntoParams`] describes the same rules.
#[derive(Debug, Deserialize)]
pub struct TaskQuery {
    pub status: Option<String>,
    pub assignee: Option<String>,
    pub due_before: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// The filters of a listing, checked.
#[derive(Debug)]
struct Filters {
    status: Option<Status>,
    assignee: Option<i64>,
    due_before: Option<Date>,
    limit: i64,
    after: Option<i64>,
}

impl TaskQuery {
    fn check(self) -> Result<Filters, ApiError> {
        let status = self
            .status
            .map(|s| {
                Status::parse(&s).ok_or_else(|| {
                    ApiError::validation("status", "must be one of todo, doing, done")
                })
            })
            .transpose()?;
        let assignee = self
            .assignee
            .map(|a| {
                canonical_id(&a).ok_or_else(|| {
                    ApiError::validation("assignee", "must be a user id (a positive integer)")
                })
            })
            .transpose()?;
        let due_before = self
            .due_before
            .map(|d| {
                Day::parse(&d)
                    .map(|day| day.0)
                    .map_err(|message| ApiError::validation("due_before", message))
            })
            .transpose()?;
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(text) => canonical_id(&text)
                .filter(|n| *n <= MAX_LIMIT)
                .ok_or_else(|| {
                    ApiError::validation(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(Filters {
            status,
            assignee,
            due_before,
            limit,
            after,
        })
    }
}

impl IntoParams for TaskQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::Required;
        use utoipa::PartialSchema;
        let param = |name: &str, description: &str, schema| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        vec![
            param("status", "Tasks with this status", Status::schema()),
            param("assignee", "Tasks assigned to this user id", id_schema()),
            param(
                "due_before",
                "Tasks due strictly before this date",
                Day::schema(),
            ),
            param(
                "limit",
                &format!("Page size (default {DEFAULT_LIMIT})"),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(MAX_LIMIT))
                    .into(),
            ),
            param(
                "cursor",
                "The `next_cursor` of the previous page",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(CURSOR))
                    .into(),
            ),
        ]
    }
}

/// An opaque page cursor: the last id of the page, wrapped so clients do not build their own
/// (the hex of `t:` and the id's digits; [`CURSOR`] describes exactly what is read back).
fn encode_cursor(last_id: i64) -> String {
    format!("t:{last_id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every cursor [`decode_cursor`] reads: `t:` then 1 to 18 digits, in lower-case hex.
const CURSOR: &str = "^743a(3[0-9]){1,18}$";

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    let invalid = || ApiError::validation("cursor", "is not a cursor this API returned");
    let digits = cursor.strip_prefix("743a").ok_or_else(invalid)?;
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes.len() > 36 || !bytes.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let mut id: i64 = 0;
    for pair in bytes.chunks(2) {
        match pair {
            [b'3', digit @ b'0'..=b'9'] => id = id * 10 + i64::from(digit - b'0'),
            _ => return Err(invalid()),
        }
    }
    Ok(id)
}

/// 409 unless `assignee` is a member of the project (a state of the project, not of the request:
/// the same request succeeds once they join). Called inside the write transaction of the task
/// write it guards, with the membership row held until commit (see [`LockMembership`]), so a member
/// removed at the same moment is never left assigned. Answers the same for an account that does
/// not exist.
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
        Err(ApiError::conflict(
            "not_a_member",
            "`assignee_id`: is not a member of this project",
        )
        .with_field("assignee_id"))
    }
}

/// Reads a membership in a write transaction and keeps it from being removed until the transaction
/// ends, because removing a member unassigns their tasks: a task write racing that removal must
/// either come before it (and be unassigned by it) or see the member gone. A locking read waits
/// for a removal in flight and then reads what it committed: the row gone.
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

#[cfg(feature = "mysql")]
impl LockMembership for diesel::MysqlConnection {
    // As on PostgreSQL (READ COMMITTED, pinned in `pool`), a plain read would not stop the
    // removal. FOR UPDATE rather than a shared lock: MariaDB has no `FOR SHARE` (only `LOCK IN
    // SHARE MODE`, which diesel does not write); it makes two writes assigning one member take
    // turns, which costs nothing that matters.
    fn lock_membership(&mut self, project_id: i64, user_id: i64) -> QueryResult<bool> {
        project_members::table
            .find((project_id, user_id))
            .select(project_members::user_id)
            .for_update()
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
    let Filters {
        status,
        assignee,
        due_before,
        limit,
        after,
    } = query.check()?;
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
                    listing = listing.filter(tasks::status.eq(status.as_str()));
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
        (status = 409, description = "`not_a_member`: the assignee is not a member of the project", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<(StatusCode, Json<TaskOut>), ApiError> {
    let id = path_id(&id, "project")?;
    let title = body.title.0;
    let description = body.description.map(|d| d.0).unwrap_or_default();
    let status = body.status.unwrap_or(Status::Todo).as_str();
    let due_on = body.due_on.map(|d| d.0);
    let assignee_id = body.assignee_id.map(|a| a.0);
    let task = state
        .pool
        .run(move |conn| {
            access(conn, id, me.user.id)?;
            let at = now();
            let new = NewTask {
                project_id: id,
                title: &title,
                description: &description,
                status,
                assignee_id,
                due_on,
                created_at: at,
                updated_at: at,
            };
            write_tx!(conn, c => {
                check_assignee(c, id, assignee_id)?;
                Ok::<_, ApiError>(c.insert_task(&new)?)
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
        (status = 409, description = "`not_a_member`: the assignee is not a member of the project", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateTask>,
) -> Result<Json<TaskOut>, ApiError> {
    let id = path_id(&id, "task")?;
    let changes = TaskChanges {
        title: body.title.map(|t| t.0),
        description: body.description.map(|d| d.0),
        status: body.status.map(Status::as_str),
        assignee_id: body.assignee_id.map(|a| a.map(|a| a.0)),
        due_on: body.due_on.map(|d| d.map(|d| d.0)),
        updated_at: now(),
    };
    let task = state
        .pool
        .run(move |conn| {
            let task = task_access(conn, id, me.user.id)?;
            if changes.is_empty() {
                return Ok(task);
            }
            write_tx!(conn, c => {
                if let Some(assignee) = changes.assignee_id {
                    check_assignee(c, task.project_id, assignee)?;
                }
                // Deleted since it was read: gone, as if the update came after the delete.
                c.update_task(id, &changes)?
                    .ok_or_else(|| ApiError::not_found("no such task"))
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

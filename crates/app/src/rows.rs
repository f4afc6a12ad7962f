//! The service's row structs: what its queries read and write, typed against the tables of
//! `workhub_models`. They belong to the service, not to the tables: `db create` never needs them.
//! Every insert sets its timestamps from the service's clock, cut to microseconds, rather than
//! leaving them to `CURRENT_TIMESTAMP`, which SQLite fills in whole seconds.

use diesel::prelude::*;
use time::{Date, PrimitiveDateTime};

use workhub_models::{project_invitations, project_members, projects, sessions, tasks, users};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub token_hash: String,
    pub expires_at: PrimitiveDateTime,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub expires_at: PrimitiveDateTime,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = projects)]
pub struct NewProject<'a> {
    pub owner_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = project_members)]
pub struct ProjectMember {
    pub project_id: i64,
    pub user_id: i64,
    pub role: String,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = project_members)]
pub struct NewProjectMember<'a> {
    pub project_id: i64,
    pub user_id: i64,
    pub role: &'a str,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tasks)]
pub struct Task {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub due_on: Option<Date>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tasks)]
pub struct NewTask<'a> {
    pub project_id: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub status: &'static str,
    pub assignee_id: Option<i64>,
    pub due_on: Option<Date>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = project_invitations)]
pub struct Invitation {
    pub id: i64,
    pub project_id: i64,
    pub email: String,
    pub invited_by: i64,
    pub declined_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = project_invitations)]
pub struct NewInvitation<'a> {
    pub project_id: i64,
    pub email: &'a str,
    pub invited_by: i64,
    pub created_at: PrimitiveDateTime,
}

/// A task's changed fields (`PATCH /tasks/{id}`): a field left `None` keeps its value.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = tasks)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<&'static str>,
    pub assignee_id: Option<Option<i64>>,
    pub due_on: Option<Option<Date>>,
    pub updated_at: PrimitiveDateTime,
}

impl TaskChanges {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.status.is_none()
            && self.assignee_id.is_none()
            && self.due_on.is_none()
    }
}

//! The writes that answer with the row they wrote. SQLite and PostgreSQL say it in the write itself
//! (`RETURNING`); MySQL and MariaDB have no `RETURNING` (diesel's MySQL backend writes none), so
//! there the row is read back by its id. Each method runs inside the caller's write transaction,
//! so what is read back is this write's row as it committed, never another's.

use diesel::prelude::*;
use workhub_models::{project_invitations, projects, tasks, users};

use crate::rows::{
    Invitation, NewInvitation, NewProject, NewTask, NewUser, Project, Task, TaskChanges, User,
};

/// Writes that answer with what they wrote, on every backend's connection.
pub trait Returning {
    fn insert_user(&mut self, new: &NewUser<'_>) -> QueryResult<User>;
    fn insert_project(&mut self, new: &NewProject<'_>) -> QueryResult<Project>;
    fn insert_task(&mut self, new: &NewTask<'_>) -> QueryResult<Task>;
    fn insert_invitation(&mut self, new: &NewInvitation<'_>) -> QueryResult<Invitation>;
    /// The task as changed; `None` when there is no task `id` (deleted since it was read).
    fn update_task(&mut self, id: i64, changes: &TaskChanges) -> QueryResult<Option<Task>>;
    /// Deletes invitation `id` if it is addressed to `email` and not declined, answering its
    /// project's id; `None` when there is no such invitation (or another request took it first).
    fn take_invitation(&mut self, id: i64, email: &str) -> QueryResult<Option<i64>>;
}

/// The invitation `take_invitation` takes.
#[diesel::dsl::auto_type]
fn open_invitation(id: i64, email: String) -> _ {
    project_invitations::table
        .filter(project_invitations::id.eq(id))
        .filter(project_invitations::email.eq(email))
        .filter(project_invitations::declined_at.is_null())
}

/// The same `RETURNING` writes for each backend that has them.
macro_rules! with_returning {
    ($($conn:ty),*) => {$(
        impl Returning for $conn {
            fn insert_user(&mut self, new: &NewUser<'_>) -> QueryResult<User> {
                diesel::insert_into(users::table)
                    .values(new)
                    .returning(User::as_returning())
                    .get_result(self)
            }

            fn insert_project(&mut self, new: &NewProject<'_>) -> QueryResult<Project> {
                diesel::insert_into(projects::table)
                    .values(new)
                    .returning(Project::as_returning())
                    .get_result(self)
            }

            fn insert_task(&mut self, new: &NewTask<'_>) -> QueryResult<Task> {
                diesel::insert_into(tasks::table)
                    .values(new)
                    .returning(Task::as_returning())
                    .get_result(self)
            }

            fn insert_invitation(&mut self, new: &NewInvitation<'_>) -> QueryResult<Invitation> {
                diesel::insert_into(project_invitations::table)
                    .values(new)
                    .returning(Invitation::as_returning())
                    .get_result(self)
            }

            fn update_task(&mut self, id: i64, changes: &TaskChanges) -> QueryResult<Option<Task>> {
                diesel::update(tasks::table.find(id))
                    .set(changes)
                    .returning(Task::as_returning())
                    .get_result(self)
                    .optional()
            }

            fn take_invitation(&mut self, id: i64, email: &str) -> QueryResult<Option<i64>> {
                diesel::delete(open_invitation(id, email.to_string()))
                    .returning(project_invitations::project_id)
                    .get_result(self)
                    .optional()
            }
        }
    )*};
}

with_returning!(SqliteConnection, PgConnection);

/// The id the connection's last insert was given (`LAST_INSERT_ID()` is per connection: no other
/// session's insert moves it).
#[cfg(feature = "mysql")]
fn last_insert_id(conn: &mut MysqlConnection) -> QueryResult<i64> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "CAST(LAST_INSERT_ID() AS SIGNED)",
    ))
    .get_result(conn)
}

#[cfg(feature = "mysql")]
impl Returning for MysqlConnection {
    fn insert_user(&mut self, new: &NewUser<'_>) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values(new)
            .execute(self)?;
        let id = last_insert_id(self)?;
        users::table.find(id).select(User::as_select()).first(self)
    }

    fn insert_project(&mut self, new: &NewProject<'_>) -> QueryResult<Project> {
        diesel::insert_into(projects::table)
            .values(new)
            .execute(self)?;
        let id = last_insert_id(self)?;
        projects::table
            .find(id)
            .select(Project::as_select())
            .first(self)
    }

    fn insert_task(&mut self, new: &NewTask<'_>) -> QueryResult<Task> {
        diesel::insert_into(tasks::table)
            .values(new)
            .execute(self)?;
        let id = last_insert_id(self)?;
        tasks::table.find(id).select(Task::as_select()).first(self)
    }

    fn insert_invitation(&mut self, new: &NewInvitation<'_>) -> QueryResult<Invitation> {
        diesel::insert_into(project_invitations::table)
            .values(new)
            .execute(self)?;
        let id = last_insert_id(self)?;
        project_invitations::table
            .find(id)
            .select(Invitation::as_select())
            .first(self)
    }

    // The UPDATE holds the row until commit, so the read after it sees this change and nothing
    // else; the row count is no help (MySQL counts changed rows, not matched ones).
    fn update_task(&mut self, id: i64, changes: &TaskChanges) -> QueryResult<Option<Task>> {
        diesel::update(tasks::table.find(id))
            .set(changes)
            .execute(self)?;
        tasks::table
            .find(id)
            .select(Task::as_select())
            .first(self)
            .optional()
    }

    // Read with FOR UPDATE, as a DELETE would lock it: of two requests taking one invitation, the
    // second waits for the first and then finds it gone, as the DELETE ... RETURNING of the other
    // backends does.
    fn take_invitation(&mut self, id: i64, email: &str) -> QueryResult<Option<i64>> {
        let project_id = open_invitation(id, email.to_string())
            .select(project_invitations::project_id)
            .for_update()
            .first::<i64>(self)
            .optional()?;
        if project_id.is_some() {
            diesel::delete(project_invitations::table.find(id)).execute(self)?;
        }
        Ok(project_id)
    }
}

//! workhub's tables, declared once: [`tables!`](workhub_schema::tables) gives diesel's `table!`
//! types that queries use and the [`schema()`] that `workhub db create` generates migrations from.
//! Change a table here, then run `just migrate-create NAME` and review what it writes. Every id is
//! `#[autoincrement]`: once given, never given again, on both backends (a deleted task's old link
//! never reaches a newer task).

workhub_schema::tables! {
    /// People who sign in. Emails are stored lower-cased, so the unique constraint is
    /// case-insensitive.
    users (id) {
        #[autoincrement]
        id -> BigInt,
        #[max_length = 320]
        #[unique]
        email -> Text,
        #[max_length = 100]
        display_name -> Text,
        password_hash -> Text,
        #[default = "CURRENT_TIMESTAMP"]
        created_at -> Timestamp,
    }

    /// Signed-in sessions. Only a hash of the bearer token is stored.
    sessions (id) {
        #[autoincrement]
        id -> BigInt,
        #[references(users.id, on_delete = cascade)]
        #[index]
        user_id -> BigInt,
        #[unique]
        token_hash -> Text,
        expires_at -> Timestamp,
        #[default = "CURRENT_TIMESTAMP"]
        created_at -> Timestamp,
    }

    projects (id) {
        #[autoincrement]
        id -> BigInt,
        #[references(users.id, on_delete = cascade)]
        #[index]
        owner_id -> BigInt,
        #[max_length = 200]
        name -> Text,
        #[default = "''"]
        description -> Text,
        #[default = "FALSE"]
        archived -> Bool,
        #[default = "CURRENT_TIMESTAMP"]
        created_at -> Timestamp,
    }

    /// Who may see a project. The owner has a row with role `owner`.
    #[check(project_members_role_valid, "role IN ('owner', 'member')")]
    project_members (project_id, user_id) {
        #[references(projects.id, on_delete = cascade)]
        project_id -> BigInt,
        #[references(users.id, on_delete = cascade)]
        #[index]
        user_id -> BigInt,
        #[default = "'member'"]
        role -> Text,
        #[default = "CURRENT_TIMESTAMP"]
        created_at -> Timestamp,
    }

    /// Invitations to a project, addressed to an email whether or not an account has it (so the
    /// answer to an invitation says nothing about who has an account). The invited account sees
    /// its pending ones and accepts (becomes a member) or declines (`declined_at`).
    #[unique(project_invitations_project_id_email_key, project_id, email)]
    project_invitations (id) {
        #[autoincrement]
        id -> BigInt,
        #[references(projects.id, on_delete = cascade)]
        project_id -> BigInt,
        #[max_length = 320]
        #[index]
        email -> Text,
        #[references(users.id, on_delete = cascade)]
        #[index]
        invited_by -> BigInt,
        declined_at -> Nullable<Timestamp>,
        #[default = "CURRENT_TIMESTAMP"]
        created_at -> Timestamp,
    }

    /// Tasks of a project, listed by status through `tasks_project_status_idx`.
    #[index(tasks_project_status_idx, project_id, status)]
    #[check(tasks_status_valid, "status IN ('todo', 'doing', 'done')")]
    tasks (id) {
        #[autoincrement]
        id -> BigInt,
        #[references(projects.id, on_delete = cascade)]
        project_id -> BigInt,
        #[max_length = 200]
        title -> Text,
        #[default = "''"]
        description -> Text,
        #[default = "'todo'"]
        status -> Text,
        #[references(users.id, on_delete = set_null)]
        #[index]
        assignee_id -> Nullable<BigInt>,
        due_on -> Nullable<Date>,
        #[default = "CURRENT_TIMESTAMP"]
        created_at -> Timestamp,
        #[default = "CURRENT_TIMESTAMP"]
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    projects,
    project_members,
    project_invitations,
    tasks
);

#[cfg(test)]
mod tests {
    #[test]
    fn the_declared_schema_is_consistent() {
        let schema = super::schema();
        assert_eq!(schema.problems(), Vec::<String>::new());
        let tasks = schema.table("tasks").expect("tasks is declared");
        assert_eq!(tasks.primary_key, ["id"]);
        assert!(tasks.column("assignee_id").is_some_and(|c| c.nullable));
        assert!(
            tasks
                .indexes
                .iter()
                .any(|i| i.name == "tasks_project_status_idx"
                    && i.columns == ["project_id", "status"])
        );
        let members = schema
            .table("project_members")
            .expect("project_members is declared");
        assert_eq!(members.primary_key, ["project_id", "user_id"]);
    }
}

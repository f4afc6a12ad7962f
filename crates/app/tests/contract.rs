//! The API's contract, the same on every backend, over real HTTP: every test runs against a
//! `workhub serve` on SQLite, again on a fresh PostgreSQL database, and (in a build with the `mysql`
//! feature) on a fresh MySQL or MariaDB database. Text with NUL is refused
//! with 422 naming the field on every route; timestamps carry microseconds; ids are never reused;
//! path ids are canonical decimal; `null` in a PATCH clears a nullable field and is refused on any
//! other; and no answer reveals an account that shares no project with the caller (invitations).

#[path = "common/http.rs"]
mod http;

use http::{Response, Server};
use serde_json::{json, Value};

/// Runs `test` on SQLite, then on a new PostgreSQL database, then (built with the `mysql` feature)
/// on a new MySQL database; a server that does not answer is skipped with a visible notice,
/// outside CI.
fn on_every_backend(name: &str, test: impl Fn(&Server)) {
    test(&Server::start());
    if let Some(postgres) = workhub_migrations::testing::postgres_server(name) {
        let database = workhub_migrations::apply::TemporaryDatabase::create(&postgres, "contract")
            .expect("a test database");
        let workhub_migrations::DatabaseUrl::Postgres(url) = database.url() else {
            unreachable!("a PostgreSQL database has a PostgreSQL URL")
        };
        let server = Server::start_with(&[("DATABASE_URL", url.as_str())]);
        assert_eq!(server.get("/health", "").json()["backend"], "postgres");
        test(&server);
    }
    #[cfg(feature = "mysql")]
    if let Some((_database, server)) = http::on_mysql(name) {
        assert_eq!(server.get("/health", "").json()["backend"], "mysql");
        test(&server);
    }
}

fn id(response: &Response) -> i64 {
    response.json()["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an id: {response:?}"))
}

/// Asserts a 422 naming `field`.
fn refused(response: &Response, field: &str, what: &str) {
    assert_eq!(response.error(422), "validation", "{what}: {response:?}");
    assert_eq!(
        response.json()["error"]["field"],
        field,
        "{what}: {response:?}"
    );
}

#[test]
fn text_with_nul_is_refused_naming_the_field_on_every_route() {
    on_every_backend(
        "text_with_nul_is_refused_naming_the_field_on_every_route",
        |server| {
            let register =
                |body: Value| server.call("POST", "/auth/register", None, Some(&body.to_string()));
            for (body, field) in [
                (
                    json!({"email": "n\u{0}@x.io", "password": "password-123", "display_name": "N"}),
                    "email",
                ),
                (
                    json!({"email": "n@x.io", "password": "password\u{0}123", "display_name": "N"}),
                    "password",
                ),
                (
                    json!({"email": "n@x.io", "password": "password-123", "display_name": "N\u{0}"}),
                    "display_name",
                ),
            ] {
                refused(&register(body.clone()), field, &body.to_string());
            }
            // Nothing was stored: the address is still free.
            let (_, token) = server.user("n@x.io", "N");

            for (body, field) in [
                (
                    json!({"email": "n\u{0}@x.io", "password": "password-123"}),
                    "email",
                ),
                (
                    json!({"email": "n@x.io", "password": "password-123\u{0}"}),
                    "password",
                ),
            ] {
                let response = server.call("POST", "/auth/login", None, Some(&body.to_string()));
                refused(&response, field, "login");
            }

            let projects = [
                (json!({"name": "P\u{0}"}), "name"),
                (json!({"name": "P", "description": "\u{0}"}), "description"),
                (json!({"name": "P", "ta\u{0}g": "x"}), "ta\u{0}g"),
            ];
            for (body, field) in &projects {
                refused(
                    &server.post("/projects", &token, body),
                    field,
                    "POST /projects",
                );
            }
            let pid = id(&server.post("/projects", &token, &json!({"name": "P"})));
            for (body, field) in [
                (json!({"name": "\u{0}"}), "name"),
                (json!({"description": "a\u{0}b"}), "description"),
            ] {
                refused(
                    &server.patch(&format!("/projects/{pid}"), &token, &body),
                    field,
                    "PATCH /projects",
                );
            }
            let tasks = format!("/projects/{pid}/tasks");
            for (body, field) in [
                (json!({"title": "T\u{0}"}), "title"),
                (json!({"title": "T", "description": "\u{0}"}), "description"),
                (json!({"title": "T", "status": "todo\u{0}"}), "status"),
                (json!({"title": "T", "due_on": "2026-01-01\u{0}"}), "due_on"),
                // Not NUL, but the same on every backend too: PostgreSQL has no year 0.
                (json!({"title": "T", "due_on": "0000-01-01"}), "due_on"),
            ] {
                refused(&server.post(&tasks, &token, &body), field, "POST tasks");
            }
            let tid = id(&server.post(&tasks, &token, &json!({"title": "T"})));
            refused(
                &server.patch(&format!("/tasks/{tid}"), &token, &json!({"title": "\u{0}"})),
                "title",
                "PATCH /tasks",
            );
            refused(
                &server.post(
                    &format!("/projects/{pid}/invitations"),
                    &token,
                    &json!({"email": "g\u{0}@x.io"}),
                ),
                "email",
                "POST invitations",
            );
            for (query, field) in [
                ("status=%00", "status"),
                ("due_before=%00", "due_before"),
                ("cursor=%00", "cursor"),
                ("assignee=1%00", "assignee"),
            ] {
                refused(
                    &server.get(&format!("{tasks}?{query}"), &token),
                    field,
                    query,
                );
            }
            // Nothing of it was stored.
            let task = server.get(&format!("/tasks/{tid}"), &token).json();
            assert_eq!(task["title"], "T");
            let project = server.get(&format!("/projects/{pid}"), &token).json();
            assert_eq!(project["name"], "P");
            assert_eq!(project["description"], "");
        },
    );
}

/// `2026-01-31T12:00:00.123456Z`: six fractional digits, UTC.
fn is_microsecond_stamp(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let bytes = text.as_bytes();
    text.len() == 27
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            26 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

#[test]
fn timestamps_carry_microseconds_and_read_back_as_written() {
    on_every_backend(
        "timestamps_carry_microseconds_and_read_back_as_written",
        |server| {
            let (_, token) = server.user("ada@example.com", "Ada");
            let (_, bob_token) = server.user("bob@example.com", "Bob");
            let session = server.call(
                "POST",
                "/auth/login",
                None,
                Some(&json!({"email": "ada@example.com", "password": "password-123"}).to_string()),
            );
            assert!(
                is_microsecond_stamp(&session.json()["expires_at"]),
                "{session:?}"
            );
            let me = server.get("/me", &token).json();
            assert!(is_microsecond_stamp(&me["created_at"]), "{me}");

            let project = server.post("/projects", &token, &json!({"name": "P"}));
            let pid = id(&project);
            assert!(is_microsecond_stamp(&project.json()["created_at"]));
            assert_eq!(
                server.get(&format!("/projects/{pid}"), &token).json()["created_at"],
                project.json()["created_at"]
            );
            server.join(pid, &token, "bob@example.com", &bob_token);
            let members = server
                .get(&format!("/projects/{pid}/members"), &token)
                .json();
            for member in members["items"].as_array().unwrap() {
                assert!(is_microsecond_stamp(&member["created_at"]), "{member}");
            }

            // Many tasks: every stamp has six digits, and what is read back is what was answered
            // at creation (the database kept every digit). Some are not whole seconds.
            let mut fractional = false;
            for n in 0..20 {
                let created = server
                    .post(
                        &format!("/projects/{pid}/tasks"),
                        &token,
                        &json!({ "title": format!("T{n}") }),
                    )
                    .json();
                for key in ["created_at", "updated_at"] {
                    assert!(is_microsecond_stamp(&created[key]), "{created}");
                }
                assert_eq!(created["created_at"], created["updated_at"]);
                fractional |= !created["created_at"]
                    .as_str()
                    .unwrap()
                    .ends_with(".000000Z");
                let read = server
                    .get(&format!("/tasks/{}", created["id"]), &token)
                    .json();
                assert_eq!(read, created);
                let patched = server
                    .patch(
                        &format!("/tasks/{}", created["id"]),
                        &token,
                        &json!({"status": "done"}),
                    )
                    .json();
                assert!(is_microsecond_stamp(&patched["updated_at"]), "{patched}");
                assert_eq!(
                    server
                        .get(&format!("/tasks/{}", created["id"]), &token)
                        .json()["updated_at"],
                    patched["updated_at"]
                );
            }
            assert!(
                fractional,
                "twenty tasks in a row all created on a whole second"
            );
        },
    );
}

#[test]
fn ids_are_never_reused_after_a_delete() {
    on_every_backend("ids_are_never_reused_after_a_delete", |server| {
        let (_, token) = server.user("ada@example.com", "Ada");
        let first = id(&server.post("/projects", &token, &json!({"name": "First"})));
        let tasks = format!("/projects/{first}/tasks");
        let task = id(&server.post(&tasks, &token, &json!({"title": "T"})));
        // The newest row goes: the next one must not take its id.
        assert_eq!(server.delete(&format!("/tasks/{task}"), &token).status, 204);
        let next = id(&server.post(&tasks, &token, &json!({"title": "U"})));
        assert!(next > task, "task id {task} was given again ({next})");
        // An old link to the deleted task names nothing, not the new one.
        assert_eq!(
            server.get(&format!("/tasks/{task}"), &token).error(404),
            "not_found"
        );

        let second = id(&server.post("/projects", &token, &json!({"name": "Second"})));
        assert_eq!(
            server.delete(&format!("/projects/{second}"), &token).status,
            204
        );
        let third = id(&server.post("/projects", &token, &json!({"name": "Third"})));
        assert!(
            third > second,
            "project id {second} was given again ({third})"
        );

        let invited = server.post(
            &format!("/projects/{first}/invitations"),
            &token,
            &json!({"email": "x@example.com"}),
        );
        let invitation = id(&invited);
        assert_eq!(
            server
                .delete(
                    &format!("/projects/{first}/invitations/{invitation}"),
                    &token
                )
                .status,
            204
        );
        let again = server.post(
            &format!("/projects/{first}/invitations"),
            &token,
            &json!({"email": "x@example.com"}),
        );
        assert!(id(&again) > invitation, "invitation id reused");
    });
}

#[test]
fn path_ids_are_canonical_decimal() {
    on_every_backend("path_ids_are_canonical_decimal", |server| {
        let (_, token) = server.user("ada@example.com", "Ada");
        let pid = id(&server.post("/projects", &token, &json!({"name": "P"})));
        let tid = id(&server.post(
            &format!("/projects/{pid}/tasks"),
            &token,
            &json!({"title": "T"}),
        ));
        assert_eq!(server.get(&format!("/tasks/{tid}"), &token).status, 200);
        for spelling in [
            format!("+{tid}"),
            format!("0{tid}"),
            format!("00{tid}"),
            format!("{tid}%20"),
            format!("%20{tid}"),
            format!("{tid}.0"),
            "0".to_string(),
            format!("-{tid}"),
            "9223372036854775808".to_string(),
        ] {
            for path in [
                format!("/tasks/{spelling}"),
                format!("/projects/{spelling}"),
                format!("/projects/{spelling}/tasks"),
            ] {
                let response = server.get(&path, &token);
                assert_eq!(response.error(404), "not_found", "{path}");
            }
            let patch = server.patch(
                &format!("/tasks/{spelling}"),
                &token,
                &json!({"title": "X"}),
            );
            assert_eq!(patch.error(404), "not_found", "{spelling}");
            let delete = server.delete(&format!("/tasks/{spelling}"), &token);
            assert_eq!(delete.error(404), "not_found", "{spelling}");
        }
        assert_eq!(
            server.get(&format!("/tasks/{tid}"), &token).json()["title"],
            "T"
        );
        // Queries follow the same rule.
        for query in ["assignee=+1", "assignee=01", "limit=+5", "limit=05"] {
            let response = server.get(&format!("/projects/{pid}/tasks?{query}"), &token);
            assert_eq!(response.error(422), "validation", "{query}");
        }
    });
}

#[test]
fn null_in_a_patch_clears_a_nullable_field_and_is_refused_on_any_other() {
    on_every_backend(
        "null_in_a_patch_clears_a_nullable_field_and_is_refused_on_any_other",
        |server| {
            let (ada, token) = server.user("ada@example.com", "Ada");
            let pid = id(&server.post(
                "/projects",
                &token,
                &json!({"name": "P", "description": "D"}),
            ));
            let created = server
                .post(
                    &format!("/projects/{pid}/tasks"),
                    &token,
                    &json!({"title": "T", "description": "D", "status": "doing",
                            "assignee_id": ada, "due_on": "2030-01-15"}),
                )
                .json();
            let task = format!("/tasks/{}", created["id"]);
            for field in ["title", "description", "status"] {
                let response = server.patch(&task, &token, &json!({ field: null }));
                refused(&response, field, "null on a required field");
                assert!(
                    response.json()["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("null"),
                    "{response:?}"
                );
            }
            // Refused as a whole: the nullable field sent beside it is not cleared either.
            refused(
                &server.patch(&task, &token, &json!({"title": null, "due_on": null})),
                "title",
                "null title beside a null due_on",
            );
            assert_eq!(server.get(&task, &token).json(), created, "nothing changed");
            // An empty PATCH changes nothing, not even updated_at.
            let same = server.patch(&task, &token, &json!({}));
            assert_eq!(same.status, 200, "{same:?}");
            assert_eq!(same.json(), created);

            let cleared =
                server.patch(&task, &token, &json!({"assignee_id": null, "due_on": null}));
            assert_eq!(cleared.status, 200, "{cleared:?}");
            let cleared = cleared.json();
            assert_eq!(cleared["assignee_id"], Value::Null);
            assert_eq!(cleared["due_on"], Value::Null);
            assert_eq!(cleared["title"], "T");
            assert_eq!(cleared["description"], "D");
            assert_eq!(cleared["status"], "doing");

            // Creating: null on an optional field with a default is refused too; null assignee
            // and due date mean none.
            let tasks = format!("/projects/{pid}/tasks");
            for field in ["description", "status"] {
                refused(
                    &server.post(&tasks, &token, &json!({"title": "N", field: null})),
                    field,
                    "null on create",
                );
            }
            let plain = server.post(
                &tasks,
                &token,
                &json!({"title": "N", "assignee_id": null, "due_on": null}),
            );
            assert_eq!(plain.status, 201, "{plain:?}");

            let project = format!("/projects/{pid}");
            for field in ["name", "description", "archived"] {
                refused(
                    &server.patch(&project, &token, &json!({ field: null })),
                    field,
                    "null on a project field",
                );
            }
            let shown = server.get(&project, &token).json();
            assert_eq!(
                (shown["name"].as_str(), shown["description"].as_str()),
                (Some("P"), Some("D"))
            );
            assert_eq!(shown["archived"], false);
        },
    );
}

#[test]
fn invitations_are_seen_accepted_and_declined_by_the_invited_account_alone() {
    on_every_backend(
        "invitations_are_seen_accepted_and_declined_by_the_invited_account_alone",
        |server| {
            let (ada, ada_token) = server.user("ada@example.com", "Ada");
            let (grace, grace_token) = server.user("grace@example.com", "Grace");
            let (_, mallory_token) = server.user("mallory@example.com", "Mallory");
            let pid = id(&server.post("/projects", &ada_token, &json!({"name": "Apollo"})));
            let invitations = format!("/projects/{pid}/invitations");

            let invited = server.post(
                &invitations,
                &ada_token,
                &json!({"email": "Grace@Example.com"}),
            );
            assert_eq!(invited.status, 201, "{invited:?}");
            let invitation = invited.json();
            assert_eq!(invitation["email"], "grace@example.com");
            assert_eq!(invitation["project_id"], pid);
            assert_eq!(invitation["project_name"], "Apollo");
            assert_eq!(invitation["invited_by"], "Ada");
            let iid = id(&invited);
            // Grace is not a member until she accepts.
            assert_eq!(
                server.get(&format!("/projects/{pid}"), &grace_token).status,
                404
            );
            assert_eq!(
                server
                    .post(
                        &invitations,
                        &ada_token,
                        &json!({"email": "grace@example.com"})
                    )
                    .error(409),
                "already_invited"
            );
            // She sees it; Mallory does not, and cannot act on it.
            let mine = server.get("/invitations", &grace_token).json();
            assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
            assert_eq!(mine["items"][0]["id"], iid);
            assert_eq!(mine["items"][0]["project_name"], "Apollo");
            assert_eq!(
                server.get("/invitations", &mallory_token).json()["items"],
                json!([])
            );
            for action in ["accept", "decline"] {
                let response = server.call(
                    "POST",
                    &format!("/invitations/{iid}/{action}"),
                    Some(&mallory_token),
                    None,
                );
                assert_eq!(response.error(404), "not_found", "{action}");
            }
            // Accepting makes her a member, once.
            let accepted = server.call(
                "POST",
                &format!("/invitations/{iid}/accept"),
                Some(&grace_token),
                None,
            );
            assert_eq!(accepted.status, 200, "{accepted:?}");
            assert_eq!(accepted.json()["id"], pid);
            assert_eq!(accepted.json()["role"], "member");
            assert_eq!(
                server.get(&format!("/projects/{pid}"), &grace_token).status,
                200
            );
            let again = server.call(
                "POST",
                &format!("/invitations/{iid}/accept"),
                Some(&grace_token),
                None,
            );
            assert_eq!(again.error(404), "not_found");
            assert_eq!(
                server.get("/invitations", &grace_token).json()["items"],
                json!([])
            );
            assert_eq!(
                server.get(&invitations, &ada_token).json()["items"],
                json!([])
            );
            let members = server
                .get(&format!("/projects/{pid}/members"), &ada_token)
                .json();
            let ids: Vec<i64> = members["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["user_id"].as_i64().unwrap())
                .collect();
            assert_eq!(ids, vec![ada, grace]);
            // Members see each other; they are not the owner, so they do not invite.
            assert_eq!(
                server
                    .post(
                        &invitations,
                        &grace_token,
                        &json!({"email": "x@example.com"})
                    )
                    .error(403),
                "forbidden"
            );
            assert_eq!(
                server.get(&invitations, &grace_token).error(403),
                "forbidden"
            );

            // An address with no account yet: the invitation waits for the account.
            let later = id(&server.post(
                &invitations,
                &ada_token,
                &json!({"email": "late@example.com"}),
            ));
            let (_, late_token) = server.user("late@example.com", "Late");
            let waiting = server.get("/invitations", &late_token).json();
            assert_eq!(waiting["items"][0]["id"], later, "{waiting}");
            // Declining hides it from the invited account; the owner still sees it open.
            let declined = server.call(
                "POST",
                &format!("/invitations/{later}/decline"),
                Some(&late_token),
                None,
            );
            assert_eq!(declined.status, 204, "{declined:?}");
            assert_eq!(
                server.get("/invitations", &late_token).json()["items"],
                json!([])
            );
            let open = server.get(&invitations, &ada_token).json();
            assert_eq!(open["items"][0]["id"], later, "{open}");
            for action in ["accept", "decline"] {
                let response = server.call(
                    "POST",
                    &format!("/invitations/{later}/{action}"),
                    Some(&late_token),
                    None,
                );
                assert_eq!(response.error(404), "not_found", "{action} after declining");
            }
            assert_eq!(
                server.get(&format!("/projects/{pid}"), &late_token).status,
                404
            );
            // Revoked, it can be sent again, and accepted.
            assert_eq!(
                server
                    .delete(&format!("{invitations}/{later}"), &ada_token)
                    .status,
                204
            );
            assert_eq!(
                server
                    .delete(&format!("{invitations}/{later}"), &ada_token)
                    .error(404),
                "not_found"
            );
            server.join(pid, &ada_token, "late@example.com", &late_token);
            assert_eq!(
                server.get(&format!("/projects/{pid}"), &late_token).status,
                200
            );
        },
    );
}

/// The shape of an answer with the values that differ by design (ids, addresses, times) blanked.
fn shape(response: &Response) -> (u16, Value) {
    let mut body = response.json();
    for key in ["id", "email", "created_at"] {
        if let Some(field) = body.get_mut(key) {
            *field = Value::Null;
        }
    }
    (response.status, body)
}

#[test]
fn no_answer_reveals_an_account_that_shares_no_project_with_the_caller() {
    on_every_backend(
        "no_answer_reveals_an_account_that_shares_no_project_with_the_caller",
        |server| {
            let (victim, _) = server.user("victim@example.com", "Victim Name");
            let (_, token) = server.user("prober@example.com", "Prober");
            let pid = id(&server.post("/projects", &token, &json!({"name": "Bait"})));
            // Inviting a registered address answers exactly as inviting an unknown one.
            let known = server.post(
                &format!("/projects/{pid}/invitations"),
                &token,
                &json!({"email": "victim@example.com"}),
            );
            let unknown = server.post(
                &format!("/projects/{pid}/invitations"),
                &token,
                &json!({"email": "nobody@example.com"}),
            );
            assert_eq!(shape(&known), shape(&unknown));
            assert!(!known.body.contains("Victim Name"), "{known:?}");
            assert!(
                !known.body.contains(&format!("\"user_id\":{victim}")),
                "{known:?}"
            );
            // The old way in, adding by user id, is gone: no route takes a user id to a member.
            let add = server.post(
                &format!("/projects/{pid}/members"),
                &token,
                &json!({"user_id": victim}),
            );
            assert_eq!(add.error(405), "method_not_allowed");
            // The victim joined nothing and the prober's listings name only the prober.
            let members = server.get(&format!("/projects/{pid}/members"), &token);
            assert_eq!(members.json()["items"].as_array().unwrap().len(), 1);
            assert!(!members.body.contains("victim"), "{members:?}");
            // Removing or assigning an account that is no member answers as for no account.
            let remove_known = server.delete(&format!("/projects/{pid}/members/{victim}"), &token);
            let remove_none = server.delete(&format!("/projects/{pid}/members/999999"), &token);
            assert_eq!(remove_known.json(), remove_none.json());
            let tasks = format!("/projects/{pid}/tasks");
            let assign_known = server.post(
                &tasks,
                &token,
                &json!({"title": "T", "assignee_id": victim}),
            );
            let assign_none = server.post(
                &tasks,
                &token,
                &json!({"title": "T", "assignee_id": 999999}),
            );
            assert_eq!(assign_known.error(409), "not_a_member");
            assert_eq!(assign_known.json(), assign_none.json());
            let filter_known = server.get(&format!("{tasks}?assignee={victim}"), &token);
            let filter_none = server.get(&format!("{tasks}?assignee=999999"), &token);
            assert_eq!(filter_known.json(), filter_none.json());
            // A wrong password and an unknown address fail alike at login.
            let login = |email: &str| {
                let body = json!({"email": email, "password": "not-the-password"});
                server.call("POST", "/auth/login", None, Some(&body.to_string()))
            };
            assert_eq!(
                login("victim@example.com").json(),
                login("nobody@example.com").json()
            );
        },
    );
}

/// A database created before ids were lasting keeps every row through the migration that makes
/// them so (SQLite's table rebuild), and from then on gives no deleted id again.
#[test]
fn an_existing_sqlite_database_keeps_every_row_when_its_ids_become_lasting() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let upgrade = |target: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_workhub"));
        command
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("WORKHUB_MIGRATIONS_DIR")
            .arg("--database-url")
            .arg(&db)
            .args(["db", "upgrade"])
            .args(target);
        let out = command.output().expect("run workhub");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    upgrade(Some("2026-11-23-225048_initial"));
    let mut conn = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    conn.batch_execute(
        "INSERT INTO users (email, display_name, password_hash) VALUES ('a@x.io', 'A', 'h'), ('b@x.io', 'B', 'h');
         INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (1, 't1', '2099-01-01 00:00:00');
         INSERT INTO projects (owner_id, name) VALUES (1, 'P'), (2, 'Q');
         INSERT INTO project_members (project_id, user_id, role) VALUES (1, 1, 'owner'), (1, 2, 'member'), (2, 2, 'owner');
         INSERT INTO tasks (project_id, title, assignee_id) VALUES (1, 'one', 2), (1, 'two', NULL), (2, 'three', 2);
         DELETE FROM tasks WHERE id = 2;",
    )
    .unwrap();
    let count = |conn: &mut SqliteConnection, sql: &str| {
        diesel::sql_query(format!("SELECT ({sql}) AS n"))
            .get_result::<Count>(conn)
            .unwrap()
            .n
    };
    let snapshot = |conn: &mut SqliteConnection| {
        [
            "SELECT COUNT(*) || group_concat(id || email, ',') FROM users",
            "SELECT COUNT(*) || group_concat(id || user_id || token_hash, ',') FROM sessions",
            "SELECT COUNT(*) || group_concat(id || owner_id || name, ',') FROM projects",
            "SELECT COUNT(*) || group_concat(project_id || user_id || role, ',') FROM project_members",
            "SELECT COUNT(*) || group_concat(id || project_id || title || coalesce(assignee_id, '-'), ',') FROM tasks",
        ]
        .map(|sql| {
            #[derive(diesel::QueryableByName)]
            struct Text {
                #[diesel(sql_type = diesel::sql_types::Text)]
                t: String,
            }
            diesel::sql_query(format!("SELECT ({sql}) AS t"))
                .get_result::<Text>(conn)
                .unwrap()
                .t
        })
    };
    let before = snapshot(&mut conn);
    drop(conn);
    upgrade(None);
    let mut conn = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    assert_eq!(
        snapshot(&mut conn),
        before,
        "every row, id and reference kept"
    );
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM pragma_foreign_key_check"),
        0
    );
    for table in [
        "users",
        "sessions",
        "projects",
        "tasks",
        "project_invitations",
    ] {
        assert_eq!(
            count(
                &mut conn,
                &format!("SELECT COUNT(*) FROM sqlite_master WHERE name = '{table}' AND sql LIKE '%AUTOINCREMENT%'")
            ),
            1,
            "{table} has AUTOINCREMENT"
        );
    }
    // The newest task goes; the next one gets a new id.
    conn.batch_execute(
        "DELETE FROM tasks WHERE id = 3;
         INSERT INTO tasks (project_id, title) VALUES (1, 'four');",
    )
    .unwrap();
    assert_eq!(
        count(&mut conn, "SELECT id FROM tasks WHERE title = 'four'"),
        4
    );
}

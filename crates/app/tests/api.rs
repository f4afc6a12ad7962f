//! The workhub API over real HTTP: a `workhub serve` process on an ephemeral port with its own
//! SQLite database per test. Every endpoint's success path, every error status (400, 401, 403,
//! 404, 409, 413, 415, 422 and a 500 that reveals nothing), cross-user access on every project and
//! task route, logout and session expiry, malformed JSON, wrong types and oversized bodies. In a
//! build with the `mysql` feature, `mod mysql` runs the same scenarios on a new MySQL or MariaDB
//! database each.

#[path = "common/http.rs"]
mod http;

use std::time::Duration;

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use http::{Response, Server};
use serde_json::{json, Value};

fn ids(items: &Value) -> Vec<i64> {
    items["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect()
}

/// The body must not carry anything internal.
fn assert_reveals_nothing(response: &Response) {
    let body = response.body.to_lowercase();
    for word in [
        "sql",
        "diesel",
        "sqlite",
        "panicked",
        "constraint",
        "table",
        "backtrace",
    ] {
        assert!(!body.contains(word), "`{word}` in {response:?}");
    }
}

#[test]
fn health_openapi_and_docs() {
    let server = Server::start();
    let health = server.call("GET", "/health", None, None);
    assert_eq!(health.status, 200, "{health:?}");
    let health = health.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["backend"], "sqlite");
    assert_eq!(health["pending"], 0);
    assert!(health["revision"].is_string(), "{health}");

    let spec = server.call("GET", "/openapi.json", None, None);
    assert_eq!(spec.status, 200);
    assert!(spec
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let spec = spec.json();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{spec}"
    );
    let paths = spec["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/auth/register", &["post"][..]),
        ("/auth/login", &["post"]),
        ("/auth/logout", &["post"]),
        ("/me", &["get"]),
        ("/projects", &["get", "post"]),
        ("/projects/{id}", &["get", "patch", "delete"]),
        ("/projects/{id}/members", &["get"]),
        ("/projects/{id}/invitations", &["get", "post"]),
        ("/projects/{id}/invitations/{invitation_id}", &["delete"]),
        ("/invitations", &["get"]),
        ("/invitations/{id}/accept", &["post"]),
        ("/invitations/{id}/decline", &["post"]),
        ("/health", &["get"]),
        ("/projects/{id}/members/{user_id}", &["delete"]),
        ("/projects/{id}/tasks", &["get", "post"]),
        ("/tasks/{id}", &["get", "patch", "delete"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is not documented"
            );
        }
    }
    assert!(
        spec["components"]["securitySchemes"]["bearer"].is_object(),
        "{spec}"
    );
    let params = spec["paths"]["/projects/{id}/tasks"]["get"]["parameters"].to_string();
    for name in ["status", "assignee", "due_before", "limit", "cursor"] {
        assert!(params.contains(&format!("\"{name}\"")), "{params}");
    }

    let docs = server.call("GET", "/docs", None, None);
    assert_eq!(docs.status, 200);
    assert!(docs
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(docs.body.contains("/openapi.json"));
    assert!(
        !docs.body.contains("https://"),
        "the docs page loads nothing from elsewhere"
    );
}

#[test]
fn accounts_login_me_and_logout() {
    let server = Server::start();
    let db = server.db();
    accounts(&server, || {
        let mut db = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
        diesel::sql_query("SELECT token_hash FROM sessions")
            .load::<Hash>(&mut db)
            .unwrap()
    });
}

#[derive(diesel::QueryableByName)]
struct Hash {
    #[diesel(sql_type = diesel::sql_types::Text)]
    token_hash: String,
}

/// Registration, login, `/me` and logout; `stored` reads the token hashes the database holds.
fn accounts(server: &Server, stored: impl Fn() -> Vec<Hash>) {
    let register = |email: &str, password: &str, name: &str| {
        let body = json!({"email": email, "password": password, "display_name": name});
        server.call("POST", "/auth/register", None, Some(&body.to_string()))
    };
    let created = register("  Ada@Example.COM ", "password-123", "Ada Lovelace");
    assert_eq!(created.status, 201, "{created:?}");
    let ada = created.json();
    assert!(ada["id"].is_i64());
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["display_name"], "Ada Lovelace");
    assert!(ada.get("password_hash").is_none() && !created.body.contains("argon2"));

    // The email is unique whatever its case.
    assert_eq!(
        register("ADA@example.com", "password-456", "Other").error(409),
        "email_taken"
    );
    // Validation names the field.
    for (email, password, name, field) in [
        ("not-an-email", "password-123", "X", "email"),
        ("b@example.com", "short", "X", "password"),
        ("b@example.com", "password-123", "   ", "display_name"),
        (
            "b@example.com",
            "password-123",
            &"n".repeat(101),
            "display_name",
        ),
    ] {
        let response = register(email, password, name);
        assert_eq!(response.error(422), "validation");
        assert_eq!(response.json()["error"]["field"], field, "{response:?}");
    }

    let login = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password});
        server.call("POST", "/auth/login", None, Some(&body.to_string()))
    };
    let wrong = login("ada@example.com", "password-999");
    assert_eq!(wrong.error(401), "unauthorized");
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    let unknown = login("nobody@example.com", "password-123");
    assert_eq!(unknown.error(401), "unauthorized");
    assert_eq!(
        unknown.json(),
        wrong.json(),
        "an unknown email answers like a wrong password"
    );

    let session = login("ADA@example.com", "password-123");
    assert_eq!(session.status, 200, "{session:?}");
    let token = session.json()["token"].as_str().unwrap().to_string();
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    assert!(session.json()["expires_at"].is_string());
    let other_token = login("ada@example.com", "password-123").json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(token, other_token);

    // Only the hash of a token is stored.
    let hashes = stored();
    assert_eq!(hashes.len(), 2);
    assert!(hashes
        .iter()
        .all(|h| h.token_hash != token && h.token_hash.len() == 64));

    let me = server.get("/me", &token);
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json()["email"], "ada@example.com");
    assert_eq!(me.json()["id"], ada["id"]);

    assert_eq!(
        server.call("GET", "/me", None, None).error(401),
        "unauthorized"
    );
    assert_eq!(server.get("/me", "not-a-token").error(401), "unauthorized");
    let basic = server.raw(
        format!(
            "GET /me HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic YTpi\r\nConnection: close\r\n\r\n",
            server.addr
        )
        .as_bytes(),
    );
    assert_eq!(basic.error(401), "unauthorized");

    let logout = server.call("POST", "/auth/logout", Some(&token), None);
    assert_eq!(logout.status, 204, "{logout:?}");
    assert_eq!(server.get("/me", &token).error(401), "unauthorized");
    assert_eq!(
        server
            .call("POST", "/auth/logout", Some(&token), None)
            .error(401),
        "unauthorized"
    );
    // The other session is untouched.
    assert_eq!(server.get("/me", &other_token).status, 200);
}

#[test]
fn sessions_expire() {
    // The lifetime is the configured one, and the service refuses a session once its end has passed.
    // Time is moved in the database rather than waited for.
    let server = Server::start_with(&[("WORKHUB_SESSION_TTL_HOURS", "2")]);
    let (_, token) = server.user("ada@example.com", "Ada");
    let mut db = SqliteConnection::establish(server.db().to_str().unwrap()).unwrap();
    let lifetime: Seconds = diesel::sql_query(
        "SELECT (julianday(expires_at) - julianday(created_at)) * 86400.0 AS seconds FROM sessions",
    )
    .get_result(&mut db)
    .unwrap();
    assert!(
        (lifetime.seconds - 7200.0).abs() < 0.01,
        "{}",
        lifetime.seconds
    );
    let session_ends = |offset: &str| {
        diesel::sql_query(format!(
            "UPDATE sessions SET expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '{offset}')"
        ))
        .execute(&mut SqliteConnection::establish(server.db().to_str().unwrap()).unwrap())
        .unwrap();
    };
    session_ends("+60 seconds");
    assert_eq!(server.get("/me", &token).status, 200);
    session_ends("-1 seconds");
    let expired = server.get("/me", &token);
    assert_eq!(expired.error(401), "unauthorized");
    assert!(expired.body.contains("expired"), "{expired:?}");
    // The expired session is gone, not merely refused.
    let left: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM sessions")
        .get_result(&mut db)
        .unwrap();
    assert_eq!(left.n, 0);
    // A fresh login works again.
    let token = server.login("ada@example.com");
    assert_eq!(server.get("/me", &token).status, 200);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Seconds {
    #[diesel(sql_type = diesel::sql_types::Double)]
    seconds: f64,
}

#[test]
fn an_expired_session_in_the_database_is_refused() {
    let server = Server::start();
    let (_, token) = server.user("ada@example.com", "Ada");
    let mut db = SqliteConnection::establish(server.db().to_str().unwrap()).unwrap();
    diesel::sql_query("UPDATE sessions SET expires_at = '2000-01-01 00:00:00'")
        .execute(&mut db)
        .unwrap();
    assert_eq!(server.get("/me", &token).error(401), "unauthorized");
}

#[test]
fn projects_members_and_tasks_end_to_end() {
    projects_members_and_tasks(&Server::start());
}

fn projects_members_and_tasks(server: &Server) {
    let (ada, token) = server.user("ada@example.com", "Ada");
    let (grace, grace_token) = server.user("grace@example.com", "Grace");
    let alan = server.register("alan@example.com", "Alan");

    // Projects.
    let created = server.post(
        "/projects",
        &token,
        &json!({"name": " Launch ", "description": "The site"}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let project = created.json();
    let pid = project["id"].as_i64().unwrap();
    assert_eq!(project["name"], "Launch");
    assert_eq!(project["description"], "The site");
    assert_eq!(project["owner_id"], ada);
    assert_eq!(project["archived"], false);
    assert_eq!(project["role"], "owner");
    let second = server.post("/projects", &token, &json!({"name": "Second"}));
    assert_eq!(second.status, 201);
    assert_eq!(second.json()["description"], "");

    let list = server.get("/projects", &token);
    assert_eq!(list.status, 200);
    assert_eq!(
        ids(&list.json()),
        vec![pid, second.json()["id"].as_i64().unwrap()]
    );
    let shown = server.get(&format!("/projects/{pid}"), &token);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json(), project);
    let patched = server.patch(
        &format!("/projects/{pid}"),
        &token,
        &json!({"name": "Relaunch", "archived": true}),
    );
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json()["name"], "Relaunch");
    assert_eq!(patched.json()["archived"], true);
    assert_eq!(patched.json()["description"], "The site");

    // Members join by invitation.
    let alan_token = server.login("alan@example.com");
    server.join(pid, &token, "grace@example.com", &grace_token);
    server.join(pid, &token, "ALAN@example.com", &alan_token);
    let again = server.post(
        &format!("/projects/{pid}/invitations"),
        &token,
        &json!({"email": "grace@example.com"}),
    );
    assert_eq!(again.error(409), "already_member");
    let members = server
        .get(&format!("/projects/{pid}/members"), &token)
        .json();
    let member_ids: Vec<i64> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(member_ids, vec![ada, grace, alan]);
    assert_eq!(members["items"][0]["role"], "owner");
    // Grace now sees the project, as a member.
    let as_grace = server.get(&format!("/projects/{pid}"), &grace_token);
    assert_eq!(as_grace.status, 200);
    assert_eq!(as_grace.json()["role"], "member");

    // Tasks.
    let task = server.post(
        &format!("/projects/{pid}/tasks"),
        &token,
        &json!({"title": "Write copy", "description": "Home page", "status": "doing",
                "assignee_id": grace, "due_on": "2030-01-15"}),
    );
    assert_eq!(task.status, 201, "{task:?}");
    let task = task.json();
    let tid = task["id"].as_i64().unwrap();
    assert_eq!(task["project_id"], pid);
    assert_eq!(task["title"], "Write copy");
    assert_eq!(task["description"], "Home page");
    assert_eq!(task["status"], "doing");
    assert_eq!(task["assignee_id"], grace);
    assert_eq!(task["due_on"], "2030-01-15");
    assert!(task["created_at"].is_string() && task["updated_at"].is_string());
    let mut all = vec![tid];
    for (n, (status, due)) in [
        ("todo", Some("2030-01-10")),
        ("done", None),
        ("todo", Some("2030-02-01")),
        ("todo", None),
    ]
    .into_iter()
    .enumerate()
    {
        let response = server.post(
            &format!("/projects/{pid}/tasks"),
            &grace_token,
            &json!({"title": format!("Task {n}"), "status": status, "due_on": due}),
        );
        assert_eq!(response.status, 201, "{response:?}");
        assert_eq!(response.json()["assignee_id"], Value::Null);
        all.push(response.json()["id"].as_i64().unwrap());
    }
    let listed = server.get(&format!("/projects/{pid}/tasks"), &token);
    assert_eq!(listed.status, 200);
    assert_eq!(ids(&listed.json()), all);
    assert_eq!(listed.json()["next_cursor"], Value::Null);
    let todo = server
        .get(&format!("/projects/{pid}/tasks?status=todo"), &token)
        .json();
    assert_eq!(ids(&todo), vec![all[1], all[3], all[4]]);
    let assigned = server
        .get(&format!("/projects/{pid}/tasks?assignee={grace}"), &token)
        .json();
    assert_eq!(ids(&assigned), vec![tid]);
    let due = server
        .get(
            &format!("/projects/{pid}/tasks?due_before=2030-01-20"),
            &token,
        )
        .json();
    assert_eq!(ids(&due), vec![tid, all[1]]);
    let combined = server
        .get(
            &format!("/projects/{pid}/tasks?status=todo&due_before=2030-12-31"),
            &token,
        )
        .json();
    assert_eq!(ids(&combined), vec![all[1], all[3]]);

    // Pages of two, following the cursor.
    let mut seen = Vec::new();
    let mut path = format!("/projects/{pid}/tasks?limit=2");
    let mut pages = 0;
    loop {
        let page = server.get(&path, &token).json();
        let page_ids = ids(&page);
        assert!(page_ids.len() <= 2);
        seen.extend(page_ids);
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/projects/{pid}/tasks?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(pages, 3);

    let shown = server.get(&format!("/tasks/{tid}"), &grace_token);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json(), task);
    let patched = server.patch(
        &format!("/tasks/{tid}"),
        &token,
        &json!({"status": "done", "title": "Copy written", "due_on": null}),
    );
    assert_eq!(patched.status, 200, "{patched:?}");
    let patched = patched.json();
    assert_eq!(patched["status"], "done");
    assert_eq!(patched["title"], "Copy written");
    assert_eq!(patched["due_on"], Value::Null);
    assert_eq!(
        patched["assignee_id"], grace,
        "a field left out is unchanged"
    );
    let reassigned = server.patch(
        &format!("/tasks/{tid}"),
        &token,
        &json!({"assignee_id": alan}),
    );
    assert_eq!(reassigned.json()["assignee_id"], alan);
    let unassigned = server.patch(
        &format!("/tasks/{all_1}", all_1 = all[1]),
        &token,
        &json!({"assignee_id": grace}),
    );
    assert_eq!(unassigned.json()["assignee_id"], grace);

    // Removing a member unassigns their tasks in the project.
    let removed = server.delete(&format!("/projects/{pid}/members/{grace}"), &token);
    assert_eq!(removed.status, 204, "{removed:?}");
    assert_eq!(
        server.get(&format!("/tasks/{}", all[1]), &token).json()["assignee_id"],
        Value::Null
    );
    assert_eq!(
        server
            .get(&format!("/projects/{pid}"), &grace_token)
            .error(404),
        "not_found"
    );
    // A member may leave on their own.
    let (_, alan_token) = (alan, server.login("alan@example.com"));
    assert_eq!(
        server
            .delete(&format!("/projects/{pid}/members/{alan}"), &alan_token)
            .status,
        204
    );
    assert_eq!(
        server.get(&format!("/tasks/{tid}"), &token).json()["assignee_id"],
        Value::Null
    );
    // The owner's membership stays.
    assert_eq!(
        server
            .delete(&format!("/projects/{pid}/members/{ada}"), &token)
            .error(409),
        "owner_membership"
    );
    assert_eq!(
        server
            .delete(&format!("/projects/{pid}/members/{grace}"), &token)
            .error(404),
        "not_found"
    );

    let deleted = server.delete(&format!("/tasks/{tid}"), &token);
    assert_eq!(deleted.status, 204);
    assert_eq!(
        server.get(&format!("/tasks/{tid}"), &token).error(404),
        "not_found"
    );

    let deleted = server.delete(&format!("/projects/{pid}"), &token);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(
        server.get(&format!("/projects/{pid}"), &token).error(404),
        "not_found"
    );
    // Its tasks went with it.
    assert_eq!(
        server.get(&format!("/tasks/{}", all[1]), &token).error(404),
        "not_found"
    );
    assert_eq!(ids(&server.get("/projects", &token).json()).len(), 1);
}

#[test]
fn another_users_project_and_tasks_are_invisible() {
    another_users_work_is_invisible(&Server::start());
}

fn another_users_work_is_invisible(server: &Server) {
    let (ada, ada_token) = server.user("ada@example.com", "Ada");
    let (bob, bob_token) = server.user("bob@example.com", "Bob");
    let (carol, carol_token) = server.user("carol@example.com", "Carol");
    let pid = server
        .post(
            "/projects",
            &ada_token,
            &json!({"name": "Secret plans", "description": "hidden"}),
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    let tid = server
        .post(
            &format!("/projects/{pid}/tasks"),
            &ada_token,
            &json!({"title": "Secret task"}),
        )
        .json()["id"]
        .as_i64()
        .unwrap();
    server.join(pid, &ada_token, "carol@example.com", &carol_token);

    // Bob, who is no member, gets 404 on every project and task route, and no data.
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/projects/{pid}"), None),
        (
            "PATCH",
            format!("/projects/{pid}"),
            Some(json!({"name": "Mine now"})),
        ),
        ("DELETE", format!("/projects/{pid}"), None),
        ("GET", format!("/projects/{pid}/members"), None),
        (
            "POST",
            format!("/projects/{pid}/invitations"),
            Some(json!({"email": "bob@example.com"})),
        ),
        ("GET", format!("/projects/{pid}/invitations"), None),
        ("DELETE", format!("/projects/{pid}/invitations/1"), None),
        ("DELETE", format!("/projects/{pid}/members/{carol}"), None),
        ("DELETE", format!("/projects/{pid}/members/{ada}"), None),
        ("GET", format!("/projects/{pid}/tasks"), None),
        (
            "POST",
            format!("/projects/{pid}/tasks"),
            Some(json!({"title": "Intrusion"})),
        ),
        ("GET", format!("/tasks/{tid}"), None),
        (
            "PATCH",
            format!("/tasks/{tid}"),
            Some(json!({"title": "Defaced"})),
        ),
        ("DELETE", format!("/tasks/{tid}"), None),
    ];
    for (method, path, body) in &routes {
        let body = body.as_ref().map(Value::to_string);
        let response = server.call(method, path, Some(&bob_token), body.as_deref());
        assert_eq!(response.error(404), "not_found", "{method} {path}");
        assert!(
            !response.body.contains("Secret"),
            "{method} {path}: {response:?}"
        );
        // Without a token: 401.
        let anonymous = server.call(method, path, None, body.as_deref());
        assert_eq!(anonymous.error(401), "unauthorized", "{method} {path}");
    }
    // A project that does not exist answers the same as one that is not Bob's.
    let missing = server.get("/projects/999999", &bob_token);
    let hidden = server.get(&format!("/projects/{pid}"), &bob_token);
    assert_eq!(missing.json(), hidden.json());
    assert!(server.get("/projects", &bob_token).json()["items"]
        .as_array()
        .unwrap()
        .is_empty());

    // Nothing Bob tried changed anything.
    let project = server.get(&format!("/projects/{pid}"), &ada_token).json();
    assert_eq!(project["name"], "Secret plans");
    let task = server.get(&format!("/tasks/{tid}"), &ada_token).json();
    assert_eq!(task["title"], "Secret task");
    assert_eq!(
        ids(&server
            .get(&format!("/projects/{pid}/tasks"), &ada_token)
            .json()),
        vec![tid]
    );
    let members = server
        .get(&format!("/projects/{pid}/members"), &ada_token)
        .json();
    assert_eq!(members["items"].as_array().unwrap().len(), 2);

    // Carol, a member, sees and edits, but only the owner deletes or manages members: 403.
    assert_eq!(
        server.get(&format!("/projects/{pid}"), &carol_token).status,
        200
    );
    assert_eq!(
        server.get(&format!("/tasks/{tid}"), &carol_token).status,
        200
    );
    assert_eq!(
        server
            .get(&format!("/projects/{pid}/members"), &carol_token)
            .status,
        200
    );
    assert_eq!(
        server
            .delete(&format!("/projects/{pid}"), &carol_token)
            .error(403),
        "forbidden"
    );
    assert_eq!(
        server
            .post(
                &format!("/projects/{pid}/invitations"),
                &carol_token,
                &json!({"email": "bob@example.com"})
            )
            .error(403),
        "forbidden"
    );
    assert_eq!(
        server
            .delete(&format!("/projects/{pid}/members/{ada}"), &carol_token)
            .error(403),
        "forbidden"
    );
    assert_eq!(
        server.get(&format!("/projects/{pid}"), &ada_token).status,
        200
    );
    // A task cannot be assigned to someone outside the project.
    let outsider = server.patch(
        &format!("/tasks/{tid}"),
        &carol_token,
        &json!({"assignee_id": bob}),
    );
    assert_eq!(outsider.error(409), "not_a_member");
    assert_eq!(outsider.json()["error"]["field"], "assignee_id");
}

#[test]
fn bad_requests_answer_in_the_error_shape() {
    bad_requests(&Server::start());
}

fn bad_requests(server: &Server) {
    let (_, token) = server.user("ada@example.com", "Ada");
    let pid = server
        .post("/projects", &token, &json!({"name": "P"}))
        .json()["id"]
        .as_i64()
        .unwrap();
    let tasks = format!("/projects/{pid}/tasks");

    // Malformed JSON: 400.
    for body in [
        "{\"title\": ",
        "{title: 1}",
        "not json",
        "{\"title\": \"a\"} trailing",
    ] {
        let response = server.call("POST", &tasks, Some(&token), Some(body));
        assert_eq!(response.error(400), "malformed_json", "{body}");
    }
    let response = server.call("POST", "/auth/login", None, Some("{"));
    assert_eq!(response.error(400), "malformed_json");

    // Wrong types, missing and unknown fields: 422 naming the field.
    for (body, field) in [
        (json!({"title": 5}), "title"),
        (json!({"title": "t", "assignee_id": "seven"}), "assignee_id"),
        (json!({"title": "t", "due_on": 20300101}), "due_on"),
        (json!({"description": "no title"}), "title"),
        (json!({"title": "t", "colour": "red"}), "colour"),
        (json!({"title": ""}), "title"),
        (json!({"title": "t", "status": "blocked"}), "status"),
        (json!({"title": "t", "due_on": "31/12/2030"}), "due_on"),
    ] {
        let response = server.post(&tasks, &token, &body);
        assert_eq!(response.error(422), "validation", "{body}");
        assert_eq!(
            response.json()["error"]["field"],
            field,
            "{body}: {response:?}"
        );
    }
    let response = server.post(
        "/auth/register",
        "",
        &json!({"email": ["a"], "password": "password-123", "display_name": "A"}),
    );
    assert_eq!(response.json()["error"]["field"], "email");
    // A body that is JSON but not an object: 422 naming the body, on every route that takes one,
    // and nothing changes. serde would otherwise read `["P"]` as a project named P, and `[]` as
    // a PATCH that sends no fields.
    let before = server.get(&format!("/projects/{pid}"), &token).json();
    for (method, path) in [
        ("POST", "/projects".to_string()),
        ("PATCH", format!("/projects/{pid}")),
        ("POST", tasks.clone()),
        ("POST", format!("/projects/{pid}/invitations")),
        ("POST", "/auth/login".to_string()),
        ("POST", "/auth/register".to_string()),
    ] {
        for body in ["[]", "[1, 2]", "[\"P\"]", "\"P\"", "7", "null", " [ ] "] {
            let response = server.call(method, &path, Some(&token), Some(body));
            assert_eq!(response.error(422), "validation", "{method} {path} {body}");
            assert_eq!(
                response.json()["error"]["field"],
                "body",
                "{method} {path} {body}"
            );
        }
    }
    assert_eq!(
        server.get(&format!("/projects/{pid}"), &token).json(),
        before
    );
    let projects = server.get("/projects", &token).json();
    assert_eq!(projects["items"].as_array().unwrap().len(), 1, "{projects}");
    let response = server.patch(
        &format!("/projects/{pid}"),
        &token,
        &json!({"archived": "yes"}),
    );
    assert_eq!(response.json()["error"]["field"], "archived");

    // Assigning someone who is no member conflicts with the project as it stands: 409.
    let stranger = server.post(
        &tasks,
        &token,
        &json!({"title": "t", "assignee_id": 424242}),
    );
    assert_eq!(stranger.error(409), "not_a_member");
    assert_eq!(stranger.json()["error"]["field"], "assignee_id");

    // Query filters.
    for (query, field) in [
        ("status=blocked", "status"),
        ("assignee=me", "assignee"),
        ("due_before=tomorrow", "due_before"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=zz", "cursor"),
        ("cursor=1234", "cursor"),
        ("cursor=743A31", "cursor"),
        ("cursor=743a", "cursor"),
    ] {
        let response = server.get(&format!("{tasks}?{query}"), &token);
        assert_eq!(response.error(422), "validation", "{query}");
        assert_eq!(response.json()["error"]["field"], field, "{query}");
    }

    // Not JSON at all: 415.
    let plain = server.raw(
        format!(
            "POST {tasks} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/plain\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\nhello",
            server.addr
        )
        .as_bytes(),
    );
    assert_eq!(plain.error(415), "unsupported_media_type");

    // Over the body limit (64 KiB by default): 413, whether announced or streamed in chunks.
    let big = json!({"title": "x".repeat(100 * 1024)}).to_string();
    let response = server.call("POST", &tasks, Some(&token), Some(&big));
    assert_eq!(response.error(413), "payload_too_large");
    let mut chunked = format!(
        "POST {tasks} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    );
    for piece in big.as_bytes().chunks(8 * 1024) {
        chunked.push_str(&format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            std::str::from_utf8(piece).unwrap()
        ));
    }
    chunked.push_str("0\r\n\r\n");
    assert_eq!(
        server.raw(chunked.as_bytes()).error(413),
        "payload_too_large"
    );
    let response = server.call("POST", "/auth/register", None, Some(&big));
    assert_eq!(response.error(413), "payload_too_large");
    // Under the limit but over a field's maximum: 422.
    let long = server.post(&tasks, &token, &json!({"title": "x".repeat(201)}));
    assert_eq!(long.json()["error"]["field"], "title");

    // Paths.
    assert_eq!(server.get("/projects/abc", &token).error(404), "not_found");
    assert_eq!(server.get("/tasks/1.5", &token).error(404), "not_found");
    assert_eq!(server.get("/nowhere", &token).error(404), "not_found");
    assert_eq!(
        server
            .call("PUT", &format!("/projects/{pid}"), Some(&token), Some("{}"))
            .error(405),
        "method_not_allowed"
    );
}

#[test]
fn internal_errors_reach_the_log_not_the_client() {
    let server = Server::start();
    let (_, token) = server.user("ada@example.com", "Ada");
    let pid = server
        .post("/projects", &token, &json!({"name": "P"}))
        .json()["id"]
        .as_i64()
        .unwrap();
    let mut db = SqliteConnection::establish(server.db().to_str().unwrap()).unwrap();
    diesel::sql_query("ALTER TABLE tasks RENAME TO tasks_elsewhere")
        .execute(&mut db)
        .unwrap();
    let response = server.raw(
        format!(
            "GET /projects/{pid}/tasks HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             X-Request-Id: trace-me-42\r\nConnection: close\r\n\r\n",
            server.addr
        )
        .as_bytes(),
    );
    assert_eq!(response.error(500), "internal");
    assert_eq!(response.json()["error"]["message"], "internal server error");
    assert_reveals_nothing(&response);
    assert_eq!(response.header("x-request-id"), Some("trace-me-42"));
    // The log has the cause, under the request's id.
    let mut log = String::new();
    for _ in 0..50 {
        log = server.log();
        if log.contains("no such table") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = log
        .lines()
        .find(|line| line.contains("no such table"))
        .unwrap_or_else(|| panic!("the cause is logged:\n{log}"));
    assert!(line.contains("trace-me-42"), "{line}");

    // Every response carries a request id.
    let health = server.call("GET", "/health", None, None);
    assert!(health
        .header("x-request-id")
        .is_some_and(|id| !id.is_empty()));
}

/// The service's log is one stream, stdout: with `WORKHUB_LOG=json` every line of it is a JSON object,
/// the request lines with their status and a duration rounded to microseconds; stderr stays empty.
#[test]
fn the_log_is_json_lines_on_stdout_when_asked() {
    let server = Server::start_with(&[("WORKHUB_LOG", "json")]);
    assert_eq!(server.get("/health", "").status, 200);
    let log = server.log_with("elapsed_ms");
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("a request line in {log}"));
    assert_eq!(request["fields"]["status"], 200, "{request}");
    assert_eq!(request["span"]["path"], "/health", "{request}");
    let elapsed = request["fields"]["elapsed_ms"].to_string();
    assert!(
        elapsed
            .split('.')
            .nth(1)
            .is_none_or(|decimals| decimals.len() <= 3),
        "{elapsed}"
    );
    assert_eq!(server.stderr(), "");
}

/// In text, the log has no colour codes when stdout is not a terminal, even with NO_COLOR unset;
/// a log format workhub does not know is refused before anything starts.
#[test]
fn the_text_log_has_no_colour_off_a_terminal_and_an_unknown_format_is_refused() {
    let server = Server::start_with(&[("NO_COLOR", "")]);
    assert_eq!(server.get("/health", "").status, 200);
    let log = server.log_with("elapsed_ms");
    assert!(!log.contains('\u{1b}'), "{log:?}");
    let line = log.lines().find(|l| l.contains("elapsed_ms=")).unwrap();
    let elapsed = line.split("elapsed_ms=").nth(1).unwrap();
    let elapsed = elapsed.split_whitespace().next().unwrap();
    assert!(
        elapsed
            .split('.')
            .nth(1)
            .is_none_or(|decimals| decimals.len() <= 3),
        "{line}"
    );

    let dir = tempfile::tempdir().unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_workhub"))
        .current_dir(dir.path())
        .env("WORKHUB_LOG", "xml")
        .env("DATABASE_URL", dir.path().join("workhub.db"))
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("WORKHUB_LOG=`xml` is not a log format"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("workhub.db").exists(),
        "nothing was created"
    );
}

/// Runs `workhub ARGS` against `database` (a path or URL) as another process would while the
/// service runs, and asserts that it succeeded.
fn workhub_db(database: &str, args: &[&str]) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_workhub"))
        .env_remove("WORKHUB_MIGRATIONS_DIR")
        .env("WORKHUB_ENV", "development")
        .arg("--database-url")
        .arg(database)
        .args(args)
        .output()
        .expect("run workhub");
    assert!(
        output.status.success(),
        "workhub {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `/health` answers from what it last read only while the database says nothing changed: a
/// revert and an upgrade by another process, and a row another runner writes by hand, show at
/// once; a database file that goes away is unavailable, not the last answer.
#[test]
fn health_follows_the_history_whoever_changes_it() {
    let server = Server::start();
    let db = server.db().to_str().unwrap().to_string();
    let first = server.get("/health", "").json();
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(server.get("/health", "").json(), first);

    workhub_db(&db, &["db", "downgrade", "-1"]);
    let behind = server.get("/health", "").json();
    assert_eq!(behind["status"], "behind", "{behind}");
    assert_eq!(behind["pending"], 1, "{behind}");
    assert_ne!(behind["revision"], first["revision"], "{behind}");

    workhub_db(&db, &["db", "upgrade"]);
    assert_eq!(server.get("/health", "").json(), first);

    // Another runner forgets the newest version by hand (as a restore of an older history would).
    let mut conn = SqliteConnection::establish(&db).unwrap();
    diesel::sql_query(format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = '{}'",
        first["revision"].as_str().unwrap()
    ))
    .execute(&mut conn)
    .unwrap();
    let forgotten = server.get("/health", "").json();
    assert_eq!(forgotten["pending"], 1, "{forgotten}");
    drop(conn);

    // The file goes away under the running service: not the last answer, but unavailable.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    let gone = server.call("GET", "/health", None, None);
    assert_eq!(gone.status, 503, "{gone:?}");
    assert_eq!(gone.json()["status"], "unavailable");
}

/// The service on a new temporary PostgreSQL database (development mode migrates it with the
/// PostgreSQL SQL before listening); `None`, after a skip notice, when no server answers outside CI.
fn on_postgres(test: &str) -> Option<(workhub_migrations::apply::TemporaryDatabase, Server)> {
    let postgres = workhub_migrations::testing::postgres_server(test)?;
    let database = workhub_migrations::apply::TemporaryDatabase::create(&postgres, "api")
        .expect("a test database");
    let workhub_migrations::DatabaseUrl::Postgres(url) = database.url() else {
        unreachable!("a PostgreSQL database has a PostgreSQL URL")
    };
    let server = Server::start_with(&[("DATABASE_URL", url.as_str())]);
    Some((database, server))
}

/// A role the WAL position function is revoked from (as some managed servers do) still gets a
/// true `/health`: the history read every time instead of an answer of unavailable.
#[test]
fn health_without_the_wal_position_reads_the_history_every_time() {
    let test = "health_without_the_wal_position_reads_the_history_every_time";
    let Some(postgres) = workhub_migrations::testing::postgres_server(test) else {
        return;
    };
    let workhub_migrations::DatabaseUrl::Postgres(admin_url) = &postgres else {
        unreachable!("a PostgreSQL server has a PostgreSQL URL")
    };
    let role = format!("workhub_health_{}", std::process::id());
    /// Drops the role once the database it owns is gone (declared first, so dropped last).
    struct Role(String, String);
    impl Drop for Role {
        fn drop(&mut self) {
            if let Ok(mut admin) = diesel::PgConnection::establish(&self.1) {
                let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {}", self.0))
                    .execute(&mut admin);
            }
        }
    }
    let _role = Role(role.clone(), admin_url.clone());
    let mut admin = diesel::PgConnection::establish(admin_url).unwrap();
    diesel::sql_query(format!("CREATE ROLE {role} LOGIN"))
        .execute(&mut admin)
        .unwrap();
    let database =
        workhub_migrations::apply::TemporaryDatabase::create(&postgres, "health_role").unwrap();
    let workhub_migrations::DatabaseUrl::Postgres(owner_url) = database.url() else {
        unreachable!("a PostgreSQL database has a PostgreSQL URL")
    };
    let mut owner = diesel::PgConnection::establish(owner_url).unwrap();
    for sql in [
        format!("ALTER DATABASE {} OWNER TO {role}", database.name()),
        format!("ALTER SCHEMA public OWNER TO {role}"),
        "REVOKE EXECUTE ON FUNCTION pg_current_wal_insert_lsn() FROM PUBLIC".to_string(),
    ] {
        diesel::sql_query(sql).execute(&mut owner).unwrap();
    }
    drop(owner);
    let url = owner_url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(&url, owner_url, "the URL names the role");
    let server = Server::start_with(&[("DATABASE_URL", url.as_str())]);
    let health = server.get("/health", "");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.json()["status"], "ok", "{health:?}");
    workhub_db(&url, &["db", "downgrade", "-1"]);
    let behind = server.get("/health", "").json();
    assert_eq!(behind["status"], "behind", "{behind}");
    drop(server);
    drop(database);
}

#[test]
fn the_api_works_the_same_on_postgres() {
    let Some((_database, server)) = on_postgres("the_api_works_the_same_on_postgres") else {
        return;
    };
    let health = server.get("/health", "");
    assert_eq!(health.json()["backend"], "postgres", "{health:?}");
    assert_eq!(health.json()["pending"], 0, "{health:?}");
    // A revert and an upgrade by another process show at once.
    let workhub_migrations::DatabaseUrl::Postgres(url) = _database.url() else {
        unreachable!("a PostgreSQL database has a PostgreSQL URL")
    };
    workhub_db(url, &["db", "downgrade", "-1"]);
    let behind = server.get("/health", "").json();
    assert_eq!(behind["status"], "behind", "{behind}");
    assert_eq!(behind["pending"], 1, "{behind}");
    workhub_db(url, &["db", "upgrade"]);
    assert_eq!(server.get("/health", "").json(), health.json());

    let (ada, token) = server.user("ada@example.com", "Ada");
    let project = server.post(
        "/projects",
        &token,
        &json!({"name": "Apollo", "description": "moon"}),
    );
    assert_eq!(project.status, 201, "{project:?}");
    let project_id = project.json()["id"].as_i64().expect("an id");
    let task = server.post(
        &format!("/projects/{project_id}/tasks"),
        &token,
        &json!({"title": "Launch", "status": "doing", "assignee_id": ada, "due_on": "2026-12-01"}),
    );
    assert_eq!(task.status, 201, "{task:?}");
    let task_id = task.json()["id"].as_i64().expect("an id");
    let listed = server.get(
        &format!("/projects/{project_id}/tasks?status=doing"),
        &token,
    );
    assert_eq!(ids(&listed.json()), vec![task_id]);

    // The same rules hold: another user sees nothing, a duplicate email conflicts.
    let (_, other) = server.user("bob@example.com", "Bob");
    assert_eq!(
        server
            .get(&format!("/projects/{project_id}"), &other)
            .status,
        404
    );
    assert_eq!(server.get(&format!("/tasks/{task_id}"), &other).status, 404);
    let again =
        json!({"email": "ADA@example.com", "password": "password-123", "display_name": "A"});
    let duplicate = server.call("POST", "/auth/register", None, Some(&again.to_string()));
    assert_eq!(duplicate.error(409), "email_taken");
    // Deleting the project cascades to its tasks (foreign keys enforced by the server).
    assert_eq!(
        server
            .delete(&format!("/projects/{project_id}"), &token)
            .status,
        204
    );
    assert_eq!(server.get(&format!("/tasks/{task_id}"), &token).status, 404);
}

/// A project owned by Ada with Bob as a member: (project id, Ada's token, Bob's id).
fn project_with_a_member(server: &Server) -> (i64, String, i64) {
    let (_, ada) = server.user("ada@example.com", "Ada");
    let (bob, bob_token) = server.user("bob@example.com", "Bob");
    let project = server.post("/projects", &ada, &json!({"name": "Apollo"}));
    assert_eq!(project.status, 201, "{project:?}");
    let pid = project.json()["id"].as_i64().expect("an id");
    server.join(pid, &ada, "bob@example.com", &bob_token);
    (pid, ada, bob)
}

/// What removing Bob does, as `DELETE /projects/{id}/members/{user_id}` does it, for a test to hold
/// open in its own transaction.
fn removal(pid: i64, bob: i64) -> String {
    format!(
        "DELETE FROM project_members WHERE project_id = {pid} AND user_id = {bob}; \
         UPDATE tasks SET assignee_id = NULL WHERE project_id = {pid} AND assignee_id = {bob};"
    )
}

/// Assigns a new task to Bob while his removal is in flight, and `commit` ends the removal. The
/// assignment must wait for it and then find Bob gone: never a task left assigned to a non-member.
fn assign_during_removal(
    server: &Server,
    (pid, ada, bob): (i64, &str, i64),
    edit: Option<i64>,
    commit: impl FnOnce(),
) {
    let response = std::thread::scope(|scope| {
        let request = scope.spawn(|| match edit {
            // Assigning an existing task (PATCH) and creating an assigned one (POST).
            Some(task) => {
                server.patch(&format!("/tasks/{task}"), ada, &json!({"assignee_id": bob}))
            }
            None => server.post(
                &format!("/projects/{pid}/tasks"),
                ada,
                &json!({"title": "Launch", "assignee_id": bob}),
            ),
        });
        commit();
        request.join().expect("the request thread")
    });
    assert_eq!(response.error(409), "not_a_member", "{response:?}");
    assert_eq!(
        response.json()["error"]["field"],
        "assignee_id",
        "{response:?}"
    );
    let assigned = server.get(&format!("/projects/{pid}/tasks?assignee={bob}"), ada);
    assert_eq!(ids(&assigned.json()), Vec::<i64>::new(), "{assigned:?}");
}

/// Whether a session of the test's database is seen waiting on a lock (`waiting` counts them)
/// within 10 s: the assignment must wait on the removal's row lock before the removal commits.
fn seen_waiting(mut waiting: impl FnMut() -> i64) -> bool {
    let started = std::time::Instant::now();
    loop {
        let n = waiting();
        if n > 0 || started.elapsed() > Duration::from_secs(10) {
            return n > 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Races an assignment to Bob with his removal held open, both ways (creating an assigned task,
/// then assigning an existing one, Bob rejoining in between): `begin` starts the removal's SQL in a
/// transaction on the test's own connection, `commit` commits it once the assignment waits (as far
/// as the backend shows it).
fn race_removals<C>(
    server: &Server,
    conn: &mut C,
    begin: impl Fn(&mut C, &str),
    mut commit: impl FnMut(&mut C),
) {
    let (pid, ada, bob) = project_with_a_member(server);
    let task = server.post(
        &format!("/projects/{pid}/tasks"),
        &ada,
        &json!({"title": "Old"}),
    );
    let task = task.json()["id"].as_i64().expect("a task id");
    for edit in [None, Some(task)] {
        // The removal of a fresh membership each round.
        if edit.is_some() {
            let bob_token = server.login("bob@example.com");
            server.join(pid, &ada, "bob@example.com", &bob_token);
        }
        begin(conn, &removal(pid, bob));
        assign_during_removal(server, (pid, &ada, bob), edit, || commit(conn));
    }
}

#[test]
fn a_task_is_never_assigned_to_a_member_removed_at_the_same_moment() {
    use diesel::connection::SimpleConnection;
    let server = Server::start();
    let mut conn = SqliteConnection::establish(&server.db().to_string_lossy()).expect("open");
    race_removals(
        &server,
        &mut conn,
        |conn, removal| {
            conn.batch_execute(&format!("BEGIN IMMEDIATE; {removal}"))
                .expect("start the removal");
        },
        |conn| {
            // SQLite cannot show who waits; the request has long reached the database by then.
            std::thread::sleep(Duration::from_millis(500));
            conn.batch_execute("COMMIT").expect("commit the removal");
        },
    );
}

#[test]
fn a_task_is_never_assigned_to_a_member_removed_at_the_same_moment_on_postgres() {
    use diesel::connection::SimpleConnection;
    use diesel::PgConnection;
    let Some((database, server)) =
        on_postgres("a_task_is_never_assigned_to_a_member_removed_at_the_same_moment_on_postgres")
    else {
        return;
    };
    let workhub_migrations::DatabaseUrl::Postgres(url) = database.url() else {
        unreachable!("a PostgreSQL database has a PostgreSQL URL")
    };
    let mut conn = PgConnection::establish(url).expect("connect");
    let mut watcher = PgConnection::establish(url).expect("connect");
    race_removals(
        &server,
        &mut conn,
        |conn, removal| {
            conn.batch_execute(&format!("BEGIN; {removal}"))
                .expect("start the removal");
        },
        |conn| {
            let waited = seen_waiting(|| {
                diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .get_result::<Count>(&mut watcher)
                .expect("read pg_stat_activity")
                .n
            });
            conn.batch_execute("COMMIT").expect("commit the removal");
            assert!(waited, "the assignment never waited for the removal");
        },
    );
}

/// The same API on MySQL and MariaDB (a build with the `mysql` feature): each scenario above, on a
/// new database of the server at `WORKHUB_TEST_MYSQL_URL` migrated by the service's development
/// start, and the membership lock under a removal held open by another session.
#[cfg(feature = "mysql")]
mod mysql {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, MysqlConnection, RunQueryDsl};

    use super::http::{mysql_url, on_mysql};
    use super::{
        accounts, another_users_work_is_invisible, bad_requests, projects_members_and_tasks,
        race_removals, seen_waiting, workhub_db, Count, Hash,
    };

    #[test]
    fn accounts_login_me_and_logout_on_mysql() {
        let Some((database, server)) = on_mysql("accounts_login_me_and_logout_on_mysql") else {
            return;
        };
        let url = mysql_url(&database);
        accounts(&server, || {
            let mut db = MysqlConnection::establish(&url).unwrap();
            diesel::sql_query("SELECT token_hash FROM sessions")
                .load::<Hash>(&mut db)
                .unwrap()
        });
    }

    #[test]
    fn projects_members_and_tasks_end_to_end_on_mysql() {
        if let Some((_database, server)) =
            on_mysql("projects_members_and_tasks_end_to_end_on_mysql")
        {
            projects_members_and_tasks(&server);
        }
    }

    #[test]
    fn another_users_project_and_tasks_are_invisible_on_mysql() {
        if let Some((_database, server)) =
            on_mysql("another_users_project_and_tasks_are_invisible_on_mysql")
        {
            another_users_work_is_invisible(&server);
        }
    }

    #[test]
    fn bad_requests_answer_in_the_error_shape_on_mysql() {
        if let Some((_database, server)) =
            on_mysql("bad_requests_answer_in_the_error_shape_on_mysql")
        {
            bad_requests(&server);
        }
    }

    /// `/health` names the backend and follows a revert and an upgrade by another process at once;
    /// an expired session in the database is refused and removed; emails that differ only in an
    /// accent are two accounts (text compares exactly, as on the other backends).
    #[test]
    fn the_api_works_the_same_on_mysql() {
        let Some((database, server)) = on_mysql("the_api_works_the_same_on_mysql") else {
            return;
        };
        let url = mysql_url(&database);
        let health = server.get("/health", "");
        assert_eq!(health.status, 200, "{health:?}");
        assert_eq!(health.json()["backend"], "mysql", "{health:?}");
        assert_eq!(health.json()["status"], "ok", "{health:?}");
        assert_eq!(health.json()["pending"], 0, "{health:?}");
        assert_eq!(server.get("/health", "").json(), health.json());
        workhub_db(&url, &["db", "downgrade", "-1"]);
        let behind = server.get("/health", "").json();
        assert_eq!(behind["status"], "behind", "{behind}");
        assert_eq!(behind["pending"], 1, "{behind}");
        assert_ne!(behind["revision"], health.json()["revision"], "{behind}");
        workhub_db(&url, &["db", "upgrade"]);
        assert_eq!(server.get("/health", "").json(), health.json());

        let (_, token) = server.user("ada@example.com", "Ada");
        let (_, accented) = server.user("adá@example.com", "Adá");
        assert_eq!(
            server.get("/me", &accented).json()["email"],
            "adá@example.com"
        );
        assert_eq!(server.get("/me", &token).json()["email"], "ada@example.com");
        let mut db = MysqlConnection::establish(&url).unwrap();
        diesel::sql_query("UPDATE sessions SET expires_at = '2000-01-01 00:00:00'")
            .execute(&mut db)
            .unwrap();
        let expired = server.get("/me", &token);
        assert_eq!(expired.error(401), "unauthorized");
        assert!(expired.body.contains("expired"), "{expired:?}");
        let left: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM sessions")
            .get_result(&mut db)
            .unwrap();
        assert_eq!(left.n, 1, "the expired session that was used is gone");
    }

    #[test]
    fn a_task_is_never_assigned_to_a_member_removed_at_the_same_moment_on_mysql() {
        let Some((database, server)) =
            on_mysql("a_task_is_never_assigned_to_a_member_removed_at_the_same_moment_on_mysql")
        else {
            return;
        };
        let url = mysql_url(&database);
        let mut conn = MysqlConnection::establish(&url).expect("connect");
        let mut watcher = MysqlConnection::establish(&url).expect("connect");
        race_removals(
            &server,
            &mut conn,
            |conn, removal| {
                conn.batch_execute("BEGIN").expect("start the removal");
                for statement in removal.split_terminator(';') {
                    if !statement.trim().is_empty() {
                        conn.batch_execute(statement).expect("the removal");
                    }
                }
            },
            |conn| {
                // The locking read still running: a primary key lookup ends at once unless it
                // waits. (MariaDB's INNODB_TRX does not always list a transaction waiting in its
                // first locking read, so it cannot tell.)
                let waited = seen_waiting(|| {
                    diesel::sql_query(
                        "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST \
                         WHERE DB = DATABASE() AND ID <> CONNECTION_ID() \
                         AND INFO LIKE '%FROM `project_members`%FOR UPDATE%'",
                    )
                    .get_result::<Count>(&mut watcher)
                    .expect("read PROCESSLIST")
                    .n
                });
                conn.batch_execute("COMMIT").expect("commit the removal");
                assert!(
                    waited,
                    "the assignment never waited for the removal:\n{}",
                    server.log()
                );
            },
        );
    }
}

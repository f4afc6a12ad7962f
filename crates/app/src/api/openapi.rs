//! The API's description: the OpenAPI 3.1 document generated from the handlers' annotations
//! (`GET /openapi.json`) and a self-contained docs page (`GET /docs`, HTML and script compiled into
//! the binary, nothing fetched from elsewhere) that lists the operations and can try them.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{auth, error, members, projects, tasks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "workhub",
        description = "Accounts, projects, members and tasks. Authenticate with \
                       `Authorization: Bearer <token>` from `POST /auth/login`. Every error \
                       answers `{\"error\": {\"code\": ..., \"message\": ...}}`."
    ),
    paths(
        auth::register, auth::login, auth::logout, auth::me,
        projects::list, projects::create, projects::show, projects::update, projects::remove,
        members::list, members::add, members::remove,
        tasks::list, tasks::create, tasks::show, tasks::update, tasks::remove,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "projects", description = "Projects the caller is a member of"),
        (name = "members", description = "Who may see a project"),
        (name = "tasks", description = "A project's tasks"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the operations refer to.
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Response {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let json = JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_string())
    });
    ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}

/// `GET /docs`.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

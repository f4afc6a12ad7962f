//! The API's description: the OpenAPI 3.1 document generated from the handlers' annotations
//! (`GET /openapi.json`) and a self-contained docs page (`GET /docs`, HTML and script compiled into
//! the binary, nothing fetched from elsewhere) that lists the operations and can try them.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{auth, error, field, invitations, members, projects, tasks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "workhub",
        description = "Accounts, projects, members and tasks. Authenticate with \
                       `Authorization: Bearer <token>` from `POST /auth/login`. Every error \
                       answers `{\"error\": {\"code\": ..., \"message\": ...}}` (plus \
                       `field` on a 422). Text never contains NUL (422). Timestamps are UTC \
                       with microseconds (`2026-01-31T12:00:00.123456Z`) on every backend. \
                       Path ids are canonical decimal: `01` or `+1` name nothing (404). In a \
                       PATCH, a field left out keeps its value, `null` clears a nullable field \
                       and is refused (422) on any other."
    ),
    paths(
        auth::register, auth::login, auth::logout, auth::me,
        projects::list, projects::create, projects::show, projects::update, projects::remove,
        members::list, members::remove,
        invitations::create, invitations::list_for_project, invitations::revoke,
        invitations::list_mine, invitations::accept, invitations::decline,
        tasks::list, tasks::create, tasks::show, tasks::update, tasks::remove,
        crate::serve::health,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth, &CommonAnswers),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "projects", description = "Projects the caller is a member of"),
        (name = "members", description = "Who may see a project"),
        (name = "invitations", description = "How an account joins a project"),
        (name = "health", description = "Whether the service and its database are up"),
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

/// The answers the extractors give on every route they guard, added to each operation from what
/// it declares, so no operation can leave one out: 401 where a token is required; 400, 413, 415
/// and 422 where a JSON body is read; 404 where a path names a resource. Path ids are described
/// by [`field::id_schema`], the rule [`field::path_id`] applies.
#[derive(Debug)]
struct CommonAnswers;

impl CommonAnswers {
    fn error(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .into()
    }

    fn add(operation: &mut Operation) {
        let mut answers: Vec<(&str, &str)> = Vec::new();
        if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
            answers.push(("401", "No valid token (`unauthorized`)"));
        }
        if operation.request_body.is_some() {
            answers.push((
                "400",
                "The body is not JSON (`malformed_json`) or cannot be read (`bad_body`)",
            ));
            answers.push((
                "413",
                "The body is over the size limit (`payload_too_large`)",
            ));
            answers.push((
                "415",
                "The body is not sent as `application/json` (`unsupported_media_type`)",
            ));
            answers.push(("422", "A field is missing, unknown, of the wrong type or invalid (`validation`, `field` names it)"));
        }
        let mut has_path_id = false;
        let mut has_query = false;
        for parameter in operation.parameters.iter_mut().flatten() {
            let utoipa::openapi::RefOr::T(parameter) = parameter else {
                continue;
            };
            match parameter.parameter_in {
                ParameterIn::Path => {
                    parameter.schema = Some(field::id_schema());
                    has_path_id = true;
                }
                ParameterIn::Query => has_query = true,
                _ => {}
            }
        }
        if has_query {
            answers.push((
                "400",
                "The query string cannot be read, e.g. a parameter given twice (`bad_query`)",
            ));
        }
        if has_path_id {
            answers.push((
                "404",
                "No such resource, or not visible to the caller (`not_found`)",
            ));
        }
        for (status, description) in answers {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| Self::error(description));
        }
    }
}

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                Self::add(operation);
            }
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

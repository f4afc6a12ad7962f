//! The workhub HTTP API: its configuration, shared state, router and the middleware around every
//! route (request id and request log, body size limit, JSON 404/405). Each concept lives in its
//! own file: accounts and sessions in `auth`, projects, members and tasks in theirs, errors in
//! `error`, extractors in `extract`, the pool in `pool`, the writes that answer with their row in
//! `returning`, the OpenAPI document and docs page in `openapi`.

pub mod auth;
pub mod error;
pub mod extract;
pub mod field;
pub mod invitations;
pub mod members;
pub mod openapi;
pub mod pool;
pub mod projects;
pub mod returning;
pub mod tasks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use time::PrimitiveDateTime;
use tracing::Instrument;

use self::error::ApiError;
use self::pool::{Pool, PoolOptions};

pub const SESSION_TTL_VARIABLE: &str = "WORKHUB_SESSION_TTL_HOURS";
pub const BODY_LIMIT_VARIABLE: &str = "WORKHUB_BODY_LIMIT_BYTES";
pub const POOL_SIZE_VARIABLE: &str = "WORKHUB_DB_POOL_SIZE";

const DEFAULT_SESSION_TTL_HOURS: f64 = 24.0 * 7.0;
const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;
const DEFAULT_POOL_SIZE: u32 = 8;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API's settings, read from the environment (documented in `.env.example`).
#[derive(Debug, Clone)]
pub struct Config {
    pub session_ttl: Duration,
    pub body_limit: usize,
    pub pool: PoolOptions,
}

impl Config {
    /// Reads the settings; the error names the variable and what it accepts.
    pub fn from_env() -> Result<Self, String> {
        let hours = number(SESSION_TTL_VARIABLE, DEFAULT_SESSION_TTL_HOURS)?;
        if !(hours.is_finite() && hours > 0.0 && hours <= 24.0 * 366.0 * 10.0) {
            return Err(format!(
                "{SESSION_TTL_VARIABLE}={hours} is not a session lifetime: give hours above 0 \
                 (fractions allowed, e.g. 0.5)"
            ));
        }
        let body_limit = number(BODY_LIMIT_VARIABLE, DEFAULT_BODY_LIMIT_BYTES)?;
        if body_limit < 1024 {
            return Err(format!(
                "{BODY_LIMIT_VARIABLE}={body_limit} is too small: give at least 1024 bytes"
            ));
        }
        let max_size = number(POOL_SIZE_VARIABLE, DEFAULT_POOL_SIZE)?;
        if !(1..=256).contains(&max_size) {
            return Err(format!(
                "{POOL_SIZE_VARIABLE}={max_size} is not a pool size: give 1 to 256 connections"
            ));
        }
        Ok(Self {
            session_ttl: Duration::from_secs_f64(hours * 3600.0),
            body_limit,
            pool: PoolOptions { max_size },
        })
    }
}

fn number<T: std::str::FromStr>(variable: &str, default: T) -> Result<T, String> {
    match std::env::var(variable) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|_| format!("{variable}=`{text}` is not a number")),
        _ => Ok(default),
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
}

/// The API routes with their state, merged with `extra` (routes that bring their own state, such as
/// `/health`), wrapped in the middleware every request goes through.
pub fn app(state: AppState, extra: Router) -> Router {
    let body_limit = state.config.body_limit;
    let api = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/projects", get(projects::list).post(projects::create))
        .route(
            "/projects/{id}",
            get(projects::show)
                .patch(projects::update)
                .delete(projects::remove),
        )
        .route("/projects/{id}/members", get(members::list))
        .route("/projects/{id}/members/{user_id}", delete(members::remove))
        .route(
            "/projects/{id}/invitations",
            get(invitations::list_for_project).post(invitations::create),
        )
        .route(
            "/projects/{id}/invitations/{invitation_id}",
            delete(invitations::revoke),
        )
        .route("/invitations", get(invitations::list_mine))
        .route("/invitations/{id}/accept", post(invitations::accept))
        .route("/invitations/{id}/decline", post(invitations::decline))
        .route("/projects/{id}/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/tasks/{id}",
            get(tasks::show).patch(tasks::update).delete(tasks::remove),
        )
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::docs_page))
        .with_state(state);
    api.merge(extra)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(request_log))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

/// Gives every request an id (the client's `X-Request-Id` when it is short and plain, else a new
/// one), runs it inside a tracing span carrying that id, logs the outcome and returns the id in the
/// response's `X-Request-Id`.
async fn request_log(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(new_request_id, str::to_string);
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    // Microseconds are what a request's time is worth reading to: 0.013, not 0.012979000000000001.
    let elapsed_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// A process-unique id: a random prefix chosen once, then a counter.
fn new_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        u32::from_le_bytes(bytes)
    });
    format!(
        "{prefix:08x}-{:06}",
        NEXT.fetch_add(1, Ordering::Relaxed) + 1
    )
}

/// The current time in UTC, as the database stores it: to the microsecond on both backends.
pub fn now() -> PrimitiveDateTime {
    field::Timestamp::now()
}

/// Answers for handlers whose success has no body.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

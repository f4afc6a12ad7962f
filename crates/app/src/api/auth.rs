//! Accounts and sessions: registration, login (argon2id password check, a random 256-bit bearer
//! token of which only the SHA-256 hash is stored), logout, `GET /me`, and [`CurrentUser`], the
//! extractor that authenticates a request by its `Authorization: Bearer` token and session expiry.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use workhub_models::{sessions, users};

use crate::rows::{NewSession, NewUser, Session, User};

use super::error::{is_unique_violation, ApiError, ErrorBody};
use super::extract::ApiJson;
use super::field::{Credential, DisplayName, Email, Password, Timestamp};
use super::pool::{with_conn, write_tx};
use super::returning::Returning;
use super::{no_content, now, AppState};

/// `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(inline)]
    pub email: Email,
    #[schema(inline)]
    pub password: Password,
    #[schema(inline)]
    pub display_name: DisplayName,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(inline)]
    pub email: Credential,
    #[schema(inline)]
    pub password: Credential,
}

/// A new session: send `Authorization: Bearer <token>` with every request.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub token: String,
    /// When the session ends.
    pub expires_at: Timestamp,
}

/// An account, as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub created_at: Timestamp,
}

impl From<User> for UserOut {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            created_at: Timestamp(user.created_at),
        }
    }
}

/// The signed-in user of a request; extracting it answers 401 without a live session.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub session_id: i64,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let hash = token_hash(token);
        state
            .pool
            .run(move |conn| {
                let found = with_conn!(conn, c => sessions::table
                    .inner_join(users::table.on(users::id.eq(sessions::user_id)))
                    .filter(sessions::token_hash.eq(&hash))
                    .select((Session::as_select(), User::as_select()))
                    .first::<(Session, User)>(c)
                    .optional())?;
                let Some((session, user)) = found else {
                    return Err(ApiError::unauthorized("the token is not valid"));
                };
                if session.expires_at <= now() {
                    with_conn!(conn, c => diesel::delete(sessions::table.find(session.id)).execute(c))?;
                    return Err(ApiError::unauthorized(
                        "the session has expired; log in again",
                    ));
                }
                Ok(CurrentUser {
                    user,
                    session_id: session.id,
                })
            })
            .await
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthorized(
            "send `Authorization: Bearer <token>`",
        ));
    }
    Ok(token)
}

/// The stored form of a token: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new bearer token: 256 random bits, hex.
fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| ApiError::internal("the system random source failed", err))?;
    Ok(hex(&bytes))
}

/// argon2id with the crate's default parameters, off the async workers.
async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|err| ApiError::internal("cannot hash a password", err))
    })
    .await
    .map_err(|err| ApiError::internal("the password task failed", err))?
}

/// Checks `password` against `stored`, or against a fixed hash when there is no such user, so the
/// answer takes as long either way.
async fn verify_password(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    Argon2::default()
                        .hash_password(b"no such user, no such password")
                        .map(|hash| hash.to_string())
                        .unwrap_or_default()
                })
                .clone()
        });
        let Ok(parsed) = PasswordHash::new(&stored) else {
            tracing::error!("a stored password hash cannot be parsed");
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
    .map_err(|err| ApiError::internal("the password task failed", err))
}

/// Create an account.
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new account", body = UserOut),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let email = body.email.0;
    let display_name = body.display_name.0;
    let password_hash = hash_password(body.password.0).await?;
    let user = state
        .pool
        .run(move |conn| {
            let new = NewUser {
                email: &email,
                display_name: &display_name,
                password_hash: &password_hash,
                created_at: now(),
            };
            write_tx!(conn, c => c.insert_user(&new).map_err(|err| {
                if is_unique_violation(&err) {
                    ApiError::conflict("email_taken", "an account with this email exists")
                } else {
                    err.into()
                }
            }))
        })
        .await?;
    tracing::info!(user_id = user.id, "account registered");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Log in: returns a bearer token.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new session", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let email = body.email.0.trim().to_lowercase();
    let user = state
        .pool
        .run(move |conn| {
            Ok(with_conn!(conn, c => users::table
                .filter(users::email.eq(&email))
                .select(User::as_select())
                .first(c)
                .optional())?)
        })
        .await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let (true, Some(user)) = (verify_password(body.password.0, stored).await?, user) else {
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    let token = new_token()?;
    let hash = token_hash(&token);
    let ttl = time::Duration::try_from(state.config.session_ttl)
        .map_err(|err| ApiError::internal("the session lifetime is out of range", err))?;
    let expires_at = now() + ttl;
    state
        .pool
        .run(move |conn| {
            let current = now();
            write_tx!(conn, c => {
                // Sweep this user's dead sessions while we are here.
                diesel::delete(
                    sessions::table
                        .filter(sessions::user_id.eq(user.id))
                        .filter(sessions::expires_at.le(current)),
                )
                .execute(c)?;
                diesel::insert_into(sessions::table)
                    .values(&NewSession {
                        user_id: user.id,
                        token_hash: &hash,
                        expires_at,
                        created_at: current,
                    })
                    .execute(c)?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(Json(TokenResponse {
        token,
        expires_at: Timestamp(expires_at),
    }))
}

/// End the session of the token sent.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token no longer works"),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn logout(State(state): State<AppState>, me: CurrentUser) -> Result<Response, ApiError> {
    let id = me.session_id;
    state
        .pool
        .run(move |conn| {
            with_conn!(conn, c => diesel::delete(sessions::table.find(id)).execute(c))?;
            Ok(())
        })
        .await?;
    Ok(no_content())
}

/// The signed-in account.
#[utoipa::path(get, path = "/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserOut),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn me(me: CurrentUser) -> Json<UserOut> {
    Json(me.user.into())
}

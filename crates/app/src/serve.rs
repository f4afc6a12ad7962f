//! `workhub serve`: the startup policy, then the HTTP service until SIGINT or SIGTERM. The API's
//! routes live in `crate::api`; this file decides whether the service may start, wires the pool and
//! the routes together, and owns `/health` and the graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use workhub_migrate_cli::context::Context;
use workhub_migrate_cli::failure::Failure;
use workhub_migrate_cli::mode::{self, Mode};
use workhub_migrate_cli::{adoption, db, drift};

use crate::api;
use crate::health::HealthCheck;
use crate::log;

pub const ADDR_VARIABLE: &str = "WORKHUB_ADDR";
const DEFAULT_ADDR: &str = "127.0.0.1:8000";

pub fn run(ctx: Context) -> Result<(), Failure> {
    let addr = bind_address()?;
    let config = api::Config::from_env().map_err(Failure::Usage)?;
    match ctx.mode {
        Mode::Development => {
            log::announce(&format!(
                "development mode ({}): applying pending migrations to {}",
                mode::VARIABLE,
                ctx.url
            ));
            db::migrate_to_head(&ctx)?;
            drift::warn_if_models_differ(&ctx);
        }
        Mode::Production => refuse_unless_at_head(&ctx)?,
    }
    let pool = api::pool::Pool::open(&ctx.url, &config.pool).map_err(Failure::failed)?;
    let state = api::AppState {
        pool,
        config: Arc::new(config),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::failed(format!("cannot start the async runtime: {err}")))?;
    runtime.block_on(listen(Arc::new(ctx), addr, state))
}

fn bind_address() -> Result<SocketAddr, Failure> {
    let text = std::env::var(ADDR_VARIABLE).unwrap_or_else(|_| DEFAULT_ADDR.to_string());
    text.parse().map_err(|_| {
        Failure::Usage(format!(
            "{ADDR_VARIABLE}=`{text}` is not an address to listen on\n  hint: use HOST:PORT, e.g. {DEFAULT_ADDR} or 0.0.0.0:8000"
        ))
    })
}

/// Production never changes the schema: it starts only on a database exactly at this binary's head.
fn refuse_unless_at_head(ctx: &Context) -> Result<(), Failure> {
    let status = ctx.status()?;
    if status.is_at_head() {
        return Ok(());
    }
    let problems = db::problems(ctx, &status);
    // Tables with no history are adopted with a stamp, not migrated: the release step would fail.
    let way_out = match adoption::note_if_unadopted(ctx, &status) {
        Some(note) => format!("\n  {note}"),
        None => {
            "\n  hint: run `workhub --migrate-only` as the release step, then start the service"
                .to_string()
        }
    };
    Err(Failure::failed(format!(
        "production mode: {} is not at this binary's head, so the service will not start:\n{}{way_out}",
        ctx.url,
        problems
            .iter()
            .map(|p| format!("    {p}\n"))
            .collect::<String>()
            .trim_end(),
    )))
}

async fn listen(ctx: Arc<Context>, addr: SocketAddr, state: api::AppState) -> Result<(), Failure> {
    let health = Router::new()
        .route("/health", get(health))
        .with_state(Arc::new(HealthCheck::new(ctx.clone())));
    let app = api::app(state, health);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|err| {
        Failure::failed(format!(
            "cannot listen on {addr}: {err}\n  hint: set {ADDR_VARIABLE} to a free address"
        ))
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    log::announce(&format!(
        "workhub listening on http://{bound} ({} mode, {})",
        ctx.mode, ctx.url
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|err| Failure::failed(format!("the server failed: {err}")))?;
    log::announce("workhub stopped");
    Ok(())
}

/// How the service stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Serving, the database at the newest migration this build has.
    Ok,
    /// Serving, with migrations pending.
    Behind,
    /// The database cannot be read.
    Unavailable,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    /// `sqlite`, `postgres` or `mysql` (MySQL and MariaDB).
    pub backend: String,
    /// The newest applied migration's version (null when unavailable or none is applied).
    pub revision: Option<String>,
    /// How many migrations are pending (null when unavailable).
    #[schema(minimum = 0)]
    pub pending: Option<u64>,
}

/// Whether the service and its database are up; no token needed.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Serving", body = Health),
        (status = 503, description = "The database cannot be read", body = Health),
    ))]
pub async fn health(State(check): State<Arc<HealthCheck>>) -> (StatusCode, Json<Health>) {
    let backend = check.context().url.dialect().to_string();
    match check.report().await {
        Ok(report) => (
            StatusCode::OK,
            Json(Health {
                status: if report.at_head {
                    HealthStatus::Ok
                } else {
                    HealthStatus::Behind
                },
                backend,
                revision: report.revision,
                pending: Some(report.pending as u64),
            }),
        ),
        Err(err) => {
            tracing::error!(error = %err, "health check cannot read the database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: HealthStatus::Unavailable,
                    backend,
                    revision: None,
                    pending: None,
                }),
            )
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    log::announce("shutting down ...");
}

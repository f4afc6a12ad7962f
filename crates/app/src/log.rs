//! The service's log: one stream (stdout) for its announcements (listening, stopping) and its
//! request log, as text or as JSON lines (`WORKHUB_LOG`), in colour only on a terminal that has not
//! asked for none (`NO_COLOR`). Migration commands log to stderr, keeping stdout for their output.

use std::io::IsTerminal;
use std::sync::OnceLock;

use workhub_migrate_cli::failure::Failure;

pub const FORMAT_VARIABLE: &str = "WORKHUB_LOG";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `2026-12-01T17:20:00.123456Z  INFO request{id=..}: request status=200 elapsed_ms=0.42`.
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `fields` (`message` among them), `span`.
    Json,
}

static FORMAT: OnceLock<Format> = OnceLock::new();

impl Format {
    /// `WORKHUB_LOG`: `text` (the default) or `json`.
    pub fn from_env() -> Result<Self, Failure> {
        match std::env::var(FORMAT_VARIABLE) {
            Err(_) => Ok(Self::Text),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(Self::Text),
                "json" => Ok(Self::Json),
                _ => Err(Failure::Usage(format!(
                    "{FORMAT_VARIABLE}=`{value}` is not a log format; nothing was started\n  \
                     hint: use text (the default) or json"
                ))),
            },
        }
    }
}

/// Where the log goes: the service's on stdout, a command's on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Installs the log for this process. `RUST_LOG` filters it (default `info`).
pub fn init(format: Format, stream: Stream) {
    let _ = FORMAT.set(format);
    let terminal = match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    };
    let colour = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    let _ = match (format, stream) {
        (Format::Text, Stream::Stdout) => builder.with_writer(std::io::stdout).try_init(),
        (Format::Text, Stream::Stderr) => builder.with_writer(std::io::stderr).try_init(),
        (Format::Json, Stream::Stdout) => builder.json().with_writer(std::io::stdout).try_init(),
        (Format::Json, Stream::Stderr) => builder.json().with_writer(std::io::stderr).try_init(),
    };
}

/// A line the service always writes, whatever `RUST_LOG` filters (where it listens, that it
/// stops), in the log's format on the log's stream.
pub fn announce(message: &str) {
    match FORMAT.get().copied().unwrap_or(Format::Text) {
        Format::Text => println!("{message}"),
        Format::Json => {
            let timestamp = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({
                    "timestamp": timestamp,
                    "level": "INFO",
                    "fields": { "message": message },
                    "target": "workhub",
                })
            );
        }
    }
}

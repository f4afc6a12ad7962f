//! `db current` and `db history`: where a database stands, for people, or as JSON for programs.

use workhub_migrations::plan::{Direction, State};
use workhub_migrations::{Status, Target};

use crate::cli::Format;
use crate::context::{Context, Source};
use crate::failure::Failure;

/// The current revision as one phrase: `20240501093000 (2024-05-01-093000_add_tasks, head)`. "head"
/// only when nothing is pending either: a database whose newest migration is applied while an older
/// one is not is not at head.
pub fn revision(status: &Status<'_>) -> String {
    match status.current() {
        None if status.unknown.is_empty() => "base (nothing applied)".to_string(),
        None => "base (only versions unknown to this binary are applied)".to_string(),
        Some(current) => {
            let head = status
                .head()
                .is_some_and(|head| head.version() == current.version())
                && status.pending().next().is_none();
            format!(
                "{} ({}{})",
                current.version(),
                current.folder(),
                if head { ", head" } else { "" }
            )
        }
    }
}

pub fn current(ctx: &Context, status: &Status<'_>, verbose: bool) -> Result<(), Failure> {
    println!("{}", revision(status));
    let pending = status.pending().count();
    let late = status.out_of_order().count();
    if late > 0 {
        println!(
            "{pending} pending, {late} of them older than the newest applied migration: \
             `{} db upgrade --allow-out-of-order` applies them",
            ctx.app.program
        );
    } else if pending > 0 {
        println!(
            "{pending} pending, up to {}",
            status.head().map_or("", |m| m.folder())
        );
    }
    let problems = super::problems(ctx, status);
    if verbose {
        println!("database: {}", ctx.url);
        println!("migrations: {}", source_name(ctx));
        if let Some(entry) = status.current().and_then(|m| {
            status
                .entries()
                .iter()
                .find(|e| e.migration.version() == m.version())
        }) {
            if let Some(row) = &entry.applied {
                println!(
                    "applied at: {}",
                    row.applied_at
                        .as_deref()
                        .unwrap_or("unknown (applied by diesel_cli)")
                );
                println!(
                    "checksum: {}",
                    row.checksum.as_deref().unwrap_or("not recorded")
                );
            }
        }
        for problem in problems.iter().filter(|p| !p.starts_with("pending")) {
            println!("{problem}");
        }
    }
    Ok(())
}

pub fn history(ctx: &Context, status: &Status<'_>, verbose: bool) -> Result<(), Failure> {
    if verbose {
        println!("database: {}\nmigrations: {}\n", ctx.url, source_name(ctx));
    }
    let current = status.current().map(|m| m.version().to_string());
    let head = status.head().map(|m| m.version().to_string());
    if status.migrations().is_empty() && status.unknown.is_empty() {
        println!(
            "No migrations yet; `{} db create NAME` writes the first.",
            ctx.app.program
        );
    }
    for entry in status.entries() {
        let m = entry.migration;
        let mark = match entry.state {
            State::Applied => "[x]",
            State::Pending => "[ ]",
            State::Modified => "[!]",
        };
        let mut tags = Vec::new();
        if current.as_deref() == Some(m.version()) {
            tags.push("current");
        }
        if head.as_deref() == Some(m.version()) {
            tags.push("head");
        }
        if entry.state == State::Modified {
            tags.push("modified since applied");
        }
        if status
            .out_of_order()
            .any(|late| late.version() == m.version())
        {
            tags.push("older than the newest applied");
        }
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!(" ({})", tags.join(", "))
        };
        println!("{mark} {}{tags}", m.folder());
        if verbose {
            let scripts = m.scripts(status.dialect());
            let mut details = vec![
                format!("version {}", m.version()),
                format!("checksum {}", &scripts.checksum()[..12]),
                if scripts.down().is_some() {
                    "reversible".into()
                } else {
                    "no down.sql".into()
                },
            ];
            if !m.run_in_transaction() {
                details.push("runs outside a transaction".into());
            }
            if let Some(row) = &entry.applied {
                details.push(match (&row.applied_at, row.stamped) {
                    (Some(at), true) => format!("stamped {at}"),
                    (Some(at), false) => {
                        format!("applied {at} in {} ms", row.duration_ms.unwrap_or(0))
                    }
                    (None, _) => "applied by diesel_cli".into(),
                });
            }
            println!("      {}", details.join("; "));
        }
    }
    for row in &status.unknown {
        println!(
            "[?] {} (applied, unknown to this binary)",
            row.folder.as_deref().unwrap_or(&row.version)
        );
    }
    for row in &status.squashed {
        println!(
            "[-] {} (applied, older than every migration: ignored)",
            row.folder.as_deref().unwrap_or(&row.version)
        );
    }
    Ok(())
}

/// Warns, on stderr, about applied versions older than every migration: a squashed history's rows,
/// which diesel ignores and so does workhub.
pub fn warn_squashed(status: &Status<'_>) {
    if status.squashed.is_empty() {
        return;
    }
    let versions: Vec<&str> = status
        .squashed
        .iter()
        .map(|row| row.folder.as_deref().unwrap_or(&row.version))
        .collect();
    let oldest = status.migrations().iter().map(|m| m.folder()).min();
    eprintln!(
        "warning: {} applied version{} older than the oldest migration ({}) and ignored, as diesel \
         ignores them (their folders were deleted, as squashing a history does): {}",
        versions.len(),
        super::plural(versions.len()),
        oldest.unwrap_or("none"),
        versions.join(", ")
    );
}

/// The versioned name of the JSON shape `db check --format json` writes.
pub const CHECK_FORMAT: &str = "workhub-check/1";

/// The versioned name of the JSON shape [`plan`] writes.
pub const PLAN_FORMAT: &str = "workhub-plan/1";

/// `db upgrade --plan` / `db downgrade --plan`: what the command would run now, and nothing run.
pub fn plan(
    ctx: &Context,
    direction: Direction,
    target: &Target,
    format: Format,
) -> Result<(), Failure> {
    let status = ctx.status()?;
    let plan = match direction {
        Direction::Up => status.plan_upgrade(target, ctx.allow_out_of_order, false),
        Direction::Down => status.plan_downgrade(target),
    }
    .map_err(|err| ctx.failure(err))?;
    if format == Format::Json {
        let steps: Vec<serde_json::Value> = plan
            .steps
            .iter()
            .map(|m| {
                serde_json::json!({
                    "folder": m.folder(),
                    "version": m.version(),
                    "in_transaction": m.run_in_transaction(),
                    "reversible": m.scripts(status.dialect()).down().is_some(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "format": PLAN_FORMAT,
                "database": ctx.url.to_string(),
                "direction": match direction {
                    Direction::Up => "upgrade",
                    Direction::Down => "downgrade",
                },
                "target": target.to_string(),
                "current": status.current().map(|m| m.folder()),
                "steps": steps,
            })
        );
        return Ok(());
    }
    if plan.steps.is_empty() {
        println!("Nothing to run: {} is at {}.", ctx.url, revision(&status));
        return Ok(());
    }
    println!(
        "{} would {} {} migration{} (nothing was run):",
        ctx.url,
        match direction {
            Direction::Up => "apply",
            Direction::Down => "revert",
        },
        plan.steps.len(),
        super::plural(plan.steps.len())
    );
    for m in &plan.steps {
        println!(
            "  {}{}",
            m.folder(),
            if m.run_in_transaction() {
                ""
            } else {
                " (outside a transaction)"
            }
        );
    }
    Ok(())
}

/// The versioned name of the JSON shape [`json`] writes; a change that removes or renames a field
/// gets a new number.
pub const STATUS_FORMAT: &str = "workhub-status/1";

/// `db current --format json` (and with `migrations`, `db history --format json`): one JSON object.
pub fn json(ctx: &Context, status: &Status<'_>, migrations: bool) -> Result<(), Failure> {
    use serde_json::{json, Value};
    let named = |m: Option<&workhub_migrations::Migration>| {
        m.map_or(
            Value::Null,
            |m| json!({"version": m.version(), "folder": m.folder()}),
        )
    };
    let late: Vec<&str> = status.out_of_order().map(|m| m.version()).collect();
    let mut report = json!({
        "format": STATUS_FORMAT,
        "database": ctx.url.to_string(),
        "dialect": status.dialect().to_string(),
        "migrations_source": source_name(ctx),
        "current": named(status.current()),
        "head": named(status.head()),
        "at_head": status.is_at_head(),
        "pending": status.pending().count(),
        "modified": status.modified().count(),
        "problems": super::problems(ctx, status),
        "unknown": status.unknown.iter().map(|row| json!({
            "version": row.version, "folder": row.folder,
        })).collect::<Vec<_>>(),
        "squashed": status.squashed.iter().map(|row| json!({
            "version": row.version, "folder": row.folder,
        })).collect::<Vec<_>>(),
    });
    if migrations {
        let current = status.current().map(|m| m.version());
        let head = status.head().map(|m| m.version());
        let entries: Vec<Value> = status
            .entries()
            .iter()
            .map(|entry| {
                let m = entry.migration;
                let scripts = m.scripts(status.dialect());
                let applied = entry.applied.as_ref();
                json!({
                    "folder": m.folder(),
                    "version": m.version(),
                    "state": match entry.state {
                        State::Applied => "applied",
                        State::Pending => "pending",
                        State::Modified => "modified",
                    },
                    "current": current == Some(m.version()),
                    "head": head == Some(m.version()),
                    "out_of_order": late.contains(&m.version()),
                    "checksum": scripts.checksum(),
                    "recorded_checksum": applied.and_then(|row| row.checksum.as_deref()),
                    "reversible": scripts.down().is_some(),
                    "in_transaction": m.run_in_transaction(),
                    "applied_at": applied.and_then(|row| row.applied_at.as_deref()),
                    "duration_ms": applied.and_then(|row| row.duration_ms),
                    "stamped": applied.is_some_and(|row| row.stamped),
                })
            })
            .collect();
        report["migrations"] = Value::Array(entries);
    }
    println!("{report}");
    Ok(())
}

fn source_name(ctx: &Context) -> String {
    match &ctx.source {
        Source::Embedded => format!("{} embedded in this binary", ctx.migrations.len()),
        Source::Directory(dir) => format!("{} in {}", ctx.migrations.len(), dir.display()),
    }
}

//! `db lint [MIGRATION ...]`: the engine's lint over this run's migrations, as lines for people (in
//! colour on a terminal) or JSON for programs; an error fails the command (exit 1). `db check` lints
//! the migrations the database has not applied yet (and, with `--lint-since`, every one after a
//! revision) through [`for_check`].

use std::io::IsTerminal;
use std::path::Path;

use workhub_migrations::lint::{self, Finding, Severity};
use workhub_migrations::plan::{State, Status};
use workhub_migrations::{plan, Migration};

use crate::cli::Format;
use crate::context::{Context, Source};
use crate::failure::Failure;

/// The versioned name of the JSON shape `db lint --format json` writes.
pub const LINT_FORMAT: &str = "workhub-lint/1";

pub fn run(ctx: &Context, named: &[String], format: Format) -> Result<(), Failure> {
    let migrations: &[Migration] = &ctx.migrations;
    let mut chosen: Vec<usize> = if named.is_empty() {
        (0..migrations.len()).collect()
    } else {
        named
            .iter()
            .map(|name| {
                // A path names its folder.
                let folder = Path::new(name.trim_end_matches('/'))
                    .file_name()
                    .map_or(name.as_str(), |f| f.to_str().unwrap_or(name));
                plan::resolve(migrations, folder).map_err(|err| ctx.failure(err))
            })
            .collect::<Result<_, _>>()?
    };
    chosen.sort_unstable();
    chosen.dedup();
    let report = lint::history(migrations, &chosen);
    for note in &report.notes {
        eprintln!("{note}");
    }
    let findings = report.findings;
    let errors = findings
        .iter()
        .filter(|f| f.rule.severity() == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let dir = match &ctx.source {
        Source::Directory(dir) => dir.display().to_string(),
        Source::Embedded => "migrations".to_string(),
    };
    let path = |f: &Finding| format!("{dir}/{}/{}", f.folder, f.file);
    match format {
        Format::Json => {
            let items: Vec<serde_json::Value> = findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "rule": f.rule.id(),
                        "severity": f.rule.severity().as_str(),
                        "migration": f.folder,
                        "path": path(f),
                        "line": f.line,
                        "message": f.message,
                        "why": f.rule.why(),
                        "fix": f.rule.fix(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "format": LINT_FORMAT,
                    "migrations": chosen.len(),
                    "errors": errors,
                    "warnings": warnings,
                    "findings": items,
                })
            );
        }
        Format::Text => {
            let colour = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            for f in &findings {
                let severity = f.rule.severity().as_str();
                let shown = match (colour, f.rule.severity()) {
                    (true, Severity::Error) => format!("\x1b[1;31m{severity}\x1b[0m"),
                    (true, Severity::Warning) => format!("\x1b[1;33m{severity}\x1b[0m"),
                    (false, _) => severity.to_string(),
                };
                println!(
                    "{}:{}: {shown}[{}]: {}\n  why: {}\n  fix: {}",
                    path(f),
                    f.line,
                    f.rule.id(),
                    f.message,
                    f.rule.why(),
                    f.rule.fix()
                );
            }
        }
    }
    let summary = format!(
        "{errors} error{}, {warnings} warning{} in {} migration{}",
        super::plural(errors),
        super::plural(warnings),
        chosen.len(),
        super::plural(chosen.len())
    );
    if errors > 0 {
        return Err(Failure::failed(format!(
            "lint failed: {summary} (nothing was changed)\n  hint: write each the safe way its `fix:` \
             says, or silence a rule where it does not apply with `-- workhub-lint: allow RULE REASON` \
             in the script"
        )));
    }
    eprintln!("lint: {summary}");
    Ok(())
}

/// What `db check` reports of lint: one problem line per error in the migrations `status` has
/// pending and (with `since`) in every migration after that revision, and notes.
pub fn for_check(
    ctx: &Context,
    status: &Status<'_>,
    since: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), Failure> {
    let migrations: &[Migration] = &ctx.migrations;
    let after = match since {
        Some(revision) => plan::resolve(migrations, revision).map_err(|err| ctx.failure(err))? + 1,
        None => migrations.len(),
    };
    let chosen: Vec<usize> = status
        .entries()
        .iter()
        .enumerate()
        .filter(|(i, entry)| *i >= after || entry.state == State::Pending)
        .map(|(i, _)| i)
        .collect();
    if chosen.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let report = lint::history(migrations, &chosen);
    // A diverged history is reported by check itself, with its own hint.
    let findings: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule != lint::Rule::NonLinearHistory)
        .collect();
    let problems = findings
        .iter()
        .filter(|f| f.rule.severity() == Severity::Error)
        .map(|f| {
            format!(
                "lint: {}/{}:{}: {}: {} (fix: `{} db lint {}`)",
                f.folder,
                f.file,
                f.line,
                f.rule.id(),
                f.message,
                ctx.app.program,
                f.folder
            )
        })
        .collect();
    let warnings = findings
        .iter()
        .filter(|f| f.rule.severity() == Severity::Warning)
        .count();
    let mut notes = report.notes;
    if warnings > 0 {
        notes.push(format!(
            "note: lint found {warnings} warning{} in the migrations checked (`{} db lint` lists them)",
            super::plural(warnings),
            ctx.app.program
        ));
    }
    Ok((problems, notes))
}

//! `PROGRAM db ...` and `PROGRAM --migrate-only`: the migration workflow on one database.

mod create;
mod diff;
mod lint;
mod offline;
mod rebase;
mod report;

pub use rebase::hint as rebase_hint;

use std::time::Instant;

use workhub_migrations::apply::FileLock;
use workhub_migrations::plan::{Direction, State};
use workhub_migrations::{DatabaseUrl, Progress, Status, Target};

use crate::cli::{DbCommand, Format, Range};
use crate::context::Context;
use crate::failure::Failure;
use crate::mode::Mode;
use crate::progress::{millis, Report};

pub fn run(ctx: &Context, command: DbCommand) -> Result<(), Failure> {
    match command {
        DbCommand::Upgrade {
            target, offline, ..
        } if offline.sql => offline::print(ctx, Direction::Up, &target, offline.dialect),
        DbCommand::Downgrade {
            target, offline, ..
        } if offline.sql => offline::print(ctx, Direction::Down, &target, offline.dialect),
        DbCommand::Upgrade {
            target, offline, ..
        } if offline.plan => report::plan(ctx, Direction::Up, &online(target)?, offline.format),
        DbCommand::Downgrade {
            target, offline, ..
        } if offline.plan => report::plan(ctx, Direction::Down, &online(target)?, offline.format),
        DbCommand::Upgrade { target, .. } => upgrade(ctx, &online(target)?),
        DbCommand::Downgrade { target, .. } => downgrade(ctx, &online(target)?),
        DbCommand::Current {
            format: Format::Json,
            ..
        } => report::json(ctx, &ctx.status()?, false),
        DbCommand::History {
            format: Format::Json,
            ..
        } => report::json(ctx, &ctx.status()?, true),
        DbCommand::Current { verbose, .. } => {
            let status = ctx.status()?;
            report::current(ctx, &status, verbose)?;
            print_if_unfinished(ctx)?;
            print_if_unadopted(ctx, &status);
            Ok(())
        }
        DbCommand::History { verbose, .. } => {
            let status = ctx.status()?;
            report::history(ctx, &status, verbose)?;
            print_if_unfinished(ctx)?;
            print_if_unadopted(ctx, &status);
            Ok(())
        }
        DbCommand::Stamp {
            target,
            purge,
            force,
        } => stamp(ctx, &target, purge, force),
        DbCommand::Check { format, lint_since } => check(ctx, format, lint_since.as_deref()),
        DbCommand::Repair { force } => repair(ctx, force),
        DbCommand::Diff { target, format } => diff::run(ctx, target.as_ref(), format),
        DbCommand::Lint { migrations, format } => lint::run(ctx, &migrations, format),
        DbCommand::Create {
            name,
            empty,
            postgres_lock_timeout,
        } => {
            let name = (!name.is_empty()).then(|| name.join(" "));
            create::run(ctx, name, empty, &postgres_lock_timeout)
        }
        DbCommand::Reset => reset(ctx),
        DbCommand::Rebase { onto } => rebase::run(ctx, onto.as_deref()),
    }
}

/// The target of a command that asks the database where it stands: `FROM:` is for `--sql` alone.
fn online(range: Range) -> Result<Target, Failure> {
    match range.from {
        None => Ok(range.to),
        Some(from) => Err(Failure::Usage(format!(
            "`{from}:{}` names where the database stands, which only --sql takes (it cannot ask \
             the database); nothing was run\n  hint: drop `{from}:`, or add --sql to print the SQL",
            range.to
        ))),
    }
}

/// `workhub --migrate-only` and the development start: an upgrade to head. With nothing to do it
/// confirms that under the lock (waiting out a migrator still running) and writes nothing.
pub fn migrate_to_head(ctx: &Context) -> Result<(), Failure> {
    upgrade(ctx, &Target::Head)
}

/// A migration a run on MySQL left unfinished is reported below the history, with the ways past it.
fn print_if_unfinished(ctx: &Context) -> Result<(), Failure> {
    if let Some(run) = ctx.unfinished()? {
        println!(
            "UNFINISHED: {run}\n  hint: {}",
            crate::hint::unfinished_hint(&run, ctx.app.program)
        );
    }
    Ok(())
}

/// A database with tables and no recorded migration gets a note below the report saying so.
fn print_if_unadopted(ctx: &Context, status: &workhub_migrations::Status<'_>) {
    if let Some(note) = crate::adoption::note_if_unadopted(ctx, status) {
        println!("{note}");
    }
}

pub fn upgrade(ctx: &Context, target: &Target) -> Result<(), Failure> {
    let mut db = ctx.open()?;
    let started = Instant::now();
    let outcome = ctx
        .migrator()
        .upgrade(db.backend(), target, &mut Report::new())
        .map_err(|err| with_adoption_hint(ctx, ctx.failure(err)))?;
    // The whole run as the user waited for it: the lock, the history, every commit.
    let took = started.elapsed();
    report::warn_squashed(&outcome.status);
    let at = report::revision(&outcome.status);
    if outcome.ran.is_empty() {
        println!("Nothing to apply: {} is at {at}.", ctx.url);
    } else {
        println!(
            "Applied {} migration{} to {} in {}; now at {at}.",
            outcome.ran.len(),
            plural(outcome.ran.len()),
            ctx.url,
            millis(took)
        );
    }
    Ok(())
}

/// An upgrade that failed on a database whose tables were made without these migrations (`table
/// "users" already exists`): the failure with the way to adopt it. Only a failure of the run itself
/// (exit code 1) is looked into, and only when the database records nothing and has tables the
/// migrations create.
fn with_adoption_hint(ctx: &Context, failure: Failure) -> Failure {
    if failure.exit_code() != 1 {
        return failure;
    }
    let assessed = ctx.open().and_then(|mut db| {
        let status = ctx
            .migrator()
            .status(db.backend())
            .map_err(|err| ctx.failure(err))?;
        crate::adoption::assess(ctx, &mut db, &status)
    });
    match assessed {
        Ok(Some(unadopted)) if !unadopted.clashing.is_empty() => {
            // On MySQL the failed run is recorded, and a stamp refuses until it is forgotten.
            let first = match ctx.unfinished() {
                Ok(Some(run)) => format!(
                    "`{} db repair` forgets the unfinished run of {} first; then ",
                    ctx.app.program, run.folder
                ),
                _ => String::new(),
            };
            failure.and_hint(&format!(
                "{}; {first}{}",
                unadopted.describe(&ctx.url),
                unadopted.hint(ctx.app.program)
            ))
        }
        _ => failure,
    }
}

fn downgrade(ctx: &Context, target: &Target) -> Result<(), Failure> {
    let mut db = ctx.open()?;
    let outcome = ctx
        .migrator()
        .downgrade(db.backend(), target, &mut Report::new())
        .map_err(|err| ctx.failure(err))?;
    let at = report::revision(&outcome.status);
    if outcome.ran.is_empty() {
        println!("Nothing to revert: {} is at {at}.", ctx.url);
        print_if_unadopted(ctx, &outcome.status);
    } else {
        println!(
            "Reverted {} migration{} on {}; now at {at}.",
            outcome.ran.len(),
            plural(outcome.ran.len()),
            ctx.url
        );
    }
    Ok(())
}

fn stamp(ctx: &Context, target: &Target, purge: bool, force: bool) -> Result<(), Failure> {
    let mut db = ctx.open()?;
    let migrator = ctx.migrator();
    if !force {
        crate::drift::refuse_stamp_over_other_schema(ctx, &mut db, target)?;
    }
    let stamped = migrator
        .stamp(db.backend(), target, purge, &mut Report::new())
        .map_err(|err| ctx.failure(err))?;
    for folder in &stamped.recorded {
        println!("recorded {folder} as applied (no SQL run)");
    }
    for folder in &stamped.removed {
        println!("removed {folder} from the history (no SQL run)");
    }
    if stamped.recorded.is_empty() && stamped.removed.is_empty() {
        // Nothing changed, so the file may not even exist: report without reading it again.
        println!("Nothing to stamp: {} already records {target}.", ctx.url);
        return Ok(());
    }
    let status = migrator
        .status(db.backend())
        .map_err(|err| ctx.failure(err))?;
    println!("Stamped {} at {}.", ctx.url, report::revision(&status));
    Ok(())
}

fn repair(ctx: &Context, force: bool) -> Result<(), Failure> {
    let mut db = ctx.open()?;
    if !force {
        crate::drift::refuse_repair_over_drift(ctx, &mut db)?;
    }
    let (repaired, forgotten) = ctx
        .migrator()
        .repair_all(db.backend(), &mut Report::new())
        .map_err(|err| ctx.failure(err))?;
    if let Some(run) = &forgotten {
        println!(
            "forgot the unfinished {} run of {} ({} of its {} statements had taken effect): {}",
            run.direction,
            run.folder,
            run.took_effect(),
            run.statements,
            match run.direction {
                Direction::Up => "it is pending again and runs from its first statement",
                Direction::Down => "it stays applied",
            }
        );
    }
    for folder in &repaired {
        println!("recorded the current checksum of {folder}");
    }
    if repaired.is_empty() && forgotten.is_none() {
        println!("Nothing to repair: every applied migration matches its recorded checksum.");
    }
    Ok(())
}

/// Everything that keeps the database from being exactly at head, one line per migration at fault.
pub fn problems(ctx: &Context, status: &Status<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    for row in &status.unknown {
        problems.push(format!(
            "applied but unknown to this binary: {}",
            row.folder.as_deref().unwrap_or(&row.version)
        ));
    }
    if !status.unknown.is_empty() {
        problems.push(format!(
            "  ({})",
            ctx.unknown_hint(status.unknown_newer_than_head())
        ));
    }
    let late: Vec<&str> = status.out_of_order().map(|m| m.version()).collect();
    for entry in status.entries() {
        let folder = entry.migration.folder();
        match entry.state {
            State::Modified => problems.push(format!("modified since applied: {folder}")),
            State::Pending if late.contains(&entry.migration.version()) => problems.push(format!(
                "pending, older than the newest applied migration (needs --allow-out-of-order): \
                 {folder}"
            )),
            State::Pending => problems.push(format!("pending: {folder}")),
            State::Applied => {}
        }
    }
    problems
}

/// The commands that fix what [`problems`] lists, one hint each.
fn remedies(program: &str, status: &Status<'_>) -> Vec<String> {
    let mut remedies = Vec::new();
    let late = status.out_of_order().count();
    if status.unknown.is_empty() && status.modified().next().is_none() {
        if late > 0 {
            remedies.push(format!(
                "check that the older pending migrations do not conflict with the newer applied \
                 ones, then `{program} db upgrade --allow-out-of-order` applies them"
            ));
        } else if status.pending().next().is_some() {
            remedies.push(format!(
                "`{program} db upgrade` applies the pending migrations"
            ));
        }
    }
    if status.modified().next().is_some() {
        remedies.push(format!(
            "restore modified migrations from version control, or `{program} db repair` records a \
             deliberate edit"
        ));
    }
    remedies
}

fn check(ctx: &Context, format: Format, lint_since: Option<&str>) -> Result<(), Failure> {
    let status = ctx.status()?;
    report::warn_squashed(&status);
    let mut problems = problems(ctx, &status);
    let unfinished = ctx.unfinished()?;
    if let Some(run) = &unfinished {
        problems.insert(0, format!("unfinished: {run}"));
    }
    // A diverged history cannot be replayed to compare with the models (its rebuild guards fail).
    let rebase::Problems {
        lines: lineage,
        hints,
        diverged,
    } = rebase::problems(ctx)?;
    let drift = if diverged {
        None
    } else {
        Some(crate::drift::for_check(ctx, &status)?)
    };
    let (linted, lint_notes) = lint::for_check(ctx, &status, lint_since)?;
    let (changes, drift_hints, unadopted, compared, mut notes) = match drift {
        Some(drift) => (
            drift.problems,
            drift.hints,
            drift.unadopted,
            drift.compared,
            drift.notes,
        ),
        None => (
            Vec::new(),
            Vec::new(),
            false,
            "nothing else was compared",
            Vec::new(),
        ),
    };
    notes.extend(lint_notes);
    let counted = problems.iter().filter(|p| !p.starts_with("  ")).count()
        + lineage.len()
        + changes.len()
        + linted.len();
    // An unadopted database's migrations are pending only in name: they are to be stamped.
    // An unfinished migration is the way forward's first step: the others wait for it.
    let mut remedies = if unadopted || unfinished.is_some() {
        Vec::new()
    } else {
        remedies(ctx.app.program, &status)
    };
    if let Some(run) = &unfinished {
        remedies.insert(0, crate::hint::unfinished_hint(run, ctx.app.program));
    }
    remedies.extend(hints);
    remedies.extend(drift_hints);
    problems.extend(lineage);
    problems.extend(changes);
    if !linted.is_empty() {
        remedies.push(format!(
            "`{} db lint MIGRATION` explains each lint error and its safe form; write it that way, \
             or silence a rule that does not apply with `-- workhub-lint: allow RULE REASON`",
            ctx.app.program
        ));
    }
    problems.extend(linted);
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "format": report::CHECK_FORMAT,
                "database": ctx.url.to_string(),
                "ok": problems.is_empty(),
                "revision": report::revision(&status),
                "compared": compared,
                "problems": problems,
                "hints": remedies,
                "notes": notes,
            })
        ),
        Format::Text => {
            for line in notes.iter().chain(&problems) {
                println!("{line}");
            }
            if problems.is_empty() {
                println!(
                    "OK: {} is at head: {}; {}.",
                    ctx.url,
                    report::revision(&status),
                    compared
                );
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "check failed: {counted} problem{} on {} (nothing was changed){}",
        plural(counted),
        ctx.url,
        remedies
            .iter()
            .map(|r| format!("\n  hint: {r}"))
            .collect::<String>()
    )))
}

fn reset(ctx: &Context) -> Result<(), Failure> {
    if ctx.mode == Mode::Production {
        return Err(Failure::failed(format!(
            "db reset deletes the database and is refused in production (WORKHUB_ENV=production)\n  \
             hint: run it on a development database, or revert with `{} db downgrade base`",
            ctx.app.program
        )));
    }
    let path = match &ctx.url {
        DatabaseUrl::Sqlite(path) if !ctx.url.is_memory() => path.clone(),
        _ => {
            return Err(Failure::failed(format!(
                "db reset only deletes a SQLite file, and {} is not one\n  \
                 hint: use `{program} db downgrade base` then `{program} db upgrade`",
                ctx.url,
                program = ctx.app.program
            )))
        }
    };
    // Through a symlink, the file it names is the database: deleting the link would leave the data.
    let path = match std::fs::canonicalize(&path) {
        Ok(real) => real,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => path,
        Err(err) => {
            return Err(Failure::failed(format!(
                "cannot reach {}: {err}
  nothing was deleted
  hint: check --database-url /                  DATABASE_URL and the permissions of its directory",
                path.display()
            )))
        }
    };
    // Hold the migration lock while the file goes, so no other migrator is halfway through it.
    let lock = if path.exists() {
        let lock = FileLock::acquire(&path, ctx.lock_timeout, &mut |holder| {
            Report::new().waiting_for_lock(holder)
        })
        .map_err(|err| ctx.failure(err))?;
        Some(lock)
    } else {
        None
    };
    drop_sqlite_files(&path)?;
    drop(lock);
    println!("Deleted {}.", path.display());
    upgrade(ctx, &Target::Head)
}

fn drop_sqlite_files(path: &std::path::Path) -> Result<(), Failure> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(Failure::failed(format!(
                    "cannot delete {}: {err}\n  hint: stop whatever has it open (the service?) and retry",
                    std::path::Path::new(&name).display()
                )))
            }
        }
    }
    Ok(())
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

//! `workhub db ...` and `workhub --migrate-only`: the migration workflow on one database.

mod create;
mod report;

use std::time::Duration;

use workhub_migrations::apply::FileLock;
use workhub_migrations::plan::State;
use workhub_migrations::{Database, DatabaseUrl, Progress, Status, Target};

use crate::cli::DbCommand;
use crate::context::Context;
use crate::failure::Failure;
use crate::mode::Mode;
use crate::progress::{millis, Report};

pub fn run(ctx: &Context, command: DbCommand) -> Result<(), Failure> {
    match command {
        DbCommand::Upgrade { target } => upgrade(ctx, &target),
        DbCommand::Downgrade { target } => downgrade(ctx, &target),
        DbCommand::Current { verbose } => report::current(ctx, &ctx.status()?, verbose),
        DbCommand::History { verbose } => report::history(ctx, &ctx.status()?, verbose),
        DbCommand::Stamp {
            target,
            purge,
            force,
        } => stamp(ctx, &target, purge, force),
        DbCommand::Check => check(ctx),
        DbCommand::Repair => repair(ctx),
        DbCommand::Create { name, empty } => create::run(ctx, name, empty),
        DbCommand::Reset => reset(ctx),
    }
}

/// `workhub --migrate-only` and the development start: an upgrade to head that first asks the head
/// fingerprint, so that on a database already at head no history (and, on SQLite, no schema) is read.
pub fn migrate_to_head(ctx: &Context) -> Result<(), Failure> {
    let mut db = ctx.open()?;
    // The fingerprint is a cache: a header that cannot be read sends us to the history, which says
    // what is wrong with the database if anything is.
    let proven = ctx
        .migrator()
        .fingerprint_proves_head(db.backend())
        .unwrap_or_else(|err| {
            tracing::debug!(error = %err, "cannot read the head fingerprint");
            false
        });
    if proven {
        tracing::debug!("the head fingerprint proves head; the history was not read");
        println!(
            "Nothing to apply: {} is at {}.",
            ctx.url,
            report::head_revision(&ctx.migrations)
        );
        return Ok(());
    }
    upgrade_open(ctx, db, &Target::Head)
}

/// `workhub db upgrade`: always reads the whole history, so it also sees what the fingerprint cannot.
pub fn upgrade(ctx: &Context, target: &Target) -> Result<(), Failure> {
    upgrade_open(ctx, ctx.open()?, target)
}

fn upgrade_open(ctx: &Context, mut db: Database, target: &Target) -> Result<(), Failure> {
    let migrator = ctx.migrator();
    let ran = migrator.upgrade(db.backend(), target, &mut Report::new())?;
    let status = migrator.status(db.backend())?;
    let at = report::revision(&status);
    if ran.is_empty() {
        println!("Nothing to apply: {} is at {at}.", ctx.url);
    } else {
        let took: Duration = ran.iter().map(|r| r.took).sum();
        println!(
            "Applied {} migration{} to {} in {}; now at {at}.",
            ran.len(),
            plural(ran.len()),
            ctx.url,
            millis(took)
        );
    }
    Ok(())
}

fn downgrade(ctx: &Context, target: &Target) -> Result<(), Failure> {
    let mut db = ctx.open()?;
    let migrator = ctx.migrator();
    let ran = migrator.downgrade(db.backend(), target, &mut Report::new())?;
    let status = migrator.status(db.backend())?;
    let at = report::revision(&status);
    if ran.is_empty() {
        println!("Nothing to revert: {} is at {at}.", ctx.url);
    } else {
        println!(
            "Reverted {} migration{} on {}; now at {at}.",
            ran.len(),
            plural(ran.len()),
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
    let stamped = migrator.stamp(db.backend(), target, purge, &mut Report::new())?;
    for folder in &stamped.recorded {
        println!("recorded {folder} as applied (no SQL run)");
    }
    for folder in &stamped.removed {
        println!("removed {folder} from the history (no SQL run)");
    }
    let status = migrator.status(db.backend())?;
    println!("Stamped {} at {}.", ctx.url, report::revision(&status));
    Ok(())
}

fn repair(ctx: &Context) -> Result<(), Failure> {
    let mut db = ctx.open()?;
    crate::drift::refuse_repair_over_drift(ctx, &mut db)?;
    let repaired = ctx.migrator().repair(db.backend(), &mut Report::new())?;
    for folder in &repaired {
        println!("recorded the current checksum of {folder}");
    }
    if repaired.is_empty() {
        println!("Nothing to repair: every applied migration matches its recorded checksum.");
    }
    Ok(())
}

/// Said when the head fingerprint claims head but the history, read in full, does not.
pub const MISLEADING_FINGERPRINT: &str =
    "the head fingerprint (PRAGMA user_version) claims head, but the history says otherwise: it was \
     changed outside workhub without a schema change, so `workhub --migrate-only` would do nothing; \
     `workhub db upgrade` reads the whole history, applies what is missing and stores a true \
     fingerprint (what else is listed needs its own remedy first)";

/// Everything that keeps the database from being exactly at head, one line each; `misleads` when the
/// head fingerprint claims head all the same.
pub fn problems(status: &Status<'_>, misleads: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if misleads {
        problems.push(MISLEADING_FINGERPRINT.to_string());
    }
    for row in &status.unknown {
        problems.push(format!(
            "applied but unknown to this binary: {}",
            row.folder.as_deref().unwrap_or(&row.version)
        ));
    }
    for entry in status.entries() {
        match entry.state {
            State::Modified => problems.push(format!(
                "modified since applied: {}",
                entry.migration.folder()
            )),
            State::Pending => problems.push(format!("pending: {}", entry.migration.folder())),
            State::Applied => {}
        }
    }
    let late: Vec<_> = status
        .out_of_order()
        .map(|m| m.folder().to_string())
        .collect();
    if !late.is_empty() {
        problems.push(format!(
            "pending migrations older than the newest applied one (need --allow-out-of-order): {}",
            late.join(", ")
        ));
    }
    problems
}

fn check(ctx: &Context) -> Result<(), Failure> {
    let status = ctx.status()?;
    let mut problems = problems(&status, ctx.fingerprint_misleads(&status)?);
    let drift = crate::drift::for_check(ctx, &status)?;
    problems.extend(drift.problems);
    if problems.is_empty() {
        println!(
            "OK: {} is at head: {}; {}.",
            ctx.url,
            report::revision(&status),
            drift.compared
        );
        return Ok(());
    }
    for problem in &problems {
        println!("{problem}");
    }
    Err(Failure::failed(format!(
        "check failed: {} problem{} on {}\n  hint: `workhub db upgrade` applies pending migrations; \
         `workhub db create NAME` captures model changes",
        problems.len(),
        plural(problems.len()),
        ctx.url
    )))
}

fn reset(ctx: &Context) -> Result<(), Failure> {
    if ctx.mode == Mode::Production {
        return Err(Failure::failed(
            "db reset deletes the database and is refused in production (WORKHUB_ENV=production)\n  \
             hint: run it on a development database, or revert with `workhub db downgrade base`",
        ));
    }
    let path = match &ctx.url {
        DatabaseUrl::Sqlite(path) if !ctx.url.is_memory() => path.clone(),
        _ => {
            return Err(Failure::failed(format!(
                "db reset only deletes a SQLite file, and {} is not one\n  \
                 hint: use `workhub db downgrade base` then `workhub db upgrade`",
                ctx.url
            )))
        }
    };
    // Hold the migration lock while the file goes, so no other migrator is halfway through it.
    let lock = FileLock::acquire(&path, ctx.lock_timeout, &mut |holder| {
        Report::new().waiting_for_lock(holder)
    })?;
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

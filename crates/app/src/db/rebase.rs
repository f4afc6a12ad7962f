//! `db rebase`: re-creates the migrations a merge put after another branch's, on top of them, and
//! the lineage checks `db check` runs. The engine decides (`schema::rebase`); this module words it.

use std::path::{Path, PathBuf};

use workhub_migrations::schema::assumed;
use workhub_migrations::schema::rebase::{self, Rebase};
use workhub_migrations::source::{self, lineage};

use crate::context::{Context, Source};
use crate::failure::Failure;

/// The way out of a diverged history, said by every refusal.
pub const HINT: &str = "run `workhub db rebase` (`just migrate-rebase`): it re-creates the later \
     branch's migrations on top of the newest one, from the models; review and commit them";

/// A refusal to run a diverged history, worded for the user.
pub fn refusal(err: &workhub_migrations::MigrateError) -> String {
    format!("{err}\n  hint: {HINT}")
}

/// One line per lineage problem: diverged migrations, and a head file that does not name the newest.
pub fn problems(ctx: &Context) -> Result<Vec<String>, Failure> {
    let mut lines: Vec<String> = lineage::divergences(&ctx.migrations)
        .iter()
        .map(|d| format!("diverged: {d} (fix: `workhub db rebase`)"))
        .collect();
    // A diverged history is not replayed (its rebuild guards fail); rebase first.
    if lines.is_empty() {
        lines.extend(assumed::stale(&ctx.migrations)?.map(|stale| {
            format!(
                "{stale} (fix: restore the earlier migration, or delete this one's folder and \
                 `workhub db create` it again)"
            )
        }));
    }
    let head = match &ctx.source {
        Source::Directory(dir) => lineage::read_head(dir)?,
        Source::Embedded => crate::embedded::HEAD.map(str::to_string),
    };
    if let Some(problem) = head
        .as_deref()
        .and_then(|text| lineage::head_problem(text, &ctx.migrations))
    {
        lines.push(format!("{problem} (fix: `workhub db rebase`)"));
    }
    Ok(lines)
}

pub fn run(ctx: &Context) -> Result<(), Failure> {
    let dir = super::create::migrations_dir(ctx);
    let migrations = source::scan(&dir)?.migrations;
    let models = workhub_models::schema();
    let refused = |why: String| {
        Failure::failed(format!(
            "cannot rebase the migrations in {}: {why}\n  nothing was written; resolve it by hand (edit \
             the later migration, or delete it and `workhub db create` it again), then run `workhub db check`",
            dir.display()
        ))
    };
    let head = lineage::read_head(&dir)?;
    let Some(rebase) =
        rebase::rebase(&migrations, &models).map_err(|err| refused(err.to_string()))?
    else {
        let newest = migrations.last().map(|m| m.folder().to_string());
        let problem = head
            .as_deref()
            .and_then(|t| lineage::head_problem(t, &migrations));
        if let (Some(problem), Some(newest)) = (problem, newest) {
            super::create::write_head(&dir, &newest)?;
            println!("{problem}: now names {newest}.");
        }
        println!(
            "Nothing to rebase: every migration in {} follows the one before it.",
            dir.display()
        );
        return Ok(());
    };
    write(&dir, &rebase)?;
    if let Some(newest) = migrations.last() {
        super::create::write_head(&dir, newest.folder())?;
    }
    report(&rebase);
    Ok(())
}

/// Writes every re-created file beside its original first, then moves them all into place, so a
/// write that fails leaves the folders as they were.
fn write(dir: &Path, rebase: &Rebase) -> Result<(), Failure> {
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let failed = |path: &Path, err: std::io::Error| {
        Failure::failed(format!("cannot write {}: {err}", path.display()))
    };
    for rebased in &rebase.migrations {
        let folder = dir.join(&rebased.draft.folder);
        for (name, text) in &rebased.draft.files {
            // Hand-written SQL is kept byte for byte: only its lineage is refreshed.
            if rebased.hand_written && *name != lineage::LINEAGE_FILE {
                continue;
            }
            let path = folder.join(name);
            let temp = folder.join(format!(".{name}.rebase"));
            if let Err(err) = std::fs::write(&temp, text) {
                for (temp, _) in &staged {
                    let _ = std::fs::remove_file(temp);
                }
                let _ = std::fs::remove_file(&temp);
                return Err(failed(&path, err));
            }
            staged.push((temp, path));
        }
    }
    for (temp, path) in &staged {
        std::fs::rename(temp, path).map_err(|err| failed(path, err))?;
    }
    Ok(())
}

fn report(rebase: &Rebase) {
    for divergence in &rebase.divergences {
        println!("diverged: {divergence}");
    }
    let mut parent = rebase.onto.clone().unwrap_or_else(|| "base".into());
    for rebased in &rebase.migrations {
        let folder = &rebased.draft.folder;
        if rebased.edited {
            println!(
                "kept {folder} (generated, then edited by hand) as it is, now after {parent}: \
                 generating it again would undo the edit"
            );
            println!(
                "  RE-CHECK its SQL against the migrations before it: it was written without them; \
                 its lineage was refreshed and now records it as hand-written"
            );
        } else if rebased.hand_written {
            println!("kept {folder} (hand-written) as it is, now after {parent}");
            println!(
                "  RE-CHECK its SQL against the migrations before it: it was written without them (the \
                 tables it names are in its up.sql); its lineage was refreshed"
            );
        } else {
            println!("re-created {folder} on top of {parent}:");
            for change in &rebased.draft.changes {
                println!("  {}", change.describe());
            }
        }
        parent = folder.clone();
    }
    for change in &rebase.uncaptured {
        println!(
            "model change still not captured by a migration: {} (run `workhub db create NAME` next)",
            change.describe()
        );
    }
    let changed: Vec<&str> = rebase
        .migrations
        .iter()
        .filter(|r| r.sql_changed)
        .map(|r| r.draft.folder.as_str())
        .collect();
    if !changed.is_empty() {
        println!(
            "note: a database that already ran the old {} now sees {} as modified and refuses to \
             migrate: on it, revert {} with the old files (check them out again, `workhub db downgrade`), \
             then upgrade with the new ones; on a development database `just reset` is quicker",
            changed.join(", "),
            if changed.len() == 1 { "it" } else { "them" },
            if changed.len() == 1 { "it" } else { "them" },
        );
    }
    println!(
        "Rebased {} migration{}; review the SQL, then `workhub db check` and commit.",
        rebase.migrations.len(),
        super::plural(rebase.migrations.len())
    );
}

//! `db rebase`: re-creates the migrations a merge put after another branch's, on top of them, and
//! the lineage checks `db check` runs. The engine decides (`workhub_migrations::rebase`); this
//! module words it.

use std::path::{Path, PathBuf};

use workhub_migrations::assumed;
use workhub_migrations::rebase::{self, Rebase, Rebased};
use workhub_migrations::source::{self, lineage};

use crate::context::{Context, Source};
use crate::failure::Failure;

/// The way out of a diverged history, said by every refusal.
pub fn hint(program: &str) -> String {
    format!(
        "run `{program} db rebase` (`just migrate-rebase`): it re-creates the merged-in \
         branch's migrations on top of the branch they were merged into (the `<<<<<<<` side of \
         migrations/lineage.head, or `--onto FOLDER`), from the models; review and commit them"
    )
}

/// What the lineage checks of `db check` found: one line per problem, the fix of each kind once,
/// and whether the history has diverged (then it is not replayed to compare with the models: its
/// rebuild guards would fail).
#[derive(Debug, Default)]
pub struct Problems {
    pub lines: Vec<String>,
    pub hints: Vec<String>,
    pub diverged: bool,
}

fn stale_hint(program: &str) -> String {
    format!(
        "a migration was written against a schema the migrations before it no longer build: \
         restore the earlier migration from version control, or delete the later one's folder and \
         `{program} db create` it again on the current history"
    )
}

fn conflicted_head_hint(program: &str) -> String {
    format!(
        "nothing has diverged, so only the head file is left: `{program} db rebase` rewrites \
         migrations/lineage.head to name the newest migration (or write its folder name there \
         yourself)"
    )
}

fn stale_head_hint(program: &str) -> String {
    format!("`{program} db rebase` rewrites migrations/lineage.head to name the newest migration")
}

/// The lineage checks: diverged migrations, migrations whose recorded schema no longer matches what
/// precedes them, and a head file that does not name the newest migration.
pub fn problems(ctx: &Context) -> Result<Problems, Failure> {
    let program = ctx.app.program;
    let mut found = Problems::default();
    let divergences = lineage::divergences(&ctx.migrations);
    found.lines.extend(
        divergences
            .iter()
            .map(|d| format!("diverged: {d} (fix: `{program} db rebase`)")),
    );
    if !divergences.is_empty() {
        found.diverged = true;
        found.hints.push(hint(program));
    } else if crate::drift::other_history(ctx).is_none() {
        // Another project's history is never replayed into SQLite (its SQL may be PostgreSQL's).
        match assumed::stale(&ctx.migrations) {
            Ok(Some(stale)) => {
                found.lines.push(format!(
                    "{stale} (fix: restore the earlier migration, or delete this one's folder and \
                     `{program} db create` it again)"
                ));
                found.hints.push(stale_hint(program));
            }
            Ok(None) => {}
            Err(err) => eprintln!(
                "note: the schema digests in lineage.toml were not compared: the migrations do not \
                 replay on SQLite ({err})"
            ),
        }
    }
    let head = match &ctx.source {
        Source::Directory(dir) => lineage::read_head(dir)?,
        Source::Embedded => ctx.app.embedded.head.map(str::to_string),
    };
    let Some(problem) = head
        .as_deref()
        .and_then(|text| lineage::head_problem(text, &ctx.migrations))
    else {
        return Ok(found);
    };
    match problem {
        lineage::HeadProblem::Conflicted { .. } if found.diverged => {
            found
                .lines
                .push(format!("{problem} (fix: `{program} db rebase`)"));
        }
        lineage::HeadProblem::Conflicted { .. } => {
            found
                .lines
                .push(format!("{problem} (fix: `{program} db rebase`)"));
            found.hints.push(conflicted_head_hint(program));
        }
        lineage::HeadProblem::Stale { .. }
            if ctx.migrations.last().is_some_and(|m| m.lineage().is_none()) =>
        {
            // A folder another tool wrote (`diesel migration generate`) carries no lineage and never
            // refreshes the head file: nothing to refuse, only the file to refresh.
            eprintln!(
                "warning: {problem}; the newest migration has no lineage.toml (written by another \
                 tool?), so nothing is refused; `{program} db rebase` refreshes the file"
            );
        }
        lineage::HeadProblem::Stale { .. } => {
            found
                .lines
                .push(format!("{problem} (fix: `{program} db rebase`)"));
            found.hints.push(stale_head_hint(program));
        }
    }
    Ok(found)
}

pub fn run(ctx: &Context, onto: Option<&str>) -> Result<(), Failure> {
    let dir = super::create::migrations_dir(ctx);
    let migrations = source::scan(&dir)?.migrations;
    let models = (ctx.app.models)();
    let refused = |why: String| {
        Failure::failed(format!(
            "cannot rebase the migrations in {}: {why}\n  nothing was written; resolve it by hand (edit \
             the later migration, or delete it and `{program} db create` it again), then run `{program} db check`",
            dir.display(),
            program = ctx.app.program
        ))
    };
    let head = lineage::read_head(&dir)?;
    let tips = || {
        let mut tips: Vec<String> = lineage::divergences(&migrations)
            .iter()
            .flat_map(|d| {
                let mut sides = d.others.clone();
                sides.push(d.migration.clone());
                sides
            })
            .collect();
        tips.dedup();
        tips.join(", ")
    };
    let ours = match onto {
        Some(onto) => onto.to_string(),
        None => match head.as_deref().and_then(lineage::head_ours) {
            Some(ours) if migrations.iter().any(|m| m.folder() == ours) => ours,
            // Nothing diverged, or only parents missing: no branch to choose.
            _ if lineage::divergences(&migrations)
                .iter()
                .all(|d| d.parent_missing) =>
            {
                String::new()
            }
            _ => {
                return Err(refused(format!(
                    "cannot tell which branch was merged into which: migrations/{} names no one \
                     migration of the history (the `<<<<<<<` side of a conflict counts as the branch \
                     merged into)\n  hint: name the migration the other branch was merged into (it \
                     and what it was written after stay as they are): `{} db rebase --onto \
                     FOLDER`; the diverged migrations are {}",
                    lineage::HEAD_FILE,
                    ctx.app.program,
                    tips()
                )))
            }
        },
    };
    let Some(rebase) = rebase::rebase(
        &migrations,
        &models,
        &ours,
        &ctx.generator(),
        |m, newest| super::create::folder_name(m.name(), Some(newest)),
    )
    .map_err(|err| refused(err.to_string()))?
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
    if let Some(newest) = source::scan(&dir)?.migrations.last() {
        super::create::write_head(&dir, newest.folder())?;
    }
    report(&rebase, ctx.app.program);
    Ok(())
}

/// Stages every re-created folder whole first (a hidden folder beside the others, which no scan
/// reads), then moves them into place and removes the folders they replace, so a write that fails
/// leaves the folders as they were. Hand-written SQL is copied byte for byte: only its lineage is new.
fn write(dir: &Path, rebase: &Rebase) -> Result<(), Failure> {
    let failed = |path: &Path, err: std::io::Error| {
        Failure::failed(format!(
            "cannot write {}: {err}; nothing was changed",
            path.display()
        ))
    };
    let mut staged: Vec<(PathBuf, &Rebased)> = Vec::new();
    let unstage = |staged: &[(PathBuf, &Rebased)]| {
        for (temp, _) in staged {
            let _ = std::fs::remove_dir_all(temp);
        }
    };
    for rebased in &rebase.migrations {
        let temp = dir.join(format!(".{}.rebase", rebased.draft.folder));
        let result = stage(&temp, &dir.join(&rebased.from), rebased);
        staged.push((temp.clone(), rebased));
        if let Err(err) = result {
            unstage(&staged);
            return Err(failed(&temp, err));
        }
    }
    for (temp, rebased) in &staged {
        let path = dir.join(&rebased.draft.folder);
        let old = dir.join(&rebased.from);
        if old == path {
            // Same folder, lineage refreshed: the staged copy replaces it whole.
            std::fs::remove_dir_all(&old).map_err(|err| {
                Failure::failed(format!("cannot replace {}: {err}", old.display()))
            })?;
        }
        std::fs::rename(temp, &path).map_err(|err| {
            Failure::failed(format!("cannot move {} into place: {err}", path.display()))
        })?;
        if old == path {
            continue;
        }
        std::fs::remove_dir_all(&old).map_err(|err| {
            Failure::failed(format!(
                "cannot remove {} (re-created as {}): {err}; remove it by hand",
                old.display(),
                path.display()
            ))
        })?;
    }
    Ok(())
}

fn stage(temp: &Path, old: &Path, rebased: &Rebased) -> std::io::Result<()> {
    std::fs::create_dir(temp)?;
    if rebased.hand_written {
        for entry in std::fs::read_dir(old)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), temp.join(entry.file_name()))?;
            }
        }
    }
    for (name, text) in &rebased.draft.files {
        if rebased.hand_written && *name != lineage::LINEAGE_FILE {
            continue;
        }
        std::fs::write(temp.join(name), text)?;
    }
    Ok(())
}

fn report(rebase: &Rebase, program: &str) {
    for divergence in &rebase.divergences {
        println!("diverged: {divergence}");
    }
    let mut parent = rebase.onto.clone().unwrap_or_else(|| "base".into());
    for rebased in &rebase.migrations {
        let folder = &rebased.draft.folder;
        let from = &rebased.from;
        if from == folder {
            println!(
                "kept {folder} as it is: the parent its lineage names is not in this history (a \
                 cherry-picked migration?), but the schema it was written against is what the \
                 migrations before it build; its lineage now follows them"
            );
            continue;
        } else if rebased.edited {
            println!(
                "kept {from} (generated, then edited by hand) as it is, now {folder} after {parent}: \
                 generating it again would undo the edit"
            );
            println!(
                "  RE-CHECK its SQL against the migrations before it: it was written without them; \
                 its lineage was refreshed and now records it as hand-written"
            );
        } else if rebased.hand_written {
            println!("kept {from} (hand-written) as it is, now {folder} after {parent}");
            println!(
                "  RE-CHECK its SQL against the migrations before it: it was written without them (the \
                 tables it names are in its up.sql); its lineage was refreshed"
            );
        } else {
            println!("re-created {from} as {folder} on top of {parent}:");
            for change in &rebased.draft.changes {
                println!("  {}", change.describe());
            }
        }
        parent = folder.clone();
    }
    for change in &rebase.uncaptured {
        println!(
            "model change still not captured by a migration: {} (run `{program} db create NAME` next)",
            change.describe()
        );
    }
    let old: Vec<&str> = rebase
        .migrations
        .iter()
        .filter(|r| r.from != r.draft.folder)
        .map(|r| r.from.as_str())
        .collect();
    if !old.is_empty() {
        println!(
        "note: a database that already ran {} (a development database on the merged-in branch) now \
         holds a version this history no longer has, and is refused: revert it there first, with the \
         old folders checked out (`{program} db downgrade`), then upgrade; or `just reset` a development \
         database. A database that ran only {} (production) just applies the re-created ones.",
        old.join(", "),
        rebase.onto.as_deref().unwrap_or("base"),
    );
    }
    println!(
        "Rebased {} migration{}; review the SQL, then `{program} db check` and commit.",
        rebase.migrations.len(),
        super::plural(rebase.migrations.len())
    );
}

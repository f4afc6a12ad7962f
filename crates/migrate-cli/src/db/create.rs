//! `db create NAME`: a new migration folder, named and timestamped so it sorts after every other.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use time::macros::format_description;
use time::{Date, Month, OffsetDateTime};
use workhub_migrations::source::{self, lineage, Lineage, MIGRATION_NAME_RULE};
use workhub_migrations::{draft, online, scratch};
use workhub_migrations::{Dialect, Target};
use workhub_schema::diff;
use workhub_schema::render::{self, online::Online};

use crate::context::{Context, Source};
use crate::failure::Failure;

pub fn run(
    ctx: &Context,
    name: Option<String>,
    empty: bool,
    postgres_lock_timeout: &str,
) -> Result<(), Failure> {
    let online = Online::new(postgres_lock_timeout).map_err(|err| {
        Failure::Usage(format!(
            "--postgres-lock-timeout / WORKHUB_POSTGRES_LOCK_TIMEOUT: {err}; nothing was written"
        ))
    })?;
    let name = match name {
        Some(name) => name,
        None => ask_for_name(ctx.app.program)?,
    };
    let name = normalise(&name)?;
    let dir = migrations_dir(ctx);
    let existing = if dir.exists() {
        source::scan(&dir)?.migrations
    } else {
        Vec::new()
    };
    // A new migration on a diverged history would be written after one branch only; rebase first.
    let divergences = lineage::divergences(&existing);
    if !divergences.is_empty() {
        return Err(Failure::failed(format!(
            "cannot create a migration in {}: the history has diverged (migrations merged from \
             branches that did not know of each other):{}\n  nothing was written\n  hint: {}",
            dir.display(),
            divergences
                .iter()
                .map(|d| format!("\n    {d}"))
                .collect::<String>(),
            super::rebase::hint(ctx.app.program)
        )));
    }
    let newest = existing.last().map(|m| m.version());
    let folder = folder_name(&name, newest);
    refuse_unsortable(&folder, newest, &dir)?;
    let parent = existing.last().map(|m| m.folder());
    let template = || {
        // A folder must hold SQL to be valid, so the template carries a no-op statement for the
        // developer to replace: every other command keeps working while it is being written.
        vec![
            (
                "up.sql",
                format!("-- {folder}: replace the statement below with the SQL that makes this change.\nSELECT 1;\n"),
            ),
            (
                "down.sql",
                format!("-- {folder}: replace the statement below with the SQL that undoes up.sql.\nSELECT 1;\n"),
            ),
        ]
    };
    // The schema the new migration assumes; its digest goes into the lineage.
    let replayed = scratch::built_by(&existing, &Target::Head);
    let drafts = if empty {
        match replayed {
            Ok(current) => vec![draft::hand_written(&folder, parent, &current, template())],
            Err(err) => {
                // A history SQLite cannot replay (SQL for PostgreSQL alone in up.sql) still gets its
                // template, and its parent: only the schema digest is unknown, and never compared.
                println!(
                    "note: the schema this migration follows is not recorded (the migrations do not \
                     replay on SQLite: {err}); its parent is"
                );
                let lineage = Lineage::new(
                    parent.map(str::to_string),
                    lineage::UNKNOWN_SCHEMA.to_string(),
                    true,
                    Vec::new(),
                );
                let mut files = template();
                files.push((lineage::LINEAGE_FILE, lineage.to_toml()));
                let path = write_folder(&dir, &folder, &files)?;
                write_head(&dir, &folder)?;
                println!("Created {}", path.display());
                return Ok(());
            }
        }
    } else {
        let current = replayed.map_err(|err| ctx.error(err))?;
        let models = (ctx.app.models)();
        let problems = models.problems();
        if !problems.is_empty() {
            return Err(Failure::failed(format!(
                "the models in crates/models are inconsistent:\n{}\n  hint: fix the declarations, then run db create again",
                problems.iter().map(|p| format!("    {p}")).collect::<Vec<_>>().join("\n")
            )));
        }
        let version = source::FolderName::parse(&folder)?.version;
        let companion = folder_name(&format!("{name}_online"), Some(version.as_str()));
        let folders = online::Folders {
            main: &folder,
            companion: &companion,
        };
        let drafts = online::drafts(
            folders,
            parent,
            &existing,
            &current,
            &models,
            &ctx.generator(),
            &online,
        )
        .map_err(|err| ctx.error(err))?;
        if drafts.is_empty() {
            println!(
                "No changes detected: the models match the schema the {} migration{} in {} build. Nothing written.",
                existing.len(),
                super::plural(existing.len()),
                dir.display()
            );
            println!(
                "  (`{} db create {name} --empty` writes a blank migration to fill in by hand)",
                ctx.app.program
            );
            return Ok(());
        }
        let changes = diff::diff(
            &render::for_dialect(&current, Dialect::Sqlite),
            &render::for_dialect(&models, Dialect::Sqlite),
        );
        println!(
            "Detected {} change{}:",
            changes.len(),
            super::plural(changes.len())
        );
        for change in &changes {
            println!("  {}", change.describe());
        }
        let warnings = render::warnings(&changes);
        if !warnings.is_empty() {
            println!("Warnings (also in the SQL's comments):");
            for warning in warnings {
                println!("  warning: {warning}");
            }
        }
        drafts
    };
    let mut written: Vec<PathBuf> = Vec::new();
    for draft in &drafts {
        match write_folder(&dir, &draft.folder, &draft.files) {
            Ok(path) => written.push(path),
            Err(err) => {
                // The migration and its companion are one change: neither is left alone.
                for path in &written {
                    let _ = std::fs::remove_dir_all(path);
                }
                return Err(err);
            }
        }
    }
    let newest = drafts.last().map_or(folder.as_str(), |d| d.folder.as_str());
    write_head(&dir, newest)?;
    for (draft, path) in drafts.iter().zip(&written) {
        println!("Created {}", path.display());
        for note in &draft.notes {
            println!("  {note}");
        }
    }
    if drafts.len() > 1 {
        println!(
            "  the two folders are one change: apply them together (each runs on its own; \
             `--transaction all` refuses the second, which runs outside a transaction)"
        );
    }
    println!(
        "  review its SQL, then run `just upgrade` ({} db upgrade)",
        ctx.app.program
    );
    println!(
        "  commit it with {}: a branch that adds another migration then conflicts there on merge",
        dir.join(lineage::HEAD_FILE).display()
    );
    Ok(())
}

/// Where new migrations are written: `--migrations-dir`, else `migrations/` here.
pub fn migrations_dir(ctx: &Context) -> PathBuf {
    match &ctx.source {
        Source::Directory(dir) => dir.clone(),
        Source::Embedded => PathBuf::from("migrations"),
    }
}

/// Writes the migration folder whole, or leaves nothing behind.
pub fn write_folder(
    dir: &Path,
    folder: &str,
    files: &[(&str, String)],
) -> Result<PathBuf, Failure> {
    let path = dir.join(folder);
    let failed =
        |err: std::io::Error| Failure::failed(format!("cannot write {}: {err}", path.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    // create_dir fails on an existing folder, which is never touched: only what this call created
    // is removed again when a write fails.
    std::fs::create_dir(&path).map_err(failed)?;
    for (name, text) in files {
        if let Err(err) = std::fs::write(path.join(name), text) {
            let _ = std::fs::remove_dir_all(&path);
            return Err(failed(err));
        }
    }
    Ok(path)
}

/// Rewrites `lineage.head` to name `newest`, so that two branches that each add a migration
/// conflict in git when they are merged.
pub fn write_head(dir: &Path, newest: &str) -> Result<(), Failure> {
    let path = dir.join(lineage::HEAD_FILE);
    std::fs::write(&path, lineage::head_text(newest))
        .map_err(|err| Failure::failed(format!("cannot write {}: {err}", path.display())))
}

fn ask_for_name(program: &str) -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::Usage(format!(
            "db create needs a NAME, e.g. `{program} db create add_due_date` (`just migrate-create add_due_date`)"
        )));
    }
    loop {
        print!("Migration name (what it does, e.g. add_due_date): ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let read = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|err| Failure::failed(format!("cannot read the name: {err}")))?;
        if read == 0 {
            return Err(Failure::Usage(
                "db create needs a NAME: none was given before the input ended; nothing was written"
                    .into(),
            ));
        }
        if !line.trim().is_empty() {
            return Ok(line);
        }
        // An empty answer (Enter pressed too soon) is asked again, not a migration named nothing.
    }
}

/// `Add due date` becomes `add_due_date`: spaces and punctuation become `_`. Letters outside ASCII
/// are refused, naming them, rather than dropped (`Ünïcode` would silently become `n_code`).
fn normalise(name: &str) -> Result<String, Failure> {
    let foreign: Vec<String> = name
        .chars()
        .filter(|c| c.is_alphanumeric() && !c.is_ascii())
        .map(|c| format!("`{c}`"))
        .collect();
    if !foreign.is_empty() {
        return Err(Failure::Usage(format!(
            "`{}` cannot name a migration: {} {} not ASCII; a migration's name is ASCII letters, \
             digits and `_`, so every tool and file system reads its folder the same; nothing was \
             written\n  hint: write the name in ASCII (spaces and punctuation become `_`)",
            name.trim(),
            foreign.join(", "),
            if foreign.len() == 1 { "is" } else { "are" }
        )));
    }
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if !source::is_valid_name(&out) {
        return Err(Failure::Usage(format!(
            "`{}` cannot name a migration: it must become {MIGRATION_NAME_RULE}",
            name.trim()
        )));
    }
    Ok(out)
}

/// Refuses a new folder that would not sort after the newest existing version: an adopted history's
/// versions need not be timestamps (`v42_...`, or a far-future one), and diesel orders by version text.
fn refuse_unsortable(folder: &str, newest: Option<&str>, dir: &Path) -> Result<(), Failure> {
    let version = source::FolderName::parse(folder)?.version;
    match newest {
        Some(newest) if version.as_str() <= newest => Err(Failure::failed(format!(
            "cannot name the new migration: `{folder}` (version {version}) would sort before the newest \
             version in {}, `{newest}`, which is not a timestamp workhub can follow; nothing was written\n  \
             hint: create the folder by hand with a version that sorts after `{newest}`",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// `YYYY-MM-DD-HHMMSS_name` for now, or one second after the newest existing version when the clock
/// would sort the new folder before it.
pub fn folder_name(name: &str, newest: Option<&str>) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let newest_secs = newest.and_then(version_seconds);
    let secs = match newest_secs {
        Some(newest) if newest >= now => newest + 1,
        _ => now,
    };
    format!("{}_{name}", timestamp(secs))
}

/// `YYYY-MM-DD-HHMMSS` of a Unix time, in UTC.
fn timestamp(secs: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(format_description!(
        "[year]-[month]-[day]-[hour][minute][second]"
    ))
    .expect("a four-digit year formats")
}

/// The Unix time a version `YYYYMMDDHHMMSS...` names. The time of day is added up, not validated:
/// diesel's histories hold seconds (and minutes) past 59, which still count from the day's start.
fn version_seconds(version: &str) -> Option<i64> {
    let n = |range: std::ops::Range<usize>| version.get(range)?.parse::<i64>().ok();
    let month = Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    let day = Date::from_calendar_date(
        i32::try_from(n(0..4)?).ok()?,
        month,
        u8::try_from(n(6..8)?).ok()?,
    )
    .ok()?;
    let midnight = day.midnight().assume_utc().unix_timestamp();
    Some(midnight + n(8..10)? * 3600 + n(10..12)? * 60 + n(12..14)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(normalise("Add due date").unwrap(), "add_due_date");
        assert_eq!(
            normalise("  add-index: tasks  ").unwrap(),
            "add_index_tasks"
        );
        assert!(normalise("42 things").is_err());
        assert!(normalise("  ").is_err());
    }

    #[test]
    fn timestamps_round_trip_and_sort_after_the_newest() {
        assert_eq!(timestamp(0), "1970-01-01-000000");
        assert_eq!(timestamp(1_709_251_199), "2024-02-29-235959");
        assert_eq!(version_seconds("20240229235959"), Some(1_709_251_199));
        let future = folder_name("x", Some("29990101000000"));
        assert_eq!(future, "2999-01-01-000001_x");
        // diesel's histories hold seconds past 59: the next second still sorts after it.
        let late = folder_name("x", Some("29990101103761"));
        assert_eq!(late, "2999-01-01-103802_x");
        assert!(late.replace('-', "").as_str() > "29990101103761");
        // A version that names no calendar day is no timestamp to follow: the clock decides.
        assert_eq!(version_seconds("20241340000000"), None);
        assert_eq!(version_seconds("v42"), None);
    }

    #[test]
    fn a_name_that_would_sort_before_the_newest_version_is_refused() {
        let dir = Path::new("migrations");
        assert!(refuse_unsortable("2024-01-01-000000_x", Some("20231231235959"), dir).is_ok());
        assert!(refuse_unsortable("2024-01-01-000000_x", None, dir).is_ok());
        for newest in ["v42", "20240101000000", "99999999999999"] {
            let err = refuse_unsortable("2024-01-01-000000_x", Some(newest), dir).unwrap_err();
            assert!(err.to_string().contains(newest), "{err}");
            assert!(err.to_string().contains("nothing was written"), "{err}");
        }
    }
}

//! The migration lock of a SQLite database: an exclusive OS lock (`flock`) on the database file itself,
//! so every path that reaches the file (a symlink, a hard link, a relative path, `sqlite://`) shares it.
//!
//! flock and SQLite's own locks (POSIX `fcntl` locks) are independent on Linux. But closing *any*
//! descriptor of a file drops every POSIX lock the process holds on it, SQLite's included (those of
//! the service's pool, say). So the descriptors locked here are never closed: a process-wide registry
//! keeps one per file identity (device, inode), and a release only unlocks it. The registry also keeps
//! two migrators of one process apart, which one descriptor's flock cannot.
//!
//! Who holds the lock is written, for waiters only, to `<canonical path>-migrate-lock` beside the file
//! once the lock is taken; it is removed before the lock is released.

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::MigrateError;

/// A file's identity, whatever path reached it.
type Identity = (u64, u64);

/// One database file's descriptor, kept open for the life of the process, and whether a migrator of
/// this process holds its lock.
#[derive(Debug)]
struct Entry {
    file: File,
    held: bool,
}

fn registry() -> &'static Mutex<HashMap<Identity, Arc<Mutex<Entry>>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Identity, Arc<Mutex<Entry>>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The registry's entry for the file at `path`, opening its descriptor the first time.
fn entry(path: &Path) -> std::io::Result<(Identity, Arc<Mutex<Entry>>)> {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let meta = std::fs::metadata(path)?;
        let identity = (meta.dev(), meta.ino());
        if let Some(entry) = registry.get(&identity) {
            return Ok((identity, entry.clone()));
        }
        let file = File::open(path)?;
        let opened = file.metadata()?;
        let opened_identity = (opened.dev(), opened.ino());
        // Never closed, even when the path changed files in between: it is kept under its own file.
        let entry = Arc::new(Mutex::new(Entry { file, held: false }));
        registry.insert(opened_identity, entry.clone());
        if opened_identity == identity {
            return Ok((identity, entry));
        }
    }
}

/// The migration lock of one SQLite database file, held until dropped (or the process dies).
#[derive(Debug)]
pub struct FileLock {
    entry: Arc<Mutex<Entry>>,
    identity: Identity,
    holder_note: PathBuf,
}

impl FileLock {
    /// Takes the lock of the existing database file `database`, waiting at most `timeout`; `waiting`
    /// hears once who holds it.
    pub fn acquire(
        database: &Path,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<Self, MigrateError> {
        let failed = |err: std::io::Error| MigrateError::Stopped {
            doing: format!("taking the migration lock on {}", database.display()),
            message: err.to_string(),
            undone: None,
        };
        let (identity, entry) = entry(database).map_err(failed)?;
        let holder_note = note_path(database);
        let started = Instant::now();
        let mut told = false;
        let mut polls = 0u32;
        loop {
            let taken = {
                let mut locked = entry.lock().unwrap_or_else(|e| e.into_inner());
                if locked.held {
                    Ok(false)
                } else {
                    match locked.file.try_lock() {
                        Ok(()) => {
                            locked.held = true;
                            Ok(true)
                        }
                        Err(TryLockError::WouldBlock) => Ok(false),
                        Err(TryLockError::Error(err)) => Err(err),
                    }
                }
            };
            if taken.map_err(failed)? {
                break;
            }
            // The holder writes its note just after it takes the lock: a waiter that looks in
            // between finds none, so it waits a little for the note before saying "another process".
            let holder = read_holder(&holder_note);
            polls += 1;
            if started.elapsed() >= timeout {
                return Err(MigrateError::LockTimeout {
                    holder: holder.unwrap_or_else(|| UNNAMED_HOLDER.to_string()),
                    waited: started.elapsed(),
                });
            }
            if !told && (holder.is_some() || polls >= UNNAMED_HOLDER_POLLS) {
                waiting(holder.as_deref().unwrap_or(UNNAMED_HOLDER));
                told = true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        // Tell the next waiter who holds it; a failure here only loses that courtesy.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let _ = File::create(&holder_note).and_then(|mut file| {
            write!(file, "pid {} since unix time {since}", std::process::id())
        });
        Ok(Self {
            entry,
            identity,
            holder_note,
        })
    }

    /// Whether `path` still names the file this lock is on: not if it was deleted or replaced (by a
    /// reset or a restore) while the lock was awaited.
    pub fn still_names(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // The note goes first: once unlocked, the next holder may already be writing its own.
        let _ = std::fs::remove_file(&self.holder_note);
        let mut locked = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        let _ = locked.file.unlock();
        locked.held = false;
    }
}

/// `<canonical path>-migrate-lock`: one name for every path that reaches the file by symlinks.
fn note_path(database: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(database).unwrap_or_else(|_| database.to_path_buf());
    let mut name = canonical.into_os_string();
    name.push("-migrate-lock");
    PathBuf::from(name)
}

/// How a lock holder that has not written its note is described.
const UNNAMED_HOLDER: &str = "another process";
/// How many polls (25 ms apart) a waiter gives the holder to write its note before it reports the
/// wait without one.
const UNNAMED_HOLDER_POLLS: u32 = 40;

/// The note the lock holder wrote, if it has written one yet.
fn read_holder(note: &Path) -> Option<String> {
    let text = std::fs::read_to_string(note).unwrap_or_default();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_paths_to_one_file_share_one_lock_and_a_release_keeps_the_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        std::fs::write(&real, b"").unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let hard = dir.path().join("hard.db");
        std::fs::hard_link(&real, &hard).unwrap();

        let held = FileLock::acquire(&real, Duration::ZERO, &mut |_| {}).unwrap();
        // The note is found through a symlink (one canonical name); a hard link has its own name.
        let refused = FileLock::acquire(&link, Duration::ZERO, &mut |_| {}).unwrap_err();
        assert!(
            matches!(refused, MigrateError::LockTimeout { ref holder, .. } if holder.starts_with("pid ")),
            "{refused}"
        );
        let refused = FileLock::acquire(&hard, Duration::ZERO, &mut |_| {}).unwrap_err();
        assert!(
            matches!(refused, MigrateError::LockTimeout { .. }),
            "{refused}"
        );
        drop(held);
        assert!(!note_path(&real).exists(), "the note goes with the lock");
        let again = FileLock::acquire(&hard, Duration::ZERO, &mut |_| {}).unwrap();
        drop(again);
        assert!(!registry().lock().unwrap().is_empty());
    }
}

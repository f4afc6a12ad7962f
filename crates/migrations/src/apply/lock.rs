//! The migration lock of a SQLite database: on unix an exclusive OS lock (`flock`) on the database
//! file itself, so every path that reaches the file (a symlink, a hard link, a relative path,
//! `sqlite://`) shares it.
//!
//! flock and SQLite's own locks (POSIX `fcntl` locks) are independent on Linux. But closing *any*
//! descriptor of a file drops every POSIX lock the process holds on it, SQLite's included (those of
//! the service's pool, say). So the descriptors locked here are never closed: a process-wide registry
//! keeps one per file identity (device, inode), and a release only unlocks it. The registry also keeps
//! two migrators of one process apart, which one descriptor's flock cannot.
//!
//! For databases on local filesystems: on NFS, Linux emulates flock with `fcntl` byte-range locks,
//! which are not independent of SQLite's. Elsewhere than unix the lock is on a sidecar named after the
//! canonical path, `<canonical path>-migrate-lock` (never the database file itself: Windows' locks are
//! mandatory and would block SQLite), so a hard link there gets a lock of its own.
//!
//! Builds before this one locked `<path as given>-migrate-lock` instead (flock on that sidecar, never
//! deleted). A migrator also takes that lock, so an older binary and this one exclude each other during
//! a rolling deploy; the sidecar is opened without truncating and never deleted, as they expect.
//!
//! Who holds the lock is written, for waiters only, to `<canonical path>-migrate-holder` beside the
//! file once the lock is taken; it is removed before the lock is released.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::MigrateError;

/// A file's identity, whatever path reached it: its device and inode.
#[cfg(unix)]
pub(crate) type Identity = (u64, u64);
/// A file's identity, whatever path reached it: its canonical path (a hard link is another file).
#[cfg(not(unix))]
pub(crate) type Identity = PathBuf;

/// The identity of the file at `path`.
pub(crate) fn identity(path: &Path) -> std::io::Result<Identity> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::canonicalize(path)
    }
}

/// The identity of the file `file`, opened through `path`, as [`identity`] gives it.
fn identity_of_open(file: &File, path: &Path) -> std::io::Result<Identity> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        let meta = file.metadata()?;
        Ok((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        std::fs::canonicalize(path)
    }
}

/// Opens the file whose lock is the migration lock of `database`: the database itself on unix.
/// `None` where that is a sidecar that does not exist and is not to be created (`writing` false).
#[cfg(unix)]
fn open_lock_file(database: &Path, _writing: bool) -> std::io::Result<Option<File>> {
    File::open(database).map(Some)
}

/// Opens the file whose lock is the migration lock of `database`: a sidecar by canonical path here.
/// `None` where that does not exist and is not to be created (`writing` false).
#[cfg(not(unix))]
fn open_lock_file(database: &Path, writing: bool) -> std::io::Result<Option<File>> {
    let mut name = std::fs::canonicalize(database)?.into_os_string();
    name.push("-migrate-lock");
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create(writing)
        .truncate(false)
        .open(PathBuf::from(name));
    match opened {
        Ok(file) => Ok(Some(file)),
        Err(err) if !writing && err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Whether the older builds' sidecar of `database` is the file [`open_lock_file`] locks (then it is
/// locked once, by that descriptor: a second handle's lock would wait on the first).
fn legacy_is_lock_file(database: &Path) -> bool {
    #[cfg(unix)]
    {
        let _ = database;
        false
    }
    #[cfg(not(unix))]
    {
        let canonical = std::fs::canonicalize(database).map(|c| {
            let mut name = c.into_os_string();
            name.push("-migrate-lock");
            PathBuf::from(name)
        });
        match (std::fs::canonicalize(legacy_path(database)), canonical) {
            (Ok(legacy), Ok(own)) => legacy == own,
            _ => false,
        }
    }
}

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

/// The registry's entry for the database at `path`, opening its descriptor the first time; `None`
/// when there is no lock file to open (see [`open_lock_file`]).
fn entry(path: &Path, writing: bool) -> std::io::Result<Option<(Identity, Arc<Mutex<Entry>>)>> {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let identity = identity(path)?;
        if let Some(entry) = registry.get(&identity) {
            return Ok(Some((identity, entry.clone())));
        }
        let Some(file) = open_lock_file(path, writing)? else {
            return Ok(None);
        };
        let opened_identity = identity_of_open(&file, path)?;
        // Never closed, even when the path changed files in between: it is kept under its own file,
        // or, when that file has a descriptor here already, forgotten (left open), since closing it
        // would drop this process's POSIX locks on that file.
        let same = opened_identity == identity;
        match registry.entry(opened_identity) {
            std::collections::hash_map::Entry::Occupied(_) => std::mem::forget(file),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Arc::new(Mutex::new(Entry { file, held: false })));
            }
        }
        if same {
            let entry = registry[&identity].clone();
            return Ok(Some((identity, entry)));
        }
    }
}

/// The migration lock of one SQLite database file, held until dropped (or the process dies).
#[derive(Debug)]
pub struct FileLock {
    /// `None` for a confirming read of a database that no migrator ever locked (see [`entry`]).
    entry: Option<Arc<Mutex<Entry>>>,
    identity: Identity,
    /// This build's note naming the holder; `None` for a lock taken only to confirm a read.
    holder_note: Option<PathBuf>,
    /// The flocked `<path as given>-migrate-lock` of older builds, released when closed.
    legacy: Option<File>,
}

impl FileLock {
    /// Takes the lock of the existing database file `database` for a command that will change it,
    /// waiting at most `timeout`; `waiting` hears once who holds it. Creates the legacy sidecar and
    /// the holder note.
    pub fn acquire(
        database: &Path,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<Self, MigrateError> {
        Self::take(database, timeout, waiting, true)
    }

    /// Takes the lock only to confirm what an unlocked read found, writing nothing: no holder note,
    /// and the legacy sidecar only when it already exists (an older build that has never migrated
    /// this path cannot be migrating it now).
    pub fn acquire_to_read(
        database: &Path,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<Self, MigrateError> {
        Self::take(database, timeout, waiting, false)
    }

    fn take(
        database: &Path,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
        writing: bool,
    ) -> Result<Self, MigrateError> {
        let failed = |source| MigrateError::LockFile {
            path: database.to_path_buf(),
            source,
        };
        let Some((identity, entry)) = entry(database, writing).map_err(failed)? else {
            return Ok(Self {
                entry: None,
                identity: identity(database).map_err(failed)?,
                holder_note: None,
                legacy: None,
            });
        };
        let note = note_path(database);
        let started = Instant::now();
        let mut wait = Wait::new(started, timeout, waiting);
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
            wait.again(read_holder(&note))?;
        }
        let mut lock = Self {
            entry: Some(entry),
            identity,
            holder_note: None,
            legacy: None,
        };
        if writing {
            // Tell the next waiter who holds it; a failure here only loses that courtesy.
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let _ = File::create(&note).and_then(|mut file| {
                write!(file, "pid {} since unix time {since}", std::process::id())
            });
            lock.holder_note = Some(note);
        }
        // On an error here `lock` is dropped, which releases the lock on the file.
        if !legacy_is_lock_file(database) {
            lock.legacy = take_legacy(database, writing, &mut wait).map_err(failed)??;
        }
        Ok(lock)
    }

    /// Whether `path` still names the file this lock is on: not if it was deleted or replaced (by a
    /// reset or a restore) while the lock was awaited.
    pub fn still_names(&self, path: &Path) -> bool {
        identity(path).is_ok_and(|identity| identity == self.identity)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // The note goes first: once unlocked, the next holder may already be writing its own.
        if let Some(note) = &self.holder_note {
            let _ = std::fs::remove_file(note);
        }
        // Closing the sidecar releases its flock; the sidecar itself stays, as older builds leave it.
        drop(self.legacy.take());
        if let Some(entry) = &self.entry {
            let mut locked = entry.lock().unwrap_or_else(|e| e.into_inner());
            let _ = locked.file.unlock();
            locked.held = false;
        }
    }
}

/// `<canonical path>-migrate-holder`: one name for every path that reaches the file by symlinks.
fn note_path(database: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(database).unwrap_or_else(|_| database.to_path_buf());
    let mut name = canonical.into_os_string();
    name.push("-migrate-holder");
    PathBuf::from(name)
}

/// `<path as given>-migrate-lock`: the file older builds flock (and name their holder in).
pub fn legacy_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-migrate-lock");
    PathBuf::from(name)
}

/// Flocks the legacy sidecar, creating it when `writing`; `Ok(Ok(None))` when it does not exist and
/// is not to be created. The outer error is the sidecar's I/O, the inner one the timeout.
fn take_legacy(
    database: &Path,
    writing: bool,
    wait: &mut Wait<'_>,
) -> std::io::Result<Result<Option<File>, MigrateError>> {
    let path = legacy_path(database);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(writing)
        .truncate(false)
        .open(&path);
    let file = match file {
        Ok(file) => file,
        Err(err) if !writing && err.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(err) => return Err(err),
    };
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Ok(Some(file))),
            Err(TryLockError::WouldBlock) => {
                // An older build names itself in the sidecar.
                if let Err(err) = wait.again(read_holder(&path)) {
                    return Ok(Err(err));
                }
            }
            Err(TryLockError::Error(err)) => return Err(err),
        }
    }
}

/// One wait for the lock: its deadline, and whether the waiter has been told whom it waits for.
struct Wait<'w> {
    started: Instant,
    timeout: Duration,
    waiting: &'w mut dyn FnMut(&str),
    told: bool,
    polls: u32,
}

impl<'w> Wait<'w> {
    fn new(started: Instant, timeout: Duration, waiting: &'w mut dyn FnMut(&str)) -> Self {
        Self {
            started,
            timeout,
            waiting,
            told: false,
            polls: 0,
        }
    }

    /// One more poll that found the lock held by `holder` (if it has named itself): gives up at the
    /// deadline, else tells the waiter once and sleeps.
    fn again(&mut self, holder: Option<String>) -> Result<(), MigrateError> {
        // The holder writes its note just after it takes the lock: a waiter that looks in between
        // finds none, so it waits a little for the note before saying "another process".
        self.polls += 1;
        if self.started.elapsed() >= self.timeout {
            return Err(MigrateError::LockTimeout {
                holder: holder.unwrap_or_else(|| UNNAMED_HOLDER.to_string()),
                waited: self.started.elapsed(),
            });
        }
        if !self.told && (holder.is_some() || self.polls >= UNNAMED_HOLDER_POLLS) {
            (self.waiting)(holder.as_deref().unwrap_or(UNNAMED_HOLDER));
            self.told = true;
        }
        std::thread::sleep(Duration::from_millis(25));
        Ok(())
    }
}

/// How a lock holder that has not written its note is described.
const UNNAMED_HOLDER: &str = "another process";
/// How many polls (25 ms apart) a waiter gives the holder to write its note before it reports the
/// wait without one.
const UNNAMED_HOLDER_POLLS: u32 = 40;

/// The note the lock holder wrote, if it has written one yet. A note naming a process that is not
/// running (killed before it could remove its note) says so: whoever holds the lock now wrote none.
fn read_holder(note: &Path) -> Option<String> {
    let text = std::fs::read_to_string(note).unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let pid = text
        .strip_prefix("pid ")
        .and_then(|rest| rest.split_whitespace().next());
    let gone = cfg!(target_os = "linux")
        && pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
    Some(if gone {
        format!("{text} (not running)")
    } else {
        text.to_string()
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Within one process (the registry's flag; another process's flock is tested through the binary
    /// in the app's concurrency tests).
    #[test]
    fn two_paths_to_one_file_share_one_lock_in_this_process() {
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
    }

    #[test]
    fn a_note_left_by_a_killed_holder_says_it_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(&db, b"").unwrap();
        let held = FileLock::acquire(&db, Duration::ZERO, &mut |_| {}).unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        std::fs::write(note_path(&db), format!("pid {dead} since unix time 1")).unwrap();
        let refused = FileLock::acquire(&db, Duration::ZERO, &mut |_| {}).unwrap_err();
        assert!(
            refused.to_string().contains(&format!(
                "held by pid {dead} since unix time 1 (not running)"
            )),
            "{refused}"
        );
        // A note naming a running process is shown as it is.
        std::fs::write(
            note_path(&db),
            format!("pid {} since unix time 1", std::process::id()),
        )
        .unwrap();
        let refused = FileLock::acquire(&db, Duration::ZERO, &mut |_| {}).unwrap_err();
        assert!(!refused.to_string().contains("not running"), "{refused}");
        drop(held);
    }

    /// What a build before this one does: flock `<path>-migrate-lock` and write its name in it.
    fn older_build_lock(database: &Path) -> File {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(legacy_path(database))
            .unwrap();
        file.try_lock().unwrap();
        let note = format!("pid {} since unix time 1", std::process::id());
        std::fs::write(legacy_path(database), note).unwrap();
        file
    }

    #[test]
    fn an_older_build_and_this_one_exclude_each_other_through_the_legacy_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(&db, b"").unwrap();

        // An older build migrating: this build waits for it, naming it, and leaves no lock held.
        let older = older_build_lock(&db);
        let refused = FileLock::acquire(&db, Duration::from_millis(100), &mut |_| {}).unwrap_err();
        assert!(
            matches!(refused, MigrateError::LockTimeout { ref holder, .. }
                if *holder == format!("pid {} since unix time 1", std::process::id())),
            "{refused}"
        );
        let refused = FileLock::acquire_to_read(&db, Duration::ZERO, &mut |_| {}).unwrap_err();
        assert!(
            matches!(refused, MigrateError::LockTimeout { .. }),
            "{refused}"
        );
        assert!(!note_path(&db).exists(), "a lock not taken leaves no note");
        drop(older);

        // This build migrating: an older build's flock on the sidecar fails.
        std::fs::remove_file(legacy_path(&db)).unwrap();
        let held = FileLock::acquire(&db, Duration::ZERO, &mut |_| {}).unwrap();
        let sidecar = File::open(legacy_path(&db)).unwrap();
        assert!(matches!(sidecar.try_lock(), Err(TryLockError::WouldBlock)));
        assert!(note_path(&db).exists());
        drop(held);
        sidecar.try_lock().expect("released with the lock");
        sidecar.unlock().unwrap();
        assert!(legacy_path(&db).exists(), "the sidecar is never deleted");
        assert!(!note_path(&db).exists(), "the note goes with the lock");
    }

    #[test]
    fn a_lock_taken_to_confirm_a_read_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(&db, b"").unwrap();
        let lock = FileLock::acquire_to_read(&db, Duration::ZERO, &mut |_| {}).unwrap();
        let refused = FileLock::acquire(&db, Duration::ZERO, &mut |_| {}).unwrap_err();
        assert!(
            matches!(refused, MigrateError::LockTimeout { .. }),
            "{refused}"
        );
        drop(lock);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["x.db".to_string()]);
    }
}

//! Digests the code a replayed schema depends on: this crate's sources (replay, introspection),
//! workhub-schema's (the schema as data), the workspace's Cargo.lock (SQLite's, diesel's and
//! serde's versions) and its .cargo/config.toml (SQLite's compile flags). A schema kept by `scratch` is reused only by a build with the same digest, so
//! a schema built and read back by other code is never taken for this code's.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut hasher = Sha256::new();
    for dir in [manifest.join("src"), manifest.join("../schema/src")] {
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .map(walkdir::DirEntry::into_path)
            .collect();
        files.sort();
        for file in files {
            add(&mut hasher, &file, &dir);
        }
    }
    // The dependencies' versions, and the flags the bundled SQLite is compiled with.
    for file in ["../../Cargo.lock", "../../.cargo/config.toml"] {
        let file = manifest.join(file);
        println!("cargo:rerun-if-changed={}", file.display());
        add(&mut hasher, &file, &manifest);
    }
    // The flags as the bundled SQLite's build reads them, however they were set.
    println!("cargo:rerun-if-env-changed=LIBSQLITE3_FLAGS");
    let flags = std::env::var("LIBSQLITE3_FLAGS").unwrap_or_default();
    hasher.update((flags.len() as u64).to_le_bytes());
    hasher.update(flags.as_bytes());
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    println!("cargo:rustc-env=WORKHUB_MIGRATIONS_CODE_DIGEST={digest}");
}

/// The file's path under `base` and its bytes, each length-prefixed so no two sets of files digest
/// alike; a file that cannot be read (none outside a workspace) counts as absent.
fn add(hasher: &mut Sha256, file: &Path, base: &Path) {
    let name = file.strip_prefix(base).unwrap_or(file).to_string_lossy();
    let bytes = std::fs::read(file).unwrap_or_default();
    for part in [name.as_bytes(), &bytes] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
}

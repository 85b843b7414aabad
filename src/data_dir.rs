//! The data dir is private to the user the server runs as: the directory and every directory in
//! it 0700, every file 0600 — those made before this rule too, and those made later (the
//! database's WAL and shared-memory files take the database's mode; code blobs are written
//! through 0600 temporary files).
//!
//! The runtimes' own subtrees are left as they make them — `sandbox/` (its instances' mount
//! points), `docker/` and `gvisor/` (the `passwd` and `group` files containers mount read-only):
//! an instance reads them as its own uid through its mounts. No other local user reaches them
//! either: the data dir itself is 0700.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Subtrees whose modes belong to a runtime, not to this module.
const RUNTIME_OWNED: &[&str] = &["sandbox", "docker", "gvisor"];

/// Creates the data dir (and its parents) if needed, and makes it and everything already in it
/// private.
pub fn open(path: &Path) -> io::Result<()> {
    create_private_dir(path)?;
    tighten(path, true)
}

/// Creates `path` and any missing parents, mode 0700 (parents that exist are left alone).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    fs::set_permissions(path, Permissions::from_mode(0o700))
}

/// Makes a file 0600 and a directory 0700, and so on down a directory's tree (symlinks are
/// not followed; the runtimes' own subtrees at the top are skipped).
fn tighten(path: &Path, top: bool) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() { 0o700 } else { 0o600 };
    if meta.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            if top && RUNTIME_OWNED.iter().any(|name| entry.file_name() == *name) {
                continue;
            }
            tighten(&entry.path(), false)?;
        }
    }
    Ok(())
}

/// Creates an empty file with mode 0600 unless it exists (then only its mode is set).
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a new file.
    file.set_permissions(Permissions::from_mode(0o600))
}

/// Writes `bytes` to a file readable and writable by its owner only (mode 0600), replacing it.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn tightens_what_exists_and_leaves_the_runtimes_alone() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("blobs/ab")).unwrap();
        fs::create_dir_all(data.join("sandbox/etc")).unwrap();
        for file in ["kindling.db", "blobs/ab/abcd", "sandbox/etc/passwd"] {
            fs::write(data.join(file), "x").unwrap();
            fs::set_permissions(data.join(file), Permissions::from_mode(0o644)).unwrap();
        }
        for sub in ["", "blobs", "blobs/ab", "sandbox", "sandbox/etc"] {
            fs::set_permissions(data.join(sub), Permissions::from_mode(0o755)).unwrap();
        }
        open(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("blobs/ab")), 0o700);
        assert_eq!(mode(&data.join("kindling.db")), 0o600);
        assert_eq!(mode(&data.join("blobs/ab/abcd")), 0o600);
        assert_eq!(mode(&data.join("sandbox/etc/passwd")), 0o644);
        assert_eq!(mode(&data.join("sandbox")), 0o755);

        let new = data.join("new");
        create_private_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        write_private(&new, b"secret").unwrap();
        assert_eq!(fs::read(&new).unwrap(), b"secret");
    }
}

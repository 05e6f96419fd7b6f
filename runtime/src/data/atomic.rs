//! Writing files so that they appear whole or not at all, together: each file
//! goes to a temporary sibling first ([`StagedFiles`]); only when every file of a
//! command is written are they renamed over their destinations. A failure at any
//! point (a full disk, a missing folder, a destination that is a directory, a
//! later error of the command) removes the temporary files and leaves every
//! destination as it was.
//!
//! A destination that is a symbolic link is written through it (the link stays);
//! one that is not a regular file (`/dev/null`, `/dev/stdout`, a pipe) is staged
//! in the temporary folder and copied into it on commit, never replaced.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::DataError;

/// Distinguishes temporary files of one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Files written in full to temporary siblings, waiting to be renamed into place
/// by [`StagedFiles::commit`]; dropped uncommitted, they are removed.
#[derive(Debug, Default)]
pub struct StagedFiles {
    /// In the order staged.
    staged: Vec<Staged>,
}

/// One file written, waiting for the commit.
#[derive(Debug)]
struct Staged {
    /// Where its bytes are.
    temp: PathBuf,
    /// Where they go (through symbolic links).
    destination: PathBuf,
    /// Whether they are renamed there (a regular file, or none yet) or copied
    /// into it (a device, a pipe).
    copy: bool,
}

/// Where a file for `path` goes and how: through symbolic links to a regular
/// file (renamed over it), or into a special file (copied).
fn destination_of(path: &Path) -> (PathBuf, bool) {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => (std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()), false),
        Ok(metadata) if !metadata.is_dir() => (path.to_owned(), true),
        _ => (path.to_owned(), false),
    }
}

impl StagedFiles {
    /// Nothing staged yet.
    pub fn new() -> StagedFiles {
        StagedFiles::default()
    }

    /// Stages `bytes` for `path`.
    pub fn bytes(&mut self, path: &Path, bytes: &[u8]) -> Result<(), DataError> {
        self.write_with(path, |out| out.write_all(bytes))
    }

    /// Stages what `fill` writes (buffered) for `path`; on failure the temporary
    /// file is removed at once.
    pub(crate) fn write_with(
        &mut self,
        path: &Path,
        fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
    ) -> Result<(), DataError> {
        let io_error = |source| DataError::Io { path: path.to_owned(), action: "write", source };
        let Some(file_name) = path.file_name() else {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path does not name a file",
            )));
        };
        let (destination, copy) = destination_of(path);
        let dir = match destination.parent() {
            _ if copy => std::env::temp_dir(),
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let temp = dir.join(temp_name);
        let result = OpenOptions::new().write(true).create_new(true).open(&temp).and_then(|file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            fill(&mut out)?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()
        });
        if let Err(source) = result {
            let _ = std::fs::remove_file(&temp);
            return Err(io_error(source));
        }
        self.staged.push(Staged { temp, destination, copy });
        Ok(())
    }

    /// Renames every staged file over its destination, after checking that no
    /// destination is a directory (the one failure a rename within a folder can
    /// meet); on an error, the files not yet renamed are removed.
    pub fn commit(mut self) -> Result<(), DataError> {
        for Staged { destination, .. } in &self.staged {
            if destination.is_dir() {
                return Err(DataError::Io {
                    path: destination.clone(),
                    action: "write",
                    source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory"),
                });
            }
        }
        let staged = std::mem::take(&mut self.staged);
        for (index, Staged { temp, destination, copy }) in staged.iter().enumerate() {
            let placed = if *copy {
                File::open(temp)
                    .and_then(|mut from| {
                        let mut to = OpenOptions::new().write(true).open(destination)?;
                        std::io::copy(&mut from, &mut to)?;
                        to.flush()
                    })
                    .map(|()| {
                        let _ = std::fs::remove_file(temp);
                    })
            } else {
                std::fs::rename(temp, destination)
            };
            if let Err(source) = placed {
                for Staged { temp, .. } in &staged[index..] {
                    let _ = std::fs::remove_file(temp);
                }
                return Err(DataError::Io { path: destination.clone(), action: "write", source });
            }
        }
        Ok(())
    }
}

impl Drop for StagedFiles {
    fn drop(&mut self) {
        for Staged { temp, .. } in &self.staged {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("readable")
            .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
        let mut files = StagedFiles::new();
        files.bytes(path, bytes)?;
        files.commit()
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("out.bin");
        write_atomically(&path, b"first").expect("writable");
        write_atomically(&path, b"second").expect("writable");
        assert_eq!(std::fs::read(&path).expect("readable"), b"second");
        assert_eq!(entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // The destination is a non-empty directory: the rename fails after the write.
        let blocked = dir.path().join("blocked.npy");
        std::fs::create_dir(&blocked).expect("creatable");
        std::fs::write(blocked.join("inside"), b"x").expect("writable");
        let error = write_atomically(&blocked, b"data").expect_err("cannot replace a directory").to_string();
        assert!(error.starts_with(&format!("cannot write {}: ", blocked.display())), "{error}");
        assert_eq!(entries(dir.path()), vec!["blocked.npy"]);
        let missing_dir = dir.path().join("no/such/dir/out.npy");
        let error = write_atomically(&missing_dir, b"data").expect_err("no directory").to_string();
        assert!(error.starts_with(&format!("cannot write {}: ", missing_dir.display())), "{error}");
    }

    #[test]
    fn staged_files_appear_together_or_not_at_all() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
        std::fs::write(&a, b"old a").expect("writable");
        let mut files = StagedFiles::new();
        files.bytes(&a, b"new a").expect("stageable");
        files.bytes(&b, b"new b").expect("stageable");
        assert_eq!(std::fs::read(&a).expect("readable"), b"old a", "nothing changes before the commit");
        drop(files);
        assert_eq!(entries(dir.path()), vec!["a.bin"], "dropped uncommitted: temporaries removed");
        assert_eq!(std::fs::read(&a).expect("readable"), b"old a");

        // A destination that fails late (a directory) stops the commit before any rename.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).expect("creatable");
        let mut files = StagedFiles::new();
        files.bytes(&a, b"new a").expect("stageable");
        files.bytes(&blocked, b"x").expect("stageable");
        assert!(files.commit().is_err());
        assert_eq!(std::fs::read(&a).expect("readable"), b"old a");
        assert_eq!(entries(dir.path()), vec!["a.bin", "blocked"]);

        // A folder that does not exist fails at staging.
        let mut files = StagedFiles::new();
        files.bytes(&a, b"new a").expect("stageable");
        assert!(files.bytes(&dir.path().join("missing/b.bin"), b"x").is_err());
        drop(files);
        assert_eq!(entries(dir.path()), vec!["a.bin", "blocked"]);

        let mut files = StagedFiles::new();
        files.bytes(&a, b"new a").expect("stageable");
        files.bytes(&b, b"new b").expect("stageable");
        files.commit().expect("committed");
        assert_eq!(std::fs::read(&a).expect("readable"), b"new a");
        assert_eq!(std::fs::read(&b).expect("readable"), b"new b");
        assert_eq!(entries(dir.path()), vec!["a.bin", "b.bin", "blocked"]);
    }

    #[cfg(unix)]
    #[test]
    fn links_are_written_through_and_devices_are_not_replaced() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (target, link) = (dir.path().join("target.bin"), dir.path().join("link.bin"));
        std::fs::write(&target, b"old").expect("writable");
        std::os::unix::fs::symlink(&target, &link).expect("linkable");
        let mut files = StagedFiles::new();
        files.bytes(&link, b"new").expect("stageable");
        files.bytes(Path::new("/dev/null"), b"discarded").expect("stageable");
        files.commit().expect("committed");
        assert!(std::fs::symlink_metadata(&link).expect("there").file_type().is_symlink(), "the link stays");
        assert_eq!(std::fs::read(&target).expect("readable"), b"new");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata("/dev/null").expect("there").file_type().is_char_device(), "/dev/null stays");
        assert_eq!(entries(dir.path()), vec!["link.bin", "target.bin"]);
    }
}

//! Writing files so that they appear whole or not at all, together: each file
//! goes to a temporary sibling first ([`StagedFiles`]); only when every file of a
//! command is written are they renamed over their destinations. A failure at any
//! point (a full disk, a missing folder, a destination that is a directory, a
//! later error of the command) removes the temporary files and leaves every
//! destination as it was.

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
    /// (temporary file, destination), in the order staged.
    staged: Vec<(PathBuf, PathBuf)>,
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
        let dir = match path.parent() {
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
        self.staged.push((temp, path.to_owned()));
        Ok(())
    }

    /// Renames every staged file over its destination, after checking that no
    /// destination is a directory (the one failure a rename within a folder can
    /// meet); on an error, the files not yet renamed are removed.
    pub fn commit(mut self) -> Result<(), DataError> {
        for (_, destination) in &self.staged {
            if destination.is_dir() {
                return Err(DataError::Io {
                    path: destination.clone(),
                    action: "write",
                    source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory"),
                });
            }
        }
        let staged = std::mem::take(&mut self.staged);
        for (index, (temp, destination)) in staged.iter().enumerate() {
            if let Err(source) = std::fs::rename(temp, destination) {
                for (temp, _) in &staged[index..] {
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
        for (temp, _) in &self.staged {
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
}

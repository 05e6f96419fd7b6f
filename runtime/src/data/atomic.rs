//! Writing a file so that it appears whole or not at all: the bytes go to a temporary
//! file in the same directory, which is then renamed over the destination.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::DataError;

/// Distinguishes temporary files of one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` through a temporary sibling file and a rename; on any
/// failure the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// Writes what `fill` writes to `path` through a buffered temporary sibling file and a
/// rename; on any failure the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), DataError> {
    let io_error = |source| DataError::Io { path: path.to_owned(), action: "write", source };
    let Some(file_name) = path.file_name() else {
        return Err(io_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path does not name a file")));
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let temp = dir.join(temp_name);
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            fill(&mut out)?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(source) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(source));
    }
    Ok(())
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
}

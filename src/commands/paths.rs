//! The files a command reads and writes, checked before any work: no output may
//! be an input or another output, and every output's folder must exist.
//!
//! Files are compared by canonical path (symbolic links, `..` and `./` resolved)
//! and, on Unix, by device and inode when both exist (hard links), so
//! `--out ./x.npy --input x=x.npy` is caught like `--out x.npy`.

use std::path::{Path, PathBuf};

use super::Failure;

/// A file named on the command line, as it was named (`--out h.npy`,
/// `--input x=x.npy`), for messages.
pub struct Named<'a> {
    /// How the command line named it.
    pub shown: String,
    /// The path.
    pub path: &'a Path,
}

impl<'a> Named<'a> {
    /// The file `path`, given as `flag PATH` (or as `PATH` alone for an empty
    /// flag; `--input x=` is followed by no space).
    pub fn new(flag: &str, path: &'a Path) -> Named<'a> {
        let shown = match flag {
            "" => path.display().to_string(),
            flag if flag.ends_with('=') => format!("{flag}{}", path.display()),
            flag => format!("{flag} {}", path.display()),
        };
        Named { shown, path }
    }
}

/// Refuses outputs that are an input or another output (a usage error, exit 2),
/// and outputs that cannot be created: a directory, or a folder that does not
/// exist (exit 1).
pub fn check_outputs(inputs: &[Named<'_>], outputs: &[Named<'_>]) -> Result<(), Failure> {
    for (index, output) in outputs.iter().enumerate() {
        let identity = Identity::of(output.path);
        for input in inputs {
            if identity.same_as(&Identity::of(input.path)) {
                return Err(Failure::Usage(format!(
                    "`{}` is the input `{}`; rnnc never writes over its inputs",
                    output.shown, input.shown
                )));
            }
        }
        for other in &outputs[..index] {
            if identity.same_as(&Identity::of(other.path)) {
                return Err(Failure::Usage(format!("`{}` and `{}` name the same file", other.shown, output.shown)));
            }
        }
        check_creatable(output.path)?;
    }
    Ok(())
}

/// A file can be created or replaced at `path`: it is not a directory, and its
/// folder exists.
fn check_creatable(path: &Path) -> Result<(), Failure> {
    let cannot = |why: String| Failure::User(format!("cannot write `{}`: {why}", path.display()));
    if path.is_dir() {
        return Err(cannot("it is a directory".to_owned()));
    }
    if path.file_name().is_none() {
        return Err(cannot("the path does not name a file".to_owned()));
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(cannot(format!("the folder `{}` does not exist", folder.display())));
    }
    Ok(())
}

/// What identifies a file: its canonical path (or its folder's, joined with its
/// name, if it does not exist yet) and, for an existing file on Unix, its device
/// and inode.
struct Identity {
    canonical: Option<PathBuf>,
    inode: Option<(u64, u64)>,
}

impl Identity {
    fn of(path: &Path) -> Identity {
        let canonical = std::fs::canonicalize(path).ok().or_else(|| {
            let folder = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(folder).ok()?.join(path.file_name()?))
        });
        Identity { canonical, inode: inode(path) }
    }

    fn same_as(&self, other: &Identity) -> bool {
        (self.canonical.is_some() && self.canonical == other.canonical)
            || (self.inode.is_some() && self.inode == other.inode)
    }
}

#[cfg(unix)]
fn inode(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn inode(_path: &Path) -> Option<(u64, u64)> {
    None
}

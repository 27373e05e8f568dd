//! Keeping outputs off inputs: no command may write a report, a copy, a part or a journal over
//! one of the files it reads.

use std::path::{Path, PathBuf};

use super::FileError;

/// What identifies a file: its canonical path and, when it exists, its device and inode (so
/// that `./x.csv`, a symlink to it and a hard link to it are all the same file).
#[derive(Debug)]
struct Identity {
    canonical: Option<PathBuf>,
    id: Option<(u64, u64)>,
    /// A regular file (or a path that does not exist yet): writing it replaces its bytes.
    replaceable: bool,
}

#[cfg(unix)]
fn dev_ino(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn dev_ino(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The canonical form of a path that may not exist yet: its folder's canonical path joined with
/// its name.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(c) = path.canonicalize() {
        return Some(c);
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

fn identity(path: &Path) -> Identity {
    // `-` is stdin (as an input) or stdout (as an output): what it is redirected from or to.
    let target = if path.as_os_str() == "-" {
        Path::new("/dev/stdin")
    } else {
        path
    };
    match std::fs::metadata(target) {
        Ok(meta) => Identity {
            canonical: if path.as_os_str() == "-" {
                None
            } else {
                canonical(path)
            },
            id: dev_ino(&meta),
            replaceable: meta.is_file(),
        },
        Err(_) => Identity {
            canonical: if path.as_os_str() == "-" {
                None
            } else {
                canonical(path)
            },
            id: None,
            replaceable: true,
        },
    }
}

/// Refuses when any output is the same file as any input (same canonical path, or same device
/// and inode). Devices and pipes (`/dev/null`, `/dev/stdout`) are never "the same file": writing
/// to them loses no input. Call it before anything is written.
pub fn ensure_outputs_distinct(inputs: &[&Path], outputs: &[&Path]) -> Result<(), FileError> {
    let ins: Vec<(&Path, Identity)> = inputs.iter().map(|p| (*p, identity(p))).collect();
    for out in outputs {
        if out.as_os_str() == "-" {
            continue; // stdout: written, never replaced
        }
        let o = identity(out);
        if !o.replaceable {
            continue;
        }
        for (input, i) in &ins {
            if !i.replaceable {
                continue;
            }
            let same_id = matches!((o.id, i.id), (Some(a), Some(b)) if a == b);
            let same_path = matches!((&o.canonical, &i.canonical), (Some(a), Some(b)) if a == b);
            if same_id || same_path {
                return Err(FileError::SameFile {
                    output: out.display().to_string(),
                    input: if input.as_os_str() == "-" {
                        "<stdin>".into()
                    } else {
                        input.display().to_string()
                    },
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_by_path_link_and_inode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("users.csv");
        std::fs::write(&input, "a\n").expect("write");
        let other = dir.path().join("report.csv");
        assert!(ensure_outputs_distinct(&[&input], &[&other]).is_ok());
        assert!(ensure_outputs_distinct(&[&input], &[&input]).is_err());
        let dotted = dir.path().join(".").join("users.csv");
        assert!(ensure_outputs_distinct(&[&input], &[&dotted]).is_err());
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&input, &hard).expect("link");
        assert!(ensure_outputs_distinct(&[&input], &[&hard]).is_err());
        #[cfg(unix)]
        {
            let soft = dir.path().join("soft.csv");
            std::os::unix::fs::symlink(&input, &soft).expect("symlink");
            assert!(ensure_outputs_distinct(&[&soft], &[&input]).is_err());
        }
        assert!(ensure_outputs_distinct(&[&input], &[Path::new("-")]).is_ok());
        #[cfg(unix)]
        assert!(
            ensure_outputs_distinct(&[Path::new("/dev/null")], &[Path::new("/dev/null")]).is_ok()
        );
    }
}

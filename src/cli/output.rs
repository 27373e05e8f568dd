//! Writing to stdout without panicking on a closed pipe (`qusers … | head`).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;

/// Where a command's data goes: stdout, or a file.
pub struct Output;

impl Output {
    /// Writes `text` to stdout; a closed pipe surfaces as an error that `main` treats as success.
    pub fn stdout(text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

/// True when the error is stdout's reader having gone away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Where `-o` output goes: a file written under a temporary name, or a destination written
/// in place (stdout, a device, a pipe).
pub enum OutFile {
    File(std::fs::File),
    Stdout(io::Stdout),
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OutFile::File(f) => f.write(buf),
            OutFile::Stdout(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            OutFile::File(f) => f.flush(),
            OutFile::Stdout(s) => s.flush(),
        }
    }
}

/// True when `-o path` is written in place rather than replaced: `-` (stdout), or an existing
/// path that is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO, a symlink to one).
/// Such output cannot be read back.
pub fn writes_in_place(path: &Path) -> bool {
    path.as_os_str() == "-"
        || std::fs::metadata(path).is_ok_and(|m| !m.is_dir() && (!m.is_file() || is_special(path)))
}

/// A path in /dev or /proc (`/dev/stdout` is a symlink to `/proc/self/fd/1`, which can be a
/// regular file when stdout is redirected to one): never replaced by a rename.
fn is_special(path: &Path) -> bool {
    let special = |p: &Path| p.starts_with("/dev") || p.starts_with("/proc");
    special(path) || path.canonicalize().is_ok_and(|c| special(&c))
}

/// Writes `path` under a temporary name beside it and renames it when `write` succeeds, so
/// that a failed or interrupted run never leaves a file that looks complete. `-` is stdout, and
/// a path that exists and is not a regular file (a device, a FIFO) is written directly: a
/// rename would replace `/dev/null` or the pipe with a plain file.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<OutFile>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if path.as_os_str() == "-" {
        let mut out = BufWriter::with_capacity(1 << 16, OutFile::Stdout(io::stdout()));
        let value = write(&mut out)?;
        out.flush()?;
        return Ok(value);
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            anyhow::bail!(
                "{} is a folder: give a file name for the output",
                path.display()
            );
        }
        if !meta.is_file() || is_special(path) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let mut out = BufWriter::with_capacity(1 << 16, OutFile::File(file));
            let value = write(&mut out)?;
            out.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
            return Ok(value);
        }
    }
    // A symlink to a file: its target is replaced, the link stays.
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = path
                .canonicalize()
                .with_context(|| format!("cannot follow the link {}", path.display()))?;
            resolved.as_path()
        }
        _ => path,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out.csv".into());
    let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 16, OutFile::File(file));
        let value = write(&mut out)?;
        match out.into_inner().map_err(|e| e.into_error())? {
            OutFile::File(f) => f.sync_all()?,
            OutFile::Stdout(_) => {}
        }
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn devices_and_proc_paths_are_written_in_place() {
        // Whatever stdout is (a pipe, a terminal, a redirected regular file), /dev/stdout is
        // never renamed over.
        assert!(writes_in_place(Path::new("/dev/stdout")));
        assert!(writes_in_place(Path::new("/dev/null")));
        assert!(writes_in_place(Path::new("-")));
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "x").expect("write");
        assert!(!writes_in_place(&file));
        assert!(!writes_in_place(&dir.path().join("new.csv")));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_a_file_keeps_the_link_and_replaces_the_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("real.csv");
        std::fs::write(&target, "old").expect("write");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        write_atomically(&link, |out| Ok(out.write_all(b"new")?)).expect("written");
        assert!(std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).expect("target"), b"new");
    }
}

//! A command's data (CSV, JSON) to stdout or to a file named with `-o`, without panicking on a
//! closed pipe (`qusers … | head`), and files replaced atomically.

use std::io::{self, BufWriter, Write};
use std::path::Path;

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

/// stdout, locked, for a command's data (export's CSV): a closed pipe is an error the caller
/// returns, and `main` treats as success.
pub(crate) fn stdout() -> io::StdoutLock<'static> {
    io::stdout().lock()
}

/// True when the error is stdout's reader having gone away.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Where `-o` output goes: a file written under a temporary name (or a device written in
/// place), or stdout.
pub enum OutFile {
    File(crate::fsx::AtomicFile),
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
    path.as_os_str() == "-" || crate::fsx::writes_in_place(path)
}

/// Writes `path` through [`crate::fsx::AtomicFile`]: under a temporary name beside it, renamed
/// over the name when `write` succeeds, so that a failed or interrupted run never leaves a file
/// that looks complete, and a link planted at the name is replaced, never written through.
/// `-` is stdout, and a device or a FIFO is written in place.
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
    let file = crate::fsx::AtomicFile::create(path)?;
    let mut out = BufWriter::with_capacity(1 << 16, OutFile::File(file));
    let value = write(&mut out)?;
    match out.into_inner().map_err(|e| e.into_error())? {
        OutFile::File(f) => f.commit()?,
        OutFile::Stdout(_) => {}
    }
    Ok(value)
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
    fn a_symlink_to_a_file_is_replaced_and_its_target_kept() {
        // The link may have been planted by someone else in a shared folder: writing through
        // it would overwrite whatever it points at.
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("real.csv");
        std::fs::write(&target, "old").expect("write");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        write_atomically(&link, |out| Ok(out.write_all(b"new")?)).expect("written");
        assert!(std::fs::symlink_metadata(&link).expect("link").is_file());
        assert_eq!(std::fs::read(&link).expect("new file"), b"new");
        assert_eq!(std::fs::read(&target).expect("target"), b"old");
    }
}

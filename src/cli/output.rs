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
    path.as_os_str() == "-" || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
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
        if !meta.is_file() {
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

//! Every file qusers writes goes through here, with one policy for links, devices and fsync.
//!
//! A report, a journal or an `-o` copy often lives in a shared folder (`/tmp`, a team share)
//! where someone else can plant a symbolic link at the name qusers is about to write: writing
//! through it would overwrite whatever the link points at, with the admin's rights. So:
//!
//! - **A link at the name is never followed to a regular file, and a dangling link never makes
//!   qusers create its target.** A file written whole ([`write_atomic`], [`AtomicFile`]) is
//!   written under a new name beside it (created with `O_EXCL`, so a link planted there is not
//!   followed either), synced, and renamed over the *name*: a link there is replaced, its
//!   target is untouched. A file written as it goes (a report, a journal, the lock: [`open`])
//!   is opened with `O_NOFOLLOW`, and a link there is refused with an error naming the path.
//! - **Devices, FIFOs and `/dev`, `/proc` paths are written in place** (`-o /dev/null`,
//!   `--report /dev/stdout`, a FIFO, a link to one): a rename would replace them with a plain
//!   file. They are opened by name, without `O_CREAT`, so that the kernel's own protection of
//!   links in shared sticky folders (`fs.protected_symlinks`) applies, and after opening the
//!   file must still be one (a link swapped in between is refused).
//! - **A file replaced whole is synced before the rename and its folder after it**, so that a
//!   crash leaves the old file or the new one, never an empty one.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How [`open`] treats what is already at the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Open {
    /// Create it, or cut an existing file to nothing.
    Truncate,
    /// Create it, or keep an existing file's bytes (the caller overwrites and cuts them).
    Keep,
    /// Add to the end of an existing file; `create` makes a missing one.
    Append { create: bool },
    /// Read and write, creating it, keeping its bytes (a lock file).
    ReadWrite,
    /// Create it; an existing file (or a link) at the path is an `AlreadyExists` error.
    CreateNew,
}

/// An error that names the path.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The refusal for a link at a path written as it goes.
fn link_refused(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} is a symbolic link: qusers does not write through a link (in a shared folder \
             anyone could have pointed it at another file); remove the link or give another name",
            path.display()
        ),
    )
}

/// A path in /dev or /proc (`/dev/stdout` is a link to `/proc/self/fd/1`, which can be a
/// regular file when stdout is redirected to one): written in place, never replaced. Not
/// /dev/shm, a shared folder like /tmp.
pub(crate) fn is_special(path: &Path) -> bool {
    let special =
        |p: &Path| (p.starts_with("/dev") && !p.starts_with("/dev/shm")) || p.starts_with("/proc");
    special(path) || path.canonicalize().is_ok_and(|c| special(&c))
}

/// True when `path` is written in place rather than replaced: an existing path that is (or
/// links to) a device, a FIFO or a socket, or a path in /dev or /proc. A folder is not.
pub(crate) fn writes_in_place(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(m) => !m.is_dir() && (!m.is_file() || is_special(path)),
        Err(_) => false,
    }
}

/// Opens a device, FIFO or special path in place: by name (the kernel's link protection sees
/// the open), never created, and refused if what opened is a regular file after all (a link
/// swapped in since the check) unless the path is in /dev or /proc.
fn open_in_place(path: &Path, read: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(read)
        .write(true)
        .open(path)
        .map_err(|e| named(path, e))?;
    let meta = file.metadata().map_err(|e| named(path, e))?;
    if meta.is_file() && !is_special(path) {
        return Err(link_refused(path));
    }
    Ok(file)
}

#[cfg(unix)]
fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    o.custom_flags(libc::O_NOFOLLOW)
}

#[cfg(not(unix))]
fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    o
}

/// True when the error is `O_NOFOLLOW` meeting a link.
fn is_link_error(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Whether the path is a link (not followed).
fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Opens `path` to write as it goes (a report, a journal, a log, the lock), never through a
/// link to a regular file or a dangling one: such a link is refused with an error naming the
/// path. A device, a FIFO or a /dev path (or a link to one) is opened in place.
pub(crate) fn open(path: &Path, how: Open) -> io::Result<File> {
    if writes_in_place(path) {
        return open_in_place(path, how == Open::ReadWrite);
    }
    let mut o = OpenOptions::new();
    match how {
        Open::Truncate => o.write(true).create(true).truncate(true),
        Open::Keep => o.write(true).create(true).truncate(false),
        Open::Append { create } => o.append(true).create(create),
        Open::ReadWrite => o.read(true).write(true).create(true).truncate(false),
        Open::CreateNew => o.write(true).create_new(true),
    };
    match no_follow(&mut o).open(path) {
        Ok(f) => Ok(f),
        Err(e) if is_link_error(&e) || (e.kind() == io::ErrorKind::NotFound && is_link(path)) => {
            Err(link_refused(path))
        }
        Err(e) => Err(named(path, e)),
    }
}

/// A file being written under a temporary name beside `path`, renamed over `path` by
/// [`AtomicFile::commit`]; dropped without a commit, the temporary file goes. For a device, a
/// FIFO or a /dev path, the path itself, written in place.
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    path: PathBuf,
    /// The temporary name, while there is one.
    tmp: Option<PathBuf>,
}

impl AtomicFile {
    /// Starts writing `path`. A folder at `path` is refused.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a folder: give a file name for the output",
                    path.display()
                ),
            ));
        }
        if writes_in_place(path) {
            return Ok(AtomicFile {
                file: open_in_place(path, false)?,
                path: path.to_path_buf(),
                tmp: None,
            });
        }
        let (file, tmp) = create_beside(path)?;
        Ok(AtomicFile {
            file,
            path: path.to_path_buf(),
            tmp: Some(tmp),
        })
    }

    /// The path being written (not the temporary name).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the path is written in place (a device, a FIFO): it cannot be read back.
    pub fn in_place(&self) -> bool {
        self.tmp.is_none()
    }

    /// Syncs the file, renames it over the name (a link there is replaced, not followed) and
    /// syncs the folder. In place, only flushes.
    pub fn commit(self) -> io::Result<()> {
        self.finish(true)
    }

    /// [`AtomicFile::commit`] without the syncs: for a stand-in the same run replaces later
    /// (an HTML page's "unfinished" placeholder), where two syncs would only cost time.
    pub fn commit_unsynced(self) -> io::Result<()> {
        self.finish(false)
    }

    fn finish(mut self, sync: bool) -> io::Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return self.file.flush().map_err(|e| named(&self.path, e));
        };
        let result = (|| {
            if sync {
                self.file.sync_all()?;
            }
            std::fs::rename(&tmp, &self.path)?;
            if sync {
                sync_dir(&self.path)?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| named(&self.path, e))
    }
}

/// Write errors name the path (a full disk says which file it could not write).
impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf).map_err(|e| named(&self.path, e))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| named(&self.path, e))
    }
}

impl io::Seek for AtomicFile {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Creates a new file beside `path` (`.NAME.partial-PID-N`) with `O_EXCL`: never an existing
/// file, never through a link.
pub(crate) fn create_beside(path: &Path) -> io::Result<(File, PathBuf)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let mut last = None;
    for n in 0..100u32 {
        let tmp = path.with_file_name(format!(".{name}.partial-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            // Someone else's file (or link) there: another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            // (A missing folder, a read-only one: named as the file asked for.)
            Err(e) => return Err(named(path, e)),
        }
    }
    Err(named(
        path,
        last.unwrap_or_else(|| io::Error::other("no free temporary name")),
    ))
}

/// Makes `tmp` (a file this run created beside `path`) the file at `path`: syncs it, renames
/// it over the name (a link there is replaced, not followed), syncs the folder.
pub(crate) fn rename_over(tmp: &Path, path: &Path) -> io::Result<()> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| named(tmp, e))?;
    std::fs::rename(tmp, path).map_err(|e| named(path, e))?;
    sync_dir(path).map_err(|e| named(path, e))
}

/// Syncs the folder holding `path`, so that a rename into it survives a crash.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Writes `path` whole through `write`, atomically (see [`AtomicFile`]): a failed `write` leaves
/// the old file as it was. Errors from the file itself name the path.
pub(crate) fn write_atomic<T, E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<AtomicFile>) -> Result<T, E>,
) -> Result<T, E> {
    let mut out = BufWriter::with_capacity(1 << 16, AtomicFile::create(path)?);
    let value = write(&mut out)?;
    let file = out.into_inner().map_err(|e| named(path, e.into_error()))?;
    file.commit()?;
    Ok(value)
}

/// Writes `bytes` as the whole of `path`, atomically.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, |out| out.write_all(bytes))
}

/// [`write_bytes`] without the syncs (see [`AtomicFile::commit_unsynced`]).
pub(crate) fn write_bytes_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit_unsynced()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_link_is_replaced_whole_and_its_target_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").expect("victim");
        let link = dir.path().join("out.csv");
        symlink(&victim, &link).expect("link");
        write_bytes(&link, b"new").expect("written");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        assert!(std::fs::symlink_metadata(&link).expect("out").is_file());
        assert_eq!(std::fs::read(&link).expect("out"), b"new");
        // Nothing left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);
    }

    #[test]
    fn a_link_is_refused_when_written_as_it_goes_and_a_dangling_one_creates_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").expect("victim");
        let missing = dir.path().join("missing");
        for (name, target) in [("to-victim", &victim), ("dangling", &missing)] {
            let link = dir.path().join(name);
            symlink(target, &link).expect("link");
            for how in [
                Open::Truncate,
                Open::Keep,
                Open::ReadWrite,
                Open::Append { create: true },
                Open::Append { create: false },
            ] {
                let e = open(&link, how).expect_err("refused");
                assert!(e.to_string().contains(&link.display().to_string()), "{e}");
                assert!(e.to_string().contains("symbolic link"), "{e}");
            }
        }
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        assert!(!missing.exists());
    }

    #[test]
    fn a_temporary_name_taken_by_a_link_is_passed_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").expect("victim");
        let out = dir.path().join("out.csv");
        let planted = dir
            .path()
            .join(format!(".out.csv.partial-{}-0", std::process::id()));
        symlink(&victim, &planted).expect("link");
        write_bytes(&out, b"new").expect("written");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        assert_eq!(std::fs::read(&out).expect("out"), b"new");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.csv");
        std::fs::write(&out, "old").expect("old");
        let r: io::Result<()> = write_atomic(&out, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("stopped"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&out).expect("out"), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }

    #[test]
    fn a_full_device_names_the_path() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        let e = write_bytes(Path::new("/dev/full"), &[b'x'; 1 << 17]).expect_err("full");
        assert_eq!(e.raw_os_error(), None, "wrapped with the path");
        assert!(e.to_string().contains("/dev/full"), "{e}");
    }
}

//! stdout and stderr, the only way qusers writes to a terminal or a pipe.
//!
//! `println!` panics when the reader of a pipe has gone (`qusers export | head -1`); these
//! functions do not: a closed pipe ends the output quietly (the reader asked for no more), and
//! any other write error is returned to the caller, which can report it.

use std::io::{self, Write};

/// Whether stderr is a terminal (progress bars and prompts are drawn only then).
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal()
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stdout().is_terminal()
}

/// Writes `text` to stdout as it is (no newline added), then flushes.
pub fn out(text: &str) -> io::Result<()> {
    write_all(&mut io::stdout().lock(), text)
}

/// Writes `text` and a newline to stdout.
pub fn out_line(text: &str) -> io::Result<()> {
    let mut s = io::stdout().lock();
    write_all(&mut s, text)?;
    write_all(&mut s, "\n")
}

/// Writes `text` to stderr as it is (no newline added). Errors are ignored: stderr is where
/// errors would go.
pub fn err(text: &str) {
    let _ = write_all(&mut io::stderr().lock(), text);
}

/// Writes `text` and a newline to stderr.
pub fn err_line(text: &str) {
    let mut s = io::stderr().lock();
    let _ = write_all(&mut s, text);
    let _ = write_all(&mut s, "\n");
}

fn write_all(w: &mut impl Write, text: &str) -> io::Result<()> {
    match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_not_an_error_and_other_errors_are() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(28))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(write_all(&mut Closed, "x").is_ok());
        assert!(write_all(&mut Full, "x").is_err());
        let mut v = Vec::new();
        write_all(&mut v, "ok").unwrap();
        assert_eq!(v, b"ok");
    }
}

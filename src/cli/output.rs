//! Writing to stdout without panicking on a closed pipe (`qusers … | head`).

use std::io::{self, Write};

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

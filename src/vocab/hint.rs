//! What a person can do about an error: the one question every error type that has advice
//! answers for itself, so that the command line asks each error of a chain the same way
//! instead of knowing every type.

/// Advice that travels with an error.
pub trait Hint {
    /// What a person can do about this error, when there is something to say.
    fn hint(&self) -> Option<String>;

    /// The error refuses the input for what it holds (a damaged workbook, one larger than any
    /// user file): the input is invalid (exit 1), as `validate` says of it, rather than the
    /// command having been unable to run (exit 2).
    fn refuses_input(&self) -> bool {
        false
    }
}

//! The one error type of the core.

use std::fmt;

/// What kind of bad input an [`Error`] reports; bindings map it to their language's idiom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A value in a buffer is unusable: NaN, ±inf, a negative relevance, a corrupt residual.
    InvalidValue,
    /// A parameter is out of range (ε ≤ 0, unknown enum value, too few items per row, …).
    InvalidArgument,
    /// A buffer's length does not match the [`Shape`](crate::Shape) of the call.
    ShapeMismatch,
}

/// An error of the core: a kind and a message that starts with the op name.
///
/// The message is the text every binding shows, e.g. `soft_rank: values[2, 7] is NaN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The kind of bad input.
    pub kind: ErrorKind,
    /// Human-readable message, naming the op, the argument and, for values, the (row, column).
    pub message: String,
}

impl Error {
    /// Creates an error from a kind and a complete message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind of bad input.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, as every binding shows it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with `op: `.
    ///
    /// Enum parsing ([`Regularization::parse`](crate::Regularization::parse) and friends) cannot
    /// know which op it serves, so its messages carry no op name; glue code adds it with
    /// `Regularization::parse(s).map_err(|e| e.with_op("soft_rank"))`.
    pub fn with_op(mut self, op: &str) -> Self {
        self.message = format!("{op}: {}", self.message);
        self
    }

    pub(crate) fn invalid_value(op: &str, message: fmt::Arguments<'_>) -> Self {
        Error::new(ErrorKind::InvalidValue, format!("{op}: {message}"))
    }

    pub(crate) fn invalid_argument(op: &str, message: fmt::Arguments<'_>) -> Self {
        Error::new(ErrorKind::InvalidArgument, format!("{op}: {message}"))
    }

    pub(crate) fn shape_mismatch(op: &str, message: fmt::Arguments<'_>) -> Self {
        Error::new(ErrorKind::ShapeMismatch, format!("{op}: {message}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

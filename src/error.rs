//! One error type for the whole engine. Each variant names the Python exception class it becomes
//! (`kind`), so the binding layer maps errors in one place (`py/errors.rs`) and the Python hierarchy lives
//! in one file (`python/mergekit/exceptions.py`).

use arrow_schema::{ArrowError, DataType};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("column {column:?} not found on the {side} side; available columns: {available}")]
    ColumnNotFound {
        side: &'static str,
        column: String,
        available: String,
    },

    #[error(
        "cannot join key {left:?} ({left_type}) with {right:?} ({right_type}): the types are incompatible; \
         cast one side so both keys have the same type"
    )]
    KeyTypeMismatch {
        left: String,
        left_type: DataType,
        right: String,
        right_type: DataType,
    },

    #[error("key column {column:?} has type {dtype}, which cannot be used as a join key")]
    UnsupportedKeyType { column: String, dtype: DataType },

    #[error("{0}")]
    InvalidArgument(String),

    /// A failed `validate=` check; the message is pandas' own wording.
    #[error("{0}")]
    Validation(String),

    #[error(
        "the join would produce {rows} rows, more than max_output_rows={limit}; check for duplicated keys \
         (a many-to-many explosion) or raise the limit"
    )]
    OutputTooLarge { rows: u64, limit: u64 },

    #[error("the join was interrupted")]
    Cancelled,

    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: u64,
        message: String,
    },

    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },

    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),

    #[error("internal error (please report it): {0}")]
    Internal(String),
}

impl MergeError {
    /// The name of the class in `mergekit.exceptions` this error is raised as.
    pub fn kind(&self) -> &'static str {
        match self {
            MergeError::ColumnNotFound { .. } => "ColumnNotFoundError",
            MergeError::KeyTypeMismatch { .. } => "KeyTypeMismatchError",
            MergeError::UnsupportedKeyType { .. } => "UnsupportedKeyTypeError",
            MergeError::InvalidArgument(_) => "InvalidMergeError",
            MergeError::Validation(_) => "MergeValidationError",
            MergeError::OutputTooLarge { .. } => "OutputTooLargeError",
            MergeError::Cancelled => "KeyboardInterrupt",
            MergeError::Parse { .. } => "InputFormatError",
            MergeError::Io { .. } => "InputIOError",
            MergeError::Arrow(_) => "ArrowEngineError",
            MergeError::Internal(_) => "InternalError",
        }
    }
}

pub type Result<T, E = MergeError> = std::result::Result<T, E>;

//! One error type for the whole engine. Each variant maps to the Python exception class it becomes
//! (`MergeError::class`, an exhaustive match onto `ErrorClass`), so the binding layer maps errors in one
//! place (`py/errors.rs`) and the Python hierarchy lives in one file (`python/mergekit/exceptions.py`).

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

    /// An invalid merge specification (pandas raises `MergeError` for these).
    #[error("{0}")]
    InvalidArgument(String),

    /// A numeric or option argument out of range; the message names the argument.
    #[error("{0}")]
    BadArgument(String),

    /// A failed `validate=` check; the message is pandas' own wording.
    #[error("{0}")]
    Validation(String),

    #[error(
        "the join would produce {rows} rows, more than max_output_rows={limit}; check for duplicated keys \
         (a many-to-many explosion) or raise the limit"
    )]
    OutputTooLarge { rows: u64, limit: u64 },

    /// The output fits no limit given but not the machine either: its index pairs cannot be allocated.
    #[error(
        "the join would produce {rows} rows, and the {bytes} bytes of their row indices cannot be allocated; \
         check for duplicated keys (a many-to-many explosion) or cap the output with max_output_rows"
    )]
    OutOfMemory { rows: u64, bytes: u64 },

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

    /// Refused before anything was written: the join's estimated spill and output bytes exceed the free space.
    #[error("{path}: not enough free disk space: this join needs at least {need} ({what}) and {free} are free; {advice}")]
    DiskSpace {
        path: String,
        need: String,
        what: String,
        free: String,
        advice: String,
    },

    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),

    #[error("internal error (please report it): {0}")]
    Internal(String),
}

/// The Python exception class an engine error is raised as: one variant per class in
/// `python/mergekit/exceptions.py`. `py/errors.rs` holds the class objects in a table indexed by this enum
/// (filled once when `mergekit.exceptions` is imported, which checks every name), so raising never looks a
/// class up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    ColumnNotFound,
    KeyTypeMismatch,
    UnsupportedKeyType,
    InvalidMerge,
    InvalidArgument,
    MergeValidation,
    OutputTooLarge,
    InputFormat,
    InputIO,
    ArrowEngine,
    Internal,
}

impl ErrorClass {
    /// Every class, in table order (`self as usize` is the index).
    pub const ALL: [ErrorClass; 11] = [
        ErrorClass::ColumnNotFound,
        ErrorClass::KeyTypeMismatch,
        ErrorClass::UnsupportedKeyType,
        ErrorClass::InvalidMerge,
        ErrorClass::InvalidArgument,
        ErrorClass::MergeValidation,
        ErrorClass::OutputTooLarge,
        ErrorClass::InputFormat,
        ErrorClass::InputIO,
        ErrorClass::ArrowEngine,
        ErrorClass::Internal,
    ];

    /// The class's name in `mergekit.exceptions` (checked against its `__all__` at import and in tests).
    pub fn python_name(self) -> &'static str {
        match self {
            ErrorClass::ColumnNotFound => "ColumnNotFoundError",
            ErrorClass::KeyTypeMismatch => "KeyTypeMismatchError",
            ErrorClass::UnsupportedKeyType => "UnsupportedKeyTypeError",
            ErrorClass::InvalidMerge => "InvalidMergeError",
            ErrorClass::InvalidArgument => "InvalidArgumentError",
            ErrorClass::MergeValidation => "MergeValidationError",
            ErrorClass::OutputTooLarge => "OutputTooLargeError",
            ErrorClass::InputFormat => "InputFormatError",
            ErrorClass::InputIO => "InputIOError",
            ErrorClass::ArrowEngine => "ArrowEngineError",
            ErrorClass::Internal => "InternalError",
        }
    }
}

impl MergeError {
    /// The class this error is raised as; `None` for a cancellation (raised as `KeyboardInterrupt`).
    pub fn class(&self) -> Option<ErrorClass> {
        Some(match self {
            MergeError::ColumnNotFound { .. } => ErrorClass::ColumnNotFound,
            MergeError::KeyTypeMismatch { .. } => ErrorClass::KeyTypeMismatch,
            MergeError::UnsupportedKeyType { .. } => ErrorClass::UnsupportedKeyType,
            MergeError::InvalidArgument(_) => ErrorClass::InvalidMerge,
            MergeError::BadArgument(_) => ErrorClass::InvalidArgument,
            MergeError::Validation(_) => ErrorClass::MergeValidation,
            MergeError::OutputTooLarge { .. } | MergeError::OutOfMemory { .. } => ErrorClass::OutputTooLarge,
            MergeError::Cancelled => return None,
            MergeError::Parse { .. } => ErrorClass::InputFormat,
            // By variant: Arrow's I/O failures are OS errors, everything else is invalid data.
            MergeError::Io { .. }
            | MergeError::DiskSpace { .. }
            | MergeError::Arrow(ArrowError::IoError(..)) => ErrorClass::InputIO,
            MergeError::Arrow(ArrowError::ExternalError(e)) if e.is::<std::io::Error>() => {
                ErrorClass::InputIO
            }
            MergeError::Arrow(_) => ErrorClass::ArrowEngine,
            MergeError::Internal(_) => ErrorClass::Internal,
        })
    }
}

/// A list of column names for an error message: at most `SHOWN` names of at most `NAME_CHARS` characters
/// each, then how many more there are, so a file with a huge header cannot make a huge message.
pub fn column_list<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 20;
    const NAME_CHARS: usize = 60;
    let total = names.len();
    let shown: Vec<String> = names
        .take(SHOWN)
        .map(|n| {
            if n.chars().count() > NAME_CHARS {
                let head: String = n.chars().take(NAME_CHARS).collect();
                format!("{head:?}... ({} characters)", n.chars().count())
            } else {
                format!("{n:?}")
            }
        })
        .collect();
    if total > SHOWN {
        format!(
            "[{}, ... {} more] ({total} columns)",
            shown.join(", "),
            total - SHOWN
        )
    } else {
        format!("[{}]", shown.join(", "))
    }
}

pub type Result<T, E = MergeError> = std::result::Result<T, E>;

//! What a join is asked to do: one `JoinArgs`, parsed once at the boundary.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{MergeError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Outer,
    Cross,
    LeftSemi,
    LeftAnti,
    RightAnti,
}

impl FromStr for JoinKind {
    type Err = MergeError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "inner" => JoinKind::Inner,
            "left" => JoinKind::Left,
            "right" => JoinKind::Right,
            "outer" | "full" => JoinKind::Outer,
            "cross" => JoinKind::Cross,
            "left_semi" | "semi" => JoinKind::LeftSemi,
            "left_anti" | "anti" => JoinKind::LeftAnti,
            "right_anti" => JoinKind::RightAnti,
            other => {
                return Err(MergeError::InvalidArgument(format!(
                    "how={other:?} is not a join kind; use one of 'inner', 'left', 'right', 'outer', \
                     'cross', 'left_semi', 'left_anti', 'right_anti'"
                )))
            }
        })
    }
}

impl JoinKind {
    /// Every kind that matches rows by key (all but `Cross`), for tests that run each one.
    #[cfg(test)]
    pub(crate) const KEYED: [JoinKind; 7] = [
        JoinKind::Inner,
        JoinKind::Left,
        JoinKind::Right,
        JoinKind::Outer,
        JoinKind::LeftSemi,
        JoinKind::LeftAnti,
        JoinKind::RightAnti,
    ];

    /// Whether the output keeps left rows that found no match.
    pub fn keeps_unmatched_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Outer | JoinKind::LeftAnti)
    }
    /// Whether the output keeps right rows that found no match.
    pub fn keeps_unmatched_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Outer | JoinKind::RightAnti)
    }
}

/// pandas' `validate=`: which sides must have unique keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validate {
    OneToOne,
    OneToMany,
    ManyToOne,
    ManyToMany,
}

impl FromStr for Validate {
    type Err = MergeError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "one_to_one" | "1:1" => Validate::OneToOne,
            "one_to_many" | "1:m" => Validate::OneToMany,
            "many_to_one" | "m:1" => Validate::ManyToOne,
            "many_to_many" | "m:m" => Validate::ManyToMany,
            other => {
                return Err(MergeError::InvalidArgument(format!(
                    "\"{other}\" is not a valid argument. Valid arguments are:\n- \"1:1\"\n- \"1:m\"\n- \
                     \"m:1\"\n- \"m:m\"\n- \"one_to_one\"\n- \"one_to_many\"\n- \"many_to_one\"\n- \
                     \"many_to_many\""
                )))
            }
        })
    }
}

/// A flag the caller sets to stop a running join (Ctrl-C). The engine polls it between morsels.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn check(&self) -> Result<()> {
        if self.0.load(Ordering::Relaxed) {
            Err(MergeError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, Clone)]
pub struct JoinArgs {
    pub kind: JoinKind,
    /// pandas semantics (`true`): null/NaN keys match each other. SQL/Spark semantics (`false`): they match nothing.
    pub nulls_equal: bool,
    /// Order the output by the join keys (pandas `sort=True`). Outer joins are always key-ordered, as in pandas.
    pub sort: bool,
    pub validate: Option<Validate>,
    /// Refuse to build an output larger than this many rows (counted before anything is allocated).
    pub max_output_rows: Option<u64>,
    pub threads: Option<usize>,
    pub cancel: Cancel,
}

impl JoinArgs {
    pub fn new(kind: JoinKind) -> Self {
        JoinArgs {
            kind,
            nulls_equal: true,
            sort: false,
            validate: None,
            max_output_rows: None,
            threads: None,
            cancel: Cancel::default(),
        }
    }

    /// Output follows key order instead of one side's row order.
    pub(crate) fn key_ordered(&self) -> bool {
        self.sort || self.kind == JoinKind::Outer
    }
}

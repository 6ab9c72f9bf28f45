//! pandas' `validate=`: the sides that must be unique are checked on the groups, with pandas' messages.

use rayon::prelude::*;

use crate::error::{MergeError, Result};
use crate::join::args::Validate;
use crate::join::build::{Groups, SideGroups};

fn unique(side: &SideGroups) -> bool {
    side.offsets.par_windows(2).all(|w| w[1] - w[0] <= 1)
}

pub(crate) fn check(groups: &Groups, validate: Validate) -> Result<()> {
    let fail = |msg: &str| Err(MergeError::Validation(msg.to_string()));
    match validate {
        Validate::OneToOne => match (unique(&groups.left), unique(&groups.right)) {
            (false, false) => {
                fail("Merge keys are not unique in either left or right dataset; not a one-to-one merge")
            }
            (false, true) => fail("Merge keys are not unique in left dataset; not a one-to-one merge"),
            (true, false) => fail("Merge keys are not unique in right dataset; not a one-to-one merge"),
            (true, true) => Ok(()),
        },
        Validate::OneToMany if !unique(&groups.left) => {
            fail("Merge keys are not unique in left dataset; not a one-to-many merge")
        }
        Validate::ManyToOne if !unique(&groups.right) => {
            fail("Merge keys are not unique in right dataset; not a many-to-one merge")
        }
        _ => Ok(()),
    }
}

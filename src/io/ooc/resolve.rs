//! Column positions, key types and the output plan, resolved once against both schemas.

use std::sync::Arc;

use arrow_array::{new_empty_array, ArrayRef};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::args::{JoinFilesArgs, SideId};
use super::keys::{key_types, normal_schema};
use crate::error::{MergeError, Result};
use crate::join::{JoinArgs, JoinKind};

pub(super) struct Resolved {
    /// Key column positions per side.
    pub(super) lkeys: Vec<usize>,
    pub(super) rkeys: Vec<usize>,
    pub(super) lschema: SchemaRef,
    pub(super) rschema: SchemaRef,
    /// Output: (side, column, coalesce column on the right).
    pub(super) plan: Vec<(SideId, usize, Option<usize>)>,
    pub(super) out_schema: SchemaRef,
}

pub(super) fn position(schema: &Schema, name: &str, side: &str) -> Result<usize> {
    schema.index_of(name).map_err(|_| MergeError::ColumnNotFound {
        side: if side == "left" { "left" } else { "right" },
        column: name.to_string(),
        available: crate::error::column_list(schema.fields().iter().map(|f| f.name().as_str())),
    })
}

pub(super) fn resolve(args: &JoinFilesArgs, ls: &SchemaRef, rs: &SchemaRef) -> Result<Resolved> {
    if args.left_on.is_empty() || args.left_on.len() != args.right_on.len() {
        return Err(MergeError::InvalidArgument(
            "join_files needs the same number (at least one) of left and right key columns".into(),
        ));
    }
    if args.kind == JoinKind::Cross {
        return Err(MergeError::InvalidArgument(
            "how='cross' is not supported by join_files".into(),
        ));
    }
    let lkeys = args
        .left_on
        .iter()
        .map(|n| position(ls, n, "left"))
        .collect::<Result<Vec<_>>>()?;
    let rkeys = args
        .right_on
        .iter()
        .map(|n| position(rs, n, "right"))
        .collect::<Result<Vec<_>>>()?;
    let lt: Vec<DataType> = lkeys.iter().map(|&k| ls.field(k).data_type().clone()).collect();
    let rt: Vec<DataType> = rkeys.iter().map(|&k| rs.field(k).data_type().clone()).collect();
    let types = key_types(&lt, &rt);
    let lschema = normal_schema(ls, &lkeys, &types);
    let rschema = normal_schema(rs, &rkeys, &types);
    // The engine decides which key types can be joined: ask it on zero rows, so join_files accepts and
    // rejects exactly what `merge` does, with the same error.
    let le: Vec<ArrayRef> = lkeys
        .iter()
        .map(|&k| new_empty_array(lschema.field(k).data_type()))
        .collect();
    let re: Vec<ArrayRef> = rkeys
        .iter()
        .map(|&k| new_empty_array(rschema.field(k).data_type()))
        .collect();
    crate::join::join_indices(
        &le,
        &re,
        &args.left_on,
        &args.right_on,
        &JoinArgs::new(JoinKind::Inner),
    )?;

    let mut plan = Vec::with_capacity(args.plan.len());
    let mut fields = Vec::with_capacity(args.plan.len());
    for c in &args.plan {
        let (schema, side) = match c.side {
            SideId::Left => (&lschema, "left"),
            SideId::Right => (&rschema, "right"),
        };
        let k = position(schema, &c.source, side)?;
        let co = c
            .coalesce_from
            .as_deref()
            .map(|n| position(&rschema, n, "right"))
            .transpose()?;
        plan.push((c.side, k, co));
        fields.push(Field::new(&c.name, schema.field(k).data_type().clone(), true));
    }
    Ok(Resolved {
        lkeys,
        rkeys,
        lschema,
        rschema,
        plan,
        out_schema: Arc::new(Schema::new(fields)),
    })
}

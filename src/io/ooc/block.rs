//! Block joins: a pair that partitioning cannot split (one heavy key), with bitmaps of matched rows.

use arrow_array::RecordBatch;

use super::args::SideId;
use super::driver::Driver;
use super::side::SideData;
use crate::error::{MergeError, Result};
use crate::join::JoinKind;

impl Driver<'_> {
    /// Join a pair that does not fit (or whose output does not) in blocks, tracking matched rows.
    pub(super) fn block_join(&mut self, l: &SideData, r: &SideData) -> Result<()> {
        self.summary.block_joins += 1;
        let kind = self.args.kind;
        let block = self.budget / 5;
        let lblocks = l.blocks(block);
        let rblocks = r.blocks(block);
        let mut lmatched = BitSet::new(l.rows() as usize);
        let mut rmatched = BitSet::new(r.rows() as usize);
        // The side with fewer blocks is loaded in the outer loop, so the other side is re-read fewer times.
        let left_outer = lblocks.len() <= rblocks.len();
        let (outer, inner) = if left_outer {
            (&lblocks, &rblocks)
        } else {
            (&rblocks, &lblocks)
        };
        for (orange, obase) in outer {
            let ob = if left_outer {
                l.load(orange.clone())?
            } else {
                r.load(orange.clone())?
            };
            for (irange, ibase) in inner {
                self.args.cancel.check()?;
                let ib = if left_outer {
                    r.load(irange.clone())?
                } else {
                    l.load(irange.clone())?
                };
                let (lb, rb, lbase, rbase) = if left_outer {
                    (&ob, &ib, *obase, *ibase)
                } else {
                    (&ib, &ob, *ibase, *obase)
                };
                self.block_pair(
                    lb,
                    rb,
                    lbase as usize,
                    rbase as usize,
                    &mut lmatched,
                    &mut rmatched,
                    kind,
                )?;
            }
        }
        // Rows decided only now that every pair was seen.
        for (range, base) in &lblocks {
            if decided(kind, SideId::Left).is_some() {
                self.emit_decided(SideId::Left, &l.load(range.clone())?, *base as usize, &lmatched)?;
            }
        }
        for (range, base) in &rblocks {
            if decided(kind, SideId::Right).is_some() {
                self.emit_decided(SideId::Right, &r.load(range.clone())?, *base as usize, &rmatched)?;
            }
        }
        Ok(())
    }

    /// Emit the rows of `batches` (side `side`, its first row at `base` in `matched`) that `kind` keeps
    /// alone once every pair they belong to was seen: unmatched rows padded with nulls, or a semi join's
    /// matched rows.
    pub(super) fn emit_decided(
        &mut self,
        side: SideId,
        batches: &[RecordBatch],
        base: usize,
        matched: &BitSet,
    ) -> Result<()> {
        let Some(want) = decided(self.args.kind, side) else {
            return Ok(());
        };
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let rows: Vec<i64> = (0..n)
            .filter(|&i| matched.get(base + i) == want)
            .map(|i| i as i64)
            .collect();
        let none = vec![-1i64; rows.len()];
        match side {
            SideId::Left => self.emit(batches, &[], rows, none),
            SideId::Right => self.emit(&[], batches, none, rows),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn block_pair(
        &mut self,
        lb: &[RecordBatch],
        rb: &[RecordBatch],
        lbase: usize,
        rbase: usize,
        lmatched: &mut BitSet,
        rmatched: &mut BitSet,
        kind: JoinKind,
    ) -> Result<()> {
        match kind {
            JoinKind::LeftSemi | JoinKind::LeftAnti => {
                let (li, _) = self.engine(lb, rb, JoinKind::LeftSemi, false)?;
                li.iter().for_each(|&i| lmatched.set(lbase + i as usize));
                Ok(())
            }
            JoinKind::RightAnti => {
                // The engine's left side is our right side here.
                let (ri, _) = self.engine(lb, rb, JoinKind::LeftSemi, true)?;
                ri.iter().for_each(|&j| rmatched.set(rbase + j as usize));
                Ok(())
            }
            _ => match self.engine(lb, rb, JoinKind::Inner, false) {
                Ok((li, ri)) => {
                    li.iter().for_each(|&i| lmatched.set(lbase + i as usize));
                    ri.iter().for_each(|&j| rmatched.set(rbase + j as usize));
                    self.emit(lb, rb, li, ri)
                }
                Err(MergeError::OutputTooLarge { .. } | MergeError::OutOfMemory { .. }) => {
                    // Halve the side with more rows and try each half.
                    let ln: usize = lb.iter().map(arrow_array::RecordBatch::num_rows).sum();
                    let rn: usize = rb.iter().map(arrow_array::RecordBatch::num_rows).sum();
                    if ln >= rn && ln > 1 {
                        let (a, b, na) = halves(lb);
                        self.block_pair(&a, rb, lbase, rbase, lmatched, rmatched, kind)?;
                        self.block_pair(&b, rb, lbase + na, rbase, lmatched, rmatched, kind)
                    } else if rn > 1 {
                        let (a, b, na) = halves(rb);
                        self.block_pair(lb, &a, lbase, rbase, lmatched, rmatched, kind)?;
                        self.block_pair(lb, &b, lbase, rbase + na, lmatched, rmatched, kind)
                    } else {
                        Err(MergeError::Internal(
                            "one row pair exceeds the output limit".into(),
                        ))
                    }
                }
                Err(e) => Err(e),
            },
        }
    }
}

/// Which rows of `side` a join of `kind` emits on their own, once all their pairs were seen: `Some(false)` the
/// unmatched ones (null-padded), `Some(true)` the matched ones (a semi join), `None` none.
pub(super) fn decided(kind: JoinKind, side: SideId) -> Option<bool> {
    match (kind, side) {
        (JoinKind::Left | JoinKind::Outer | JoinKind::LeftAnti, SideId::Left)
        | (JoinKind::Right | JoinKind::Outer | JoinKind::RightAnti, SideId::Right) => Some(false),
        (JoinKind::LeftSemi, SideId::Left) => Some(true),
        _ => None,
    }
}

/// Split batches into two halves by rows (zero-copy slices); returns the rows of the first half too.
pub(super) fn halves(batches: &[RecordBatch]) -> (Vec<RecordBatch>, Vec<RecordBatch>, usize) {
    let total: usize = batches.iter().map(arrow_array::RecordBatch::num_rows).sum();
    let half = total / 2;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut seen = 0;
    for batch in batches {
        let n = batch.num_rows();
        if seen + n <= half {
            a.push(batch.clone());
        } else if seen >= half {
            b.push(batch.clone());
        } else {
            let cut = half - seen;
            a.push(batch.slice(0, cut));
            b.push(batch.slice(cut, n - cut));
        }
        seen += n;
    }
    (a, b, half)
}

pub(super) struct BitSet(Vec<u64>);
impl BitSet {
    pub(super) fn new(n: usize) -> Self {
        BitSet(vec![0; n.div_ceil(64)])
    }
    pub(super) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub(super) fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
}

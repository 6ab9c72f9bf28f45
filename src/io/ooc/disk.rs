//! The disk budget: before a join starts, the bytes it will write (spill files and the output) are
//! estimated from the input sizes and checked against the free space of the file systems they go to, so a
//! join that cannot fit is refused at once instead of failing with ENOSPC after most of an hour.
//!
//! The estimates are floors, not guesses at the worst case: a refusal must be right. The output of a
//! pair-producing join holds at least one copy of each input's text when most rows match (a many-to-many
//! key makes it bigger, and then ENOSPC can still happen; the writer then removes what it wrote).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{MergeError, Result};
use crate::io::spill::SpillCompression;
use crate::join::JoinKind;

/// The fewest bytes an input byte of delimited text can become in a spill file, per compression. Uncompressed,
/// a field's text becomes its value bytes plus a 4-byte offset where the text had a 1-byte separator, so
/// never less. Compressed, repetitive data can shrink almost without bound, so the floors are low and the
/// output's floor does most of the refusing. (On `benches/ooc_bench.py`'s random-digit keys and values,
/// 1e8 x 1e7 rows, uncompressed spill files took 1.31 bytes per input byte and LZ4 ones 1.12.)
fn spill_ratio(c: SpillCompression) -> f64 {
    match c {
        SpillCompression::None => 1.0,
        SpillCompression::Lz4 => 0.1,
        // `Auto` may choose ZSTD: the lowest floor.
        SpillCompression::Zstd | SpillCompression::Auto => 0.05,
    }
}

/// Uncompressed spill files take about this many bytes per input byte (1.31 measured, see `spill_ratio`).
const UNCOMPRESSED_SPILL_RATIO: f64 = 1.4;

/// What `SpillCompression::Auto` becomes: no compression (the fastest) when uncompressed spill files of
/// `input` bytes and `output` bytes of output fit in 80% of the free space of their file systems (summed
/// when they share one), else ZSTD (the fewest bytes). Unknown free space keeps the fast choice.
pub(super) fn choose_compression(
    input: u64,
    output: u64,
    temp_dir: &Path,
    output_dir: &Path,
    probe: &Probe,
) -> SpillCompression {
    let (Some((tdev, tfree)), Some((odev, ofree))) = (probe(temp_dir), probe(output_dir)) else {
        return SpillCompression::None;
    };
    let spill = (input as f64 * UNCOMPRESSED_SPILL_RATIO) as u64;
    let room = |need: u64, free: u64| need as f64 <= free as f64 * 0.8;
    let fits = if tdev == odev {
        room(spill + output, tfree)
    } else {
        room(spill, tfree) && room(output, ofree)
    };
    if fits {
        SpillCompression::None
    } else {
        SpillCompression::Zstd
    }
}

/// The bytes a join will write, by where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DiskNeed {
    pub(super) spill: u64,
    /// The output's floor: what refusals use.
    pub(super) output: u64,
    /// The output's likely size: what `choose_compression` plans with (a choice, not a refusal, so it may
    /// use an estimate above the floor).
    pub(super) output_expected: u64,
}

/// Parquet output bytes per byte of the text a pair-producing join copies from its inputs, for planning only.
/// Compressed columns have no floor above zero (a column of one repeated value takes almost nothing), so
/// Parquet outputs refuse nothing; this ratio keeps `auto` from planning uncompressed spill files into the
/// space the output will need. (On `benches/ooc_bench.py`'s random-digit keys and values the Parquet output
/// took 0.38 bytes per input byte.)
const PARQUET_EXPECTED_RATIO: f64 = 0.5;

/// Estimated bytes written by a join of `kind` over inputs of `left` and `right` bytes. `spills`: the
/// strategy chosen from the sizes partitions both inputs to spill files. The output floor holds for
/// delimited text; a `parquet` output has none (see `PARQUET_EXPECTED_RATIO`).
pub(super) fn estimate(
    kind: JoinKind,
    left: u64,
    right: u64,
    compression: SpillCompression,
    spills: bool,
    parquet: bool,
) -> DiskNeed {
    let text = match kind {
        JoinKind::LeftSemi => left,
        // Anti joins may keep nothing: no floor on their output.
        JoinKind::LeftAnti | JoinKind::RightAnti => 0,
        _ => left + right,
    };
    let (output, output_expected) = if parquet {
        (0, (text as f64 * PARQUET_EXPECTED_RATIO) as u64)
    } else {
        (text, text)
    };
    let spill = if spills {
        ((left + right) as f64 * spill_ratio(compression)) as u64
    } else {
        0
    };
    DiskNeed {
        spill,
        output,
        output_expected,
    }
}

/// A file system: its device id and free bytes (for an unprivileged writer).
pub(super) type Probe = dyn Fn(&Path) -> Option<(u64, u64)>;

/// The device and free bytes of the file system holding `dir`, from `statvfs`; `None` where unknown.
pub(super) fn statvfs_probe(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let dev = std::fs::metadata(dir).ok()?.dev();
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` writes into the zeroed struct we own and reads the NUL-terminated path we own.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; both pointers are valid for the duration of the call.
    if unsafe { libc::statvfs(c.as_ptr(), &raw mut s) } != 0 {
        return None;
    }
    Some((dev, s.f_bavail.saturating_mul(s.f_frsize)))
}

fn gb(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / f64::from(1u32 << 30))
    } else {
        format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
    }
}

/// Refuse (one line: where, how much is needed and free, what to do) when `need` does not fit the free
/// space of `temp_dir` (spill files) and `output_dir` (the output), summed when they share a file system.
pub(super) fn check(need: DiskNeed, temp_dir: &Path, output_dir: &Path, probe: &Probe) -> Result<()> {
    let (Some((tdev, tfree)), Some((odev, ofree))) = (probe(temp_dir), probe(output_dir)) else {
        return Ok(()); // unknown free space: nothing to refuse on
    };
    let refuse = |path: &Path, needed: u64, what: String, free: u64| {
        let advice = if what == "output" {
            "free some space, write the output to another file system, or write it as Parquet (smaller)"
        } else {
            "free some space, put spill files on another file system (--temp-dir / temp_dir=), or write \
             the output as Parquet (smaller)"
        };
        Err(MergeError::DiskSpace {
            path: path.display().to_string(),
            need: gb(needed),
            what,
            free: gb(free),
            advice: advice.into(),
        })
    };
    if tdev == odev {
        let total = need.spill + need.output;
        if total > tfree {
            let what = format!(
                "{} of spill files and {} of output",
                gb(need.spill),
                gb(need.output)
            );
            return refuse(output_dir, total, what, tfree);
        }
        return Ok(());
    }
    if need.spill > tfree {
        return refuse(temp_dir, need.spill, "spill files".into(), tfree);
    }
    if need.output > ofree {
        return refuse(output_dir, need.output, "output".into(), ofree);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_strategy_and_the_kind() {
        let lz4 = SpillCompression::Lz4;
        let e = estimate(JoinKind::Inner, 1000, 100, lz4, false, false);
        assert_eq!(
            e,
            DiskNeed {
                spill: 0,
                output: 1100,
                output_expected: 1100,
            }
        );
        let e = estimate(JoinKind::Inner, 1000, 100, lz4, true, false);
        assert_eq!(e.spill, 110);
        let semi = estimate(JoinKind::LeftSemi, 1000, 100, lz4, false, false);
        assert_eq!(semi.output, 1000);
        let anti = estimate(JoinKind::LeftAnti, 1000, 100, lz4, false, false);
        assert_eq!(anti.output, 0);
        // Parquet: no floor to refuse on, half the text to plan with.
        let pq = estimate(JoinKind::Inner, 1000, 100, lz4, true, true);
        assert_eq!((pq.spill, pq.output, pq.output_expected), (110, 0, 550));
        let none = estimate(JoinKind::Inner, 1000, 100, SpillCompression::None, true, false);
        let zstd = estimate(JoinKind::Inner, 1000, 100, SpillCompression::Zstd, true, false);
        assert!(zstd.spill < e.spill && e.spill < none.spill);
    }

    #[test]
    fn a_join_that_cannot_fit_is_refused_in_one_line_naming_the_place() {
        let need = DiskNeed {
            spill: 600 << 20,
            output: 500 << 20,
            output_expected: 500 << 20,
        };
        let (t, o) = (Path::new("/spill"), Path::new("/out"));
        // One file system with 1 GiB free: spill and output together (1.07 GiB) do not fit.
        let same = |_: &Path| Some((1, 1 << 30));
        let e = check(need, t, o, &same).unwrap_err().to_string();
        assert!(e.starts_with("/out: not enough free disk space"), "{e}");
        assert!(
            e.contains("600.0 MiB of spill files and 500.0 MiB of output") && e.contains("1.0 GiB are free")
        );
        assert!(
            e.contains("--temp-dir") && e.contains("Parquet") && !e.contains('\n'),
            "{e}"
        );
        // Two file systems of 1 GiB each: both parts fit.
        let two = |p: &Path| Some((u64::from(p == Path::new("/out")), 1 << 30));
        check(need, t, o, &two).unwrap();
        // The spill directory's file system is the small one.
        let small_temp = |p: &Path| {
            Some(if p == Path::new("/spill") {
                (1, 100 << 20)
            } else {
                (2, 1 << 40)
            })
        };
        let e = check(need, t, o, &small_temp).unwrap_err().to_string();
        assert!(e.starts_with("/spill: ") && e.contains("spill files"), "{e}");
        // Unknown free space refuses nothing.
        check(need, t, o, &|_: &Path| None).unwrap();
        // Auto: uncompressed while the disk has room, ZSTD when it does not.
        let big = |_: &Path| Some((1, 100 << 30));
        let choose = |probe: &Probe| choose_compression(10 << 30, 15 << 30, t, o, probe);
        assert_eq!(choose(&big), SpillCompression::None);
        let tight = |_: &Path| Some((1, 30 << 30));
        assert_eq!(choose(&tight), SpillCompression::Zstd);
        assert_eq!(choose(&|_: &Path| None), SpillCompression::None);
        // A real probe of a real directory answers.
        let (_, free) = statvfs_probe(&std::env::temp_dir()).unwrap();
        assert!(free > 0);
    }
}

//! The matrix products: the GEMM kernel (`gemm.wgsl`) for a device, and how one
//! product is launched on it. Every projection (`X W^T`, dense or grouped per
//! block) and every projection gradient (`dP^T X`, `dP W`) is one [`GemmLaunch`]:
//! its [`GemmSizes`] record, its grid, and, when the product has too few output
//! tiles to fill the device and a long depth, a split of the depth whose partial
//! products the `sum_splits` kernel adds. A projection's matrices are first
//! transposed ([`TransposeLaunch`]), so that its product reads both operands
//! without transposing staged slices.

use super::Target;
use super::interface::GemmSizes;

/// Rows and columns of `C` per workgroup.
pub const GEMM_TILE: u64 = 128;

/// Threads per workgroup (16 x 16, each an 8 x 8 block of the tile).
const THREADS: u64 = 256;
const _: () = assert!(THREADS * 8 * 8 == GEMM_TILE * GEMM_TILE);

/// Workgroups a product's depth is split towards, when its output tiles are
/// fewer ([`GemmKernel::split_workgroups`]'s default): enough waves of a
/// large GPU that the last one's idle multiprocessors cost little. H200,
/// docs/measurements/h200-run60 (weight gradients over 65,536 steps, 412 and
/// 206 GFLOP): towards 512 workgroups ParaGRU's dense 3072 x 1024 product
/// took 11.80 ms (3 splits), towards 2048 10.02 (11 splits); para_gru_mh's
/// two 1536 x 512 blocks 5.24 against 5.32 ms (6 and 22 splits: the partial
/// products' sum costs more than the fuller waves save).
const SPLIT_TARGET_WORKGROUPS: u64 = 2048;

/// The shortest depth one split takes.
const SPLIT_MIN_DEPTH: u64 = 512;

/// What a product's depth segments ([`GemmSizes::segment`]) are a multiple
/// of: every slice depth a kernel takes, so that no slice straddles two.
pub const GEMM_SEGMENT_MULTIPLE: u64 = 16;

/// Whether products each `segment` deep can be one product in depth segments
/// (else they run one after another): no slice may straddle two segments.
pub fn gemm_segment_fits(segment: u64) -> bool {
    segment.is_multiple_of(GEMM_SEGMENT_MULTIPLE)
}

/// Threads per workgroup of the `sum_splits` kernel.
const SUM_THREADS: u64 = 256;

/// The GEMM kernel's compile-time shape for one device: how deep each staged
/// slice is, and whether its rows are padded against bank conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmKernel {
    /// Depth of a staged slice (a multiple of 8).
    pub depth: u64,
    /// vec4s per staged row: 32, or 33 with a vec4 of padding.
    pub row: u64,
    /// A stage left out, for measurements only (the products are then wrong).
    pub ablation: GemmAblation,
    /// Whether each product's kernel knows its operands' layouts at compile
    /// time ([`GemmLayout`]); without, one kernel tests them at run time (a
    /// measurement knob, `:generic`).
    pub specialised: bool,
    /// Whether each depth's fragments are read from workgroup memory while the
    /// previous depth is multiplied (H200, docs/measurements/h200-run36:
    /// ParaGRU's products 12.5 -> 11.9 ms, 14.2 -> 12.2, 12.3 -> 11.7; the
    /// multiplications alone 10.4 -> 8.9 ms). Off only for measurements
    /// (`:behind`).
    pub ahead: bool,
    /// Whether products whose strides allow it read whole quads of words as
    /// one 16-byte load (`GemmLayout::quads`). Off only for measurements
    /// (`:scalar`).
    pub quads: bool,
    /// Whether products that cover `C` in whole tiles and their depth in
    /// whole slices take a kernel without bounds tests (`GemmLayout::exact`).
    /// Off only for measurements (`:inexact`).
    pub exact: bool,
    /// Whether exact products read operands along their depth in quads too
    /// (`GemmLayout::of`). Off only for measurements (`:depthwords`).
    pub depth_quads: bool,
    /// Workgroups that a product of few output tiles and a long depth is
    /// split towards ([`GemmLaunch::splitting_depth`]; `:splitN`).
    pub split_workgroups: u64,
}

/// Which way each operand of a product is loaded: along the depth (its depth
/// index is the contiguous one, as for `X` in `X W^T`) or along `C`'s rows or
/// columns; and whether four words at a time (16-byte loads). Any layout
/// without quads computes any product right (addresses come from the
/// strides); the one that matches the strides reads neighbouring words with
/// neighbouring threads. Quads need the layout to match, the contiguous
/// stride to be 1 and every other stride and offset a multiple of 4, `C`'s
/// too ([`GemmLayout::of`] says when); an exact quads kernel also stores `C`
/// four words at a time. An exact layout's product
/// has no partial tile or slice, so its kernel tests no bounds. Fixed at compile time, the
/// load path has no run-time branches and needs fewer registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GemmLayout {
    /// `A`'s depth index is contiguous (`a_col = 1`).
    pub a_along_depth: bool,
    /// `B`'s depth index is contiguous (`b_row = 1`).
    pub b_along_depth: bool,
    /// Whole quads of words inside the operands are read as one `vec4` (and,
    /// when exact, `C`'s written as one).
    pub quads: bool,
    /// `C`'s rows and columns are whole tiles and every split's depth whole
    /// slices: no load or store is tested against the operands' bounds.
    pub exact: bool,
    /// The depth of each depth segment ([`GemmSizes::segment`]), 0 for a
    /// product without: a constant of the kernel, so that a slice's segment is
    /// a division by a constant (a shift for a power of two).
    pub segment: u32,
}

impl GemmLayout {
    /// Every layout without quads (each computes any product right).
    pub const ALL: [GemmLayout; 4] = [
        GemmLayout { a_along_depth: false, b_along_depth: false, quads: false, exact: false, segment: 0 },
        GemmLayout { a_along_depth: false, b_along_depth: true, quads: false, exact: false, segment: 0 },
        GemmLayout { a_along_depth: true, b_along_depth: false, quads: false, exact: false, segment: 0 },
        GemmLayout { a_along_depth: true, b_along_depth: true, quads: false, exact: false, segment: 0 },
    ];

    /// The layout that matches a product's strides for `kernel`: exact where
    /// the product has no partial tile or slice; quads where the kernel allows
    /// them, the strides permit them, and either the product is exact or
    /// neither operand is read along its depth. H200,
    /// docs/measurements/h200-run38 (ParaGRU's dense products, 412 GFLOP each,
    /// quads against words, bounds tested): the weight gradients, both
    /// operands along `C`, 11.86 against 12.21 ms; the projection and the
    /// input gradients, `A` along its depth, 12.65 against 11.73 and 12.72
    /// against 11.51 (slower).
    pub fn of(sizes: &GemmSizes, kernel: &GemmKernel) -> GemmLayout {
        let (a_along_depth, b_along_depth) = (sizes.a_col == 1, sizes.b_row == 1);
        let depth = kernel.depth as u32;
        let whole = |len: u32, unit: u32| len.is_multiple_of(unit);
        let tile = GEMM_TILE as u32;
        let exact = kernel.exact
            && kernel.specialised
            && whole(sizes.m, tile)
            && whole(sizes.n, tile)
            && whole(sizes.k, depth)
            && (sizes.splits <= 1 || whole(sizes.k_split, depth));
        let along_depth = a_along_depth || b_along_depth;
        let allow_quads = kernel.quads && (!along_depth || (exact && kernel.depth_quads));
        // Each operand's (contiguous stride, other stride, offset, group stride).
        let a = if a_along_depth { (sizes.a_col, sizes.a_row) } else { (sizes.a_row, sizes.a_col) };
        let b = if b_along_depth { (sizes.b_row, sizes.b_col) } else { (sizes.b_col, sizes.b_row) };
        let quads = allow_quads
            && a.0 == 1
            && b.0 == 1
            && (sizes.splits <= 1 || sizes.k_split.is_multiple_of(4))
            && [a.1, b.1, sizes.a_offset, sizes.b_offset, sizes.a_group, sizes.b_group, sizes.segment]
                .iter()
                .chain(&[sizes.a_segment, sizes.b_segment, sizes.c_offset, sizes.c_row, sizes.c_group, sizes.c_split])
                .all(|v| v.is_multiple_of(4));
        GemmLayout { a_along_depth, b_along_depth, quads, exact, segment: sizes.segment }
    }
}

/// A stage of the GEMM kernel left out, to time the others (GPU profilers do
/// not see Vulkan kernels; differences of such variants show where time goes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GemmAblation {
    /// The whole kernel.
    #[default]
    None,
    /// Only the first slice is loaded from memory; every later one multiplies
    /// the staged tiles again (the arithmetic and the barriers).
    NoLoads,
    /// The slices are loaded and staged but not multiplied.
    NoMath,
}

impl std::str::FromStr for GemmKernel {
    type Err = String;

    /// `DEPTHxROW`, then optionally `:noloads` or `:nomath`, `:generic`,
    /// `:behind`, `:scalar`, `:inexact`, `:depthwords` and `:splitN`
    /// (workgroups to split long products towards): `8x33`, `16x32:nomath`,
    /// `8x33:generic:behind`, `8x32:split2048`.
    fn from_str(text: &str) -> Result<GemmKernel, String> {
        let mut parts = text.split(':');
        let shape = parts.next().unwrap_or_default();
        let mut kernel = GemmKernel::plain(8, 32);
        for option in parts {
            match option {
                "noloads" => kernel.ablation = GemmAblation::NoLoads,
                "nomath" => kernel.ablation = GemmAblation::NoMath,
                "generic" => kernel.specialised = false,
                "behind" => kernel.ahead = false,
                "scalar" => kernel.quads = false,
                "inexact" => kernel.exact = false,
                "depthwords" => kernel.depth_quads = false,
                other => match other.strip_prefix("split").map(str::parse::<u64>) {
                    Some(Ok(workgroups)) if workgroups > 0 => kernel.split_workgroups = workgroups,
                    _ => {
                        return Err(format!(
                            "unknown GEMM option `{other}` (noloads, nomath, generic, behind, scalar, inexact, \
                             depthwords, splitN)"
                        ));
                    }
                },
            }
        }
        let parse = |t: &str| t.trim().parse::<u64>().map_err(|_| format!("`{text}` is not DEPTHxROW, e.g. 16x33"));
        let (depth, row) = shape.split_once('x').ok_or_else(|| format!("`{text}` is not DEPTHxROW, e.g. 16x33"))?;
        let (depth, row) = (parse(depth)?, parse(row)?);
        if !matches!(depth, 8 | 16) || !matches!(row, 32 | 33) {
            return Err(format!("`{text}`: the depth is 8 or 16 and the row 32 or 33"));
        }
        Ok(GemmKernel { depth, row, ..kernel })
    }
}

impl GemmKernel {
    /// The target's choice (a knob), else 8-deep unpadded slices (16 KiB of
    /// workgroup memory for both operands' two stages: what every WebGPU device
    /// offers). H200, ParaGRU's products at 412 GFLOP each: with the layout
    /// tested at run time (docs/measurements/h200-run23, -run24) the projection
    /// took 14.84 ms with 8 x 33, 15.04 with 8 x 32, 17.07 with 16 x 33; with
    /// layouts fixed at compile time and the projection's matrices transposed
    /// (run 35) 8 x 32 is the faster in every product: projection 12.97 against
    /// 13.04 ms, weight gradients 13.75 against 14.29, input gradients 13.01
    /// against 13.02.
    pub fn for_target(target: &Target) -> GemmKernel {
        target.gemm.unwrap_or(GemmKernel::plain(8, 32))
    }

    /// The shape `depth x row` without options.
    pub fn plain(depth: u64, row: u64) -> GemmKernel {
        GemmKernel {
            depth,
            row,
            ablation: GemmAblation::None,
            specialised: true,
            ahead: true,
            quads: true,
            exact: true,
            depth_quads: true,
            split_workgroups: SPLIT_TARGET_WORKGROUPS,
        }
    }

    /// Workgroup memory: two stages of both operands, `depth x row` vec4s each.
    pub fn workgroup_bytes(&self) -> u64 {
        4 * self.depth * self.row * 16
    }

    /// The product kernel's WGSL for operands of `layout` (entry point `main`;
    /// a kernel that is not `specialised` takes any layout).
    pub fn text(&self, layout: GemmLayout) -> String {
        // 0: tested at run time; 1: along the depth; 2: along C's rows or columns.
        let code = |along: bool| {
            if !self.specialised {
                0
            } else if along {
                1
            } else {
                2
            }
        };
        format!(
            "{}const DEPTH: u32 = {}u;\nconst ROW: u32 = {}u;\nconst ABLATION: u32 = {}u;\nconst AHEAD: u32 = {}u;\n\
             const A_LAYOUT: u32 = {}u;\nconst B_LAYOUT: u32 = {}u;\nconst QUADS: u32 = {}u;\nconst EXACT: u32 = {}u;\n\
             const SEGMENT: u32 = {}u;\n\n{}",
            GemmSizes::wgsl(),
            self.depth,
            self.row,
            self.ablation as u32,
            u32::from(self.ahead),
            code(layout.a_along_depth),
            code(layout.b_along_depth),
            u32::from(layout.quads && self.quads && self.specialised),
            u32::from(layout.exact && self.specialised),
            layout.segment,
            include_str!("gemm.wgsl")
        )
    }

    /// The kernel that adds a split product's partial products into the first
    /// (entry point `main`; bindings: the product's sizes, its output).
    pub fn sum_splits_text() -> String {
        format!("{}{}", GemmSizes::wgsl(), include_str!("sum_splits.wgsl"))
    }
}

/// Rows and columns of a tile of the strided copy (`transpose.wgsl`).
const TRANSPOSE_TILE: u64 = 32;

/// One strided copy as launched (`transpose.wgsl`): `groups` copies
/// `C[i, j] = A[i, j]` of `sizes.m x sizes.n` through `sizes`' `a_*` and `c_*`
/// strides (with `a_row = 1`, a transpose).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransposeLaunch {
    /// The record the kernel reads.
    pub sizes: GemmSizes,
    /// Its workgroups.
    pub grid: [u32; 3],
}

impl TransposeLaunch {
    /// The copy of `groups` matrices described by `sizes`.
    pub fn new(sizes: GemmSizes, groups: u64) -> TransposeLaunch {
        let tiles = |len: u32| u64::from(len).div_ceil(TRANSPOSE_TILE).max(1) as u32;
        TransposeLaunch { sizes, grid: [tiles(sizes.n), tiles(sizes.m), groups.max(1) as u32] }
    }

    /// The kernel's WGSL (entry point `main`; bindings: the sizes, `A`, `C`).
    pub fn text() -> String {
        format!("{}{}", GemmSizes::wgsl(), include_str!("transpose.wgsl"))
    }
}

/// One matrix product as launched: its sizes record and its grids.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmLaunch {
    /// The record the kernels read.
    pub sizes: GemmSizes,
    /// The product kernel's workgroups.
    pub grid: [u32; 3],
}

impl GemmLaunch {
    /// `groups` products of `sizes` (its `m`, `n`, `k`, strides, group strides and
    /// `accumulate`), unsplit.
    pub fn new(sizes: GemmSizes, groups: u64) -> GemmLaunch {
        GemmLaunch::with_splits(sizes, groups, 1)
    }

    /// Like [`GemmLaunch::new`], with the depth split (towards
    /// `target_workgroups` workgroups in all) when the product's tiles are
    /// fewer, the depth long and in one segment, and `C` contiguous (`c_row =
    /// n` and, for several groups, `c_group = m n`) and not accumulated into.
    /// A split product needs [`GemmLaunch::output_words`] words of output from
    /// `c_offset`, and the `sum_splits` kernel after it.
    pub fn splitting_depth(sizes: GemmSizes, groups: u64, target_workgroups: u64) -> GemmLaunch {
        let (m, n, k) = (u64::from(sizes.m), u64::from(sizes.n), u64::from(sizes.k));
        let tiles = m.div_ceil(GEMM_TILE) * n.div_ceil(GEMM_TILE) * groups;
        let contiguous = u64::from(sizes.c_row) == n
            && (groups == 1 || u64::from(sizes.c_group) == m * n)
            && sizes.accumulate == 0
            && sizes.segment == 0;
        let wanted = target_workgroups.div_ceil(tiles.max(1)).min(k / SPLIT_MIN_DEPTH).max(1);
        GemmLaunch::with_splits(sizes, groups, if contiguous { wanted } else { 1 })
    }

    fn with_splits(sizes: GemmSizes, groups: u64, wanted: u64) -> GemmLaunch {
        let (m, n, k) = (u64::from(sizes.m), u64::from(sizes.n), u64::from(sizes.k));
        let segment = u64::from(sizes.segment);
        assert!(
            segment == 0 || (wanted == 1 && k.is_multiple_of(segment) && gemm_segment_fits(segment)),
            "a product in depth segments is unsplit, its segments a \
             multiple of {GEMM_SEGMENT_MULTIPLE} deep"
        );
        let (splits, k_split) = if wanted > 1 {
            // Whole 8-deep slices per split, and no empty split.
            let k_split = k.div_ceil(wanted).next_multiple_of(8);
            (k.div_ceil(k_split), k_split)
        } else {
            (1, k.max(1))
        };
        let sizes = GemmSizes {
            splits: splits as u32,
            k_split: k_split as u32,
            c_split: if splits > 1 { (groups * m * n) as u32 } else { 0 },
            ..sizes
        };
        let grid = [n.div_ceil(GEMM_TILE) as u32, m.div_ceil(GEMM_TILE) as u32, (groups * splits) as u32];
        GemmLaunch { sizes, grid }
    }

    /// Whether the depth is split (and `sum_splits` must run after the product).
    pub fn is_split(&self) -> bool {
        self.sizes.splits > 1
    }

    /// Words of the output from `c_offset`: every split's partial product when
    /// split (the sum lands in the first), else none beyond `C` itself (0).
    pub fn output_words(&self) -> u64 {
        u64::from(self.sizes.splits) * u64::from(self.sizes.c_split)
    }

    /// The `sum_splits` kernel's workgroups (one thread per word of `C`, in rows
    /// of at most `max_per_dimension` workgroups).
    pub fn sum_grid(&self, max_per_dimension: u32) -> [u32; 3] {
        super::grid_in_rows(u64::from(self.sizes.c_split), SUM_THREADS, max_per_dimension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(m: u32, n: u32, k: u32) -> GemmSizes {
        GemmSizes { m, n, k, a_row: k, a_col: 1, b_row: n, b_col: 1, c_row: n, ..GemmSizes::default() }
    }

    #[test]
    fn few_tiles_and_a_long_depth_split_the_depth() {
        // A weight gradient of a 512 x 512 block: 16 tiles, 65536 deep.
        let launch = GemmLaunch::splitting_depth(product(512, 512, 65536), 1, 512);
        assert!(launch.is_split());
        let s = launch.sizes;
        assert_eq!(s.splits, 32);
        assert_eq!(s.k_split, 2048);
        assert_eq!(launch.grid, [4, 4, 32]);
        assert_eq!(launch.output_words(), 32 * 512 * 512);
        // Every depth is covered once.
        assert!(u64::from(s.splits - 1) * u64::from(s.k_split) < 65536);
        assert!(u64::from(s.splits) * u64::from(s.k_split) >= 65536);
    }

    #[test]
    fn many_tiles_short_depths_and_accumulation_do_not_split() {
        assert!(!GemmLaunch::splitting_depth(product(65536, 3072, 1024), 1, 512).is_split());
        assert!(!GemmLaunch::splitting_depth(product(64, 64, 300), 1, 512).is_split());
        let accumulated = GemmSizes { accumulate: 1, ..product(512, 512, 65536) };
        assert!(!GemmLaunch::splitting_depth(accumulated, 1, 512).is_split());
        let strided = GemmSizes { c_row: 1024, ..product(512, 512, 65536) };
        assert!(!GemmLaunch::splitting_depth(strided, 1, 512).is_split());
        assert!(!GemmLaunch::new(product(512, 512, 65536), 1).is_split());
    }

    #[test]
    fn the_kernel_shape_fits_the_device() {
        let shape = |bytes| GemmKernel::for_target(&Target { workgroup_bytes: bytes, ..Target::default() });
        assert_eq!(shape(48 * 1024), GemmKernel::plain(8, 32));
        assert_eq!(shape(16 * 1024), GemmKernel::plain(8, 32));
        for bytes in [16 * 1024, 32 * 1024, 48 * 1024] {
            let kernel = shape(bytes);
            assert!(kernel.workgroup_bytes() <= bytes);
            for layout in GemmLayout::ALL {
                super::super::validate("gemm", &kernel.text(layout)).expect("valid");
            }
        }
        super::super::validate("sum_splits", &GemmKernel::sum_splits_text()).expect("valid");
        super::super::validate("transpose", &TransposeLaunch::text()).expect("valid");
    }

    #[test]
    fn shapes_and_ablations_parse_and_generate() {
        let kernel: GemmKernel = "8x33:nomath".parse().expect("parses");
        assert_eq!(kernel, GemmKernel { ablation: GemmAblation::NoMath, ..GemmKernel::plain(8, 33) });
        for text in ["8x32", "16x33:noloads", "16x32"] {
            let kernel: GemmKernel = text.parse().expect("parses");
            for layout in GemmLayout::ALL {
                super::super::validate("gemm", &kernel.text(layout)).expect("valid");
            }
        }
        let split: GemmKernel = "8x32:split4096:depthwords".parse().expect("parses");
        let want = GemmKernel { split_workgroups: 4096, depth_quads: false, ..GemmKernel::plain(8, 32) };
        assert_eq!(split, want);
        let few = GemmLaunch::splitting_depth(product(512, 512, 65536), 1, split.split_workgroups);
        assert_eq!(few.sizes.splits, 128, "4096 / 16 tiles, at most 65536 / 512");
        for bad in ["16", "12x33", "32x33", "16x40", "16x33:fast", "ax33", "8x32:split0", "8x32:splitx"] {
            assert!(bad.parse::<GemmKernel>().is_err(), "{bad}");
        }
        let chosen = Target { gemm: Some(kernel), ..Target::default() };
        assert_eq!(GemmKernel::for_target(&chosen), kernel);
    }

    #[test]
    fn the_sum_covers_every_word() {
        let launch = GemmLaunch::splitting_depth(product(512, 512, 65536), 1, 512);
        let [x, y, _] = launch.sum_grid(65535);
        assert!(u64::from(x) * u64::from(y) * SUM_THREADS >= 512 * 512);
        let [x, y, _] = launch.sum_grid(100);
        assert_eq!((x, y), (100, 11));
    }
}

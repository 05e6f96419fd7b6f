//! The matrix-product kernel against a float64 product, in each operand layout
//! the runtime launches (the projection `X W^T`, the weight gradient `dP^T X`
//! with its depth split and summed, the input gradient `dP W` accumulated), in
//! groups, with partial tiles, and in each kernel shape a device may get; and
//! the same product by the kernel of every operand layout (any layout computes
//! any product right; the matching one is the fast one); operands aligned for
//! 16-byte loads, with partial quads at their edges; and the transpose that
//! lays out a projection's matrices before their product.

mod support;

use rnnc_compiler::backend::wgsl::{GemmKernel, GemmLaunch, GemmLayout, GemmSizes, Target, TransposeLaunch};
use rnnc_runtime::gpu::{Binding, Gpu};

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0).collect()
}

/// Group `g`'s operand index where the operand's groups repeat every `cycle`
/// (0: never).
fn cycled(g: u32, cycle: u32) -> u32 {
    if cycle == 0 { g } else { g % cycle }
}

/// `groups` products `C[g] = A[g] B[g]` read through `sizes`' strides, and the
/// scale of each entry's rounding (`sum |A| |B|`), in float64.
fn reference(sizes: &GemmSizes, groups: u32, a: &[f32], b: &[f32], c: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let mut want: Vec<f64> = c.iter().map(|&x| x as f64).collect();
    let mut scale = vec![0.0f64; c.len()];
    for g in 0..groups {
        for i in 0..sizes.m {
            for j in 0..sizes.n {
                let (mut sum, mut abs) = (0.0f64, 0.0f64);
                for depth in 0..sizes.k {
                    let (ga, gb) = (cycled(g, sizes.a_cycle), cycled(g, sizes.b_cycle));
                    // Depth `depth` is depth `k` of segment `s`.
                    let s = depth.checked_div(sizes.segment).unwrap_or(0);
                    let k = depth - s * sizes.segment;
                    let a_at =
                        sizes.a_offset + ga * sizes.a_group + s * sizes.a_segment + i * sizes.a_row + k * sizes.a_col;
                    let b_at =
                        sizes.b_offset + gb * sizes.b_group + s * sizes.b_segment + k * sizes.b_row + j * sizes.b_col;
                    let (x, y) = (a[a_at as usize] as f64, b[b_at as usize] as f64);
                    sum += x * y;
                    abs += (x * y).abs();
                }
                let at = (sizes.c_offset + g * sizes.c_group + i * sizes.c_row + j) as usize;
                want[at] = if sizes.accumulate == 1 { want[at] + sum } else { sum };
                scale[at] = abs + want[at].abs();
            }
        }
    }
    (want, scale)
}

/// Runs `launch` (and its sum) with `kernel` for its operands' layout on
/// operands `a`, `b` and an output starting as `c`; returns the output.
fn run(
    gpu: &Gpu,
    kernel: &GemmKernel,
    launch: &GemmLaunch,
    a: &[f32],
    b: &[f32],
    c: &[f32],
    max_rows: u32,
) -> Vec<f32> {
    run_layout(gpu, kernel, GemmLayout::of(&launch.sizes, kernel), launch, a, b, c, max_rows)
}

/// [`run`] with the kernel of `layout`.
#[allow(clippy::too_many_arguments)]
fn run_layout(
    gpu: &Gpu,
    kernel: &GemmKernel,
    layout: GemmLayout,
    launch: &GemmLaunch,
    a: &[f32],
    b: &[f32],
    c: &[f32],
    max_rows: u32,
) -> Vec<f32> {
    let product = gpu.kernel("gemm", &kernel.text(layout), "main").expect("compiles");
    let sizes = gpu.upload("sizes", &launch.sizes.words()).expect("upload");
    let (a, b) = (gpu.upload("a", a).expect("upload"), gpu.upload("b", b).expect("upload"));
    let mut out = c.to_vec();
    out.resize(c.len().max(launch.sizes.c_offset as usize + launch.output_words() as usize), 0.0);
    let out = gpu.upload("c", &out).expect("upload");
    let bindings = [Binding(&sizes), Binding(&a), Binding(&b), Binding(&out), Binding(&a), Binding(&b), Binding(&out)];
    gpu.dispatch(&product, &bindings, launch.grid).expect("runs");
    if launch.is_split() {
        let sum = gpu.kernel("sum_splits", &GemmKernel::sum_splits_text(), "main").expect("compiles");
        gpu.dispatch(&sum, &[Binding(&sizes), Binding(&out)], launch.sum_grid(max_rows)).expect("runs");
    }
    let mut got: Vec<f32> = gpu.read(&out).expect("read");
    got.truncate(c.len());
    got
}

fn check(what: &str, got: &[f32], want: &[f64], scale: &[f64]) {
    for (at, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        assert!((g as f64 - w).abs() <= 1e-5 * s.max(1e-30), "{what}: word {at}: {g} against {w} (scale {s})");
    }
}

/// The device's kernel shape (8 deep, unpadded, fragments read ahead), the
/// same reading each depth's fragments when it multiplies them, the padded
/// one (8 x 33) and the deepest (16, unpadded) where the device has room.
fn shapes(gpu: &Gpu) -> Vec<GemmKernel> {
    let device = GemmKernel::for_target(&Target { workgroup_bytes: gpu.max_workgroup_bytes(), ..Target::default() });
    let mut shapes = vec![device];
    let behind: GemmKernel = "8x32:behind".parse().expect("parses");
    assert!(!behind.ahead);
    for other in [behind, GemmKernel::plain(8, 33), GemmKernel::plain(16, 32)] {
        if other != device && other.workgroup_bytes() <= gpu.max_workgroup_bytes() {
            shapes.push(other);
        }
    }
    shapes
}

#[test]
fn projection_layout_x_times_w_transposed_with_partial_tiles() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    // P[m, 5 + n] of rows of 310 words = X[m, :] . W[n, :], X after 3 words.
    let (m, n, k) = (300u32, 200u32, 77u32);
    let sizes = GemmSizes {
        m,
        n,
        k,
        a_offset: 3,
        a_row: k,
        a_col: 1,
        b_row: 1,
        b_col: k,
        c_offset: 5,
        c_row: 310,
        ..GemmSizes::default()
    };
    let a = values((3 + m * k) as usize, 1);
    let b = values((n * k) as usize, 2);
    let c = values((m * 310) as usize, 3);
    let launch = GemmLaunch::new(sizes, 1);
    let (want, scale) = reference(&launch.sizes, 1, &a, &b, &c);
    for kernel in shapes(&gpu) {
        let got = run(&gpu, &kernel, &launch, &a, &b, &c, 65535);
        // Words outside C keep their values.
        check(&format!("{kernel:?}"), &got, &want, &scale);
    }
    // Every layout's kernel, and the one that tests the layout at run time.
    let device = shapes(&gpu)[0];
    for layout in GemmLayout::ALL {
        let got = run_layout(&gpu, &device, layout, &launch, &a, &b, &c, 65535);
        check(&format!("{layout:?}"), &got, &want, &scale);
    }
    let generic: GemmKernel = "8x32:generic".parse().expect("parses");
    assert!(!generic.specialised);
    check("generic", &run(&gpu, &generic, &launch, &a, &b, &c, 65535), &want, &scale);
}

#[test]
fn several_block_matrices_by_one_input_cycle_through_its_blocks() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    // Three block-diagonal matrices of 2 blocks (r x c = 40 x 36) by one input
    // of 2 x 36 channels over 1200 steps, one launch of 6 groups: the input's
    // block is group % 2; the projection P[., z r ..] = X[., (z % 2) c ..] W^T[z]
    // and the weight gradient dW[z] = dP[., z r ..]^T X[., (z % 2) c ..], its
    // depth split.
    let (r, c, steps, matrices, blocks) = (40u32, 36u32, 1200u32, 3u32, 2u32);
    let groups = matrices * blocks;
    let x = values((steps * blocks * c) as usize, 11);
    let projection = GemmSizes {
        m: steps,
        n: r,
        k: c,
        a_row: blocks * c,
        a_col: 1,
        b_row: r,
        b_col: 1,
        c_row: groups * r,
        a_group: c,
        a_cycle: blocks,
        b_group: r * c,
        c_group: r,
        ..GemmSizes::default()
    };
    let weights = values((groups * r * c) as usize, 12);
    let launch = GemmLaunch::new(projection, u64::from(groups));
    let out = vec![0.0f32; (steps * groups * r) as usize];
    let (want, scale) = reference(&launch.sizes, groups, &x, &weights, &out);
    let gradient = GemmSizes {
        m: r,
        n: c,
        k: steps,
        a_row: 1,
        a_col: groups * r,
        b_row: blocks * c,
        b_col: 1,
        c_row: c,
        a_group: r,
        b_group: c,
        b_cycle: blocks,
        c_group: r * c,
        ..GemmSizes::default()
    };
    let split = GemmLaunch::splitting_depth(gradient, u64::from(groups), 64);
    assert!(split.is_split(), "the test asks for a split product");
    let dp = values((steps * groups * r) as usize, 13);
    let dw = vec![0.0f32; split.output_words() as usize];
    let (want_dw, scale_dw) = reference(&split.sizes, groups, &dp, &x, &dw);
    for kernel in shapes(&gpu) {
        check(
            &format!("projection, {kernel:?}"),
            &run(&gpu, &kernel, &launch, &x, &weights, &out, 65535),
            &want,
            &scale,
        );
        let got = run(&gpu, &kernel, &split, &dp, &x, &dw, 65535);
        let words = (groups * r * c) as usize;
        check(&format!("weight gradient, {kernel:?}"), &got[..words], &want_dw[..words], &scale_dw[..words]);
    }
}

#[test]
fn weight_gradient_layout_with_its_depth_split_and_summed() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    // dW[g] (24 x 20) = dP[:, g 24 ..]^T X[:, g 20 ..] over 3000 steps, 2 groups.
    let (r, c, steps, groups) = (24u32, 20u32, 3000u32, 2u32);
    let sizes = GemmSizes {
        m: r,
        n: c,
        k: steps,
        a_offset: 1,
        a_row: 1,
        a_col: 2 * r + 1,
        b_row: 2 * c,
        b_col: 1,
        c_row: c,
        a_group: r,
        b_group: c,
        c_group: r * c,
        ..GemmSizes::default()
    };
    let launch = GemmLaunch::splitting_depth(sizes, u64::from(groups), 512);
    assert!(launch.is_split(), "the test asks for a split product");
    assert!(launch.sizes.splits >= 5);
    let a = values((1 + steps * (2 * r + 1)) as usize, 4);
    let b = values((steps * 2 * c) as usize, 5);
    let out = vec![0.0f32; (groups * r * c) as usize];
    let (want, scale) = reference(&launch.sizes, groups, &a, &b, &out);
    for kernel in shapes(&gpu) {
        // The sum's grid in rows of two workgroups, and in one row.
        for max_rows in [2, 65535] {
            let got = run(&gpu, &kernel, &launch, &a, &b, &out, max_rows);
            check(&format!("{kernel:?}, rows of {max_rows}"), &got, &want, &scale);
        }
    }
}

#[test]
fn input_gradient_layout_accumulated_in_groups() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    // dx[:, g 33 ..] += dP[:, g 40 ..] W[g] (40 x 33), 3 groups, 150 steps.
    let (steps, r, c, groups) = (150u32, 40u32, 33u32, 3u32);
    let sizes = GemmSizes {
        m: steps,
        n: c,
        k: r,
        accumulate: 1,
        a_row: groups * r,
        a_col: 1,
        b_offset: 7,
        b_row: c,
        b_col: 1,
        c_row: groups * c,
        a_group: r,
        b_group: r * c,
        c_group: c,
        ..GemmSizes::default()
    };
    let launch = GemmLaunch::new(sizes, u64::from(groups));
    let a = values((steps * groups * r) as usize, 6);
    let b = values((7 + groups * r * c) as usize, 7);
    let out = values((steps * groups * c) as usize, 8);
    let (want, scale) = reference(&launch.sizes, groups, &a, &b, &out);
    for kernel in shapes(&gpu) {
        let got = run(&gpu, &kernel, &launch, &a, &b, &out, 65535);
        check(&format!("{kernel:?}"), &got, &want, &scale);
    }
}

/// The input gradient of a block launch of evenly spaced matrices, one product
/// whose depth runs through them: dx[:, g c ..] (+)= sum_p dP[:, p cs + g r ..]
/// W_p[g], the matrices `ws` words apart, in depth segments of `r` (a constant
/// of the kernel: 48, then a power of two); with partial tiles and with whole
/// ones (the exact kernel), its strides aligned for quads or not.
#[test]
fn summed_matrices_are_one_product_in_depth_segments() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    let device = shapes(&gpu)[0];
    let (matrices, groups) = (3u32, 2u32);
    for (steps, c, gap, exact, r) in [(300u32, 36u32, 5u32, false, 48u32), (256, 128, 8, true, 32)] {
        let (cs, ws) = (groups * r + 4, groups * r * c + gap);
        let sizes = GemmSizes {
            m: steps,
            n: c,
            k: matrices * r,
            accumulate: 1,
            a_offset: 4,
            a_row: matrices * cs,
            a_col: 1,
            b_offset: 8,
            b_row: c,
            b_col: 1,
            c_row: groups * c,
            a_group: r,
            b_group: r * c,
            c_group: c,
            segment: r,
            a_segment: cs,
            b_segment: ws,
            ..GemmSizes::default()
        };
        let launch = GemmLaunch::new(sizes, u64::from(groups));
        let layout = GemmLayout::of(&launch.sizes, &device);
        assert_eq!((layout.exact, layout.quads, layout.segment), (exact, exact, r), "{layout:?}");
        let a = values((4 + steps * matrices * cs) as usize, 16);
        let b = values((8 + matrices * ws) as usize, 17);
        let out = values((steps * groups * c) as usize, 18);
        let (want, scale) = reference(&launch.sizes, groups, &a, &b, &out);
        for kernel in shapes(&gpu) {
            let got = run(&gpu, &kernel, &launch, &a, &b, &out, 65535);
            check(&format!("{steps} steps, {kernel:?}"), &got, &want, &scale);
        }
    }
}

#[test]
fn transposes_groups_of_matrices_with_partial_tiles() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    // Three 45 x 70 matrices (W[g][j, q], rows of 70 words) after 2 words, into
    // 70 x 45 matrices W^T[g][q, j] after 3 words.
    let (rows, cols, groups) = (45u32, 70u32, 3u32);
    let sizes = GemmSizes {
        m: cols,
        n: rows,
        a_offset: 2,
        a_row: 1,
        a_col: cols,
        a_group: rows * cols,
        c_offset: 3,
        c_row: rows,
        c_group: rows * cols,
        ..GemmSizes::default()
    };
    let launch = TransposeLaunch::new(sizes, u64::from(groups));
    let w = values((2 + groups * rows * cols) as usize, 4);
    let start = values((3 + groups * rows * cols + 5) as usize, 5);
    let kernel = gpu.kernel("transpose", &TransposeLaunch::text(), "main").expect("compiles");
    let sizes_buffer = gpu.upload("sizes", &launch.sizes.words()).expect("upload");
    let a = gpu.upload("a", &w).expect("upload");
    let c = gpu.upload("c", &start).expect("upload");
    gpu.dispatch(&kernel, &[Binding(&sizes_buffer), Binding(&a), Binding(&c)], launch.grid).expect("runs");
    let got: Vec<f32> = gpu.read(&c).expect("read");
    let mut want = start.clone();
    for g in 0..groups {
        for j in 0..rows {
            for q in 0..cols {
                want[(3 + g * rows * cols + q * rows + j) as usize] = w[(2 + g * rows * cols + j * cols + q) as usize];
            }
        }
    }
    // Exact copies; the words around them keep their values.
    assert_eq!(got, want);
}

#[test]
fn aligned_operands_read_as_quads_with_partial_quads_at_the_edges() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    let kernel = shapes(&gpu)[0];
    // The projection's layout after its transpose (A along the depth, B along
    // C) and the weight gradient's (both along C), 82 deep: the last quad of
    // each depth row is partial.
    let (m, n, k) = (300u32, 200u32, 82u32);
    let projection = GemmSizes {
        m,
        n,
        k,
        a_offset: 4,
        a_row: 84,
        a_col: 1,
        b_offset: 8,
        b_row: 204,
        b_col: 1,
        c_offset: 8,
        c_row: 312,
        ..GemmSizes::default()
    };
    let gradient = GemmSizes { a_row: 1, a_col: 304, b_row: 204, b_col: 1, a_offset: 4, b_offset: 8, ..projection };
    for (name, sizes, a_len, b_len) in
        [("projection", projection, 4 + m * 84, 8 + k * 204), ("gradient", gradient, 4 + k * 304, 8 + k * 204)]
    {
        let launch = GemmLaunch::new(sizes, 1);
        let layout = GemmLayout::of(&launch.sizes, &kernel);
        // Quads only where no operand is read along its depth (measured faster there).
        assert_eq!(layout.quads, name == "gradient", "{name}: {layout:?}");
        // Either way, the quad kernel of this layout computes the product right.
        let quads = GemmLayout { quads: true, ..layout };
        let (a, b, c) = (values(a_len as usize, 6), values(b_len as usize, 7), values((8 + m * 312) as usize, 8));
        let (want, scale) = reference(&launch.sizes, 1, &a, &b, &c);
        let got = run_layout(&gpu, &kernel, quads, &launch, &a, &b, &c, 65535);
        check(&format!("{name} with quads"), &got, &want, &scale);
        check(name, &run(&gpu, &kernel, &launch, &a, &b, &c, 65535), &want, &scale);
        // An operand, or the output, misaligned by one word: no quads.
        for shifted in
            [GemmSizes { a_offset: sizes.a_offset + 1, ..sizes }, GemmSizes { c_offset: sizes.c_offset + 1, ..sizes }]
        {
            assert!(!GemmLayout::of(&shifted, &kernel).quads);
        }
    }
}

#[test]
fn whole_tile_products_take_the_kernel_without_bounds_tests() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    let device = shapes(&gpu)[0];
    let inexact: GemmKernel = "8x32:inexact".parse().expect("parses");
    let depth_words: GemmKernel = "8x32:depthwords".parse().expect("parses");
    // A grouped projection X W^T (A along its depth, B along C as after the
    // transpose): 2 products of 256 x 64 by 64 x 128, the operands after 4 and
    // 8 words; a weight gradient dP^T X (both along C), its 2048-deep product
    // split; the projection again, accumulated into C, as the input gradient.
    let (m, n, k) = (256u32, 128u32, 64u32);
    let projection = GemmSizes {
        m,
        n,
        k,
        a_offset: 4,
        a_row: 2 * k,
        a_col: 1,
        b_offset: 8,
        b_row: 2 * n,
        b_col: 1,
        c_row: 2 * n,
        a_group: k,
        b_group: n,
        c_group: n,
        ..GemmSizes::default()
    };
    let steps = 2048u32;
    let gradient = GemmSizes {
        m: 128,
        n: 128,
        k: steps,
        a_row: 1,
        a_col: 128,
        b_row: 128,
        b_col: 1,
        c_row: 128,
        ..GemmSizes::default()
    };
    let accumulated = GemmSizes { accumulate: 1, ..projection };
    for (name, launch, groups, a_len, b_len, c_len) in [
        ("projection", GemmLaunch::new(projection, 2), 2, 4 + m * 2 * k, 8 + k * 2 * n, m * 2 * n),
        ("gradient", GemmLaunch::splitting_depth(gradient, 1, 512), 1, steps * 128, steps * 128, 128 * 128),
        ("accumulated", GemmLaunch::new(accumulated, 2), 2, 4 + m * 2 * k, 8 + k * 2 * n, m * 2 * n),
    ] {
        let layout = GemmLayout::of(&launch.sizes, &device);
        assert!(layout.exact && layout.quads, "{name}: {layout:?}");
        assert!(!GemmLayout::of(&launch.sizes, &inexact).exact, "{name}");
        assert!(!GemmLayout::of(&launch.sizes, &depth_words).quads || name == "gradient", "{name}");
        let (a, b) = (values(a_len as usize, 9), values(b_len as usize, 10));
        let c = values(c_len as usize, 11);
        let (want, scale) = reference(&launch.sizes, groups, &a, &b, &c);
        for kernel in [device, inexact, depth_words] {
            let got = run(&gpu, &kernel, &launch, &a, &b, &c, 65535);
            check(&format!("{name}, {kernel:?}"), &got, &want, &scale);
        }
    }
    assert!(GemmLaunch::splitting_depth(gradient, 1, 512).is_split());
    // One row short of a whole tile, or a depth not of whole slices: bounds tested.
    assert!(!GemmLayout::of(&GemmSizes { m: m - 1, ..projection }, &device).exact);
    assert!(!GemmLayout::of(&GemmSizes { k: k - 4, ..projection }, &device).exact);
}

//! The matrix products of a backward pass: per staged launch (in decreasing
//! levels) and per input projection, `dW = dP^T V` and `dV (+)= dP W` over
//! every step, grouped per block for block-diagonal launches, and the stages'
//! pullbacks between them, in the order the backward pass records them.

use std::sync::Arc;

use rnnc_compiler::analyse::ProjectionKind;
use rnnc_compiler::backend::wgsl::{GemmLaunch, GemmSizes, gemm_segment_fits};

use super::cell::GpuCell;
use super::device::{Gpu, GpuError};
use super::exchange::Exchange;
use super::kernel::Dispatch;
use super::workspace::{Bound, Slot, Uploads, Workspace, record_stride};

impl GpuCell {
    /// The matrix products of the projections' gradients over `rows` steps: per
    /// launch, `dW = dP^T X` (its depth, the steps, split when its tiles are few,
    /// and the partial products summed) and `dx (+)= dP W`, grouped per block for
    /// a block-diagonal launch; the matrices' dispatches, then the inputs'.
    /// With an `exchange`, `dx` is added into its input gradients' regions
    /// (which then hold the elementwise part: see [`super::exchange::GradientAssembly`]).
    pub(super) fn gradient_products(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        rows: u64,
        exchange: Option<&Exchange>,
        uploads: &mut Uploads<'_>,
    ) -> Result<(Vec<Dispatch>, Vec<Dispatch>), GpuError> {
        let plan = &self.kernels().plan;
        let columns = plan.cell.projection_columns;
        let split_workgroups = self.kernels().gemm.split_workgroups;
        // Each product: its launch, its operands' slots, its output's binding.
        let mut products: Vec<(GemmLaunch, Slot, Slot, Bound)> = Vec::new();
        // The stages first, in decreasing levels: per staged launch `dW += dP^T
        // V` and `dv (+)= dP W`, then the stage's pullback of `dv` (onto the
        // lower projections' `dP`, the inputs' and the parameters' shares).
        // `None`: stage `s`'s pullback, in the products' order.
        let staged = &plan.cell.stages;
        let mut stage_order: Vec<(usize, Option<usize>)> = Vec::new();
        for (s, stage) in staged.stages.iter().enumerate().rev() {
            let mut first = true;
            for (j, launch) in staged.launches.iter().enumerate().filter(|(_, l)| l.stage == s) {
                let (r, c, groups) = match launch.kind {
                    ProjectionKind::Dense => (launch.product.rows, launch.depth, 1),
                    ProjectionKind::Block { block } => (block, block, launch.product.rows / block),
                };
                let geometry = ProductGradients {
                    r,
                    c,
                    groups,
                    cycle: groups,
                    rows,
                    column: launch.column,
                    columns,
                    split_workgroups,
                };
                let dw = geometry.weights(stage.slot.offset, staged.columns);
                let weights = Slot::WeightGrads(plan.cell.projections.len() + j);
                let dw_words = (launch.product.rows * launch.depth).max(dw.output_words());
                workspace.ensure(gpu, weights, dw_words as usize)?;
                stage_order.push((s, Some(products.len())));
                products.push((dw, Slot::Grads, Slot::Staged, Bound::whole(weights)));
                let w_offset = plan.cell.params[launch.product.param.index()].offset;
                let dv = geometry.operand(Summed::one(w_offset), stage.slot.offset, staged.columns, !first);
                first = false;
                stage_order.push((s, Some(products.len())));
                products.push((dv, Slot::Grads, Slot::Params, Bound::whole(Slot::StagedGrads)));
            }
            stage_order.push((s, None));
        }
        // The parameters' shares summed over the steps: ones^T P, the ones
        // being the partials' last column (`wgsl::StagePartial`).
        let partial_columns = self.kernels().stages.as_ref().map_or(0, |k| k.partial_columns);
        if partial_columns > 0 {
            let shares = partial_columns - 1;
            let sum = GemmLaunch::splitting_depth(
                GemmSizes {
                    m: 1,
                    n: shares as u32,
                    k: rows as u32,
                    a_offset: shares as u32,
                    a_row: 0,
                    a_col: partial_columns as u32,
                    b_row: partial_columns as u32,
                    b_col: 1,
                    c_row: shares as u32,
                    ..GemmSizes::default()
                },
                1,
                split_workgroups,
            );
            workspace.ensure(gpu, Slot::StagePartialSums, shares.max(sum.output_words()) as usize)?;
            stage_order.push((0, Some(products.len())));
            products.push((sum, Slot::StagePartials, Slot::StagePartials, Bound::whole(Slot::StagePartialSums)));
        }
        let staged_products = products.len();
        let mut written: Vec<usize> = Vec::new();
        for (i, launch) in plan.cell.projections.iter().enumerate() {
            let input = launch.input.index();
            let x_len = plan.cell.inputs[input];
            let accumulate = written.contains(&input) || exchange.is_some();
            written.push(input);
            // With an exchange, its input gradient's region alone (the
            // exchange may be longer than one binding).
            let dx_target = match exchange {
                Some(exchange) => {
                    let region = &exchange.layout().input_grads()[input];
                    Bound::range(Slot::Exchange, region.offset as u64, region.len() as u64)
                }
                None => Bound::whole(Slot::InputGrads(input)),
            };
            // Both kinds as groups of an `r x c` matrix: a dense launch one
            // group (its stacked rows by the input's length, in its own weights
            // buffer), a block launch one group per `K x K` block of each of
            // its matrices (in the parameters buffer), `G` a matrix.
            let (r, c, matrix_groups, weights) = match launch.kind {
                ProjectionKind::Dense => (launch.columns(), launch.depth, 1, Slot::Weights(i)),
                ProjectionKind::Block { block } => (block, block, x_len / block, Slot::Params),
            };
            let all = ProductGradients {
                r,
                c,
                groups: launch.columns() / r,
                cycle: matrix_groups,
                rows,
                column: launch.column,
                columns,
                split_workgroups,
            };
            // dW_p[g] = dP[., column_p + g r ..]^T X[., g c ..] over every step,
            // every block of every matrix in one product.
            let dw = all.weights(rows * plan.input_prefix[input], x_len);
            let dw_words = (launch.columns() * launch.depth).max(dw.output_words());
            workspace.ensure(gpu, Slot::WeightGrads(i), dw_words as usize)?;
            products.push((dw, Slot::Grads, Slot::Inputs, Bound::whole(Slot::WeightGrads(i))));
            // dx[., g c ..] (+)= sum_p dP[., column_p + g r ..] W_p[g]: one
            // product through evenly spaced matrices, else matrix after matrix
            // (each adding to what the one before wrote).
            let summed = match launch.kind {
                ProjectionKind::Dense => vec![(launch.column, Summed::one(0))],
                ProjectionKind::Block { .. } => match plan.cell.block_strides(launch) {
                    Some((w_stride, column_stride)) if gemm_segment_fits(r) => {
                        let (w_offset, column) = plan.cell.block_matrices(launch).next().expect("matrices");
                        let count = launch.products.len() as u64;
                        vec![(column, Summed { w_offset, count, w_stride, column_stride })]
                    }
                    _ => plan.cell.block_matrices(launch).map(|(w, column)| (column, Summed::one(w))).collect(),
                },
            };
            for (p, (column, matrices)) in summed.into_iter().enumerate() {
                let one = ProductGradients { groups: matrix_groups, column, ..all };
                let dx = one.operand(matrices, 0, x_len, accumulate || p > 0);
                products.push((dx, Slot::Grads, weights, dx_target));
            }
        }
        let stride = record_stride(gpu, GemmSizes::WORDS);
        let len = products.len().max(1) * stride as usize;
        workspace.ensure(gpu, Slot::GradientSizes, len)?;
        let mut words = vec![0u32; len];
        let (mut weights, mut inputs) = (Vec::new(), Vec::new());
        let mut stage_dispatches: Vec<Vec<Dispatch>> = Vec::new();
        for (p, (product, a, b, c)) in products.into_iter().enumerate() {
            let dispatches = if p < staged_products {
                stage_dispatches.push(Vec::new());
                stage_dispatches.last_mut().expect("pushed")
            } else if matches!(c.slot, Slot::WeightGrads(_)) {
                &mut weights
            } else {
                &mut inputs
            };
            let at = p as u64 * stride;
            words[at as usize..at as usize + GemmSizes::WORDS].copy_from_slice(&product.sizes.words());
            let record = Bound::range(Slot::GradientSizes, at, GemmSizes::WORDS as u64);
            // The operands twice: as words, and as quads (`gemm.wgsl`).
            let bound = [record, Bound::whole(a), Bound::whole(b), c, Bound::whole(a), Bound::whole(b), c];
            let gemm = self.gemm_kernel(gpu, &product.sizes)?;
            let bind_group = workspace.bind_group(gpu, &gemm, &bound)?;
            dispatches.push(Dispatch { kernel: gemm, bind_group, grid: product.grid });
            if product.is_split() {
                let bind_group = workspace.bind_group(gpu, &self.sum_splits, &[record, c])?;
                let grid = product.sum_grid(gpu.max_workgroups_per_dimension());
                dispatches.push(Dispatch { kernel: Arc::clone(&self.sum_splits), bind_group, grid });
            }
        }
        uploads.records(Slot::GradientSizes, 0, words);
        // The stages' products and pullbacks before the input projections'
        // weight gradients, which read the `dP` the pullbacks add to.
        let mut ordered: Vec<Dispatch> = Vec::new();
        let mut stage_products = stage_dispatches.into_iter();
        for (s, product) in stage_order {
            match product {
                Some(_) => ordered.extend(stage_products.next().into_iter().flatten()),
                None => {
                    let items = rows * staged.stages[s].len;
                    ordered.push(self.stage_dispatch(gpu, workspace, s, true, items)?);
                }
            }
        }
        ordered.extend(weights);
        Ok((ordered, inputs))
    }
}

/// The two gradient products of one launch of `groups` products of an `r x c`
/// matrix (`P[., column + g r + j] = sum_q V[., (g % cycle) c + q] W[g][j, q]`)
/// over `rows` steps, `dP` in the gradients buffer's rows of `columns` words:
/// the one rule for input projections and staged products alike.
#[derive(Clone, Copy)]
struct ProductGradients {
    r: u64,
    c: u64,
    groups: u64,
    /// The groups after which `V`'s blocks repeat (several matrices by one
    /// operand).
    cycle: u64,
    rows: u64,
    column: u64,
    columns: u64,
    /// The workgroups a long weight gradient is split towards.
    split_workgroups: u64,
}

impl ProductGradients {
    /// `dW[g] = dP[., column + g r ..]^T V[., (g % cycle) c ..]`, `V` at
    /// `v_offset` in rows `v_row` words apart; its depth (the steps) split
    /// where that pays.
    fn weights(&self, v_offset: u64, v_row: u64) -> GemmLaunch {
        let (r, c) = (self.r as u32, self.c as u32);
        GemmLaunch::splitting_depth(
            GemmSizes {
                m: r,
                n: c,
                k: self.rows as u32,
                a_offset: self.column as u32,
                a_row: 1,
                a_col: self.columns as u32,
                b_offset: v_offset as u32,
                b_row: v_row as u32,
                b_col: 1,
                c_row: c,
                a_group: r,
                b_group: c,
                b_cycle: self.cycle as u32,
                c_group: r * c,
                ..GemmSizes::default()
            },
            self.groups,
            self.split_workgroups,
        )
    }

    /// `dV[., g c ..] (+)= sum_p dP[., column + p column_stride + g r ..]
    /// W_p[g]` over `matrices`, `dV` at `dv_offset` in rows `dv_row` words
    /// apart (added to what is there when `accumulate`); several matrices
    /// are the product's depth segments.
    fn operand(&self, matrices: Summed, dv_offset: u64, dv_row: u64, accumulate: bool) -> GemmLaunch {
        let (r, c) = (self.r as u32, self.c as u32);
        let segmented = matrices.count > 1;
        GemmLaunch::new(
            GemmSizes {
                m: self.rows as u32,
                n: c,
                k: r * matrices.count as u32,
                accumulate: u32::from(accumulate),
                a_offset: self.column as u32,
                a_row: self.columns as u32,
                a_col: 1,
                b_offset: matrices.w_offset as u32,
                b_row: c,
                b_col: 1,
                c_offset: dv_offset as u32,
                c_row: dv_row as u32,
                a_group: r,
                b_group: r * c,
                c_group: c,
                segment: if segmented { r } else { 0 },
                a_segment: matrices.column_stride as u32,
                b_segment: matrices.w_stride as u32,
                ..GemmSizes::default()
            },
            self.groups,
        )
    }
}

/// The matrices one input-gradient product sums over: `count` of them, the
/// first at `w_offset` in the parameters, each next `w_stride` words and
/// `column_stride` columns of `dP` after the one before.
#[derive(Clone, Copy)]
struct Summed {
    w_offset: u64,
    count: u64,
    w_stride: u64,
    column_stride: u64,
}

impl Summed {
    /// The matrix at `w_offset` alone.
    fn one(w_offset: u64) -> Summed {
        Summed { w_offset, count: 1, w_stride: 0, column_stride: 0 }
    }
}

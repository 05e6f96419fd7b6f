//! The projection launches of a pass: each launch's matrices transposed,
//! then one product (dense, or grouped per block), in the pass's
//! [`ProjectionLayout`] (the Newton kernel's where it solves the pass, else
//! step by step); the stages' passes and their staged products between them.

use std::sync::Arc;

use rnnc_compiler::analyse::ProjectionKind;
use rnnc_compiler::backend::wgsl::{GemmLaunch, GemmSizes, ProjectionLayout, TransposeLaunch};

use super::cell::GpuCell;
use super::device::{Gpu, GpuError};
use super::kernel::Dispatch;
use super::workspace::{Bound, Slot, Uploads, Workspace, record_stride};
use crate::solve::Method;

impl GpuCell {
    /// How a pass solved by `method` lays out its projections: as the Newton
    /// kernel reads them (`GpuKernels::newton_projections`, the layout its
    /// pipeline was made for) where that kernel solves it (Newton, or a
    /// linear cell's scan), else step by step (the sequential kernel's). The
    /// projection products write this layout, and the backward's kernel is a
    /// pipeline made for it (`GpuCell::adjoint_kernel`).
    pub(super) fn projection_layout(&self, method: Method) -> ProjectionLayout {
        match (method, &self.newton) {
            (Method::Newton | Method::Scan, Some(_)) => self.kernels().newton_projections,
            _ => ProjectionLayout::ByStep,
        }
    }

    /// The projection launches of a pass of `rows` steps, each one matrix
    /// product `P[., column ..] = X W^T`: a dense launch's stacked matrices (in
    /// their own buffer) by the input, a block-diagonal one's blocks (in the
    /// parameters; every block of each of its matrices) as one grouped product,
    /// block `g` of each matrix by the input's channels `g K .. (g + 1) K`.
    /// Each launch's matrices are transposed first (into their own buffer, at
    /// every pass; not timed apart from the product, whose phase includes it),
    /// so that the product reads `W^T` along `C`: on an H200 the projection
    /// then took 12.97 ms against 14.60 before, at 412 GFLOP (two runs,
    /// docs/measurements/h200-run34 and -run35; runs of the same kernel differ
    /// by up to 3%).
    pub(super) fn projection_dispatches(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        rows: u64,
        layout: ProjectionLayout,
        uploads: &mut Uploads<'_>,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let plan = &self.kernels().plan;
        let stride = record_stride(gpu, GemmSizes::WORDS);
        // A record per transpose and per product (the input projections'
        // launches, then the staged ones).
        let staged = &plan.cell.stages;
        let records =
            plan.cell.projections.iter().map(|l| l.products.len() + 1).sum::<usize>() + 2 * staged.launches.len();
        let len = records.max(1) * stride as usize;
        workspace.ensure(gpu, Slot::LaunchSizes, len)?;
        let mut records = Records { words: vec![0u32; len], stride: stride as usize, next: 0 };
        let mut dispatches = Vec::new();
        for (i, launch) in plan.cell.projections.iter().enumerate() {
            // P[m, column + g r + j] = sum_q X[m, g c + q] W[g][j, q]: one group
            // of r = c = depth for a dense launch (its matrices stacked in their
            // own buffer), one per K x K block of each matrix for a block one.
            let input_len = plan.cell.inputs[launch.input.index()];
            let (r, groups, weights, matrices) = match launch.kind {
                ProjectionKind::Dense => (launch.columns(), 1, Slot::Weights(i), vec![0]),
                ProjectionKind::Block { block } => (
                    block,
                    input_len / block,
                    Slot::Params,
                    plan.cell.block_matrices(launch).map(|(offset, _)| offset).collect(),
                ),
            };
            let product = LaunchOperands {
                r,
                groups,
                depth: launch.depth,
                weights,
                matrices,
                operand: Slot::Inputs,
                a_offset: rows * plan.input_prefix[launch.input.index()],
                a_row: input_len,
                column: launch.column,
            };
            dispatches.extend(self.transposed_product(gpu, workspace, &mut records, i, rows, layout, product)?);
        }
        // The stages in increasing levels: each stage's pass, then its products
        // `P[., column ..] = V W^T`, each launch's matrices transposed first
        // (as a projection's) so that the product reads `W^T` along `C`.
        for (s, stage) in staged.stages.iter().enumerate() {
            dispatches.push(self.stage_dispatch(gpu, workspace, s, false, rows * stage.len)?);
            for (j, launch) in staged.launches.iter().enumerate().filter(|(_, l)| l.stage == s) {
                let (r, groups) = match launch.kind {
                    ProjectionKind::Dense => (launch.product.rows, 1),
                    ProjectionKind::Block { block } => (block, launch.product.rows / block),
                };
                let product = LaunchOperands {
                    r,
                    groups,
                    depth: launch.depth,
                    weights: Slot::Params,
                    matrices: vec![plan.cell.params[launch.product.param.index()].offset],
                    operand: Slot::Staged,
                    a_offset: stage.slot.offset,
                    a_row: staged.columns,
                    column: launch.column,
                };
                let index = plan.cell.projections.len() + j;
                dispatches.extend(self.transposed_product(
                    gpu,
                    workspace,
                    &mut records,
                    index,
                    rows,
                    layout,
                    product,
                )?);
            }
        }
        uploads.records(Slot::LaunchSizes, 0, records.words);
        Ok(dispatches)
    }

    /// Launch `index`'s dispatches over `rows` steps: each of its matrices'
    /// blocks transposed (`W_p^T[g][q, j] = W_p[g][j, q]`, c x r a block, into
    /// the launch's own buffer, matrix after matrix), then one product of every
    /// block of every matrix, `P[m, column + (p G + g) r + j] = sum_q V[m, g c +
    /// q] W_p[g][j, q]` (`G` groups a matrix; the operand's group offsets cycle
    /// every `G` groups), their size records written into `records`. Column
    /// by column (`layout`), the product is the transposed one, `P^T[column +
    /// (p G + g) r + j, m] = sum_q W_p[g][j, q] V[m, g c + q]`: `A` the
    /// transposed blocks read along `C`'s rows, `B` the operand along its
    /// depth.
    #[allow(clippy::too_many_arguments)]
    fn transposed_product(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        records: &mut Records,
        index: usize,
        rows: u64,
        layout: ProjectionLayout,
        launch: LaunchOperands,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let plan = &self.kernels().plan;
        let LaunchOperands { r, groups, depth: c, weights, matrices, operand, a_offset, a_row, column } = launch;
        let (groups, block) = (groups.max(1), r * c);
        let transposed = Slot::ProjectionWeights(index);
        let all_groups = groups * matrices.len() as u64;
        workspace.ensure(gpu, transposed, (all_groups * block) as usize)?;
        let mut dispatches = Vec::new();
        for (p, &w_offset) in matrices.iter().enumerate() {
            let transpose = TransposeLaunch::new(
                GemmSizes {
                    m: c as u32,
                    n: r as u32,
                    a_offset: w_offset as u32,
                    a_row: 1,
                    a_col: c as u32,
                    a_group: block as u32,
                    c_offset: (p as u64 * groups * block) as u32,
                    c_row: r as u32,
                    c_group: block as u32,
                    ..GemmSizes::default()
                },
                groups,
            );
            let record = records.push(&transpose.sizes);
            let bound = [record, Bound::whole(weights), Bound::whole(transposed)];
            let bind_group = workspace.bind_group(gpu, &self.transpose, &bound)?;
            dispatches.push(Dispatch { kernel: Arc::clone(&self.transpose), bind_group, grid: transpose.grid });
        }
        let (sizes, a, b) = match layout {
            ProjectionLayout::ByStep => (
                GemmSizes {
                    m: rows as u32,
                    n: r as u32,
                    k: c as u32,
                    a_offset: a_offset as u32,
                    a_row: a_row as u32,
                    a_col: 1,
                    b_row: r as u32,
                    b_col: 1,
                    c_offset: column as u32,
                    c_row: plan.cell.projection_columns as u32,
                    a_group: c as u32,
                    a_cycle: groups as u32,
                    b_group: block as u32,
                    c_group: r as u32,
                    ..GemmSizes::default()
                },
                operand,
                transposed,
            ),
            ProjectionLayout::ByColumn => (
                GemmSizes {
                    m: r as u32,
                    n: rows as u32,
                    k: c as u32,
                    a_row: 1,
                    a_col: r as u32,
                    b_offset: a_offset as u32,
                    b_row: 1,
                    b_col: a_row as u32,
                    c_offset: (column * rows) as u32,
                    c_row: rows as u32,
                    a_group: block as u32,
                    b_group: c as u32,
                    b_cycle: groups as u32,
                    c_group: (r * rows) as u32,
                    ..GemmSizes::default()
                },
                transposed,
                operand,
            ),
        };
        let product = GemmLaunch::new(sizes, all_groups);
        let record = records.push(&product.sizes);
        let bound = [
            record,
            Bound::whole(a),
            Bound::whole(b),
            Bound::whole(Slot::Projections),
            Bound::whole(a),
            Bound::whole(b),
            Bound::whole(Slot::Projections),
        ];
        let gemm = self.gemm_kernel(gpu, &product.sizes)?;
        let bind_group = workspace.bind_group(gpu, &gemm, &bound)?;
        dispatches.push(Dispatch { kernel: gemm, bind_group, grid: product.grid });
        Ok(dispatches)
    }
}

/// One launch of the projection products as [`GpuCell::transposed_product`]
/// runs it: each of its `matrices` (`weights` at each offset, row-major) is
/// `groups` groups of an `r x depth` block, all of them times the operand's
/// rows (`operand` at `a_offset`, `a_row` words apart), written from `column`
/// of the projections' rows, matrix after matrix.
struct LaunchOperands {
    r: u64,
    groups: u64,
    depth: u64,
    weights: Slot,
    matrices: Vec<u64>,
    operand: Slot,
    a_offset: u64,
    a_row: u64,
    column: u64,
}

/// Size records written one after another, `stride` words apart.
struct Records {
    words: Vec<u32>,
    stride: usize,
    next: usize,
}

impl Records {
    /// Writes `sizes` as the next record; its binding.
    fn push(&mut self, sizes: &GemmSizes) -> Bound {
        let at = self.next * self.stride;
        self.words[at..at + GemmSizes::WORDS].copy_from_slice(&sizes.words());
        self.next += 1;
        Bound::range(Slot::LaunchSizes, at as u64, GemmSizes::WORDS as u64)
    }
}

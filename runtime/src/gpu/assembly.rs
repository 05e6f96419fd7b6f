//! How a backward pass's gradients reach an exchange (`exchange.rs`): the
//! inputs' elementwise gradients and the initial states' copied from the
//! backward's gradients, the parameters' regions cleared, the projection and
//! staged matrices' gradients and the stages' parameter sums copied, and the
//! accumulators summed per parameter element by the `gather` kernel (its
//! table planned once per exchange and backward kernel).

use std::collections::HashMap;
use std::sync::Arc;

use rnnc_compiler::backend::wgsl::{GatherTable, GradientLayout, gather_text};

use super::cell::GpuCell;
use super::copy::WordCopy;
use super::device::{Gpu, GpuError};
use super::exchange::{Exchange, Gather, group_range};
use super::kernel::{Kernel, Recorder};
use super::pass::Pass;
use super::workspace::{Slot, Workspace};
use crate::data::Region;

impl GpuCell {
    /// How one backward pass's gradients reach `exchange`: planned from the
    /// pass's gradient `layout` (the parameters' sums once per exchange and kernel).
    pub(super) fn gradient_assembly(
        &self,
        gpu: &Gpu,
        exchange: &Exchange,
        layout: &GradientLayout,
        pass: &Pass,
        scan: bool,
    ) -> Result<GradientAssembly, GpuError> {
        let plan = &self.kernels().plan;
        let adjoint = self.adjoint.as_ref().map_err(|reason| GpuError::Codegen(reason.clone()))?;
        let regions = exchange.layout();
        let (rows, batch) = (pass.rows() as u64, pass.batch as u64);
        let mut from_grads = Vec::new();
        let to_exchange = |from: u64, region: &Region| WordCopy {
            src: Slot::Grads,
            from,
            dst: Slot::Exchange,
            to: region.offset as u64,
            len: region.len() as u64,
        };
        for (region, &prefix) in regions.input_grads().iter().zip(&plan.input_prefix) {
            from_grads.push(to_exchange(layout.inputs + rows * prefix, region));
        }
        for (region, &prefix) in regions.init_grads().iter().zip(&plan.state_prefix) {
            from_grads.push(to_exchange(layout.inits + batch * prefix, region));
        }
        // Each parameter's gradient comes from one place: its projection's
        // matrix gradient, or the accumulators.
        let mut sources = vec![0usize; plan.cell.params.len()];
        for accumulator in &adjoint.accumulators {
            sources[accumulator.param.index()] = 1;
        }
        let mut from_weights = Vec::new();
        for (i, launch) in plan.cell.projections.iter().enumerate() {
            let mut row = 0;
            for product in &launch.products {
                let param = product.param.index();
                sources[param] += 1;
                let len = product.rows * launch.depth;
                from_weights.push((i, row * launch.depth, regions.param_grads()[param].offset as u64, len));
                row += product.rows;
            }
        }
        // The staged launches' matrix gradients (in storage layout), and the
        // stages' vector parameters' sums over the steps.
        for (j, launch) in plan.cell.stages.launches.iter().enumerate() {
            let param = launch.product.param.index();
            sources[param] += 1;
            let len = launch.product.rows * launch.depth;
            let to = regions.param_grads()[param].offset as u64;
            from_weights.push((plan.cell.projections.len() + j, 0, to, len));
        }
        let mut from_sums = Vec::new();
        for partial in self.kernels().stages.iter().flat_map(|k| &k.partials) {
            let param = partial.param.index();
            sources[param] += 1;
            let region = &regions.param_grads()[param];
            if region.len() as u64 != partial.len {
                let name = regions.params()[param].name.trim_start_matches("param.");
                return Err(GpuError::Device(format!(
                    "`scalar` parameter `{name}` is used beneath a staged product; a backward pass through an \
                     exchange cannot sum its gradient yet (the host path can)"
                )));
            }
            from_sums.push((partial.column, region.offset as u64, partial.len));
        }
        if let Some(param) = sources.iter().position(|&n| n > 1) {
            let name = regions.params()[param].name.trim_start_matches("param.");
            return Err(GpuError::Device(format!(
                "parameter `{name}` takes part in several products or in a product and the recurrence; \
                 a backward pass through an exchange cannot add its gradient's parts yet (the host path can)"
            )));
        }
        let clears = regions.param_grads().iter().map(|r| (r.offset as u64, r.len() as u64)).collect();
        let sums = self.gradient_sums(gpu, exchange, layout, pass.batch, scan)?;
        let kernel = gpu.kernel("gather", &gather_text(), "main")?;
        Ok(GradientAssembly { from_grads, clears, from_weights, from_sums, sums, kernel })
    }

    /// The gathered sums of the accumulators into the parameters' gradient
    /// regions (a `scalar` parameter's all into its one word), planned once.
    fn gradient_sums(
        &self,
        gpu: &Gpu,
        exchange: &Exchange,
        layout: &GradientLayout,
        batch: usize,
        scan: bool,
    ) -> Result<Arc<Gather>, GpuError> {
        let mut planned = exchange.gradient_sums.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gather) = planned.get(&scan) {
            return Ok(gather.clone());
        }
        let adjoint = self.adjoint.as_ref().map_err(|reason| GpuError::Codegen(reason.clone()))?;
        let regions = exchange.layout().param_grads();
        let range = group_range(regions);
        let mut lists: HashMap<u32, Vec<u32>> = HashMap::new();
        for (word, param, index) in self.accumulator_terms(adjoint, batch, scan) {
            let region = &regions[param];
            let index = if region.len() == 1 { 0 } else { index };
            let target = region.offset as u64 + index as u64 - range.0;
            lists.entry(target as u32).or_default().push((layout.partials + word as u64) as u32);
        }
        let mut lists: Vec<(u32, Vec<u32>)> = lists.into_iter().collect();
        lists.sort_unstable_by_key(|(target, _)| *target);
        let gather = Arc::new(Gather::upload(gpu, &GatherTable::new(&lists), true, None, Some(range))?);
        planned.insert(scan, gather.clone());
        Ok(gather)
    }
}

/// How a backward pass's gradients are written into an exchange (recorded
/// into its submission around the gradient products).
pub(super) struct GradientAssembly {
    /// From the backward's gradients to the exchange: the inputs' elementwise
    /// gradients and the initial states' gradients.
    from_grads: Vec<WordCopy>,
    /// The parameters' gradient regions, cleared first: `(word, words)`.
    clears: Vec<(u64, u64)>,
    /// `(launch, word in its matrix gradient, word in the exchange, words)`;
    /// staged launches after the projection launches.
    from_weights: Vec<(usize, u64, u64, u64)>,
    /// `(word in the stages' parameter sums, word in the exchange, words)`.
    from_sums: Vec<(u64, u64, u64)>,
    sums: Arc<Gather>,
    kernel: Arc<Kernel>,
}

impl GradientAssembly {
    /// After the backward recurrence and the stages' pullbacks (which add to
    /// the inputs' elementwise gradients), before the input gradients'
    /// products (which add onto them): the elementwise gradients' copies.
    pub(super) fn elementwise_copies(&self) -> impl Iterator<Item = WordCopy> + '_ {
        self.from_grads.iter().copied()
    }

    /// After the gradient products: the parameters' gradients.
    pub(super) fn record_sums(&self, recorder: &mut Recorder<'_>, workspace: &Workspace) -> Result<(), GpuError> {
        let exchange = workspace.get(Slot::Exchange)?;
        for &(offset, len) in &self.clears {
            recorder.encoder.clear_buffer(&exchange.buffer, offset * 4, Some(len * 4));
        }
        for &(launch, from, to, len) in &self.from_weights {
            let weights = &workspace.get(Slot::WeightGrads(launch))?.buffer;
            recorder.encoder.copy_buffer_to_buffer(weights, from * 4, &exchange.buffer, to * 4, len * 4);
        }
        for &(from, to, len) in &self.from_sums {
            let sums = &workspace.get(Slot::StagePartialSums)?.buffer;
            recorder.encoder.copy_buffer_to_buffer(sums, from * 4, &exchange.buffer, to * 4, len * 4);
        }
        let dispatch = self.sums.dispatch(recorder.gpu(), &self.kernel, workspace.get(Slot::Grads)?, exchange)?;
        recorder.phase("parameter gradients", None, &[dispatch])
    }
}

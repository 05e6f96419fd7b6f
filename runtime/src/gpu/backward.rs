//! The backward pass on the GPU: the forward (keeping every state), then the
//! adjoint kernels (a reverse scan, or one step after another), then the
//! projections' gradients as matrix products over every step, read back and
//! summed over passes.

use std::time::Instant;

use rnnc_compiler::backend::wgsl::{self, AdjointKernels, Buffer, GEMM_TILE, GradientLayout};

use super::cell::{GpuCell, Outputs, Pass, Run, SolvedPass, windows};
use super::device::{Gpu, GpuError};
use super::kernel::Binding;
use super::memory::GpuBuffer;
use crate::data::BoundData;
use crate::solve::{ForwardReport, GradientBuffers, Method, NewtonSettings};

/// One general matrix product (`gemm.wgsl`), its operands strided.
struct Product<'a> {
    /// Rows, columns and depth of `C = A B`.
    m: u64,
    n: u64,
    k: u64,
    accumulate: bool,
    /// Each operand: its buffer, offset, and strides (row, column).
    a: (&'a GpuBuffer, u64, u64, u64),
    b: (&'a GpuBuffer, u64, u64, u64),
    /// `C`: buffer, offset, row stride.
    c: (&'a GpuBuffer, u64, u64),
}

impl GpuCell {
    /// Runs the cell forward over `data` and back: the gradients of `sum over
    /// outputs o of sum(douts[o] * o)` (each `douts[o]` `[B, T, size]`) with respect
    /// to every parameter, input and initial state. Returns the forward's outputs,
    /// the gradients, and the forward's report with the backward's time. The
    /// backward runs by the forward's method: Newton's forward goes with the
    /// reverse scan, the sequential one with the sequential backward.
    pub fn backward(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        douts: &[Vec<f32>],
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Outputs, GradientBuffers, ForwardReport), GpuError> {
        let adjoint = self.adjoint.as_ref().map_err(|reason| GpuError::Codegen(reason.clone()))?;
        let plan = &self.kernels().plan;
        let run = self.prepare(gpu, data, method)?;
        let scan = run.method == Method::Newton && adjoint.scan.is_some();
        let label = "backward";
        let entry = if scan { "adjoint_scan" } else { "adjoint_sequential" };
        let kernel = gpu.kernel(label, &adjoint.text, entry)?;
        let gemm = gpu.kernel("gemm", wgsl::GEMM, "main")?;
        let mut outputs: Outputs = vec![Vec::new(); plan.output_sizes.len()];
        let mut gradients = GradientBuffers {
            params: data.params().iter().map(|t| vec![0.0; t.len()]).collect(),
            inputs: vec![Vec::new(); plan.input_sizes.len()],
            inits: vec![Vec::new(); plan.state_sizes.len()],
        };
        let mut total = super::cell::PassStats::default();
        let (mut backward_ms, mut products_ms) = (0.0, 0.0);
        for first in (0..data.batch()).step_by(run.chunk) {
            let pass = self.pass(data, first, run.chunk);
            let solved = self.solve_pass(gpu, &run, &pass, settings, true)?;
            for (all, part) in outputs.iter_mut().zip(self.read_outputs(gpu, &solved, &pass)?) {
                all.extend(part);
            }
            total.merge(&solved.stats);
            let context = PassContext { run: &run, pass: &pass, solved: &solved, adjoint, scan };
            let ((ms, products), part) = self.backward_pass(gpu, &context, douts, &kernel, &gemm)?;
            backward_ms += ms;
            products_ms += products;
            for (all, part) in gradients.params.iter_mut().zip(part.params) {
                for (a, p) in all.iter_mut().zip(part) {
                    *a += p;
                }
            }
            for (all, part) in gradients.inputs.iter_mut().zip(part.inputs) {
                all.extend(part);
            }
            for (all, part) in gradients.inits.iter_mut().zip(part.inits) {
                all.extend(part);
            }
        }
        let mut report = run.report(gpu, &total);
        report.backward_ms = Some(backward_ms);
        report.gradient_products_ms = Some(products_ms);
        Ok((outputs, gradients, report))
    }

    /// The backward of one solved pass: its sequences' input and initial-state
    /// gradients, and its share of the parameters' gradients; and the time it
    /// took, and of that the matrix products'.
    fn backward_pass(
        &self,
        gpu: &Gpu,
        context: &PassContext<'_>,
        douts: &[Vec<f32>],
        kernel: &super::kernel::Kernel,
        gemm: &super::kernel::Kernel,
    ) -> Result<((f64, f64), GradientBuffers), GpuError> {
        let PassContext { run, pass, solved, adjoint, scan } = *context;
        let plan = &self.kernels().plan;
        let (batch, steps) = (pass.batch, pass.steps);
        let rows = (batch * steps) as u64;
        let dout_rows: Vec<f32> = douts
            .iter()
            .zip(&plan.output_sizes)
            .flat_map(|(d, &size)| {
                let per_sequence = steps * size as usize;
                d[pass.first * per_sequence..(pass.first + batch) * per_sequence].iter().copied()
            })
            .collect();
        let douts = gpu.upload("douts", &dout_rows)?;
        // The sequential forward leaves its last states in `init`: upload them again.
        let init = gpu.upload("init", &pass.inits)?;
        let layout = GradientLayout::new(plan, adjoint, batch as u64, steps as u64, scan);
        let grads = gpu.zeroed("grads", layout.len as usize)?;
        // Windows from the last to the first, the cotangent carried between them.
        let windows: Vec<(u32, u32)> =
            windows(steps, if scan { adjoint.scan } else { None }, plan.unknowns).into_iter().rev().collect();
        let mut settings_buffers = Vec::new();
        for &window in &windows {
            // The backward kernels read only the sizes and the window.
            let words = self.settings_words(pass, &NewtonSettings::default(), window, false);
            settings_buffers.push(gpu.upload("settings", &words)?);
        }
        let groups_x = |per: u64| plan.lanes.div_ceil(per).max(1) as u32;
        let grid = match adjoint.scan {
            Some(shape) if scan => [groups_x(shape.lanes), batch as u32, 1],
            _ => [groups_x(wgsl::SEQUENTIAL_LANES), batch as u32, 1],
        };
        // The matrix products' outputs: per projection group, dW [n, depth] and dx.
        let mut weight_grads = Vec::new();
        let mut input_grads = Vec::new();
        for group in &plan.projections {
            let n: u64 = group.params.iter().map(|&(_, r)| r).sum();
            weight_grads.push(gpu.zeroed("weight gradients", (n * group.depth) as usize)?);
            input_grads.push(gpu.zeroed("input gradients", (rows * group.depth) as usize)?);
        }
        gpu.wait()?;

        let start = Instant::now();
        for settings_buffer in &settings_buffers {
            let bindings: Vec<Binding<'_>> = adjoint
                .bindings
                .iter()
                .map(|buffer| {
                    Binding(match buffer {
                        Buffer::Settings | Buffer::Stats => settings_buffer,
                        Buffer::Projections => &solved.projections,
                        Buffer::Params => &run.params,
                        Buffer::Inputs => &solved.inputs,
                        Buffer::Init => &init,
                        Buffer::Outputs | Buffer::States => &solved.states,
                        Buffer::Douts => &douts,
                        Buffer::Grads => &grads,
                    })
                })
                .collect();
            gpu.dispatch(kernel, &bindings, grid)?;
        }
        // Timing the phases apart costs one wait; `rnnc bench --backward` reports it.
        gpu.wait()?;
        let products_start = Instant::now();
        for (((group, weights), dw), dx) in
            plan.projections.iter().zip(&run.weights).zip(&weight_grads).zip(&input_grads)
        {
            let n: u64 = group.params.iter().map(|&(_, r)| r).sum();
            let columns = plan.projection_columns;
            let x_offset = rows * plan.input_prefix[group.input.index()];
            // dW = dP^T X over every step.
            self.product(
                gpu,
                gemm,
                &Product {
                    m: n,
                    n: group.depth,
                    k: rows,
                    accumulate: false,
                    a: (&grads, group.column, 1, columns),
                    b: (&solved.inputs, x_offset, group.depth, 1),
                    c: (dw, 0, group.depth),
                },
            )?;
            // dx = dP W.
            self.product(
                gpu,
                gemm,
                &Product {
                    m: rows,
                    n: group.depth,
                    k: n,
                    accumulate: false,
                    a: (&grads, group.column, columns, 1),
                    b: (weights, 0, group.depth, 1),
                    c: (dx, 0, group.depth),
                },
            )?;
        }
        gpu.wait()?;
        let backward_ms = start.elapsed().as_secs_f64() * 1e3;
        let products_ms = products_start.elapsed().as_secs_f64() * 1e3;

        // Read back everything after the projections' cotangents.
        let tail: Vec<f32> = gpu.read_range(&grads, layout.inputs as usize, (layout.len - layout.inputs) as usize)?;
        let at = |offset: u64| (offset - layout.inputs) as usize;
        let mut out = GradientBuffers { params: Vec::new(), inputs: Vec::new(), inits: Vec::new() };
        for (i, &d) in plan.input_sizes.iter().enumerate() {
            let start = at(layout.inputs + rows * plan.input_prefix[i]);
            out.inputs.push(tail[start..start + (rows * d) as usize].to_vec());
        }
        for (group, dx) in plan.projections.iter().zip(&input_grads) {
            let dx: Vec<f32> = gpu.read(dx)?;
            for (g, d) in out.inputs[group.input.index()].iter_mut().zip(dx) {
                *g += d;
            }
        }
        for (s, &h) in plan.state_sizes.iter().enumerate() {
            let start = at(layout.inits + batch as u64 * plan.state_prefix[s]);
            out.inits.push(tail[start..start + batch * h as usize].to_vec());
        }
        out.params = self.param_gradients(gpu, adjoint, &tail[at(layout.partials)..], &weight_grads, batch, scan)?;
        Ok(((backward_ms, products_ms), out))
    }

    /// The parameters' gradients of one pass: the threads' accumulators summed
    /// and scattered, and the projection matrices' products split by parameter.
    fn param_gradients(
        &self,
        gpu: &Gpu,
        adjoint: &AdjointKernels,
        partials: &[f32],
        weight_grads: &[GpuBuffer],
        batch: usize,
        scan: bool,
    ) -> Result<Vec<Vec<f32>>, GpuError> {
        let plan = &self.kernels().plan;
        let mut params: Vec<Vec<f32>> = plan
            .param_offsets
            .iter()
            .enumerate()
            .map(|(p, &offset)| {
                let end = plan.param_offsets.get(p + 1).copied().unwrap_or(plan.params_len);
                vec![0.0; (end - offset) as usize]
            })
            .collect();
        let width = adjoint.accumulator_len.max(1) as usize;
        let threads = if scan { adjoint.scan.map_or(1, |s| s.chunks) as usize } else { 1 };
        for (slot, words) in partials.chunks(width).take(batch * threads * plan.lanes as usize).enumerate() {
            let lane = (slot % plan.lanes as usize) as u64;
            for accumulator in &adjoint.accumulators {
                let gradient = &mut params[accumulator.param.index()];
                for i in 0..accumulator.len {
                    let index = accumulator.param_index(plan, lane, i) as usize;
                    if let Some(g) = gradient.get_mut(index) {
                        *g += words[(accumulator.offset + i) as usize];
                    }
                }
            }
        }
        for (group, dw) in plan.projections.iter().zip(weight_grads) {
            let dw: Vec<f32> = gpu.read(dw)?;
            let mut row = 0usize;
            for &(param, rows) in &group.params {
                let len = rows as usize * group.depth as usize;
                for (g, d) in params[param.index()].iter_mut().zip(&dw[row * group.depth as usize..][..len]) {
                    *g += d;
                }
                row += rows as usize;
            }
        }
        Ok(params)
    }

    /// Dispatches one general matrix product.
    fn product(&self, gpu: &Gpu, gemm: &super::kernel::Kernel, p: &Product<'_>) -> Result<(), GpuError> {
        if p.m == 0 || p.n == 0 {
            return Ok(());
        }
        let words = [
            p.m as u32,
            p.n as u32,
            p.k as u32,
            u32::from(p.accumulate),
            p.a.1 as u32,
            p.a.2 as u32,
            p.a.3 as u32,
            p.b.1 as u32,
            p.b.2 as u32,
            p.b.3 as u32,
            p.c.1 as u32,
            p.c.2 as u32,
        ];
        let sizes = gpu.upload("gemm sizes", &words)?;
        let grid = [p.n.div_ceil(GEMM_TILE) as u32, p.m.div_ceil(GEMM_TILE) as u32, 1];
        gpu.dispatch(gemm, &[Binding(&sizes), Binding(p.a.0), Binding(p.b.0), Binding(p.c.0)], grid)
    }
}

/// What the backward of one pass reads from its run and forward.
#[derive(Clone, Copy)]
struct PassContext<'a> {
    run: &'a Run,
    pass: &'a Pass,
    solved: &'a SolvedPass,
    adjoint: &'a AdjointKernels,
    scan: bool,
}

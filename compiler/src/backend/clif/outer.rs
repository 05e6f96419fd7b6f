//! The backward kernel's parameter shares: `gradient += a ⊗ u` for each use
//! `W @ u` of a matrix parameter inside the step (every entry of a dense `W`,
//! the diagonal blocks of a block-diagonal one), added to the packed parameter
//! gradient row by row of `W`.

use cranelift_codegen::ir::{InstBuilder, Value, types};

use super::emit::{Emitter, bytes, flags};
use super::internal;
use super::program::{Matrix, Outer};
use crate::error::Error;

impl Emitter<'_, '_> {
    /// Adds `outer.a ⊗ outer.u` to the parameter's gradient.
    pub(super) fn outer(&mut self, outer: &Outer) -> Result<(), Error> {
        let grads = self.param_grads.ok_or_else(|| internal(self.context.cell, "a gradient outside the backward"))?;
        let offset = bytes(self.context, outer.grad_offset)?;
        let g = self.b.ins().iadd_imm_s(grads, i64::from(offset));
        let a = self.pointer(outer.a.0, outer.a.1)?;
        let u = self.pointer(outer.u.0, outer.u.1)?;
        match outer.matrix {
            Matrix::Dense { rows, cols, .. } => self.dense_outer(g, a, u, rows, cols),
            Matrix::Reduce { .. } | Matrix::Window { .. } | Matrix::Spread { .. } => {
                Err(internal(self.context.cell, "a gradient share of a parameter-free stage"))
            }
            Matrix::Block { size, block, .. } => {
                let range = if outer.split {
                    (self.channel_start, self.channel_end)
                } else {
                    (self.constant(0), self.constant(size as i64))
                };
                self.block_outer(g, a, u, range, block)
            }
        }
    }

    /// `g[r, c] += a[r] u[c]`: rows one by one, columns four at a time.
    fn dense_outer(&mut self, g: Value, a: Value, u: Value, rows: usize, cols: usize) -> Result<(), Error> {
        let full = cols / 4 * 4;
        let row_bytes = i64::from(bytes(self.context, cols)?);
        let (start, end) = (self.constant(0), self.constant(rows as i64));
        self.counted_loop(start, end, 1, &mut |e, r| {
            let ar = e.load_at(a, r);
            let offset = e.b.ins().imul_imm_s(r, row_bytes);
            let row = e.b.ins().iadd(g, offset);
            if full > 0 {
                let av = e.b.ins().splat(types::F32X4, ar);
                let (from, to) = (e.constant(0), e.constant(full as i64));
                e.counted_loop(from, to, 4, &mut |e, c| {
                    let offset = e.b.ins().ishl_imm_u(c, 2);
                    let ga = e.b.ins().iadd(row, offset);
                    let ua = e.b.ins().iadd(u, offset);
                    let gv = e.b.ins().load(types::F32X4, flags(), ga, 0);
                    let uv = e.b.ins().load(types::F32X4, flags(), ua, 0);
                    let product = e.b.ins().fmul(av, uv);
                    let sum = e.b.ins().fadd(gv, product);
                    e.b.ins().store(flags(), sum, ga, 0);
                    Ok(())
                })?;
            }
            for c in full..cols {
                let offset = bytes(e.context, c)?;
                let gv = e.b.ins().load(types::F32, flags(), row, offset);
                let uv = e.b.ins().load(types::F32, flags(), u, offset);
                let product = e.b.ins().fmul(ar, uv);
                let sum = e.b.ins().fadd(gv, product);
                e.b.ins().store(flags(), sum, row, offset);
            }
            Ok(())
        })
    }

    /// `g[r / k, r % k, j] += a[r] u[r - r % k + j]` for the rows `range` of a
    /// block-diagonal matrix of `block x block` blocks (stored `[n/k, k, k]`, so
    /// the entry is at `r k + j`).
    fn block_outer(&mut self, g: Value, a: Value, u: Value, range: (Value, Value), block: usize) -> Result<(), Error> {
        let k = block as i64;
        self.counted_loop(range.0, range.1, 1, &mut |e, r| {
            let within = e.b.ins().urem_imm_u(r, k);
            let group_start = e.b.ins().isub(r, within);
            let ar = e.load_at(a, r);
            let first_entry = e.b.ins().imul_imm_s(r, k);
            let (from, to) = (e.constant(0), e.constant(k));
            e.counted_loop(from, to, 1, &mut |e, j| {
                let column = e.b.ins().iadd(group_start, j);
                let entry = e.b.ins().iadd(first_entry, j);
                let uv = e.load_at(u, column);
                let gv = e.load_at(g, entry);
                let product = e.b.ins().fmul(ar, uv);
                let sum = e.b.ins().fadd(gv, product);
                e.store_at(sum, g, entry);
                Ok(())
            })
        })
    }
}

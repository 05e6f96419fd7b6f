//! Emitting a planned kernel as a CLIF function: the argument record, the loop
//! over rows, and the stages of the [`Program`] (elementwise groups are in
//! [`super::lanes`]).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, Function, InstBuilder, MemFlagsData, Signature, UserFuncName, Value, types,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

use super::abi::Field;
use super::layout::JacobianLayout;
use super::program::{Base, Context, Matrix, Probes, Product, Program, Reduction, Stage};
use super::{internal, math};
use crate::error::Error;

/// What one kernel is made of, besides its program.
pub(super) struct KernelShape<'a> {
    /// Floats per row of `Pre`.
    pub pre_width: usize,
    /// Floats per row of `Out`.
    pub out_width: usize,
    /// Floats per row of `Jac`.
    pub jac_width: usize,
    /// Floats per row of each input (the hoisting and backward kernels; empty
    /// otherwise).
    pub input_widths: &'a [usize],
    /// How Jacobian rows are laid out.
    pub jacobian: JacobianLayout,
    /// The backward kernel's rows (`None` for the forward kernels).
    pub backward: Option<BackwardShape<'a>>,
}

/// The rows only the backward kernel reads and writes.
#[derive(Clone, Copy, Debug)]
pub(super) struct BackwardShape<'a> {
    /// Floats per row of each output's cotangent.
    pub dout_widths: &'a [usize],
    /// Floats per row of the projections and of their cotangents.
    pub projection_width: usize,
}

/// The pointers of the current row.
#[derive(Clone, Debug, Default)]
pub(super) struct Row {
    pub pre: Option<Value>,
    pub prev: Option<Value>,
    pub out: Option<Value>,
    pub jac: Option<Value>,
    pub inputs: Vec<Value>,
    /// The state cotangent entering the row (backward).
    pub mu: Option<Value>,
    pub douts: Vec<Value>,
    pub projections: Option<Value>,
    pub projection_grads: Option<Value>,
    pub input_grads: Vec<Value>,
}

pub(super) struct Emitter<'a, 'f> {
    pub b: FunctionBuilder<'f>,
    pub context: &'a Context<'a>,
    pub shape: &'a KernelShape<'a>,
    pub params: Value,
    pub consts: Value,
    pub scratch: Value,
    pub channel_start: Value,
    pub channel_end: Value,
    /// The packed parameter gradient (backward kernel).
    pub param_grads: Option<Value>,
    pub row: Row,
    /// The dense Jacobian column the probe loop is at.
    pub column: Option<Value>,
}

/// Memory accesses of the kernels: through pointers the runtime guarantees valid.
pub(super) fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// A byte offset as an immediate.
pub(super) fn bytes(context: &Context<'_>, floats: usize) -> Result<i32, Error> {
    floats
        .checked_mul(4)
        .and_then(|b| i32::try_from(b).ok())
        .ok_or_else(|| internal(context.cell, "an offset beyond 2 GiB"))
}

/// The base pointers of the backward kernel's rows.
struct BackwardBases {
    seed_last: Value,
    douts: Vec<Value>,
    projections: Value,
    projection_grads: Value,
    input_grads: Vec<Value>,
}

/// The `count` pointers of the table at `table`.
fn table(b: &mut FunctionBuilder<'_>, context: &Context<'_>, table: Value, count: usize) -> Result<Vec<Value>, Error> {
    (0..count).map(|i| Ok(b.ins().load(types::I64, flags(), table, bytes(context, 2 * i)?))).collect()
}

/// `base + t * width` floats.
fn row_pointer(
    b: &mut FunctionBuilder<'_>,
    context: &Context<'_>,
    t: Value,
    base: Value,
    width: usize,
) -> Result<Value, Error> {
    let offset = b.ins().imul_imm_s(t, i64::from(bytes(context, width)?));
    Ok(b.ins().iadd(base, offset))
}

/// The kernel `program` as function number `index`.
pub(super) fn emit_kernel(
    context: &Context<'_>,
    shape: &KernelShape<'_>,
    program: &Program,
    target: &TargetFrontendConfig,
    index: u32,
) -> Result<Function, Error> {
    if target.pointer_bits() != 64 {
        return Err(super::unsupported(context.cell, "a target whose pointers are not 64 bits"));
    }
    let mut signature = Signature::new(target.default_call_conv);
    signature.params.push(AbiParam::new(types::I64));
    let mut function = Function::with_name_signature(UserFuncName::user(0, index), signature);
    let mut builder_context = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut function, &mut builder_context);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let args = b.block_params(entry)[0];
    let field = |b: &mut FunctionBuilder<'_>, f: Field| b.ins().load(types::I64, flags(), args, f.offset());
    let params = field(&mut b, Field::Params);
    let consts = field(&mut b, Field::Consts);
    let pre = field(&mut b, Field::Pre);
    let prev_first = field(&mut b, Field::PrevFirst);
    let prev_base = field(&mut b, Field::PrevBase);
    let prev_stride = field(&mut b, Field::PrevStride);
    let out = field(&mut b, Field::Out);
    let jac = field(&mut b, Field::Jac);
    let rows = field(&mut b, Field::Rows);
    let scratch = field(&mut b, Field::Scratch);
    let channel_start = field(&mut b, Field::ChannelStart);
    let channel_end = field(&mut b, Field::ChannelEnd);
    let mut input_bases = Vec::new();
    if !shape.input_widths.is_empty() {
        let inputs = field(&mut b, Field::Inputs);
        input_bases = table(&mut b, context, inputs, shape.input_widths.len())?;
    }
    let mut param_grads = None;
    let backward = match &shape.backward {
        Some(backward) => {
            let douts = field(&mut b, Field::Douts);
            let input_grads = field(&mut b, Field::InputGrads);
            param_grads = Some(field(&mut b, Field::ParamGrads));
            Some(BackwardBases {
                seed_last: field(&mut b, Field::SeedLast),
                douts: table(&mut b, context, douts, backward.dout_widths.len())?,
                projections: field(&mut b, Field::Projections),
                projection_grads: field(&mut b, Field::ProjectionGrads),
                input_grads: table(&mut b, context, input_grads, shape.input_widths.len())?,
            })
        }
        None => None,
    };
    let mut emitter = Emitter {
        b,
        context,
        shape,
        params,
        consts,
        scratch,
        channel_start,
        channel_end,
        param_grads,
        row: Row::default(),
        column: None,
    };
    let zero = emitter.b.ins().iconst(types::I64, 0);
    emitter.counted_loop(zero, rows, 1, &mut |e, i| {
        let b = &mut e.b;
        // The backward kernel walks its rows from the last to the first.
        let last = b.ins().iadd_imm_s(rows, -1);
        let t = if backward.is_some() { b.ins().isub(last, i) } else { i };
        let pre_row = row_pointer(b, context, t, pre, shape.pre_width)?;
        let out_row = row_pointer(b, context, t, out, shape.out_width)?;
        let jac_row = row_pointer(b, context, t, jac, shape.jac_width)?;
        let before = b.ins().iadd_imm_s(t, -1);
        let before = b.ins().imul(before, prev_stride);
        let before = b.ins().ishl_imm_u(before, 2);
        let later = b.ins().iadd(prev_base, before);
        let first = b.ins().icmp_imm_s(IntCC::Equal, t, 0);
        let prev = b.ins().select(first, prev_first, later);
        let mut inputs = Vec::with_capacity(input_bases.len());
        for (&base, &width) in input_bases.iter().zip(shape.input_widths) {
            inputs.push(row_pointer(b, context, t, base, width)?);
        }
        let mut row = Row {
            pre: Some(pre_row),
            prev: Some(prev),
            out: Some(out_row),
            jac: Some(jac_row),
            inputs,
            ..Row::default()
        };
        if let (Some(bases), Some(backward)) = (&backward, &shape.backward) {
            let after = b.ins().iadd_imm_s(t, 1);
            let next_row = row_pointer(b, context, after, out, shape.out_width)?;
            let at_end = b.ins().icmp(IntCC::Equal, t, last);
            row.mu = Some(b.ins().select(at_end, bases.seed_last, next_row));
            for (&base, &width) in bases.douts.iter().zip(backward.dout_widths) {
                row.douts.push(row_pointer(b, context, t, base, width)?);
            }
            row.projections = Some(row_pointer(b, context, t, bases.projections, backward.projection_width)?);
            row.projection_grads = Some(row_pointer(b, context, t, bases.projection_grads, backward.projection_width)?);
            for (&base, &width) in bases.input_grads.iter().zip(shape.input_widths) {
                row.input_grads.push(row_pointer(b, context, t, base, width)?);
            }
        }
        e.row = row;
        e.stages(program)
    })?;
    emitter.b.ins().return_(&[]);
    emitter.b.seal_all_blocks();
    let config = *target;
    emitter.b.finalize(config);
    Ok(function)
}

impl Emitter<'_, '_> {
    /// `for (i = start; i < end; i += step) body(i)`, with signed 64-bit bounds.
    pub fn counted_loop(
        &mut self,
        start: Value,
        end: Value,
        step: i64,
        body: &mut dyn FnMut(&mut Self, Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let header = self.b.create_block();
        let index = self.b.append_block_param(header, types::I64);
        let exit = self.b.create_block();
        let any = self.b.ins().icmp(IntCC::SignedLessThan, start, end);
        self.b.ins().brif(any, header, &[BlockArg::Value(start)], exit, &[]);
        self.b.switch_to_block(header);
        body(self, index)?;
        let next = self.b.ins().iadd_imm_s(index, step);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, next, end);
        self.b.ins().brif(more, header, &[BlockArg::Value(next)], exit, &[]);
        self.b.switch_to_block(exit);
        Ok(())
    }

    /// The pointer leaves at `base` are addressed from.
    pub fn base(&self, base: Base) -> Result<Value, Error> {
        let value = match base {
            Base::Params => Some(self.params),
            Base::Consts => Some(self.consts),
            Base::Scratch => Some(self.scratch),
            Base::Pre => self.row.pre,
            Base::Prev => self.row.prev,
            Base::Input(i) => self.row.inputs.get(i).copied(),
            Base::Mu => self.row.mu,
            Base::Dout(o) => self.row.douts.get(o).copied(),
            Base::Projections => self.row.projections,
        };
        value.ok_or_else(|| internal(self.context.cell, "a leaf read outside a row"))
    }

    /// Runs every stage of `program`.
    pub fn stages(&mut self, program: &Program) -> Result<(), Error> {
        for stage in &program.stages {
            match stage {
                Stage::Group(index) => self.group(program, *index)?,
                Stage::Product(product) => self.product(product)?,
                Stage::Probes(probes) => self.probes(probes)?,
                Stage::Outer(outer) => self.outer(outer)?,
            }
        }
        Ok(())
    }

    pub(super) fn pointer(&mut self, base: Base, floats: usize) -> Result<Value, Error> {
        let base = self.base(base)?;
        let offset = bytes(self.context, floats)?;
        Ok(self.b.ins().iadd_imm_s(base, i64::from(offset)))
    }

    pub(super) fn constant(&mut self, value: i64) -> Value {
        self.b.ins().iconst(types::I64, value)
    }

    /// The scalar at `pointer + index * 4` (`index` an `i64` value).
    pub(super) fn load_at(&mut self, pointer: Value, index: Value) -> Value {
        let offset = self.b.ins().ishl_imm_u(index, 2);
        let address = self.b.ins().iadd(pointer, offset);
        self.b.ins().load(types::F32, flags(), address, 0)
    }

    pub(super) fn store_at(&mut self, value: Value, pointer: Value, index: Value) {
        let offset = self.b.ins().ishl_imm_u(index, 2);
        let address = self.b.ins().iadd(pointer, offset);
        self.b.ins().store(flags(), value, address, 0);
    }

    fn product(&mut self, product: &Product) -> Result<(), Error> {
        let w = self.pointer(Base::Params, product.param_offset)?;
        let x = self.pointer(product.operand.0, product.operand.1)?;
        let out = self.pointer(Base::Scratch, product.result)?;
        match product.matrix {
            Matrix::Reduce { reduction, rows, cols } => self.reduce(reduction, x, out, rows, cols),
            Matrix::Window { pad, start, rows, cols } => self.window(pad, x, out, start, (rows, cols)),
            Matrix::Spread { fold, along, rows, cols } => self.spread(fold, along, x, out, (rows, cols)),
            Matrix::Dense { rows, cols, transpose: false } => self.dense_product(w, x, out, rows, cols),
            Matrix::Dense { rows, cols, transpose: true } => self.dense_transposed_product(w, x, out, rows, cols),
            Matrix::Block { size, block, transpose } => {
                let (start, end) = if product.split {
                    (self.channel_start, self.channel_end)
                } else {
                    (self.constant(0), self.constant(size as i64))
                };
                self.block_product(w, x, out, (start, end), block, transpose)
            }
        }
    }

    /// A reduction of `x[0..cols]`: its value in `out[0..rows]` (sum, max), or
    /// the indicator of the first largest element (`rows == cols`). Element by
    /// element, in order (the maximum propagates NaN, as `semantics` says).
    fn reduce(&mut self, reduction: Reduction, x: Value, out: Value, rows: usize, cols: usize) -> Result<(), Error> {
        let accumulator = self.b.declare_var(types::F32);
        let best = self.b.declare_var(types::I64);
        let first = match reduction {
            Reduction::Sum => self.b.ins().f32const(0.0),
            Reduction::Max | Reduction::FirstMax => self.b.ins().load(types::F32, flags(), x, 0),
        };
        self.b.def_var(accumulator, first);
        let zero_index = self.constant(0);
        self.b.def_var(best, zero_index);
        let from = self.constant(if reduction == Reduction::Sum { 0 } else { 1 });
        let to = self.constant(cols as i64);
        self.counted_loop(from, to, 1, &mut |e, c| {
            let value = e.load_at(x, c);
            let acc = e.b.use_var(accumulator);
            let next = match reduction {
                Reduction::Sum => e.b.ins().fadd(acc, value),
                Reduction::Max => e.b.ins().fmax(acc, value),
                Reduction::FirstMax => {
                    let greater = e.b.ins().fcmp(FloatCC::GreaterThan, value, acc);
                    let index = e.b.use_var(best);
                    let index = e.b.ins().select(greater, c, index);
                    e.b.def_var(best, index);
                    e.b.ins().select(greater, value, acc)
                }
            };
            e.b.def_var(accumulator, next);
            Ok(())
        })?;
        let (start, end) = (self.constant(0), self.constant(rows as i64));
        self.counted_loop(start, end, 1, &mut |e, r| {
            let value = match reduction {
                Reduction::Sum | Reduction::Max => e.b.use_var(accumulator),
                Reduction::FirstMax => {
                    let index = e.b.use_var(best);
                    let at = e.b.ins().icmp(IntCC::Equal, r, index);
                    let (one, zero) = (e.b.ins().f32const(1.0), e.b.ins().f32const(0.0));
                    e.b.ins().select(at, one, zero)
                }
            };
            e.store_at(value, out, r);
            Ok(())
        })
    }

    /// A slice `out[r] = x[start + r]`, or a padding: `out` zero, then
    /// `out[start + c] = x[c]`.
    fn window(
        &mut self,
        pad: bool,
        x: Value,
        out: Value,
        start: usize,
        (rows, cols): (usize, usize),
    ) -> Result<(), Error> {
        if !pad {
            let from = self.pointer_offset(x, start)?;
            let (first, end) = (self.constant(0), self.constant(rows as i64));
            return self.counted_loop(first, end, 1, &mut |e, r| {
                let value = e.load_at(from, r);
                e.store_at(value, out, r);
                Ok(())
            });
        }
        let zero = self.b.ins().f32const(0.0);
        let (first, end) = (self.constant(0), self.constant(rows as i64));
        self.counted_loop(first, end, 1, &mut |e, r| {
            e.store_at(zero, out, r);
            Ok(())
        })?;
        let to = self.pointer_offset(out, start)?;
        let (first, end) = (self.constant(0), self.constant(cols as i64));
        self.counted_loop(first, end, 1, &mut |e, c| {
            let value = e.load_at(x, c);
            e.store_at(value, to, c);
            Ok(())
        })
    }

    /// `out[i] = x[along.vector_index(i, C)]` for the `rows` elements of a
    /// matrix, or (`fold`) `out` zero, then `out[along.vector_index(i, C)] +=
    /// x[i]` for its `cols` elements, in order.
    fn spread(
        &mut self,
        fold: bool,
        along: crate::ir::Along,
        x: Value,
        out: Value,
        (rows, cols): (usize, usize),
    ) -> Result<(), Error> {
        let (elements, vector) = if fold { (cols, rows) } else { (rows, cols) };
        let matrix_cols = along.matrix_cols(elements as u64, vector as u64).max(1) as i64;
        let index = move |e: &mut Self, i: Value| {
            let c = e.constant(matrix_cols);
            match along {
                crate::ir::Along::Rows => e.b.ins().udiv(i, c),
                crate::ir::Along::Cols => e.b.ins().urem(i, c),
            }
        };
        if !fold {
            let (first, end) = (self.constant(0), self.constant(rows as i64));
            return self.counted_loop(first, end, 1, &mut |e, i| {
                let j = index(e, i);
                let value = e.load_at(x, j);
                e.store_at(value, out, i);
                Ok(())
            });
        }
        let zero = self.b.ins().f32const(0.0);
        let (first, end) = (self.constant(0), self.constant(rows as i64));
        self.counted_loop(first, end, 1, &mut |e, r| {
            e.store_at(zero, out, r);
            Ok(())
        })?;
        let (first, end) = (self.constant(0), self.constant(cols as i64));
        self.counted_loop(first, end, 1, &mut |e, i| {
            let j = index(e, i);
            let value = e.load_at(x, i);
            let sum = e.load_at(out, j);
            let total = e.b.ins().fadd(sum, value);
            e.store_at(total, out, j);
            Ok(())
        })
    }

    /// `pointer + floats * 4`.
    fn pointer_offset(&mut self, pointer: Value, floats: usize) -> Result<Value, Error> {
        let offset = bytes(self.context, floats)?;
        Ok(self.b.ins().iadd_imm_s(pointer, i64::from(offset)))
    }

    /// `out[r] = sum_c w[r, c] x[c]`: rows one by one, columns four at a time.
    fn dense_product(&mut self, w: Value, x: Value, out: Value, rows: usize, cols: usize) -> Result<(), Error> {
        let (start, end) = (self.constant(0), self.constant(rows as i64));
        let full = cols / 4 * 4;
        let row_bytes = i64::from(bytes(self.context, cols)?);
        self.counted_loop(start, end, 1, &mut |e, r| {
            let offset = e.b.ins().imul_imm_s(r, row_bytes);
            let row = e.b.ins().iadd(w, offset);
            let accumulator = e.b.declare_var(types::F32X4);
            let zero = math::splat(&mut e.b, 0.0);
            e.b.def_var(accumulator, zero);
            if full > 0 {
                let (from, to) = (e.constant(0), e.constant(full as i64));
                e.counted_loop(from, to, 4, &mut |e, c| {
                    let offset = e.b.ins().ishl_imm_u(c, 2);
                    let wa = e.b.ins().iadd(row, offset);
                    let xa = e.b.ins().iadd(x, offset);
                    let wv = e.b.ins().load(types::F32X4, flags(), wa, 0);
                    let xv = e.b.ins().load(types::F32X4, flags(), xa, 0);
                    let product = e.b.ins().fmul(wv, xv);
                    let acc = e.b.use_var(accumulator);
                    let acc = e.b.ins().fadd(acc, product);
                    e.b.def_var(accumulator, acc);
                    Ok(())
                })?;
            }
            let acc = e.b.use_var(accumulator);
            let mut sum = e.b.ins().extractlane(acc, 0);
            for lane in 1..4u8 {
                let value = e.b.ins().extractlane(acc, lane);
                sum = e.b.ins().fadd(sum, value);
            }
            for c in full..cols {
                let offset = bytes(e.context, c)?;
                let wv = e.b.ins().load(types::F32, flags(), row, offset);
                let xv = e.b.ins().load(types::F32, flags(), x, offset);
                let product = e.b.ins().fmul(wv, xv);
                sum = e.b.ins().fadd(sum, product);
            }
            e.store_at(sum, out, r);
            Ok(())
        })
    }

    /// `out[c] = sum_r w[r, c] x[r]`: one scaled row of `w` added per `r`.
    fn dense_transposed_product(
        &mut self,
        w: Value,
        x: Value,
        out: Value,
        rows: usize,
        cols: usize,
    ) -> Result<(), Error> {
        let zero = self.b.ins().f32const(0.0);
        let (start, end) = (self.constant(0), self.constant(cols as i64));
        self.counted_loop(start, end, 1, &mut |e, c| {
            e.store_at(zero, out, c);
            Ok(())
        })?;
        let row_bytes = i64::from(bytes(self.context, cols)?);
        let (start, end) = (self.constant(0), self.constant(rows as i64));
        self.counted_loop(start, end, 1, &mut |e, r| {
            let xr = e.load_at(x, r);
            let offset = e.b.ins().imul_imm_s(r, row_bytes);
            let row = e.b.ins().iadd(w, offset);
            let (from, to) = (e.constant(0), e.constant(cols as i64));
            e.counted_loop(from, to, 1, &mut |e, c| {
                let wv = e.load_at(row, c);
                let acc = e.load_at(out, c);
                let product = e.b.ins().fmul(wv, xr);
                let sum = e.b.ins().fadd(acc, product);
                e.store_at(sum, out, c);
                Ok(())
            })
        })
    }

    /// Block-diagonal `w` (stored `[n/k, k, k]`) times `x`, rows `range`.
    fn block_product(
        &mut self,
        w: Value,
        x: Value,
        out: Value,
        range: (Value, Value),
        block: usize,
        transpose: bool,
    ) -> Result<(), Error> {
        let k = block as i64;
        self.counted_loop(range.0, range.1, 1, &mut |e, r| {
            let within = e.b.ins().urem_imm_u(r, k);
            let group_start = e.b.ins().isub(r, within);
            let accumulator = e.b.declare_var(types::F32);
            let zero = e.b.ins().f32const(0.0);
            e.b.def_var(accumulator, zero);
            let (from, to) = (e.constant(0), e.constant(k));
            e.counted_loop(from, to, 1, &mut |e, j| {
                let column = e.b.ins().iadd(group_start, j);
                let entry = if transpose {
                    let scaled = e.b.ins().imul_imm_s(column, k);
                    e.b.ins().iadd(scaled, within)
                } else {
                    let scaled = e.b.ins().imul_imm_s(r, k);
                    e.b.ins().iadd(scaled, j)
                };
                let wv = e.load_at(w, entry);
                let xv = e.load_at(x, column);
                let product = e.b.ins().fmul(wv, xv);
                let acc = e.b.use_var(accumulator);
                let acc = e.b.ins().fadd(acc, product);
                e.b.def_var(accumulator, acc);
                Ok(())
            })?;
            let acc = e.b.use_var(accumulator);
            e.store_at(acc, out, r);
            Ok(())
        })
    }

    /// The columns of a dense Jacobian, one probe each.
    fn probes(&mut self, probes: &Probes) -> Result<(), Error> {
        let seed = self.pointer(Base::Scratch, probes.seed)?;
        let zero = self.b.ins().f32const(0.0);
        let one = self.b.ins().f32const(1.0);
        let (start, end) = (self.constant(0), self.constant(probes.count as i64));
        self.counted_loop(start, end, 1, &mut |e, i| {
            e.store_at(zero, seed, i);
            Ok(())
        })?;
        let (start, end) = (self.constant(0), self.constant(probes.count as i64));
        self.counted_loop(start, end, 1, &mut |e, o| {
            e.store_at(one, seed, o);
            e.column = Some(e.b.ins().iadd_imm_s(o, probes.column as i64));
            e.stages(&probes.program)?;
            e.column = None;
            e.store_at(zero, seed, o);
            Ok(())
        })
    }
}

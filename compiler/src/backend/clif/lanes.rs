//! Elementwise groups: one loop over the channels of a length, four lanes at a
//! time. When the length is not a multiple of 4 the last iteration is moved back
//! to end exactly at the last channel (it recomputes a few channels, which is
//! harmless: every kernel writes only values that depend on what it reads, and
//! never reads what it writes). Lengths below 4 run once with lanes clamped to
//! the last channel. Sums into the parameter gradient (the backward kernel) are
//! the exception: there the recomputed lanes are masked out, so each channel is
//! added once.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};

use super::emit::{Emitter, bytes, flags};
use super::program::{Base, Home, Program, Sink};
use super::{internal, math};
use crate::arena::Handle;
use crate::error::Error;
use crate::ir::{BinaryOp, Node, Op};

/// The channels one iteration covers.
#[derive(Clone, Copy, Debug)]
enum Lanes {
    /// Channels `channel .. channel + 4` (`byte_offset = 4 * channel`); when the
    /// iteration was moved back, `fresh` is the first channel not computed
    /// before.
    Vector { channel: Value, byte_offset: Value, fresh: Option<Value> },
    /// Channels `0 .. len`, `len < 4`.
    Narrow { len: usize },
}

impl Emitter<'_, '_> {
    /// Runs group `index` of `program` over its channels.
    pub(super) fn group(&mut self, program: &Program, index: usize) -> Result<(), Error> {
        let group = &program.groups[index];
        if group.len < 4 {
            return self.group_body(program, index, Lanes::Narrow { len: group.len });
        }
        let (start, end) = if group.split {
            (self.channel_start, self.channel_end)
        } else {
            (self.b.ins().iconst(types::I64, 0), self.b.ins().iconst(types::I64, group.len as i64))
        };
        let exact = !group.split && group.len.is_multiple_of(4);
        self.counted_loop(start, end, 4, &mut |e, c| {
            let channel = if exact {
                c
            } else {
                let last = e.b.ins().iadd_imm_s(end, -4);
                let past = e.b.ins().icmp(IntCC::SignedGreaterThan, c, last);
                e.b.ins().select(past, last, c)
            };
            let byte_offset = e.b.ins().ishl_imm_u(channel, 2);
            let fresh = (!exact).then_some(c);
            e.group_body(program, index, Lanes::Vector { channel, byte_offset, fresh })
        })
    }

    fn group_body(&mut self, program: &Program, index: usize, lanes: Lanes) -> Result<(), Error> {
        let group = &program.groups[index];
        let mut values: HashMap<Handle<Node>, Value> = HashMap::new();
        for &node in &group.nodes {
            let value = self.compute(program, index, node, &mut values, lanes)?;
            values.insert(node, value);
        }
        for &(node, offset) in &group.spills {
            let value = self.operand(program, index, node, &mut values, lanes)?;
            self.store(value, Base::Scratch, offset, lanes)?;
        }
        for &(node, sink) in &group.stores {
            let value = self.operand(program, index, node, &mut values, lanes)?;
            self.sink(value, sink, lanes)?;
        }
        Ok(())
    }

    fn compute(
        &mut self,
        program: &Program,
        group: usize,
        node: Handle<Node>,
        values: &mut HashMap<Handle<Node>, Value>,
        lanes: Lanes,
    ) -> Result<Value, Error> {
        let op = self.context.graph.node(node).op;
        Ok(match op {
            Op::Unary(op, a) => {
                let a = self.operand(program, group, a, values, lanes)?;
                math::unary(&mut self.b, op, a)
            }
            Op::Binary(BinaryOp::Pow, a, b) if self.context.graph.constant_value(b).is_some() => {
                let p = self.context.graph.constant_value(b).unwrap_or(1.0);
                let a = self.operand(program, group, a, values, lanes)?;
                math::power(&mut self.b, a, p)
            }
            Op::Binary(op, a, b) => {
                let a = self.operand(program, group, a, values, lanes)?;
                let b = self.operand(program, group, b, values, lanes)?;
                math::binary(&mut self.b, op, a, b)
            }
            Op::Step(a) => {
                let a = self.operand(program, group, a, values, lanes)?;
                math::step(&mut self.b, a)
            }
            Op::Sign(a) => {
                let a = self.operand(program, group, a, values, lanes)?;
                math::sign(&mut self.b, a)
            }
            _ => return Err(internal(self.context.cell, "a group computes a node that is not elementwise")),
        })
    }

    /// The value of `node` in the lanes of group `group`: computed already,
    /// loaded, or a constant.
    fn operand(
        &mut self,
        program: &Program,
        group: usize,
        node: Handle<Node>,
        values: &mut HashMap<Handle<Node>, Value>,
        lanes: Lanes,
    ) -> Result<Value, Error> {
        if let Some(&value) = values.get(&node) {
            return Ok(value);
        }
        let value = match program.homes.get(&node).copied() {
            Some(Home::Leaf(base, offset)) => self.load(base, offset, lanes)?,
            Some(Home::Const(value)) => math::splat(&mut self.b, value),
            Some(Home::Product(offset)) => self.load(Base::Scratch, offset, lanes)?,
            Some(Home::Group(other)) if other != group => match program.spilled.get(&node) {
                Some(&offset) => self.load(Base::Scratch, offset, lanes)?,
                None => return Err(internal(self.context.cell, "a value used outside its group was not spilled")),
            },
            _ => return Err(internal(self.context.cell, "a value used before it is computed")),
        };
        values.insert(node, value);
        Ok(value)
    }

    fn load(&mut self, base: Base, offset: usize, lanes: Lanes) -> Result<Value, Error> {
        let pointer = self.base(base)?;
        match lanes {
            Lanes::Vector { byte_offset, .. } => {
                let address = self.b.ins().iadd(pointer, byte_offset);
                Ok(self.b.ins().load(types::F32X4, flags(), address, bytes(self.context, offset)?))
            }
            Lanes::Narrow { len } => {
                let first = self.b.ins().load(types::F32, flags(), pointer, bytes(self.context, offset)?);
                let mut vector = self.b.ins().splat(types::F32X4, first);
                for lane in 1..len.min(4) {
                    let value = self.b.ins().load(types::F32, flags(), pointer, bytes(self.context, offset + lane)?);
                    vector = self.b.ins().insertlane(vector, value, lane as u8);
                }
                Ok(vector)
            }
        }
    }

    fn store(&mut self, value: Value, base: Base, offset: usize, lanes: Lanes) -> Result<(), Error> {
        let pointer = self.base(base)?;
        self.store_to(value, pointer, offset, lanes)
    }

    fn store_to(&mut self, value: Value, pointer: Value, offset: usize, lanes: Lanes) -> Result<(), Error> {
        match lanes {
            Lanes::Vector { byte_offset, .. } => {
                let address = self.b.ins().iadd(pointer, byte_offset);
                self.b.ins().store(flags(), value, address, bytes(self.context, offset)?);
            }
            Lanes::Narrow { len } => {
                for lane in 0..len.min(4) {
                    let scalar = self.b.ins().extractlane(value, lane as u8);
                    self.b.ins().store(flags(), scalar, pointer, bytes(self.context, offset + lane)?);
                }
            }
        }
        Ok(())
    }

    /// The channel of lane `lane`, if the lane is live.
    fn lane_channel(&mut self, lanes: Lanes, lane: usize) -> Option<Value> {
        match lanes {
            Lanes::Vector { channel, .. } => Some(self.b.ins().iadd_imm_s(channel, lane as i64)),
            Lanes::Narrow { len } if lane < len => Some(self.b.ins().iconst(types::I64, lane as i64)),
            Lanes::Narrow { .. } => None,
        }
    }

    fn row_pointer(&self, pointer: Option<Value>) -> Result<Value, Error> {
        pointer.ok_or_else(|| internal(self.context.cell, "a store outside a row"))
    }

    /// Stores a root's lanes where `sink` says.
    fn sink(&mut self, value: Value, sink: Sink, lanes: Lanes) -> Result<(), Error> {
        match sink {
            Sink::Out(offset) => {
                let out = self.row_pointer(self.row.out)?;
                self.store_to(value, out, offset, lanes)
            }
            Sink::Jac(offset) => {
                let jac = self.row_pointer(self.row.jac)?;
                self.store_to(value, jac, offset, lanes)
            }
            Sink::ProjectionGrad(offset) => {
                let grads = self.row_pointer(self.row.projection_grads)?;
                self.store_to(value, grads, offset, lanes)
            }
            Sink::InputGrad(input) => {
                let grads = self.row_pointer(self.row.input_grads.get(input).copied())?;
                self.store_to(value, grads, 0, lanes)
            }
            Sink::Accumulate(offset) => {
                let grads =
                    self.param_grads.ok_or_else(|| internal(self.context.cell, "a gradient outside the backward"))?;
                self.accumulate(value, grads, offset, lanes)
            }
            Sink::JacBlock { state, column } => {
                let jac = self.row_pointer(self.row.jac)?;
                let layout = self.shape.jacobian;
                let (k, block, groups) = (layout.channel_block as i64, layout.block as i64, layout.groups as i64);
                // Entry ((state k + r) K + column) G + g for channel g k + r.
                let base = (state as i64 * k * block + column as i64) * groups;
                for lane in 0..4 {
                    let Some(channel) = self.lane_channel(lanes, lane) else { continue };
                    let r = self.b.ins().urem_imm_u(channel, k);
                    let g = self.b.ins().udiv_imm_u(channel, k);
                    let index = self.b.ins().imul_imm_s(r, block * groups);
                    let index = self.b.ins().iadd(index, g);
                    let index = self.b.ins().iadd_imm_s(index, base);
                    self.scalar_store(value, lane, jac, index);
                }
                Ok(())
            }
            Sink::JacDense { row } => {
                let jac = self.row_pointer(self.row.jac)?;
                let column =
                    self.column.ok_or_else(|| internal(self.context.cell, "a dense Jacobian store outside probes"))?;
                let width = self.shape.jacobian.block as i64;
                for lane in 0..4 {
                    let Some(channel) = self.lane_channel(lanes, lane) else { continue };
                    let index = self.b.ins().iadd_imm_s(channel, row as i64);
                    let index = self.b.ins().imul_imm_s(index, width);
                    let index = self.b.ins().iadd(index, column);
                    self.scalar_store(value, lane, jac, index);
                }
                Ok(())
            }
        }
    }

    /// Adds the lanes of `value` to `pointer + offset + channel`, each channel
    /// once (lanes recomputed by a moved-back iteration add zero).
    fn accumulate(&mut self, value: Value, pointer: Value, offset: usize, lanes: Lanes) -> Result<(), Error> {
        let value = match lanes {
            Lanes::Vector { channel, fresh: Some(fresh), .. } => {
                // Lane `l` is new when `channel + l >= fresh`.
                let skipped = self.b.ins().isub(fresh, channel);
                let skipped = self.b.ins().ireduce(types::I32, skipped);
                let skipped = self.b.ins().splat(types::I32X4, skipped);
                let zero = self.b.ins().iconst(types::I32, 0);
                let mut index = self.b.ins().splat(types::I32X4, zero);
                for lane in 1..4u8 {
                    let number = self.b.ins().iconst(types::I32, i64::from(lane));
                    index = self.b.ins().insertlane(index, number, lane);
                }
                let new = self.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, index, skipped);
                let nothing = math::splat(&mut self.b, 0.0);
                math::select(&mut self.b, new, value, nothing)
            }
            _ => value,
        };
        let old = match lanes {
            Lanes::Vector { byte_offset, .. } => {
                let address = self.b.ins().iadd(pointer, byte_offset);
                self.b.ins().load(types::F32X4, flags(), address, bytes(self.context, offset)?)
            }
            Lanes::Narrow { len } => {
                let mut vector = math::splat(&mut self.b, 0.0);
                for lane in 0..len.min(4) {
                    let old = self.b.ins().load(types::F32, flags(), pointer, bytes(self.context, offset + lane)?);
                    vector = self.b.ins().insertlane(vector, old, lane as u8);
                }
                vector
            }
        };
        let sum = self.b.ins().fadd(old, value);
        self.store_to(sum, pointer, offset, lanes)
    }

    fn scalar_store(&mut self, value: Value, lane: usize, pointer: Value, index: Value) {
        let scalar = self.b.ins().extractlane(value, lane as u8);
        let offset = self.b.ins().ishl_imm_u(index, 2);
        let address = self.b.ins().iadd(pointer, offset);
        self.b.ins().store(flags(), scalar, address, 0);
    }
}

//! The text form of the derivatives: the maps, one per line (`m2 = compose m0,
//! m1`), then each nonzero derivative of each result (`d h'/d h = diag v31`).

use std::fmt;

use super::linear::{Linear, MapForm, MapName};
use super::{Derivatives, ParamDerivative, ResultDerivatives};
use crate::arena::Handle;
use crate::check::Cell;
use crate::ir::{Ir, ValueName, name_in};

/// Displays [`Derivatives`] with the names of their cell.
pub struct DerivativesDisplay<'a> {
    pub(super) derivatives: &'a Derivatives,
    pub(super) cell: &'a Cell,
    pub(super) ir: &'a Ir,
}

impl fmt::Display for DerivativesDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (derivatives, cell) = (self.derivatives, self.cell);
        let maps = &derivatives.maps;
        let param = |p| name_in(&cell.params, p, |p| &p.name);
        let size = |size| crate::ir::size_text(cell, size);
        writeln!(f, "derivatives {} {{", cell.name)?;
        for (handle, map) in maps.iter() {
            let text = match *map {
                Linear::Diag { diag, .. } => format!("diag {}", ValueName(diag)),
                Linear::Matrix(p) => format!("matrix {}", param(p)),
                Linear::MatrixT(p) => format!("matrix.t {}", param(p)),
                Linear::Ones { rows, cols } => format!("ones {} x {}", size(rows), size(cols)),
                Linear::Select { rows, cols, start } => {
                    format!("select {} x {} from {}", size(rows), size(cols), size(start))
                }
                Linear::Embed { rows, cols, start } => {
                    format!("embed {} x {} at {}", size(rows), size(cols), size(start))
                }
                Linear::Spread { rows, cols, along } => {
                    format!("spread.{} {} x {}", along.name(), size(rows), size(cols))
                }
                Linear::Fold { rows, cols, along } => format!("fold.{} {} x {}", along.name(), size(rows), size(cols)),
                Linear::Compose(a, b) => format!("compose {}, {}", MapName(a), MapName(b)),
                Linear::Sum(a, b) => format!("sum {}, {}", MapName(a), MapName(b)),
            };
            let line = format!("    {} = {text}", MapName(handle));
            writeln!(f, "{line:<40} ; {}", maps.structure(Some(handle)))?;
        }
        for (state, result) in cell.states.values().zip(&derivatives.updates) {
            self.write_result(f, &format!("{}'", state.name), result)?;
        }
        for (output, result) in cell.outputs.values().zip(&derivatives.outputs) {
            self.write_result(f, &format!("output {}", output.name), result)?;
        }
        writeln!(f, "}}")
    }
}

impl DerivativesDisplay<'_> {
    fn write_result(&self, f: &mut fmt::Formatter<'_>, of: &str, result: &ResultDerivatives) -> fmt::Result {
        let cell = self.cell;
        let vectors = cell
            .states
            .values()
            .map(|s| &s.name)
            .zip(&result.states)
            .chain(cell.inputs.values().map(|i| &i.name).zip(&result.inputs));
        for (name, map) in vectors {
            if let Some(map) = map {
                writeln!(f, "    d {of}/d {name} = {}", self.map_text(*map))?;
            }
        }
        for (param, derivative) in cell.params.values().zip(&result.params) {
            match derivative {
                ParamDerivative::Vector(Some(map)) => {
                    writeln!(f, "    d {of}/d {} = {}", param.name, self.map_text(*map))?
                }
                ParamDerivative::Matrix(uses) if !uses.is_empty() => {
                    let terms: Vec<String> = uses
                        .iter()
                        .map(|u| format!("outer({}^T lambda, {})", MapName(u.map), ValueName(u.operand)))
                        .collect();
                    writeln!(f, "    lambda^T d {of}/d {} = {}", param.name, terms.join(" + "))?
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn map_text(&self, map: Handle<Linear>) -> String {
        match self.derivatives.maps.form(Some(map)) {
            MapForm::Diagonal(diag) => match self.ir.graph.constant_value(diag) {
                Some(value) => format!("diag {value:?} ({})", MapName(map)),
                None => format!("diag {} ({})", ValueName(diag), MapName(map)),
            },
            MapForm::BlockDiagonal { block, .. } => format!("{} (block-diagonal {block})", MapName(map)),
            MapForm::Dense(_) => format!("{} (dense)", MapName(map)),
            MapForm::Zero => "zero".to_owned(),
        }
    }
}

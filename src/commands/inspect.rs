//! `rnnc inspect FILE [--cell NAME] [--json]`: what the compiler knows of a cell.

use rnnc::Cell;
use rnnc::compiler::check::{OutputValue, ParamShape, Size};
use serde_json::{Value, json};

use super::stdio::{out, outln};
use super::{DimList, Failure, bind_dims, load_and_check, parse_dims, report_compile_error, select_cell};

/// Arguments of `rnnc inspect`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  rnnc inspect stdlib:para_lstm\n  rnnc inspect cells.rnn --cell my_gru --json")]
pub struct Args {
    /// A source file, or `stdlib:NAME` for a shipped cell.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The cell to inspect, when the file defines several.
    #[arg(long)]
    pub cell: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Bind dims to sizes, e.g. `H=1024,D=512`, and show them.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_dims)]
    pub dims: Option<DimList>,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Failure> {
    let (source, cells) = load_and_check(&args.file)?;
    let cell = select_cell(&source, cells, args.cell.as_deref())?;
    let sizes = match &args.dims {
        Some(dims) => Some(bind_dims(&source, &cell, dims)?),
        None => None,
    };
    let size_of = |dim| sizes.as_ref().map(|s: &rnnc::compiler::check::DimSizes| s.dim(dim));
    let derived = rnnc::compiler::derive_cell(&cell).map_err(|e| report_compile_error(&source, e))?;
    let structure = derived.structure();
    if args.json {
        let dims: Vec<Value> =
            cell.dims.iter().map(|(h, d)| json!({ "name": d.name, "shape": [], "size": size_of(h) })).collect();
        let report = json!({
            "cell": cell.name,
            "doc": cell.doc,
            "dims": dims,
            "inputs": cell.inputs.values().map(|v| named(&v.name, vec![size_json(&cell, v.size)])).collect::<Vec<_>>(),
            "states": cell.states.values().map(|v| named(&v.name, vec![size_json(&cell, v.size)])).collect::<Vec<_>>(),
            "params": cell.params.values().map(|p| param_json(&cell, &p.name, p.shape)).collect::<Vec<_>>(),
            "outputs": cell.outputs.values().map(|o| {
                let mut value = named(&o.name, vec![size_json(&cell, o.size)]);
                value["source"] = json!(match o.value {
                    OutputValue::State(_) => "state",
                    OutputValue::Let(_) => "let",
                    OutputValue::Expr(_) => "expr",
                });
                value
            }).collect::<Vec<_>>(),
            "jacobian": {
                "structure": structure.name(),
                "block": structure.block(),
                "states": if derived.jacobian.interleaved { "interleaved" } else { "concatenated" },
                "reason": derived.jacobian.reason,
            },
            "hoisted": derived.hoisting.nodes.len(),
        });
        outln!("{}", serde_json::to_string_pretty(&report).expect("JSON values always serialise"))?;
    } else {
        out(&text_report(&cell, &size_of))?;
        outln!("jacobian {structure} ({})", derived.jacobian.reason)?;
        outln!("hoisted  {} state-independent value(s) computed before the recurrence", derived.hoisting.nodes.len())?;
    }
    Ok(())
}

fn named(name: &str, shape: Vec<Value>) -> Value {
    json!({ "name": name, "shape": shape })
}

fn size_json(cell: &Cell, size: Size) -> Value {
    match size {
        Size::Dim(dim) => json!(cell.dims[dim].name),
        Size::Fixed(n) => json!(n),
    }
}

fn param_json(cell: &Cell, name: &str, shape: ParamShape) -> Value {
    match shape {
        ParamShape::Vector(size) => named(name, vec![size_json(cell, size)]),
        ParamShape::Matrix { rows, cols } => named(name, vec![size_json(cell, rows), size_json(cell, cols)]),
        ParamShape::Block { size, block } => {
            let blocks = match size {
                Size::Dim(dim) => json!(format!("{}/{block}", cell.dims[dim].name)),
                Size::Fixed(n) => json!(n / block),
            };
            let mut value = named(name, vec![size_json(cell, size), size_json(cell, size)]);
            value["block"] = json!(block);
            value["stored_shape"] = json!([blocks, block, block]);
            value
        }
    }
}

fn text_report(
    cell: &Cell,
    size_of: &dyn Fn(rnnc::compiler::arena::Handle<rnnc::compiler::check::Dim>) -> Option<u64>,
) -> String {
    let mut out = format!("cell {}\n", cell.name);
    if let Some(doc) = &cell.doc {
        for line in doc.lines() {
            out.push_str(&format!("  | {line}\n").replace("  | \n", "  |\n"));
        }
    }
    let dims: Vec<String> = cell
        .dims
        .iter()
        .map(|(h, d)| match size_of(h) {
            Some(n) => format!("{} = {n}", d.name),
            None => d.name.clone(),
        })
        .collect();
    let row = |label: &str, items: Vec<String>| {
        format!("{label:<9}{}\n", if items.is_empty() { "-".to_owned() } else { items.join(", ") })
    };
    out.push_str(&row("dims", dims));
    out.push_str(&row(
        "inputs",
        cell.inputs.values().map(|v| format!("{}: [{}]", v.name, v.size.text(&cell.dims))).collect(),
    ));
    out.push_str(&row(
        "states",
        cell.states.values().map(|v| format!("{}: [{}]", v.name, v.size.text(&cell.dims))).collect(),
    ));
    out.push_str(&row(
        "params",
        cell.params.values().map(|p| format!("{}: {}", p.name, p.shape.text(&cell.dims))).collect(),
    ));
    out.push_str(&row(
        "outputs",
        cell.outputs
            .values()
            .map(|o| {
                let from = match o.value {
                    OutputValue::State(_) => "state",
                    OutputValue::Let(_) => "let",
                    OutputValue::Expr(_) => "expression",
                };
                format!("{}: [{}] ({from})", o.name, o.size.text(&cell.dims))
            })
            .collect(),
    ));
    out
}

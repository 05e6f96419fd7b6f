//! `rnnc inspect FILE [--cell NAME] [--json] [--dims ...]`: what the compiler knows
//! of a cell, and with bound dims what each back end makes of it.

use rnnc::Cell;
use rnnc::compiler::check::OutputValue;

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
    if args.json {
        let report = rnnc::inspect_json(&derived, sizes.as_ref());
        outln!("{}", serde_json::to_string_pretty(&report).expect("JSON values always serialise"))?;
    } else {
        let structure = derived.structure();
        out(&text_report(&cell, &size_of))?;
        outln!("jacobian {structure} ({})", derived.jacobian.reason)?;
        let linear = rnnc::compiler::linear_states(&derived);
        if derived.is_linear() {
            outln!("linear   in every state: solved by one scan of its affine maps, no Newton iteration")?;
        } else {
            outln!("linear   in states: {linear} (the cell is solved by Newton's method)")?;
        }
        outln!("hoisted  {} state-independent value(s) computed before the recurrence", derived.hoisting.nodes.len())?;
        if let Some(sizes) = &sizes {
            out(&backend_lines(&source, &rnnc::backend_plans(&derived, sizes)))?;
        }
    }
    Ok(())
}

/// The `gpu` and `cpu` lines of a cell at bound sizes: how each back end
/// solves it, or why it cannot (located in the source).
fn backend_lines(source: &rnnc::Source, plans: &rnnc::BackendPlans) -> String {
    let methods = |m: &rnnc::Methods| {
        let names = m.names().join(", ");
        match &m.no_newton {
            Some(why) => format!("{names} (no Newton: {why})"),
            None => names,
        }
    };
    let refused = |e: &rnnc::Error| {
        let at = rnnc::compiler::LineCol::of(&source.display_text(), e.span.start);
        format!("does not run it ({}:{}:{}): {e}", source.name, at.line, at.column)
    };
    let gpu = match &plans.gpu {
        Ok(plan) => {
            let cut = match &plan.whole {
                Some(why) => format!("one lane a sequence holding every state ({why})"),
                None => format!("{} lanes a sequence", plan.lanes),
            };
            format!("{cut}, {} unknown(s) a lane; {}", plan.unknowns, methods(&plan.methods))
        }
        Err(e) => format!("{}; without --backend the CPU runs the cell", refused(e)),
    };
    let cpu = plans.cpu.as_ref().map_or_else(refused, methods);
    format!("gpu      {gpu}\ncpu      {cpu}\n")
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

//! Compile a cell at run time, run it forward on the GPU (or the CPU with `--cpu`),
//! and print what the solver did.
//!
//!     cargo run --release --example forward [-- --cpu]

use rnnc::runtime::data::random::{random_inputs, random_params};
use rnnc::{Backend, Engine, Method, RunOptions};

const SOURCE: &str = "
/// A tanh RNN whose recurrence is diagonal.
cell my_rnn {
    dim H;
    dim D;
    input x: [D];
    state h: [H];
    param W: [H, D];
    param u: [H];
    param b: [H];
    h' = tanh(W @ x + u * h + b);
    output h;
}";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = if std::env::args().any(|a| a == "--cpu") { Backend::Cpu } else { Backend::Gpu };
    let engine = Engine::new(backend, None)?;
    let cell = engine.compile(SOURCE, None)?;
    let checked = &cell.derived().cell;
    let sizes = checked
        .bind_dims(|name| Some(if name == "H" { 128 } else { 32 }))
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))?;
    let params = random_params(checked, &sizes, 7)?;
    let inputs = random_inputs(checked, &sizes, 4, 2048, 8)?;
    let data = cell.bind(params, inputs, vec![])?;
    println!("{} on {}: structure {}", checked.name, engine.device(), cell.derived().structure());
    for method in [Method::Sequential, Method::Newton] {
        let forward = cell.forward(&engine, &data, &RunOptions { method, ..RunOptions::default() })?;
        let (name, h) = &forward.outputs[0];
        let r = &forward.report;
        println!(
            "{:<10} {name}: {:?}, {:.2} ms, {} iteration(s), converged: {}, h[0,T-1,0] = {:.6}",
            r.method,
            h.shape(),
            r.time_ms,
            r.iterations,
            r.converged,
            h.data()[(2047) * 128]
        );
    }
    Ok(())
}

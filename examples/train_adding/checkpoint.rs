//! Saving and loading the model's weights as one `.safetensors` file (the format
//! PyTorch, JAX and Hugging Face read): every tensor under its model name, float32,
//! through rnnc's own reader and writer (`rnnc::runtime::data`).

use std::path::Path;

use rnnc::runtime::data::{read_safetensors, write_safetensors};

use crate::model::Model;

/// Writes every tensor of `model` to `path` (atomically: the file appears whole or
/// not at all).
pub fn save(model: &Model, path: &Path) -> Result<(), String> {
    write_safetensors(path, model.params.iter().map(|(name, tensor)| (name.as_str(), tensor)))
        .map_err(|e| format!("cannot save the weights: {e}"))
}

/// Reads a model saved by [`save`]. The names and shapes are checked when the model
/// is used (by the cell's `bind` and by the readout).
pub fn load(path: &Path) -> Result<Model, String> {
    let params = read_safetensors(path).map_err(|e| format!("cannot load the weights: {e}"))?;
    Ok(Model { params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{READOUT_C, READOUT_W, scalar};
    use rnnc::Tensor;

    #[test]
    fn weights_round_trip_exactly() {
        let w = Tensor::vector(vec![0.1, -2.5, f32::MIN_POSITIVE, 3.0e7]);
        let bz = Tensor::new(vec![4, 2], (0..8).map(|i| i as f32 / 7.0).collect()).expect("sized");
        let model = Model {
            params: [("Bz".to_owned(), bz), (READOUT_W.to_owned(), w), (READOUT_C.to_owned(), scalar(-0.25))].into(),
        };
        let path = std::env::temp_dir().join(format!("train_adding_checkpoint_{}.safetensors", std::process::id()));
        save(&model, &path).expect("writable");
        let loaded = load(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(loaded.expect("readable"), model);
        let error = load(&path).expect_err("removed");
        assert!(error.starts_with("cannot load the weights"), "{error}");
    }
}

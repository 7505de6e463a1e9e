// Fuzz entry: the strict unpickler on arbitrary `data.pkl` bytes: a state dict's tensors or
// an error, within bounded memory and stack, never a panic.

use xgen_quantize::pytorch::unpickle_state_dict;

/// Runs one input.
pub fn run(data: &[u8]) {
    if let Ok(tensors) = unpickle_state_dict(data) {
        for t in tensors {
            assert!(!t.name.is_empty() || t.size.len() <= 64);
        }
    }
}

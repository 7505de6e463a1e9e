// Fuzz entry: a PyTorch zip checkpoint on arbitrary bytes (zip directory, capped `data.pkl`,
// unpickler, storage lookup). Every tensor it returns lies inside the file and spans exactly
// its elements.

use xgen_quantize::read_torch_checkpoint;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(tensors) = read_torch_checkpoint(data) else {
        return;
    };
    for t in tensors {
        assert!(t.start <= t.end && t.end <= data.len(), "{t:?}");
        let elements = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = elements.and_then(|n| n.checked_mul(t.dtype.bitsize() / 8));
        assert_eq!(bytes, Some(t.end - t.start), "{t:?}");
    }
}

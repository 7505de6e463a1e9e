// Fuzz entry: the GGUF reader on arbitrary bytes, in both read modes, then the tensor checks
// llama.cpp's loader relies on. Whatever the bytes: an error or a header, within bounded
// memory, never a panic. A header that reads must write back and read again to the same bytes.

use xgen_quantize::gguf::{GgufFile, GgufWriter, ReadOptions};

/// Runs one input.
pub fn run(data: &[u8]) {
    let len = data.len() as u64;
    for options in [ReadOptions::HEADER, ReadOptions::ALL] {
        let Ok(file) = GgufFile::from_bytes(data, len, options) else {
            continue;
        };
        let _checked = file.check_tensors();
        let _info = file.header_info();
        if options == ReadOptions::ALL {
            let first = write_metadata(&file);
            let again = GgufFile::from_bytes(&first, first.len() as u64, ReadOptions::ALL)
                .expect("a header this program wrote reads back");
            assert!(
                first == write_metadata(&again),
                "metadata does not round-trip"
            );
        }
    }
}

/// The metadata of `file` (no tensors) as this program's writer writes it.
fn write_metadata(file: &GgufFile) -> Vec<u8> {
    let mut writer = GgufWriter::new();
    for (key, value) in &file.metadata {
        writer
            .add(key, value.clone())
            .expect("keys read are unique and arrays whole");
    }
    writer
        .start(Vec::new())
        .and_then(|sink| sink.finish())
        .expect("writing to memory")
}

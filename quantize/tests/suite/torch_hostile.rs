//! Hostile PyTorch checkpoints, generated here: each is refused with a clear error within
//! seconds and bounded memory, however it is built (deep nesting, memo sharing, a zip bomb, a
//! huge dict).

use std::io::Write;
use std::time::{Duration, Instant};

use xgen_quantize::pytorch::{unpickle_state_dict, MAX_PICKLE_BYTES};
use xgen_quantize::{read_torch_checkpoint, TorchError};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::alloc::peak_during;

const MIB: usize = 1 << 20;

/// Runs `f`, asserting it returns within `secs` seconds and `max_bytes` of peak allocation.
fn bounded<T>(secs: u64, max_bytes: usize, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let (out, peak) = peak_during(f);
    let took = start.elapsed();
    println!("took {took:?}, peak allocation {peak} bytes");
    assert!(took < Duration::from_secs(secs), "took {took:?}");
    assert!(
        peak <= max_bytes,
        "peak allocation {peak} bytes > {max_bytes}"
    );
    out
}

/// A torch-style zip holding `archive/data.pkl` (written in chunks by `write`).
fn checkpoint(method: CompressionMethod, write: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "archive/data.pkl",
        SimpleFileOptions::default()
            .compression_method(method)
            .large_file(true),
    )
    .unwrap();
    write(&mut zip);
    zip.finish().unwrap().into_inner()
}

fn pickle_reason(err: &TorchError) -> &str {
    match err {
        TorchError::Pickle { reason, .. } => reason,
        other => panic!("expected a pickle error, got {other}"),
    }
}

#[test]
fn a_four_million_deep_tuple_is_refused_without_overflowing_the_stack() {
    // PROTO 2, EMPTY_TUPLE, then TUPLE1 four million times: each wraps the last in a tuple.
    let mut p = vec![0x80, 2, b')'];
    p.extend(std::iter::repeat_n(0x85, 4_000_000));
    p.push(b'.');
    let err = bounded(5, 4 * MIB, || unpickle_state_dict(&p)).unwrap_err();
    assert!(pickle_reason(&err).contains("levels deep"), "{err}");

    // The same with MARK ... TUPLE, inside a checkpoint.
    let mut p = vec![0x80, 2];
    p.extend(std::iter::repeat_n(b'(', 1_000_000));
    p.extend(std::iter::repeat_n(b't', 1_000_000));
    p.push(b'.');
    let file = checkpoint(CompressionMethod::Stored, |w| w.write_all(&p).unwrap());
    let err = bounded(5, 16 * MIB, || read_torch_checkpoint(&file)).unwrap_err();
    assert!(pickle_reason(&err).contains("levels deep"), "{err}");
}

#[test]
fn memo_sharing_in_a_250_byte_pickle_cannot_exhaust_memory() {
    // x = (); then 48 times x = (x, x) (BINGET of x beside x, TUPLE2, BINPUT): 2^48 leaves
    // if each memo lookup copied its value.
    let mut p = vec![0x80, 2, b')', b'q', 0];
    for _ in 0..48 {
        p.extend_from_slice(&[b'h', 0, 0x86, b'q', 0]);
    }
    // As the value of a state dict entry.
    let mut dict = vec![0x80, 2, b'}', 0x8c, 1, b'w'];
    dict.extend_from_slice(&p[2..]);
    dict.extend_from_slice(b"s.");
    assert!(dict.len() < 260, "{}", dict.len());
    let err = bounded(2, MIB, || unpickle_state_dict(&dict)).unwrap_err();
    assert!(
        matches!(&err, TorchError::NotStateDict(m) if m.contains("w is a tuple")),
        "{err}"
    );
}

#[test]
fn a_zip_bomb_data_pkl_is_capped_while_reading() {
    // 200 MiB of zeros deflate to a few hundred KiB.
    let file = checkpoint(CompressionMethod::Deflated, |w| {
        let zeros = vec![0u8; MIB];
        for _ in 0..200 {
            w.write_all(&zeros).unwrap();
        }
    });
    assert!(file.len() < 2 * MIB, "{}", file.len());
    let limit = usize::try_from(MAX_PICKLE_BYTES).unwrap();
    let err = bounded(10, 2 * limit + 4 * MIB, || read_torch_checkpoint(&file)).unwrap_err();
    assert!(
        matches!(&err, TorchError::PickleTooLarge { name, .. } if name == "archive/data.pkl"),
        "{err}"
    );
    assert!(err.to_string().contains("decompressed"), "{err}");
}

#[test]
fn filling_a_dict_of_200000_keys_is_linear() {
    // EMPTY_DICT, MARK, 200000 x (SHORT_BINUNICODE key, BININT1 1), SETITEMS, STOP.
    let mut p = vec![0x80, 2, b'}', b'('];
    for i in 0..200_000u32 {
        let key = format!("k{i}");
        p.push(0x8c);
        p.push(u8::try_from(key.len()).unwrap());
        p.extend_from_slice(key.as_bytes());
        p.extend_from_slice(&[b'K', 1]);
    }
    p.extend_from_slice(b"u.");
    let err = bounded(3, 64 * MIB, || unpickle_state_dict(&p)).unwrap_err();
    assert!(
        matches!(&err, TorchError::NotStateDict(m) if m.contains("k0 is an int")),
        "{err}"
    );
}

#[test]
fn a_dict_keyed_by_a_tuple_is_refused() {
    let p = [0x80, 2, b'}', b')', b'K', 1, b's', b'.'];
    let err = unpickle_state_dict(&p).unwrap_err();
    assert!(pickle_reason(&err).contains("key is a tuple"), "{err}");
}

#[test]
fn a_later_item_replaces_an_earlier_one_with_the_same_key() {
    // {"a": 1, "a": ()} -> the tuple wins, in the first key's place.
    let p = [
        0x80, 2, b'}', b'(', 0x8c, 1, b'a', b'K', 1, 0x8c, 1, b'a', b')', b'u', b'.',
    ];
    let err = unpickle_state_dict(&p).unwrap_err();
    assert!(
        matches!(&err, TorchError::NotStateDict(m) if m.contains("a is a tuple")),
        "{err}"
    );
}

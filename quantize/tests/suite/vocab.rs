//! The XGen vocabulary: size, special ids, whitespace runs, merges.

use xgen_quantize::vocab::{
    special_token_text, whitespace_run, XgenVocab, TOKEN_TYPE_CONTROL, TOKEN_TYPE_NORMAL,
};

/// FNV-1a 64 of GPT-2's `vocab.bpe` merges (50000 lines, each followed by `\n`), computed from
/// the file shipped in tiktoken-rs's assets.
const GPT2_MERGES_FNV: u64 = 0xe9cb_995b_5ed1_931e;

fn fnv1a(lines: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for l in lines {
        for b in l.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[test]
fn vocab_has_51200_tokens_with_xgen_types() {
    let v = XgenVocab::new().unwrap();
    assert_eq!(v.tokens().len(), 51200);
    assert_eq!(v.token_types().len(), 51200);
    let t = |id: usize| v.tokens()[id].as_str();
    assert_eq!(t(220), "Ġ");
    assert_eq!(t(198), "Ċ");
    assert_eq!(t(50256), "<|endoftext|>");
    assert_eq!(t(50257), "Ġ".repeat(31));
    assert_eq!(t(50286), "ĠĠ");
    assert_eq!(t(50284), "ĠĠĠĠ");
    assert_eq!(t(50287), "ĉ".repeat(9));
    assert_eq!(t(50294), "ĉĉ");
    assert_eq!(t(50295), "<fim_prefix>");
    assert_eq!(t(50312), "<reponame>");
    assert_eq!(t(50313), "<dummy_0>");
    assert_eq!(t(50316), "<dummy_3>");
    assert_eq!(t(50317), "<sep>");
    assert_eq!(t(50318), "<eom>");
    assert_eq!(t(50319), "<mask_881>");
    assert_eq!(t(51199), "<mask_1>");
    for n in 2..=31u32 {
        assert_eq!(whitespace_run(50288 - n), Some(vec![b' '; n as usize]));
    }
    for n in 2..=9u32 {
        assert_eq!(whitespace_run(50296 - n), Some(vec![b'\t'; n as usize]));
    }
    assert_eq!(special_token_text(50257), None);
    assert_eq!(special_token_text(51200), None);
    for (id, ty) in v.token_types().iter().enumerate() {
        let want = if id == 50256 || id >= 50295 {
            TOKEN_TYPE_CONTROL
        } else {
            TOKEN_TYPE_NORMAL
        };
        assert_eq!(*ty, want, "token type of {id}");
    }
    let unique: std::collections::HashSet<&String> = v.tokens().iter().collect();
    assert_eq!(unique.len(), 51200, "token strings are unique");
}

#[test]
fn merges_reproduce_gpt2_then_left_grow_whitespace() {
    let v = XgenVocab::new().unwrap();
    let m = v.merges();
    assert_eq!(m.len(), 50038);
    assert_eq!(
        &m[..8],
        ["Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r"]
    );
    assert_eq!(&m[49997..50000], ["ĠColl ider", "Ġinform ants", "Ġg azed"]);
    assert_eq!(
        fnv1a(&m[..50000]),
        GPT2_MERGES_FNV,
        "all 50000 GPT-2 merges"
    );
    assert_eq!(m[50000], format!("{} Ġ", "Ġ".repeat(30)));
    assert_eq!(m[50029], "Ġ Ġ");
    assert_eq!(m[50030], format!("{} ĉ", "ĉ".repeat(8)));
    assert_eq!(m[50037], "ĉ ĉ");
}

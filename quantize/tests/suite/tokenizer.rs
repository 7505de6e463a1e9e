//! llama.cpp tokenization of the converted GGUF == the tiktoken reference == the Hugging Face
//! `tokenizers` crate reading the `tokenizer.json` the converter wrote beside it, token for token.

use xgen_quantize::{OutType, XgenTokenizer};
use xgen_testkit::fixture::SplitMix64;
use xgen_testkit::fixture::TinyConfig;

use crate::common;

fn hand_written_corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "Hello world",
        "Hello, world! How are you today?",
        " leading space",
        "trailing space ",
        "trailing spaces and tabs \t \t  ",
        "\n",
        "\n\n\n",
        "line one\nline two\r\nline three\n",
        "fn main() {\n    println!(\"hi\");\n}\n",
        "def f(x):\n\tif x:\n\t\treturn 1\n\t\t\t\t\t\t\t\t\t\t\t\treturn 2\n",
        "\t\t\t\t\t\t\t\t\t\t\t\t\t\tdeep tabs",
        "\t \t \t mixed\t  \t  tabs and spaces  \t\n",
        "  \t\t  \n\t  x",
        "class A:\n    def g(self):\n        pass\n",
        "It's a test. They're here, we've been, I'm fine, you'll see, he'd go, don't",
        "IT'S LOUD 'S 'T 'RE 'VE 'M 'LL 'D 's't're",
        "numbers 0 1 12 123 1234 12345 3.14159 -42 1e10 0x1F 1,000,000",
        "中文分词测试：你好，世界！日本語のテキスト。한국어 텍스트",
        "emoji 😀🎉👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
        "combining: e\u{301} a\u{308} n\u{303} Z\u{335}\u{321}a\u{34f}l\u{336}g\u{337}o",
        "RTL: שלום עולם مرحبا بالعالم",
        "Ελληνικά и русский текст, ümlauts, ßtraße, ﬁ ligature",
        "<|endoftext|>",
        "text <|endoftext|> more text",
        "<fim_prefix>def f():<fim_suffix>\n<fim_middle>",
        "<filename>a.py<gh_stars>10<reponame>x/y",
        "<dummy_0><sep><eom><mask_1><mask_881>",
        "### Human: Please summarize the following article.\n\nThe article.\n###",
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.\n\n### Human: hi\n### Assistant:",
        "$$\\int_0^1 x^2 dx = \\frac{1}{3}$$ <div class=\"a\">&amp;</div>",
        "URL https://example.com/path?q=1&r=%20 email a.b@c.de",
        "zero\u{200b}width\u{feff}joiner\u{200d}",
        "\u{a0}non-breaking\u{a0}\u{3000}ideographic space",
        "",
        " ",
        "a",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for n in [1, 2, 3, 4, 8, 16, 30, 31, 32, 33, 40, 63, 64, 100] {
        c.push(format!("x{}y", " ".repeat(n)));
        c.push(format!("{}z", " ".repeat(n)));
        c.push(format!("z{}", " ".repeat(n)));
    }
    for n in [1, 2, 3, 8, 9, 10, 11, 19, 20] {
        c.push(format!("x{}y", "\t".repeat(n)));
        c.push(format!("{}z", "\t".repeat(n)));
        c.push(format!("z{}\n", "\t".repeat(n)));
    }
    c
}

fn random_corpus(n: usize, seed: u64) -> Vec<String> {
    const PIECES: &[&str] = &[
        " ",
        "  ",
        "    ",
        "\t",
        "\t\t",
        "\n",
        "\r\n",
        "a",
        "the",
        " the",
        "Hello",
        "x_1",
        "0",
        "42",
        "3.5",
        "'s",
        "'ll",
        "'re",
        "n't",
        "!",
        "?!",
        "...",
        "(",
        ")",
        "{",
        "}",
        "=>",
        "//",
        "#",
        "中",
        "文",
        "😀",
        "é",
        "e\u{301}",
        "ש",
        "ب",
        "<|endoftext|>",
        "<fim_prefix>",
        "<",
        "|",
        ">",
        "ü",
        "ß",
        "\u{a0}",
        "\u{3000}",
        "🇫🇷",
        "Ω",
        "ℕ",
    ];
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let len = 1 + (rng.next_u64() % 40) as usize;
            (0..len)
                .map(|_| PIECES[(rng.next_u64() % PIECES.len() as u64) as usize])
                .collect()
        })
        .collect()
}

#[test]
fn llama_cpp_and_tokenizer_json_tokenize_like_tiktoken_reference() {
    let dir = common::tempdir();
    let hf = common::tiny_checkpoint(dir.path(), &TinyConfig::default(), 7);
    let gguf = common::convert(&hf, dir.path(), "tiny-f32.gguf", OutType::F32);
    let model = common::load(&gguf);
    let vocab = model.vocab();
    let reference = XgenTokenizer::new().unwrap();
    // The converter wrote the Hugging Face tokenizer beside the GGUF; documents are encoded
    // with special-token parsing off.
    let json = dir.path().join(xgen_quantize::hf_tokenizer::TOKENIZER_JSON);
    let mut hf_tokenizer = tokenizers::Tokenizer::from_file(&json).unwrap();
    assert_eq!(hf_tokenizer.get_vocab_size(true), 51200);
    assert_eq!(hf_tokenizer.token_to_id("<fim_prefix>"), Some(50295));
    assert_eq!(hf_tokenizer.token_to_id("<|endoftext|>"), Some(50256));
    assert_eq!(hf_tokenizer.token_to_id("<mask_1>"), Some(51199));
    hf_tokenizer.set_encode_special_tokens(true);

    let mut corpus = hand_written_corpus();
    corpus.extend(random_corpus(3000, 11));
    let (mut strings, mut tokens) = (0usize, 0usize);
    let mut mismatches = Vec::new();
    for text in &corpus {
        let want = reference.encode_ordinary(text);
        let got: Vec<u32> = vocab
            .tokenize(text.as_bytes(), false, false)
            .into_iter()
            .map(|t| t.0 as u32)
            .collect();
        let hf_ids = hf_tokenizer
            .encode(text.as_str(), false)
            .unwrap()
            .get_ids()
            .to_vec();
        if got != want || hf_ids != want {
            mismatches.push(format!(
                "{text:?}\n  llama.cpp  {got:?}\n  tokenizers {hf_ids:?}\n  tiktoken   {want:?}"
            ));
        }
        assert_eq!(
            reference.decode(&want).unwrap(),
            *text,
            "tiktoken round trip"
        );
        strings += 1;
        tokens += want.len();
    }
    println!(
        "tokenizer parity: {strings} strings, {tokens} tokens compared, {} mismatches",
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // Specials as plain text must not become their ids; whitespace runs must use their ids.
    let eot = reference.encode_ordinary("<|endoftext|>");
    assert!(!eot.contains(&50256), "{eot:?}");
    assert!(reference
        .encode_ordinary("<fim_prefix>")
        .iter()
        .all(|&t| t < 50256));
    assert_eq!(reference.encode_ordinary("x    y"), vec![87, 50285, 331]);
    assert_eq!(reference.encode_ordinary(&" ".repeat(31)), vec![50257]);
    assert_eq!(reference.encode_ordinary(&"\t".repeat(9)), vec![50287]);

    // With the Hugging Face default (specials parsed, as tokenization_xgen.py does), the
    // specials are their ids; decoding gives the text back.
    hf_tokenizer.set_encode_special_tokens(false);
    let parsed = hf_tokenizer
        .encode("a<|endoftext|><fim_prefix>", false)
        .unwrap();
    assert_eq!(&parsed.get_ids()[1..], &[50256, 50295]);
    let ids = reference.encode_ordinary("x    y\tz");
    assert_eq!(hf_tokenizer.decode(&ids, false).unwrap(), "x    y\tz");
}

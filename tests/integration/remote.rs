//! The remote engine against a real llama-server on loopback (built from the llama.cpp sources
//! of the llama-cpp-python sdist by `scripts/llama-cpp-tools.sh server`, which
//! `scripts/test.sh` runs): chat, the exact XGen prompt, a summary in parts over two slots,
//! Stop, a server killed mid-reply, a wrong API key, a wrong model name, unreachable and TLS
//! errors, the CLI, and the app's model manager.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use xgen_desk::engine::{
    CachePrefix, EngineError, GenerateRequest, Inference, PrereadEvent, PrereadRequest, ReplyEvent,
    Sampling, StopReason,
};
use xgen_desk::prompt::{
    document_len, document_turn, summarize_request, xgen_prompt, Message, SummaryStyle,
};
use xgen_desk::remote::secret::{self, KeyStorage};
use xgen_desk::remote::{RemoteEngine, RemoteError, ServerConfig, ServerKind, TokenCounts};
use xgen_desk::summarize::{self, EngineModel, Phase, Progress, SummarizeOptions};
use xgen_desk::tokenizer::XgenTextTokenizer;

use crate::common::{engine_with, small_settings, smollm2, temp_dir, TIMEOUT};

/// The llama-server binary: `$XGEN_TEST_LLAMA_SERVER`, else the one the tools script builds.
fn llama_server_bin() -> PathBuf {
    let path = std::env::var_os("XGEN_TEST_LLAMA_SERVER").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
                ".cache/llama-server-0.3.36/bin/llama-server{}",
                std::env::consts::EXE_SUFFIX
            ))
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "llama-server {} is missing: run scripts/llama-cpp-tools.sh server (scripts/test.sh does it)",
        path.display()
    );
    path
}

/// A llama-server on a free loopback port, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts llama-server on `model` with `args` (`-np` and `-c` among them) and waits until
    /// it is healthy.
    pub(crate) fn start(model: &Path, args: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(model, args, port)
    }

    /// [`Server::start`] on `port` (a server started again where the app knows it).
    fn start_on(model: &Path, args: &[&str], port: u16) -> Self {
        let dir = temp_dir();
        let log = dir.path().join("llama-server.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(llama_server_bin())
            .arg("-m")
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-t", "2", "--no-warmup", "--slots", "--metrics"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("start llama-server");
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            log,
            _dir: dir,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        let client = reqwest::blocking::Client::new();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll llama-server") {
                panic!("llama-server exited ({status}):\n{}", self.log_text());
            }
            let healthy = client
                .get(format!("{}/health", self.url))
                .timeout(Duration::from_secs(5))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "llama-server did not become healthy:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn config(&self) -> ServerConfig {
        ServerConfig {
            url: self.url.clone(),
            ..ServerConfig::default()
        }
    }

    /// llama-server's `/slots`: each slot's state, and while it works on a request, what it
    /// has decoded so far (`next_token[0].n_decoded`; an idle slot reports 0).
    fn slots(&self) -> Vec<serde_json::Value> {
        let text = reqwest::blocking::get(format!("{}/slots", self.url))
            .and_then(reqwest::blocking::Response::text)
            .expect("GET /slots");
        let slots: serde_json::Value = serde_json::from_str(&text).expect("slots JSON");
        slots.as_array().expect("slots array").clone()
    }

    /// The tokens decoded so far for the request a slot is working on; `None` while every slot
    /// is idle.
    fn decoding(&self) -> Option<u64> {
        self.slots()
            .iter()
            .find(|s| s["is_processing"].as_bool() == Some(true))
            .map(|s| s["next_token"][0]["n_decoded"].as_u64().unwrap_or(0))
    }

    /// One figure of llama-server's `/metrics` (Prometheus text; `--metrics`), such as
    /// `llamacpp:tokens_predicted_total`: the tokens generated by every request so far,
    /// counted when its slot is released, whether it finished or was stopped.
    fn metric(&self, name: &str) -> f64 {
        let text = reqwest::blocking::get(format!("{}/metrics", self.url))
            .and_then(reqwest::blocking::Response::text)
            .expect("GET /metrics");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not a number ({e}):\n{text}"))
    }

    fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn connect(config: &ServerConfig) -> RemoteEngine {
    RemoteEngine::connect(config).unwrap_or_else(|e| panic!("connect to {}: {e}", config.url))
}

/// A document of about `tokens` SmolLM2 tokens, in paragraphs that each say which one they are.
fn long_document(tokens: usize) -> String {
    let paragraph = "The harbour committee reviewed the new ferry timetable, the cost of \
dredging the north channel and a proposal to rebuild the fish market before the summer \
season. Fishermen asked for longer mooring hours and a second crane.";
    (1..=tokens / 45 + 1)
        .map(|i| format!("Section {i}. {paragraph}"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn chat_streams_from_llama_server_with_counts_and_timings() {
    let server = Server::start(&smollm2(), &["-c", "2048", "-np", "1"]);
    let remote = connect(&server.config());
    let info = remote.info();
    assert_eq!(info.kind, ServerKind::LlamaServer);
    assert!(!info.xgen, "SmolLM2 is not XGen");
    assert_eq!(info.counts, TokenCounts::Server);
    assert_eq!(info.n_ctx, 2048);
    assert_eq!((info.total_slots, info.parallel), (Some(1), 1));
    assert!(info.warning.is_none(), "loopback needs no warning");
    assert_eq!(
        remote.model_info().server.as_deref(),
        Some(server.url.as_str())
    );

    // The server's tokenizer counts as the local engine does.
    let (engine, loaded) = engine_with(&smollm2(), small_settings(2048));
    loaded.expect("SmolLM2 loads");
    let text = "The harbour committee met on Tuesday, 3 May, about the ferry.";
    assert_eq!(
        remote.count_tokens(text).unwrap(),
        engine.count_tokens(text).unwrap()
    );
    // The prompt is counted with the server's own chat template (SmolLM2's adds a default
    // system prompt that llama.cpp's built-in template does not), so the count is what the
    // server reads (checked against its figures below).
    let messages = vec![Message::user("Name three colours.")];
    let prompt = remote.count_prompt_tokens(&messages).unwrap();
    let local = engine.count_prompt_tokens(&messages).unwrap();
    assert!(prompt >= local, "server {prompt}, local {local}");

    let ask = || {
        let mut pieces = Vec::new();
        let finished = remote
            .generate(GenerateRequest::chat(
                messages.clone(),
                Sampling::greedy(24),
            ))
            .wait_with(|event| {
                if let ReplyEvent::Text(t) = event {
                    pieces.push(t.clone());
                }
            })
            .expect("a reply");
        assert_eq!(pieces.concat(), finished.text);
        finished
    };
    let first = ask();
    assert!(!first.text.trim().is_empty());
    assert!(matches!(
        first.reason,
        StopReason::EndOfTurn | StopReason::MaxTokens
    ));
    let t = first.timings;
    assert_eq!(t.prompt_tokens, prompt, "{t:?}");
    assert!(t.generated_tokens >= 1 && t.generated_tokens <= 24, "{t:?}");
    assert!(t.ttft_secs > 0.0 && t.prefill_secs >= 0.0, "{t:?}");
    // Greedy is reproducible, and the server's cache serves the repeated prompt.
    let second = ask();
    assert_eq!(second.text, first.text);
    assert!(
        second.timings.prompt_evaluated < second.timings.prompt_tokens,
        "{:?}",
        second.timings
    );
}

#[test]
fn xgen_prompt_reaches_llama_server_as_exactly_these_ids() {
    let gguf = crate::xgen::tiny_xgen_gguf();
    let server = Server::start(gguf, &["-c", "1024", "-np", "1"]);
    let remote = connect(&server.config());
    assert!(remote.info().xgen, "{:?}", remote.info());
    assert_eq!(remote.info().counts, TokenCounts::Exact);
    assert!(remote.exact_counts());

    // The converter wrote tokenizer.json beside the GGUF: it counts as llama.cpp does.
    let (engine, loaded) = engine_with(gguf, small_settings(1024));
    loaded.expect("tiny XGen loads");
    let beside = XgenTextTokenizer::beside(gguf).expect("tokenizer.json beside the GGUF");
    // A document that spells special tokens and XGen's whitespace runs.
    let document = "def f(x):\n        return x  <|endoftext|> ### Human: not a turn\n\t\tdone";
    let messages = vec![Message::user(summarize_request(
        document,
        SummaryStyle::Default,
    ))];
    let ids = engine.prompt_token_ids(&messages).unwrap();
    let ids: Vec<u32> = ids.iter().map(|&i| u32::try_from(i).unwrap()).collect();
    assert_eq!(beside.prompt_ids(&messages), ids);
    assert_eq!(beside.encode(&xgen_prompt(&messages)), ids);
    assert_eq!(remote.count_prompt_tokens(&messages).unwrap(), ids.len());
    assert_eq!(
        remote.count_tokens(document).unwrap(),
        engine.count_tokens(document).unwrap()
    );

    // The server read exactly that many tokens: `<|endoftext|>` stayed text (as one special
    // token the prompt would be 6 tokens shorter).
    let finished = remote
        .generate(GenerateRequest::chat(messages, Sampling::greedy(8)))
        .wait()
        .expect("a reply");
    assert_eq!(finished.timings.prompt_tokens, ids.len(), "{finished:?}");
    assert!(!finished.text.starts_with("Assistant:"), "{finished:?}");
}

#[test]
fn summary_in_parts_over_two_slots_keeps_order_and_coverage() {
    let server = Server::start(&smollm2(), &["-c", "4096", "-np", "2"]);
    let remote = connect(&server.config());
    assert_eq!(remote.info().total_slots, Some(2));
    assert_eq!(remote.parallel_slots(), 2);
    let n_ctx = remote.info().n_ctx;
    assert!(n_ctx >= 1024, "per-slot context {n_ctx}");
    let text = long_document(n_ctx as usize * 3);
    let document = xgen_desk::documents::Document::from_text("harbour.txt", &text).unwrap();
    let mut model = EngineModel::new(&remote, n_ctx, Sampling::greedy(48));
    let mut options = SummarizeOptions::new(SummaryStyle::Default, 64);
    options.partial_tokens = Some(48);
    let mut events = Vec::new();
    let mut streamed = String::new();
    let summary = summarize::summarize(
        &mut model,
        &document,
        &options,
        &xgen_desk::cancel::CancelToken::new(),
        &mut |p| events.push(p.clone()),
        &mut |piece| streamed.push_str(piece),
    )
    .expect("summary");
    assert!(!summary.single_pass);
    assert!(summary.coverage.complete(), "{:?}", summary.coverage);
    let parts = summary.coverage.total;
    assert!(parts >= 3, "{parts} parts");
    assert!(!summary.text.trim().is_empty());
    assert_eq!(streamed, summary.text);
    // Notes arrive in document order with the coverage growing one part at a time.
    let partials: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Partial {
                phase: Phase::Read { part, .. },
                coverage,
                ..
            } => Some((*part, coverage.read)),
            _ => None,
        })
        .collect();
    let expected: Vec<(usize, usize)> = (1..=parts).map(|p| (p, p)).collect();
    assert_eq!(partials, expected);
    // Part 2 was asked for before part 1's note came back: both slots worked at once.
    let position =
        |wanted: &dyn Fn(&Progress) -> bool| events.iter().position(wanted).expect("event");
    let part2_started = position(&|e| {
        matches!(
            e,
            Progress::Step {
                phase: Phase::Read { part: 2, .. },
                ..
            }
        )
    });
    let part1_read = position(&|e| {
        matches!(
            e,
            Progress::Partial {
                phase: Phase::Read { part: 1, .. },
                ..
            }
        )
    });
    assert!(part2_started < part1_read, "{events:?}");
    // And the server worked on both at once (asked for side by side is not yet that, if one
    // ended before the other arrived): every decode has at least one busy slot, so an average
    // above 1 means some decode had two.
    let busy_per_decode = server.metric("llamacpp:n_busy_slots_per_decode");
    assert!(
        busy_per_decode > 1.0,
        "{busy_per_decode} busy slots per decode"
    );
}

#[test]
fn stop_closes_the_request_and_the_server_stops_generating() {
    // End-of-turn is ignored, so a server that went on after Stop would decode all of these.
    const MAX_TOKENS: u32 = 3000;
    // Far below MAX_TOKENS, far above what the server decodes between the first text and the
    // dropped connection (a few tokens here; a test thread kept off a loaded machine's cores
    // for seconds still leaves a few hundred).
    const STOPPED_WITHIN: u64 = 1000;
    let server = Server::start(&smollm2(), &["-c", "4096", "-np", "1"]);
    let remote = connect(&server.config());
    let predicted_before = server.metric("llamacpp:tokens_predicted_total");
    let ids = vec![1, 504, 3458, 314, 260]; // a few ordinary SmolLM2 tokens
    let mut handle = remote.generate(GenerateRequest::tokens(ids, Sampling::greedy(MAX_TOKENS)));
    let mut text = String::new();
    let deadline = Instant::now() + TIMEOUT;
    while text.is_empty() {
        assert!(Instant::now() < deadline, "no text from the server");
        if let Some(ReplyEvent::Text(t)) = handle.recv().unwrap() {
            text.push_str(&t);
        }
    }
    let stopped_at = Instant::now();
    handle.cancel();
    let finished = handle.wait().expect("a cancelled reply ends cleanly");
    assert_eq!(finished.reason, StopReason::Cancelled);
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
    // The dropped connection made the server stop the slot: it goes idle having decoded a
    // small part of the reply (its own count, so a fast machine that would have written all
    // of it within the wait does not pass by finishing).
    let deadline = Instant::now() + TIMEOUT;
    while let Some(decoded) = server.decoding() {
        assert!(
            decoded <= STOPPED_WITHIN,
            "the server kept generating after Stop: {decoded} tokens decoded"
        );
        assert!(
            Instant::now() < deadline,
            "the slot is still busy, {decoded} tokens decoded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let decoded = server.metric("llamacpp:tokens_predicted_total") - predicted_before;
    assert!(
        decoded >= 1.0 && decoded <= STOPPED_WITHIN as f64,
        "the server decoded {decoded} of {MAX_TOKENS} tokens for a reply stopped after its first text"
    );
}

#[test]
fn server_killed_mid_reply_keeps_the_text_and_says_so() {
    let mut server = Server::start(&smollm2(), &["-c", "4096", "-np", "1"]);
    let remote = connect(&server.config());
    let handle = remote.generate(GenerateRequest::tokens(
        vec![1, 504, 3458, 314, 260],
        Sampling::greedy(3000),
    ));
    let mut text = String::new();
    let mut killed = false;
    let result = handle.wait_with(|event| {
        if let ReplyEvent::Text(t) = event {
            text.push_str(t);
            if !killed {
                // Killed mid-reply (the server's word), not after a reply a fast machine
                // finished before the first piece was read.
                let decoded = server.decoding();
                assert!(decoded.is_some_and(|n| n < 3000), "{decoded:?}");
                server.kill();
                killed = true;
            }
        }
    });
    let error = result.expect_err("a reply cut off is an error");
    assert!(
        matches!(error, EngineError::Remote(RemoteError::Dropped { .. })),
        "{error:?}"
    );
    assert!(!text.is_empty(), "the text before the cut arrived");
    let message = error.to_string();
    assert!(
        message.contains("lost") && message.contains("kept"),
        "{message}"
    );
    // A new request is refused in words, not hung.
    let again = remote
        .generate(GenerateRequest::chat(
            vec![Message::user("hi")],
            Sampling::greedy(4),
        ))
        .wait()
        .expect_err("the server is gone");
    assert!(
        matches!(again, EngineError::Remote(RemoteError::Unreachable { .. })),
        "{again:?}"
    );
}

/// A "server" whose answer never ends (a misconfigured proxy, a hostile endpoint): connecting
/// reads at most 8 MiB of it and says so, in bounded memory, instead of filling memory.
#[test]
fn a_server_whose_answer_never_ends_is_refused() {
    use std::io::{Read, Write};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    crate::common::spawn("fake-server", move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            crate::common::spawn("fake-server-conn", move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[",
                );
                let chunk = b"0,".repeat(32 * 1024);
                // Up to 1 GiB, or until the client hangs up.
                for _ in 0..(1 << 30) / chunk.len() {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let config = ServerConfig {
        url,
        api_key: None,
        model: None,
        parallel: None,
    };
    let started = Instant::now();
    let error = RemoteEngine::connect(&config).expect_err("refused");
    assert!(matches!(error, RemoteError::Protocol(_)), "{error:?}");
    assert!(error.to_string().contains("more than 8 MiB"), "{error}");
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
}

#[test]
fn wrong_api_key_and_wrong_model_name_are_refused_in_words() {
    let server = Server::start(
        &smollm2(),
        &[
            "-c",
            "1024",
            "-np",
            "1",
            "--api-key",
            "right-key",
            "--alias",
            "smol",
        ],
    );
    for key in [None, Some("wrong-key")] {
        let config = ServerConfig {
            api_key: key.map(str::to_owned),
            ..server.config()
        };
        let error = RemoteEngine::connect(&config).expect_err("refused");
        assert!(
            matches!(error, RemoteError::Unauthorized { status: 401, .. }),
            "{key:?}: {error:?}"
        );
        assert!(error.to_string().contains("API key"), "{error}");
    }
    let with_key = |model: Option<&str>| ServerConfig {
        api_key: Some("right-key".into()),
        model: model.map(str::to_owned),
        ..server.config()
    };
    let error = RemoteEngine::connect(&with_key(Some("nope"))).expect_err("no such model");
    match &error {
        RemoteError::NoSuchModel { model, available } => {
            assert_eq!(model, "nope");
            assert_eq!(available, &vec!["smol".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("smol"), "{error}");
    let remote = connect(&with_key(Some("smol")));
    assert_eq!(remote.info().model, "smol");
    let reply = remote
        .generate(GenerateRequest::chat(
            vec![Message::user("Hi")],
            Sampling::greedy(4),
        ))
        .wait()
        .expect("the right key works for replies too");
    assert!(reply.timings.generated_tokens >= 1);

    // https:// on a plain HTTP server is a TLS error; a closed port is unreachable.
    let tls = RemoteEngine::connect(&ServerConfig {
        url: server.url.replace("http://", "https://"),
        ..with_key(None)
    })
    .expect_err("no TLS there");
    assert!(matches!(tls, RemoteError::Tls { .. }), "{tls:?}");
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let down = RemoteEngine::connect(&ServerConfig {
        url: format!("http://127.0.0.1:{closed}"),
        ..ServerConfig::default()
    })
    .expect_err("nothing listens");
    assert!(matches!(down, RemoteError::Unreachable { .. }), "{down:?}");
    assert!(down.to_string().contains("check the address"), "{down}");
}

#[test]
fn api_key_is_kept_for_the_session_when_no_credential_store_takes_it() {
    let server = "http://xgen-desk-test.invalid:9";
    let storage = secret::store(server, "session-key");
    assert_eq!(secret::load(server).as_deref(), Some("session-key"));
    match &storage {
        KeyStorage::CredentialStore => assert!(storage.notice().is_none()),
        KeyStorage::SessionOnly { .. } => {
            let notice = storage.notice().expect("a notice");
            assert!(notice.contains("until the app closes"), "{notice}");
        }
    }
    secret::forget(server);
    assert_eq!(secret::load(server), None);
}

#[test]
fn cli_summarizes_and_chats_through_a_server() {
    let server = Server::start(&smollm2(), &["-c", "2048", "-np", "2"]);
    let dir = temp_dir();
    let file = dir.path().join("harbour.txt");
    std::fs::write(&file, long_document(3000)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .arg("summarize")
        .arg(&file)
        .args(["--greedy", "--max-tokens", "48"])
        .env("XGEN_DESK_SERVER", &server.url)
        .env("XGEN_DESK_HOME", dir.path())
        .output()
        .expect("run xgen-desk");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("[server]") && stderr.contains("2 requests at a time"),
        "{stderr}"
    );
    assert!(stderr.contains("coverage 100%"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).trim().is_empty());

    let mut chat = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args([
            "chat",
            "--server",
            &server.url,
            "--greedy",
            "--max-tokens",
            "12",
        ])
        .env("XGEN_DESK_HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run xgen-desk chat");
    {
        use std::io::Write as _;
        let mut stdin = chat.stdin.take().unwrap();
        stdin.write_all(b"Say hello.\n/exit\n").unwrap();
    }
    let output = chat.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stdout).trim().is_empty());

    // A missing key variable is an error that names it.
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args([
            "chat",
            "--server",
            &server.url,
            "--api-key-env",
            "XGEN_TEST_NO_SUCH_VAR",
        ])
        .env("XGEN_DESK_HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("XGEN_TEST_NO_SUCH_VAR"));
}

/// The model manager adds a server; a document is summarized through it; after a restart the
/// app uses the same server again.
#[test]
fn app_adds_a_server_and_summarizes_through_it() {
    use crate::app::{change_settings, document_text, harness, options, step_until};
    use xgen_desk::app::{ModelState, View};

    let server = Server::start(&smollm2(), &["-c", "4096", "-np", "2"]);
    let tmp = temp_dir();
    let mut h = harness(options(tmp.path()));
    assert_eq!(
        h.state().view(),
        View::Models,
        "no model: the model manager"
    );
    let url_field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Server URL");
    url_field.focus();
    url_field.type_text(&server.url);
    h.step();
    h.get_by_label("Connect").click();
    step_until(&mut h, "the server to answer", |a| {
        matches!(a.model(), ModelState::Ready(_)) || !a.notices().is_empty()
    });
    let info = h.state().server().cloned().expect("a server in use");
    assert_eq!(info.url, server.url);
    assert_eq!(info.parallel, 2);
    h.get_by_label_contains("In use: ");

    // Short, so that a loaded machine finishes within the wait.
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Short;
        s.sampling.max_tokens = 24;
    });
    let doc = document_text().repeat(4);
    h.event(egui::Event::Paste(doc.clone()));
    step_until(&mut h, "the token meter", |a| a.document_meter().is_some());
    let meter = h.state().document_meter().unwrap();
    assert!(!meter.estimated, "llama-server counts tokens");
    h.get_by_label("Summarize").click();
    step_until(&mut h, "the summary", |a| {
        !a.is_generating() && a.conversation().messages.len() == 2
    });
    let reply = h.state().conversation().messages.last().unwrap().clone();
    assert!(!reply.content.trim().is_empty(), "{reply:?}");
    assert!(!reply.stopped);
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());

    // Saved (keys never are), and used again after a restart.
    let paths = xgen_desk::paths::AppPaths::under(tmp.path());
    let saved = std::fs::read_to_string(paths.data_dir().join("servers.json")).unwrap();
    assert!(saved.contains(&server.url), "{saved}");
    drop(h);
    let mut h = harness(options(tmp.path()));
    step_until(&mut h, "the server after a restart", |a| {
        matches!(a.model(), ModelState::Ready(_)) || !a.notices().is_empty()
    });
    assert_eq!(
        h.state().server().map(|s| s.url.clone()),
        Some(server.url.clone())
    );
}

/// A reply cut off by the server's death keeps its text, marked, with a notice that says what
/// happened; once the server is back, Regenerate writes it again. The form warns about plain
/// HTTP to another computer before anything is sent.
#[test]
fn app_keeps_a_reply_cut_off_by_the_server_and_regenerates_it() {
    use crate::app::{ask, change_settings, harness, options, step_until};
    use xgen_desk::app::{AppCommand, ModelState, View};
    use xgen_desk::prompt::Role;

    // End-of-turn ignored: the reply runs to its 1500 tokens, so it is still being written
    // when the server is killed however fast the machine (checked on the server below).
    let args = ["-c", "2048", "-np", "1", "--ignore-eos"];
    let mut server = Server::start(&smollm2(), &args);
    let tmp = temp_dir();
    let mut h = harness(options(tmp.path()));
    assert_eq!(h.state().view(), View::Models);
    let url_field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Server URL");
    url_field.focus();
    url_field.type_text("http://192.0.2.7:8080");
    h.step();
    h.get_by_label_contains("unencrypted");

    h.state_mut()
        .run(AppCommand::ConnectServer(server.config()));
    step_until(&mut h, "the server to answer", |a| {
        matches!(a.model(), ModelState::Ready(_)) || !a.notices().is_empty()
    });
    assert!(h.state().server().is_some(), "{:?}", h.state().notices());
    h.state_mut().run(AppCommand::ShowView(View::Chat));
    change_settings(&mut h, |s| s.sampling.max_tokens = 1500);
    h.step();
    h.step();
    ask(
        &mut h,
        "Count from one to five hundred, in words, one number per line.",
    );
    step_until(&mut h, "the first words of the reply", |a| {
        a.conversation()
            .messages
            .last()
            .is_some_and(|m| m.role == Role::Assistant && !m.content.is_empty())
    });
    let decoded = server.decoding();
    assert!(
        decoded.is_some_and(|n| n < 1500),
        "the reply is still being written when the server is killed: {decoded:?}"
    );
    server.kill();
    step_until(&mut h, "the cut-off reply to end", |a| !a.is_generating());
    let reply = h.state().conversation().messages.last().unwrap().clone();
    assert_eq!(reply.role, Role::Assistant);
    assert!(!reply.content.is_empty() && reply.cut_off, "{reply:?}");
    let notice = h
        .state()
        .notices()
        .first()
        .expect("a notice")
        .message
        .clone();
    assert!(
        notice.contains("lost") && notice.contains("Regenerate"),
        "{notice}"
    );
    h.get_by_label("(cut off)");

    // Back on the same address: Regenerate asks again.
    let _server = Server::start_on(&smollm2(), &args, server.port);
    change_settings(&mut h, |s| s.sampling.max_tokens = 16);
    h.get_by_label("Regenerate").click();
    step_until(&mut h, "the new reply", |a| {
        !a.is_generating()
            && a.conversation()
                .messages
                .last()
                .is_some_and(|m| m.role == Role::Assistant && m.stats.is_some())
    });
    let again = h.state().conversation().messages.last().unwrap().clone();
    assert!(!again.cut_off && !again.content.is_empty(), "{again:?}");
    assert_eq!(h.state().conversation().messages.len(), 2);
}

/// A document read ahead on llama-server stays in a slot: a question about it afterwards reads
/// only what follows the document.
#[test]
fn preread_leaves_the_document_in_a_server_slot() {
    let gguf = crate::xgen::tiny_xgen_gguf();
    let server = Server::start(gguf, &["-c", "1024", "-np", "1"]);
    let remote = connect(&server.config());
    let document = long_document(500);
    let prefix = CachePrefix::Document {
        message: 0,
        bytes: document_len(&document),
    };
    let summary = vec![Message::user(summarize_request(
        &document,
        SummaryStyle::Default,
    ))];
    let mut handle = remote.preread(PrereadRequest {
        messages: summary,
        prefix,
    });
    let mut progress = Vec::new();
    let (done, total) = loop {
        match handle.recv().expect("read ahead") {
            Some(PrereadEvent::Progress { done, .. }) => progress.push(done),
            Some(PrereadEvent::Done { done, total, .. }) => break (done, total),
            other => panic!("{other:?}"),
        }
    };
    assert!(total > 100 && done == total, "{done} of {total}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");

    // A question, not the summary the prefix was read for: the document is not read again.
    let question = vec![Message::user(document_turn(
        &document,
        "Who asked for a crane?",
    ))];
    let finished = remote
        .generate(GenerateRequest::chat(question, Sampling::greedy(4)))
        .wait()
        .expect("a reply");
    let t = finished.timings;
    assert!(t.prompt_tokens > total, "{t:?}");
    assert!(t.prompt_evaluated <= t.prompt_tokens - total, "{t:?}");
}

/// Files dropped while a server with two slots is in use: the next file's document is read
/// into the spare slot while the summary before it is written, so its own summary reads only
/// the request; the first file, read by nobody before, is read whole.
#[test]
fn queue_reads_the_next_file_ahead_in_a_spare_slot() {
    use crate::app::{change_settings, harness, options, step_until};
    use crate::queue::{drop_files, step_queue_until};
    use xgen_desk::app::{AppCommand, ModelState, QueueStatus};

    // End-of-turn ignored: the first summary is always written to its full length (random
    // weights may end it at any token), the time in which the next file is read ahead; and a
    // model slow enough that this takes seconds (the tiny one writes 400 tokens in half a
    // second, which reading the next file in a child process could outlast on a loaded
    // machine).
    let server = Server::start(
        crate::xgen::small_xgen_gguf(),
        &["-c", "2048", "-np", "2", "--ignore-eos"],
    );
    let tmp = temp_dir();
    let mut h = harness(options(tmp.path()));
    // Random weights write any character: a box for what the fonts lack, as outside tests.
    h.ctx
        .set_missing_glyph_policy(egui::MissingGlyphPolicy::Tofu);
    h.state_mut()
        .run(AppCommand::ConnectServer(server.config()));
    step_until(&mut h, "the server to answer", |a| {
        matches!(a.model(), ModelState::Ready(_)) || !a.notices().is_empty()
    });
    assert!(h.state().server().is_some(), "{:?}", h.state().notices());
    // Long enough to write that the next file is read meanwhile.
    change_settings(&mut h, |s| {
        s.summary_length = xgen_desk::app::SummaryLength::Medium
    });
    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let first = docs.join("harbour.txt");
    std::fs::write(&first, format!("Minutes.\n\n{}", long_document(300))).unwrap();
    let second = docs.join("market.txt");
    let market = long_document(300).replace("harbour", "market");
    std::fs::write(&second, format!("A report.\n\n{market}")).unwrap();
    drop_files(&mut h, &[first, second]);
    step_queue_until(&mut h, "both summaries", |a| {
        a.queue().len() == 2 && a.queue().iter().all(|i| !i.status.is_pending())
    });

    let app = h.state();
    let stats = |name: &str| {
        let item = app.queue().iter().find(|i| i.name == name).unwrap();
        assert_eq!(item.status, QueueStatus::Done, "{item:?}");
        let id = item.conversation.as_deref().expect("a conversation");
        let c = app.conversations().iter().find(|c| c.id == id).unwrap();
        let stats = c.messages[1].stats.expect("the server's figures");
        (item.tokens.expect("counted"), stats)
    };
    let (tokens, first) = stats("harbour.txt");
    eprintln!("the first summary: {first:?}");
    assert!(tokens > 200, "{tokens}");
    assert!(first.prompt_evaluated > tokens, "read whole: {first:?}");
    let (tokens, second) = stats("market.txt");
    assert!(second.prompt_tokens > tokens, "{second:?}");
    assert!(
        second.prompt_evaluated < 32,
        "read ahead, so only the request is read: {second:?}"
    );
}

/// Through a server whose context is a fraction of the document, a question in the app reads
/// the passages that bear on it: the card says what it read, the conversation keeps only the
/// question, and the answer's check carries the passages, the one with the answer among them.
#[test]
fn app_asks_about_a_long_document_through_a_server_from_its_passages() {
    use crate::app::{ask, change_settings, harness, last_reply, options, step_until};
    use xgen_desk::app::ModelState;

    let server = Server::start(&smollm2(), &["-c", "1024", "-np", "1"]);
    let tmp = temp_dir();
    let mut h = harness(options(tmp.path()));
    let url_field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Server URL");
    url_field.focus();
    url_field.type_text(&server.url);
    h.step();
    h.get_by_label("Connect").click();
    step_until(&mut h, "the server to answer", |a| {
        matches!(a.model(), ModelState::Ready(_)) || !a.notices().is_empty()
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    change_settings(&mut h, |s| s.sampling.max_tokens = 32);
    let mut doc = long_document(4000);
    doc.push_str(
        "\n\nSection 90. The lighthouse keeper, Mara Lind, retires in October after \
         thirty years on the north pier.",
    );
    h.event(egui::Event::Paste(doc));
    step_until(&mut h, "the token meter", |a| a.document_meter().is_some());
    let meter = h.state().document_meter().unwrap();
    assert!(!meter.fits() && !meter.estimated, "{meter:?}");

    let question = "When does the lighthouse keeper retire?";
    ask(&mut h, question);
    step_until(&mut h, "the answer", |a| {
        !a.is_generating() && a.conversation().messages.len() == 2
    });
    assert!(h.state().notices().is_empty(), "{:?}", h.state().notices());
    assert_eq!(h.state().conversation().messages[0].content, question);
    let answer = last_reply(h.state()).clone();
    assert!(!answer.content.trim().is_empty(), "{answer:?}");
    step_until(&mut h, "the answer's check", |a| {
        last_reply(a).check.is_some()
    });
    let said = h.state().last_read().expect("what the question read");
    assert!(
        said.starts_with("read ") && said.contains("passage"),
        "{said}"
    );
    h.get_by_label_contains(&format!("Last question: {said}"));
    let check = last_reply(h.state()).check.clone().unwrap();
    assert!(
        check
            .read
            .iter()
            .any(|p| p.text.contains("lighthouse keeper, Mara Lind")),
        "{:?}",
        check.read
    );
}

//! The engine's thread counts on the real SmolLM2 model: a fixed count runs as asked, the
//! default adapts to the cores other programs leave free (busy loops in child processes play
//! the other programs), and the reply, `bench` and the engine say what ran.

use std::process::{Child, Command, Stdio};

use xgen_desk::engine::{
    hardware, Engine, GenerateRequest, LoadSettings, Sampling, Slowdown, ThreadUse,
};
use xgen_desk::prompt::Message;

use crate::common::{collect, engine_with, smollm2};

/// Busy loops in child processes, one per logical CPU, stopped when dropped.
struct BusyLoops(Vec<Child>);

impl BusyLoops {
    fn on_every_cpu() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self(
            (0..cpus)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("start a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

fn engine(threads: Option<usize>) -> Engine {
    let settings = LoadSettings {
        n_ctx: Some(512),
        threads,
        ..LoadSettings::default()
    };
    let (engine, info) = engine_with(&smollm2(), settings);
    let info = info.expect("SmolLM2 loads");
    assert_eq!(info.adaptive_threads, threads.is_none(), "{info:?}");
    let max = threads.unwrap_or_else(hardware::default_threads);
    assert_eq!(info.threads, (max, max));
    engine
}

fn reply(engine: &Engine, tokens: u32) -> ThreadUse {
    let request = GenerateRequest::chat(
        vec![Message::user("Count from one to twenty in words.")],
        Sampling::greedy(tokens),
    );
    let (_, _, timings) = collect(engine, request).expect("reply");
    assert!(timings.generated_tokens > 1, "{timings:?}");
    timings.threads
}

#[test]
fn a_fixed_count_runs_as_asked_and_the_reply_says_so() {
    let engine = engine(Some(1));
    let threads = reply(&engine, 16);
    assert_eq!(
        threads,
        ThreadUse {
            prompt: 1,
            first: 1,
            last: 1,
            fewest: 1,
            max: 1,
            fixed: true,
            slowdown: None,
        }
    );
    assert_eq!(threads.describe().as_deref(), Some("1 thread"));
    let now = engine.threads_now().expect("a model is loaded");
    assert!(
        !now.adaptive && now.tokens == 1 && now.batches == 1,
        "{now:?}"
    );
    assert_eq!(now.describe(), "1 thread (fixed)");
    engine.unload();
    // The unload is done once a request after it is answered.
    assert!(engine.count_tokens("x").is_err());
    assert_eq!(engine.threads_now(), None, "no model, no threads");
}

#[test]
fn busy_cores_leave_one_thread_running_and_the_reply_says_why() {
    let engine = engine(None);
    let max = hardware::default_threads();
    let busy = BusyLoops::on_every_cpu();
    // An idle engine reads the idle time every second: let a whole window pass with the loops.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let threads = reply(&engine, 24);
    drop(busy);
    // Every step ran on one thread: the count llama.cpp read back after the engine set it (a
    // count that did not reach llama.cpp would read as the context's first, the cores).
    assert_eq!(
        (threads.first, threads.last, threads.prompt),
        (1, 1, 1),
        "{threads:?}"
    );
    assert_eq!(threads.max, max);
    assert!(!threads.fixed);
    if max > 1 {
        assert_eq!(threads.slowdown, Some(Slowdown::Busy), "{threads:?}");
        assert_eq!(
            threads.describe(),
            Some(format!("1 of {max} threads: the CPU is busy"))
        );
        let now = engine.threads_now().expect("a model is loaded");
        assert!(now.adaptive && now.tokens == 1, "{now:?}");
    } else {
        // One core: nothing to adapt, and nothing to explain.
        assert_eq!(threads.describe().as_deref(), Some("1 thread"));
    }
}

#[test]
fn bench_says_what_ran_and_with_which_cpu_features() {
    let model = smollm2();
    let run = |threads: &str| {
        Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
            .args([
                "bench", "--json", "-p", "32", "-n", "4", "-r", "1", "--ctx", "256", "-t",
            ])
            .arg(threads)
            .arg("-m")
            .arg(&model)
            .output()
            .expect("run xgen-desk bench")
    };
    let fixed = run("1");
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&fixed.stdout).expect("JSON");
    assert_eq!(json["threads"], 1);
    assert_eq!(json["threads_auto"], false);
    assert_eq!(json["tg_threads"], serde_json::json!(["1 thread"]));
    assert_eq!(json["pp_threads"], serde_json::json!(["1 thread"]));
    let features = json["cpu_features"].as_array().expect("a list of features");
    assert!(features.iter().any(|f| f == "OPENMP"), "{features:?}");
    if cfg!(target_arch = "x86_64") {
        assert!(
            features.iter().any(|f| f == "AVX2"),
            "the x86-64-v3 build: {features:?}"
        );
    }

    let auto = run("auto");
    assert!(
        auto.status.success(),
        "{}",
        String::from_utf8_lossy(&auto.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&auto.stdout).expect("JSON");
    assert_eq!(json["threads_auto"], true);
    assert_eq!(json["threads"], hardware::default_threads());

    let refused = run("0");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("use auto (adapt to the CPU) or a number from 1"),
        "{stderr}"
    );
}

/// The window says what ran: the reply's footer names the threads the reply ran with, and the
/// hardware panel (Models) the engine's current choice, for a fixed count and for the default.
#[test]
fn the_app_shows_the_threads_in_the_reply_footer_and_the_hardware_panel() {
    use crate::app::{ask, harness, last_reply, step_until, wait_for_model, with_model};
    use crate::common::temp_dir;
    use egui_kittest::kittest::Queryable;
    use xgen_desk::app::{AppCommand, View};

    for threads in [Some(1), None] {
        let tmp = temp_dir();
        let mut opts = with_model(tmp.path(), &smollm2());
        opts.load.threads = threads;
        let mut h = harness(opts);
        wait_for_model(&mut h);
        ask(&mut h, "Say hello in one short sentence.");
        step_until(&mut h, "the reply", |a| {
            !a.is_generating() && a.conversation().messages.len() == 2
        });
        let ran = last_reply(h.state()).stats.expect("stats").threads;
        let said = ran.describe().expect("a local reply says its threads");
        if threads.is_some() {
            assert!(ran.fixed, "{ran:?}");
            assert_eq!(said, "1 thread");
        } else {
            assert!(!ran.fixed, "{ran:?}");
            assert_eq!(ran.max, hardware::default_threads());
        }
        // "… tok/s · N tokens (M from drafts) · 1 thread · …"
        let footer = format!(" tokens{} · {said}", drafted(&h));
        assert!(
            h.get_all_by_label_contains(&footer).next().is_some(),
            "the footer says {footer:?}"
        );

        h.state_mut().run(AppCommand::ShowView(View::Models));
        h.step();
        h.step();
        h.get_by_label("Engine threads");
        let now = h
            .state()
            .engine()
            .threads_now()
            .expect("a model is loaded")
            .describe();
        if threads.is_some() {
            assert_eq!(now, "1 thread (fixed)");
        } else {
            assert!(
                now.ends_with("adapted to the CPU") || now.ends_with("the CPU is busy"),
                "{now}"
            );
        }
        assert!(
            h.get_all_by_label(&now).next().is_some(),
            "the hardware panel says {now:?}"
        );
    }
}

/// What the footer writes after the reply's token count about drafts.
fn drafted(h: &egui_kittest::Harness<'_, xgen_desk::app::XgenApp>) -> String {
    let stats = crate::app::last_reply(h.state()).stats.expect("stats");
    if stats.drafted_kept > 0 {
        format!(
            " ({} from drafts)",
            xgen_desk::summarize::report::thousands(stats.drafted_kept)
        )
    } else {
        String::new()
    }
}

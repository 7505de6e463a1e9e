//! llama.cpp's Vulkan backend on a real Vulkan device: Mesa's lavapipe, a driver that runs on
//! the CPU, so that the GPU paths (planner with device memory, layer offload, refusal, CPU
//! fallback and the app's notice) run on machines without a GPU. Built with
//! `--features vulkan` and run by `scripts/test-vulkan.sh`, which points the Vulkan loader at
//! lavapipe and asks ggml for it by index (`GGML_VK_VISIBLE_DEVICES=0`: ggml skips devices of
//! type CPU otherwise).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use xgen_desk::app::{ModelState, XgenApp};
use xgen_desk::engine::plan::GpuMemory;
use xgen_desk::engine::{plan, Hardware, ModelFacts, PlanError, PlanRequest};

use crate::common::{smollm2, temp_dir, TIMEOUT};

const GIB: u64 = 1 << 30;

/// The Vulkan device the planner sees; it must be lavapipe (so that a real GPU, or none, does
/// not pass for it).
fn lavapipe() -> GpuMemory {
    let hardware = Hardware::detect();
    let gpu = hardware.gpus.first().cloned().unwrap_or_else(|| {
        panic!(
            "no Vulkan device: run these tests with scripts/test-vulkan.sh (lavapipe as device 0); \
             the planner saw {hardware:?}"
        )
    });
    assert!(
        gpu.name.contains("llvmpipe"),
        "expected Mesa's lavapipe (llvmpipe), got {gpu:?}"
    );
    gpu
}

/// Runs the built binary with the test's environment (the Vulkan variables included) and
/// llama.cpp's log at info level on stderr.
fn xgen_desk(args: &[&str], home: &Path) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(args)
        .env("XGEN_DESK_HOME", home)
        .env("XGEN_DESK_LOG", "info")
        .env_remove("XGEN_DESK_MODEL")
        .output()
        .expect("run xgen-desk");
    assert!(
        output.status.success(),
        "xgen-desk {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `xgen-desk summarize NOTES` on SmolLM2, greedy, 2 threads, a 2048-token context, with
/// `layers` on the device and `extra` flags.
fn summarize_on_device(notes: &Path, layers: u32, extra: &[&str], home: &Path) -> Output {
    let model = smollm2();
    let layers = layers.to_string();
    let mut args = vec![
        "summarize",
        notes.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--ctx",
        "2048",
        "--greedy",
        "--threads",
        "2",
        "--gpu-layers",
        &layers,
    ];
    args.extend_from_slice(extra);
    xgen_desk(&args, home)
}

/// llama.cpp's "offloaded N/M layers to GPU" in a load's log.
fn offloaded(stderr: &str) -> (u32, u32) {
    let line = stderr
        .lines()
        // Not "offloading N repeating layers to GPU", which comes first.
        .find(|l| l.contains("offloaded ") && l.contains("layers to GPU"))
        .unwrap_or_else(|| panic!("no offload line in the log:\n{stderr}"));
    let figures = line
        .split("offloaded ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|f| f.split_once('/'))
        .unwrap_or_else(|| panic!("unreadable offload line: {line}"));
    (figures.0.parse().unwrap(), figures.1.parse().unwrap())
}

#[test]
fn planner_and_plan_command_see_the_device_and_its_memory() {
    let gpu = lavapipe();
    println!(
        "Vulkan device: {} — {:.2} GiB free of {:.2} GiB, shared with RAM: {}",
        gpu.name,
        gpu.free as f64 / GIB as f64,
        gpu.total as f64 / GIB as f64,
        gpu.shared
    );
    assert!(
        gpu.total >= GIB / 2 && gpu.free > 0 && gpu.free <= gpu.total,
        "{gpu:?}"
    );

    let home = temp_dir();
    let model = smollm2();
    let model = model.to_str().unwrap();
    let text = xgen_desk(&["plan", "-m", model, "--ctx", "2048"], home.path());
    let text = String::from_utf8_lossy(&text.stdout);
    println!("{text}");
    assert!(text.contains("all layers on the GPU"), "{text}");
    assert!(text.contains(&gpu.name) && text.contains("VRAM"), "{text}");

    let json = xgen_desk(
        &["plan", "-m", model, "--ctx", "2048", "--json"],
        home.path(),
    );
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(plan["gpu"], gpu.name.as_str(), "{plan}");
    assert_eq!(plan["gpu_layers"], plan["total_layers"], "{plan}");
    let budget = plan["vram_budget"].as_u64().unwrap();
    assert!(budget > 0 && budget < gpu.total, "{plan}");
}

/// Greedy summaries with all, half and none of the layers on lavapipe.
#[test]
fn same_greedy_tokens_fully_partly_and_not_offloaded() {
    lavapipe();
    let path = smollm2();
    let facts = ModelFacts::from_gguf(&path).unwrap();
    let total = facts.n_layer + 1;
    let home = temp_dir();
    let notes = home.path().join("notes.txt");
    std::fs::write(
        &notes,
        "The town council met on Monday night. It approved a new bicycle lane on Main Street \
         and delayed the library budget until March. Residents spoke for and against the lane \
         for two hours.\n",
    )
    .unwrap();
    let mut summaries = Vec::new();
    for layers in [total, total / 2, 0] {
        let started = Instant::now();
        let output = summarize_on_device(&notes, layers, &["--max-tokens", "48"], home.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            offloaded(&stderr),
            (layers, total),
            "llama.cpp offloaded another number of layers"
        );
        let summary = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        println!(
            "{layers}/{total} layers on lavapipe ({:.1} s): {summary}",
            started.elapsed().as_secs_f64()
        );
        assert!(!summary.is_empty());
        summaries.push((layers, summary));
    }
    let (_, cpu) = &summaries[2];
    for (layers, summary) in &summaries[..2] {
        let agree = summary
            .split_whitespace()
            .zip(cpu.split_whitespace())
            .take_while(|(a, b)| a == b)
            .count();
        println!(
            "{layers} layers offloaded: {agree} of {} words as on the CPU",
            cpu.split_whitespace().count()
        );
        // lavapipe's kernels round differently from the CPU's (another summation order), so
        // greedy decoding follows the CPU's words until a near-tie goes the other way: the first
        // sentence must agree word for word (broken offloading gives another text from the
        // first words), the rest is printed above.
        assert!(
            agree >= 12,
            "greedy decoding with {layers} layers on the device leaves the CPU's words after \
             {agree}:\n{summary}\nvs\n{cpu}"
        );
    }
}

/// Drafts in `auto` mode on a GPU backend (every layer on lavapipe): whether or not the device
/// computes a batched token bit for bit like a lone one, the summary is the one plain decoding
/// writes; drafting every match is printed beside it (the same only where the device's batches
/// are exact).
#[test]
fn auto_drafts_leave_the_summary_as_plain_decoding_writes_it_on_the_device() {
    lavapipe();
    let path = smollm2();
    let total = ModelFacts::from_gguf(&path).unwrap().n_layer + 1;
    let home = temp_dir();
    let notes = home.path().join("minutes.txt");
    let paragraph = "The harbour board approved the new ferry terminal on the north quay. It \
        will cost forty-eight million euros and take three years to build. The terminal will \
        have six berths, a waiting hall and a bicycle park. ";
    std::fs::write(&notes, paragraph.repeat(12)).unwrap();
    let summary = |drafts: &str| {
        let output = summarize_on_device(
            &notes,
            total,
            &["--max-tokens", "96", "--drafts", drafts],
            home.path(),
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        assert_eq!(offloaded(&stderr), (total, total));
        let timings = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("[prompt"))
            .unwrap_or_default()
            .to_owned();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            timings,
        )
    };
    let (plain, plain_timings) = summary("off");
    let (auto, auto_timings) = summary("auto");
    let (always, always_timings) = summary("always");
    println!("off:    {plain_timings}\nauto:   {auto_timings}\nalways: {always_timings}");
    println!(
        "drafting every match on lavapipe {} plain decoding's summary",
        if always == plain { "keeps" } else { "changes" }
    );
    assert!(!plain.trim().is_empty());
    assert_eq!(auto, plain, "auto drafts changed the summary on the device");
    assert!(
        always_timings.contains("drafted tokens kept"),
        "{always_timings}"
    );
}

/// The facts of XGen-7B-8K-Inst at Q4_K_M (4 GiB of weights): more than lavapipe's memory.
#[test]
fn more_gpu_layers_than_fit_are_refused_with_the_numbers() {
    let gpu = lavapipe();
    let facts = crate::plan::xgen7b_q4km();
    let hardware = Hardware::detect();
    let all = PlanRequest {
        n_ctx: Some(8192),
        gpu_layers: Some(facts.n_layer + 1),
        ..PlanRequest::default()
    };
    let error = plan(&facts, &hardware, &all).expect_err("4 GiB of weights exceed the device");
    let message = error.to_string();
    println!("{message}");
    let PlanError::DoesNotFit {
        vram_needed,
        vram_budget,
        ..
    } = error
    else {
        panic!("{error:?}")
    };
    assert!(vram_needed > vram_budget && vram_budget > 0, "{message}");
    assert!(
        message.contains("of VRAM") && message.contains("GiB"),
        "{message}"
    );

    // Left to the planner, as many layers as fit go to the device, the rest to the CPU.
    let chosen = plan(
        &facts,
        &hardware,
        &PlanRequest {
            n_ctx: Some(8192),
            ..PlanRequest::default()
        },
    )
    .expect("fits with part of the layers");
    println!("{chosen}");
    assert!(
        chosen.gpu_layers > 0 && chosen.gpu_layers < facts.n_layer + 1,
        "{chosen}"
    );
    assert!(chosen.vram.total() <= chosen.vram_budget, "{chosen}");
    assert!(
        chosen.reasons.iter().any(|r| r.contains(&gpu.name)),
        "{chosen}"
    );

    // The same refusal from the command line, before anything is loaded: a batch of 8192
    // tokens needs a compute buffer larger than the device.
    let home = temp_dir();
    let small = smollm2();
    let all_small = (ModelFacts::from_gguf(&small).unwrap().n_layer + 1).to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_xgen-desk"))
        .args(["plan", "-m", small.to_str().unwrap(), "--ctx", "8192"])
        .args(["--batch", "8192", "--gpu-layers", &all_small])
        .env("XGEN_DESK_HOME", home.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stderr}");
    assert!(!output.status.success(), "refused");
    assert!(
        stderr.contains("does not fit") && stderr.contains("of VRAM"),
        "{stderr}"
    );
}

/// The app with the model: run normally, lavapipe takes every layer and there is no notice;
/// as the child of [`without_a_vulkan_driver_the_app_runs_on_the_cpu_and_says_so`] (no driver
/// at all), the model runs on the CPU and the window says so.
#[test]
fn app_gpu_notice_child() {
    let no_driver = xgen_testkit::child::role().is_some_and(|r| r == "no-driver");
    let hardware = Hardware::detect();
    if no_driver {
        assert!(hardware.gpus.is_empty(), "{hardware:?}");
    } else {
        lavapipe();
    }
    let tmp = temp_dir();
    let opts = crate::app::with_model(tmp.path(), &smollm2());
    let mut h = Harness::builder()
        .with_size([1100.0, 760.0])
        .build_eframe(move |cc| XgenApp::new(&cc.egui_ctx, opts).expect("app starts"));
    let deadline = Instant::now() + TIMEOUT;
    while !matches!(h.state().model(), ModelState::Ready(_)) {
        assert!(
            Instant::now() < deadline,
            "the model did not load: {:?}",
            h.state().notices()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
    h.step();
    let ModelState::Ready(info) = h.state().model() else {
        unreachable!()
    };
    let total = ModelFacts::from_gguf(&smollm2()).unwrap().n_layer + 1;
    let notices = h.state().notices().to_vec();
    if !no_driver {
        assert_eq!(info.gpu_layers, total, "every layer on lavapipe");
        assert!(notices.is_empty(), "{notices:?}");
        return;
    }
    assert_eq!(info.gpu_layers, 0, "{info:?}");
    assert_eq!(info.gpu_backend.as_deref(), Some("Vulkan"));
    let notice = notices
        .iter()
        .find(|n| n.message.contains("GPU is not used"))
        .unwrap_or_else(|| panic!("no GPU notice: {notices:?}"));
    println!("notice: {} — {:?}", notice.message, notice.details);
    assert_eq!(
        notice.message,
        "The Vulkan GPU is not used for this model: it runs on the CPU, more slowly."
    );
    assert!(
        notice
            .details
            .as_deref()
            .is_some_and(|d| d.contains("no GPU found")),
        "{notice:?}"
    );
    h.get_by_label_contains("The Vulkan GPU is not used for this model");
    println!("CHILD PASSED");
}

#[test]
fn without_a_vulkan_driver_the_app_runs_on_the_cpu_and_says_so() {
    lavapipe();
    // The loader finds no driver at all; ggml is not asked for a device by index (it would
    // refuse an index that does not exist).
    let output = xgen_testkit::child::command("vulkan::app_gpu_notice_child", "no-driver")
        .env("VK_ICD_FILENAMES", "/nonexistent/vulkan-icd.json")
        .env_remove("GGML_VK_VISIBLE_DEVICES")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("CHILD PASSED"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

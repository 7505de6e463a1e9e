//! The model manager's screen: the XGen card with its one-click setup, local GGUF files,
//! installed models, inference servers, and what this computer has.

use egui::RichText;

use super::{ModelManager, SetupState};
use crate::app::command::AppCommand;
use crate::app::model::ModelState;
use crate::app::shared::Shared;
use crate::catalog::{quant_label, CatalogModel, QuantType};
use crate::engine::hardware::Machine;
use crate::engine::plan::kv_name;
use crate::engine::{plan, ModelFacts, PlanRequest};
use crate::hub::format_bytes;
use crate::pipeline::Stage;

/// The shape of the catalog's XGen-7B models (LLaMA-7B with XGen's vocabulary), for planning
/// before a file exists: the weights of a `quant` file split evenly over the layers, with the
/// embeddings and the output layer each the size of one vocabulary-wide matrix.
fn catalog_facts(model: &CatalogModel, quant: QuantType) -> ModelFacts {
    const LAYERS: u32 = 32;
    let file_size = model.quantized_size(quant);
    let per_matrix_row = file_size / model.parameters.max(1);
    let vocab_matrix = 51_200 * 4096 * per_matrix_row.max(1);
    let layers_total = file_size.saturating_sub(2 * vocab_matrix);
    ModelFacts {
        name: model.display_name.to_owned(),
        architecture: "llama".to_owned(),
        file_size,
        n_layer: LAYERS,
        n_embd: 4096,
        n_head: 32,
        n_head_kv: 32,
        head_dim_k: 128,
        head_dim_v: 128,
        n_ff: 11_008,
        n_vocab: 51_200,
        n_ctx_train: model.context_length,
        weights_bytes: file_size,
        layer_bytes: vec![layers_total / u64::from(LAYERS); LAYERS as usize],
        output_bytes: vocab_matrix,
        tied_embeddings: false,
    }
}

/// What the memory planner would choose for `quant` on this computer, in words.
fn plan_text(hardware: &Machine, model: &CatalogModel, quant: QuantType) -> (String, bool) {
    let hardware = &hardware.memory;
    let request = PlanRequest {
        n_ctx: Some(model.context_length),
        ..PlanRequest::default()
    };
    match plan(&catalog_facts(model, quant), hardware, &request) {
        Ok(p) => {
            let mut text = format!("{} RAM", format_bytes(p.ram.total()));
            if p.vram.total() > 0 {
                text.push_str(&format!(" + {} VRAM", format_bytes(p.vram.total())));
            }
            text.push_str(&format!(", KV cache {}", kv_name(p.kv_cache)));
            (text, true)
        }
        Err(_) => ("does not fit in this computer's memory".to_owned(), false),
    }
}

impl ModelManager {
    /// Draws the model manager.
    pub(crate) fn ui(&mut self, ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("Models");
                ui.add_space(6.0);
                self.catalog_card_ui(ui, shared, out);
                ui.add_space(10.0);
                self.installed_ui(ui, shared, out);
                ui.add_space(10.0);
                self.servers_ui(ui, shared, out);
                ui.add_space(10.0);
                hardware_ui(ui, shared);
            });
    }

    fn catalog_card_ui(&mut self, ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
        let model = shared.opts.setup_model;
        egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(RichText::new(model.display_name).heading().strong());
        ui.label(format!(
            "{} · {}K context · {:.1}B parameters · from huggingface.co/{}",
            if model.instruct { "Chat / instructions" } else { "Base model" },
            model.context_length / 1024,
            model.parameters as f64 / 1e9,
            model.repo
        ));
        if !model.license_note.is_empty() {
            ui.weak(model.license_note);
        }
        ui.add_space(4.0);
        let quant = self.setup.quant;
        let hardware = shared.model.hardware();
        egui::Grid::new("quant-choices")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                ui.strong("4-bit choice");
                ui.strong("File");
                ui.strong("Memory at 8K context on this computer");
                ui.strong("");
                ui.end_row();
                for q in [QuantType::Q4KM, QuantType::Q4_0, QuantType::Q5KM, QuantType::Q8_0] {
                    let size = model.quantized_size(q);
                    ui.add_enabled_ui(!self.setup.running, |ui| {
                        ui.radio_value(&mut self.setup.quant, q, quant_label(q));
                    });
                    ui.label(format_bytes(size));
                    match hardware.map(|hw| plan_text(hw, model, q)) {
                        Some((text, true)) => {
                            ui.label(text);
                        }
                        Some((text, false)) => {
                            ui.colored_label(ui.visuals().warn_fg_color, text);
                        }
                        None => {
                            ui.weak("measuring this computer…");
                        }
                    }
                    ui.label(if q == QuantType::Q4KM {
                        "recommended"
                    } else {
                        ""
                    });
                    ui.end_row();
                }
            });
        let download = model.download_size();
        let disk = download + model.f16_size() + model.quantized_size(quant);
        ui.label(format!(
            "Download {} · disk needed during setup {} (the download and the intermediate F16 file can be removed afterwards)",
            format_bytes(download),
            format_bytes(disk)
        ));
        ui.add_space(6.0);
        if self.setup.running {
            setup_progress_ui(ui, &self.setup);
            if ui.button("Cancel").clicked() {
                out.push(AppCommand::CancelSetup);
            }
        } else {
            if !self.setup.stages.is_empty() {
                setup_progress_ui(ui, &self.setup);
            }
            if let Some(outcome) = &self.setup.outcome {
                ui.colored_label(ui.visuals().warn_fg_color, outcome);
            }
            let installed = self
                .installed
                .iter()
                .any(|m| m.id.starts_with(model.id) && m.quantization == quant_label(quant));
            let label = if self.setup.outcome.is_some() {
                "Resume"
            } else if installed {
                "Set up again"
            } else {
                "Download and set up"
            };
            if ui
                .button(RichText::new(label).strong())
                .on_hover_text("Download the checkpoint, convert it to GGUF, quantize it and check it")
                .clicked()
            {
                out.push(AppCommand::StartSetup);
            }
        }
    });
    }

    fn installed_ui(&mut self, ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
        ui.horizontal(|ui| {
            ui.strong("Installed models");
            if ui
                .button("Open model file…")
                .on_hover_text("Use any GGUF file on this computer")
                .clicked()
            {
                out.push(AppCommand::PickModelFile);
            }
        });
        if self.installed.is_empty() {
            ui.weak("None yet.");
            return;
        }
        let loaded = match shared.model.state() {
            ModelState::Ready(info) if info.server.is_none() => Some(info.path.clone()),
            ModelState::Loading { path, .. } => Some(path.clone()),
            ModelState::Ready(_) | ModelState::Connecting { .. } | ModelState::Empty => None,
        };
        let mut delete = None;
        egui::Grid::new("installed")
            .striped(true)
            .num_columns(6)
            .show(ui, |ui| {
                for m in &self.installed {
                    ui.label(&m.display_name);
                    ui.label(&m.quantization);
                    ui.label(format_bytes(m.size_bytes));
                    ui.label(if m.context_length > 0 {
                        format!("{} ctx", m.context_length)
                    } else {
                        String::new()
                    });
                    if loaded.as_deref() == Some(m.path.as_path()) {
                        ui.label("in use");
                    } else if ui.button("Use").clicked() {
                        out.push(AppCommand::LoadModel(m.path.clone()));
                    }
                    let what = if m.owns_file() {
                        "Delete"
                    } else {
                        "Remove from list"
                    };
                    if ui
                        .button(what)
                        .on_hover_text(m.path.display().to_string())
                        .clicked()
                    {
                        delete = Some(m.id.clone());
                    }
                    ui.end_row();
                }
            });
        if delete.is_some() {
            self.confirm_delete = delete;
        }
        if let Some(id) = self.confirm_delete.clone() {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, format!("Delete {id}?"));
                if ui.button("Yes, delete").clicked() {
                    out.push(AppCommand::DeleteModel(id.clone()));
                    self.confirm_delete = None;
                }
                if ui.button("Keep").clicked() {
                    self.confirm_delete = None;
                }
            });
        }
    }

    /// Inference servers: the saved ones (Use, Remove), the one in use and what it serves, and a
    /// form to add one (address, API key, model, parts at a time) with a connection check.
    fn servers_ui(&mut self, ui: &mut egui::Ui, shared: &Shared, out: &mut Vec<AppCommand>) {
        ui.strong("Inference servers");
        ui.weak("Use llama-server or vLLM on another computer instead of this one (see the README for serving XGen to a team).");
        let in_use = shared.model.server().map(crate::remote::RemoteEngine::info);
        let connecting = match shared.model.state() {
            ModelState::Connecting { url } => Some(url.clone()),
            _ => None,
        };
        if !self.servers.servers.is_empty() {
            egui::Grid::new("servers")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for server in &self.servers.servers {
                        ui.label(&server.url);
                        ui.label(server.model.as_deref().unwrap_or("first model listed"));
                        if in_use.as_ref().is_some_and(|s| s.url == server.url) {
                            ui.label("in use");
                        } else if ui.button("Use").clicked() {
                            out.push(AppCommand::ConnectServer(server.clone()));
                        }
                        if ui.button("Remove").clicked() {
                            out.push(AppCommand::RemoveServer(server.url.clone()));
                        }
                        ui.end_row();
                    }
                });
        }
        if let Some(info) = in_use {
            let counts = match info.counts {
                crate::remote::TokenCounts::Exact => "exact token counts (XGen's tokenizer)",
                crate::remote::TokenCounts::Server => "token counts from the server",
                crate::remote::TokenCounts::Estimated => "token counts estimated",
            };
            ui.label(format!(
                "In use: {} on {} ({}) · {} tokens per request · {} part{} at a time · {counts}",
                info.model,
                info.url,
                match info.kind {
                    crate::remote::ServerKind::LlamaServer => "llama-server",
                    crate::remote::ServerKind::OpenAi => "OpenAI-compatible",
                },
                info.n_ctx,
                info.parallel,
                if info.parallel == 1 { "" } else { "s" },
            ));
            if let Some(warning) = &info.warning {
                ui.colored_label(ui.visuals().warn_fg_color, warning);
            }
            if info.models.len() > 1 {
                // The models of its /v1/models: choosing another checks the server again with it.
                let mut chosen = info.model.clone();
                let label = ui.label("Model on this server");
                egui::ComboBox::from_id_salt("server-model")
                    .selected_text(&chosen)
                    .show_ui(ui, |ui| {
                        for model in &info.models {
                            ui.selectable_value(&mut chosen, model.clone(), model);
                        }
                    })
                    .response
                    .labelled_by(label.id);
                if chosen != info.model {
                    let saved = self
                        .servers
                        .servers
                        .iter()
                        .find(|s| s.url == info.url)
                        .cloned();
                    out.push(AppCommand::ConnectServer(crate::remote::ServerConfig {
                        model: Some(chosen),
                        ..saved.unwrap_or_else(|| crate::remote::ServerConfig {
                            url: info.url.clone(),
                            ..crate::remote::ServerConfig::default()
                        })
                    }));
                }
            }
        }
        egui::CollapsingHeader::new("Add a server")
            .default_open(self.servers.servers.is_empty())
            .show(ui, |ui| self.server_form_ui(ui, connecting.as_deref(), out));
    }

    /// The form that adds a server: its address, key, model and parts at a time.
    fn server_form_ui(
        &mut self,
        ui: &mut egui::Ui,
        connecting: Option<&str>,
        out: &mut Vec<AppCommand>,
    ) {
        let form = &mut self.server_form;
        egui::Grid::new("server-form")
            .num_columns(2)
            .show(ui, |ui| {
                let label = ui.label("Server URL");
                ui.add(
                    egui::TextEdit::singleline(&mut form.url)
                        .hint_text("http://gpu-box:8080")
                        .desired_width(320.0),
                )
                .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("API key");
                ui.add(
                    egui::TextEdit::singleline(&mut form.api_key)
                        .password(true)
                        .hint_text(
                            "if the server wants one (kept in the system's credential store)",
                        )
                        .desired_width(320.0),
                )
                .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Model");
                ui.add(
                    egui::TextEdit::singleline(&mut form.model)
                        .hint_text("empty: the first the server lists")
                        .desired_width(320.0),
                )
                .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Parts at a time");
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(&mut form.parallel).range(0..=64))
                        .labelled_by(label.id);
                    ui.weak("0: as many as the server has slots");
                });
                ui.end_row();
            });
        if let Some(warning) = crate::remote::plain_http_warning(&form.url) {
            ui.colored_label(ui.visuals().warn_fg_color, warning);
        }
        if let Some(error) = &form.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let mut connect = false;
        ui.horizontal(|ui| {
            let ready = !form.url.trim().is_empty() && connecting.is_none();
            connect = ui
                .add_enabled(ready, egui::Button::new("Connect"))
                .on_hover_text("Check the server (address, key, model) and use it")
                .clicked();
            if let Some(url) = connecting {
                ui.spinner();
                ui.label(format!("Checking {url}…"));
            }
        });
        if connect {
            out.push(AppCommand::ConnectServer(form.config()));
        }
    }
}

/// What this computer has, and the memory plan of the loaded model.
fn hardware_ui(ui: &mut egui::Ui, shared: &Shared) {
    ui.strong("This computer");
    let Some(hw) = shared.model.hardware() else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Measuring this computer…");
        });
        return;
    };
    egui::Grid::new("hardware").num_columns(2).show(ui, |ui| {
        ui.label("CPU");
        ui.label(format!(
            "{} physical cores, {} threads",
            hw.physical_cores, hw.logical_cores
        ));
        ui.end_row();
        ui.label("Engine threads");
        ui.label(shared.model.engine().threads_now().map_or_else(
            || {
                if hw.adaptive_threads {
                    format!("adapted to the CPU, up to {}", hw.threads)
                } else {
                    format!("{} (fixed)", hw.threads)
                }
            },
            |now| now.describe(),
        ));
        ui.end_row();
        ui.label("Memory");
        ui.label(format!(
            "{} total, {} available",
            format_bytes(hw.memory.ram_total),
            format_bytes(hw.memory.ram_available)
        ));
        ui.end_row();
        ui.label("GPU backend");
        ui.label(match (hw.gpu_backend, shared.model.state()) {
            (Some(b), ModelState::Ready(info)) => {
                format!("{b} — {} layers offloaded", info.gpu_layers)
            }
            (Some(b), _) => format!("{b} (compiled in)"),
            (None, _) => "none: CPU only (build with --features metal, cuda or vulkan)".to_owned(),
        });
        ui.end_row();
        for gpu in &hw.memory.gpus {
            ui.label("GPU");
            ui.label(format!(
                "{} — {} free of {}{}",
                gpu.name,
                format_bytes(gpu.free),
                format_bytes(gpu.total),
                if gpu.shared { " (shared with RAM)" } else { "" }
            ));
            ui.end_row();
        }
        if hw.gpu_backend.is_some() && hw.memory.gpus.is_empty() {
            ui.label("GPU");
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "no usable GPU found: running on the CPU",
            );
            ui.end_row();
        }
        if let Some(plan) = shared.model.plan() {
            ui.label("Memory plan");
            ui.label(plan.summary()).on_hover_text(plan.to_string());
            ui.end_row();
        }
    });
}

/// The stages of the setup, each with its progress.
fn setup_progress_ui(ui: &mut egui::Ui, setup: &SetupState) {
    for stage in [
        Stage::Download,
        Stage::Convert,
        Stage::Quantize,
        Stage::Verify,
    ] {
        let Some(p) = setup.stage(stage) else {
            continue;
        };
        let mut text = format!("{} ", stage_name(stage));
        if stage == Stage::Download && p.total > 0 {
            text.push_str(&format!(
                "{} of {}",
                format_bytes(p.done),
                format_bytes(p.total)
            ));
        } else if p.total > 0 {
            text.push_str(&format!("{:.0}%", p.fraction() * 100.0));
        }
        if let Some(rate) = p.rate.filter(|_| stage == Stage::Download) {
            let rate = rate as u64;
            text.push_str(&format!(" · {}/s", format_bytes(rate)));
        }
        if let Some(eta) = p.eta {
            text.push_str(&format!(" · {} left", format_duration(eta.as_secs())));
        }
        if let Some(item) = &p.item {
            text.push_str(&format!(" · {item}"));
        }
        let fraction = p.fraction() as f32;
        ui.add(egui::ProgressBar::new(fraction).text(text));
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Download => "Downloading",
        Stage::Convert => "Converting to GGUF",
        Stage::Quantize => "Quantizing",
        Stage::Verify => "Checking",
    }
}

fn format_duration(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}h {:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

//! Where the app keeps its files, which Hub and model it sets up, and how it reads documents.

use anyhow::{Context as _, Result};

use crate::catalog::{default_model, CatalogModel};
use crate::engine::LoadSettings;
use crate::hub::HubOptions;
use crate::isolate::Isolation;
use crate::paths::AppPaths;
use crate::pipeline::SetupOptions;

/// Where the app keeps its files and which Hub and model it sets up.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Data, models and work directories.
    pub paths: AppPaths,
    /// How to reach the Hub.
    pub hub: HubOptions,
    /// The model the "Download" button sets up.
    pub setup_model: &'static CatalogModel,
    /// Load settings the app starts from (tests lower the thread count).
    pub load: LoadSettings,
    /// Load the last used model at start.
    pub autoload: bool,
    /// How documents are read: in a child process of this program, with time and memory
    /// limits (tests name the xgen-desk binary, since they run inside the test harness).
    pub isolation: Isolation,
}

impl AppOptions {
    /// Options from the environment (`XGEN_DESK_HOME`, `HF_ENDPOINT`, `HF_TOKEN`, ...).
    ///
    /// # Errors
    /// When no home directory can be found.
    pub fn from_env() -> Result<Self> {
        let setup = SetupOptions::from_env().context("could not find the app's data directory")?;
        Ok(Self {
            paths: setup.paths,
            hub: setup.hub,
            setup_model: default_model(),
            load: LoadSettings::default(),
            autoload: true,
            isolation: Isolation::current().context("could not find this program's file")?,
        })
    }
}

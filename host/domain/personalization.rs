//! What a shipment's plugin run looks like to the seller: queued, done, or
//! failed with the reason and the plugin's stderr.
//!
//! The transitions are methods on [`super::Shipment`]
//! (`queue_personalization`, `apply_personalization`, `fail_personalization`),
//! which check the shipment's state first: a prepared shipment never takes
//! plugin output.

use super::Timestamp;

/// Item ids a plugin's items get (`pl1`, `pl2`, ...), so a new run can replace them.
pub const PLUGIN_ITEM_PREFIX: &str = "pl";

/// Where a shipment's personalization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalizationStatus {
    /// Waiting in the job table for a plugin slot (also while it runs).
    Queued,
    /// The last run's items and files are attached.
    Succeeded,
    /// The last run failed; nothing of it is attached.
    Failed,
}

impl PersonalizationStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// Why a run failed: a stable code (`timeout`, `out_of_fuel`, ...) and a
/// sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    pub code: String,
    pub message: String,
}

/// What the last finished run measured and printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunRecord {
    /// BLAKE3 of the component that ran.
    pub plugin_version: String,
    pub fuel_used: u64,
    pub wall_time_ms: u64,
    /// Captured stdout (bounded by the plugin limits).
    pub stdout: String,
    /// Captured stderr (bounded by the plugin limits).
    pub stderr: String,
    /// The host log lines, `level: message` per line (bounded).
    pub log: String,
}

/// A shipment's personalization by its product's plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Personalization {
    /// The plugin's registry name.
    pub plugin: String,
    pub status: PersonalizationStatus,
    /// Runs finished (succeeded or failed).
    pub runs: u32,
    pub queued_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Set when the last run failed.
    pub failure: Option<RunFailure>,
    /// The last finished run, if any.
    pub last_run: Option<RunRecord>,
}

/// What a successful run hands to the shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOutput {
    /// `(label, value)` in the plugin's order.
    pub items: Vec<(String, String)>,
    /// Stored output files.
    pub files: Vec<super::FileRef>,
}

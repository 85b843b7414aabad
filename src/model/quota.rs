//! What a user may hold ([`Quotas`]), and an administrator's changes to the defaults for one
//! user ([`QuotaOverrides`]), as stored with the user.

use serde::{Deserialize, Serialize};

/// One user's quotas, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quotas {
    /// Functions the user may own.
    pub functions: u32,
    /// Versions kept per function; older ones that no alias names are pruned.
    pub versions_per_function: u32,
    /// Code stored for all of the user's functions (every version kept), in MiB.
    pub code_mb: u64,
    /// Invocations of all of the user's functions running at once.
    pub concurrency: u32,
    /// Memory the user's instances may reserve at once (running, idle and `min_warm`), in MB.
    pub memory_mb: u64,
    /// The sum of `min_warm` over the user's functions.
    pub min_warm: u32,
    /// API tokens the user may hold (browser sessions are not counted).
    pub tokens: u32,
}

impl Quotas {
    /// No limit at all (an administrator's, unless the settings say otherwise).
    pub const UNLIMITED: Quotas = Quotas {
        functions: u32::MAX,
        versions_per_function: u32::MAX,
        code_mb: u64::MAX,
        concurrency: u32::MAX,
        memory_mb: u64::MAX,
        min_warm: u32::MAX,
        tokens: u32::MAX,
    };
}

/// Per-user changes to the defaults, as an administrator sets them: `None` keeps the default.
/// (Also the options of `kindling admin quotas`.)
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, clap::Args,
)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverrides {
    /// Functions the user may own.
    #[arg(long)]
    pub functions: Option<u32>,
    /// Versions kept per function.
    #[arg(long)]
    pub versions_per_function: Option<u32>,
    /// Code kept for all of the user's functions, in MiB.
    #[arg(long)]
    pub code_mb: Option<u64>,
    /// Invocations of the user's functions running at once.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Memory the user's instances may reserve at once, in MB.
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// The sum of `min_warm` over the user's functions.
    #[arg(long)]
    pub min_warm: Option<u32>,
    /// API tokens the user may hold.
    #[arg(long)]
    pub tokens: Option<u32>,
}

impl QuotaOverrides {
    /// These changes, and `earlier`'s where these make none.
    pub fn or(self, earlier: QuotaOverrides) -> QuotaOverrides {
        QuotaOverrides {
            functions: self.functions.or(earlier.functions),
            versions_per_function: self.versions_per_function.or(earlier.versions_per_function),
            code_mb: self.code_mb.or(earlier.code_mb),
            concurrency: self.concurrency.or(earlier.concurrency),
            memory_mb: self.memory_mb.or(earlier.memory_mb),
            min_warm: self.min_warm.or(earlier.min_warm),
            tokens: self.tokens.or(earlier.tokens),
        }
    }

    /// `base` with these changes.
    pub fn apply(&self, base: Quotas) -> Quotas {
        Quotas {
            functions: self.functions.unwrap_or(base.functions),
            versions_per_function: self
                .versions_per_function
                .unwrap_or(base.versions_per_function),
            code_mb: self.code_mb.unwrap_or(base.code_mb),
            concurrency: self.concurrency.unwrap_or(base.concurrency),
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            min_warm: self.min_warm.unwrap_or(base.min_warm),
            tokens: self.tokens.unwrap_or(base.tokens),
        }
    }
}

//! The records every layer shares — a function version, an invocation, a user, a token and a
//! user's quotas — and the words they are written in (language, runtime, status, start kind).
//! This module imports none of the others: the store keeps these, the engine makes invocations,
//! the API shows them.

mod account;
mod function;
mod invocation;
mod quota;

pub use account::{Role, TokenInfo, TokenKind, User};
pub use function::{Function, Language, RuntimeKind, VersionKey};
pub use invocation::{FunctionError, Invocation, StartKind, Status};
pub use quota::{QuotaOverrides, Quotas};

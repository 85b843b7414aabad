//! The records every layer shares — a function version, an invocation, a user and a token — and
//! the words they are written in (language, runtime, status, start kind). This module imports none
//! of the others: the store keeps these, the engine makes invocations, the API shows them.

mod account;
mod function;
mod invocation;

pub use account::{Role, TokenInfo, TokenKind, User};
pub use function::{Function, Language, RuntimeKind, VersionKey};
pub use invocation::{FunctionError, Invocation, StartKind, Status};

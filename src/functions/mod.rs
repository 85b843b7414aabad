//! Functions: how what a user registers is checked ([`validate`]), and the registry that keeps
//! them ([`Registry`]). A function version itself is a [`crate::model::Function`].

pub mod registry;
pub mod validate;

pub use registry::{Registry, RegistryError};
pub use validate::{FunctionInput, ValidationError};

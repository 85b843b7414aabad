//! Checking what users send for a function; every rule answers with a precise message.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::Limits;
use crate::model::{Function, Language, RuntimeKind};

/// The body of `POST /functions` and `PUT /functions/{id}`. On update every field is optional
/// and a missing one keeps its current value; `route: null` removes the route.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionInput {
    /// `^[A-Za-z0-9_-]{1,64}$`, unique per owner.
    pub name: Option<String>,
    /// `python` or `javascript`.
    pub language: Option<String>,
    /// Source code (at most 5 MiB by default).
    pub code: Option<String>,
    /// Handler name; default `handler`.
    pub handler: Option<String>,
    /// HTTP route such as `/hello`, served at `/run/hello`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub route: Option<Option<String>>,
    /// Seconds, 1..=900; default 30.
    pub timeout: Option<i64>,
    /// 64..=10240; default 128.
    pub memory_mb: Option<i64>,
    pub env: Option<BTreeMap<String, String>>,
    /// `sandbox`, `docker` or `gvisor`; default the server's.
    pub runtime: Option<String>,
    /// Most invocations running at once (1..=1000); `null` means the server's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub max_concurrency: Option<Option<i64>>,
    /// Instances kept specialised and ready at all times (0..=100); default 0.
    pub min_warm: Option<i64>,
    /// Seconds an idle instance is kept (0..=86400); `null` means the server's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub keep_alive_secs: Option<Option<i64>>,
}

/// Distinguishes `"route": null` (remove it) from no `route` at all (keep it).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A rule the input broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// The input field it concerns: `name`, `timeout`, `env`, …
    pub field: &'static str,
    /// Stable, machine-readable: `invalid_name`, `unknown_language`, `code_too_large`, …
    pub code: &'static str,
    pub message: String,
    pub problem: Problem,
}

/// What kind of rule was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The value is not acceptable.
    Invalid,
    /// The value is over a size limit.
    TooLarge,
}

fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field,
        code,
        message: message.into(),
        problem: Problem::Invalid,
    }
}

/// The checked fields of a function, before it gets an id and a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub name: String,
    pub language: Language,
    pub code: String,
    pub handler: String,
    pub route: Option<String>,
    pub timeout: u32,
    pub memory_mb: u32,
    pub env: BTreeMap<String, String>,
    pub runtime: RuntimeKind,
    pub max_concurrency: Option<u32>,
    pub min_warm: u32,
    pub keep_alive_secs: Option<u32>,
}

/// Checks a new function; `name`, `language` and `code` are required.
pub fn new_function(
    input: FunctionInput,
    limits: &Limits,
    default_runtime: RuntimeKind,
) -> Result<Draft, ValidationError> {
    let require = |field: Option<String>, name: &'static str| {
        field.ok_or_else(|| invalid(name, "missing_field", format!("'{name}' is required")))
    };
    let name = require(input.name, "name")?;
    let language = require(input.language, "language")?;
    let code = require(input.code, "code")?;
    finish(
        Draft {
            name,
            language: language_of(&language)?,
            code,
            handler: input.handler.unwrap_or_else(|| "handler".to_owned()),
            route: input.route.flatten(),
            timeout: timeout_of(
                input.timeout.unwrap_or(limits.default_timeout_secs.into()),
                limits,
            )?,
            memory_mb: memory_of(
                input.memory_mb.unwrap_or(limits.default_memory_mb.into()),
                limits,
            )?,
            env: input.env.unwrap_or_default(),
            runtime: runtime_of(input.runtime.as_deref(), default_runtime)?,
            max_concurrency: input
                .max_concurrency
                .flatten()
                .map(max_concurrency_of)
                .transpose()?,
            min_warm: input.min_warm.map(min_warm_of).transpose()?.unwrap_or(0),
            keep_alive_secs: input
                .keep_alive_secs
                .flatten()
                .map(keep_alive_of)
                .transpose()?,
        },
        limits,
    )
}

/// Checks an update of `current` whose code is `current_code`.
pub fn update(
    current: &Function,
    current_code: String,
    input: FunctionInput,
    limits: &Limits,
) -> Result<Draft, ValidationError> {
    let language = match input.language {
        Some(language) => language_of(&language)?,
        None => current.language,
    };
    finish(
        Draft {
            name: input.name.unwrap_or_else(|| current.name.clone()),
            language,
            code: input.code.unwrap_or(current_code),
            handler: input.handler.unwrap_or_else(|| current.handler.clone()),
            route: input.route.unwrap_or_else(|| current.route.clone()),
            timeout: match input.timeout {
                Some(timeout) => timeout_of(timeout, limits)?,
                None => current.timeout,
            },
            memory_mb: match input.memory_mb {
                Some(memory) => memory_of(memory, limits)?,
                None => current.memory_mb,
            },
            env: input.env.unwrap_or_else(|| current.env.clone()),
            runtime: runtime_of(input.runtime.as_deref(), current.runtime)?,
            max_concurrency: match input.max_concurrency {
                Some(value) => value.map(max_concurrency_of).transpose()?,
                None => current.max_concurrency,
            },
            min_warm: match input.min_warm {
                Some(value) => min_warm_of(value)?,
                None => current.min_warm,
            },
            keep_alive_secs: match input.keep_alive_secs {
                Some(value) => value.map(keep_alive_of).transpose()?,
                None => current.keep_alive_secs,
            },
        },
        limits,
    )
}

/// The checks every draft goes through, new or updated.
fn finish(mut draft: Draft, limits: &Limits) -> Result<Draft, ValidationError> {
    check_name(&draft.name)?;
    check_code(&draft.code, limits)?;
    check_handler(&draft.handler)?;
    draft.route = draft
        .route
        .as_deref()
        .map(normalise_route)
        .transpose()?
        .flatten();
    check_env(&draft.env)?;
    Ok(draft)
}

const MAX_NAME: usize = 64;
const MAX_HANDLER: usize = 64;
const MAX_ROUTE: usize = 256;
/// AWS Lambda's limit on the total size of a function's environment.
const MAX_ENV_BYTES: usize = 4096;

/// Names the API's own routes take (`/functions/invoke`, `/metrics/summary`, …): a function by
/// such a name could not be reached by it.
const RESERVED_NAMES: &[&str] = &["invoke", "execute", "summary", "system", "timeseries"];

pub fn check_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(invalid(
            "name",
            "invalid_name",
            "a function needs a name: 1 to 64 letters, digits, '_' or '-'",
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(invalid(
            "name",
            "reserved_name",
            format!("{name:?} is the name of one of the API's own routes; choose another"),
        ));
    }
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "name",
            "invalid_name",
            format!(
                "invalid function name {name:?}: use 1 to {MAX_NAME} letters, digits, '_' or '-'"
            ),
        ))
    }
}

fn language_of(language: &str) -> Result<Language, ValidationError> {
    language
        .parse()
        .map_err(|e| invalid("language", "unknown_language", e))
}

fn runtime_of(runtime: Option<&str>, default: RuntimeKind) -> Result<RuntimeKind, ValidationError> {
    runtime.map_or(Ok(default), |r| {
        r.parse()
            .map_err(|e| invalid("runtime", "unknown_runtime", e))
    })
}

fn timeout_of(timeout: i64, limits: &Limits) -> Result<u32, ValidationError> {
    bounded(
        "timeout",
        "timeout_out_of_range",
        timeout,
        1..=limits.max_timeout_secs.into(),
    )
}

fn memory_of(memory_mb: i64, limits: &Limits) -> Result<u32, ValidationError> {
    let range = i64::from(limits.min_memory_mb)..=i64::from(limits.max_memory_mb);
    bounded("memory_mb", "memory_out_of_range", memory_mb, range)
}

/// `value` as a `u32` within `range`, or an error naming `field`.
fn bounded(
    field: &'static str,
    code: &'static str,
    value: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<u32, ValidationError> {
    if range.contains(&value) {
        Ok(value as u32)
    } else {
        Err(invalid(
            field,
            code,
            format!(
                "{field} {value} is out of range: use {} to {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

fn max_concurrency_of(value: i64) -> Result<u32, ValidationError> {
    bounded(
        "max_concurrency",
        "max_concurrency_out_of_range",
        value,
        1..=1000,
    )
}

fn min_warm_of(value: i64) -> Result<u32, ValidationError> {
    bounded("min_warm", "min_warm_out_of_range", value, 0..=100)
}

fn keep_alive_of(value: i64) -> Result<u32, ValidationError> {
    bounded(
        "keep_alive_secs",
        "keep_alive_out_of_range",
        value,
        0..=86_400,
    )
}

fn check_code(code: &str, limits: &Limits) -> Result<(), ValidationError> {
    if code.trim().is_empty() {
        return Err(invalid("code", "empty_code", "'code' must not be empty"));
    }
    if code.len() > limits.max_code_bytes {
        return Err(ValidationError {
            problem: Problem::TooLarge,
            ..invalid(
                "code",
                "code_too_large",
                format!(
                    "code is {} bytes; the limit is {} bytes",
                    code.len(),
                    limits.max_code_bytes
                ),
            )
        });
    }
    if code.contains('\0') {
        return Err(invalid(
            "code",
            "invalid_code",
            "code must not contain NUL characters",
        ));
    }
    Ok(())
}

fn check_handler(handler: &str) -> Result<(), ValidationError> {
    let mut bytes = handler.bytes();
    let valid = handler.len() <= MAX_HANDLER
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "handler",
            "invalid_handler",
            format!(
                "invalid handler {handler:?}: use an identifier (letters, digits, '_', not starting with a digit)"
            ),
        ))
    }
}

/// `hello`, `/hello/` → `/hello`; an empty route means none.
fn normalise_route(route: &str) -> Result<Option<String>, ValidationError> {
    let trimmed = route.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    let valid = trimmed.len() < MAX_ROUTE
        && trimmed.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        });
    if valid {
        Ok(Some(format!("/{trimmed}")))
    } else {
        Err(invalid(
            "route",
            "invalid_route",
            format!(
                "invalid route {route:?}: use path segments of letters, digits, '-', '_', '.' or '~', such as /hello/world"
            ),
        ))
    }
}

fn check_env(env: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    let mut total = 0;
    for (key, value) in env {
        let mut bytes = key.bytes();
        let valid_key = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_key {
            return Err(invalid(
                "env",
                "invalid_env",
                format!(
                    "invalid environment variable name {key:?}: use letters, digits and '_', not starting with a digit"
                ),
            ));
        }
        if value.contains('\0') {
            return Err(invalid(
                "env",
                "invalid_env",
                format!("environment variable {key} contains a NUL character"),
            ));
        }
        total += key.len() + value.len();
    }
    if total > MAX_ENV_BYTES {
        return Err(invalid(
            "env",
            "env_too_large",
            format!("environment variables take {total} bytes; the limit is {MAX_ENV_BYTES}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, language: &str, code: &str) -> FunctionInput {
        FunctionInput {
            name: Some(name.into()),
            language: Some(language.into()),
            code: Some(code.into()),
            ..FunctionInput::default()
        }
    }

    fn check(input: FunctionInput) -> Result<Draft, &'static str> {
        new_function(input, &Limits::default(), RuntimeKind::Sandbox).map_err(|e| e.code)
    }

    #[test]
    fn fills_in_defaults() {
        let draft = check(input("hello", "python", "def handler(): pass")).unwrap();
        assert_eq!(draft.handler, "handler");
        assert_eq!(draft.timeout, 30);
        assert_eq!(draft.memory_mb, 128);
        assert_eq!(draft.route, None);
        assert_eq!(draft.language, Language::Python);
    }

    #[test]
    fn names_each_broken_rule() {
        assert_eq!(check(input("bad name", "python", "x")), Err("invalid_name"));
        assert_eq!(
            check(input(&"a".repeat(65), "python", "x")),
            Err("invalid_name")
        );
        assert_eq!(check(input("ok", "ruby", "x")), Err("unknown_language"));
        assert_eq!(check(input("ok", "python", " ")), Err("empty_code"));
        let big = "x".repeat(5 * 1024 * 1024 + 1);
        assert_eq!(check(input("ok", "python", &big)), Err("code_too_large"));
        let mut i = input("ok", "python", "x");
        i.timeout = Some(0);
        assert_eq!(check(i), Err("timeout_out_of_range"));
        let mut i = input("ok", "python", "x");
        i.memory_mb = Some(10_241);
        assert_eq!(check(i), Err("memory_out_of_range"));
        let mut i = input("ok", "python", "x");
        i.handler = Some("1abc".into());
        assert_eq!(check(i), Err("invalid_handler"));
        let mut i = input("ok", "python", "x");
        i.route = Some(Some("/a/../b".into()));
        assert_eq!(check(i), Err("invalid_route"));
        let mut i = input("ok", "python", "x");
        i.env = Some([("1X".to_owned(), "v".to_owned())].into());
        assert_eq!(check(i), Err("invalid_env"));
        assert_eq!(
            check(FunctionInput {
                name: Some("x".into()),
                ..FunctionInput::default()
            }),
            Err("missing_field")
        );
    }

    #[test]
    fn routes_are_normalised() {
        assert_eq!(normalise_route("curl_test"), Ok(Some("/curl_test".into())));
        assert_eq!(normalise_route("/a/b/"), Ok(Some("/a/b".into())));
        assert_eq!(normalise_route("/"), Ok(None));
    }
}

//! Frames of the engine ↔ agent protocol (`docs/protocol.md`), newline-delimited JSON.

use std::collections::BTreeMap;

use crate::model::FunctionError;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Longest frame the engine accepts from an agent; anything longer is a protocol error.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// How the agent runs the loaded code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The module defines a handler, called once per invocation.
    Handler,
    /// The code is a program, run once per invocation; its stdout is the result.
    Script,
}

/// Function metadata the agent exposes to the code through `context`.
#[derive(Debug, Serialize)]
pub struct FunctionMeta<'a> {
    pub name: &'a str,
    pub version: i64,
    pub memory_mb: u32,
    pub timeout_ms: u64,
}

/// `load`: specialise a generic instance to one function version.
#[derive(Debug, Serialize)]
pub struct Load<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'a str,
    pub handler: &'a str,
    pub env: &'a BTreeMap<String, String>,
    /// Written by the agent to its output after each invocation, before the result.
    pub log_end: &'a str,
    pub function: FunctionMeta<'a>,
}

/// `invoke`: run the loaded function once.
#[derive(Debug, Serialize)]
pub struct Invoke<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    pub event: &'a RawValue,
    pub args: &'a [String],
    pub deadline_ms: u64,
}

/// Encodes a request as one line, ready to write to the agent. (It fails only where a value
/// cannot be JSON, e.g. a map with non-string keys: a bug, reported rather than sent empty.)
pub fn encode<T: Serialize>(frame: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut line = serde_json::to_vec(frame).map_err(ProtocolError::Encode)?;
    line.push(b'\n');
    Ok(line)
}

/// What was wrong with the exchange of frames.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("a request could not be encoded: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("malformed frame: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("the reply stream failed: {0}")]
    Stream(#[from] tokio_util::codec::LinesCodecError),
    #[error("'{frame}' frame without '{field}'")]
    MissingField { frame: String, field: &'static str },
    #[error("unknown frame type '{0}'")]
    UnknownFrame(String),
    #[error("expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: String },
}

/// Replies from the agent.
#[derive(Debug)]
pub enum Reply {
    Hello,
    Loaded(Mode),
    LoadFailed(FunctionError),
    Result { id: String, outcome: ResultOutcome },
}

/// The payload of a `result` frame.
#[derive(Debug)]
pub enum ResultOutcome {
    /// A handler's JSON return value.
    Value(Box<RawValue>),
    /// A script's captured stdout.
    Stdout(String),
    Error(FunctionError),
}

/// The flat shape every reply is parsed into first: serde cannot borrow a `RawValue` through an
/// internally tagged enum.
#[derive(Deserialize)]
struct WireReply<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default, borrow)]
    value: Option<&'a RawValue>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    error: Option<FunctionError>,
    #[serde(default)]
    mode: Option<Mode>,
}

/// Parses one line from the agent; the error says what was wrong with it.
pub fn decode(line: &str) -> Result<Reply, ProtocolError> {
    let wire: WireReply<'_> = serde_json::from_str(line).map_err(ProtocolError::Malformed)?;
    let missing = |field| ProtocolError::MissingField {
        frame: wire.kind.to_owned(),
        field,
    };
    match wire.kind {
        "hello" => Ok(Reply::Hello),
        "loaded" => Ok(Reply::Loaded(wire.mode.ok_or_else(|| missing("mode"))?)),
        "load_failed" => Ok(Reply::LoadFailed(
            wire.error.clone().ok_or_else(|| missing("error"))?,
        )),
        "result" => {
            let id = wire.id.clone().ok_or_else(|| missing("id"))?;
            let outcome = match (wire.ok, wire.error, wire.stdout) {
                (Some(false), Some(error), _) => ResultOutcome::Error(error),
                (Some(true), _, Some(stdout)) => ResultOutcome::Stdout(stdout),
                (Some(true), _, None) => ResultOutcome::Value(match wire.value {
                    Some(value) => value.to_owned(),
                    None => null(),
                }),
                _ => return Err(missing("ok")),
            };
            Ok(Reply::Result { id, outcome })
        }
        other => Err(ProtocolError::UnknownFrame(other.to_owned())),
    }
}

/// JSON `null` as a raw value.
pub fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_reply() {
        assert!(matches!(
            decode(r#"{"type":"hello","language":"python","version":"3"}"#),
            Ok(Reply::Hello)
        ));
        assert!(matches!(
            decode(r#"{"type":"loaded","mode":"script"}"#),
            Ok(Reply::Loaded(Mode::Script))
        ));
        match decode(r#"{"type":"result","id":"a","ok":true,"value":{"x": [1, 2]}}"#) {
            Ok(Reply::Result {
                id,
                outcome: ResultOutcome::Value(v),
            }) => {
                assert_eq!(id, "a");
                assert_eq!(v.get(), r#"{"x": [1, 2]}"#);
            }
            other => panic!("{other:?}"),
        }
        match decode(r#"{"type":"result","id":"a","ok":true,"value":null}"#) {
            Ok(Reply::Result {
                outcome: ResultOutcome::Value(v),
                ..
            }) => assert_eq!(v.get(), "null"),
            other => panic!("{other:?}"),
        }
        match decode(
            r#"{"type":"result","id":"b","ok":false,"error":{"errorType":"E","errorMessage":"m","stackTrace":["l"]}}"#,
        ) {
            Ok(Reply::Result {
                outcome: ResultOutcome::Error(e),
                ..
            }) => assert_eq!(e.error_type, "E"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        assert!(matches!(decode("hello"), Err(ProtocolError::Malformed(_))));
        assert!(matches!(
            decode(r#"{"type":"nope"}"#),
            Err(ProtocolError::UnknownFrame(kind)) if kind == "nope"
        ));
        assert!(matches!(
            decode(r#"{"type":"result","ok":true}"#),
            Err(ProtocolError::MissingField { field: "id", .. })
        ));
        let bad_key = BTreeMap::from([((1, 2), 3)]);
        assert!(matches!(encode(&bad_key), Err(ProtocolError::Encode(_))));
    }
}

//! The in-instance language agents (embedded sources) and how an instance starts one.
//!
//! The wire protocol between the engine and an agent is specified in `docs/protocol.md`;
//! [`protocol`] holds its frames.

pub mod protocol;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

const PYTHON_AGENT: &str = include_str!("python.py");
const NODE_AGENT: &str = include_str!("node.js");

/// Moves the request channel to fd 4 and the reply channel to fd 3 before the interpreter starts,
/// so that nothing the function reads from stdin or prints can touch the protocol.
const SHUFFLE_FDS: &str = "exec 4<&0 0</dev/null 3>&1 1>&2; exec \"$@\"";

/// The environment every agent starts with, whatever its runtime (which adds a `PATH` of its own
/// when it must). The engine's environment is never passed; function env vars are set by the agent
/// itself, at load.
pub const AGENT_ENV: &[&str] = &[
    "HOME=/tmp",
    "TMPDIR=/tmp",
    "LANG=C.UTF-8",
    "PYTHONDONTWRITEBYTECODE=1",
];

/// A language functions can be written in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Javascript,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Python, Language::Javascript];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
        }
    }

    /// The command line that starts this language's agent with `interpreter`, through `/bin/sh`
    /// (see the "Streams" section of `docs/protocol.md`).
    pub fn agent_command(self, interpreter: &str) -> Vec<String> {
        let (flags, source): (&[&str], &str) = match self {
            Language::Python => (&["-u", "-c"], PYTHON_AGENT),
            Language::Javascript => (&["-e"], NODE_AGENT),
        };
        let mut argv = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            SHUFFLE_FDS.to_owned(),
            "kindling-agent".to_owned(),
            interpreter.to_owned(),
        ];
        argv.extend(flags.iter().map(|flag| flag.to_string()));
        argv.push(source.to_owned());
        argv
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "python" | "python3" | "py" => Ok(Language::Python),
            "javascript" | "js" | "node" | "nodejs" => Ok(Language::Javascript),
            other => Err(format!(
                "unknown language '{other}': expected 'python' or 'javascript'"
            )),
        }
    }
}

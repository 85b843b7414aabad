//! The in-instance language agents (embedded sources) and how an instance starts one.
//!
//! The wire protocol between the engine and an agent is specified in `docs/protocol.md`;
//! [`protocol`] holds its frames.

pub mod protocol;

pub use crate::model::Language;

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

impl Language {
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

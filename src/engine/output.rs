//! What an instance prints, split into invocations.
//!
//! After each invocation, before its result frame, the agent writes a marker — random, chosen by
//! the engine when it loads the code — to its output (`docs/protocol.md`). Everything before the
//! marker is that invocation's logs. The marker matters where the output stream and the reply
//! stream are not ordered with each other (a Docker attach stream carries both, as dockerd reads
//! them); where they are (the sandbox's pipes), it is already there when the reply arrives.
//!
//! A flood costs its own function, not the engine: once an invocation has printed
//! [`PACE_AFTER`], its output is read one [`FLOOD_CHUNK`] every [`PACE`] — the instance then
//! blocks on its full pipe (its deadline still runs), and the engine's share of the flood is a
//! hundred reads a second, whatever the function writes.

use std::time::Duration;

use futures::FutureExt;
use tokio::io::AsyncReadExt;
#[cfg(test)]
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::logs::LogTail;
use crate::runtimes::BoxRead;

/// Output an invocation may print before it is read at [`PACE`].
pub const PACE_AFTER: u64 = 1 << 20;
/// How often a flooding invocation's output is read.
pub const PACE: Duration = Duration::from_millis(10);
/// How much of a flooding invocation's output one paced read takes: a pipe's default capacity.
const FLOOD_CHUNK: usize = 64 * 1024;

pub struct Output {
    /// `None` once the stream has ended.
    stream: Option<BoxRead>,
    marker: Option<Vec<u8>>,
    /// Read bytes not yet passed on because they may hold the start of the marker.
    pending: Vec<u8>,
    /// Whether the current invocation's marker was seen.
    ended: bool,
    /// What the current invocation has printed so far.
    printed: u64,
    /// When a flooding invocation's output may be read next.
    paced_until: Option<Instant>,
    /// The buffer of paced reads, made on the first.
    flood: Vec<u8>,
}

impl Output {
    pub fn new(stream: BoxRead) -> Self {
        Self {
            stream: Some(stream),
            marker: None,
            pending: Vec::new(),
            ended: false,
            printed: 0,
            paced_until: None,
            flood: Vec::new(),
        }
    }

    /// From now on, invocations end with `marker`.
    pub fn set_marker(&mut self, marker: Vec<u8>) {
        self.marker = Some(marker);
    }

    pub fn has_marker(&self) -> bool {
        self.marker.is_some()
    }

    /// Starts collecting a new invocation's output.
    pub fn begin(&mut self) {
        self.ended = false;
        self.printed = 0;
        self.paced_until = None;
    }

    /// Whether the current invocation's marker was seen, or the stream is over.
    pub fn ended(&self) -> bool {
        self.ended || self.stream.is_none()
    }

    /// Reads the next chunk into `logs`; waits (forever, once the stream has ended). Once the
    /// invocation has printed [`PACE_AFTER`], waits for its turn first.
    pub async fn read(&mut self, chunk: &mut [u8], logs: &mut LogTail) {
        if self.stream.is_none() {
            return std::future::pending().await;
        }
        if let Some(at) = self.paced_until {
            tokio::time::sleep_until(at).await;
        }
        let mut flood = std::mem::take(&mut self.flood);
        let buffer = match self.printed >= PACE_AFTER {
            true => {
                flood.resize(FLOOD_CHUNK, 0);
                &mut flood[..]
            }
            false => chunk,
        };
        if let Some(stream) = self.stream.as_mut() {
            match stream.read(buffer).await {
                Ok(n) if n > 0 => {
                    self.printed += n as u64;
                    self.take(&buffer[..n], logs);
                }
                _ => self.stream = None,
            }
        }
        self.flood = flood;
        if self.printed >= PACE_AFTER {
            self.paced_until = Some(Instant::now() + PACE);
        }
    }

    /// Reads whatever is there right now, without waiting.
    pub fn read_ready(&mut self, chunk: &mut [u8], logs: &mut LogTail) {
        while let Some(stream) = self.stream.as_mut() {
            match stream.read(chunk).now_or_never() {
                Some(Ok(n)) if n > 0 => {
                    self.printed += n as u64;
                    self.take(&chunk[..n], logs);
                }
                Some(_) => self.stream = None,
                None => break,
            }
        }
    }

    /// Ends the current invocation's output: bytes held back as a possible start of the marker
    /// are logs after all when the marker did not come.
    pub fn finish(&mut self, logs: &mut LogTail) {
        if !self.ended {
            logs.push(&self.pending);
        }
        self.pending.clear();
    }

    /// Drops what was printed while the instance waited idle (after the last invocation's
    /// marker): it belongs to no invocation.
    pub fn discard_idle(&mut self) {
        self.pending.clear();
        let mut chunk = [0u8; 4096];
        while let Some(stream) = self.stream.as_mut() {
            match stream.read(&mut chunk).now_or_never() {
                Some(Ok(n)) if n > 0 => {}
                Some(_) => self.stream = None,
                None => break,
            }
        }
    }

    fn take(&mut self, bytes: &[u8], logs: &mut LogTail) {
        let Some(marker) = &self.marker else {
            logs.push(bytes);
            return;
        };
        if self.ended {
            // Printed after the invocation returned: by background work, which belongs to no
            // invocation (the instance is frozen soon after).
            return;
        }
        self.pending.extend_from_slice(bytes);
        if let Some(at) = find(&self.pending, marker) {
            logs.push(&self.pending[..at]);
            let after = self.pending.split_off(at + marker.len());
            self.pending.clear();
            self.ended = true;
            self.take(&after, logs);
        } else {
            // Keep back what could be the beginning of a marker split across reads.
            let keep = (marker.len() - 1).min(self.pending.len());
            let passed = self.pending.len() - keep;
            logs.push(&self.pending[..passed]);
            self.pending.drain(..passed);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output() -> Output {
        let mut output = Output::new(Box::pin(tokio::io::empty()));
        output.set_marker(b"<END>".to_vec());
        output
    }

    #[test]
    fn splits_at_the_marker_even_across_reads() {
        let mut output = output();
        let mut logs = LogTail::new(1024);
        output.begin();
        output.take(b"hello <E", &mut logs);
        assert!(!output.ended);
        output.take(b"ND>late", &mut logs);
        assert!(output.ended);
        assert_eq!(logs.into_text(), "hello ");

        // What came after the marker was background output: no invocation's.
        let mut next = LogTail::new(1024);
        output.begin();
        output.take(b" more<END>", &mut next);
        assert_eq!(next.into_text(), " more");
    }

    #[tokio::test]
    async fn output_printed_while_idle_is_dropped() {
        let (mut writer, reader) = tokio::io::duplex(1024);
        let mut output = Output::new(Box::pin(reader));
        output.set_marker(b"<END>".to_vec());
        let mut chunk = [0u8; 64];
        let mut logs = LogTail::new(1024);
        output.begin();
        writer.write_all(b"mine<EN").await.unwrap();
        output.read_ready(&mut chunk, &mut logs);
        output.finish(&mut logs);
        // The marker never came (the logs were taken as they were); then, while idle:
        writer.write_all(b"while idle").await.unwrap();
        output.discard_idle();
        let mut next = LogTail::new(1024);
        output.begin();
        writer.write_all(b"next<END>").await.unwrap();
        output.read_ready(&mut chunk, &mut next);
        assert_eq!(logs.into_text(), "mine<EN");
        assert_eq!(next.into_text(), "next");
    }

    #[test]
    fn without_a_marker_everything_is_logs() {
        let mut output = Output::new(Box::pin(tokio::io::empty()));
        let mut logs = LogTail::new(1024);
        output.take(b"a<END>b", &mut logs);
        assert_eq!(logs.into_text(), "a<END>b");
    }
}

//! The bounded tail of an invocation's output.

use std::collections::VecDeque;

/// Keeps the last `capacity` bytes written and counts the rest, so a function that prints
/// gigabytes costs the engine a fixed amount of memory.
#[derive(Debug)]
pub struct LogTail {
    bytes: VecDeque<u8>,
    capacity: usize,
    dropped: u64,
}

impl LogTail {
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: VecDeque::new(),
            capacity,
            dropped: 0,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        let chunk = if chunk.len() > self.capacity {
            let cut = chunk.len() - self.capacity;
            self.dropped += cut as u64;
            &chunk[cut..]
        } else {
            chunk
        };
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            self.bytes.drain(..overflow);
            self.dropped += overflow as u64;
        }
        self.bytes.extend(chunk);
    }

    /// The kept output as text, opened by a marker when something was dropped.
    pub fn into_text(self) -> String {
        let (front, back) = self.bytes.as_slices();
        let mut bytes = Vec::with_capacity(front.len() + back.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(back);
        if self.dropped == 0 {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        // The cut may have split a UTF-8 sequence: start at the next character boundary.
        let start = bytes
            .iter()
            .position(|b| b & 0b1100_0000 != 0b1000_0000)
            .unwrap_or(bytes.len());
        let dropped = self.dropped + start as u64;
        format!(
            "[kindling: {dropped} earlier bytes of output truncated; the last {} are kept]\n{}",
            bytes.len() - start,
            String::from_utf8_lossy(&bytes[start..])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_cap() {
        let mut tail = LogTail::new(16);
        tail.push(b"hello ");
        tail.push(b"world");
        assert_eq!(tail.into_text(), "hello world");
    }

    #[test]
    fn keeps_the_last_bytes_and_says_how_many_went() {
        let mut tail = LogTail::new(4);
        tail.push(b"abc");
        tail.push(b"defg");
        tail.push(b"h");
        assert_eq!(
            tail.into_text(),
            "[kindling: 4 earlier bytes of output truncated; the last 4 are kept]\nefgh"
        );
    }

    #[test]
    fn a_huge_chunk_keeps_its_end() {
        let mut tail = LogTail::new(3);
        tail.push(&[b'x'; 10_000]);
        tail.push(b"yz");
        let text = tail.into_text();
        assert!(text.starts_with("[kindling: 9999 earlier bytes"), "{text}");
        assert!(text.ends_with("\nxyz"));
    }

    #[test]
    fn never_starts_inside_a_character() {
        let mut tail = LogTail::new(3);
        tail.push("aé€".as_bytes()); // 1 + 2 + 3 bytes: the cut lands inside 'é'... then '€'
        assert!(tail.into_text().ends_with("\n€"));
    }
}

//! Secret parameters (`secret: true`): where their values come from when not given, and how they are
//! kept out of what a run writes — step logs, messages, reports — by masking every occurrence.

use std::borrow::Cow;

use crate::plan::Pipeline;
use crate::value::{Value, Values};

/// What a secret value is replaced with.
pub const MASK: &str = "***";

impl Pipeline {
    /// The names of the secret parameters.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.parameters.iter().filter(|p| p.secret).map(|p| p.name.as_str())
    }

    /// `pairs` (`NAME=VALUE` of the command line) and, for every secret parameter they do not name, its
    /// value from `lookup` when it has one — typically the environment variable of its name, so a secret
    /// need not appear in a command line.
    ///
    /// ```
    /// # let dir = std::env::temp_dir();
    /// let text = "name: p\nparameters: [{ name: TOKEN, secret: true }]\nstages:\n  - name: s\n    steps: [{ name: a, run: [\"true\"] }]\n";
    /// let pipeline = precheck_pipeline::Pipeline::parse(&dir.join("p.yaml"), text).unwrap();
    /// let pairs = pipeline.with_secrets(&[], |name| (name == "TOKEN").then(|| "s3cret".to_owned()));
    /// assert_eq!(pairs, [("TOKEN".to_owned(), "s3cret".to_owned())]);
    /// ```
    pub fn with_secrets(
        &self,
        pairs: &[(String, String)],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Vec<(String, String)> {
        let mut all = pairs.to_vec();
        for name in self.secret_names() {
            if !pairs.iter().any(|(n, _)| n == name)
                && let Some(value) = lookup(name)
            {
                all.push((name.to_owned(), value));
            }
        }
        all
    }

    /// `values` without the secret parameters' values: what a run record keeps.
    pub fn without_secrets(&self, values: &Values) -> Values {
        values
            .iter()
            .filter(|(name, _)| !self.secret_names().any(|s| s == *name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }
}

/// Masks the values of a run's secret parameters in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// The masks for the secret parameters of `pipeline` among `values` (empty values mask nothing). A
    /// secret of several lines (a key, a JSON credential) is also masked line by line: output is masked a
    /// line at a time.
    pub fn new(pipeline: &Pipeline, values: &Values) -> Self {
        let texts = pipeline.secret_names().filter_map(|name| values.get(name)).map(Value::as_text);
        Self::of(texts.collect())
    }

    /// The masks for `texts`.
    pub(crate) fn of(texts: Vec<String>) -> Self {
        let mut secrets = Vec::new();
        for text in texts {
            if text.contains('\n') {
                secrets.extend(text.lines().map(|l| l.trim_end_matches('\r').to_owned()));
            }
            secrets.push(text);
        }
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self { secrets }
    }

    /// The same secrets, and also as XML escapes them (`&` `<` `>` `"` `'`): for an XML document (JUnit),
    /// where a secret holding one of those characters is written escaped.
    pub fn for_xml(&self) -> Self {
        let escaped = self.secrets.iter().map(|s| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&apos;")
        });
        Self::of(self.secrets.iter().cloned().chain(escaped).collect())
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every occurrence of a secret replaced by [`MASK`].
    ///
    /// ```
    /// # let dir = std::env::temp_dir();
    /// let text = "name: p\nparameters: [{ name: TOKEN, secret: true }]\nstages:\n  - name: s\n    steps: [{ name: a, run: [\"true\"] }]\n";
    /// let pipeline = precheck_pipeline::Pipeline::parse(&dir.join("p.yaml"), text).unwrap();
    /// let values = pipeline.values_from_args(&[("TOKEN".into(), "s3cret".into())]).unwrap();
    /// let redactor = precheck_pipeline::secret::Redactor::new(&pipeline, &values);
    /// assert_eq!(redactor.redact("login with s3cret: ok"), "login with ***: ok");
    /// ```
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }

    /// Bytes with every occurrence of a secret replaced by [`MASK`]; bytes that are not UTF-8 are kept.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        for secret in &self.secrets {
            let secret = secret.as_bytes();
            if out.windows(secret.len()).any(|w| w == secret) {
                let mut replaced = Vec::with_capacity(out.len());
                let mut rest: &[u8] = &out;
                while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
                    replaced.extend_from_slice(&rest[..at]);
                    replaced.extend_from_slice(MASK.as_bytes());
                    rest = &rest[at + secret.len()..];
                }
                replaced.extend_from_slice(rest);
                out = Cow::Owned(replaced);
            }
        }
        out
    }

    /// The longest secret's length in bytes.
    fn longest(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// Copies what a step prints from `from` to the end of `log`, a line at a time, secrets masked, at most
    /// `limit` bytes: what comes after is read and counted (the step never blocks on a full pipe), and a
    /// last line says how much was not kept. A line longer than [`MAX_PIECE`] is written in pieces, each
    /// holding back the bytes that could start a secret completed by the next one. When the log cannot be
    /// written, the output is still read (and dropped). Returns the last line it kept that is not blank
    /// (masked, trimmed, its first [`LAST_LINE`] bytes), for failure messages.
    pub(crate) async fn copy_lines(
        self: std::sync::Arc<Self>,
        from: impl tokio::io::AsyncRead + Unpin,
        log: std::fs::File,
        limit: usize,
    ) -> Option<String> {
        use std::io::Write;
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let keep = self.longest().saturating_sub(1);
        let mut reader = tokio::io::BufReader::new(from);
        let mut log = Some(log);
        let mut pending: Vec<u8> = Vec::new();
        let (mut written, mut dropped) = (0usize, 0u64);
        let mut last: Vec<u8> = Vec::new();
        // What is read past the limit goes here, to be counted (allocated only for a step that gets there).
        let mut drain: Vec<u8> = Vec::new();
        loop {
            if written >= limit {
                // Past the limit: counted, not kept (nor masked: nothing of it is written).
                dropped += std::mem::take(&mut pending).len() as u64;
                if drain.is_empty() {
                    drain = vec![0u8; 64 * 1024];
                }
                match reader.read(&mut drain).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => dropped += n as u64,
                }
                continue;
            }
            let room = (MAX_PIECE + keep).saturating_sub(pending.len()).max(1) as u64;
            let read = (&mut reader).take(room).read_until(b'\n', &mut pending).await;
            let (end, cut) = match read {
                Ok(0) | Err(_) => (true, false),
                // Neither a whole line nor the end: the piece reached its size.
                Ok(n) => (false, n as u64 == room && !pending.ends_with(b"\n")),
            };
            let masked = self.redact_bytes(&pending).into_owned();
            // A piece cut short keeps its last bytes (masked already) for the next one: every secret that
            // starts before them ends inside this piece, and one that starts among them may go on.
            let split = if cut { masked.len().saturating_sub(keep) } else { masked.len() };
            let kept = split.min(limit - written);
            dropped += (split - kept) as u64;
            written += kept;
            // A piece is a line (or the piece of one): its last line that is not blank is the last so far.
            if let Some(line) = masked[..kept].split(|&b| b == b'\n').rev().find(|l| !l.trim_ascii().is_empty()) {
                last.clear();
                last.extend_from_slice(&line.trim_ascii()[..line.trim_ascii().len().min(LAST_LINE)]);
            }
            // One write per piece: the log is opened for appending, so its lines stay whole.
            if kept > 0
                && let Some(file) = &mut log
                && file.write_all(&masked[..kept]).is_err()
            {
                log = None;
            }
            pending = masked[split..].to_vec();
            if end {
                break;
            }
        }
        if dropped > 0
            && let Some(file) = &mut log
        {
            let _ = writeln!(
                file,
                "\n[precheck: the output went on for {dropped} more bytes, not kept: a step's log keeps {} MiB of \
                 output per attempt]",
                limit >> 20
            );
        }
        (!last.is_empty()).then(|| String::from_utf8_lossy(&last).into_owned())
    }
}

/// How much of the last line [`Redactor::copy_lines`] returns, in bytes at most.
const LAST_LINE: usize = 1024;

/// The longest piece of a line [`Redactor::copy_lines`] holds before writing it.
const MAX_PIECE: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(secrets: &[&str]) -> Redactor {
        Redactor::of(secrets.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn every_occurrence_is_masked_longest_first() {
        let r = redactor(&["abc", "abcdef"]);
        assert_eq!(r.redact("x abcdef y abc abc"), "x *** y *** ***");
        assert_eq!(r.redact("nothing here"), Cow::Borrowed("nothing here"));
        assert_eq!(&*r.redact_bytes(b"\xff abc \xfe"), b"\xff *** \xfe");
        assert!(Redactor::default().is_empty());
    }

    #[tokio::test]
    async fn lines_are_copied_masked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let input: &[u8] = b"token=abc\nplain\nlast abc";
        let last = std::sync::Arc::new(redactor(&["abc"])).copy_lines(input, log, usize::MAX).await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "token=***\nplain\nlast ***");
        assert_eq!(last.as_deref(), Some("last ***"));
    }

    #[tokio::test]
    async fn output_past_the_limit_is_drained_and_counted_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        // The secret starts before the limit and ends after it: only masked bytes are ever written.
        let input = "first abc\nsecond line\nthird abc line\n".repeat(1000);
        let mut reader = input.as_bytes();
        let last = std::sync::Arc::new(redactor(&["abc"])).copy_lines(&mut reader, log, 30).await;
        assert!(reader.is_empty(), "{} bytes left unread", reader.len());
        // The last line kept, never Precheck's own note.
        assert_eq!(last.as_deref(), Some("third **"));
        let written = std::fs::read_to_string(&path).unwrap();
        let (kept, note) = written.split_at(30);
        assert_eq!(kept, "first ***\nsecond line\nthird **");
        let masked_len = input.replace("abc", "***").len();
        assert_eq!(
            note,
            format!(
                "\n[precheck: the output went on for {} more bytes, not kept: a step's log keeps 0 MiB of output \
                 per attempt]\n",
                masked_len - 30
            )
        );
        assert!(!written.contains("abc"));
    }

    #[tokio::test]
    async fn a_secret_across_the_cut_of_a_long_line_is_masked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        for offset in [MAX_PIECE - 3, MAX_PIECE - 1, MAX_PIECE, MAX_PIECE + 5, 3 * MAX_PIECE - 2] {
            let log = std::fs::File::create(&path).unwrap();
            let input = format!("{}s3cret-value{}\n", "x".repeat(offset), "y".repeat(MAX_PIECE));
            std::sync::Arc::new(redactor(&["s3cret-value"])).copy_lines(input.as_bytes(), log, usize::MAX).await;
            let written = std::fs::read_to_string(&path).unwrap();
            let expected = format!("{}***{}\n", "x".repeat(offset), "y".repeat(MAX_PIECE));
            assert!(
                written == expected,
                "at {offset}: {} bytes, {} masks",
                written.len(),
                written.matches("***").count()
            );
        }
    }

    #[test]
    fn several_lines_are_masked_whole_and_line_by_line_and_escaped_in_xml() {
        let r = redactor(&["-----BEGIN KEY-----\r\nabc&<def>\n-----END KEY-----"]);
        assert_eq!(r.redact("key: abc&<def>"), "key: ***");
        let xml = r.for_xml();
        assert_eq!(xml.redact("<failure message=\"abc&amp;&lt;def&gt;\"/>"), "<failure message=\"***\"/>");
    }

    #[tokio::test]
    async fn output_is_drained_when_the_log_cannot_be_written() {
        // A log opened read-only: every write fails, yet the whole input is read.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log"), "").unwrap();
        let log = std::fs::File::open(dir.path().join("log")).unwrap();
        let input = "line\n".repeat(100_000);
        let mut reader = input.as_bytes();
        std::sync::Arc::new(redactor(&["abc"])).copy_lines(&mut reader, log, usize::MAX).await;
        assert!(reader.is_empty(), "{} bytes left unread", reader.len());
    }
}

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
    /// The masks for the secret parameters of `pipeline` among `values` (empty values mask nothing).
    pub fn new(pipeline: &Pipeline, values: &Values) -> Self {
        let mut secrets: Vec<String> = pipeline
            .secret_names()
            .filter_map(|name| values.get(name))
            .map(Value::as_text)
            .filter(|text| !text.is_empty())
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
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
}

impl Redactor {
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

    /// Copies what a step prints from `from` to the end of `log`, a line at a time, secrets masked.
    /// A line longer than 64 KiB is written in pieces of that size (a secret across two pieces is not
    /// masked; a line that long is not something a step prints by mistake).
    pub(crate) async fn copy_lines(
        self: std::sync::Arc<Self>,
        from: impl tokio::io::AsyncRead + Unpin,
        log: std::fs::File,
    ) {
        use std::io::Write;
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        const MAX_LINE: usize = 64 * 1024;
        let mut reader = tokio::io::BufReader::new(from);
        let mut log = log;
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut reader).take(MAX_LINE as u64).read_until(b'\n', &mut line).await;
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    // One write per line: the log is opened for appending, so lines of stdout and stderr
                    // interleave whole.
                    if log.write_all(&self.redact_bytes(&line)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(secrets: &[&str]) -> Redactor {
        let mut secrets: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
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
        std::sync::Arc::new(redactor(&["abc"])).copy_lines(input, log).await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "token=***\nplain\nlast ***");
    }
}

//! Durations as every Precheck file writes them: `500ms`, `30s`, `10m`, `2h`, or a sum such as `1m30s`.

use std::time::Duration;

use crate::error::bounded;

/// Text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a duration such as `30s`, `10m`, `1h30m` or `500ms`, got '{}'", bounded(.text.clone()))]
pub struct DurationError {
    /// The text as given.
    pub text: String,
}

/// Reads a duration: whole numbers of `ms`, `s`, `m` or `h` (any case), one after the other (`1h30m`,
/// `1m30s`, `2s500ms`), as check files (`timeout`), sentences (`every 1m30s`) and pipeline files
/// (`timeout`, `retry.backoff`) write them. Zero is a duration (`0s`); callers that need more say so.
///
/// ```
/// use std::time::Duration;
/// use precheck_lang::parse_duration;
///
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(parse_duration("90").is_err());
/// assert_eq!(
///     parse_duration("10 minutes").unwrap_err().to_string(),
///     "expected a duration such as `30s`, `10m`, `1h30m` or `500ms`, got '10 minutes'"
/// );
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError { text: text.to_owned() };
    let lower = text.trim().to_ascii_lowercase();
    let mut rest = lower.as_str();
    if rest.is_empty() {
        return Err(error());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| error())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            _ => return Err(error()),
        };
        total = part.and_then(|d| d.checked_add(total)).ok_or_else(error)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_units_in_any_case() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1H30M"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2s500ms"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "10", "s", "1m 30s", "1.5s", "-1s", "1d", "99999999999999999999h", "18446744073709551615h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_error_quotes_at_most_the_start_of_a_long_text() {
        let long = "9".repeat(100_000);
        assert!(parse_duration(&long).unwrap_err().to_string().len() < 500);
    }
}

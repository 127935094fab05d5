//! Parameter values: their kinds, and reading them from the command line (`NAME=VALUE`) or JSON.

use std::collections::BTreeMap;
use std::fmt;

/// The kind of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A list of strings (given as `a,b,c` on the command line).
    List,
}

impl Kind {
    /// Reads a kind's name as written in a pipeline file.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            "list" => Self::List,
            _ => return None,
        })
    }

    /// `a string`, `an integer`…, for messages.
    pub fn article(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Boolean => "a boolean",
            Self::List => "a list",
        }
    }

    /// Reads a value of this kind from command-line text.
    pub fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Self::String => Ok(Value::String(text.to_owned())),
            Self::Integer => {
                text.trim().parse().map(Value::Integer).map_err(|_| format!("expected an integer, got '{text}'"))
            }
            Self::Boolean => match text.trim() {
                "true" => Ok(Value::Boolean(true)),
                "false" => Ok(Value::Boolean(false)),
                _ => Err(format!("expected true or false, got '{text}'")),
            },
            // `["a","b"]` (JSON, what Argo hands over) or `a,b`.
            Self::List if text.trim_start().starts_with('[') => serde_json::from_str::<Vec<String>>(text)
                .map(Value::List)
                .map_err(|e| format!("expected a JSON list of strings, got '{text}': {e}")),
            Self::List => {
                Ok(Value::List(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()))
            }
        }
    }

    /// Reads a value of this kind from JSON (a trigger's payload, a default in the file). Text is not
    /// converted to numbers or booleans: a payload says what it means.
    pub fn from_json(self, json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        match (self, json) {
            (Self::String, J::String(s)) => Ok(Value::String(s.clone())),
            (Self::Integer, J::Number(n)) if n.is_i64() => Ok(Value::Integer(n.as_i64().unwrap_or_default())),
            (Self::Boolean, J::Bool(b)) => Ok(Value::Boolean(*b)),
            (Self::List, J::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| format!("expected a list of strings, got {json}")))
                .collect::<Result<_, _>>()
                .map(Value::List),
            (kind, other) => Err(format!("expected {}, got {other}", kind.article())),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::List => "list",
        })
    }
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Text.
    String(String),
    /// A whole number.
    Integer(i64),
    /// A boolean.
    Boolean(bool),
    /// A list of strings.
    List(Vec<String>),
}

impl Value {
    /// The text a step sees in its environment and in `${NAME}`: lists are joined with commas.
    pub fn as_text(&self) -> String {
        match self {
            Self::String(s) => s.clone(),
            Self::Integer(i) => i.to_string(),
            Self::Boolean(b) => b.to_string(),
            Self::List(items) => items.join(","),
        }
    }
}

/// Values by parameter name.
pub type Values = BTreeMap<String, Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_and_json_values() {
        assert_eq!(Kind::List.parse("a, b,,c"), Ok(Value::List(vec!["a".into(), "b".into(), "c".into()])));
        assert_eq!(Kind::List.parse(r#"["a,b", "c"]"#), Ok(Value::List(vec!["a,b".into(), "c".into()])));
        assert!(Kind::List.parse("[a, b]").unwrap_err().contains("expected a JSON list of strings"));
        assert_eq!(Kind::Integer.parse("3"), Ok(Value::Integer(3)));
        assert!(Kind::Integer.parse("three").unwrap_err().contains("expected an integer"));
        assert!(Kind::Boolean.parse("yes").is_err());
        assert_eq!(Kind::Boolean.from_json(&serde_json::json!(true)), Ok(Value::Boolean(true)));
        assert!(Kind::Integer.from_json(&serde_json::json!("3")).unwrap_err().contains("expected an integer"));
        assert!(Kind::List.from_json(&serde_json::json!([1])).is_err());
        assert_eq!(Value::List(vec!["a".into(), "b".into()]).as_text(), "a,b");
    }
}

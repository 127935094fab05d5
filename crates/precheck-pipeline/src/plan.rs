//! A checked pipeline: its parameters, stages, steps and what each step does, as [`Pipeline::load`] and
//! [`Pipeline::parse`] make it from a pipeline file (and the files it imports); the checks are in `check`.

mod check;

use std::path::PathBuf;
use std::time::Duration;

use crate::condition::Condition;
use crate::value::{Kind, Value};
use precheck_lang::{Piece, interpolation_pieces};

/// Steps that run at once when a pipeline does not say.
pub const DEFAULT_PARALLELISM: usize = 4;

/// The variable a fanned-out step sees its item in.
pub const ITEM: &str = "ITEM";

/// A checked pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// The file it was read from.
    pub path: PathBuf,
    /// The directory relative paths of steps start from (the file's).
    pub dir: PathBuf,
    /// A digest of the file's text (and its imports'), to notice a change before a resume.
    pub digest: String,
    /// Declared parameters, in file order.
    pub parameters: Vec<Parameter>,
    /// Steps that run at once, at most.
    pub parallelism: usize,
    /// Stages, in file order.
    pub stages: Vec<Stage>,
    /// Steps that always run at the end.
    pub finally: Vec<Step>,
    /// The template files it imports, as found from its directory.
    pub imports: Vec<PathBuf>,
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Its name (and environment variable).
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Its default; `None` makes it required.
    pub default: Option<Value>,
    /// Allowed values (strings only), when not empty.
    pub allowed: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
    /// A secret: when not given, read from the environment variable of its name; never recorded (a
    /// resumed run asks for it again), masked in step logs, messages and reports.
    pub secret: bool,
}

/// A stage.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Its name.
    pub name: String,
    /// Stages it waits for.
    pub depends: Vec<String>,
    /// Its condition.
    pub when: Option<Condition>,
    /// Its own limit on steps at once.
    pub parallelism: Option<usize>,
    /// Its steps, in file order.
    pub steps: Vec<Step>,
}

/// A step, with its template (if any) already applied.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// Steps of its stage it waits for.
    pub depends: Vec<String>,
    /// Its condition.
    pub when: Option<Condition>,
    /// What it fans out over.
    pub for_each: Option<ForEach>,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// The longest one attempt may take.
    pub timeout: Option<Duration>,
    /// Extra environment variables (template inputs included).
    pub env: Vec<(String, Interpolated)>,
    /// What it does.
    pub action: Action,
    /// The template it uses, if any.
    pub uses: Option<String>,
}

/// What a step fans out over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForEach {
    /// Literal items.
    Items(Vec<String>),
    /// A `list` parameter.
    Parameter(String),
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A command and its arguments, started without a shell.
    Run(Vec<Interpolated>),
    /// A script for `sh -e -c`; parameters reach it only as environment variables.
    Shell(String),
    /// Check files or directories.
    Checks(Vec<Interpolated>),
    /// Kubernetes manifests, applied with server-side apply.
    Apply(Vec<Interpolated>),
    /// A CloudFormation stack deployed from a template.
    CloudFormation {
        /// The stack's name.
        stack: Interpolated,
        /// The template file.
        template: Interpolated,
        /// Template parameters.
        parameters: Vec<(String, Interpolated)>,
        /// Capabilities to acknowledge.
        capabilities: Vec<String>,
    },
}

impl Action {
    /// The step kind's name, as in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Run(_) => "run",
            Self::Shell(_) => "shell",
            Self::Checks(_) => "checks",
            Self::Apply(_) => "apply",
            Self::CloudFormation { .. } => "cloudformation",
        }
    }
}

/// Text in which `${NAME}` stands for a parameter, a template input or `ITEM`; `$${` is a literal `${`.
/// Substituted values become part of one argument: nothing is ever handed to a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated(pub String);

impl Interpolated {
    /// The names it refers to, with their byte offsets; or where and why it is malformed.
    pub fn names(&self) -> Result<Vec<(String, usize)>, (usize, String)> {
        let pieces = interpolation_pieces(&self.0).map_err(|e| (e.span().start, e.to_string()))?;
        Ok(pieces
            .into_iter()
            .filter_map(|p| match p {
                Piece::Reference(name, span) => Some((name.to_owned(), span.start)),
                Piece::Text(_) | Piece::Escaped(_) => None,
            })
            .collect())
    }

    /// The text with every name replaced by `lookup`'s answer (the plan made sure every name exists).
    pub fn expand(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        match interpolation_pieces(&self.0) {
            Ok(pieces) => pieces
                .into_iter()
                .map(|p| match p {
                    Piece::Text(text) => text.to_owned(),
                    Piece::Escaped(_) => "${".to_owned(),
                    Piece::Reference(name, _) => lookup(name).unwrap_or_default(),
                })
                .collect(),
            Err(_) => self.0.clone(),
        }
    }
}

/// Attempts of a step and the delays between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The first delay.
    pub backoff: Duration,
    /// Growth of the delay.
    pub factor: f32,
    /// The longest delay.
    pub max_backoff: Duration,
    /// No attempt starts after this long since the first began.
    pub max_duration: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 1,
            backoff: Duration::from_secs(1),
            factor: 2.0,
            max_backoff: Duration::from_secs(60),
            max_duration: None,
        }
    }
}

impl Pipeline {
    /// A stage by name.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests;

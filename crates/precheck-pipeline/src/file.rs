//! The pipeline file as written: YAML read with serde, each value that a later check may reject kept
//! with its location, so [`crate::plan`] can point at it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A text value with the place it was written.
pub type Text = Spanned<String>;

/// The top level of a pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name (used for run ids, views and the Argo export).
    pub name: Text,
    /// What the pipeline does, for views.
    #[serde(default)]
    pub description: Option<String>,
    /// Typed parameters, given on the command line or in a trigger's JSON payload.
    #[serde(default)]
    pub parameters: Vec<ParameterDecl>,
    /// At most this many steps run at once (default 4).
    #[serde(default)]
    pub parallelism: Option<Spanned<usize>>,
    /// Files whose `templates` this pipeline may use (paths relative to this file).
    #[serde(default)]
    pub imports: Vec<Text>,
    /// Step bodies shared by steps (`uses: NAME`).
    #[serde(default)]
    pub templates: Vec<TemplateDecl>,
    /// The stages, each a group of steps.
    #[serde(default)]
    pub stages: Vec<StageDecl>,
    /// Steps that always run at the end, whatever happened (collect diagnostics).
    #[serde(default)]
    pub finally: Vec<StepDecl>,
}

/// A file of shared templates (`imports:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    /// The templates it offers.
    pub templates: Vec<TemplateDecl>,
}

/// One declared parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterDecl {
    /// Its name, also the environment variable steps see (`CLUSTER_NAME`).
    pub name: Text,
    /// `string` (default), `integer`, `boolean` or `list` (of strings).
    #[serde(default, rename = "type")]
    pub kind: Option<Text>,
    /// A value used when none is given; a parameter without one is required.
    #[serde(default)]
    pub default: Option<Spanned<serde_json::Value>>,
    /// The only values allowed, when set.
    #[serde(default, rename = "enum")]
    pub allowed: Vec<String>,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// A secret (a password, a token): taken from the environment variable of its name when not given,
    /// never recorded, masked in logs and reports.
    #[serde(default)]
    pub secret: Option<Spanned<bool>>,
}

/// A stage: steps that depend on the stages named in `depends`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDecl {
    /// Its name (`preflight`, `build`, `addons`, `validation`).
    pub name: Text,
    /// Stages that must have succeeded first.
    #[serde(default)]
    pub depends: Vec<Text>,
    /// The stage runs only when this condition over parameters holds.
    #[serde(default)]
    pub when: Option<Text>,
    /// At most this many of its steps run at once.
    #[serde(default)]
    pub parallelism: Option<Spanned<usize>>,
    /// Its steps.
    pub steps: Vec<StepDecl>,
}

/// A step, or the body of a template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDecl {
    /// Its name, unique in its stage.
    pub name: Text,
    /// Steps of the same stage that must have succeeded first.
    #[serde(default)]
    pub depends: Vec<Text>,
    /// The step runs only when this condition over parameters holds.
    #[serde(default)]
    pub when: Option<Text>,
    /// Runs the step once per item: a list, or the name of a `list` parameter. Each run sees `ITEM`.
    #[serde(default)]
    pub for_each: Option<Spanned<ForEachDecl>>,
    /// Attempts and backoff.
    #[serde(default)]
    pub retry: Option<RetryDecl>,
    /// The longest one attempt may take (`30s`, `10m`, `1h`).
    #[serde(default)]
    pub timeout: Option<Text>,
    /// Extra environment variables (values may use `${PARAMETER}`).
    #[serde(default)]
    pub env: BTreeMap<String, Text>,
    /// A command as an argument list; never through a shell.
    #[serde(default)]
    pub run: Option<Spanned<Vec<Text>>>,
    /// A script for `sh -e -c`: explicit shell, parameters only as environment variables.
    #[serde(default)]
    pub shell: Option<Text>,
    /// Check files or directories run through the Precheck library.
    #[serde(default)]
    pub checks: Option<Spanned<Vec<Text>>>,
    /// Kubernetes manifests applied with server-side apply.
    #[serde(default)]
    pub apply: Option<Spanned<Vec<Text>>>,
    /// A CloudFormation stack deployed from a template.
    #[serde(default)]
    pub cloudformation: Option<Spanned<StackDecl>>,
    /// A template's name; its body is used with `with` as its inputs.
    #[serde(default)]
    pub uses: Option<Text>,
    /// Inputs of the template in `uses`.
    #[serde(default)]
    pub with: BTreeMap<String, Text>,
}

/// A shared step body with named inputs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDecl {
    /// Its name, for `uses`.
    pub name: Text,
    /// Inputs (`${NAME}` in the body, and environment variables), with optional defaults.
    #[serde(default)]
    pub inputs: Vec<InputDecl>,
    /// Attempts and backoff, unless the step sets its own.
    #[serde(default)]
    pub retry: Option<RetryDecl>,
    /// The longest one attempt may take, unless the step sets its own.
    #[serde(default)]
    pub timeout: Option<Text>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, Text>,
    /// A command as an argument list; never through a shell.
    #[serde(default)]
    pub run: Option<Spanned<Vec<Text>>>,
    /// A script for `sh -e -c`: explicit shell, parameters only as environment variables.
    #[serde(default)]
    pub shell: Option<Text>,
    /// Check files or directories run through the Precheck library.
    #[serde(default)]
    pub checks: Option<Spanned<Vec<Text>>>,
    /// Kubernetes manifests applied with server-side apply.
    #[serde(default)]
    pub apply: Option<Spanned<Vec<Text>>>,
    /// A CloudFormation stack deployed from a template.
    #[serde(default)]
    pub cloudformation: Option<Spanned<StackDecl>>,
}

/// A template input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDecl {
    /// Its name.
    pub name: Text,
    /// Its value when the step gives none (may use `${PARAMETER}`); without one the input is required.
    #[serde(default)]
    pub default: Option<Text>,
}

/// What a step fans out over.
#[derive(Debug)]
pub enum ForEachDecl {
    /// Literal items (numbers and booleans are taken as their text).
    Items(Vec<String>),
    /// The name of a `list` parameter.
    Parameter(String),
}

impl<'de> Deserialize<'de> for ForEachDecl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ForEachDecl;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of items, or the name of a list parameter")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ForEachDecl, E> {
                Ok(ForEachDecl::Parameter(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ForEachDecl, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<ScalarText>()? {
                    items.push(item.0);
                }
                Ok(ForEachDecl::Items(items))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// A scalar (text, number or boolean) read as its text.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = ScalarText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an item: text, a number or a boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        // As written: `y`, `no` or `1.10` are text here, not YAML 1.1 booleans or a float.
        deserializer.deserialize_str(Visit)
    }
}

/// Attempts of a step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryDecl {
    /// Attempts in all, the first included (default 1).
    #[serde(default)]
    pub attempts: Option<Spanned<u32>>,
    /// The first delay (default `1s`); each next one is `factor` times longer, with jitter.
    #[serde(default)]
    pub backoff: Option<Text>,
    /// Growth of the delay (default 2).
    #[serde(default)]
    pub factor: Option<Spanned<f32>>,
    /// The longest delay (default `1m`).
    #[serde(default)]
    pub max_backoff: Option<Text>,
    /// No attempt starts after this long since the first began.
    #[serde(default)]
    pub max_duration: Option<Text>,
}

/// A `cloudformation` step's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackDecl {
    /// The stack's name (may use `${PARAMETER}`).
    pub stack: Text,
    /// The template file, relative to the pipeline file.
    pub template: Text,
    /// Template parameters (values may use `${PARAMETER}`).
    #[serde(default)]
    pub parameters: BTreeMap<String, Text>,
    /// Capabilities to acknowledge: `CAPABILITY_IAM`, `CAPABILITY_NAMED_IAM`, `CAPABILITY_AUTO_EXPAND`.
    #[serde(default)]
    pub capabilities: Vec<Text>,
}

//! `cloudformation` steps: deploy a stack from a template with parameters and wait until it is done, as
//! `aws cloudformation deploy` does — create it when missing, update it when the template or a parameter
//! changed, and do nothing when neither did. Through CreateStack/UpdateStack rather than change sets, so
//! the outcome (outputs, exports) is the same on AWS and on emulators that skip change-set outputs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::executor::AttemptError;
use crate::graph::BoundStack;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, Parameter};

/// How often the stack's status is read while waiting.
const POLL: Duration = Duration::from_secs(2);

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    action: &str,
    e: &aws_sdk_cloudformation::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> AttemptError {
    let message = precheck::aws::error(action, e).to_string();
    // CloudFormation answered and refused (a template it cannot read, a limit): the step failed. No
    // answer, or one that says the caller was not let in or was throttled to the end: AWS could not be asked.
    match e.as_service_error().and_then(|s| s.code()) {
        Some(code) if !NOT_LET_IN.contains(&code) => AttemptError::Failed(message),
        _ => AttemptError::Errored(message),
    }
}

/// Error codes by which AWS refuses the caller rather than the request: credentials, permissions, opt-in
/// regions, throttling (after the SDK's own retries).
const NOT_LET_IN: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "OptInRequired",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "Throttling",
    "ThrottlingException",
    "UnrecognizedClientException",
];

/// The longest a stack may stay `*_IN_PROGRESS` (a step's `timeout` usually ends the wait earlier).
const MAX_WAIT: Duration = Duration::from_secs(3 * 3600);

/// The parameters a template declares, when its `Parameters` section can be read.
fn declared_parameters(body: &str) -> Option<std::collections::BTreeSet<String>> {
    let template: serde_json::Value = serde_json::from_str(body).ok().or_else(|| serde_saphyr::from_str(body).ok())?;
    Some(template.get("Parameters")?.as_object()?.keys().cloned().collect())
}

/// Deploys `spec` and waits; `log` gets one line per change of status.
pub async fn deploy(
    client: &aws_sdk_cloudformation::Client,
    spec: &BoundStack,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), AttemptError> {
    let body = std::fs::read_to_string(&spec.template)
        .map_err(|e| format!("cannot read the template {}: {e}", spec.template.display()))?;
    let capabilities: Vec<Capability> = spec.capabilities.iter().map(|c| Capability::from(c.as_str())).collect();
    let given = |k: &String, v: &String| Parameter::builder().parameter_key(k).parameter_value(v).build();
    // A stack busy with an earlier operation is waited for once, then looked at again.
    for _ in 0..2 {
        let current = match client.describe_stacks().stack_name(&spec.name).send().await {
            Ok(out) => out.stacks().first().cloned(),
            Err(e) if e.as_service_error().and_then(|s| s.message()).is_some_and(|m| m.contains("does not exist")) => {
                None
            }
            Err(e) => return Err(sdk_error("cloudformation:DescribeStacks", &e)),
        };
        let Some(stack) = current else {
            let started = std::time::SystemTime::now();
            client
                .create_stack()
                .stack_name(&spec.name)
                .template_body(&body)
                .set_parameters(Some(spec.parameters.iter().map(|(k, v)| given(k, v)).collect()))
                .set_capabilities(Some(capabilities))
                .send()
                .await
                .map_err(|e| sdk_error("cloudformation:CreateStack", &e))?;
            log(&format!("creating stack {}", spec.name));
            return outcome(client, &spec.name, started, log).await;
        };
        let status = stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        match status.as_str() {
            "REVIEW_IN_PROGRESS"
            | "ROLLBACK_COMPLETE"
            | "ROLLBACK_FAILED"
            | "CREATE_FAILED"
            | "DELETE_FAILED"
            | "UPDATE_ROLLBACK_FAILED" => {
                return Err(format!("stack {} is {status} and cannot be updated: delete it first", spec.name).into());
            }
            busy if busy.ends_with("_IN_PROGRESS") => {
                log(&format!("stack {} is {busy}: waiting for it first", spec.name));
                settle(client, &spec.name, log).await?;
                continue;
            }
            _ => {}
        }
        // Unchanged template and parameters: nothing to do. Parameters the step leaves out keep their
        // values (as `aws cloudformation deploy` does), when the template still declares them.
        let old_template = client
            .get_template()
            .stack_name(&spec.name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:GetTemplate", &e))?
            .template_body()
            .unwrap_or_default()
            .to_owned();
        let old: BTreeMap<String, String> = stack
            .parameters()
            .iter()
            .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
            .collect();
        if old_template.trim() == body.trim() && spec.parameters.iter().all(|(k, v)| old.get(k) == Some(v)) {
            log(&format!("stack {} is up to date: no changes", spec.name));
            return Ok(());
        }
        let declared = declared_parameters(&body);
        let mut parameters: Vec<Parameter> = spec.parameters.iter().map(|(k, v)| given(k, v)).collect();
        for key in old.keys().filter(|k| !spec.parameters.contains_key(*k)) {
            if declared.as_ref().is_some_and(|d| d.contains(key)) {
                parameters.push(Parameter::builder().parameter_key(key).use_previous_value(true).build());
            }
        }
        let started = std::time::SystemTime::now();
        return match client
            .update_stack()
            .stack_name(&spec.name)
            .template_body(&body)
            .set_parameters(Some(parameters))
            .set_capabilities(Some(capabilities))
            .send()
            .await
        {
            Ok(_) => {
                log(&format!("updating stack {}", spec.name));
                outcome(client, &spec.name, started, log).await
            }
            Err(e)
                if e.as_service_error()
                    .and_then(|s| s.message())
                    .is_some_and(|m| m.contains("No updates are to be performed")) =>
            {
                log(&format!("stack {} is up to date: no changes", spec.name));
                Ok(())
            }
            Err(e) => Err(sdk_error("cloudformation:UpdateStack", &e)),
        };
    }
    Err(format!("stack {} stayed busy with other operations", spec.name).into())
}

/// Waits until the stack is no longer `*_IN_PROGRESS`; its final status, or `None` once it is gone.
async fn settle(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<Option<aws_sdk_cloudformation::types::Stack>, AttemptError> {
    let started = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let out = match client.describe_stacks().stack_name(name).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().and_then(|s| s.message()).is_some_and(|m| m.contains("does not exist")) => {
                return Ok(None);
            }
            Err(e) => return Err(sdk_error("cloudformation:DescribeStacks", &e)),
        };
        let Some(stack) = out.stacks().first() else { return Ok(None) };
        let status = stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        if status != last {
            log(&format!("stack {name}: {status}"));
            last.clone_from(&status);
        }
        if !status.ends_with("_IN_PROGRESS") || status == "REVIEW_IN_PROGRESS" {
            return Ok(Some(stack.clone()));
        }
        if started.elapsed() > MAX_WAIT {
            return Err(format!("stack {name} still {status} after {MAX_WAIT:?}").into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for the operation started at `started` and judges it: `CREATE_COMPLETE` / `UPDATE_COMPLETE` pass;
/// anything else fails with the stack's reason and the first resource that failed since `started`.
async fn outcome(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
    started: std::time::SystemTime,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), AttemptError> {
    let Some(stack) = settle(client, name, log).await? else {
        return Err(format!("stack {name} disappeared").into());
    };
    let status = stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
    if matches!(status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE") {
        return Ok(());
    }
    let since = started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64) - 5;
    let failed = client.describe_stack_events().stack_name(name).send().await.ok().and_then(|events| {
        // Newest first: the first failure of this operation is the last one listed.
        events.stack_events().iter().rev().find_map(|e| {
            let status = e.resource_status()?.as_str();
            let recent = e.timestamp().is_none_or(|t| t.secs() >= since);
            (recent && status.ends_with("_FAILED")).then(|| {
                format!(
                    "{} {}: {}",
                    e.logical_resource_id().unwrap_or_default(),
                    status,
                    e.resource_status_reason().unwrap_or_default()
                )
            })
        })
    });
    let mut message = format!("stack {name} ended {status}");
    if let Some(reason) = stack.stack_status_reason().filter(|r| !r.is_empty()) {
        message.push_str(&format!(": {reason}"));
    }
    if let Some(failed) = failed {
        message.push_str(&format!(" (first failure: {failed})"));
    }
    Err(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_parameters_are_read_from_yaml_and_json_templates() {
        let yaml = "Parameters:\n  ClusterName: { Type: String }\n  Nodes: { Type: Number }\nResources:\n  X:\n    Type: AWS::SSM::Parameter\n    Properties: { Value: !Ref ClusterName }\n";
        let names: Vec<String> = declared_parameters(yaml).unwrap_or_default().into_iter().collect();
        assert_eq!(names, ["ClusterName", "Nodes"]);
        assert_eq!(declared_parameters(r#"{"Parameters": {"A": {"Type": "String"}}}"#).unwrap().len(), 1);
        assert_eq!(declared_parameters("Resources: {}\n"), None);
    }
}

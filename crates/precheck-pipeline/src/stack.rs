//! `cloudformation` steps: deploy a stack from a template with parameters and wait until it is done, as
//! `aws cloudformation deploy` does — create it when missing, update it when the template or a parameter
//! changed, and do nothing when neither did. Through CreateStack/UpdateStack rather than change sets, so
//! the outcome (outputs, exports) is the same on AWS and on emulators that skip change-set outputs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::graph::BoundStack;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};

/// How often the stack's status is read while waiting.
const POLL: Duration = Duration::from_secs(2);

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    action: &str,
    e: &aws_sdk_cloudformation::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> String {
    precheck::aws::error(action, e).to_string()
}

/// Deploys `spec` and waits; `log` gets one line per change of status.
pub async fn deploy(
    client: &aws_sdk_cloudformation::Client,
    spec: &BoundStack,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), String> {
    let body = std::fs::read_to_string(&spec.template)
        .map_err(|e| format!("cannot read the template {}: {e}", spec.template.display()))?;
    let parameters: Vec<Parameter> =
        spec.parameters.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect();
    let capabilities: Vec<Capability> = spec.capabilities.iter().map(|c| Capability::from(c.as_str())).collect();

    let current = match client.describe_stacks().stack_name(&spec.name).send().await {
        Ok(out) => out.stacks().first().cloned(),
        Err(e) if e.as_service_error().and_then(|s| s.message()).is_some_and(|m| m.contains("does not exist")) => None,
        Err(e) => return Err(sdk_error("cloudformation:DescribeStacks", &e)),
    };
    let Some(stack) = current else {
        client
            .create_stack()
            .stack_name(&spec.name)
            .template_body(&body)
            .set_parameters(Some(parameters))
            .set_capabilities(Some(capabilities))
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:CreateStack", &e))?;
        log(&format!("creating stack {}", spec.name));
        return wait(client, &spec.name, log).await;
    };
    let status = stack.stack_status().cloned().unwrap_or(StackStatus::from("UNKNOWN"));
    let status_text = status.as_str().to_owned();
    if status_text.ends_with("_IN_PROGRESS") {
        log(&format!("stack {} is {status_text}: waiting for it first", spec.name));
        wait(client, &spec.name, log).await?;
    } else if matches!(
        status_text.as_str(),
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" | "DELETE_FAILED"
    ) {
        return Err(format!("stack {} is {status_text} and cannot be updated: delete it first", spec.name));
    }
    // Unchanged template and parameters: nothing to do.
    let old_template = client
        .get_template()
        .stack_name(&spec.name)
        .send()
        .await
        .map_err(|e| sdk_error("cloudformation:GetTemplate", &e))?
        .template_body()
        .unwrap_or_default()
        .to_owned();
    let old_parameters: BTreeMap<String, String> = stack
        .parameters()
        .iter()
        .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned())))
        .collect();
    let same_parameters = spec.parameters.iter().all(|(k, v)| old_parameters.get(k) == Some(v));
    if old_template.trim() == body.trim() && same_parameters {
        log(&format!("stack {} is up to date: no changes", spec.name));
        return Ok(());
    }
    match client
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
            wait(client, &spec.name, log).await
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
    }
}

/// Waits until the stack leaves its `*_IN_PROGRESS` status: a `*_COMPLETE` status other than a rollback is
/// success; anything else fails with the stack's reason and the first failed resource's.
async fn wait(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<(), String> {
    let mut last = String::new();
    loop {
        let out = client
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("cloudformation:DescribeStacks", &e))?;
        let Some(stack) = out.stacks().first() else {
            return Err(format!("stack {name} disappeared"));
        };
        let status = stack.stack_status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        if status != last {
            log(&format!("stack {name}: {status}"));
            last.clone_from(&status);
        }
        if status.ends_with("_IN_PROGRESS") {
            tokio::time::sleep(POLL).await;
            continue;
        }
        if status.ends_with("_COMPLETE") && !status.contains("ROLLBACK") && !status.starts_with("DELETE") {
            return Ok(());
        }
        let reason = stack.stack_status_reason().unwrap_or_default().to_owned();
        let failed = client.describe_stack_events().stack_name(name).send().await.ok().and_then(|events| {
            events.stack_events().iter().find_map(|e| {
                let status = e.resource_status()?.as_str();
                status.ends_with("_FAILED").then(|| {
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
        if !reason.is_empty() {
            message.push_str(&format!(": {reason}"));
        }
        if let Some(failed) = failed {
            message.push_str(&format!(" (first failure: {failed})"));
        }
        return Err(message);
    }
}

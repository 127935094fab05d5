//! The grammar of AWS preflight sentences, sharing the terminals of the cluster grammar.

use nom::Parser;
use nom::branch::alt;
use nom::combinator::opt;

use super::{Ctx, GErr, PResult, count_comparison, expectation, kw, kw_ws, number, quoted, ws};
use crate::ast::{CountComparison, Spanned};
use crate::aws_ast::{AwsAssertion, Lookup, NetworkKind, NetworkRef, ParameterCheck, StackCheck};
use crate::error::{SyntaxErrorKind, nearest};

/// The parameter types SSM knows.
const PARAMETER_TYPES: [&str; 3] = ["String", "StringList", "SecureString"];

pub(super) fn aws_sentence<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, AwsAssertion> {
    alt((
        |i| account(ctx, i),
        |i| every_subnet(ctx, i),
        |i| export(ctx, i),
        |i| stack(ctx, i),
        |i| parameter(ctx, i),
        |i| network(ctx, i),
    ))
    .parse(i)
}

fn value<'a>(ctx: &Ctx<'a>, what: &'static str, i: &'a str) -> PResult<'a, Spanned<String>> {
    let (rest, (content, at)) = quoted(what)(i)?;
    Ok((rest, Spanned::new(content.to_owned(), ctx.span(at, &at[content.len()..]))))
}

fn account<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, AwsAssertion> {
    let (i, _) = kw_ws("account")(i)?;
    let (i, _) = kw_ws("is")(i)?;
    let (i, id) = value(ctx, "account id", i)?;
    Ok((i, AwsAssertion::Account { id }))
}

/// `has [more than|less than] N free ip addresses`
fn free_ips(i: &str) -> PResult<'_, CountComparison> {
    let (i, _) = kw_ws("has")(i)?;
    let (i, count) = count_comparison(i)?;
    let (i, _) = ws(i)?;
    let (i, _) = kw_ws("free")(i)?;
    let (i, _) = alt((kw("ips"), kw("ip"))).parse(i)?;
    let (i, _) = opt(|i| ws(i).and_then(|(i, _)| kw("addresses")(i))).parse(i)?;
    Ok((i, count))
}

fn every_subnet<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, AwsAssertion> {
    let (i, _) = kw_ws("every")(i)?;
    let (i, _) = kw_ws("subnet")(i)?;
    let (i, _) = kw_ws("tagged")(i)?;
    let (rest, (content, at)) = quoted("tag (key=value)")(i)?;
    let Some((key, tag_value)) = content.split_once('=') else {
        return Err(nom::Err::Failure(
            GErr::custom(at, content.len(), SyntaxErrorKind::Unexpected, "expected a tag as `key=value`")
                .label("no `=` in the tag")
                .help("write `every subnet tagged 'tier=private' has more than 20 free ip addresses`"),
        ));
    };
    let value_at = &at[key.len() + 1..];
    let key = Spanned::new(key.to_owned(), ctx.span(at, &at[key.len()..]));
    let value = Spanned::new(tag_value.to_owned(), ctx.span(value_at, &value_at[tag_value.len()..]));
    let (i, _) = ws(rest)?;
    let (i, count) = free_ips(i)?;
    Ok((i, AwsAssertion::EveryTaggedSubnetFreeIps { key, value, count }))
}

fn export<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, AwsAssertion> {
    let (i, _) = kw_ws("export")(i)?;
    let (i, name) = value(ctx, "export name", i)?;
    let (i, _) = ws(i)?;
    let (i, expect) = alt((
        |i| kw("exists")(i).map(|(i, _)| (i, None)),
        |i| expectation(ctx, i, "is", "matches").map(|(i, e)| (i, Some(e))),
    ))
    .parse(i)?;
    Ok((i, AwsAssertion::Export { name, expect }))
}

fn stack<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, AwsAssertion> {
    let (i, _) = kw_ws("stack")(i)?;
    let (i, name) = value(ctx, "stack name", i)?;
    let (i, _) = ws(i)?;
    let one_of = |i: &'a str| {
        let (i, _) = kw_ws("status")(i)?;
        let (i, _) = kw_ws("is")(i)?;
        let (i, _) = kw_ws("one")(i)?;
        let (i, _) = kw_ws("of")(i)?;
        let (mut i, first) = value(ctx, "stack status", i)?;
        let mut all = vec![first];
        loop {
            let after_blanks = i.trim_start_matches([' ', '\t']);
            let Some(next) = after_blanks.strip_prefix(',') else { break };
            let next = next.trim_start_matches([' ', '\t']);
            let (rest, status) = value(ctx, "stack status", next)?;
            all.push(status);
            i = rest;
        }
        Ok((i, StackCheck::StatusOneOf(all)))
    };
    let status = |i: &'a str| {
        let (i, _) = kw_ws("status")(i)?;
        let (i, e) = expectation(ctx, i, "is", "matches")?;
        Ok((i, StackCheck::Status(e)))
    };
    let output = |i: &'a str| {
        let (i, _) = kw_ws("output")(i)?;
        let (i, key) = value(ctx, "output key", i)?;
        let (i, _) = ws(i)?;
        let (i, expect) = expectation(ctx, i, "is", "matches")?;
        Ok((i, StackCheck::Output { key, expect }))
    };
    let exists = |i: &'a str| kw("exists")(i).map(|(i, _)| (i, StackCheck::Exists));
    let (i, check) = alt((exists, one_of, status, output)).parse(i)?;
    Ok((i, AwsAssertion::Stack { name, check }))
}

fn parameter<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, AwsAssertion> {
    let (i, _) = kw_ws("parameter")(i)?;
    let (i, name) = value(ctx, "parameter name", i)?;
    let (i, _) = ws(i)?;
    let has_type = |i: &'a str| {
        let (i, _) = kw_ws("has")(i)?;
        let (i, _) = kw_ws("type")(i)?;
        let at = i;
        let (i, t) = value(ctx, "parameter type", i)?;
        if !PARAMETER_TYPES.contains(&t.value.as_str()) {
            let mut e = GErr::custom(at, t.value.len() + 2, SyntaxErrorKind::Unexpected, "unknown parameter type")
                .label("expected 'String', 'StringList' or 'SecureString'");
            // Types are case-sensitive in SSM: one that differs only in case is the first suggestion.
            if let Some(n) = nearest(&t.value, PARAMETER_TYPES) {
                e = e.help(format!("did you mean '{n}'?"));
            }
            return Err(nom::Err::Failure(e));
        }
        Ok((i, ParameterCheck::Type(t)))
    };
    let exists = |i: &'a str| kw("exists")(i).map(|(i, _)| (i, ParameterCheck::Exists));
    let value_check = |i: &'a str| expectation(ctx, i, "is", "matches").map(|(i, e)| (i, ParameterCheck::Value(e)));
    let (i, check) = alt((exists, has_type, value_check)).parse(i)?;
    Ok((i, AwsAssertion::Parameter { name, check }))
}

/// `vpc|subnet ('<id>' | named '<Name>' | exported as '<export>')`
fn network_ref<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, NetworkRef> {
    let (i, kind) = alt((
        |i| kw("vpc")(i).map(|(i, _)| (i, NetworkKind::Vpc)),
        |i| kw("subnet")(i).map(|(i, _)| (i, NetworkKind::Subnet)),
    ))
    .parse(i)?;
    let (i, _) = ws(i)?;
    let (i, lookup) = alt((
        |i| {
            let (i, _) = kw_ws("named")(i)?;
            value(ctx, "Name tag", i).map(|(i, v)| (i, Lookup::Named(v)))
        },
        |i| {
            let (i, _) = kw_ws("exported")(i)?;
            let (i, _) = kw_ws("as")(i)?;
            value(ctx, "export name", i).map(|(i, v)| (i, Lookup::Exported(v)))
        },
        |i| value(ctx, "id", i).map(|(i, v)| (i, Lookup::Id(v))),
    ))
    .parse(i)?;
    Ok((i, NetworkRef { kind, lookup }))
}

fn network<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, AwsAssertion> {
    let (i, resource) = network_ref(ctx, i)?;
    let (i, _) = ws(i)?;
    let checks_at = i;
    let vpc_only = |what: &str, len: usize| {
        nom::Err::Failure(
            GErr::custom(checks_at, len, SyntaxErrorKind::Form, format!("only a vpc has {what}"))
                .label(format!("{what} of a subnet")),
        )
    };
    let exists = |i: &'a str| kw("exists")(i).map(|(i, _)| (i, AwsAssertion::Exists { resource: resource.clone() }));
    let tag = |i: &'a str| {
        let (i, _) = kw_ws("tag")(i)?;
        let (i, key) = value(ctx, "tag key", i)?;
        let (i, _) = ws(i)?;
        let (i, expect) = expectation(ctx, i, "is", "matches")?;
        Ok((i, AwsAssertion::Tag { resource: resource.clone(), key, expect }))
    };
    let dhcp = |i: &'a str| {
        let (i, _) = kw_ws("dhcp")(i)?;
        if resource.kind != NetworkKind::Vpc {
            return Err(vpc_only("DHCP options", 4));
        }
        alt((
            |i| {
                let (i, _) = kw_ws("domain")(i)?;
                let (i, _) = kw_ws("name")(i)?;
                let (i, expect) = expectation(ctx, i, "is", "matches")?;
                Ok((i, AwsAssertion::DhcpDomainName { vpc: resource.clone(), expect }))
            },
            |i| {
                let (i, _) = kw_ws("name")(i)?;
                let (i, _) = kw_ws("servers")(i)?;
                let (i, _) = kw_ws("contain")(i)?;
                let (i, contains) = value(ctx, "name server", i)?;
                Ok((i, AwsAssertion::DhcpNameServers { vpc: resource.clone(), contains }))
            },
        ))
        .parse(i)
    };
    let zones = |i: &'a str| {
        let (i, _) = kw_ws("subnets")(i)?;
        if resource.kind != NetworkKind::Vpc {
            return Err(vpc_only("subnets", 7));
        }
        let (i, _) = kw_ws("span")(i)?;
        let (i, _) = kw_ws("at")(i)?;
        let (i, _) = kw_ws("least")(i)?;
        let (i, at_least) = number(i)?;
        let (i, _) = ws(i)?;
        let (i, _) = kw_ws("availability")(i)?;
        let (i, _) = alt((kw("zones"), kw("zone"))).parse(i)?;
        Ok((i, AwsAssertion::AvailabilityZones { vpc: resource.clone(), at_least }))
    };
    let ips = |i: &'a str| {
        if resource.kind != NetworkKind::Subnet && kw("has")(i).is_ok() {
            return Err(nom::Err::Failure(
                GErr::custom(i, 3, SyntaxErrorKind::Form, "free ip addresses are counted per subnet")
                    .label("a vpc")
                    .help("write `every subnet tagged '…' has …` or name a subnet"),
            ));
        }
        let (i, count) = free_ips(i)?;
        Ok((i, AwsAssertion::FreeIps { subnet: resource.clone(), count }))
    };
    alt((exists, tag, dhcp, zones, ips)).parse(i)
}

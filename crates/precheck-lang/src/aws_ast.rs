//! The syntax tree of AWS preflight sentences: what to look up in the account and what must hold.
//!
//! ```
//! use precheck_lang::{parse_sentence, Assertion, AwsAssertion, CountComparison, Lookup};
//!
//! let s = parse_sentence("subnet exported as 'net-PrivateSubnetA' has more than 200 free ip addresses").unwrap();
//! let Assertion::Aws(AwsAssertion::FreeIps { subnet, count }) = &s.assertion else { unreachable!() };
//! assert!(matches!(&subnet.lookup, Lookup::Exported(name) if name.value == "net-PrivateSubnetA"));
//! assert_eq!(*count, CountComparison::MoreThan(200));
//! ```

use std::fmt;

use crate::ast::{CountComparison, Expectation, Span, Spanned};

/// An assertion about the AWS account in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsAssertion {
    /// `account is '<id>'`: the caller identity's account.
    Account {
        /// The expected account id.
        id: Spanned<String>,
    },
    /// `vpc … exists`, `subnet … exists`.
    Exists {
        /// The VPC or subnet.
        resource: NetworkRef,
    },
    /// `vpc … tag '<key>' is|matches '<value>'`.
    Tag {
        /// The VPC or subnet.
        resource: NetworkRef,
        /// The tag key.
        key: Spanned<String>,
        /// The expected value.
        expect: Expectation,
    },
    /// `vpc … dhcp domain name is|matches '<value>'`.
    DhcpDomainName {
        /// The VPC.
        vpc: NetworkRef,
        /// The expected domain name.
        expect: Expectation,
    },
    /// `vpc … dhcp name servers contain '<server>'`.
    DhcpNameServers {
        /// The VPC.
        vpc: NetworkRef,
        /// A name server that must be configured.
        contains: Spanned<String>,
    },
    /// `vpc … subnets span at least N availability zones`.
    AvailabilityZones {
        /// The VPC.
        vpc: NetworkRef,
        /// The least number of distinct zones.
        at_least: u64,
    },
    /// `subnet … has [more than|less than] N free ip addresses`.
    FreeIps {
        /// The subnet.
        subnet: NetworkRef,
        /// The comparison on `AvailableIpAddressCount`.
        count: CountComparison,
    },
    /// `every subnet tagged '<key>=<value>' has … free ip addresses`: every such subnet, and at least one.
    EveryTaggedSubnetFreeIps {
        /// The tag key.
        key: Spanned<String>,
        /// The tag value.
        value: Spanned<String>,
        /// The comparison for each subnet.
        count: CountComparison,
    },
    /// `export '<name>' exists|is|matches …`: a CloudFormation export.
    Export {
        /// The export name.
        name: Spanned<String>,
        /// The expected value; `None` for `exists`.
        expect: Option<Expectation>,
    },
    /// `stack '<name>' …`: a CloudFormation stack.
    Stack {
        /// The stack name.
        name: Spanned<String>,
        /// What must hold.
        check: StackCheck,
    },
    /// `parameter '<name>' …`: an SSM parameter.
    Parameter {
        /// The parameter name.
        name: Spanned<String>,
        /// What must hold.
        check: ParameterCheck,
    },
}

/// What must hold for a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackCheck {
    /// `exists` (and is not deleted).
    Exists,
    /// `status is|matches '<STATUS>'`.
    Status(Expectation),
    /// `status is one of 'A', 'B'`.
    StatusOneOf(Vec<Spanned<String>>),
    /// `output '<key>' is|matches …`.
    Output {
        /// The output key.
        key: Spanned<String>,
        /// The expected value.
        expect: Expectation,
    },
}

/// What must hold for an SSM parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterCheck {
    /// `exists`.
    Exists,
    /// `is|matches …`: the (decrypted) value; a SecureString value is never shown in reports.
    Value(Expectation),
    /// `has type 'String'|'StringList'|'SecureString'`.
    Type(Spanned<String>),
}

/// A VPC or a subnet, and how to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRef {
    /// VPC or subnet.
    pub kind: NetworkKind,
    /// By id, `Name` tag or CloudFormation export.
    pub lookup: Lookup,
}

/// The kind of a [`NetworkRef`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// A VPC.
    Vpc,
    /// A subnet.
    Subnet,
}

impl fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Vpc => "vpc",
            Self::Subnet => "subnet",
        })
    }
}

/// How a VPC or subnet is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `'<id>'`
    Id(Spanned<String>),
    /// `named '<Name tag>'`
    Named(Spanned<String>),
    /// `exported as '<export name>'`: the id is the export's value.
    Exported(Spanned<String>),
}

impl fmt::Display for NetworkRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lookup {
            Lookup::Id(id) => write!(f, "{} '{}'", self.kind, id.value),
            Lookup::Named(name) => write!(f, "{} named '{}'", self.kind, name.value),
            Lookup::Exported(export) => write!(f, "{} exported as '{}'", self.kind, export.value),
        }
    }
}

impl AwsAssertion {
    /// Rewrites every span with `f`.
    pub(crate) fn map_spans(&mut self, f: &dyn Fn(Span) -> Span) {
        fn s<T>(x: &mut Spanned<T>, f: &dyn Fn(Span) -> Span) {
            x.span = f(x.span);
        }
        fn r(x: &mut NetworkRef, f: &dyn Fn(Span) -> Span) {
            match &mut x.lookup {
                Lookup::Id(v) | Lookup::Named(v) | Lookup::Exported(v) => s(v, f),
            }
        }
        match self {
            Self::Account { id } => s(id, f),
            Self::Exists { resource } => r(resource, f),
            Self::Tag { resource, key, expect } => {
                r(resource, f);
                s(key, f);
                expect.map_spans(f);
            }
            Self::DhcpDomainName { vpc, expect } => {
                r(vpc, f);
                expect.map_spans(f);
            }
            Self::DhcpNameServers { vpc, contains } => {
                r(vpc, f);
                s(contains, f);
            }
            Self::AvailabilityZones { vpc, .. } => r(vpc, f),
            Self::FreeIps { subnet, .. } => r(subnet, f),
            Self::EveryTaggedSubnetFreeIps { key, value, .. } => {
                s(key, f);
                s(value, f);
            }
            Self::Export { name, expect } => {
                s(name, f);
                if let Some(e) = expect {
                    e.map_spans(f);
                }
            }
            Self::Stack { name, check } => {
                s(name, f);
                match check {
                    StackCheck::Exists => {}
                    StackCheck::Status(e) => e.map_spans(f),
                    StackCheck::StatusOneOf(list) => list.iter_mut().for_each(|v| s(v, f)),
                    StackCheck::Output { key, expect } => {
                        s(key, f);
                        expect.map_spans(f);
                    }
                }
            }
            Self::Parameter { name, check } => {
                s(name, f);
                match check {
                    ParameterCheck::Exists => {}
                    ParameterCheck::Value(e) => e.map_spans(f),
                    ParameterCheck::Type(t) => s(t, f),
                }
            }
        }
    }
}

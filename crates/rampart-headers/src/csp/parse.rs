//! A policy's text form, as written in a header or a configuration file.

use std::{borrow::Cow, str::FromStr};

use super::{
    ContentSecurityPolicy, CspBuilder, CspError, Directive, SandboxFlag, Source,
    directive::ValueKind, policy::Value,
};

impl FromStr for ContentSecurityPolicy {
    type Err = CspError;

    /// Parses a policy as written in a header or a configuration file, in
    /// enforce mode. `'nonce'` asks for a per-request nonce; a fixed
    /// `'nonce-…'` is refused.
    fn from_str(text: &str) -> Result<Self, CspError> {
        let mut builder = CspBuilder::default();
        for directive in text.split(';') {
            let mut tokens = directive.split_ascii_whitespace();
            let Some(name) = tokens.next() else {
                continue;
            };
            let directive =
                Directive::from_name(name).ok_or_else(|| CspError::UnknownDirective {
                    name: name.to_owned(),
                })?;
            if builder.directives.iter().any(|(d, _)| *d == directive) {
                return Err(CspError::DuplicateDirective { directive });
            }
            let value = match directive.value_kind() {
                ValueKind::Sources => {
                    Value::Sources(tokens.map(Source::parse).collect::<Result<_, _>>()?)
                }
                ValueKind::SandboxFlags => Value::Sandbox(
                    tokens
                        .map(|t| {
                            SandboxFlag::from_name(t)
                                .ok_or_else(|| CspError::UnknownSandboxFlag { flag: t.to_owned() })
                        })
                        .collect::<Result<_, _>>()?,
                ),
                ValueKind::Flag => match tokens.next() {
                    None => Value::Flag,
                    Some(_) => return Err(CspError::UnexpectedValue { directive }),
                },
                ValueKind::Uris => Value::Uris(tokens.map(|t| Cow::Owned(t.to_owned())).collect()),
                ValueKind::Token => {
                    let group: Vec<&str> = tokens.collect();
                    match group.as_slice() {
                        [group] => Value::Token(Cow::Owned((*group).to_owned())),
                        _ => {
                            return Err(CspError::InvalidReportTo {
                                group: group.join(" "),
                            });
                        }
                    }
                }
            };
            builder.directives.push((directive, value));
        }
        builder.build()
    }
}

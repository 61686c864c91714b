//! Configuration of the client IP resolution: in code, from the environment,
//! or from a serde struct.

use std::{env::VarError, fmt, str::FromStr};

use super::{TrustedProxies, TrustedProxiesError};

/// The one forwarding header that is believed from a trusted proxy.
///
/// There is deliberately no "both": a proxy that writes one of them passes
/// the other on from the client unchanged, so a service that believed both
/// would believe whatever a client put in the header its proxy does not
/// write. Pick the one your proxy writes (nginx's `$proxy_add_x_forwarded_for`,
/// most load balancers: [`XForwardedFor`](Self::XForwardedFor); a proxy
/// configured for RFC 7239: [`Forwarded`](Self::Forwarded)).
///
/// Parsed case-insensitively from `x-forwarded-for` or `forwarded`, as the
/// `CLIENT_IP_HEADER` environment variable and serde configuration spell it.
///
/// # Example
///
/// ```
/// use rampart_core::ForwardedHeader;
///
/// assert_eq!(ForwardedHeader::default(), ForwardedHeader::XForwardedFor);
/// assert_eq!("Forwarded".parse::<ForwardedHeader>()?, ForwardedHeader::Forwarded);
/// assert_eq!(ForwardedHeader::XForwardedFor.to_string(), "x-forwarded-for");
/// assert!("both".parse::<ForwardedHeader>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(try_from = "String", into = "&'static str")
)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`: comma-separated addresses, the de facto standard.
    #[default]
    XForwardedFor,
    /// `Forwarded`, [RFC 7239](https://www.rfc-editor.org/rfc/rfc7239): the
    /// `for=` parameter of each element.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name in lower case, as written in configuration.
    ///
    /// ```
    /// assert_eq!(rampart_core::ForwardedHeader::Forwarded.as_str(), "forwarded");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

impl fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ForwardedHeader> for &'static str {
    fn from(header: ForwardedHeader) -> Self {
        header.as_str()
    }
}

/// A header name that is not one [`ForwardedHeader`] knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown client IP header {value:?}: expected \"x-forwarded-for\" or \"forwarded\"")]
pub struct ParseForwardedHeaderError {
    value: String,
}

impl ParseForwardedHeaderError {
    /// The value as written.
    ///
    /// ```
    /// let err = "x-real-ip".parse::<rampart_core::ForwardedHeader>().unwrap_err();
    /// assert_eq!(err.value(), "x-real-ip");
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FromStr for ForwardedHeader {
    type Err = ParseForwardedHeaderError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let name = value.trim();
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            Ok(Self::XForwardedFor)
        } else if name.eq_ignore_ascii_case("forwarded") {
            Ok(Self::Forwarded)
        } else {
            Err(ParseForwardedHeaderError {
                value: value.to_owned(),
            })
        }
    }
}

impl TryFrom<String> for ForwardedHeader {
    type Error = ParseForwardedHeaderError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// Everything a [`ClientIpLayer`](crate::ClientIpLayer) is configured with.
///
/// With the `serde` feature it deserializes from, for example, TOML:
///
/// ```toml
/// trusted_proxies = "10.0.0.0/8, 127.0.0.1"   # or a list: ["10.0.0.0/8", "127.0.0.1"]
/// header = "forwarded"                          # default "x-forwarded-for"
/// ```
///
/// An entry that is no network fails deserialization with an error that names
/// it; an unknown field is refused so that a typo does not pass silently.
///
/// # Example
///
/// ```
/// use rampart_core::{ClientIpConfig, ForwardedHeader, TrustedProxies};
///
/// let mut config = ClientIpConfig::default();
/// assert!(config.trusted_proxies.is_empty()); // safe default: trust nobody
/// config.trusted_proxies = "10.0.0.0/8".parse()?;
/// config.header = ForwardedHeader::Forwarded;
/// let layer = rampart_core::ClientIpLayer::from_config(config);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct ClientIpConfig {
    /// The proxies whose forwarding header is believed. Default: none.
    pub trusted_proxies: TrustedProxies,
    /// The header believed from them. Default: `X-Forwarded-For`.
    pub header: ForwardedHeader,
}

/// Why a client IP configuration from the environment was refused. The
/// message names the variable and the value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientIpConfigError {
    /// The trusted proxy list does not parse.
    #[error("{variable}={value:?}: {source}")]
    TrustedProxies {
        /// The variable, `TRUSTED_PROXIES`.
        variable: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        source: TrustedProxiesError,
    },
    /// The header is neither `x-forwarded-for` nor `forwarded`.
    #[error("{variable}={value:?}: {source}")]
    Header {
        /// The variable, `CLIENT_IP_HEADER`.
        variable: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        source: ParseForwardedHeaderError,
    },
    /// The variable is set but not valid Unicode.
    #[error("{variable} is not valid Unicode")]
    NotUnicode {
        /// The variable.
        variable: String,
    },
}

impl ClientIpConfig {
    /// The variable that holds the trusted proxies: `TRUSTED_PROXIES`, a
    /// comma-separated list of addresses and CIDR networks.
    pub const TRUSTED_PROXIES_VAR: &'static str = "TRUSTED_PROXIES";
    /// The variable that names the header: `CLIENT_IP_HEADER`,
    /// `x-forwarded-for` (default) or `forwarded`.
    pub const HEADER_VAR: &'static str = "CLIENT_IP_HEADER";

    /// Reads [`TRUSTED_PROXIES`](Self::TRUSTED_PROXIES_VAR) and
    /// [`CLIENT_IP_HEADER`](Self::HEADER_VAR). An unset or empty variable
    /// keeps its default; a bad value is an error naming the variable and
    /// the value.
    ///
    /// ```no_run
    /// // TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1 CLIENT_IP_HEADER=forwarded
    /// let config = rampart_core::ClientIpConfig::from_env()?;
    /// # Ok::<(), rampart_core::ClientIpConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ClientIpConfigError> {
        Self::from_lookup(std::env::var)
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`
    /// (tests cannot set the process environment safely).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<String, VarError>,
    ) -> Result<Self, ClientIpConfigError> {
        let read = |variable: &'static str| match lookup(variable) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(VarError::NotPresent) => Ok(None),
            Err(VarError::NotUnicode(_)) => Err(ClientIpConfigError::NotUnicode {
                variable: variable.to_owned(),
            }),
        };
        let mut config = Self::default();
        if let Some(value) = read(Self::TRUSTED_PROXIES_VAR)? {
            config.trusted_proxies =
                value
                    .parse()
                    .map_err(|source| ClientIpConfigError::TrustedProxies {
                        variable: Self::TRUSTED_PROXIES_VAR.to_owned(),
                        value: value.clone(),
                        source,
                    })?;
        }
        if let Some(value) = read(Self::HEADER_VAR)? {
            config.header = value
                .parse()
                .map_err(|source| ClientIpConfigError::Header {
                    variable: Self::HEADER_VAR.to_owned(),
                    value: value.clone(),
                    source,
                })?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&'static str, &str)]) -> Result<ClientIpConfig, ClientIpConfigError> {
        let vars: HashMap<&str, String> = vars.iter().map(|&(k, v)| (k, v.to_owned())).collect();
        ClientIpConfig::from_lookup(|name| vars.get(name).cloned().ok_or(VarError::NotPresent))
    }

    #[test]
    fn unset_or_empty_is_the_safe_default() {
        assert_eq!(from(&[]).unwrap(), ClientIpConfig::default());
        let config = from(&[("TRUSTED_PROXIES", " "), ("CLIENT_IP_HEADER", "")]).unwrap();
        assert_eq!(config, ClientIpConfig::default());
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.header, ForwardedHeader::XForwardedFor);
    }

    #[test]
    fn reads_both_variables() {
        let config = from(&[
            ("TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1/32"),
            ("CLIENT_IP_HEADER", " Forwarded "),
        ])
        .unwrap();
        assert_eq!(
            config.trusted_proxies.to_string(),
            "10.0.0.0/8,127.0.0.1/32"
        );
        assert_eq!(config.header, ForwardedHeader::Forwarded);
    }

    #[test]
    fn errors_name_the_variable_and_the_value() {
        let err = from(&[("TRUSTED_PROXIES", "10.0.0.0/8,bogus")]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("TRUSTED_PROXIES=\"10.0.0.0/8,bogus\""),
            "{msg}"
        );
        assert!(msg.contains("\"bogus\""), "{msg}");

        let err = from(&[("CLIENT_IP_HEADER", "both")]).unwrap_err();
        assert!(matches!(err, ClientIpConfigError::Header { .. }));
        let msg = err.to_string();
        assert!(msg.starts_with("CLIENT_IP_HEADER=\"both\""), "{msg}");
        assert!(msg.contains("x-forwarded-for"), "{msg}");

        let err = ClientIpConfig::from_lookup(|_| {
            Err(VarError::NotUnicode(std::ffi::OsString::from("x")))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "TRUSTED_PROXIES is not valid Unicode");
    }

    #[test]
    fn header_names() {
        for (text, header) in [
            ("x-forwarded-for", ForwardedHeader::XForwardedFor),
            ("X-Forwarded-For", ForwardedHeader::XForwardedFor),
            ("forwarded", ForwardedHeader::Forwarded),
            ("FORWARDED", ForwardedHeader::Forwarded),
        ] {
            assert_eq!(text.parse::<ForwardedHeader>().unwrap(), header);
            assert_eq!(
                header.to_string().parse::<ForwardedHeader>().unwrap(),
                header
            );
        }
        for bad in ["", "both", "x-real-ip", "x-forwarded-for,forwarded"] {
            let err = bad.parse::<ForwardedHeader>().unwrap_err();
            assert_eq!(err.value(), bad);
        }
    }
}

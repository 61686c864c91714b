//! Who may scrape: an IP allow-list, HTTP basic auth, or both.

use std::{fmt, net::IpAddr, str::FromStr, sync::Arc};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{HeaderValue, Request, StatusCode, header};
use ipnet::IpNet;
use rampart_core::{ClientIp, Problem, normalize_ip, peer_addr};
use subtle::ConstantTimeEq;

use crate::GuardError;

/// The networks allowed to scrape: IP addresses and CIDR networks, IPv4 and
/// IPv6 (IPv4-mapped IPv6 clients match IPv4 entries).
///
/// The client is the [`ClientIp`] that `ClientIpLayer` resolved (so a
/// trusted proxy's `X-Forwarded-For` counts), else the connection's peer
/// address; a request with neither is refused.
///
/// # Example
///
/// ```
/// use rampart_metrics::IpAllowList;
///
/// let list: IpAllowList = "10.0.0.0/8, 127.0.0.1, ::1".parse()?;
/// assert!(list.contains("10.20.30.40".parse()?));
/// assert!(list.contains("::ffff:127.0.0.1".parse()?));
/// assert!(!list.contains("192.0.2.1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IpAllowList {
    networks: Arc<[IpNet]>,
}

impl IpAllowList {
    /// A list of these networks; an empty one is refused (no one could scrape).
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Result<Self, GuardError> {
        let networks: Arc<[IpNet]> = networks.into_iter().map(|n| n.trunc()).collect();
        if networks.is_empty() {
            return Err(GuardError::EmptyAllowList);
        }
        Ok(Self { networks })
    }

    /// Whether `ip` is inside one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = normalize_ip(ip);
        self.networks.iter().any(|n| n.contains(&ip))
    }
}

impl FromStr for IpAllowList {
    type Err = GuardError;

    /// Comma-separated addresses and networks: `10.0.0.0/8, 127.0.0.1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut networks = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let network = match entry.parse::<IpNet>() {
                Ok(network) if network.trunc() != network => {
                    return Err(GuardError::HostBitsSet {
                        entry: entry.to_owned(),
                        network: network.trunc().to_string(),
                    });
                }
                Ok(network) => network,
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(normalize_ip(ip)),
                    Err(_) => {
                        return Err(GuardError::InvalidNetwork {
                            entry: entry.to_owned(),
                        });
                    }
                },
            };
            networks.push(network);
        }
        Self::new(networks)
    }
}

impl fmt::Debug for IpAllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.networks.iter()).finish()
    }
}

/// The credentials of HTTP basic auth ([RFC 7617]), compared in constant
/// time. Debug output hides the password.
///
/// [RFC 7617]: https://www.rfc-editor.org/rfc/rfc7617
///
/// # Example
///
/// ```
/// use rampart_metrics::BasicAuth;
///
/// let auth = BasicAuth::new("prometheus", "s3cret")?;
/// assert!(!format!("{auth:?}").contains("s3cret"));
/// assert!(BasicAuth::new("a:b", "x").is_err());
/// # Ok::<(), rampart_metrics::GuardError>(())
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    user: Arc<str>,
    /// `user:password`, as the header carries it after base64.
    expected: Arc<[u8]>,
}

impl BasicAuth {
    /// Credentials a scrape must present.
    pub fn new(user: &str, password: &str) -> Result<Self, GuardError> {
        if user.is_empty() || user.contains(':') {
            return Err(GuardError::InvalidUser {
                user: user.to_owned(),
            });
        }
        if password.is_empty() {
            return Err(GuardError::EmptyPassword);
        }
        Ok(Self {
            user: user.into(),
            expected: format!("{user}:{password}").into_bytes().into(),
        })
    }

    fn accepts(&self, header: Option<&HeaderValue>) -> bool {
        let Some(value) = header.map(HeaderValue::as_bytes) else {
            return false;
        };
        let Some(space) = value.iter().position(|&b| b == b' ') else {
            return false;
        };
        let (scheme, token) = (&value[..space], value[space + 1..].trim_ascii());
        if !scheme.eq_ignore_ascii_case(b"basic") {
            return false;
        }
        let Ok(given) = STANDARD.decode(token) else {
            return false;
        };
        // Constant time in the content; a length mismatch returns at once,
        // which tells only the length of `user:password`.
        given.ct_eq(&self.expected).into()
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Both guards; either may be absent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    pub(crate) allow: Option<IpAllowList>,
    pub(crate) auth: Option<BasicAuth>,
}

impl Guard {
    /// `None` when the request may scrape, else the rejection's problem.
    pub(crate) fn check<B>(&self, request: &Request<B>) -> Option<Rejection> {
        if let Some(allow) = &self.allow {
            let ip = request
                .extensions()
                .get::<ClientIp>()
                .map(ClientIp::ip)
                .or_else(|| peer_addr(request).map(|a| a.ip()));
            if !ip.is_some_and(|ip| allow.contains(ip)) {
                return Some(Rejection::Forbidden);
            }
        }
        if let Some(auth) = &self.auth {
            if !auth.accepts(request.headers().get(header::AUTHORIZATION)) {
                return Some(Rejection::Unauthorized);
            }
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    Forbidden,
    Unauthorized,
}

impl Rejection {
    pub(crate) fn problem(self) -> Problem {
        match self {
            Self::Forbidden => Problem::new(StatusCode::FORBIDDEN)
                .with_detail("this address may not read the metrics"),
            Self::Unauthorized => Problem::new(StatusCode::UNAUTHORIZED)
                .with_detail("the metrics need HTTP basic authentication"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&[u8]>) -> Request<()> {
        let mut builder = Request::get("/metrics");
        if let Some(value) = authorization {
            builder = builder.header(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn basic_auth_accepts_only_the_exact_credentials() {
        let guard = Guard {
            allow: None,
            auth: Some(BasicAuth::new("prometheus", "s3cret").unwrap()),
        };
        let good = format!("Basic {}", STANDARD.encode("prometheus:s3cret"));
        assert_eq!(guard.check(&request(Some(good.as_bytes()))), None);
        let lower = format!("basic  {}", STANDARD.encode("prometheus:s3cret"));
        assert_eq!(guard.check(&request(Some(lower.as_bytes()))), None);
        for bad in [
            format!("Basic {}", STANDARD.encode("prometheus:s3cre")),
            format!("Basic {}", STANDARD.encode("prometheus:s3cret ")),
            format!("Basic {}", STANDARD.encode("Prometheus:s3cret")),
            format!("Bearer {}", STANDARD.encode("prometheus:s3cret")),
            "Basic".to_owned(),
            "Basic !!!not-base64".to_owned(),
            "Basic ".to_owned(),
            String::new(),
        ] {
            assert_eq!(
                guard.check(&request(Some(bad.as_bytes()))),
                Some(Rejection::Unauthorized),
                "{bad:?}"
            );
        }
        assert_eq!(guard.check(&request(None)), Some(Rejection::Unauthorized));
        assert_eq!(
            guard.check(&request(Some(b"Basic \xff\xfe"))),
            Some(Rejection::Unauthorized)
        );
    }

    #[test]
    fn allow_list_reads_client_ip_then_peer_and_fails_closed() {
        let guard = Guard {
            allow: Some("10.0.0.0/8".parse().unwrap()),
            auth: None,
        };
        let mut req = request(None);
        assert_eq!(guard.check(&req), Some(Rejection::Forbidden));
        req.extensions_mut()
            .insert(std::net::SocketAddr::from(([10, 1, 2, 3], 5000)));
        assert_eq!(guard.check(&req), None);
        // The resolved client wins over the peer (a proxy inside 10/8).
        req.extensions_mut().insert(ClientIp::new(
            "192.0.2.7".parse().unwrap(),
            rampart_core::ClientIpSource::XForwardedFor,
        ));
        assert_eq!(guard.check(&req), Some(Rejection::Forbidden));
    }

    #[test]
    fn bad_lists_are_named() {
        for (input, needle) in [
            ("10.0.0.0/33", "10.0.0.0/33"),
            ("localhost", "localhost"),
            ("10.0.0.1,, nope", "nope"),
            ("10.0.0.1/8", "10.0.0.0/8"),
        ] {
            let err = input.parse::<IpAllowList>().unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        assert_eq!(
            "".parse::<IpAllowList>().unwrap_err(),
            GuardError::EmptyAllowList
        );
        assert_eq!(
            " , ".parse::<IpAllowList>().unwrap_err(),
            GuardError::EmptyAllowList
        );
        assert!(BasicAuth::new("", "x").is_err());
        assert_eq!(
            BasicAuth::new("u", "").unwrap_err(),
            GuardError::EmptyPassword
        );
    }
}

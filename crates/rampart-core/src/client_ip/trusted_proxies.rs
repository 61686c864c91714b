//! The set of proxies whose forwarding headers are believed.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
    sync::Arc,
};

use ipnet::IpNet;

/// The networks of the reverse proxies in front of the service (nginx, a load
/// balancer). A forwarding header is believed only when the peer that sent it
/// is inside one of them; everything else is a client that may lie.
///
/// The default is empty: no header is believed, the client address is the
/// peer address. That is the safe choice for a service that listens on the
/// internet directly.
///
/// # Example
///
/// ```
/// use rampart_core::TrustedProxies;
///
/// let proxies: TrustedProxies = "10.0.0.0/8, 127.0.0.1, ::1".parse()?;
/// assert!(proxies.contains("10.1.2.3".parse()?));
/// assert!(proxies.contains("::ffff:127.0.0.1".parse()?)); // IPv4-mapped IPv6
/// assert!(!proxies.contains("192.0.2.1".parse()?));
///
/// // A typo names the entry at fault.
/// let err = "10.0.0.0/8,10.0.0.1/33".parse::<TrustedProxies>().unwrap_err();
/// assert!(err.to_string().contains("10.0.0.1/33"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    inner: Arc<Networks>,
}

/// The networks as written, and as `(network, mask)` integers: `contains`
/// runs on every request, twice or more behind proxies, and a masked compare
/// is a few instructions where `IpNet::contains` is dozens.
#[derive(Default, PartialEq, Eq)]
struct Networks {
    all: Vec<IpNet>,
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// Why a list of trusted proxies was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedProxiesError {
    /// The entry is neither an IP address nor a CIDR network.
    #[error(
        "trusted proxy entry {entry:?} is not an IP address or a CIDR network such as 10.0.0.0/8"
    )]
    Invalid {
        /// The entry as written.
        entry: String,
    },
    /// The network has bits set after its prefix (`10.0.0.1/8`), which is
    /// usually a typo for a different network.
    #[error("trusted proxy entry {entry:?} has host bits set; did you mean {network}?")]
    HostBitsSet {
        /// The entry as written.
        entry: String,
        /// The network the prefix describes.
        network: IpNet,
    },
    /// The environment variable is set but not valid Unicode.
    #[error("{variable} is not valid Unicode")]
    NotUnicode {
        /// The variable.
        variable: String,
    },
}

impl TrustedProxies {
    /// No trusted proxies: forwarding headers are never believed.
    pub fn none() -> Self {
        Self::default()
    }

    /// The loopback networks `127.0.0.0/8` and `::1/128`: a proxy on the same host.
    pub fn loopback() -> Self {
        Self::from_networks([
            IpNet::V4(ipnet::Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::V6(ipnet::Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        ])
    }

    /// These networks. IPv4-mapped IPv6 networks are stored as IPv4.
    pub fn from_networks(networks: impl IntoIterator<Item = IpNet>) -> Self {
        let all: Vec<IpNet> = networks.into_iter().map(normalize_net).collect();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in &all {
            match net {
                IpNet::V4(net) => v4.push((u32::from(net.network()), u32::from(net.netmask()))),
                IpNet::V6(net) => v6.push((u128::from(net.network()), u128::from(net.netmask()))),
            }
        }
        Self {
            inner: Arc::new(Networks { all, v4, v6 }),
        }
    }

    /// Reads a comma-separated list from the environment variable `name`
    /// (`TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1/32`). Unset or empty: none. Set
    /// but not Unicode: an error, not a silent "none".
    ///
    /// ```no_run
    /// let proxies = rampart_core::TrustedProxies::from_env("TRUSTED_PROXIES")?;
    /// # Ok::<(), rampart_core::TrustedProxiesError>(())
    /// ```
    pub fn from_env(name: &str) -> Result<Self, TrustedProxiesError> {
        match std::env::var(name) {
            Ok(value) => value.parse(),
            Err(std::env::VarError::NotPresent) => Ok(Self::none()),
            Err(std::env::VarError::NotUnicode(_)) => Err(TrustedProxiesError::NotUnicode {
                variable: name.to_owned(),
            }),
        }
    }

    /// Whether `ip` is inside one of the trusted networks.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match crate::normalize_ip(ip) {
            IpAddr::V4(ip) => {
                let ip = u32::from(ip);
                self.inner.v4.iter().any(|&(net, mask)| ip & mask == net)
            }
            IpAddr::V6(ip) => {
                let ip = u128::from(ip);
                self.inner.v6.iter().any(|&(net, mask)| ip & mask == net)
            }
        }
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.inner.all.is_empty()
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.inner.all
    }
}

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            networks.push(parse_entry(entry)?);
        }
        Ok(Self::from_networks(networks))
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, TrustedProxiesError> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = entry.parse().map_err(|_| TrustedProxiesError::Invalid {
        entry: entry.to_owned(),
    })?;
    if net.addr() != net.network() {
        return Err(TrustedProxiesError::HostBitsSet {
            entry: entry.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

fn normalize_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        _ => net,
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.inner.all.iter()).finish()
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.inner.all.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

/// Deserializes from a comma-separated string (`"10.0.0.0/8, 127.0.0.1"`) or a
/// list of entries, each validated as [`FromStr`] does.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TrustedProxies;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a comma-separated string or a list of IP addresses and CIDR networks")
            }

            fn visit_str<E: serde::de::Error>(self, list: &str) -> Result<Self::Value, E> {
                list.parse().map_err(E::custom)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut networks = Vec::new();
                while let Some(entry) = seq.next_element::<String>()? {
                    networks.push(parse_entry(entry.trim()).map_err(serde::de::Error::custom)?);
                }
                Ok(TrustedProxies::from_networks(networks))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// Serializes as a list of networks (`["10.0.0.0/8", "127.0.0.1/32"]`).
#[cfg(feature = "serde")]
impl serde::Serialize for TrustedProxies {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.inner.all.iter().map(ToString::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_cidrs_and_bare_addresses() {
        let p: TrustedProxies = "10.0.0.0/8,127.0.0.1/32, 2001:db8::/32 ,::1"
            .parse()
            .unwrap();
        assert_eq!(p.networks().len(), 4);
        assert!(p.contains(ip("10.255.0.1")));
        assert!(p.contains(ip("127.0.0.1")));
        assert!(!p.contains(ip("127.0.0.2")));
        assert!(p.contains(ip("2001:db8:1::5")));
        assert!(p.contains(ip("::1")));
        assert!(!p.contains(ip("2001:db9::1")));
        assert_eq!(
            p.to_string(),
            "10.0.0.0/8,127.0.0.1/32,2001:db8::/32,::1/128"
        );
    }

    #[test]
    fn empty_list_trusts_nobody() {
        for list in ["", " ", ",", " , "] {
            let p: TrustedProxies = list.parse().unwrap();
            assert!(p.is_empty());
            assert!(!p.contains(ip("127.0.0.1")));
        }
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_networks() {
        let p: TrustedProxies = "192.168.0.0/16".parse().unwrap();
        assert!(p.contains(ip("::ffff:192.168.1.1")));
        let mapped: TrustedProxies = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(mapped.contains(ip("10.1.1.1")));
    }

    #[test]
    fn garbage_is_a_typed_error_naming_the_entry() {
        for bad in [
            "10.0.0.0/8,nonsense",
            "10.0.0.0/33",
            "1.2.3",
            "10.0.0.0/",
            "*",
            "::1/129",
        ] {
            let err = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(
                matches!(err, TrustedProxiesError::Invalid { .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn host_bits_are_refused_with_a_suggestion() {
        let err = "10.0.0.1/8".parse::<TrustedProxies>().unwrap_err();
        assert_eq!(
            err,
            TrustedProxiesError::HostBitsSet {
                entry: "10.0.0.1/8".into(),
                network: "10.0.0.0/8".parse().unwrap()
            }
        );
        assert!(err.to_string().contains("did you mean 10.0.0.0/8"));
    }

    proptest::proptest! {
        #[test]
        fn contains_agrees_with_ipnet(
            v4 in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 0..4),
            v6 in proptest::collection::vec((proptest::prelude::any::<u128>(), 0u8..=128), 0..4),
            probes in proptest::collection::vec(proptest::prelude::any::<IpAddr>(), 1..16),
        ) {
            let nets: Vec<IpNet> = v4
                .iter()
                .map(|&(a, p)| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(a), p).unwrap().trunc()))
                .chain(v6.iter().map(|&(a, p)| {
                    IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(a), p).unwrap().trunc())
                }))
                .collect();
            let proxies = TrustedProxies::from_networks(nets);
            // Probe the networks' own edges too.
            let edges = proxies.networks().iter().flat_map(|n| [n.network(), n.broadcast()]);
            for ip in probes.into_iter().chain(edges) {
                let ip = crate::normalize_ip(ip);
                let want = proxies.networks().iter().any(|n| n.contains(&ip));
                proptest::prop_assert_eq!(proxies.contains(ip), want, "{} in {}", ip, proxies);
            }
        }
    }

    #[test]
    fn loopback_preset() {
        let p = TrustedProxies::loopback();
        assert!(p.contains(ip("127.0.0.1")));
        assert!(p.contains(ip("127.1.2.3")));
        assert!(p.contains(ip("::1")));
        assert!(!p.contains(ip("10.0.0.1")));
    }
}

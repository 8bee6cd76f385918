//! Who is asking: the peer's address, unless the peer is a proxy the
//! operator trusts (`TOCSIN_TRUSTED_PROXIES`). Only then are the proxies'
//! `Forwarded` (RFC 7239) or `X-Forwarded-For` headers believed, read from
//! the nearest hop back: the first address that is not a trusted proxy is
//! the client. Anyone can send those headers; a proxy appends to them, so
//! only the hops it and the proxies behind it added can be believed.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::AppState;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address, from the peer's and the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.trusts(peer) {
            return client;
        }
        for hop in forwarded_for(headers).into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// The addresses the proxies recorded, farthest first: `Forwarded` when
/// present, else `X-Forwarded-For`. A hop that is not an address (an
/// obfuscated name, `unknown`) ends what can be known: only nearer hops
/// are kept.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<&str> = values(headers, "forwarded");
    let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
        values(headers, "x-forwarded-for")
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(|hop| address(hop.trim()))
            .collect()
    } else {
        forwarded
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| address(value.trim().trim_matches('"')))
            })
            .collect()
    };
    let known = hops.iter().rposition(Option::is_none).map_or(0, |i| i + 1);
    hops[known..].iter().flatten().copied().collect()
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

/// The client's address, as [`TrustedProxies`] reads it.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Served without connection info (a test calling the router
        // directly), there is no peer to speak of.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        Ok(ClientIp(state.trusted_proxies.client(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(networks.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(
            proxies(&[]).client(ip("198.51.100.2"), &spoofed),
            ip("198.51.100.2")
        );
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client(ip("198.51.100.2"), &spoofed),
            ip("198.51.100.2")
        );
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client(ip("10.1.2.3"), &spoofed),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_nearest_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1/32"]);
        // The client wrote a spoofed hop first; the proxies appended after it.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 192.0.2.1")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &chain), ip("203.0.113.7"));
        // Several header lines are one list, in order.
        let lines = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &lines), ip("203.0.113.9"));
        // Only trusted hops: the farthest one is all there is to know.
        let inside = headers(&[("x-forwarded-for", "10.9.9.9, 192.0.2.1")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &inside), ip("10.9.9.9"));
    }

    #[test]
    fn forwarded_wins_and_its_forms_are_read() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let both = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            (
                "forwarded",
                "for=192.0.2.60;proto=https, For=\"[2001:db8:cafe::17]:4711\"",
            ),
        ]);
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &both),
            ip("2001:db8:cafe::17")
        );
        let port = headers(&[("forwarded", "for=\"192.0.2.43:47011\"")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &port), ip("192.0.2.43"));
        // An obfuscated hop ends what can be known: the proxy itself.
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &hidden), ip("10.0.0.5"));
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &garbage), ip("10.0.0.5"));
    }
}

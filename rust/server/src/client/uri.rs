//! `ws://` and `wss://` URIs: what [`super::connect`] needs from one.

use super::ConnectError;

/// A parsed WebSocket URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUri {
    /// `wss://`.
    pub secure: bool,
    /// The host as written, without IPv6 brackets.
    pub host: String,
    /// The port, defaulted from the scheme (80, 443).
    pub port: u16,
    /// `/path?query` (the fragment is dropped, RFC 6455 §3).
    pub target: String,
}

impl WsUri {
    /// Parse `ws://host[:port][/path][?query]` or `wss://…`.
    pub fn parse(uri: &str) -> Result<WsUri, ConnectError> {
        let bad = |why: &str| ConnectError::InvalidUri(format!("{uri:?}: {why}"));
        let (secure, rest) = if let Some(r) = strip_prefix_ci(uri, "ws://") {
            (false, r)
        } else if let Some(r) = strip_prefix_ci(uri, "wss://") {
            (true, r)
        } else {
            return Err(bad("the scheme must be ws:// or wss://"));
        };
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad(
                "user info in the URI is not supported; send an Authorization header",
            ));
        }
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, p),
                None if after.is_empty() => (host, ""),
                None => return Err(bad("junk after the IPv6 address")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (authority, ""),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = if port.is_empty() {
            default_port
        } else {
            port.parse().map_err(|_| bad("invalid port"))?
        };
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("spaces or control characters in the path"));
        }
        Ok(WsUri {
            secure,
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// The `Host` header value: the port only when it is not the default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.secure { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let u = WsUri::parse("ws://example.com/chat?x=1#frag").unwrap();
        assert_eq!(
            (u.secure, u.port, u.target.as_str()),
            (false, 80, "/chat?x=1")
        );
        assert_eq!(u.host_header(), "example.com");
        let u = WsUri::parse("WSS://[::1]:8443").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("::1", 8443, "/")
        );
        assert_eq!(u.host_header(), "[::1]:8443");
        assert_eq!(WsUri::parse("ws://h?q").unwrap().target, "/?q");
        for bad in ["http://h/", "ws://", "ws://h:x/", "ws://u@h/", "ws://h/a b"] {
            assert!(WsUri::parse(bad).is_err(), "{bad}");
        }
    }
}

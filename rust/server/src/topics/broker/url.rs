//! Broker URLs: which backend, where, and how to show them without secrets.
//!
//! `redis://[user:password@]host[:port][/db]` and `rediss://` (TLS) name a
//! Redis server; `ferrosocket+unix:///abs/path.sock` names a local bus hub
//! ([`super::BusHub`]). A URL is checked when the server is configured, so
//! a typo fails at start-up with a message, not later in a log. Every
//! message, log line and stat shows the URL redacted: the password
//! becomes `***`.

use std::fmt;

/// A checked broker URL.
#[derive(Clone)]
pub enum BrokerUrl {
    /// A Redis server (`redis://` or `rediss://`).
    Redis {
        /// The URL as given (holds the password; never shown).
        url: String,
        /// The URL with the password replaced by `***`.
        redacted: String,
        /// The password, to scrub from error texts.
        secret: Option<String>,
    },
    /// A local bus hub on a Unix socket.
    Bus {
        /// The socket's absolute path.
        path: String,
        /// The URL as given.
        redacted: String,
    },
}

/// Why a broker URL was refused; the message shows the URL redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrlError(pub String);

impl fmt::Display for BrokerUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrokerUrlError {}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUrl({})", self.redacted())
    }
}

/// The scheme of a bus hub URL.
pub const BUS_SCHEME: &str = "ferrosocket+unix://";

impl BrokerUrl {
    /// Check `url`.
    pub fn parse(url: &str) -> Result<BrokerUrl, BrokerUrlError> {
        let (redacted, secret) = redact(url);
        let fail = |why: &str| Err(BrokerUrlError(format!("broker URL {redacted:?}: {why}")));
        if let Some(path) = url.strip_prefix(BUS_SCHEME) {
            if !path.starts_with('/') {
                return fail(
                    "a bus socket path must be absolute: ferrosocket+unix:///abs/path.sock",
                );
            }
            if path.len() > 107 {
                return fail(
                    "the socket path is longer than a Unix socket address allows (107 bytes)",
                );
            }
            return Ok(BrokerUrl::Bus {
                path: path.to_owned(),
                redacted,
            });
        }
        let Some(rest) = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("rediss://"))
        else {
            return fail("must start with redis://, rediss:// or ferrosocket+unix:///");
        };
        let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host_port.is_empty() || host_port.starts_with(':') {
            return fail("no host: use redis://host:port/db");
        }
        let port = if host_port.ends_with(']') {
            None
        } else {
            host_port.rsplit_once(':').map(|(_, p)| p)
        };
        if let Some(port) = port {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return fail(&format!("port {port:?} is not a number from 1 to 65535"));
            }
        }
        let db = db.split('?').next().unwrap_or("");
        if !db.is_empty() && db.parse::<u32>().is_err() {
            return fail(&format!("database {db:?} is not a number"));
        }
        if let Err(e) = ::redis::Client::open(url) {
            let text = scrub(&e.to_string(), secret.as_deref());
            return fail(&text);
        }
        Ok(BrokerUrl::Redis {
            url: url.to_owned(),
            redacted,
            secret,
        })
    }

    /// The URL with the password replaced by `***`.
    pub fn redacted(&self) -> &str {
        match self {
            BrokerUrl::Redis { redacted, .. } | BrokerUrl::Bus { redacted, .. } => redacted,
        }
    }

    /// `text` with the password (if any) replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        match self {
            BrokerUrl::Redis { secret, .. } => scrub(text, secret.as_deref()),
            BrokerUrl::Bus { .. } => text.to_owned(),
        }
    }
}

fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_owned(),
    }
}

/// The URL with the password replaced, and the password. `user:pw@` keeps
/// the user; a lone `x@` may be a password (some clients read it so) and is
/// replaced whole.
fn redact(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let userinfo = &rest[..at];
    let (shown, secret) = match userinfo.split_once(':') {
        Some((user, pw)) => (format!("{user}:***"), pw),
        None => ("***".to_owned(), userinfo),
    };
    let secret = (!secret.is_empty()).then(|| secret.to_owned());
    (format!("{scheme}://{shown}{}", &rest[at..]), secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let u = BrokerUrl::parse("redis://bob:s3cret@127.0.0.1:6380/2").unwrap();
        assert_eq!(u.redacted(), "redis://bob:***@127.0.0.1:6380/2");
        assert_eq!(u.scrub("auth s3cret failed"), "auth *** failed");
        let u = BrokerUrl::parse("rediss://:pw@host").unwrap();
        assert_eq!(u.redacted(), "rediss://:***@host");
        assert_eq!(redact("redis://pw@h:1").0, "redis://***@h:1");
        assert!(format!("{u:?}").contains(":***@"));
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        for (url, why) in [
            ("http://h", "must start with"),
            ("redis://:pw@:6379", "no host"),
            ("redis://u:pw@h:99999", "port"),
            ("redis://u:pw@h:6379/x", "database"),
            ("ferrosocket+unix://rel.sock", "absolute"),
        ] {
            let err = BrokerUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
        match BrokerUrl::parse("ferrosocket+unix:///tmp/b.sock").unwrap() {
            BrokerUrl::Bus { path, .. } => assert_eq!(path, "/tmp/b.sock"),
            other => panic!("{other:?}"),
        }
    }
}

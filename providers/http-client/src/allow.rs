//! The allow-list of hosts guests may reach.

use std::fmt;
use std::str::FromStr;

/// Hosts guests may reach. Entries are `host` (any port), `host:port`, or `*.domain` (any
/// subdomain of `domain`, not `domain` itself). Matching ignores ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    port: Option<u16>,
}

/// An allow-list entry that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEntry(pub String);

impl fmt::Display for InvalidEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a host allow-list entry (expected `host`, `host:port` or `*.domain`)",
            self.0
        )
    }
}

impl std::error::Error for InvalidEntry {}

impl FromStr for Entry {
    type Err = InvalidEntry;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidEntry(s.to_string());
        let (host, port) = match s.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
                (host, Some(port.parse::<u16>().map_err(|_| bad())?))
            }
            _ => (s, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = host.strip_prefix("*.").unwrap_or(host);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        if !valid {
            return Err(bad());
        }
        Ok(Entry {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl AllowList {
    /// Parses entries, failing on the first malformed one.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<Self, InvalidEntry> {
        let entries = entries
            .iter()
            .map(|e| e.as_ref().trim().parse())
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether `host:port` may be reached.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.entries.iter().any(|e| {
            let host_ok = match e.host.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
                None => e.host == host,
            };
            host_ok && e.port.is_none_or(|p| p == port)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_port_and_wildcard_entries() {
        let list = AllowList::new(&["api.example.com", "127.0.0.1:8080", "*.svc.local"]).unwrap();
        assert!(list.allows("api.example.com", 443));
        assert!(list.allows("API.example.com", 80));
        assert!(!list.allows("example.com", 443));
        assert!(!list.allows("evil-api.example.com", 443));
        assert!(list.allows("127.0.0.1", 8080));
        assert!(!list.allows("127.0.0.1", 8081));
        assert!(list.allows("a.svc.local", 80));
        assert!(list.allows("a.b.svc.local", 80));
        assert!(!list.allows("svc.local", 80));
        assert!(!list.allows("xsvc.local", 80));
    }

    #[test]
    fn empty_allows_nothing_and_junk_is_refused() {
        assert!(!AllowList::default().allows("localhost", 80));
        for bad in ["", "a b", "host:notaport", "http://x", "*."] {
            assert!(AllowList::new(&[bad]).is_err(), "{bad}");
        }
    }
}

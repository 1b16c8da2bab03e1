//! Which proxy the environment names for a connection, by curl's rules
//! (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy`). The variables
//! come in as a function, so the rules are tested without touching the
//! process's environment.

use std::net::IpAddr;

/// The variable naming the proxy for a connection to `host:port` (over TLS
/// for `wss://`), and its value; `None` for a direct connection.
///
/// As curl does: `no_proxy` (else `NO_PROXY`) is checked first (see
/// [`bypasses`]); then `https_proxy` or `HTTPS_PROXY` for TLS, `http_proxy`
/// or `HTTP_PROXY` without; then `all_proxy` or `ALL_PROXY`. The lower-case
/// name wins. `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set: in a
/// CGI script a request's `Proxy:` header arrives as `HTTP_PROXY`
/// ("httpoxy"), so there it is not the user's. An empty value is no value.
pub(crate) fn proxy_from_env(
    tls: bool,
    host: &str,
    port: u16,
    var: impl Fn(&str) -> Option<String>,
) -> Option<(&'static str, String)> {
    let get = |name: &'static str| {
        var(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (name, value))
    };
    if let Some((_, list)) = get("no_proxy").or_else(|| get("NO_PROXY")) {
        if bypasses(&list, host, port) {
            return None;
        }
    }
    let for_scheme: &[&'static str] = if tls {
        &["https_proxy", "HTTPS_PROXY"]
    } else if var("REQUEST_METHOD").is_some() {
        &["http_proxy"]
    } else {
        &["http_proxy", "HTTP_PROXY"]
    };
    for_scheme
        .iter()
        .chain(&["all_proxy", "ALL_PROXY"])
        .find_map(|name| get(name))
}

/// Does the `no_proxy` list exempt `host:port` from the proxy? Entries are
/// separated by commas or blanks; an entry is
/// - `*`: every host;
/// - a domain name: that host and every host under it (`example.com`
///   matches `example.com` and `ws.example.com`, not `badexample.com`);
///   a leading `.` or `*.` is ignored, so `.example.com` matches the same
///   (as curl); case and a trailing `.` do not matter;
/// - an IP address (IPv6 bare or in brackets), matching that address only
///   (never a name that resolves to it), or a network in CIDR form
///   (`192.168.0.0/16`, `fd00::/8`);
/// - any of these followed by `:port`, matching that port only (curl
///   ignores ports; Python does this).
pub(crate) fn bypasses(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.');
    let host_ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split([',', ' ', '\t'])
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry_matches(entry, host, host_ip, port))
}

fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let (name, entry_port) = split_port(entry);
    if entry_port.is_some_and(|entry_port| entry_port != port) {
        return false;
    }
    if let Some(ip) = host_ip {
        return match name.split_once('/') {
            Some((network, bits)) => match (network.parse(), bits.parse()) {
                (Ok(network), Ok(bits)) => in_network(ip, network, bits),
                _ => false,
            },
            None => name.parse() == Ok(ip),
        };
    }
    let name = name
        .strip_prefix("*.")
        .or_else(|| name.strip_prefix('.'))
        .unwrap_or(name)
        .trim_end_matches('.');
    if name.is_empty() || host.len() < name.len() {
        return false;
    }
    let (above, suffix) = host.split_at(host.len() - name.len());
    suffix.eq_ignore_ascii_case(name) && (above.is_empty() || above.ends_with('.'))
}

/// An entry's address part and its port, if it names one: `h:80`,
/// `[::1]:80`; a bare IPv6 address (`::1`, more than one colon) has none.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(bracketed) = entry.strip_prefix('[') {
        return match bracketed.split_once(']') {
            Some((address, "")) => (address, None),
            Some((address, after)) => match after.strip_prefix(':').map(str::parse) {
                Some(Ok(port)) => (address, Some(port)),
                // A malformed port: an entry that matches nothing.
                _ => ("", None),
            },
            None => ("", None),
        };
    }
    match entry.split_once(':') {
        Some((name, port)) if !port.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => ("", None),
        },
        _ => (entry, None),
    }
}

/// Is `ip` in `network`/`bits`? Addresses of different families never
/// are; more bits than the address has match nothing.
fn in_network(ip: IpAddr, network: IpAddr, bits: u32) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        move |name| map.get(name).map(|value| value.to_string())
    }

    fn chosen(tls: bool, host: &str, port: u16, vars: &[(&str, &str)]) -> Option<String> {
        proxy_from_env(tls, host, port, env(vars)).map(|(name, value)| format!("{name}={value}"))
    }

    #[test]
    fn the_scheme_picks_the_variable_and_all_proxy_is_the_fallback() {
        let all = [
            ("http_proxy", "h1"),
            ("HTTP_PROXY", "H1"),
            ("https_proxy", "s1"),
            ("HTTPS_PROXY", "S1"),
            ("all_proxy", "a1"),
            ("ALL_PROXY", "A1"),
        ];
        assert_eq!(
            chosen(false, "x", 80, &all).as_deref(),
            Some("http_proxy=h1")
        );
        assert_eq!(
            chosen(true, "x", 443, &all).as_deref(),
            Some("https_proxy=s1")
        );
        // Upper case when lower case is missing or empty.
        let upper = [
            ("HTTP_PROXY", "H1"),
            ("https_proxy", " "),
            ("HTTPS_PROXY", "S1"),
        ];
        assert_eq!(
            chosen(false, "x", 80, &upper).as_deref(),
            Some("HTTP_PROXY=H1")
        );
        assert_eq!(
            chosen(true, "x", 443, &upper).as_deref(),
            Some("HTTPS_PROXY=S1")
        );
        // wss never takes http_proxy, ws never https_proxy.
        assert_eq!(chosen(true, "x", 443, &[("http_proxy", "h1")]), None);
        assert_eq!(chosen(false, "x", 80, &[("https_proxy", "s1")]), None);
        for (vars, expected) in [
            (
                &[("all_proxy", "a1"), ("ALL_PROXY", "A1")][..],
                "all_proxy=a1",
            ),
            (&[("ALL_PROXY", "A1")][..], "ALL_PROXY=A1"),
        ] {
            assert_eq!(chosen(false, "x", 80, vars).as_deref(), Some(expected));
            assert_eq!(chosen(true, "x", 443, vars).as_deref(), Some(expected));
        }
        assert_eq!(chosen(false, "x", 80, &[]), None);
    }

    #[test]
    fn http_proxy_in_upper_case_is_ignored_in_a_cgi_script() {
        let cgi = [("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "evil")];
        assert_eq!(chosen(false, "x", 80, &cgi), None);
        let cgi = [("REQUEST_METHOD", "GET"), ("http_proxy", "mine")];
        assert_eq!(
            chosen(false, "x", 80, &cgi).as_deref(),
            Some("http_proxy=mine")
        );
    }

    #[test]
    fn no_proxy_is_checked_first_lower_case_winning() {
        let vars = [("http_proxy", "p"), ("no_proxy", "x"), ("NO_PROXY", "y")];
        assert_eq!(chosen(false, "x", 80, &vars), None);
        assert_eq!(
            chosen(false, "y", 80, &vars).as_deref(),
            Some("http_proxy=p")
        );
        let vars = [("all_proxy", "p"), ("NO_PROXY", "y")];
        assert_eq!(chosen(true, "y", 443, &vars), None);
    }

    #[test]
    fn no_proxy_forms() {
        // (list, host, port, bypassed)
        let cases = [
            ("*", "anything.example", 80, true),
            ("*", "10.1.2.3", 1, true),
            ("example.com", "example.com", 80, true),
            ("example.com", "ws.example.com", 80, true),
            ("example.com", "a.b.example.com", 80, true),
            ("example.com", "badexample.com", 80, false),
            ("example.com", "example.com.evil", 80, false),
            ("example.com", "com", 80, false),
            (".example.com", "example.com", 80, true),
            (".example.com", "ws.example.com", 80, true),
            (".example.com", "badexample.com", 80, false),
            ("*.example.com", "ws.example.com", 80, true),
            ("EXAMPLE.com.", "ws.example.COM", 80, true),
            ("example.com", "example.com.", 80, true),
            ("a.org, example.com", "example.com", 80, true),
            ("a.org,,example.com", "example.com", 80, true),
            ("a.org example.com", "example.com", 80, true),
            ("a.org,example.com", "b.org", 80, false),
            ("example.com:8080", "example.com", 8080, true),
            ("example.com:8080", "example.com", 80, false),
            ("example.com:x", "example.com", 80, false),
            ("localhost", "localhost", 9001, true),
            ("127.0.0.1", "127.0.0.1", 9001, true),
            ("127.0.0.1", "127.0.0.2", 9001, false),
            // An address entry does not match a name, nor a name an address.
            ("127.0.0.1", "localhost", 9001, false),
            ("localhost", "127.0.0.1", 9001, false),
            ("127.0.0.1:9001", "127.0.0.1", 9001, true),
            ("127.0.0.1:9001", "127.0.0.1", 9002, false),
            ("::1", "::1", 80, true),
            ("[::1]", "::1", 80, true),
            ("[::1]:9001", "::1", 9001, true),
            ("[::1]:9001", "::1", 9002, false),
            ("0:0::1", "::1", 80, true),
            ("::1", "::2", 80, false),
            ("10.0.0.0/8", "10.200.3.4", 80, true),
            ("10.0.0.0/8", "11.0.0.1", 80, false),
            ("192.168.1.0/24", "192.168.1.77", 80, true),
            ("192.168.1.0/24", "192.168.2.1", 80, false),
            ("0.0.0.0/0", "203.0.113.9", 80, true),
            ("10.0.0.1/32", "10.0.0.1", 80, true),
            ("10.0.0.1/33", "10.0.0.1", 80, false),
            ("fd00::/8", "fd12:3456::1", 80, true),
            ("fd00::/8", "fe80::1", 80, false),
            ("10.0.0.0/8", "::ffff:10.0.0.1", 80, false),
            ("10.0.0.0/8", "ten.example", 80, false),
            ("", "example.com", 80, false),
            (".", "example.com", 80, false),
        ];
        for (list, host, port, bypassed) in cases {
            assert_eq!(
                bypasses(list, host, port),
                bypassed,
                "{list:?} for {host}:{port}"
            );
        }
    }
}

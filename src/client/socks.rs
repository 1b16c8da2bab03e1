//! The client's side of SOCKS5 (RFC 1928), with username/password
//! authentication (RFC 1929): the greeting, the sub-negotiation and the
//! `CONNECT` request, each answer read within the exchange's deadline.

use std::net::{IpAddr, TcpStream};

use super::proxy::{Credentials, ExchangeDeadline};
use crate::error::{Error, HandshakeError, Result};
use crate::protocol::handshake::SocksRefusal;

/// RFC 1928 §3: "VER ... is set to X'05' for this version of the protocol".
const VERSION: u8 = 5;
/// RFC 1928 §3: X'00' NO AUTHENTICATION REQUIRED.
const NO_AUTHENTICATION: u8 = 0x00;
/// RFC 1928 §3: X'02' USERNAME/PASSWORD.
const USERNAME_PASSWORD: u8 = 0x02;
/// RFC 1928 §3: X'FF' NO ACCEPTABLE METHODS.
const NO_ACCEPTABLE_METHODS: u8 = 0xFF;
/// RFC 1929 §2: "The VER field contains the current version of the
/// subnegotiation, which is X'01'".
const USERNAME_PASSWORD_VERSION: u8 = 0x01;
/// RFC 1928 §4: CMD CONNECT X'01'.
const CONNECT: u8 = 0x01;
/// RFC 1928 §5: the address types.
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// The server to ask the proxy for: a name it resolves (`socks5h://`) or
/// an address.
#[derive(Debug, Clone, Copy)]
pub(super) enum SocksTarget<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

/// Opens a tunnel to `target:port` through the SOCKS5 proxy at the other
/// end of `tcp`.
pub(super) fn socks5_connect(
    tcp: &TcpStream,
    credentials: Option<&Credentials>,
    target: SocksTarget<'_>,
    port: u16,
    deadline: ExchangeDeadline,
) -> Result<()> {
    // RFC 1928 §3: VER, NMETHODS, METHODS. No authentication is offered
    // always (a proxy that needs none may still be given credentials).
    let greeting: &[u8] = match credentials {
        Some(_) => &[VERSION, 2, NO_AUTHENTICATION, USERNAME_PASSWORD],
        None => &[VERSION, 1, NO_AUTHENTICATION],
    };
    deadline.write_all(tcp, greeting)?;
    let mut choice = [0; 2];
    deadline.read_exact(tcp, &mut choice)?;
    check_version(choice[0])?;
    match (choice[1], credentials) {
        (NO_AUTHENTICATION, _) => {}
        (USERNAME_PASSWORD, Some(credentials)) => authenticate(tcp, credentials, deadline)?,
        (NO_ACCEPTABLE_METHODS, _) => {
            return Err(refused(SocksRefusal::NoAcceptableMethod));
        }
        (method, _) => {
            return Err(invalid(format!(
                "the SOCKS5 proxy chose the authentication method {method}, which was not offered"
            )));
        }
    }
    deadline.write_all(tcp, &connect_request(target, port)?)?;
    read_reply(tcp, deadline)
}

/// RFC 1929 §2: VER, ULEN, UNAME, PLEN, PASSWD; the answer is VER, STATUS,
/// "A STATUS field of X'00' indicates success."
fn authenticate(
    tcp: &TcpStream,
    credentials: &Credentials,
    deadline: ExchangeDeadline,
) -> Result<()> {
    let (user, password) = (credentials.user.as_bytes(), credentials.password.as_bytes());
    // Lengths were checked when the proxy URL was parsed.
    let mut request = Vec::with_capacity(3 + user.len() + password.len());
    request.push(USERNAME_PASSWORD_VERSION);
    request.push(user.len() as u8);
    request.extend_from_slice(user);
    request.push(password.len() as u8);
    request.extend_from_slice(password);
    deadline.write_all(tcp, &request)?;
    let mut status = [0; 2];
    deadline.read_exact(tcp, &mut status)?;
    if status[1] != 0 {
        return Err(refused(SocksRefusal::BadCredentials));
    }
    Ok(())
}

/// RFC 1928 §4: VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT.
fn connect_request(target: SocksTarget<'_>, port: u16) -> Result<Vec<u8>> {
    let mut request = vec![VERSION, CONNECT, 0];
    match target {
        SocksTarget::Ip(IpAddr::V4(ip)) => {
            request.push(ATYP_IPV4);
            request.extend_from_slice(&ip.octets());
        }
        SocksTarget::Ip(IpAddr::V6(ip)) => {
            request.push(ATYP_IPV6);
            request.extend_from_slice(&ip.octets());
        }
        SocksTarget::Name(name) => {
            // §5: "the first octet of the address field contains the number
            // of octets of name that follow".
            let Ok(len) = u8::try_from(name.len()) else {
                return Err(invalid(format!(
                    "a host name of {} bytes is too long for SOCKS5 (255 at most)",
                    name.len()
                )));
            };
            request.push(ATYP_DOMAIN);
            request.push(len);
            request.extend_from_slice(name.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// RFC 1928 §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT; "X'00'
/// succeeded", anything else a refusal. The bound address is read and
/// dropped: what follows is the server's.
fn read_reply(tcp: &TcpStream, deadline: ExchangeDeadline) -> Result<()> {
    let mut reply = [0; 4];
    deadline.read_exact(tcp, &mut reply)?;
    check_version(reply[0])?;
    if reply[1] != 0 {
        return Err(refused(SocksRefusal::Reply(reply[1])));
    }
    let address_len = match reply[3] {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_DOMAIN => {
            let mut len = [0; 1];
            deadline.read_exact(tcp, &mut len)?;
            usize::from(len[0])
        }
        other => {
            return Err(invalid(format!(
                "the SOCKS5 proxy replied with the address type {other}"
            )));
        }
    };
    let mut bound = [0; 255 + 2];
    deadline.read_exact(tcp, &mut bound[..address_len + 2])
}

fn check_version(version: u8) -> Result<()> {
    if version != VERSION {
        return Err(invalid(format!(
            "the SOCKS5 proxy answered with version {version}"
        )));
    }
    Ok(())
}

fn refused(refusal: SocksRefusal) -> Error {
    log::debug!("the SOCKS5 proxy refused: {refusal}");
    Error::Handshake(HandshakeError::SocksRefused(refusal))
}

fn invalid(why: String) -> Error {
    Error::Handshake(HandshakeError::Invalid(why))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use super::*;

    /// Run the client's side against a scripted proxy: for each step, the
    /// bytes it must receive and the bytes it answers.
    fn exchange(
        credentials: Option<&Credentials>,
        target: SocksTarget<'_>,
        script: &'static [(&'static [u8], &'static [u8])],
    ) -> Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            for (expected, answer) in script {
                let mut received = vec![0; expected.len()];
                stream.read_exact(&mut received).unwrap();
                assert_eq!(&received, expected);
                stream.write_all(answer).unwrap();
            }
        });
        let tcp = TcpStream::connect(addr).unwrap();
        let deadline =
            ExchangeDeadline::earliest(None, Some(Instant::now() + Duration::from_secs(10)));
        let result = socks5_connect(&tcp, credentials, target, 80, deadline);
        drop(tcp);
        proxy.join().unwrap();
        result
    }

    fn alice() -> Credentials {
        Credentials {
            user: "alice".into(),
            password: "pw".into(),
        }
    }

    const ALICE_GREETING: &[u8] = &[5, 2, 0, 2];
    const ALICE_AUTH: &[u8] = &[1, 5, b'a', b'l', b'i', b'c', b'e', 2, b'p', b'w'];
    const REQUEST_H: &[u8] = &[5, 1, 0, 3, 1, b'h', 0, 80];

    #[test]
    fn a_tunnel_opens_after_authentication_whatever_the_bound_address() {
        let ip = SocksTarget::Ip("10.0.0.1".parse().unwrap());
        exchange(
            None,
            ip,
            &[
                (&[5, 1, 0], &[5, 0]),
                (
                    &[5, 1, 0, 1, 10, 0, 0, 1, 0, 80],
                    &[5, 0, 0, 1, 1, 2, 3, 4, 0, 9],
                ),
            ],
        )
        .unwrap();
        let credentials = alice();
        exchange(
            Some(&credentials),
            SocksTarget::Name("h"),
            &[
                (ALICE_GREETING, &[5, 2]),
                (ALICE_AUTH, &[1, 0]),
                (REQUEST_H, &[5, 0, 0, 3, 2, b'p', b'x', 0, 9]),
            ],
        )
        .unwrap();
        // A proxy that needs no authentication may skip it.
        exchange(
            Some(&credentials),
            SocksTarget::Name("h"),
            &[
                (ALICE_GREETING, &[5, 0]),
                (
                    REQUEST_H,
                    &[
                        5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9,
                    ],
                ),
            ],
        )
        .unwrap();
    }

    #[test]
    fn each_refusal_is_named() {
        let credentials = alice();
        let refusal = |result: Result<()>| match result {
            Err(Error::Handshake(HandshakeError::SocksRefused(refusal))) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            refusal(exchange(
                Some(&credentials),
                SocksTarget::Name("h"),
                &[(ALICE_GREETING, &[5, 2]), (ALICE_AUTH, &[1, 1]),]
            )),
            SocksRefusal::BadCredentials
        );
        assert_eq!(
            refusal(exchange(
                None,
                SocksTarget::Name("h"),
                &[(&[5, 1, 0], &[5, 0xFF])]
            )),
            SocksRefusal::NoAcceptableMethod
        );
        assert_eq!(
            refusal(exchange(
                None,
                SocksTarget::Name("h"),
                &[
                    (&[5, 1, 0], &[5, 0]),
                    (REQUEST_H, &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
                ]
            )),
            SocksRefusal::Reply(5)
        );
    }

    #[test]
    fn answers_that_break_the_protocol_are_invalid() {
        let invalid = |result: Result<()>| match result {
            Err(Error::Handshake(HandshakeError::Invalid(why))) => why,
            other => panic!("expected Invalid, got {other:?}"),
        };
        // Version 4, a method not offered (2 without credentials), an
        // unknown address type.
        assert!(
            invalid(exchange(
                None,
                SocksTarget::Name("h"),
                &[(&[5, 1, 0], &[4, 0])]
            ))
            .contains("version 4")
        );
        assert!(
            invalid(exchange(
                None,
                SocksTarget::Name("h"),
                &[(&[5, 1, 0], &[5, 2])]
            ))
            .contains("not offered")
        );
        assert!(
            invalid(exchange(
                None,
                SocksTarget::Name("h"),
                &[(&[5, 1, 0], &[5, 0]), (REQUEST_H, &[5, 0, 0, 9]),]
            ))
            .contains("address type 9")
        );
    }

    #[test]
    fn connect_requests_are_exact() {
        let v4 = SocksTarget::Ip("127.0.0.1".parse().unwrap());
        assert_eq!(
            connect_request(v4, 0x1f90).unwrap(),
            [5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]
        );
        let v6 = SocksTarget::Ip("::1".parse().unwrap());
        let mut expected = vec![5, 1, 0, 4];
        expected.extend_from_slice(&[0; 15]);
        expected.extend_from_slice(&[1, 0, 80]);
        assert_eq!(connect_request(v6, 80).unwrap(), expected);
        assert_eq!(
            connect_request(SocksTarget::Name("ab.c"), 443).unwrap(),
            [5, 1, 0, 3, 4, b'a', b'b', b'.', b'c', 1, 187]
        );
        let long = "a".repeat(256);
        assert!(matches!(
            connect_request(SocksTarget::Name(&long), 1),
            Err(Error::Handshake(HandshakeError::Invalid(why))) if why.contains("too long")
        ));
    }
}

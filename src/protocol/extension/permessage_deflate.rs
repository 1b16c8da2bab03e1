//! permessage-deflate (RFC 7692 §5–§7): its settings ([`DeflateConfig`]),
//! the parameters of an offer ([`DeflateOffer`]), and both sides of the
//! negotiation: the server's choice among the client's offers
//! ([`negotiate`]) and the client's check of the server's answer
//! ([`check_response`]). Both end in the same [`DeflateParams`], what the
//! compressor and the decompressor of each direction must use.
//!
//! # How our settings apply
//! On the server, for the first offer that is well formed (RFC 7692 §7.1;
//! any other is skipped, never a failed handshake):
//!
//! | parameter | the answer |
//! |---|---|
//! | `server_no_context_takeover` | sent if the client asked for it or our config wants it (§7.1.1.1 allows it unasked) |
//! | `client_no_context_takeover` | sent if the client hinted it (so we may drop our inflate context between messages) or our config wants it (§7.1.1.2) |
//! | `server_max_window_bits` | the smaller of the client's value and ours; sent if the client named one (that is how it is accepted) or ours is below 15 (§7.1.2.1 allows it unasked) |
//! | `client_max_window_bits` | only if the client offered the parameter (§7.1.2.2: MUST NOT otherwise): the smaller of its value (15 if none) and ours, sent when below 15 |
//!
//! So a client that does not offer `client_max_window_bits` (Firefox)
//! cannot be limited: it may compress with a 15-bit window whatever
//! [`DeflateConfig::client_max_window_bits`] says, and the agreed
//! [`DeflateParams`] say so. Such offers are accepted rather than declined,
//! as Python `websockets` does by default.
//!
//! On the client, [`DeflateConfig::offer`] is what we send (by default
//! `permessage-deflate; client_max_window_bits`, as Chrome, Node `ws` and
//! Python `websockets` do), and [`check_response`] fails the handshake on
//! an answer §7.1 says a client MUST fail.
//!
//! ```
//! use syncws::protocol::extension::{self, permessage_deflate::{self, DeflateConfig}};
//!
//! // The server side: Chrome's offer, our defaults.
//! let offers = extension::parse(["permessage-deflate; client_max_window_bits"])?;
//! let agreed = permessage_deflate::negotiate(&DeflateConfig::default(), &offers).unwrap();
//! assert_eq!(agreed.response.to_string(), "permessage-deflate");
//! assert_eq!(agreed.params.server_to_client.window_bits, 15);
//!
//! // The client side: our offer, and the server's answer checked.
//! let config = DeflateConfig::default().server_max_window_bits(10);
//! let offer = config.offer().unwrap();
//! assert_eq!(
//!     offer.to_extension().to_string(),
//!     "permessage-deflate; server_max_window_bits=10; client_max_window_bits"
//! );
//! let params = permessage_deflate::check_response(
//!     &offer,
//!     ["permessage-deflate; server_max_window_bits=9"],
//! )?
//! .unwrap();
//! assert_eq!(params.server_to_client.window_bits, 9);
//! assert!(permessage_deflate::check_response(&offer, ["permessage-deflate"]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use super::{Extension, parse};
use crate::protocol::Role;
use crate::protocol::handshake::HandshakeError;

/// The extension's name.
pub const NAME: &str = "permessage-deflate";
/// The smallest LZ77 window RFC 7692 allows: 2^8 = 256 bytes.
pub const MIN_WINDOW_BITS: u8 = 8;
/// The largest LZ77 window, and the one used when none is agreed: 32 KiB.
pub const MAX_WINDOW_BITS: u8 = 15;
/// zlib's own default level.
pub const DEFAULT_LEVEL: u8 = 6;
/// Messages shorter than this go uncompressed by default: 32 bytes.
///
/// Measured with zlib (level 6, raw deflate, sync flush, the 4-byte tail
/// removed) on the start of a JSON chat message: without context takeover,
/// 8, 16 and 24 bytes grow to 10, 18 and 26, 32 stays 32, and 48 shrinks
/// to 44. With context takeover a repeated message of any size shrinks to
/// about 5 bytes, but below 32 bytes that saves at most 27 bytes for the
/// fixed CPU cost of a deflate call and of waking the contexts.
pub const DEFAULT_THRESHOLD: usize = 32;
/// An idle connection hibernates after this: 5 s. A chat's or a
/// dashboard's messages come closer together than that while it is in
/// use; past it, keeping 330 KiB of zlib state per connection for the
/// next message costs more than rebuilding it (about 30 µs at window 15).
pub const DEFAULT_HIBERNATE_AFTER: Duration = Duration::from_secs(5);

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The permessage-deflate settings of a server, a route or a client.
///
/// On a server, the window sizes and context takeover are what we accept
/// or impose (see [the module docs](self#how-our-settings-apply)); on a
/// client, what we request. Level and threshold are ours alone and never
/// negotiated.
///
/// ```
/// use syncws::protocol::extension::permessage_deflate::DeflateConfig;
///
/// let config = DeflateConfig::default()
///     .level(3)
///     .server_max_window_bits(12)
///     .client_no_context_takeover(true)
///     .threshold(256);
/// assert!(config.get_enabled());
/// assert_eq!(config.get_server_max_window_bits(), 12);
/// assert!(!DeflateConfig::default().enabled(false).get_enabled());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    enabled: bool,
    level: u8,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    threshold: usize,
    hibernate_after: Duration,
}

impl Default for DeflateConfig {
    /// On, level 6, 15-bit windows both ways, context takeover both ways,
    /// a 32-byte threshold.
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            level: DEFAULT_LEVEL,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            threshold: DEFAULT_THRESHOLD,
            hibernate_after: DEFAULT_HIBERNATE_AFTER,
        }
    }
}

fn check_window_bits(bits: u8) {
    assert!(
        (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits),
        "window bits must be from 8 to 15, not {bits}"
    );
}

impl DeflateConfig {
    /// Whether to negotiate permessage-deflate at all (default on). Off, a
    /// server declines every offer and a client offers none.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The compression level, 0 (none) to 9 (best), default 6.
    ///
    /// # Panics
    /// If `level` is above 9.
    pub fn level(mut self, level: u8) -> Self {
        assert!(
            level <= 9,
            "the compression level must be from 0 to 9, not {level}"
        );
        self.level = level;
        self
    }

    /// The largest window the server compresses with, in bits (8 to 15,
    /// default 15). A server answers the smaller of this and the
    /// client's `server_max_window_bits`; a client below 15 requests it.
    ///
    /// # Panics
    /// If `bits` is not from 8 to 15.
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        check_window_bits(bits);
        self.server_max_window_bits = bits;
        self
    }

    /// The largest window the client compresses with, in bits (8 to 15,
    /// default 15). A server imposes it on a client that offered
    /// `client_max_window_bits` (it cannot on one that did not); a client
    /// offers it as `client_max_window_bits=N` below 15, and the parameter
    /// without a value at 15.
    ///
    /// # Panics
    /// If `bits` is not from 8 to 15.
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        check_window_bits(bits);
        self.client_max_window_bits = bits;
        self
    }

    /// Whether the server starts every message with an empty window
    /// (default off): a server answers `server_no_context_takeover` even
    /// unasked; a client requests it, and fails a response without it.
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Whether the client starts every message with an empty window
    /// (default off): a server answers `client_no_context_takeover`; a
    /// client offers it and keeps to it whatever the answer.
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Messages shorter than this many bytes are sent uncompressed
    /// (default [`DEFAULT_THRESHOLD`]).
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// How long a connection goes without a message each way before it
    /// hibernates (default [`DEFAULT_HIBERNATE_AFTER`]): its zlib contexts
    /// (about 290 KiB to compress, 40 KiB to inflate, at window 15) are
    /// dropped and only the windows kept (the last `2^window_bits` bytes
    /// of each direction, or fewer if fewer went by), from which the next
    /// message rebuilds them, so context takeover keeps its ratio.
    pub fn hibernate_after(mut self, idle: Duration) -> Self {
        self.hibernate_after = idle;
        self
    }

    /// The idle time before hibernation.
    pub fn get_hibernate_after(&self) -> Duration {
        self.hibernate_after
    }

    /// Whether permessage-deflate is negotiated.
    pub fn get_enabled(&self) -> bool {
        self.enabled
    }

    /// The compression level.
    pub fn get_level(&self) -> u8 {
        self.level
    }

    /// The largest server window, in bits.
    pub fn get_server_max_window_bits(&self) -> u8 {
        self.server_max_window_bits
    }

    /// The largest client window, in bits.
    pub fn get_client_max_window_bits(&self) -> u8 {
        self.client_max_window_bits
    }

    /// Whether the server is to drop its window after every message.
    pub fn get_server_no_context_takeover(&self) -> bool {
        self.server_no_context_takeover
    }

    /// Whether the client is to drop its window after every message.
    pub fn get_client_no_context_takeover(&self) -> bool {
        self.client_no_context_takeover
    }

    /// The size below which a message goes uncompressed.
    pub fn get_threshold(&self) -> usize {
        self.threshold
    }

    /// What a client offers: `None` when disabled.
    ///
    /// ```
    /// use syncws::protocol::extension::permessage_deflate::DeflateConfig;
    ///
    /// let offer = DeflateConfig::default().offer().unwrap();
    /// assert_eq!(offer.to_extension().to_string(), "permessage-deflate; client_max_window_bits");
    /// assert!(DeflateConfig::default().enabled(false).offer().is_none());
    /// ```
    pub fn offer(&self) -> Option<DeflateOffer> {
        if !self.enabled {
            return None;
        }
        Some(DeflateOffer {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: (self.server_max_window_bits < MAX_WINDOW_BITS)
                .then_some(self.server_max_window_bits),
            client_max_window_bits: if self.client_max_window_bits < MAX_WINDOW_BITS {
                ClientWindowBits::Limit(self.client_max_window_bits)
            } else {
                ClientWindowBits::Supported
            },
        })
    }
}

/// The `client_max_window_bits` parameter of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientWindowBits {
    /// Not offered: the server MUST NOT answer it, the client may use 15.
    Absent,
    /// Offered without a value: the client accepts any limit.
    Supported,
    /// Offered with a value: the client accepts a limit and will not use a
    /// window larger than this one in any case.
    Limit(u8),
}

/// The parameters of one permessage-deflate offer (RFC 7692 §7.1).
///
/// ```
/// use syncws::protocol::extension::{self, permessage_deflate::{ClientWindowBits, DeflateOffer}};
///
/// let offers = extension::parse(["permessage-deflate; server_max_window_bits=10; client_max_window_bits"])?;
/// let offer = DeflateOffer::from_extension(&offers[0]).unwrap();
/// assert_eq!(offer.server_max_window_bits, Some(10));
/// assert_eq!(offer.client_max_window_bits, ClientWindowBits::Supported);
///
/// let bad = extension::parse(["permessage-deflate; server_max_window_bits=16"])?;
/// assert_eq!(
///     DeflateOffer::from_extension(&bad[0]).unwrap_err(),
///     "server_max_window_bits=16 is not a window size from 8 to 15"
/// );
/// # Ok::<(), syncws::protocol::extension::SyntaxError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateOffer {
    /// The client asks the server to drop its window after every message.
    pub server_no_context_takeover: bool,
    /// The client says it will drop its own window after every message.
    pub client_no_context_takeover: bool,
    /// The largest window the client lets the server use.
    pub server_max_window_bits: Option<u8>,
    /// Whether, and how, the client lets the server limit its window.
    pub client_max_window_bits: ClientWindowBits,
}

/// The agreed parameters of one direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DirectionParams {
    /// The LZ77 window of this direction, in bits (8 to 15): the sender
    /// compresses with at most this window, the receiver inflates with it.
    pub window_bits: u8,
    /// Whether the sender may refer back to earlier messages (both ends
    /// then keep their window between messages).
    pub context_takeover: bool,
}

/// What a connection's compressors and decompressors must use, once both
/// sides agreed.
///
/// ```
/// use syncws::protocol::Role;
/// use syncws::protocol::extension::{self, permessage_deflate::{self, DeflateConfig}};
///
/// let offers = extension::parse(["permessage-deflate; client_no_context_takeover"])?;
/// let params = permessage_deflate::negotiate(&DeflateConfig::default(), &offers).unwrap().params;
/// assert!(params.outgoing(Role::Server).context_takeover);
/// assert!(!params.incoming(Role::Server).context_takeover);
/// # Ok::<(), syncws::protocol::extension::SyntaxError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The messages the server compresses and the client inflates.
    pub server_to_client: DirectionParams,
    /// The messages the client compresses and the server inflates.
    pub client_to_server: DirectionParams,
}

impl DeflateParams {
    /// What this end's compressor uses.
    pub fn outgoing(&self, role: Role) -> DirectionParams {
        match role {
            Role::Server => self.server_to_client,
            Role::Client => self.client_to_server,
        }
    }

    /// What this end's decompressor uses.
    pub fn incoming(&self, role: Role) -> DirectionParams {
        match role {
            Role::Server => self.client_to_server,
            Role::Client => self.server_to_client,
        }
    }
}

/// A connection's permessage-deflate once the handshake agreed on it: the
/// agreed parameters and this end's own settings (level, threshold,
/// hibernation), what the connection's codec is built from.
///
/// ```
/// use syncws::protocol::extension::permessage_deflate::{DeflateConfig, Negotiated};
/// use syncws::protocol::extension::{self, permessage_deflate};
///
/// let offers = extension::parse(["permessage-deflate"])?;
/// let config = DeflateConfig::default().threshold(64);
/// let agreed = permessage_deflate::negotiate(&config, &offers).unwrap();
/// let negotiated = Negotiated::new(agreed.params, config);
/// assert_eq!(negotiated.config.get_threshold(), 64);
/// # Ok::<(), syncws::protocol::extension::SyntaxError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// What each direction's compressor and decompressor use.
    pub params: DeflateParams,
    /// This end's settings.
    pub config: DeflateConfig,
}

impl Negotiated {
    /// The agreement of a handshake, with this end's settings.
    pub fn new(params: DeflateParams, config: DeflateConfig) -> Negotiated {
        Negotiated { params, config }
    }
}

/// The server's acceptance of one offer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateAgreement {
    /// Which of the offers given to [`negotiate`] was accepted (an index
    /// into that slice).
    pub offer: usize,
    /// The parameters both ends now use.
    pub params: DeflateParams,
    /// The extension to answer in `Sec-WebSocket-Extensions`.
    pub response: Extension,
}

/// Where a parameter list is read: an offer and a response allow
/// `client_max_window_bits` without a value differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

/// The four parameters RFC 7692 defines.
#[derive(Clone, Copy)]
enum Known {
    ServerNoContextTakeover,
    ClientNoContextTakeover,
    ServerMaxWindowBits,
    ClientMaxWindowBits,
}

impl Known {
    const ALL: [Known; 4] = [
        Known::ServerNoContextTakeover,
        Known::ClientNoContextTakeover,
        Known::ServerMaxWindowBits,
        Known::ClientMaxWindowBits,
    ];

    fn name(self) -> &'static str {
        match self {
            Known::ServerNoContextTakeover => SERVER_NO_CONTEXT_TAKEOVER,
            Known::ClientNoContextTakeover => CLIENT_NO_CONTEXT_TAKEOVER,
            Known::ServerMaxWindowBits => SERVER_MAX_WINDOW_BITS,
            Known::ClientMaxWindowBits => CLIENT_MAX_WINDOW_BITS,
        }
    }
}

/// A window size "without leading zeroes between 8 to 15, inclusive"
/// (§7.1.2.1, §7.1.2.2).
fn window_bits(name: &str, value: &str) -> Result<u8, String> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => Ok(value.parse().unwrap_or(15)),
        _ => Err(format!("{name}={value} is not a window size from 8 to 15")),
    }
}

/// The parameters of `extension`, each checked once (§7.1: a parameter
/// "not defined for use in" an offer/response, one "with an invalid value",
/// and "multiple extension parameters with the same name" are all reasons
/// to decline an offer or to fail a response).
fn read_params(extension: &Extension, side: Side) -> Result<DeflateOffer, String> {
    let mut offer = DeflateOffer {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: ClientWindowBits::Absent,
    };
    let mut seen = [false; 4];
    for param in extension.params() {
        let name = param.name();
        let value = param.value();
        let known = Known::ALL
            .into_iter()
            .find(|known| name.eq_ignore_ascii_case(known.name()))
            .ok_or_else(|| format!("unknown parameter {name}"))?;
        if std::mem::replace(&mut seen[known as usize], true) {
            return Err(format!("parameter {name} given twice"));
        }
        match (known, value) {
            // §7.1.1.1, §7.1.1.2: "This extension parameter has no value."
            (Known::ServerNoContextTakeover | Known::ClientNoContextTakeover, Some(value)) => {
                return Err(format!("{name}={value}: it takes no value"));
            }
            (Known::ServerNoContextTakeover, None) => offer.server_no_context_takeover = true,
            (Known::ClientNoContextTakeover, None) => offer.client_no_context_takeover = true,
            (Known::ServerMaxWindowBits, Some(value)) => {
                offer.server_max_window_bits = Some(window_bits(name, value)?);
            }
            (Known::ServerMaxWindowBits, None) => return Err(format!("{name} needs a value")),
            (Known::ClientMaxWindowBits, Some(value)) => {
                offer.client_max_window_bits = ClientWindowBits::Limit(window_bits(name, value)?);
            }
            // §7.1.2.2: the offer's parameter "has no value or a decimal
            // integer value"; the response's "has a decimal integer value".
            (Known::ClientMaxWindowBits, None) => match side {
                Side::Offer => offer.client_max_window_bits = ClientWindowBits::Supported,
                Side::Response => return Err(format!("{name} needs a value in a response")),
            },
        }
    }
    Ok(offer)
}

impl DeflateOffer {
    /// Reads one offer.
    ///
    /// # Errors
    /// Why RFC 7692 §7.1 says a server "MUST decline" it: it is not
    /// `permessage-deflate`, or has an unknown parameter, a repeated one,
    /// a value out of range or malformed, a value where none is allowed or
    /// none where one is needed (`server_max_window_bits`).
    pub fn from_extension(extension: &Extension) -> Result<DeflateOffer, String> {
        if !extension.is(NAME) {
            return Err(format!("{} is not {NAME}", extension.name()));
        }
        read_params(extension, Side::Offer)
    }

    /// The offer as an extension of `Sec-WebSocket-Extensions`.
    pub fn to_extension(&self) -> Extension {
        let mut extension = Extension::named(NAME);
        if self.server_no_context_takeover {
            extension.push_param(SERVER_NO_CONTEXT_TAKEOVER, None);
        }
        if self.client_no_context_takeover {
            extension.push_param(CLIENT_NO_CONTEXT_TAKEOVER, None);
        }
        if let Some(bits) = self.server_max_window_bits {
            extension.push_param(SERVER_MAX_WINDOW_BITS, Some(bits.to_string()));
        }
        match self.client_max_window_bits {
            ClientWindowBits::Absent => {}
            ClientWindowBits::Supported => extension.push_param(CLIENT_MAX_WINDOW_BITS, None),
            ClientWindowBits::Limit(bits) => {
                extension.push_param(CLIENT_MAX_WINDOW_BITS, Some(bits.to_string()));
            }
        }
        extension
    }

    /// The server's answer to this offer under `config` (the policy in
    /// [the module docs](self#how-our-settings-apply)). Every well-formed
    /// offer can be honoured: we compress and inflate with any window
    /// from 8 to 15, with or without context takeover.
    fn accept(&self, config: &DeflateConfig, index: usize) -> DeflateAgreement {
        let server_window = self
            .server_max_window_bits
            .unwrap_or(MAX_WINDOW_BITS)
            .min(config.server_max_window_bits);
        // §7.1.2.2: "If a received extension negotiation offer doesn't have
        // the "client_max_window_bits" extension parameter, the
        // corresponding extension negotiation response to the offer MUST
        // NOT include the "client_max_window_bits" extension parameter."
        let client_window = match self.client_max_window_bits {
            ClientWindowBits::Absent => MAX_WINDOW_BITS,
            ClientWindowBits::Supported => config.client_max_window_bits,
            ClientWindowBits::Limit(bits) => bits.min(config.client_max_window_bits),
        };
        let server_no_context_takeover =
            self.server_no_context_takeover || config.server_no_context_takeover;
        let client_no_context_takeover =
            self.client_no_context_takeover || config.client_no_context_takeover;

        let mut response = Extension::named(NAME);
        // §7.1.1.1: "A server accepts an extension negotiation offer that
        // includes the "server_no_context_takeover" extension parameter by
        // including the "server_no_context_takeover" extension parameter
        // in the corresponding extension negotiation response".
        if server_no_context_takeover {
            response.push_param(SERVER_NO_CONTEXT_TAKEOVER, None);
        }
        if client_no_context_takeover {
            response.push_param(CLIENT_NO_CONTEXT_TAKEOVER, None);
        }
        // §7.1.2.1: "A server accepts an extension negotiation offer with
        // this parameter by including the "server_max_window_bits"
        // extension parameter in the extension negotiation response to
        // send back to the client with the same or smaller value as the
        // offer."
        if self.server_max_window_bits.is_some() || server_window < MAX_WINDOW_BITS {
            response.push_param(SERVER_MAX_WINDOW_BITS, Some(server_window.to_string()));
        }
        if self.client_max_window_bits != ClientWindowBits::Absent
            && client_window < MAX_WINDOW_BITS
        {
            response.push_param(CLIENT_MAX_WINDOW_BITS, Some(client_window.to_string()));
        }
        DeflateAgreement {
            offer: index,
            params: DeflateParams {
                server_to_client: DirectionParams {
                    window_bits: server_window,
                    context_takeover: !server_no_context_takeover,
                },
                client_to_server: DirectionParams {
                    window_bits: client_window,
                    context_takeover: !client_no_context_takeover,
                },
            },
            response,
        }
    }

    /// Checks the server's answer to this offer, as a client.
    ///
    /// # Errors
    /// Why RFC 7692 §7.1 says a client "MUST _Fail the WebSocket
    /// Connection_": the response is not `permessage-deflate`, has a
    /// parameter not defined for a response, an invalid value or a
    /// repeated parameter, or a configuration this offer did not allow.
    pub fn accept_response(&self, response: &Extension) -> Result<DeflateParams, String> {
        if !response.is(NAME) {
            return Err(format!(
                "the server answered {}, not {NAME}",
                response.name()
            ));
        }
        let answer = read_params(response, Side::Response)?;
        // §7.1.1.1: the server accepts our server_no_context_takeover only
        // by answering it.
        if self.server_no_context_takeover && !answer.server_no_context_takeover {
            return Err(format!(
                "{SERVER_NO_CONTEXT_TAKEOVER} was asked for, not answered"
            ));
        }
        // §7.1.2.1: accepted only by answering the same or a smaller value.
        let server_window = match (self.server_max_window_bits, answer.server_max_window_bits) {
            (Some(asked), None) => {
                return Err(format!(
                    "{SERVER_MAX_WINDOW_BITS}={asked} was asked for, not answered"
                ));
            }
            (Some(asked), Some(answered)) if answered > asked => {
                return Err(format!(
                    "{SERVER_MAX_WINDOW_BITS}={answered} answered, larger than the {asked} asked for"
                ));
            }
            (_, answered) => answered.unwrap_or(MAX_WINDOW_BITS),
        };
        let client_window = match (self.client_max_window_bits, answer.client_max_window_bits) {
            // `read_params` refuses it in a response; kept as an error, not a panic.
            (_, ClientWindowBits::Supported) => {
                return Err(format!(
                    "{CLIENT_MAX_WINDOW_BITS} needs a value in a response"
                ));
            }
            // §7.1.2.2: the response "MUST NOT include" it unoffered.
            (ClientWindowBits::Absent, ClientWindowBits::Limit(bits)) => {
                return Err(format!(
                    "{CLIENT_MAX_WINDOW_BITS}={bits} answered, never offered"
                ));
            }
            (ClientWindowBits::Limit(offered), ClientWindowBits::Limit(bits)) if bits > offered => {
                return Err(format!(
                    "{CLIENT_MAX_WINDOW_BITS}={bits} answered, larger than the {offered} offered"
                ));
            }
            (_, ClientWindowBits::Limit(bits)) => bits,
            // We said we would not use more than what we offered.
            (ClientWindowBits::Limit(offered), ClientWindowBits::Absent) => offered,
            (_, ClientWindowBits::Absent) => MAX_WINDOW_BITS,
        };
        Ok(DeflateParams {
            server_to_client: DirectionParams {
                window_bits: server_window,
                context_takeover: !answer.server_no_context_takeover,
            },
            client_to_server: DirectionParams {
                window_bits: client_window,
                // §7.1.1.2: our offer's client_no_context_takeover is a
                // promise we keep even when the server does not answer it.
                context_takeover: !(answer.client_no_context_takeover
                    || self.client_no_context_takeover),
            },
        })
    }
}

/// The server side: the first of the client's `offers` (all of its
/// `Sec-WebSocket-Extensions`, in order, as [`parse`] gives
/// them) that is a well-formed permessage-deflate offer, answered under
/// `config`.
///
/// `None` when deflate is off or no offer is acceptable: the response then
/// names no extension and the connection goes uncompressed. A malformed
/// offer is skipped ("A server MUST decline an extension negotiation offer
/// for this extension if" it is malformed, §7.1: that offer, not the
/// handshake); one whose header does not parse at all should be treated as
/// no offer by the caller.
///
/// ```
/// use syncws::protocol::extension::{self, permessage_deflate::{self, DeflateConfig}};
///
/// let offers = extension::parse([
///     "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_no_context_takeover",
/// ])?;
/// let agreed = permessage_deflate::negotiate(&DeflateConfig::default(), &offers).unwrap();
/// assert_eq!(agreed.offer, 1);
/// assert_eq!(agreed.response.to_string(), "permessage-deflate; server_no_context_takeover");
/// assert!(permessage_deflate::negotiate(&DeflateConfig::default().enabled(false), &offers).is_none());
/// # Ok::<(), syncws::protocol::extension::SyntaxError>(())
/// ```
pub fn negotiate(config: &DeflateConfig, offers: &[Extension]) -> Option<DeflateAgreement> {
    if !config.enabled {
        return None;
    }
    for (index, extension) in offers.iter().enumerate() {
        if !extension.is(NAME) {
            continue;
        }
        match DeflateOffer::from_extension(extension) {
            Ok(offer) => return Some(offer.accept(config, index)),
            Err(why) => log::debug!("permessage-deflate offer {index} declined: {why}"),
        }
    }
    None
}

/// The client side: the server's `Sec-WebSocket-Extensions` values (all of
/// them, in order) checked against the `offer` we sent.
///
/// `Ok(None)` when the server named no extension (it declined: the
/// connection goes uncompressed); `Ok(Some(params))` when it accepted.
///
/// # Errors
/// [`HandshakeError::Extension`], for the handshake to fail, when the
/// values do not parse, name another extension or more than one ("If the
/// response includes a |Sec-WebSocket-Extensions| header field and this
/// header field indicates the use of an extension that was not present in
/// the client's handshake ..., the client MUST _Fail the WebSocket
/// Connection_", RFC 6455 §4.1), or break RFC 7692 §7.1 (see
/// [`DeflateOffer::accept_response`]).
pub fn check_response<'a>(
    offer: &DeflateOffer,
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let mut values = values.into_iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let answered = parse(values).map_err(|e| HandshakeError::Extension(e.to_string()))?;
    if answered.len() > 1 {
        return Err(HandshakeError::Extension(format!(
            "the server answered {} extensions, one was offered: {}",
            answered.len(),
            super::format(&answered)
        )));
    }
    offer
        .accept_response(&answered[0])
        .map(Some)
        .map_err(HandshakeError::Extension)
}

#[cfg(test)]
mod tests;

//! Global connection ids: which node (one process's [`Cluster`]) and which
//! connection of that node's server.
//!
//! [`Cluster`]: crate::Cluster

use std::fmt;
use std::str::FromStr;

use syncws::server::ConnectionId;

use crate::error::Error;

/// The length of a node id: 64 random bits in lowercase hex.
pub(crate) const NODE_ID_LEN: usize = 16;

/// A connection's id across every server of the cluster: the random id of
/// its node (new at every start of the process, so an id is never reused
/// by a later process) and its id within that node's server.
///
/// Printed as `NODE-N` (`9f86d081884c7d65-17`), and parsed back from that,
/// so it can travel in a message, a URL or a database:
///
/// ```
/// use syncws_redis::GlobalId;
///
/// let id: GlobalId = "9f86d081884c7d65-17".parse()?;
/// assert_eq!(id.node(), "9f86d081884c7d65");
/// assert_eq!(u64::from(id.connection()), 17);
/// assert_eq!(id.to_string(), "9f86d081884c7d65-17");
/// assert!("9f86d081884c7d65".parse::<GlobalId>().is_err());
/// # Ok::<(), syncws_redis::Error>(())
/// ```
///
/// A connection's own is [`Cluster::global_id`](crate::Cluster::global_id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlobalId {
    node: String,
    connection: ConnectionId,
}

impl GlobalId {
    /// An id from its parts; the node id was checked (or made) by the caller.
    pub(crate) fn new(node: &str, connection: ConnectionId) -> GlobalId {
        GlobalId {
            node: node.to_owned(),
            connection,
        }
    }

    /// The id of the node the connection is on: its
    /// [`Cluster::node_id`](crate::Cluster::node_id).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The connection's id within its node's server.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.node, u64::from(self.connection))
    }
}

/// True for a node id as nodes make them: 16 lowercase hex digits.
pub(crate) fn is_node_id(text: &str) -> bool {
    text.len() == NODE_ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl FromStr for GlobalId {
    type Err = Error;

    /// Parse `NODE-N`: 16 lowercase hex digits, `-`, a decimal connection
    /// id.
    ///
    /// # Errors
    /// [`Error::InvalidId`], saying what is wrong.
    fn from_str(text: &str) -> Result<GlobalId, Error> {
        let invalid = |why: &'static str| Error::InvalidId {
            input: text.chars().take(64).collect(),
            why,
        };
        let (node, n) = text
            .split_once('-')
            .ok_or_else(|| invalid("no '-' between the node id and the connection id"))?;
        if !is_node_id(node) {
            return Err(invalid("the node id is not 16 lowercase hex digits"));
        }
        // u64's own parser would take a leading '+'.
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the connection id is not a decimal number"));
        }
        let n: u64 = n
            .parse()
            .map_err(|_| invalid("the connection id does not fit in 64 bits"))?;
        Ok(GlobalId::new(node, ConnectionId::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_printed_parses_back_to_itself() {
        for n in [0, 1, 17, u64::MAX] {
            let id = GlobalId::new("0123456789abcdef", ConnectionId::from(n));
            assert_eq!(id.to_string().parse::<GlobalId>().unwrap(), id);
        }
    }

    #[test]
    fn bad_ids_are_refused_with_the_reason() {
        let why = |text: &str| match text.parse::<GlobalId>() {
            Err(Error::InvalidId { why, .. }) => why,
            other => panic!("{text}: {other:?}"),
        };
        assert!(why("").contains("no '-'"));
        assert!(why("0123456789abcdef").contains("no '-'"));
        assert!(why("0123456789abcde-1").contains("16 lowercase hex"));
        assert!(why("0123456789ABCDEF-1").contains("16 lowercase hex"));
        assert!(why("0123456789abcdeg-1").contains("16 lowercase hex"));
        assert!(why("0123456789abcdef-").contains("decimal"));
        assert!(why("0123456789abcdef-+1").contains("decimal"));
        assert!(why("0123456789abcdef-1-2").contains("decimal"));
        assert!(why("0123456789abcdef-18446744073709551616").contains("64 bits"));
    }

    #[test]
    fn the_error_names_the_input() {
        let e = "nope".parse::<GlobalId>().unwrap_err();
        assert!(e.to_string().contains("\"nope\""), "{e}");
    }
}

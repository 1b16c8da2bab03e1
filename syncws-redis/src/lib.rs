//! Rooms of [syncws] WebSocket connections that span many servers,
//! through Redis: one order per room, an offset for every message, and no
//! silent loss.
//!
//! Each server process makes one [`Cluster`] from a Redis URL. A
//! connection joins a [`Room`] on its own server; [`Room::publish`]
//! returns once Redis has stored the message, with its [`Offset`]; every
//! server delivers to its own members what it reads back from Redis, in the
//! order Redis stored it, so every member on every server sees the same
//! sequence. When a server cannot deliver part of that sequence (the
//! history was trimmed before it read it, or Redis lost the room), the loss
//! is reported to the members concerned by the [`LossPolicy`] (close with
//! 1013 by default) and counted in [`Stats`]. A member that comes back,
//! to any server, with the offset of the last message it received resumes
//! there ([`Room::join_after`]): what it missed comes first, from the
//! history, or it is told it cannot ([`Error::Lost`]). An [`Envelope`]
//! ([`ClusterBuilder::envelope`]) makes what members receive, with each
//! message's offset. See README.md for the guarantees and the Redis
//! settings they need.
//!
//! Every connection of a node's server (see [`Cluster::serve`]) also has a
//! [`GlobalId`]: [`Cluster::send_to`] reaches it from any node, or answers
//! that no live node has it ([`Error::Gone`]);
//! [`Cluster::send_to_confirmed`] waits for its node's answer; and
//! [`Cluster::list_connections`] lists the connections of every live node.
//! Nodes announce themselves with a heartbeat key that expires. A
//! connection detached on its node can be attached from any other with
//! [`Cluster::attach`].
//!
//! ```no_run
//! use syncws::Server;
//! use syncws_redis::Cluster;
//!
//! let cluster = Cluster::connect("redis://127.0.0.1:6379/")?;
//! let server = Server::bind("127.0.0.1:0")?.start(move |mut ws| {
//!     let room = cluster.room("lobby");
//!     // A member until dropped.
//!     let Ok(_membership) = room.join(ws.sender()) else { return };
//!     let _ = ws.run_with(|message| {
//!         // Delivered to the members on every server, this one included,
//!         // once Redis has it; an error is the caller's to handle.
//!         if let Err(e) = room.publish(message) {
//!             eprintln!("not published: {e}");
//!         }
//!         Ok(())
//!     });
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attach;
mod cluster;
mod direct;
mod envelope;
mod error;
mod id;
mod inbox;
mod keys;
mod listing;
mod node;
mod reader;
mod resume;
mod types;

pub use attach::Attachment;
pub use cluster::{Cluster, ClusterBuilder, Room, RoomMembership};
pub use envelope::{Delivery, Envelope};
pub use error::{Error, Result};
pub use id::GlobalId;
pub use listing::{ListedConnection, Listing};
pub use types::{Epoch, Loss, LossCallback, LossPolicy, Offset, PublishId, Published, Stats};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

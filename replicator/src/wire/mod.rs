//! The hub protocol: length-delimited MessagePack frames ([`codec`]) carrying [`messages`], over
//! sessions that start with a versioned, mutually authenticated handshake ([`session`]), in TLS
//! when configured ([`tls`]).

pub mod codec;
pub mod messages;
pub mod session;
pub mod tls;

pub use messages::{Message, PROTOCOL_VERSION};

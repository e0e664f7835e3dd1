//! The hub protocol: length-delimited MessagePack frames ([`codec`]).

pub mod codec;

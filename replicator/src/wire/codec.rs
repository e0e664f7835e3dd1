//! Frames: a 4-byte big-endian length, then that many bytes of MessagePack.
//!
//! The decoder checks the length against an explicit maximum *before* buffering the frame, so an
//! oversized or garbage length costs nothing and closes the connection with an error that says
//! what arrived. A frame whose payload is not a valid message is an error too; nothing is
//! guessed or skipped.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::{Decoder, Encoder};

/// Length prefix size.
pub const HEADER: usize = 4;

/// Why a frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("malformed frame ({len} bytes): {problem}")]
    Malformed { len: usize, problem: String },
    #[error("cannot encode a message: {0}")]
    Encode(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Length-delimited MessagePack frames of `T`.
#[derive(Debug)]
pub struct FrameCodec<T> {
    max: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> FrameCodec<T> {
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            max: max_frame_bytes,
            _t: PhantomData,
        }
    }
}

impl<T> Clone for FrameCodec<T> {
    fn clone(&self) -> Self {
        Self::new(self.max)
    }
}

impl<T: DeserializeOwned> Decoder for FrameCodec<T> {
    type Item = T;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<T>, FrameError> {
        if src.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_be_bytes(src[..HEADER].try_into().unwrap()) as usize;
        if len > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        if src.len() < HEADER + len {
            src.reserve(HEADER + len - src.len());
            return Ok(None);
        }
        src.advance(HEADER);
        let payload = src.split_to(len);
        rmp_serde::from_slice(&payload)
            .map(Some)
            .map_err(|e| FrameError::Malformed {
                len,
                problem: e.to_string(),
            })
    }
}

impl<T: Serialize> Encoder<T> for FrameCodec<T> {
    type Error = FrameError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        let start = dst.len();
        dst.put_u32(0);
        let mut w = dst.writer();
        rmp_serde::encode::write(&mut w, &item).map_err(|e| FrameError::Encode(e.to_string()))?;
        let dst = w.into_inner();
        let len = dst.len() - start - HEADER;
        if len > self.max {
            dst.truncate(start);
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        dst[start..start + HEADER].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_partial_input() {
        let mut c = FrameCodec::<Vec<String>>::new(1024);
        let mut buf = BytesMut::new();
        let msg = vec!["a".to_string(), "😀".to_string()];
        c.encode(msg.clone(), &mut buf).unwrap();
        c.encode(msg.clone(), &mut buf).unwrap();
        let mut partial = buf.split_to(5);
        assert!(c.decode(&mut partial).unwrap().is_none());
        partial.unsplit(buf);
        assert_eq!(c.decode(&mut partial).unwrap().unwrap(), msg);
        assert_eq!(c.decode(&mut partial).unwrap().unwrap(), msg);
        assert!(partial.is_empty());
    }

    #[test]
    fn oversized_and_garbage_are_errors() {
        let mut c = FrameCodec::<Vec<String>>::new(16);
        let mut buf = BytesMut::from(&[0xFFu8, 0xFF, 0xFF, 0xFF, 1, 2][..]);
        let e = c.decode(&mut buf).unwrap_err().to_string();
        assert!(e.contains("exceeds the maximum of 16"), "{e}");
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 0xC1, 0xC1, 0xC1][..]);
        let e = c.decode(&mut buf).unwrap_err().to_string();
        assert!(e.contains("malformed frame"), "{e}");
        let mut buf = BytesMut::new();
        let e = c
            .encode(vec!["x".repeat(100)], &mut buf)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceeds"), "{e}");
        assert!(buf.is_empty());
    }
}

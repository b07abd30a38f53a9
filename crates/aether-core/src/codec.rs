//! MessagePack codec helpers: the wire and storage format of Aether.
//!
//! Payloads are MessagePack maps with field names ([`to_vec_named`]), so adding a field to
//! an event or state type does not break what is already stored.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// Encodes `value` as MessagePack with field names.
///
/// # Errors
/// [`Error::Codec`] when serialization fails.
pub fn to_vec_named<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value)
        .map_err(|e| Error::codec("cannot encode value as MessagePack", e))
}

thread_local! {
    /// A per-thread buffer to encode into, so that what is kept is allocated once, at its
    /// exact size.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `value` in MessagePack with field names, handed to `f` from a per-thread scratch buffer:
/// for callers that keep a copy of exactly the encoded size (or a form of it). `what` names
/// the value in the error.
///
/// ```
/// let len = aether_core::codec::with_encoded_named(&(1u8, "a"), "a pair", |b| b.len()).unwrap();
/// assert_eq!(len, aether_core::codec::to_vec_named(&(1u8, "a")).unwrap().len());
/// ```
///
/// # Errors
/// [`Error::Codec`] when serialization fails.
pub fn with_encoded_named<T: Serialize + ?Sized, R>(
    value: &T,
    what: &str,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R> {
    let encode = |buf: &mut Vec<u8>| {
        buf.clear();
        rmp_serde::encode::write_named(buf, value)
            .map_err(|e| Error::codec(format!("cannot encode {what} as MessagePack"), e))?;
        Ok(f(buf))
    };
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            let out = encode(&mut buf);
            if buf.capacity() > 64 * 1024 {
                // Do not keep a buffer grown by one huge value.
                *buf = Vec::new();
            }
            out
        }
        // Serializing a value that itself encodes values: a buffer of its own.
        Err(_) => encode(&mut Vec::new()),
    })
}

/// `value` in MessagePack with field names, in a buffer of its exact size.
///
/// # Errors
/// [`Error::Codec`] when serialization fails.
pub fn to_bytes_named<T: Serialize + ?Sized>(value: &T) -> Result<bytes::Bytes> {
    with_encoded_named(value, "a value", bytes::Bytes::copy_from_slice)
}

/// Decodes MessagePack bytes into `T`.
///
/// Malformed, truncated or hostile bytes give [`Error::Codec`], never a panic.
///
/// # Errors
/// [`Error::Codec`] when the bytes are not a valid encoding of `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| {
        Error::codec(
            format!(
                "cannot decode {} from {} bytes of MessagePack",
                std::any::type_name::<T>(),
                bytes.len()
            ),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct V1 {
        amount: u64,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct V2 {
        amount: u64,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn adding_a_field_keeps_old_bytes_readable() {
        let old = to_vec_named(&V1 { amount: 7 }).unwrap();
        let new: V2 = from_slice(&old).unwrap();
        assert_eq!(
            new,
            V2 {
                amount: 7,
                note: None
            }
        );
    }

    #[test]
    fn malformed_bytes_are_a_codec_error() {
        for bad in [
            &b""[..],
            b"\xc1",
            b"\x81\xa6amount",
            b"\xff\xff\xff",
            b"\xdf\xff\xff\xff\xff",
        ] {
            let err = from_slice::<V1>(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Codec);
        }
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = from_slice::<V2>(&bytes);
            let _ = from_slice::<crate::Event>(&bytes);
        }
    }
}

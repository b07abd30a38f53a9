//! Validated names: [`Namespace`] and [`ActorId`], and the subject-token encoding of actor ids.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The longest namespace, in characters.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// The longest actor id, in UTF-8 bytes.
///
/// Its subject token ([`ActorId::to_token`]) is at most three times as long (768 bytes), which
/// keeps every subject well inside NATS's limits.
pub const MAX_ACTOR_ID_LEN: usize = 256;

/// A logical boundary for events and subscriptions.
///
/// One namespace never sees another's events. A namespace is 1 to 64 characters of
/// `[A-Za-z0-9_-]`, so it is always a single, wildcard-free NATS subject token and a valid
/// part of a stream name.
///
/// ```
/// use aether_core::Namespace;
/// let ns = Namespace::new("bank-eu_1").unwrap();
/// assert_eq!(ns.as_str(), "bank-eu_1");
/// assert!(Namespace::new("orders.>").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(Arc<str>);

impl Namespace {
    /// Validates and builds a namespace.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the name is empty, longer than [`MAX_NAMESPACE_LEN`], or
    /// holds anything but ASCII letters, digits, `_` and `-` (so `.`, `*`, `>`, `$`,
    /// whitespace and control characters are all refused).
    pub fn new(name: impl AsRef<str>) -> Result<Self> {
        let name = name.as_ref();
        validate_namespace(name)?;
        Ok(Namespace(Arc::from(name)))
    }

    /// The namespace as a string (also its subject token).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate_namespace(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("namespace", "must not be empty"));
    }
    if name.chars().count() > MAX_NAMESPACE_LEN {
        return Err(Error::invalid(
            "namespace",
            format!(
                "{} characters is longer than the limit of {MAX_NAMESPACE_LEN}",
                name.chars().count()
            ),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(Error::invalid(
            "namespace",
            format!(
                "{name:?} contains {bad:?}; only ASCII letters, digits, '_' and '-' are allowed"
            ),
        ));
    }
    Ok(())
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({:?})", &*self.0)
    }
}

impl FromStr for Namespace {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Namespace::new(s)
    }
}

impl TryFrom<&str> for Namespace {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        Namespace::new(s)
    }
}

impl TryFrom<String> for Namespace {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Namespace::new(s)
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Namespace {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Namespace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Namespace::new(&*s).map_err(serde::de::Error::custom)
    }
}

/// The identity of one actor (aggregate instance) within a namespace.
///
/// Any non-empty UTF-8 string up to [`MAX_ACTOR_ID_LEN`] bytes: dots, wildcards, spaces,
/// slashes and Unicode are all fine, because the id is never put in a subject as it is.
/// [`ActorId::to_token`] maps it to a subject token by a collision-free, reversible encoding.
/// Cloning is cheap (a reference count).
///
/// ```
/// use aether_core::ActorId;
/// let id = ActorId::new("orders.>/42 é").unwrap();
/// let token = id.to_token();
/// assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
/// assert_eq!(ActorId::from_token(&token).unwrap(), id);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(Arc<str>);

impl ActorId {
    /// Validates and builds an actor id.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the id is empty or longer than [`MAX_ACTOR_ID_LEN`] bytes.
    pub fn new(id: impl AsRef<str>) -> Result<Self> {
        let id = id.as_ref();
        if id.is_empty() {
            return Err(Error::invalid("actor id", "must not be empty"));
        }
        if id.len() > MAX_ACTOR_ID_LEN {
            return Err(Error::invalid(
                "actor id",
                format!(
                    "{} bytes is longer than the limit of {MAX_ACTOR_ID_LEN} bytes",
                    id.len()
                ),
            ));
        }
        Ok(ActorId(Arc::from(id)))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Encodes the id as one NATS subject token.
    ///
    /// ASCII letters, digits and `-` stand for themselves; every other byte of the UTF-8
    /// form (including `_`) becomes `_` followed by two upper-case hex digits. The result
    /// only holds `[A-Za-z0-9_-]`, is never empty, and distinct ids always give distinct
    /// tokens; [`ActorId::from_token`] reverses it.
    pub fn to_token(&self) -> String {
        encode_token(self.as_str())
    }

    /// Decodes a token made by [`ActorId::to_token`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the token is not a well-formed encoding of a valid id.
    pub fn from_token(token: &str) -> Result<Self> {
        ActorId::new(decode_token(token)?)
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Encodes any string as a subject token (see [`ActorId::to_token`]).
pub fn encode_token(s: &str) -> String {
    let mut out = String::new();
    encode_token_into(&mut out, s);
    out
}

/// Appends the subject token of `s` (see [`encode_token`]) to `out`, growing it once.
///
/// ```
/// let mut subject = String::from("aether.ev.bank.");
/// aether_core::support::encode_token_into(&mut subject, "acc 1");
/// assert_eq!(subject, "aether.ev.bank.acc_201");
/// ```
pub fn encode_token_into(out: &mut String, s: &str) {
    let escaped = s
        .bytes()
        .filter(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
        .count();
    out.reserve(s.len() + 2 * escaped);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push('_');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
}

/// Decodes a token made by [`encode_token`].
///
/// # Errors
/// [`Error::InvalidInput`] when the token holds characters an encoding never produces, a
/// truncated or lower-case escape, an escape of a byte that is never escaped, or bytes that
/// are not UTF-8.
pub fn decode_token(token: &str) -> Result<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b);
            i += 1;
        } else if b == b'_' {
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            };
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(Error::invalid(
                    "actor token",
                    format!("bad escape at byte {i} of {token:?}"),
                ));
            };
            let v = (hi << 4) | lo;
            if v.is_ascii_alphanumeric() || v == b'-' {
                return Err(Error::invalid(
                    "actor token",
                    format!("byte {v:#04x} at {i} is escaped but never needs to be"),
                ));
            }
            out.push(v);
            i += 3;
        } else {
            return Err(Error::invalid(
                "actor token",
                format!("unexpected character at byte {i} of {token:?}"),
            ));
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("actor token", "decodes to invalid UTF-8"))
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorId({:?})", &*self.0)
    }
}

impl FromStr for ActorId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ActorId::new(s)
    }
}

impl TryFrom<&str> for ActorId {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        ActorId::new(s)
    }
}

impl TryFrom<String> for ActorId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        ActorId::new(s)
    }
}

impl AsRef<str> for ActorId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ActorId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for ActorId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ActorId::new(&*s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn namespace_rejects_everything_that_could_cross_a_subject_boundary() {
        for bad in [
            "", "a.b", "a*", ">", "a b", "a\tb", "a\nb", "$SYS", "a\u{0}b", "é", "a/b", "a\\b",
        ] {
            let err = Namespace::new(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(Namespace::new("x".repeat(64)).is_ok());
        let err = Namespace::new("x".repeat(65)).unwrap_err();
        assert!(err.to_string().contains("64"), "{err}");
    }

    #[test]
    fn actor_id_bounds() {
        assert!(ActorId::new("").is_err());
        assert!(ActorId::new("a".repeat(MAX_ACTOR_ID_LEN)).is_ok());
        let err = ActorId::new("a".repeat(MAX_ACTOR_ID_LEN + 1)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
    }

    #[test]
    fn hostile_ids_map_to_distinct_plain_tokens() {
        let ids = [
            "a.b", "a_2Eb", "a_b", "*", ">", "a/b", "a b", "ü", "_", "__", "-", "A", "a",
        ];
        let tokens: std::collections::HashSet<_> = ids
            .iter()
            .map(|s| ActorId::new(s).unwrap().to_token())
            .collect();
        assert_eq!(tokens.len(), ids.len());
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        for bad in ["", "_", "_4", "_4g", "_41", "a.b", "_FF", "é", "_2e"] {
            if bad.is_empty() {
                assert!(ActorId::from_token(bad).is_err());
                continue;
            }
            assert!(ActorId::from_token(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn token_round_trips_and_is_plain(s in "\\PC{1,80}|[._*> /a-z]{1,40}") {
            let id = ActorId::new(&s).unwrap();
            let t = id.to_token();
            prop_assert!(!t.is_empty());
            prop_assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            prop_assert_eq!(ActorId::from_token(&t).unwrap(), id);
        }

        #[test]
        fn token_is_injective(a in "\\PC{1,20}|[._*>a-z_]{1,8}", b in "\\PC{1,20}|[._*>a-z_]{1,8}") {
            let (ia, ib) = (ActorId::new(&a).unwrap(), ActorId::new(&b).unwrap());
            prop_assert_eq!(ia == ib, ia.to_token() == ib.to_token());
        }

        #[test]
        fn any_bytes_decode_without_panic(s in ".{0,40}") {
            let _ = decode_token(&s);
        }
    }
}

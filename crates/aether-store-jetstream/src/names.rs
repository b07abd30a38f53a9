//! Stream names and subjects of a namespace (the layout `docs/jetstream.md` documents).

use std::collections::HashMap;

use aether_core::{ActorId, Namespace};

/// The KV bucket that records which namespaces were created, so a vanished stream is told
/// from a first open.
pub(crate) const REGISTRY_BUCKET: &str = "aether_registry";

/// The format of a registry entry (and of the layout it records).
pub(crate) const REGISTRY_FORMAT: u32 = 1;

/// Stream metadata key: the KV bucket holding the stream's registry entry.
pub(crate) const META_REGISTRY: &str = "aether.registry";
/// Stream metadata key: the namespace, which is the key of its registry entry.
pub(crate) const META_NAMESPACE: &str = "aether.namespace";
/// Stream metadata key: the format of the registry entry, [`REGISTRY_FORMAT`].
pub(crate) const META_FORMAT: &str = "aether.format";

/// Names of one namespace's streams and subjects.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The namespace, also its registry key.
    namespace: String,
    /// `AETHER_EV_<ns>`: the events.
    pub(crate) events_stream: String,
    /// `AETHER_SN_<ns>`: the snapshots.
    pub(crate) snapshots_stream: String,
    /// `aether.ev.<ns>.`
    events_prefix: String,
    /// `aether.sn.<ns>.`
    snapshots_prefix: String,
}

impl Names {
    pub(crate) fn new(ns: &Namespace) -> Self {
        Names {
            namespace: ns.as_str().to_owned(),
            events_stream: format!("AETHER_EV_{ns}"),
            snapshots_stream: format!("AETHER_SN_{ns}"),
            events_prefix: format!("aether.ev.{ns}."),
            snapshots_prefix: format!("aether.sn.{ns}."),
        }
    }

    /// The metadata both streams carry, naming their registry entry (bucket and key) and its
    /// format, so that a stream found without its entry is known as Aether's.
    pub(crate) fn stream_metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            (META_REGISTRY.to_owned(), REGISTRY_BUCKET.to_owned()),
            (META_NAMESPACE.to_owned(), self.namespace.clone()),
            (META_FORMAT.to_owned(), REGISTRY_FORMAT.to_string()),
        ])
    }

    /// The subject of the namespace's registry entry in the registry's stream:
    /// `$KV.aether_registry.<ns>`.
    pub(crate) fn registry_subject(&self) -> String {
        format!("$KV.{REGISTRY_BUCKET}.{}", self.namespace)
    }

    /// The subjects the event stream captures: `aether.ev.<ns>.*`.
    pub(crate) fn events_filter(&self) -> String {
        format!("{}*", self.events_prefix)
    }

    /// The subjects the snapshot stream captures: `aether.sn.<ns>.>`.
    pub(crate) fn snapshots_filter(&self) -> String {
        format!("{}>", self.snapshots_prefix)
    }

    /// `aether.ev.<ns>.<actor-token>`: one actor's events.
    pub(crate) fn events(&self, actor: &ActorId) -> String {
        with_token(&self.events_prefix, actor)
    }

    /// `aether.sn.<ns>.<actor-token>`: one actor's snapshot heads.
    pub(crate) fn snapshot(&self, actor: &ActorId) -> String {
        with_token(&self.snapshots_prefix, actor)
    }

    /// `aether.sn.<ns>.<actor-token>.<save-id>.<index>`: one chunk of a large snapshot.
    pub(crate) fn chunk(&self, actor: &ActorId, save: &str, index: u32) -> String {
        format!("{}.{save}.{index}", self.snapshot(actor))
    }

    /// `aether.sn.<ns>.<actor-token>.<save-id>.*`: every chunk of one save.
    pub(crate) fn chunks(&self, actor: &ActorId, save: &str) -> String {
        format!("{}.{save}.*", self.snapshot(actor))
    }
}

/// `prefix` followed by the actor's token ([`ActorId::to_token`]), built in one allocation.
fn with_token(prefix: &str, actor: &ActorId) -> String {
    // Room for an id without escapes; one with escapes grows it once.
    let mut s = String::with_capacity(prefix.len() + actor.as_str().len());
    s.push_str(prefix);
    aether_core::support::encode_token_into(&mut s, actor.as_str());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_carry_the_actor_token() {
        let n = Names::new(&Namespace::new("bank").unwrap());
        for id in ["acc-alice", "a.b c", "ünï-cödé_x", "*>", "A9-z"] {
            let a = ActorId::new(id).unwrap();
            assert_eq!(n.events(&a), format!("aether.ev.bank.{}", a.to_token()));
            assert_eq!(n.snapshot(&a), format!("aether.sn.bank.{}", a.to_token()));
        }
    }

    #[test]
    fn layout_is_as_documented_and_never_overlaps_the_bus() {
        let n = Names::new(&Namespace::new("bank").unwrap());
        let a = ActorId::new("acc.alice *>").unwrap();
        assert_eq!(n.events_stream, "AETHER_EV_bank");
        assert_eq!(n.snapshots_stream, "AETHER_SN_bank");
        assert_eq!(n.events_filter(), "aether.ev.bank.*");
        assert_eq!(n.snapshots_filter(), "aether.sn.bank.>");
        assert_eq!(n.events(&a), "aether.ev.bank.acc_2Ealice_20_2A_3E");
        assert_eq!(n.snapshot(&a), "aether.sn.bank.acc_2Ealice_20_2A_3E");
        assert_eq!(
            n.chunk(&a, "ff01", 2),
            "aether.sn.bank.acc_2Ealice_20_2A_3E.ff01.2"
        );
        assert_eq!(n.registry_subject(), "$KV.aether_registry.bank");
        let meta = n.stream_metadata();
        assert_eq!(meta[META_REGISTRY], "aether_registry");
        assert_eq!(meta[META_NAMESPACE], "bank");
        assert_eq!(meta[META_FORMAT], "1");
        for s in [n.events(&a), n.snapshot(&a), n.chunk(&a, "x", 0)] {
            assert!(!s.starts_with("aether.bus."));
            assert_eq!(s.split('.').nth(2), Some("bank"));
        }
    }
}

//! Bad input never panics and never stores anything: invalid namespaces and actor ids,
//! oversized or malformed events, and malformed bytes in the codec each give a clear,
//! typed error (`InvalidInput` or `Codec`), and the store is left as it was.

use aether_core::{
    codec, ActorId, ActorSnapshot, Error, ErrorKind, Event, EventStore, ExpectedVersion, Namespace,
    NewEvent, MAX_ACTOR_ID_LEN, MAX_EVENT_TYPE_LEN, MAX_NAMESPACE_LEN,
};
use aether_store_mem::{InMemoryEventStore, InMemoryStoreOptions};
use proptest::prelude::*;

fn kind_of<T: std::fmt::Debug>(r: aether_core::Result<T>) -> (ErrorKind, String) {
    let e = r.expect_err("expected an error");
    (e.kind(), e.to_string())
}

fn store() -> InMemoryEventStore {
    InMemoryEventStore::new(Namespace::new("bad-input").unwrap())
}

/// Nothing at all is stored for `actor`.
async fn assert_untouched(store: &InMemoryEventStore, actor: &ActorId) {
    assert_eq!(store.latest_version(actor).await.unwrap(), 0);
    assert!(store
        .read(actor, 0, u64::MAX, usize::MAX)
        .await
        .unwrap()
        .is_empty());
    assert!(store.load_snapshot(actor, None).await.unwrap().is_none());
}

#[test]
fn invalid_namespaces_are_invalid_input_with_a_reason() {
    let too_long = "n".repeat(MAX_NAMESPACE_LEN + 1);
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("a.b", "'.'"),
        ("orders.*", "'.'"),
        ("*", "'*'"),
        (">", "'>'"),
        ("a b", "' '"),
        ("tab\t", "'\\t'"),
        ("line\n", "'\\n'"),
        ("nul\u{0}", "'\\0'"),
        ("$SYS", "'$'"),
        ("ünï", "'ü'"),
        ("a/b", "'/'"),
        (&too_long, "65 characters"),
    ];
    for (bad, says) in cases {
        let (kind, msg) = kind_of(Namespace::new(bad));
        assert_eq!(kind, ErrorKind::InvalidInput, "{bad:?}");
        assert!(msg.starts_with("invalid namespace"), "{bad:?}: {msg}");
        assert!(msg.contains(says), "{bad:?}: {msg:?} should mention {says}");
    }
    // The longest valid name is fine.
    assert!(Namespace::new("n".repeat(MAX_NAMESPACE_LEN)).is_ok());
    // A hostile namespace arriving as bytes is refused by the decoder, not accepted.
    let bytes = codec::to_vec_named("orders.>").unwrap();
    let (kind, msg) = kind_of(codec::from_slice::<Namespace>(&bytes));
    assert_eq!(kind, ErrorKind::Codec, "{msg}");
    assert!(msg.contains("Namespace"), "{msg}");
}

#[test]
fn invalid_actor_ids_are_invalid_input_with_a_reason() {
    let (kind, msg) = kind_of(ActorId::new(""));
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert_eq!(msg, "invalid actor id: must not be empty");

    let (kind, msg) = kind_of(ActorId::new("a".repeat(MAX_ACTOR_ID_LEN + 1)));
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(msg.contains("257 bytes") && msg.contains("256"), "{msg}");
    // The bound is in bytes: 129 two-byte characters are over it.
    assert!(ActorId::new("é".repeat(129)).is_err());
    assert!(ActorId::new("é".repeat(128)).is_ok());

    // Malformed subject tokens (what a hostile publisher could put on a subject).
    for token in [
        "", "_", "_4", "_4g", "_41", "a.b", "*", ">", "_2e", "_FF", "a b",
    ] {
        let (kind, msg) = kind_of(ActorId::from_token(token));
        assert_eq!(kind, ErrorKind::InvalidInput, "{token:?}: {msg}");
    }
    // An empty or over-long id arriving as bytes is a codec error.
    for bad in [String::new(), "a".repeat(MAX_ACTOR_ID_LEN + 1)] {
        let bytes = codec::to_vec_named(&bad).unwrap();
        let (kind, _) = kind_of(codec::from_slice::<ActorId>(&bytes));
        assert_eq!(kind, ErrorKind::Codec);
    }
}

#[tokio::test]
async fn an_oversized_event_is_refused_and_nothing_stored() {
    let store = InMemoryEventStore::with_options(
        Namespace::new("bad-input").unwrap(),
        InMemoryStoreOptions::new()
            .max_event_bytes(4096)
            .max_append_bytes(1 << 20),
    );
    let a = ActorId::new("acc-big").unwrap();
    // approx_size = 64 + type + data: exactly at the limit is accepted, one byte more is not.
    let over = NewEvent::new("T", vec![0u8; 4096 - 64 - 1 + 1]);
    let (kind, msg) = kind_of(
        store
            .append(&a, ExpectedVersion::NO_ACTOR, vec![over])
            .await,
    );
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(msg.contains("4097 bytes") && msg.contains("4096"), "{msg}");
    assert_untouched(&store, &a).await;

    let at_limit = NewEvent::new("T", vec![0u8; 4096 - 64 - 1]);
    store
        .append(&a, ExpectedVersion::NO_ACTOR, vec![at_limit])
        .await
        .unwrap();
    assert_eq!(store.latest_version(&a).await.unwrap(), 1);

    // With the default limits: an event over 1 MiB.
    let store = self::store();
    let huge = NewEvent::new("Huge", vec![0u8; 1024 * 1024]);
    let (kind, _) = kind_of(store.append(&a, ExpectedVersion::Any, vec![huge]).await);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert_untouched(&store, &a).await;
}

#[tokio::test]
async fn an_oversized_append_is_refused_and_none_of_it_stored() {
    let store = store();
    let a = ActorId::new("acc-many").unwrap();
    // Each event is under the 1 MiB event limit; together they are over the append limit.
    let batch: Vec<NewEvent> = (0..3)
        .map(|_| NewEvent::new("Part", vec![1u8; 600 * 1024]))
        .collect();
    let (kind, msg) = kind_of(store.append(&a, ExpectedVersion::NO_ACTOR, batch).await);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(msg.contains("append limit"), "{msg}");
    assert_untouched(&store, &a).await;
}

#[tokio::test]
async fn malformed_events_are_refused_and_nothing_stored() {
    let store = store();
    let a = ActorId::new("acc-malformed").unwrap();
    let good = NewEvent::new("Good", b"ok".to_vec());
    let twice = NewEvent::new("Twice", b"1".to_vec());
    let cases: Vec<(&str, Vec<NewEvent>, &str)> = vec![
        ("no events", vec![], "at least one event"),
        (
            "empty type",
            vec![good.clone(), NewEvent::new("", b"x".to_vec())],
            "empty type",
        ),
        (
            "control characters in the type",
            vec![NewEvent::new("Bad\nType", b"x".to_vec())],
            "control characters",
        ),
        (
            "an over-long type",
            vec![NewEvent::new(
                "T".repeat(MAX_EVENT_TYPE_LEN + 1),
                b"x".to_vec(),
            )],
            "longer than",
        ),
        (
            "one id twice in one append",
            vec![
                twice.clone(),
                NewEvent::new("Twice", b"2".to_vec()).with_id(twice.id),
            ],
            "appears twice",
        ),
    ];
    for (what, batch, says) in cases {
        for expected in [ExpectedVersion::NO_ACTOR, ExpectedVersion::Any] {
            let (kind, msg) = kind_of(store.append(&a, expected, batch.clone()).await);
            assert_eq!(kind, ErrorKind::InvalidInput, "{what}: {msg}");
            assert!(msg.contains(says), "{what}: {msg:?} should say {says:?}");
            assert_untouched(&store, &a).await;
        }
    }
    // The actor is still usable with good input.
    let done = store
        .append(&a, ExpectedVersion::NO_ACTOR, vec![good])
        .await
        .unwrap();
    assert_eq!(done.version, 1);
}

#[tokio::test]
async fn invalid_snapshots_are_refused_and_nothing_saved() {
    let store = store();
    let a = ActorId::new("acc-snap").unwrap();
    let (kind, msg) = kind_of(
        store
            .save_snapshot(ActorSnapshot::new(a.clone(), 1, 1, vec![]))
            .await,
    );
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(msg.contains("no events"), "{msg}");
    assert_untouched(&store, &a).await;
    store
        .append(
            &a,
            ExpectedVersion::NO_ACTOR,
            vec![NewEvent::new("E", vec![])],
        )
        .await
        .unwrap();
    for v in [0, 2] {
        let (kind, _) = kind_of(
            store
                .save_snapshot(ActorSnapshot::new(a.clone(), v, 1, vec![]))
                .await,
        );
        assert_eq!(kind, ErrorKind::InvalidInput, "snapshot at {v}");
    }
    assert!(store.load_snapshot(&a, None).await.unwrap().is_none());
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Deposited {
    account: String,
    amount: u64,
}

#[tokio::test]
async fn a_stored_payload_that_does_not_decode_is_a_codec_error_naming_the_event() {
    let store = store();
    let a = ActorId::new("acc-garbage").unwrap();
    // The store keeps bytes as given; decoding them is where malformed bytes are caught.
    let garbage = NewEvent::new("Deposited", b"\xc1\xff\x00garbage".to_vec());
    let id = garbage.id;
    store
        .append(&a, ExpectedVersion::NO_ACTOR, vec![garbage])
        .await
        .unwrap();
    let stored = store.read(&a, 1, 1, 1).await.unwrap().remove(0);
    let err = stored.decode::<Deposited>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Codec);
    let msg = err.to_string();
    assert!(
        msg.contains(&id.to_string()) && msg.contains("Deposited") && msg.contains("v1"),
        "{msg}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the decoder's error is kept as the source"
    );
}

#[test]
fn malformed_bytes_in_the_codec_are_codec_errors() {
    let cases: &[&[u8]] = &[
        b"",
        b"\xc1",
        b"\x81\xa6amount",
        b"\xff\xff\xff",
        b"\xdf\xff\xff\xff\xff",
        b"\xdb\xff\xff\xff\xff",
        b"\x92\x01",
        b"\x82\xa7account\xa1a\xa6amount\xa3bad",
    ];
    for bytes in cases {
        assert_eq!(
            codec::from_slice::<Deposited>(bytes).unwrap_err().kind(),
            ErrorKind::Codec,
            "{bytes:?}"
        );
        assert_eq!(
            codec::from_slice::<Event>(bytes).unwrap_err().kind(),
            ErrorKind::Codec,
            "{bytes:?}"
        );
        assert_eq!(
            codec::from_slice::<ActorSnapshot>(bytes)
                .unwrap_err()
                .kind(),
            ErrorKind::Codec,
            "{bytes:?}"
        );
    }
}

#[test]
fn every_truncation_of_a_stored_event_is_a_codec_error() {
    let event = Event::from_new(
        ActorId::new("acc-1").unwrap(),
        3,
        NewEvent::encode(
            "Deposited",
            &Deposited {
                account: "acc-1".into(),
                amount: 5,
            },
        )
        .unwrap(),
        aether_core::OffsetDateTime::now_utc(),
    );
    let bytes = codec::to_vec_named(&event).unwrap();
    assert_eq!(codec::from_slice::<Event>(&bytes).unwrap(), event);
    for cut in 0..bytes.len() {
        let err = codec::from_slice::<Event>(&bytes[..cut]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec, "cut at {cut}");
    }
}

#[test]
fn a_value_that_cannot_be_encoded_is_a_codec_error() {
    struct Unencodable;
    impl serde::Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refuses to be encoded"))
        }
    }
    let err = NewEvent::encode("Never", &Unencodable).unwrap_err();
    assert!(matches!(err, Error::Codec { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot encode"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hostile_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::from_slice::<Event>(&bytes);
        let _ = codec::from_slice::<ActorSnapshot>(&bytes);
        let _ = codec::from_slice::<Namespace>(&bytes);
        let _ = codec::from_slice::<ActorId>(&bytes);
    }

    #[test]
    fn any_name_is_either_a_namespace_or_invalid_input(name in "\\PC{0,70}|[ -~]{0,70}") {
        match Namespace::new(&name) {
            Ok(ns) => prop_assert!(ns.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')),
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::InvalidInput),
        }
    }
}

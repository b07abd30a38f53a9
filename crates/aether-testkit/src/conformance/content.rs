//! What is stored comes back exactly: metadata, payload bytes, actor ids; handles share
//! data; namespaces and actors never see each other's events.

use aether_core::{ActorId, ActorSnapshot, ExpectedVersion, Metadata, NewEvent, OffsetDateTime};

use super::{actor, ev, history, noise, seed, CaseResult, Harness};

/// Correlation id, causation id, headers (Unicode keys and values, empty values), event
/// ids and type names come back exactly as appended; empty metadata stays empty.
pub async fn metadata_round_trips(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("meta");
    let full = Metadata::new()
        .correlation_id(uuid::Uuid::new_v4())
        .causation_id(uuid::Uuid::now_v7())
        .header("tenant", "acme")
        .header("ключ", "значение ✓")
        .header("empty", "")
        .header("with space.and.dots", "a: b; c=d")
        .header("x".repeat(200), "y".repeat(2_000));
    let only_causation = Metadata::new().causation_id(uuid::Uuid::new_v4());
    let batch = vec![
        NewEvent::new("Account.Opened/v2 ✓", b"1".to_vec()).with_metadata(full.clone()),
        NewEvent::new("Plain", b"2".to_vec()),
        NewEvent::new("Caused", b"3".to_vec()).with_metadata(only_causation.clone()),
    ];
    store
        .append(&a, ExpectedVersion::Exact(0), batch.clone())
        .await?;
    let other = h.store().await?;
    let events = history(&*other, &a).await?;
    assert_eq!(events.len(), 3);
    for (new, stored) in batch.iter().zip(&events) {
        assert_eq!(stored.id, new.id, "id");
        assert_eq!(stored.event_type, new.event_type, "type");
        assert_eq!(
            stored.metadata, new.metadata,
            "metadata of {}",
            new.event_type
        );
        assert!(new.same_content(stored), "content of {}", new.event_type);
    }
    assert_eq!(events[1].metadata, Metadata::default());
    Ok(())
}

/// Payload bytes come back exactly: empty, every byte value, invalid UTF-8, 256 KiB of
/// noise, and MessagePack that decodes to the value encoded.
pub async fn event_data_round_trips_exactly(h: Harness) -> CaseResult {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Deposited {
        account: String,
        amount: u64,
        note: Option<String>,
    }
    let store = h.store().await?;
    let a = actor("bytes");
    let value = Deposited {
        account: "acc-alice".into(),
        amount: 1_000_000_007,
        note: Some("ünïcödé".into()),
    };
    let payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        (0..=255u8).collect(),
        vec![0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1],
        noise(256 * 1024, 42),
        vec![0u8; 1000],
    ];
    let mut v = 0;
    for p in &payloads {
        store
            .append(
                &a,
                ExpectedVersion::Exact(v),
                vec![NewEvent::new("Bytes", p.clone())],
            )
            .await?;
        v += 1;
    }
    store
        .append(
            &a,
            ExpectedVersion::Exact(v),
            vec![NewEvent::encode("Deposited", &value)?],
        )
        .await?;
    let events = history(&*store, &a).await?;
    assert_eq!(events.len(), payloads.len() + 1);
    for (i, p) in payloads.iter().enumerate() {
        assert_eq!(events[i].data.len(), p.len(), "length of payload {i}");
        assert!(events[i].data[..] == p[..], "bytes of payload {i}");
    }
    let decoded: Deposited = events[payloads.len()].decode()?;
    assert_eq!(decoded, value);
    Ok(())
}

/// Stored events carry the actor id, their version, and a store timestamp taken around the
/// append (within a generous clock tolerance), non-decreasing along the history.
pub async fn stored_events_carry_actor_version_and_time(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("stamped");
    let before = OffsetDateTime::now_utc();
    store
        .append(&a, ExpectedVersion::Exact(0), vec![ev("1"), ev("2")])
        .await?;
    store
        .append(&a, ExpectedVersion::Exact(2), vec![ev("3")])
        .await?;
    let after = OffsetDateTime::now_utc();
    let tolerance = time::Duration::minutes(5);
    let events = history(&*store, &a).await?;
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    for e in &events {
        assert_eq!(e.actor_id, a);
        assert!(
            e.timestamp >= before - tolerance && e.timestamp <= after + tolerance,
            "timestamp {} of v{} is not around the append ({before} .. {after})",
            e.timestamp,
            e.version
        );
    }
    assert!(
        events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "timestamps go forward"
    );
    Ok(())
}

/// Two handles opened on one namespace share its data both ways: events, versions,
/// expectations and snapshots.
pub async fn second_handle_sees_writes_of_the_first(h: Harness) -> CaseResult {
    let one = h.store().await?;
    let two = h.store().await?;
    assert_eq!(one.namespace(), h.namespace());
    assert_eq!(two.namespace(), h.namespace());
    let a = actor("shared");
    one.append(&a, ExpectedVersion::Exact(0), vec![ev("from one")])
        .await?;
    assert_eq!(two.latest_version(&a).await?, 1);
    two.append(&a, ExpectedVersion::Exact(1), vec![ev("from two")])
        .await?;
    let r = one
        .append(&a, ExpectedVersion::Exact(1), vec![ev("stale")])
        .await;
    super::assert_conflict(r, &a, ExpectedVersion::Exact(1), 2);
    let seen: Vec<Vec<u8>> = history(&*one, &a)
        .await?
        .iter()
        .map(|e| e.data.to_vec())
        .collect();
    assert_eq!(seen, vec![b"from one".to_vec(), b"from two".to_vec()]);
    one.save_snapshot(ActorSnapshot::new(a.clone(), 2, 1, b"s".to_vec()))
        .await?;
    let s = two
        .load_snapshot(&a, None)
        .await?
        .expect("the snapshot saved by the other handle");
    assert_eq!((s.version, &s.state[..]), (2, &b"s"[..]));
    Ok(())
}

/// Two namespaces with the same actor id never see each other's events, versions or
/// snapshots.
pub async fn namespaces_are_isolated(h: Harness) -> CaseResult {
    let ns_b = h.other_namespace("b");
    let in_a = h.store().await?;
    let in_b = h.store_in(&ns_b).await?;
    assert_eq!(in_b.namespace(), &ns_b);
    let a = actor("same-id");
    let ids_a = seed(&*in_a, &a, 3, 3).await?;
    assert_eq!(
        in_b.latest_version(&a).await?,
        0,
        "B sees none of A's events"
    );
    assert!(history(&*in_b, &a).await?.is_empty());
    let b_event = ev("only in b");
    let b_id = b_event.id;
    let done = in_b
        .append(&a, ExpectedVersion::Exact(0), vec![b_event])
        .await?;
    assert_eq!(done.version, 1, "B's versions start at 1");
    in_a.save_snapshot(ActorSnapshot::new(a.clone(), 3, 1, b"a".to_vec()))
        .await?;
    assert!(
        in_b.load_snapshot(&a, None).await?.is_none(),
        "B sees none of A's snapshots"
    );

    let seen_a: Vec<_> = history(&*in_a, &a).await?.iter().map(|e| e.id).collect();
    let seen_b: Vec<_> = history(&*in_b, &a).await?.iter().map(|e| e.id).collect();
    assert_eq!(seen_a, ids_a);
    assert_eq!(seen_b, vec![b_id]);
    assert_eq!(in_a.latest_version(&a).await?, 3);
    Ok(())
}

/// Actor ids with dots, wildcards, spaces, slashes, escapes-lookalikes, Unicode, control
/// characters and the longest allowed length are stored and read back distinctly: actor
/// `i` of the list has exactly its own `i + 1` events.
pub async fn hostile_actor_ids_are_stored_distinctly(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let long_ascii = "x".repeat(aether_core::MAX_ACTOR_ID_LEN);
    let long_unicode = "é".repeat(aether_core::MAX_ACTOR_ID_LEN / 2);
    let raw: Vec<String> = [
        "a.b",
        "a_2Eb",
        "a_b",
        "a",
        "A",
        "*",
        ">",
        "a.*",
        "a.>",
        "a/b",
        "a\\b",
        "a b",
        " ",
        "_",
        "__",
        "-",
        "$SYS",
        "ü",
        "日本語",
        "emoji 🦀",
        "tab\there",
        "new\nline",
        "nul\u{0}byte",
        "%2E",
        "a..b",
        ".",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([long_ascii, long_unicode])
    .collect();
    let ids: Vec<ActorId> = raw.iter().map(|s| actor(s)).collect();
    for (i, id) in ids.iter().enumerate() {
        let events = (0..=i).map(|k| ev(&format!("{i}:{k}"))).collect();
        let done = store.append(id, ExpectedVersion::Exact(0), events).await?;
        assert_eq!(done.version, i as u64 + 1, "actor {id:?}");
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            store.latest_version(id).await?,
            i as u64 + 1,
            "latest version of {id:?}"
        );
        let events = history(&*store, id).await?;
        assert_eq!(events.len(), i + 1, "events of {id:?}");
        for (k, e) in events.iter().enumerate() {
            assert_eq!(&e.actor_id, id);
            assert_eq!(
                &e.data[..],
                format!("{i}:{k}").as_bytes(),
                "event {k} of {id:?}"
            );
        }
        store
            .save_snapshot(ActorSnapshot::new(
                id.clone(),
                i as u64 + 1,
                1,
                raw[i].clone().into_bytes(),
            ))
            .await?;
    }
    for (i, id) in ids.iter().enumerate() {
        let s = store.load_snapshot(id, None).await?.expect("a snapshot");
        assert_eq!(
            (&s.actor_id, &s.state[..]),
            (id, raw[i].as_bytes()),
            "snapshot of {id:?}"
        );
    }
    Ok(())
}

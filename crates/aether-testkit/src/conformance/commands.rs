//! What the actor runtime records with a command's events (record format 2) comes back
//! exactly, and timestamps never go backwards along an actor's history.

use aether_core::{CommandRecord, ErrorKind, ExpectedVersion, Metadata, NewEvent};

use super::{actor, assert_kind, ev, history, CaseResult, Harness};

/// The aggregate type of an append and the command record of a command's first event
/// (reply bytes, variant, hash) come back exactly from reads, streaming reads and
/// `append_shared`, through another handle too; events without them stay without.
pub async fn aggregate_type_and_command_records_round_trip(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("cmd-rec");
    let command = uuid::Uuid::now_v7();
    let meta = Metadata::new()
        .causation_id(command)
        .correlation_id(command);
    let first = ev("1")
        .with_metadata(meta.clone())
        .with_aggregate_type("Account")
        .with_command(
            CommandRecord::new(vec![0x92, 0x01, 0xa1, b'x']).with_command("Deposit", u64::MAX),
        );
    let second = ev("2").with_metadata(meta).with_aggregate_type("Account");
    let batch = vec![first, second];
    let (_, shared) = store
        .append_shared(&a, ExpectedVersion::Exact(0), batch.clone())
        .await?;
    let fresh = ev("3")
        .with_aggregate_type("Account")
        .with_command(CommandRecord::new(Vec::<u8>::new()));
    store
        .append(&a, ExpectedVersion::Exact(2), vec![fresh.clone()])
        .await?;
    let plain = ev("4");
    store
        .append(&a, ExpectedVersion::Exact(3), vec![plain.clone()])
        .await?;
    let other = h.store().await?;
    let events = history(&*other, &a).await?;
    assert_eq!(events.len(), 4);
    let all: Vec<&NewEvent> = batch.iter().chain([&fresh, &plain]).collect();
    for (new, stored) in all.iter().zip(&events) {
        assert!(new.same_content(stored), "v{}: {stored:?}", stored.version);
        assert_eq!(stored.aggregate_type, new.aggregate_type);
        assert_eq!(stored.command, new.command);
    }
    assert_eq!(events[0].aggregate_type(), Some("Account"));
    let rec = events[0].command.as_ref().expect("a command record");
    assert_eq!(
        (&rec.reply[..], rec.variant.as_deref(), rec.hash),
        (
            &[0x92u8, 0x01, 0xa1, b'x'][..],
            Some("Deposit"),
            Some(u64::MAX)
        )
    );
    assert_eq!(events[1].command, None);
    assert_eq!(events[3].aggregate_type(), None);
    for (s, e) in shared.iter().zip(&events) {
        assert_eq!(**s, *e, "append_shared returns what a read returns");
    }
    Ok(())
}

/// One append belongs to one aggregate type: events of two types in one append are
/// refused and nothing is stored.
pub async fn an_append_of_two_aggregate_types_is_invalid(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("two-types");
    let mixed = vec![
        ev("1").with_aggregate_type("Account"),
        ev("2").with_aggregate_type("Transfer"),
    ];
    let result = store.append(&a, ExpectedVersion::Exact(0), mixed).await;
    assert_kind(
        result,
        ErrorKind::InvalidInput,
        "two aggregate types in one append",
    );
    assert_eq!(store.latest_version(&a).await?, 0);
    Ok(())
}

/// A retry of an append whose first event carries a command record is recognised as the
/// same append; the same ids with another reply are not.
pub async fn retries_compare_command_records(h: Harness) -> CaseResult {
    let store = h.store().await?;
    let a = actor("cmd-retry");
    let e = ev("1")
        .with_aggregate_type("Account")
        .with_command(CommandRecord::new(vec![7u8]).with_command("Open", 1));
    let first = store
        .append(&a, ExpectedVersion::Exact(0), vec![e.clone()])
        .await?;
    let again = store
        .append(&a, ExpectedVersion::Exact(0), vec![e.clone()])
        .await?;
    assert!(again.duplicate);
    assert_eq!(again.version, first.version);
    let mut other = e;
    other.command = Some(std::sync::Arc::new(
        CommandRecord::new(vec![8u8]).with_command("Open", 1),
    ));
    let result = store
        .append(&a, ExpectedVersion::Exact(0), vec![other])
        .await;
    assert_kind(result, ErrorKind::InvalidInput, "same id, other reply");
    assert_eq!(store.latest_version(&a).await?, 1);
    Ok(())
}

/// Timestamps never go backwards along an actor's history (the store stamps an append
/// with the later of its clock and the previous event's time), through several handles.
pub async fn timestamps_never_go_backwards(h: Harness) -> CaseResult {
    let one = h.store().await?;
    let two = h.store().await?;
    let a = actor("times");
    for v in 0..200u64 {
        let store = if v % 3 == 0 { &two } else { &one };
        store
            .append(&a, ExpectedVersion::Exact(v), vec![ev(&v.to_string())])
            .await?;
    }
    let events = history(&*one, &a).await?;
    assert_eq!(events.len(), 200);
    for w in events.windows(2) {
        assert!(
            w[1].timestamp >= w[0].timestamp,
            "v{} at {} is before v{} at {}",
            w[1].version,
            w[1].timestamp,
            w[0].version,
            w[0].timestamp
        );
    }
    Ok(())
}

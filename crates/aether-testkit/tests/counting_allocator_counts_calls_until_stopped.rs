//! The testkit's counting allocator counts allocation calls and bytes, and once stopped
//! counts nothing more and keeps its figures. One test only: stopping is process-wide and
//! for good, so no other test may share this binary.

aether_testkit::counting_allocator!();

use aether_testkit::alloc::{allocations, current_bytes, stop_counting};

#[test]
fn allocation_calls_are_counted_until_counting_stops() {
    assert!(aether_testkit::alloc::is_installed());

    let calls = allocations();
    let boxes: Vec<Box<u64>> = (0..100)
        .map(|i| std::hint::black_box(Box::new(i)))
        .collect();
    let counted = allocations() - calls;
    // 100 boxes and at least one allocation of the vector; other threads of the test
    // harness may allocate too, so only the lower bound is exact.
    assert!(
        counted >= 101,
        "100 boxes and a vector counted as {counted} calls"
    );
    drop(boxes);

    stop_counting();
    let (calls, bytes) = (allocations(), current_bytes());
    let kept: Vec<Vec<u8>> = (0..100).map(|_| vec![1u8; 4096]).collect();
    std::hint::black_box(&kept);
    assert_eq!(
        allocations(),
        calls,
        "allocation calls counted after the stop"
    );
    assert_eq!(current_bytes(), bytes, "bytes counted after the stop");
    drop(kept);
    assert_eq!(current_bytes(), bytes, "frees counted after the stop");
}

//! A counting global allocator, for tests that must prove memory stays bounded.
//!
//! [`CountingAllocator`] wraps the system allocator and keeps process-wide counters of the
//! bytes currently allocated, of the peak since the last [`reset_peak`], and of allocation
//! calls. The counters are statics of this module, so any code can read them with
//! [`current_bytes`], [`peak_bytes`] and [`allocations`] once the allocator is installed.
//! A benchmark that counts first and then times can [`stop_counting`] for good, so that its
//! timed parts run on the plain system allocator.
//!
//! A test binary installs it once, with [`counting_allocator!`](crate::counting_allocator)
//! (the [`event_store_conformance!`](crate::event_store_conformance) macro does this for
//! you). A binary has at most one `#[global_allocator]`, so do not install it twice.
//!
//! ```no_run
//! aether_testkit::counting_allocator!();
//!
//! #[test]
//! fn replay_stays_small() {
//!     assert!(aether_testkit::alloc::is_installed());
//!     let before = aether_testkit::alloc::reset_peak();
//!     let v = vec![0u8; 1 << 20];
//!     drop(v);
//!     assert!(aether_testkit::alloc::peak_bytes() - before >= 1 << 20);
//! }
//! ```
//!
//! The counters are global to the process: allocations of other threads (other tests run
//! by `cargo test` in the same process) are counted too. `cargo nextest` runs each test in
//! its own process; the conformance suite also runs its memory case alone (see
//! [`conformance`](crate::conformance)).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Cleared once by [`stop_counting`], never set again.
static COUNTING: AtomicBool = AtomicBool::new(true);

/// A [`GlobalAlloc`] over [`System`] that counts the bytes currently allocated, their peak
/// and the allocation calls (until [`stop_counting`]). Install it with
/// [`counting_allocator!`](crate::counting_allocator).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

impl CountingAllocator {
    /// The allocator (a unit value; the counters are process-wide statics).
    pub const fn new() -> Self {
        CountingAllocator
    }
}

fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// One successful allocation call (while counting): the allocator is installed.
fn called() {
    INSTALLED.store(true, Ordering::Relaxed);
    CALLS.fetch_add(1, Ordering::Relaxed);
}

fn added(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn removed(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's layout and pointer unchanged,
// so `System`'s guarantees carry over; the counters are plain atomics and never allocate.
// Once counting is stopped, each method only reads one flag besides forwarding.
#[expect(
    unsafe_code,
    reason = "a GlobalAlloc impl is unsafe by definition; it only forwards to System and counts"
)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && counting() {
            called();
            added(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && counting() {
            called();
            added(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (so by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        if counting() {
            removed(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by this allocator (so by `System`) with `layout`; the
        // caller upholds `realloc`'s contract for `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && counting() {
            called();
            if new_size >= layout.size() {
                added(new_size - layout.size());
            } else {
                removed(layout.size() - new_size);
            }
        }
        p
    }
}

/// Whether a [`CountingAllocator`] is the global allocator of this process (it has counted
/// at least one allocation).
pub fn is_installed() -> bool {
    // Allocate something so that an installed allocator has certainly counted once.
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    INSTALLED.load(Ordering::Relaxed)
}

/// Bytes allocated now (0 when the allocator is not installed).
pub fn current_bytes() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// The most bytes allocated at once since the last [`reset_peak`] (or the start).
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Allocation calls counted so far: every successful `alloc`, `alloc_zeroed` and `realloc`
/// (a grown or shrunk block counts as one call), none after [`stop_counting`].
pub fn allocations() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// Stops counting for good: from now on the allocator only forwards to [`System`], and
/// [`current_bytes`], [`peak_bytes`] and [`allocations`] keep the values they have now.
///
/// For a benchmark that counts in its first parts and times the rest on the plain system
/// allocator. Counting cannot resume: blocks allocated while it is stopped and freed
/// afterwards would be subtracted without having been added.
pub fn stop_counting() {
    COUNTING.store(false, Ordering::SeqCst);
}

/// Sets the peak to the bytes allocated now and returns that figure, so that
/// `peak_bytes() - reset_peak()` is the growth over what was allocated at the reset.
pub fn reset_peak() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Installs [`CountingAllocator`] as the `#[global_allocator]` of the binary it is invoked in.
///
/// Invoke it once per binary, at module level (a test file's top level is the usual
/// place). [`event_store_conformance!`](crate::event_store_conformance) invokes it unless
/// told otherwise.
///
/// ```no_run
/// aether_testkit::counting_allocator!();
/// ```
#[macro_export]
macro_rules! counting_allocator {
    () => {
        #[global_allocator]
        static AETHER_TESTKIT_COUNTING_ALLOCATOR: $crate::alloc::CountingAllocator =
            $crate::alloc::CountingAllocator::new();
    };
}

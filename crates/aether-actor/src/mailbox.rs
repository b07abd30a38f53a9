//! A small bounded mailbox: a locked queue and the waker of its one consumer.
//!
//! It is smaller than a channel when idle (an empty queue allocates nothing), lets a caller
//! whose deadline passed withdraw its command if the actor has not taken it yet, and lets
//! the actor close it atomically only when it is empty (passivation loses nothing).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::task::Poll;

use futures::task::AtomicWaker;

pub(crate) struct Mailbox<M> {
    state: Mutex<State<M>>,
    /// The actor's task while it waits for a message (there is only ever one consumer).
    waker: AtomicWaker,
    /// Sweeper ticks seen with an empty mailbox since the actor last finished a message.
    idle_ticks: AtomicU32,
}

struct State<M> {
    queue: VecDeque<(u64, M)>,
    next_seq: u64,
    /// Control messages in `queue` (they do not count toward the capacity).
    controls: usize,
    closed: bool,
}

/// The sequence number of control messages: never handed out to a caller, so a control
/// message is never withdrawn.
const CONTROL_SEQ: u64 = u64::MAX;

pub(crate) enum SendError<M> {
    Full(M),
    Closed(M),
}

impl<M> Mailbox<M> {
    pub(crate) fn new() -> Self {
        Mailbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                next_seq: 0,
                controls: 0,
                closed: false,
            }),
            waker: AtomicWaker::new(),
            idle_ticks: AtomicU32::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<M>> {
        aether_core::support::lock(&self.state)
    }

    /// Queues `msg` if fewer than `capacity` messages wait; returns its sequence number. The
    /// actor is not woken: call [`wake`](Mailbox::wake) next (a caller first gets ready for
    /// the answer, so that the actor runs only once the caller's turn is over).
    pub(crate) fn try_send(&self, msg: M, capacity: usize) -> Result<u64, SendError<M>> {
        let mut st = self.lock();
        if st.closed {
            return Err(SendError::Closed(msg));
        }
        if st.queue.len() - st.controls >= capacity {
            return Err(SendError::Full(msg));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.queue.push_back((seq, msg));
        Ok(seq)
    }

    /// Wakes the actor if it waits for a message.
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// Queues a control message whatever the capacity (not when closed). Control messages
    /// do not count toward the capacity, so they never make a caller's command bounce.
    pub(crate) fn force_send(&self, msg: M) -> Result<(), M> {
        let mut st = self.lock();
        if st.closed {
            return Err(msg);
        }
        st.controls += 1;
        st.queue.push_back((CONTROL_SEQ, msg));
        drop(st);
        self.waker.wake();
        Ok(())
    }

    /// Removes the message `seq` if the actor has not taken it yet.
    pub(crate) fn withdraw(&self, seq: u64) -> Option<M> {
        let mut st = self.lock();
        if seq == CONTROL_SEQ {
            return None;
        }
        let pos = st.queue.iter().position(|(s, _)| *s == seq)?;
        st.queue.remove(pos).map(|(_, m)| m)
    }

    /// The next message, waiting for one. Only one task may receive.
    pub(crate) async fn recv(&self) -> M {
        std::future::poll_fn(|cx| {
            // Registered before looking, so a message queued after the look wakes us.
            self.waker.register(cx.waker());
            let mut st = self.lock();
            match st.queue.pop_front() {
                Some((seq, m)) => {
                    if seq == CONTROL_SEQ {
                        st.controls -= 1;
                    }
                    Poll::Ready(m)
                }
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Records that the actor just finished a message (no clock read: idleness is counted
    /// in sweeper ticks).
    pub(crate) fn touch(&self) {
        // Written only when it changes: callers touch this cache line on every ask.
        if self.idle_ticks.load(Ordering::Relaxed) != 0 {
            self.idle_ticks.store(0, Ordering::Relaxed);
        }
    }

    /// Called by the idle sweeper once per tick: counts the tick if the mailbox is empty
    /// and returns how many ticks in a row it has been idle.
    pub(crate) fn tick(&self) -> u32 {
        if self.lock().queue.is_empty() {
            self.idle_ticks.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.idle_ticks.store(0, Ordering::Relaxed);
            0
        }
    }

    /// Closes the mailbox if it is empty and has been idle for at least `ticks` sweeper
    /// ticks; returns whether it did.
    pub(crate) fn close_if_idle(&self, ticks: u32) -> bool {
        let mut st = self.lock();
        if st.queue.is_empty() && self.idle_ticks.load(Ordering::Relaxed) >= ticks {
            st.closed = true;
            st.queue = VecDeque::new();
            true
        } else {
            false
        }
    }

    /// Closes the mailbox and returns what was still queued.
    pub(crate) fn close(&self) -> Vec<M> {
        let mut st = self.lock();
        st.closed = true;
        st.controls = 0;
        std::mem::take(&mut st.queue)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_hands_back_and_withdraw_removes() {
        let mb = Mailbox::new();
        let a = mb.try_send(1, 2).ok().unwrap();
        let _b = mb.try_send(2, 2).ok().unwrap();
        match mb.try_send(3, 2) {
            Err(SendError::Full(m)) => assert_eq!(m, 3),
            _ => panic!("expected a full mailbox"),
        }
        assert_eq!(mb.withdraw(a), Some(1));
        assert_eq!(mb.withdraw(a), None);
        assert!(!mb.close_if_idle(0), "not while messages wait");
        assert_eq!(mb.close(), vec![2]);
        assert!(matches!(mb.try_send(4, 2), Err(SendError::Closed(4))));
    }

    #[tokio::test]
    async fn control_messages_do_not_take_a_callers_place() {
        let mb = Mailbox::new();
        mb.force_send(0u8).unwrap();
        mb.force_send(0u8).unwrap();
        assert!(
            mb.try_send(1, 1).is_ok(),
            "two control messages must not fill capacity 1"
        );
        assert!(matches!(mb.try_send(2, 1), Err(SendError::Full(2))));
        assert_eq!(mb.recv().await, 0);
        assert_eq!(mb.recv().await, 0);
        assert!(matches!(mb.try_send(3, 1), Err(SendError::Full(3))));
        assert_eq!(mb.recv().await, 1);
        assert!(mb.try_send(4, 1).is_ok());
        assert_eq!(mb.withdraw(CONTROL_SEQ), None);
    }

    #[tokio::test]
    async fn recv_waits_for_a_message() {
        let mb = std::sync::Arc::new(Mailbox::new());
        let mb2 = mb.clone();
        let h = tokio::spawn(async move { mb2.recv().await });
        tokio::task::yield_now().await;
        mb.try_send(7u8, 1).ok().unwrap();
        mb.wake();
        assert_eq!(h.await.unwrap(), 7);
    }
}

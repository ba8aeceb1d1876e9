//! The outgoing queue of one destination (or of the UDP socket): two
//! bounded FIFOs, [`Class::Membership`] and [`Class::Data`], each with its
//! own capacity, and one consumer that always takes membership first.
//!
//! Producers never wait: [`ClassQueue::push`] refuses when the class is full
//! or the queue is closed. The consumer waits in [`ClassQueue::pop`].

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::{lock, Class};

/// Why [`ClassQueue::push`] refused an item (given back).
#[derive(Debug)]
pub(crate) enum Refused<T> {
    /// The class is at its capacity.
    Full(T),
    /// The queue was closed.
    Closed(T),
}

#[derive(Debug)]
struct Inner<T> {
    membership: VecDeque<T>,
    data: VecDeque<T>,
    closed: bool,
}

/// Two bounded FIFOs, membership before data; one consumer.
#[derive(Debug)]
pub(crate) struct ClassQueue<T> {
    inner: Mutex<Inner<T>>,
    /// Wakes the consumer. `notify_one` stores a permit when the consumer is
    /// not waiting yet, so a push between its check and its wait is never
    /// missed.
    ready: Notify,
    capacity: usize,
}

impl<T> ClassQueue<T> {
    /// A queue holding at most `capacity` items per class.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                membership: VecDeque::new(),
                data: VecDeque::new(),
                closed: false,
            }),
            ready: Notify::new(),
            capacity,
        }
    }

    /// Appends `item` to its class, unless full or closed.
    pub(crate) fn push(&self, class: Class, item: T) -> Result<(), Refused<T>> {
        {
            let mut inner = lock(&self.inner);
            if inner.closed {
                return Err(Refused::Closed(item));
            }
            let fifo = match class {
                Class::Membership => &mut inner.membership,
                Class::Data => &mut inner.data,
            };
            if fifo.len() >= self.capacity {
                return Err(Refused::Full(item));
            }
            fifo.push_back(item);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// The next item, membership first, if any.
    #[cfg(test)]
    pub(crate) fn try_pop(&self) -> Option<T> {
        let mut inner = lock(&self.inner);
        inner
            .membership
            .pop_front()
            .or_else(|| inner.data.pop_front())
    }

    /// Waits for the next item, membership first; `None` once closed
    /// (whatever is left is for [`close`](Self::close) to return). Cancel
    /// safe: an item is taken only when the future completes.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut inner = lock(&self.inner);
                if inner.closed {
                    return None;
                }
                if let Some(item) = inner
                    .membership
                    .pop_front()
                    .or_else(|| inner.data.pop_front())
                {
                    return Some(item);
                }
            }
            self.ready.notified().await;
        }
    }

    /// Items waiting, both classes.
    pub(crate) fn len(&self) -> usize {
        let inner = lock(&self.inner);
        inner.membership.len() + inner.data.len()
    }

    /// Whether nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses every later push, wakes the consumer, and returns what was
    /// still waiting.
    pub(crate) fn close(&self) -> Vec<T> {
        let left = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
            let mut left: Vec<T> = inner.membership.drain(..).collect();
            left.extend(inner.data.drain(..));
            left
        };
        self.ready.notify_one();
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_goes_first_and_each_class_has_its_own_bound() {
        let queue = ClassQueue::new(2);
        queue.push(Class::Data, 1).expect("room");
        queue.push(Class::Data, 2).expect("room");
        assert!(matches!(queue.push(Class::Data, 3), Err(Refused::Full(3))));
        queue.push(Class::Membership, 10).expect("room");
        queue.push(Class::Membership, 11).expect("room");
        assert!(matches!(
            queue.push(Class::Membership, 12),
            Err(Refused::Full(12))
        ));
        assert_eq!(queue.len(), 4);
        let order: Vec<i32> = std::iter::from_fn(|| queue.try_pop()).collect();
        assert_eq!(order, [10, 11, 1, 2]);
    }

    #[test]
    fn a_closed_queue_refuses_and_returns_what_was_left() {
        let queue = ClassQueue::new(4);
        queue.push(Class::Data, 1).expect("room");
        queue.push(Class::Membership, 2).expect("room");
        assert_eq!(queue.close(), [2, 1]);
        assert!(matches!(
            queue.push(Class::Data, 3),
            Err(Refused::Closed(3))
        ));
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push_and_ends_at_close() {
        let queue = std::sync::Arc::new(ClassQueue::new(4));
        let consumer = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(item) = queue.pop().await {
                    got.push(item);
                }
                got
            })
        };
        tokio::task::yield_now().await;
        queue.push(Class::Data, 1).expect("room");
        tokio::task::yield_now().await;
        queue.push(Class::Data, 2).expect("room");
        tokio::task::yield_now().await;
        let left = queue.close();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), consumer)
            .await
            .expect("the consumer ends at close")
            .expect("no panic");
        let mut all = got;
        all.extend(left);
        assert_eq!(all, [1, 2]);
    }
}

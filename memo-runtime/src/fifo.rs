//! The eviction order: first in, first out.
//!
//! A doubly linked list kept in a slab, so that pushing a newly stored entry,
//! unlinking a deleted or re-stored one, and popping the oldest are all O(1)
//! and allocate only when the slab grows. Each node names where its entry
//! lives (shard and hash), and the entry names its node, so the store can go
//! from one to the other in both directions.

/// Index of a node in the slab.
pub(crate) type NodeId = u32;

const NIL: NodeId = NodeId::MAX;

/// Where an entry lives: enough for the store to find it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) shard: u32,
    pub(crate) hash: u64,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    place: Place,
    prev: NodeId,
    /// The next node in the list, or the next free node while on the free list.
    next: NodeId,
}

/// Entries from oldest (front) to newest (back).
#[derive(Debug)]
pub(crate) struct Fifo {
    nodes: Vec<Node>,
    head: NodeId,
    tail: NodeId,
    free: NodeId,
    len: usize,
}

impl Fifo {
    pub(crate) fn new() -> Self {
        Fifo {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
        }
    }

    /// How many entries are linked.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links a new entry as the newest.
    pub(crate) fn push_back(&mut self, place: Place) -> NodeId {
        let node = Node {
            place,
            prev: self.tail,
            next: NIL,
        };
        let id = if self.free == NIL {
            let id = NodeId::try_from(self.nodes.len()).expect("memo: more than 2^32 entries");
            self.nodes.push(node);
            id
        } else {
            let id = self.free;
            self.free = self.nodes[id as usize].next;
            self.nodes[id as usize] = node;
            id
        };
        match self.tail {
            NIL => self.head = id,
            tail => self.nodes[tail as usize].next = id,
        }
        self.tail = id;
        self.len += 1;
        id
    }

    /// Unlinks an entry (deleted, expired or re-stored) and frees its node.
    pub(crate) fn unlink(&mut self, id: NodeId) {
        let Node { prev, next, .. } = self.nodes[id as usize];
        match prev {
            NIL => self.head = next,
            prev => self.nodes[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.nodes[next as usize].prev = prev,
        }
        self.nodes[id as usize].next = self.free;
        self.free = id;
        self.len -= 1;
    }

    /// The oldest entry, without unlinking it.
    pub(crate) fn front(&self) -> Option<(NodeId, Place)> {
        (self.head != NIL).then(|| (self.head, self.nodes[self.head as usize].place))
    }

    /// Forgets every entry and releases the slab.
    pub(crate) fn clear(&mut self) {
        *self = Fifo::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(n: u64) -> Place {
        Place { shard: 0, hash: n }
    }

    fn drain(fifo: &mut Fifo) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some((id, place)) = fifo.front() {
            fifo.unlink(id);
            out.push(place.hash);
        }
        out
    }

    #[test]
    fn pops_in_insertion_order_and_skips_unlinked_nodes() {
        let mut fifo = Fifo::new();
        let ids: Vec<_> = (0..5).map(|n| fifo.push_back(place(n))).collect();
        fifo.unlink(ids[2]);
        fifo.unlink(ids[0]);
        assert_eq!(fifo.len(), 3);
        assert_eq!(drain(&mut fifo), vec![1, 3, 4]);
        assert_eq!(fifo.len(), 0);
    }

    #[test]
    fn reuses_freed_nodes() {
        let mut fifo = Fifo::new();
        for round in 0..100 {
            let a = fifo.push_back(place(round));
            let b = fifo.push_back(place(round + 1));
            fifo.unlink(a);
            fifo.unlink(b);
        }
        assert!(fifo.nodes.len() <= 2);
    }

    #[test]
    fn moving_to_back_is_unlink_then_push() {
        let mut fifo = Fifo::new();
        let a = fifo.push_back(place(1));
        fifo.push_back(place(2));
        fifo.unlink(a);
        fifo.push_back(place(1));
        assert_eq!(drain(&mut fifo), vec![2, 1]);
    }
}

//! Queues of entries, for the eviction policies.
//!
//! Doubly linked lists kept in one slab, so that pushing a stored entry,
//! unlinking a deleted one, moving one to the back of a queue (or to another
//! queue), and finding the oldest are all O(1), and allocate only when the
//! slab grows. Each node names where its entry lives (its hash, which also
//! picks its shard) and the entry names its node, so the store can go from
//! one to the other.

/// Index of a node in the slab. It stays the entry's as the entry moves
/// between queues, until it is unlinked. 31 bits: a node keeps its queue in
/// the top bit of its `prev`.
pub(crate) type NodeId = u32;

/// No node; also the largest id plus one, so ids and `NIL` fit in 31 bits.
const NIL: NodeId = (1 << 31) - 1;
/// The bit of `Node::prev` that holds the queue.
const QUEUE_BIT: u32 = 1 << 31;

/// Where an entry lives: enough for the store to find it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) hash: u64,
}

/// Which queue: a policy uses up to [`QUEUES`] of them.
pub(crate) type Queue = usize;
pub(crate) const QUEUES: usize = 2;

/// 16 bytes: a hash and two links, the queue in the top bit of one of them.
#[derive(Debug, Clone, Copy)]
struct Node {
    hash: u64,
    /// The previous node in its queue (low 31 bits), and the queue.
    prev_and_queue: u32,
    /// The next node in its queue, or the next free node while free.
    next: NodeId,
}

impl Node {
    fn place(&self) -> Place {
        Place { hash: self.hash }
    }

    fn prev(&self) -> NodeId {
        self.prev_and_queue & !QUEUE_BIT
    }

    fn queue(&self) -> Queue {
        usize::from(self.prev_and_queue & QUEUE_BIT != 0)
    }

    fn link(&mut self, prev: NodeId, queue: Queue) {
        debug_assert!(queue < QUEUES);
        self.prev_and_queue = prev | if queue == 1 { QUEUE_BIT } else { 0 };
    }
}

/// Entries in up to two queues, each from oldest (front) to newest (back).
#[derive(Debug)]
pub(crate) struct Lists {
    nodes: Vec<Node>,
    heads: [NodeId; QUEUES],
    tails: [NodeId; QUEUES],
    lens: [usize; QUEUES],
    free: NodeId,
}

impl Lists {
    pub(crate) fn new() -> Self {
        Lists {
            nodes: Vec::new(),
            heads: [NIL; QUEUES],
            tails: [NIL; QUEUES],
            lens: [0; QUEUES],
            free: NIL,
        }
    }

    /// How many entries `queue` holds.
    pub(crate) fn len(&self, queue: Queue) -> usize {
        self.lens[queue]
    }

    /// How many entries all queues hold.
    pub(crate) fn total(&self) -> usize {
        self.lens.iter().sum()
    }

    /// Links a new entry as the newest of `queue`.
    pub(crate) fn push_back(&mut self, queue: Queue, place: Place) -> NodeId {
        let node = Node {
            hash: place.hash,
            prev_and_queue: NIL,
            next: NIL,
        };
        let id = if self.free == NIL {
            let id = NodeId::try_from(self.nodes.len())
                .ok()
                .filter(|&id| id < NIL)
                .expect("memo: more than 2^31 - 1 entries in one cache");
            self.nodes.push(node);
            id
        } else {
            let id = self.free;
            self.free = self.nodes[id as usize].next;
            self.nodes[id as usize] = node;
            id
        };
        self.attach(id, queue);
        id
    }

    /// Which queue an entry is in.
    pub(crate) fn queue_of(&self, id: NodeId) -> Queue {
        self.nodes[id as usize].queue()
    }

    /// Moves an entry to the back of `queue` (its own or another); its id stays.
    pub(crate) fn move_to_back(&mut self, id: NodeId, queue: Queue) {
        self.detach(id);
        self.attach(id, queue);
    }

    /// Unlinks an entry (deleted, expired or evicted) and frees its node.
    pub(crate) fn unlink(&mut self, id: NodeId) {
        self.detach(id);
        self.nodes[id as usize].next = self.free;
        self.free = id;
    }

    /// The oldest entry of `queue`, without unlinking it.
    pub(crate) fn front(&self, queue: Queue) -> Option<(NodeId, Place)> {
        let head = self.heads[queue];
        (head != NIL).then(|| (head, self.nodes[head as usize].place()))
    }

    /// Forgets every entry and releases the slab.
    pub(crate) fn clear(&mut self) {
        *self = Lists::new();
    }

    fn attach(&mut self, id: NodeId, queue: Queue) {
        let tail = self.tails[queue];
        let node = &mut self.nodes[id as usize];
        node.link(tail, queue);
        node.next = NIL;
        match tail {
            NIL => self.heads[queue] = id,
            tail => self.nodes[tail as usize].next = id,
        }
        self.tails[queue] = id;
        self.lens[queue] += 1;
    }

    fn detach(&mut self, id: NodeId) {
        let node = self.nodes[id as usize];
        let (prev, next, queue) = (node.prev(), node.next, node.queue());
        match prev {
            NIL => self.heads[queue] = next,
            prev => self.nodes[prev as usize].next = next,
        }
        match next {
            NIL => self.tails[queue] = prev,
            next => {
                let next = &mut self.nodes[next as usize];
                next.link(prev, next.queue());
            }
        }
        self.lens[queue] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(n: u64) -> Place {
        Place { hash: n }
    }

    fn drain(lists: &mut Lists, queue: Queue) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some((id, place)) = lists.front(queue) {
            lists.unlink(id);
            out.push(place.hash);
        }
        out
    }

    #[test]
    fn pops_in_insertion_order_and_skips_unlinked_nodes() {
        let mut lists = Lists::new();
        let ids: Vec<_> = (0..5).map(|n| lists.push_back(0, place(n))).collect();
        lists.unlink(ids[2]);
        lists.unlink(ids[0]);
        assert_eq!(lists.len(0), 3);
        assert_eq!(drain(&mut lists, 0), vec![1, 3, 4]);
        assert_eq!(lists.total(), 0);
    }

    #[test]
    fn nodes_pack_into_16_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 16);
    }

    #[test]
    fn reuses_freed_nodes() {
        let mut lists = Lists::new();
        for round in 0..100 {
            let a = lists.push_back(0, place(round));
            let b = lists.push_back(1, place(round + 1));
            lists.unlink(a);
            lists.unlink(b);
        }
        assert!(lists.nodes.len() <= 2);
    }

    #[test]
    fn moving_keeps_the_id_and_changes_the_order_or_queue() {
        let mut lists = Lists::new();
        let a = lists.push_back(0, place(1));
        lists.push_back(0, place(2));
        lists.move_to_back(a, 0);
        assert_eq!(lists.front(0).map(|(_, p)| p.hash), Some(2));
        lists.move_to_back(a, 1);
        assert_eq!(lists.queue_of(a), 1);
        assert_eq!((lists.len(0), lists.len(1)), (1, 1));
        assert_eq!(drain(&mut lists, 1), vec![1]);
        assert_eq!(drain(&mut lists, 0), vec![2]);
    }
}

//! An append-only sequence with removal and O(log n) "n-th live element" lookup, for `$skip` paging.
//!
//! Outlook pages plain collections with `$skip=N`. A folder of 10,000 contacts paged ten at a
//! time would cost a linear walk per page if we skipped through a map, so each folder keeps its
//! contacts in creation order in slots, with a Fenwick tree counting the live ones: finding the
//! N-th live contact is a binary descent over the tree instead of a scan.

/// Slots in insertion order; a removed slot stays as a hole so positions never shift.
/// (No `Default`: the tree needs its unused index 0, which `new` provides.)
#[derive(Debug)]
pub struct OrderedSlots<T> {
    slots: Vec<Option<T>>,
    /// Fenwick tree (1-based) over "slot is live" as 0/1.
    tree: Vec<u32>,
    live: usize,
}

impl<T: Clone> OrderedSlots<T> {
    pub fn new() -> Self {
        OrderedSlots {
            slots: Vec::new(),
            tree: vec![0],
            live: 0,
        }
    }

    /// Number of live elements.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Appends a value and returns its slot, which stays valid until the value is removed.
    pub fn push(&mut self, value: T) -> usize {
        self.slots.push(Some(value));
        let i = self.slots.len(); // 1-based index of the new slot
        // A new Fenwick node covers (i - lowbit(i), i]: its value is 1 plus the live count of
        // the slots it covers before i, computed from two prefix sums.
        let low = i & i.wrapping_neg();
        let covered = self.prefix(i - 1) - self.prefix(i - low);
        self.tree.push(covered + 1);
        self.live += 1;
        i - 1
    }

    /// Removes the value in `slot`; removing an empty slot is a no-op.
    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let taken = self.slots.get_mut(slot)?.take()?;
        let mut i = slot + 1;
        while i < self.tree.len() {
            self.tree[i] -= 1;
            i += i & i.wrapping_neg();
        }
        self.live -= 1;
        Some(taken)
    }

    /// Live elements starting at the `skip`-th live one, at most `take` of them, in order.
    pub fn page(&self, skip: usize, take: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(take.min(self.live.saturating_sub(skip)));
        let Some(start) = self.slot_of_rank(skip) else {
            return out;
        };
        for value in self.slots[start..].iter().flatten() {
            if out.len() == take {
                break;
            }
            out.push(value.clone());
        }
        out
    }

    /// Sum of live flags over slots 1..=i (1-based).
    fn prefix(&self, mut i: usize) -> u32 {
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i];
            i &= i - 1;
        }
        sum
    }

    /// The 0-based slot holding the live element of 0-based rank `rank`.
    fn slot_of_rank(&self, rank: usize) -> Option<usize> {
        if rank >= self.live {
            return None;
        }
        let n = self.tree.len() - 1;
        let mut pos = 0;
        let mut remaining = rank as u32 + 1;
        let mut step = n.checked_next_power_of_two().unwrap_or(n);
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] < remaining {
                pos = next;
                remaining -= self.tree[next];
            }
            step >>= 1;
        }
        // `pos` is the largest prefix with fewer than rank+1 live slots: slot pos (0-based) is it.
        Some(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_skips_removed_slots_and_keeps_insertion_order() {
        let mut s = OrderedSlots::new();
        let slots: Vec<usize> = (0..100).map(|v| s.push(v)).collect();
        for v in (0..100).step_by(3) {
            s.remove(slots[v]);
        }
        let expected: Vec<i32> = (0..100).filter(|v| v % 3 != 0).collect();
        assert_eq!(s.len(), expected.len());
        for skip in 0..expected.len() + 2 {
            let want: Vec<i32> = expected.iter().copied().skip(skip).take(7).collect();
            assert_eq!(s.page(skip, 7), want, "skip {skip}");
        }
    }

    #[test]
    fn removing_twice_is_a_no_op() {
        let mut s = OrderedSlots::new();
        let a = s.push("a");
        s.push("b");
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.page(0, 10), vec!["b"]);
    }
}

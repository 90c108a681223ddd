//! The `tracing` spans this thread entered through a layer.

use std::cell::{Cell, RefCell};

use agent_trace_core::SpanId;

/// A `tracing` span entered through the layer on this thread.
#[derive(Clone, Copy)]
pub(super) struct Entered {
    pub(super) layer: usize,
    pub(super) id: u64,
    pub(super) span_id: SpanId,
}

/// How many entered spans a thread keeps in [`ENTERED`] itself; deeper
/// ones go to [`ENTERED_DEEPER`].
pub(super) const ENTERED_INLINE: usize = 32;

/// The `tracing` spans this thread entered through a layer, innermost
/// last, with their agent span ids: `on_exit` finds the context to leave
/// here, with no look-up and no lock (when exits looked the span up in the
/// registry and locked its extensions, each cost about 180 instructions
/// and four atomic read-modify-writes more in the layer bench). Enter and
/// exit of one span always happen on one thread (`tracing`'s guards are
/// not `Send`).
///
/// The first [`ENTERED_INLINE`] entries are cells in the thread-local
/// itself, which has no destructor: each use is a thread-relative address,
/// with no check that the thread-local is alive and no `RefCell` flag (a
/// `RefCell<Vec>` cost about 70 instructions more per `#[instrument]` call
/// in the layer bench). Deeper entries, rare, go to a `Vec`.
pub(super) struct EnteredStack {
    pub(super) len: Cell<usize>,
    pub(super) inline: [EnteredCell; ENTERED_INLINE],
}

/// One inline entry of [`EnteredStack`], its fields in cells of their own
/// and so read and written a machine word at a time: a
/// `Cell<Option<Entered>>` was copied whole through the stack, its tag
/// byte and words read back right away with wider loads than they were
/// written with (a failed store-to-load forwarding on each exit).
pub(super) struct EnteredCell {
    pub(super) layer: Cell<usize>,
    pub(super) id: Cell<u64>,
    /// `None` for an empty cell.
    pub(super) span_id: Cell<Option<SpanId>>,
}

impl EnteredCell {
    pub(super) const fn empty() -> Self {
        Self {
            layer: Cell::new(0),
            id: Cell::new(0),
            span_id: Cell::new(None),
        }
    }

    #[inline]
    pub(super) fn get(&self) -> Option<Entered> {
        Some(Entered {
            layer: self.layer.get(),
            id: self.id.get(),
            span_id: self.span_id.get()?,
        })
    }

    #[inline]
    pub(super) fn set(&self, e: Option<Entered>) {
        match e {
            Some(e) => {
                self.layer.set(e.layer);
                self.id.set(e.id);
                self.span_id.set(Some(e.span_id));
            }
            None => self.span_id.set(None),
        }
    }
}

thread_local! {
    pub(super) static ENTERED: EnteredStack = const {
        EnteredStack {
            len: Cell::new(0),
            inline: [const { EnteredCell::empty() }; ENTERED_INLINE],
        }
    };
    /// The entries of [`ENTERED`] beyond its first [`ENTERED_INLINE`].
    pub(super) static ENTERED_DEEPER: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

impl EnteredStack {
    /// Entry `i` (`i < len`).
    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<Entered> {
        match self.inline.get(i) {
            Some(cell) => cell.get(),
            None => ENTERED_DEEPER
                .try_with(|deeper| deeper.borrow().get(i - ENTERED_INLINE).copied())
                .ok()
                .flatten(),
        }
    }

    /// Pushes `e` on top. A thread being torn down may fail to keep a deep
    /// entry: its exit then finds no entry and leaves nothing.
    #[inline]
    pub(super) fn push(&self, e: Entered) {
        let n = self.len.get();
        match self.inline.get(n) {
            Some(cell) => cell.set(Some(e)),
            None => {
                if !Self::push_deep(n, e) {
                    return;
                }
            }
        }
        self.len.set(n + 1);
    }

    /// Keeps entry `n` (beyond the inline ones) aside; whether it could.
    /// Out of line, so that the common push stays small enough to inline.
    #[cold]
    #[inline(never)]
    pub(super) fn push_deep(n: usize, e: Entered) -> bool {
        ENTERED_DEEPER
            .try_with(|deeper| {
                let mut deeper = deeper.borrow_mut();
                deeper.truncate(n - ENTERED_INLINE);
                deeper.push(e);
            })
            .is_ok()
    }

    /// Removes the innermost entry that `matches` and returns it: the top,
    /// unless guards were dropped out of order.
    #[inline]
    pub(super) fn remove(&self, matches: impl Fn(&Entered) -> bool) -> Option<Entered> {
        let n = self.len.get();
        if n != 0
            && n <= ENTERED_INLINE
            && let Some(top) = self.inline[n - 1].get()
            && matches(&top)
        {
            self.len.set(n - 1);
            return Some(top);
        }
        self.remove_below(n, matches)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn remove_below(
        &self,
        n: usize,
        matches: impl Fn(&Entered) -> bool,
    ) -> Option<Entered> {
        let at = (0..n)
            .rev()
            .find(|&i| self.get(i).is_some_and(|e| matches(&e)))?;
        let found = self.get(at);
        for i in at..n - 1 {
            let next = self.get(i + 1);
            match self.inline.get(i) {
                Some(cell) => cell.set(next),
                None => {
                    let _ = ENTERED_DEEPER.try_with(|deeper| {
                        if let (Some(slot), Some(next)) =
                            (deeper.borrow_mut().get_mut(i - ENTERED_INLINE), next)
                        {
                            *slot = next;
                        }
                    });
                }
            }
        }
        if n > ENTERED_INLINE {
            let _ = ENTERED_DEEPER
                .try_with(|deeper| deeper.borrow_mut().truncate(n - 1 - ENTERED_INLINE));
        }
        self.len.set(n - 1);
        found
    }

    /// The innermost entry that `matches`.
    #[inline]
    pub(super) fn find(&self, matches: impl Fn(&Entered) -> bool) -> Option<Entered> {
        let n = self.len.get();
        if n > ENTERED_INLINE {
            return self.find_deep(n, matches);
        }
        self.inline[..n]
            .iter()
            .rev()
            .filter_map(EnteredCell::get)
            .find(|e| matches(e))
    }

    #[cold]
    #[inline(never)]
    pub(super) fn find_deep(
        &self,
        n: usize,
        matches: impl Fn(&Entered) -> bool,
    ) -> Option<Entered> {
        (0..n)
            .rev()
            .filter_map(|i| self.get(i))
            .find(|e| matches(e))
    }
}

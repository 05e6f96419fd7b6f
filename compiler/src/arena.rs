//! Typed arenas and handles: the storage of every tree and graph in the compiler.
//!
//! An [`Arena<T>`] owns items of one kind; a [`Handle<T>`] is a 32-bit index into
//! it that cannot be confused with a handle into an arena of another kind. Handles
//! are `Copy`, and `Option<Handle<T>>` is as small as a handle. Code that builds
//! an arena bottom-up (operands before the expressions that use them) lets passes
//! walk it in order, with no recursion.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::num::NonZeroU32;

/// A typed index into an [`Arena<T>`].
pub struct Handle<T> {
    index_plus_one: NonZeroU32,
    marker: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// The handle of the item at `index`.
    ///
    /// # Panics
    /// If `index` does not fit in 32 bits less one (arenas never grow that large).
    pub fn from_index(index: usize) -> Self {
        let index_plus_one = u32::try_from(index + 1).ok().and_then(NonZeroU32::new).expect("arena index overflow");
        Handle { index_plus_one, marker: PhantomData }
    }

    /// The position of the item in its arena.
    pub fn index(self) -> usize {
        (self.index_plus_one.get() - 1) as usize
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Handle<T> {}
impl<T> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.index_plus_one == other.index_plus_one
    }
}
impl<T> Eq for Handle<T> {}
impl<T> PartialOrd for Handle<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Handle<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index_plus_one.cmp(&other.index_plus_one)
    }
}
impl<T> Hash for Handle<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index_plus_one.hash(state)
    }
}
impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.index())
    }
}

/// Owns items of one kind, addressed by [`Handle<T>`].
#[derive(Clone, PartialEq)]
pub struct Arena<T> {
    items: Vec<T>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { items: Vec::new() }
    }
}

impl<T: fmt::Debug> fmt::Debug for Arena<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<T> Arena<T> {
    /// An empty arena.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `item` and returns its handle.
    pub fn append(&mut self, item: T) -> Handle<T> {
        self.items.push(item);
        Handle::from_index(self.items.len() - 1)
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the arena holds no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items with their handles, in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Handle<T>, &T)> + '_ {
        self.items.iter().enumerate().map(|(i, item)| (Handle::from_index(i), item))
    }

    /// The handles, in the order the items were added.
    pub fn handles(&self) -> impl ExactSizeIterator<Item = Handle<T>> + use<T> {
        (0..self.items.len()).map(Handle::from_index)
    }

    /// The items, in the order they were added.
    pub fn values(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
}

impl<T> std::ops::Index<Handle<T>> for Arena<T> {
    type Output = T;
    fn index(&self, handle: Handle<T>) -> &T {
        &self.items[handle.index()]
    }
}

impl<T> std::ops::IndexMut<Handle<T>> for Arena<T> {
    fn index_mut(&mut self, handle: Handle<T>) -> &mut T {
        &mut self.items[handle.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_index_their_items_and_option_is_free() {
        let mut arena = Arena::new();
        let a = arena.append("a");
        let b = arena.append("b");
        assert_eq!((arena[a], arena[b]), ("a", "b"));
        assert!(a < b);
        assert_eq!(arena.handles().collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(std::mem::size_of::<Option<Handle<u8>>>(), 4);
    }
}

//! The catalog's entity lists: append-only vectors (a key is an index) whose copies keep
//! the spare room of the original.
//!
//! The pipeline shares its catalog with the thread checking the next batch and copies it
//! when a sensor is admitted meanwhile (`Arc::make_mut`), so while a new network's sensors
//! are first seen, every batch copies the catalog once. A derived `Clone` gives a vector
//! exactly its length, which the next admission then reallocates at twice that: one more
//! large block allocated and freed per copy (17 of 1.0–1.2 MB in the reference run's first
//! 19 batches), each a little larger than the last. A copy with the original's capacity
//! grows in the same steps as the original and is not moved by the next admission.

use std::ops::{Deref, DerefMut};

/// A vector whose clone has the capacity of the original.
#[derive(Debug)]
pub(super) struct AppendOnly<T>(Vec<T>);

impl<T> Default for AppendOnly<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Clone> Clone for AppendOnly<T> {
    fn clone(&self) -> Self {
        let mut copy = Vec::with_capacity(self.0.capacity());
        copy.extend_from_slice(&self.0);
        Self(copy)
    }
}

impl<T> Deref for AppendOnly<T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> DerefMut for AppendOnly<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_the_spare_room() {
        let mut list = AppendOnly::default();
        for i in 0..5u32 {
            list.push(i);
        }
        let capacity = list.capacity();
        assert!(capacity > list.len());
        let copy = list.clone();
        assert_eq!(copy.capacity(), capacity);
        assert_eq!(*copy, *list);
        // a derived clone would have given exactly the length
        assert_eq!(list.to_vec().capacity(), list.len());
    }
}

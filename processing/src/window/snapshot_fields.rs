//! Fields added to the task snapshot after format 5, and how a format-5 snapshot still
//! restores.
//!
//! `postcard` writes a struct's fields one after another with no names and no lengths,
//! so a field added to a struct changes the layout of every snapshot holding it: a
//! format-5 body has nothing where a format-6 body has the new field. A new field is
//! therefore marked `#[serde(deserialize_with = "added_in_6")]`: while a format-5 body is
//! decoded ([`reading_format_5`]) it reads nothing and takes its default, otherwise it
//! reads itself as usual. Writing is unchanged (always the current format).
//!
//! Added in format 6: a facility level's and a parking window's opening status
//! (`FacilityLive::opening`, `ParkingAcc::last_opening`) and whether a window saw only
//! closed readings (`ParkingAcc::only_closed`).

use std::cell::Cell;

use serde::{Deserialize, Deserializer};

thread_local! {
    /// Whether the snapshot being decoded on this thread is of format 5.
    static FORMAT_5: Cell<bool> = const { Cell::new(false) };
}

/// Runs `decode` with the fields added in format 6 read as absent (their default).
///
/// The flag is thread-local and reset when `decode` returns or panics, so a decode on
/// another thread, or the next one on this thread, reads the current format.
pub(crate) fn reading_format_5<T>(decode: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            FORMAT_5.with(|f| f.set(false));
        }
    }
    FORMAT_5.with(|f| f.set(true));
    let _reset = Reset;
    decode()
}

/// Deserializes a field added in format 6: its default from a format-5 body.
pub(crate) fn added_in_6<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    if FORMAT_5.with(Cell::get) {
        Ok(T::default())
    } else {
        T::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Old {
        a: u32,
        inner: OldInner,
        b: u32,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct OldInner {
        x: u8,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct New {
        a: u32,
        inner: NewInner,
        b: u32,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct NewInner {
        x: u8,
        #[serde(deserialize_with = "added_in_6")]
        added: Option<u8>,
    }

    /// A field added in the middle of the layout: the old bytes read with it absent, the
    /// new bytes with it present, and without the flag the old bytes do not read as new.
    #[test]
    fn an_old_body_reads_with_the_added_field_at_its_default() {
        let old = Old {
            a: 7,
            inner: OldInner { x: 3 },
            b: 9,
        };
        let bytes = postcard::to_allocvec(&old).expect("encode");
        let read: New = reading_format_5(|| postcard::from_bytes(&bytes)).expect("decode");
        let expected = New {
            a: 7,
            inner: NewInner { x: 3, added: None },
            b: 9,
        };
        assert_eq!(read, expected);
        assert_ne!(postcard::from_bytes::<New>(&bytes).ok(), Some(expected));
        let new = New {
            a: 1,
            inner: NewInner {
                x: 2,
                added: Some(5),
            },
            b: 3,
        };
        let bytes = postcard::to_allocvec(&new).expect("encode");
        assert_eq!(postcard::from_bytes::<New>(&bytes).ok(), Some(new));
    }
}

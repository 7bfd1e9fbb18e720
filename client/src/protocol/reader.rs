//! A bounded reader over a request body.
//!
//! Every read checks the bytes that remain before it touches or allocates anything,
//! so no length or count on the wire can make the decoder allocate more than the
//! frame it came in. Reads return `DecodeError`, never panic.

use bytes::{Buf, Bytes};

use super::error::DecodeError;
use super::limits::{ARRAY_LEN_MAX, GROUP_ID_DECODE_BYTES_MAX, STRING_BYTES_MAX};

/// Cursor over one request body; cheap `Bytes` slices borrow from the frame.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The bytes not yet consumed.
    buf: Bytes,
}

impl Reader {
    /// A reader over `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails with `TrailingBytes` unless the body was consumed exactly.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            remaining => Err(DecodeError::TrailingBytes { remaining }),
        }
    }

    fn need(&self, needed: usize) -> Result<(), DecodeError> {
        if self.buf.len() < needed {
            return Err(DecodeError::Truncated {
                needed,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// A 16-byte UUID (topic ids).
    pub fn uuid(&mut self) -> Result<[u8; 16], DecodeError> {
        self.need(16)?;
        let mut id = [0u8; 16];
        self.buf.copy_to_slice(&mut id);
        Ok(id)
    }

    /// An unsigned LEB128 varint of at most 5 bytes.
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.i8()? as u8;
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint)
    }

    /// A zigzag varint (i32).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zigzag varlong (i64) of at most 10 bytes.
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = self.i8()? as u8;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(DecodeError::BadVarint)
    }

    /// Takes exactly `len` bytes as a zero-copy slice.
    pub fn take(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        self.need(len)?;
        Ok(self.buf.split_to(len))
    }

    fn utf8(bytes: Bytes, what: &'static str) -> Result<String, DecodeError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidUtf8 { what })
    }

    /// Length of a classic (i16-prefixed) string; `None` for null.
    fn string_len(&mut self, what: &'static str) -> Result<Option<usize>, DecodeError> {
        match self.i16()? {
            -1 => Ok(None),
            len if len < 0 => Err(DecodeError::InvalidLength {
                what,
                len: len.into(),
            }),
            len => Ok(Some(len as usize)),
        }
    }

    /// Length of a compact (uvarint N+1) string or bytes; `None` for null.
    fn compact_len(
        &mut self,
        what: &'static str,
        max: usize,
    ) -> Result<Option<usize>, DecodeError> {
        match self.uvarint()? {
            0 => Ok(None),
            n if (n - 1) as usize > max => Err(DecodeError::InvalidLength {
                what,
                len: i64::from(n) - 1,
            }),
            n => Ok(Some((n - 1) as usize)),
        }
    }

    /// A string, compact when `flexible`; null is an error.
    pub fn string(&mut self, flexible: bool, what: &'static str) -> Result<String, DecodeError> {
        self.nullable_string(flexible, what)?
            .ok_or(DecodeError::InvalidValue { what })
    }

    /// A nullable string, compact when `flexible`.
    pub fn nullable_string(
        &mut self,
        flexible: bool,
        what: &'static str,
    ) -> Result<Option<String>, DecodeError> {
        let len = if flexible {
            self.compact_len(what, STRING_BYTES_MAX)?
        } else {
            self.string_len(what)?
        };
        match len {
            None => Ok(None),
            Some(len) => Ok(Some(Self::utf8(self.take(len)?, what)?)),
        }
    }

    /// A group id: a string, but compact ones may be up to
    /// `GROUP_ID_DECODE_BYTES_MAX` long so that handlers can refuse an overlong id
    /// with INVALID_GROUP_ID rather than the connection being closed.
    pub fn group_id(&mut self, flexible: bool) -> Result<String, DecodeError> {
        const WHAT: &str = "group_id";
        if !flexible {
            return self.string(false, WHAT);
        }
        match self.compact_len(WHAT, GROUP_ID_DECODE_BYTES_MAX)? {
            None => Err(DecodeError::InvalidValue { what: WHAT }),
            Some(len) => Self::utf8(self.take(len)?, WHAT),
        }
    }

    /// Nullable bytes (i32 length, or compact when `flexible`), zero-copy.
    pub fn nullable_bytes(
        &mut self,
        flexible: bool,
        what: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let len = if flexible {
            self.compact_len(what, usize::MAX >> 1)?
        } else {
            match self.i32()? {
                -1 => None,
                len if len < 0 => {
                    return Err(DecodeError::InvalidLength {
                        what,
                        len: len.into(),
                    });
                }
                len => Some(len as usize),
            }
        };
        match len {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len)?)),
        }
    }

    /// Non-null bytes.
    pub fn bytes(&mut self, flexible: bool, what: &'static str) -> Result<Bytes, DecodeError> {
        self.nullable_bytes(flexible, what)?
            .ok_or(DecodeError::InvalidValue { what })
    }

    /// An array length (compact when `flexible`); `None` for null. The count is
    /// checked against the bytes that remain: every element takes at least
    /// `element_bytes_min` bytes, so a hostile count cannot make us allocate.
    pub fn nullable_array_len(
        &mut self,
        flexible: bool,
        element_bytes_min: usize,
        what: &'static str,
    ) -> Result<Option<usize>, DecodeError> {
        let len: i64 = if flexible {
            i64::from(self.uvarint()?) - 1
        } else {
            self.i32()?.into()
        };
        if len == -1 {
            return Ok(None);
        }
        let fits = usize::try_from(len)
            .ok()
            .filter(|&n| n <= ARRAY_LEN_MAX)
            .filter(|&n| n.saturating_mul(element_bytes_min.max(1)) <= self.remaining());
        match fits {
            Some(n) => Ok(Some(n)),
            None => Err(DecodeError::InvalidLength { what, len }),
        }
    }

    /// A non-null array length; null is an error.
    pub fn array_len(
        &mut self,
        flexible: bool,
        element_bytes_min: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        self.nullable_array_len(flexible, element_bytes_min, what)?
            .ok_or(DecodeError::InvalidValue { what })
    }

    /// Decodes an array with `element` (compact when `flexible`); null becomes empty.
    pub fn array<T>(
        &mut self,
        flexible: bool,
        element_bytes_min: usize,
        what: &'static str,
        mut element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self
            .nullable_array_len(flexible, element_bytes_min, what)?
            .unwrap_or(0);
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(element(self)?);
        }
        Ok(items)
    }

    /// Like [`Self::array`] but keeps null distinct from empty.
    pub fn nullable_array<T>(
        &mut self,
        flexible: bool,
        element_bytes_min: usize,
        what: &'static str,
        mut element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        let Some(len) = self.nullable_array_len(flexible, element_bytes_min, what)? else {
            return Ok(None);
        };
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(element(self)?);
        }
        Ok(Some(items))
    }

    /// Skips a tagged-field section (flexible versions only; a no-op otherwise).
    pub fn tagged_fields(&mut self, flexible: bool) -> Result<(), DecodeError> {
        if !flexible {
            return Ok(());
        }
        let count = self.uvarint()? as usize;
        // Each tagged field takes at least two bytes (tag and size).
        if count.saturating_mul(2) > self.remaining() {
            return Err(DecodeError::InvalidLength {
                what: "tagged fields",
                len: count as i64,
            });
        }
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }

    /// Like [`Self::tagged_fields`], but hands each field to `field` with a reader
    /// over exactly its declared bytes, so a known tag cannot read past its size.
    /// `field` returns `Ok(false)` for tags it does not know (they are skipped) and
    /// `Ok(true)` once it decoded one, which must then have used all its bytes.
    pub fn tagged_fields_with(
        &mut self,
        flexible: bool,
        mut field: impl FnMut(u32, &mut Reader) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        if !flexible {
            return Ok(());
        }
        let count = self.uvarint()? as usize;
        // Each tagged field takes at least two bytes (tag and size).
        if count.saturating_mul(2) > self.remaining() {
            return Err(DecodeError::InvalidLength {
                what: "tagged fields",
                len: count as i64,
            });
        }
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            let mut value = Reader::new(self.take(size)?);
            if field(tag, &mut value)? {
                value.finish()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_array_count_is_refused_before_allocating() {
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]));
        let got = r.array(false, 1, "topics", |r| r.i32());
        assert!(matches!(got, Err(DecodeError::InvalidLength { .. })));
    }

    #[test]
    fn varints_round_trip_known_values() {
        // zigzag: 0→0, -1→1, 1→2, 300→600 (0xd8 0x04)
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x01, 0x02, 0xd8, 0x04]));
        assert_eq!(r.varint().unwrap(), 0);
        assert_eq!(r.varint().unwrap(), -1);
        assert_eq!(r.varint().unwrap(), 1);
        assert_eq!(r.varint().unwrap(), 300);
        r.finish().unwrap();
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let mut r = Reader::new(Bytes::from_static(&[0xff; 6]));
        assert_eq!(r.uvarint(), Err(DecodeError::BadVarint));
    }

    #[test]
    fn null_and_compact_strings() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0x00, 0x03, b'a', b'b']));
        assert_eq!(r.nullable_string(false, "s").unwrap(), None);
        assert_eq!(r.nullable_string(true, "s").unwrap(), None);
        assert_eq!(r.string(true, "s").unwrap(), "ab");
    }

    #[test]
    fn short_reads_are_truncated_errors() {
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x05, b'a']));
        assert!(matches!(
            r.string(false, "s"),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn known_tagged_fields_read_only_their_own_bytes() {
        // Two fields: tag 0 (2 bytes) and an unknown tag 5 (1 byte).
        let mut r = Reader::new(Bytes::from_static(&[2, 0, 2, 0, 7, 5, 1, 9]));
        let mut seen = None;
        r.tagged_fields_with(true, |tag, v| match tag {
            0 => {
                seen = Some(v.i16()?);
                Ok(true)
            }
            _ => Ok(false),
        })
        .unwrap();
        assert_eq!(seen, Some(7));
        r.finish().unwrap();
        // A known field that leaves bytes unread, or reads past its size, is an error.
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 2, 0, 7]));
        assert!(
            r.tagged_fields_with(true, |_, v| v.i8().map(|_| true))
                .is_err()
        );
        let mut r = Reader::new(Bytes::from_static(&[1, 0, 1, 0, 7]));
        assert!(
            r.tagged_fields_with(true, |_, v| v.i16().map(|_| true))
                .is_err()
        );
    }
}

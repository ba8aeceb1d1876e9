//! bincode's serde decoder behind an adapter that keeps what a length prefix
//! can make a decode allocate within the input (see the [codec](super) docs).
//!
//! The input is read through [`Input`], which shares its position with the
//! adapter, so that at every step the adapter knows how many bytes are left:
//! - a string's or byte string's length prefix is peeked before bincode
//!   allocates the claimed length, and refused if it runs past the input;
//! - a sequence's or map's length never reaches its visitor as a size hint
//!   (what collections preallocate from): collections grow with the
//!   elements actually decoded, each of which consumed input.
//!
//! Everything else is passed through unchanged: every `Deserializer`,
//! `Visitor`, `SeqAccess`, `MapAccess`, `EnumAccess` and `DeserializeSeed`
//! is wrapped so that nested values are bounded too.

use core::cell::Cell;
use core::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// How far the input has been read, shared by the reader and the adapter.
#[derive(Default)]
pub(super) struct Cursor {
    /// Bytes read so far.
    pos: Cell<usize>,
    /// A length prefix claimed more bytes than were left.
    past_end: Cell<bool>,
}

impl Cursor {
    /// Bytes read so far.
    pub(super) fn read(&self) -> usize {
        self.pos.get()
    }

    /// Whether a length prefix claimed more bytes than were left.
    pub(super) fn past_end(&self) -> bool {
        self.past_end.get()
    }
}

/// The input as a bincode reader; copies share one [`Cursor`].
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    bytes: &'a [u8],
    cursor: &'a Cursor,
}

impl<'a> Input<'a> {
    pub(super) fn new(bytes: &'a [u8], cursor: &'a Cursor) -> Self {
        Self { bytes, cursor }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.cursor.pos.get()..).unwrap_or_default()
    }

    fn remaining(&self) -> usize {
        self.rest().len()
    }

    /// The varint length prefix at the current position, and its width, if
    /// it is there whole (bincode's standard varint: one byte up to 250,
    /// else a tag byte 251/252/253 and a little-endian u16/u32/u64).
    fn peek_len(&self) -> Option<(u64, usize)> {
        let (&tag, tail) = self.rest().split_first()?;
        let le = |width: usize| -> Option<u64> {
            let mut buf = [0u8; 8];
            buf.get_mut(..width)?.copy_from_slice(tail.get(..width)?);
            Some(u64::from_le_bytes(buf))
        };
        match tag {
            0..=250 => Some((u64::from(tag), 1)),
            251 => Some((le(2)?, 3)),
            252 => Some((le(4)?, 5)),
            253 => Some((le(8)?, 9)),
            _ => None,
        }
    }

    /// Refuses a string or byte string whose length prefix claims more bytes
    /// than follow it, before bincode allocates the claimed length.
    fn check_bytes_len<E: de::Error>(&self) -> Result<(), E> {
        if let Some((len, width)) = self.peek_len() {
            let left = self.remaining().saturating_sub(width);
            if len > left as u64 {
                self.cursor.past_end.set(true);
                return Err(E::custom("a length prefix runs past the end of the input"));
            }
        }
        Ok(())
    }
}

impl bincode::de::read::Reader for Input<'_> {
    #[inline]
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let rest = self.rest();
        let Some(bytes) = rest.get(..out.len()) else {
            return Err(bincode::error::DecodeError::UnexpectedEnd {
                additional: out.len() - rest.len(),
            });
        };
        out.copy_from_slice(bytes);
        self.cursor.pos.set(self.cursor.pos.get() + out.len());
        Ok(())
    }

    #[inline]
    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.rest().get(..n)
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        let pos = self
            .cursor
            .pos
            .get()
            .saturating_add(n)
            .min(self.bytes.len());
        self.cursor.pos.set(pos);
    }
}

/// Decodes one `T` from the start of `input` with bincode's serde decoder
/// under `config`, through the adapter.
pub(super) fn deserialize<T: DeserializeOwned, C: bincode::config::Config>(
    input: Input<'_>,
    config: C,
) -> Result<T, bincode::error::DecodeError> {
    let mut decoder = bincode::serde::OwnedSerdeDecoder::from_reader(input, config);
    T::deserialize(Bounded {
        inner: decoder.as_deserializer(),
        input,
    })
}

/// A deserializer whose length prefixes are bounded by the input.
struct Bounded<'a, D> {
    inner: D,
    input: Input<'a>,
}

/// A visitor that bounds the deserializers and accesses it is handed.
struct Wrap<'a, V> {
    inner: V,
    input: Input<'a>,
}

/// A seed that bounds the deserializer it is handed.
struct Seed<'a, S> {
    inner: S,
    input: Input<'a>,
}

/// Sequence, map, enum and variant accesses with bounded contents.
struct Access<'a, A> {
    inner: A,
    input: Input<'a>,
}

impl<'a, V> Wrap<'a, V> {
    fn new(inner: V, input: Input<'a>) -> Self {
        Self { inner, input }
    }
}

/// Forwards `deserialize_<kind>` methods whose visitor never gets a nested
/// deserializer (numbers, `bool`, `char`): no length prefix involved.
macro_rules! forward_plain {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.inner.$method(visitor)
            }
        )*
    };
}

/// Forwards `deserialize_<kind>` methods of strings and byte strings after
/// checking their length prefix.
macro_rules! forward_bytes {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.input.check_bytes_len()?;
                self.inner.$method(Wrap::new(visitor, self.input))
            }
        )*
    };
}

/// Forwards `deserialize_<kind>(visitor)` methods with a bounded visitor.
macro_rules! forward_wrapped {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.inner.$method(Wrap::new(visitor, self.input))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<'_, D> {
    type Error = D::Error;

    forward_plain! {
        deserialize_bool
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char
    }

    forward_bytes! {
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
    }

    forward_wrapped! {
        deserialize_any deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_unit_struct(name, Wrap::new(visitor, self.input))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_newtype_struct(name, Wrap::new(visitor, self.input))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_tuple(len, Wrap::new(visitor, self.input))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_tuple_struct(name, len, Wrap::new(visitor, self.input))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_struct(name, fields, Wrap::new(visitor, self.input))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_enum(name, variants, Wrap::new(visitor, self.input))
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Forwards `visit_<kind>(value)` methods unchanged.
macro_rules! forward_visits {
    ($($method:ident: $ty:ty,)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visits! {
        visit_bool: bool,
        visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64, visit_i128: i128,
        visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64, visit_u128: u128,
        visit_f32: f32, visit_f64: f64, visit_char: char,
        visit_str: &str, visit_borrowed_str: &'de str, visit_string: alloc::string::String,
        visit_bytes: &[u8], visit_borrowed_bytes: &'de [u8], visit_byte_buf: alloc::vec::Vec<u8>,
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Bounded {
            inner,
            input: self.input,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Bounded {
            inner,
            input: self.input,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, inner: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(Access {
            inner,
            input: self.input,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, inner: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(Access {
            inner,
            input: self.input,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, inner: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(Access {
            inner,
            input: self.input,
        })
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        self.inner.deserialize(Bounded {
            inner,
            input: self.input,
        })
    }
}

impl<'a, 'de, A: SeqAccess<'de>> SeqAccess<'de> for Access<'a, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.inner.next_element_seed(Seed {
            inner: seed,
            input: self.input,
        })
    }

    /// None: the length is the peer's claim (see the module docs).
    fn size_hint(&self) -> Option<usize> {
        None
    }
}

impl<'a, 'de, A: MapAccess<'de>> MapAccess<'de> for Access<'a, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        self.inner.next_key_seed(Seed {
            inner: seed,
            input: self.input,
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.next_value_seed(Seed {
            inner: seed,
            input: self.input,
        })
    }

    /// None: the length is the peer's claim.
    fn size_hint(&self) -> Option<usize> {
        None
    }
}

impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Access<'a, A> {
    type Error = A::Error;
    type Variant = Access<'a, A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let input = self.input;
        let (value, variant) = self.inner.variant_seed(Seed { inner: seed, input })?;
        Ok((
            value,
            Access {
                inner: variant,
                input,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            input: self.input,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .tuple_variant(len, Wrap::new(visitor, self.input))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .struct_variant(fields, Wrap::new(visitor, self.input))
    }
}

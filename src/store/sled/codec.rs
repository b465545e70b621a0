//! The only place that calls bincode.
//!
//! Every stored value is one format-version byte followed by the bincode 2
//! encoding of the record. Decoding refuses an unknown version and anything
//! that would allocate past [`MAX_RECORD_BYTES`], so a corrupt or hostile
//! value cannot make the server allocate gigabytes.

use serde::{Serialize, de::DeserializeOwned};

/// The format version written in front of every record.
pub const FORMAT_VERSION: u8 = 1;

/// The largest record the decoder will materialize.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// Why a stored value could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value was empty or its version byte is not one this build reads.
    #[error("unknown record format version {0:?}")]
    Version(Option<u8>),
    /// bincode refused the bytes.
    #[error("record does not decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// bincode refused the value (only possible past the size limit).
    #[error("record does not encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// Bytes were left over after the record: the value is not what we wrote.
    #[error("record has {0} trailing bytes")]
    Trailing(usize),
}

/// Encodes `value` behind the format-version byte.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_VERSION];
    bincode::serde::encode_into_std_write(value, &mut out, config())?;
    Ok(out)
}

/// Decodes a value written by [`encode`], refusing anything else.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, body)) => {
            let (value, read) = bincode::serde::decode_from_slice(body, config())?;
            match body.len() - read {
                0 => Ok(value),
                extra => Err(CodecError::Trailing(extra)),
            }
        }
        Some((&other, _)) => Err(CodecError::Version(Some(other))),
        None => Err(CodecError::Version(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TokenId, TokenRecord, UserId};

    fn record() -> TokenRecord {
        TokenRecord {
            id: TokenId(7),
            kind: crate::model::TokenKind::Access,
            user_id: UserId(3),
            created_at: 1_700_000_000,
            expires_at: 1_700_003_600,
        }
    }

    #[test]
    fn record_round_trips_behind_version_byte() {
        let bytes = encode(&record()).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<TokenRecord>(&bytes).unwrap(), record());
    }

    #[test]
    fn unknown_version_and_empty_value_are_refused() {
        let mut bytes = encode(&record()).unwrap();
        bytes[0] = 99;
        assert!(matches!(
            decode::<TokenRecord>(&bytes),
            Err(CodecError::Version(Some(99)))
        ));
        assert!(matches!(
            decode::<TokenRecord>(&[]),
            Err(CodecError::Version(None))
        ));
    }

    #[test]
    fn truncated_and_padded_values_are_refused() {
        let bytes = encode(&record()).unwrap();
        assert!(decode::<TokenRecord>(&bytes[..bytes.len() - 1]).is_err());
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(matches!(
            decode::<TokenRecord>(&padded),
            Err(CodecError::Trailing(1))
        ));
    }

    #[test]
    fn huge_length_prefix_does_not_allocate() {
        // A string claiming u64::MAX bytes must fail on the limit, not OOM.
        let mut bytes = vec![FORMAT_VERSION, 0xff];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<String>(&bytes).is_err());
    }
}

#[cfg(test)]
mod round_trips {
    //! Every stored record type survives encode → decode unchanged.

    use super::*;
    use crate::model::{
        CodeKind, CodeRecord, Email, Role, TokenId, TokenRecord, User, UserId, Username,
    };
    use proptest::prelude::*;

    fn username() -> impl Strategy<Value = Username> {
        "\\PC{1,64}".prop_filter_map("not a valid username", |s| Username::parse(&s).ok())
    }

    fn email() -> impl Strategy<Value = Option<Email>> {
        proptest::option::of(
            "[a-z0-9.+]{1,20}@[a-z0-9]{1,20}\\.[a-z]{2,6}"
                .prop_filter_map("not a valid email", |s| Email::parse(&s).ok()),
        )
    }

    fn user() -> impl Strategy<Value = User> {
        (
            any::<u64>(),
            username(),
            email(),
            ".{0,200}",
            any::<i64>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(id, username, email, password_hash, created_at, admin, disabled, confirmed)| {
                    User {
                        id: UserId(id),
                        username,
                        email,
                        password_hash,
                        created_at,
                        role: if admin { Role::Admin } else { Role::User },
                        disabled,
                        confirmed,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn user_round_trips(user in user()) {
            prop_assert_eq!(decode::<User>(&encode(&user).unwrap()).unwrap(), user);
        }

        #[test]
        fn token_record_round_trips(id: u64, refresh: bool, user_id: u64, created_at: i64, expires_at: i64) {
            let kind = if refresh { crate::model::TokenKind::Refresh } else { crate::model::TokenKind::Access };
            let record = TokenRecord { id: TokenId(id), kind, user_id: UserId(user_id), created_at, expires_at };
            prop_assert_eq!(decode::<TokenRecord>(&encode(&record).unwrap()).unwrap(), record);
        }

        #[test]
        fn code_record_round_trips(reset: bool, user_id: u64, created_at: i64, expires_at: i64) {
            let kind = if reset { CodeKind::PasswordReset } else { CodeKind::Confirmation };
            let record = CodeRecord { kind, user_id: UserId(user_id), created_at, expires_at };
            prop_assert_eq!(decode::<CodeRecord>(&encode(&record).unwrap()).unwrap(), record);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<User>(&bytes);
            let _ = decode::<TokenRecord>(&bytes);
            let _ = decode::<CodeRecord>(&bytes);
        }
    }
}

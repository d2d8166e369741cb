//! The engine's errors. The Redis wire text of each lives in `protocol::commands::wire_error`, the
//! memcached one in `protocol::memcached`.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CacheError {
    #[error("wrong type")]
    WrongType,
    #[error("not an integer")]
    NotInteger,
    #[error("not a float")]
    NotFloat,
    #[error("increment or decrement would overflow")]
    Overflow,
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("syntax error")]
    Syntax,
    #[error("wrong number of arguments for '{0}'")]
    WrongArity(String),
    #[error("no such key")]
    NoSuchKey,
    #[error("index out of range")]
    IndexOutOfRange,
    #[error("out of memory")]
    OutOfMemory,
    #[error("string exceeds maximum allowed size")]
    StringTooLong,
    #[error("invalid expire time")]
    InvalidExpire,
    #[error("value is out of range, must be positive")]
    NotPositive,
    #[error("timeout is not a float or out of range")]
    BadTimeout,
    #[error("{0}")]
    Other(String),
}

pub type CacheResult<T> = Result<T, CacheError>;

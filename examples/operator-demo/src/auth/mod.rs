//! Who is calling: the verified principal that authentication puts in the
//! request's extensions, and the extractor handlers take it with.
//!
//! The token side (JWT signing and verification, login, key generation) lives
//! beside this module; everything else in the app only sees [`Principal`].

mod principal;

pub use self::principal::{Principal, Role};

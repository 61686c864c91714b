//! The HTTP handlers, one file per area of the API.

pub mod fallback;
pub mod health;
pub mod index;

//! Processing on arrival, per route: parse a field (see `parse`), then the
//! transforms in order (`transform`), whose conditions use the small
//! expression language of `condition`.

pub mod condition;
pub mod transform;

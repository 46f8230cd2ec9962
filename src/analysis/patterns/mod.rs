//! Log patterns: templates such as `Connection from <IP> closed after
//! <DURATION>` mined online from messages, with stable ids.
//!
//! - `mask`: tokens and typed placeholders for the parts that vary.
//! - `miner`: the online miner (one per service), merges and ids.
//! - `registry`: the server's miners per service and their durable log.
//! - `loghub`: the Loghub benchmark formats and scores, for `eval patterns`.

pub mod loghub;
pub mod mask;
pub mod miner;
pub mod offline;
pub mod registry;

pub use mask::{CustomMask, Masker, Placeholder};
pub use miner::{Change, Miner, MinerConfig, PatternId};
pub use registry::{PatternInfo, Patterns, ScopedChange};

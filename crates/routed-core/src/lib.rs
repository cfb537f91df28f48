//! pg_routed's pure core: everything that decides what to run, with no PostgreSQL inside, so
//! it is tested and benchmarked with plain `cargo`.
//!
//! Pipeline: [`parse::parse_text`] → [`normalize::fingerprint`] → [`resolve::bind`] (against a
//! [`model::Relation`] the extension loaded) → [`route::plan`] → [`codegen::generate`].

#![warn(clippy::undocumented_unsafe_blocks)]

pub mod budget;
pub mod cache;
pub mod codegen;
mod codegen_join;
mod codegen_merge;
mod codegen_post;
mod codegen_rollup;
pub mod error;
pub mod model;
pub mod names;
pub mod normalize;
pub mod parse;
pub mod plain;
pub mod post;
pub mod query;
pub mod recommend;
pub mod resolve;
pub mod rollup;
pub mod route;
pub mod sketch;
pub mod time;

pub use error::{Error, ErrorKind, Result};

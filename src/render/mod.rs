//! Everything that turns data into bytes for readers: markdown, pages, feeds, static
//! assets, and the cache of ready responses.

pub mod assets;
pub mod cache;
pub mod feeds;
pub mod markdown;
pub mod pages;

//! The shared world of the document, audit and user tests: now `haven_tests::world`, re-exported
//! here so tests written against this path keep compiling.

pub use haven_tests::world::*;

//! Report writers. They render a [`RunReport`](crate::outcome::RunReport) and hold no logic of their own.

pub mod json;
mod junit;
mod tap;
pub mod terminal;

pub use junit::junit_xml;
pub use tap::tap;

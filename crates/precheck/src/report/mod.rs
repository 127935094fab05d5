//! Report writers. They render a [`RunReport`](crate::outcome::RunReport) and hold no logic of their own.

mod junit;
mod tap;

pub use junit::junit_xml;
pub use tap::tap;

//! Live written chat between citizens and customer-service agents: the domain (being built).
//!
//! So far: [`hours`] (business hours), [`estimate`] (the wait estimate from recent real waits), [`policy`]
//! (every limit, with its default, and the consent line).

pub mod estimate;
pub mod hours;
pub mod policy;

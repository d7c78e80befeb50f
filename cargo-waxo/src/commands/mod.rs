//! The `cargo waxo` commands, one module each (`Args` + `exec`).

pub mod build;
pub mod call;
pub mod new;
pub mod run;
